"""Database routing: the subject-key store, and report reads on a replica (SPEC C9).

``SubjectKeysRouter`` (first in DATABASE_ROUTERS): the per-subject data keys
(``compliance.SubjectKey``, docs/adr/0007) are read and written on the ``keys`` alias when
``SUBJECT_KEYS_DATABASE_URL`` configured one — a separate database whose backups are short and
which the main database's backups never contain — and on ``default`` otherwise (single-database
mode). Never on the replica. Only that table is migrated on ``keys``; the kernel imports no app,
so the model is matched by its label.

``ReportReadsRouter``: report and export reads on a replica, everything else on the primary.

Code that builds a report wraps its reads in ``reporting_reads()``; inside it, ORM reads go to
the ``replica`` database alias when ``DATABASE_REPLICA_URL`` configured one, and to ``default``
otherwise. Writes, and every read outside the block, always use ``default``. A replica may lag
the primary by a moment, which a report tolerates and a money movement never sees. The replica
is never migrated: it is a copy of the primary.

On the replica: the audit report (API and ``manage.py audit_report``), the statement CSV export,
the consent statistics in the admin. Deliberately on the primary: the direct-marketing audience
export (a consent withdrawn a moment ago must already be honoured, POPIA s69), the DSAR queue and
the retention purge (they act on what they read), and every money movement.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS

REPLICA = "replica"
KEYS = "keys"
SUBJECT_KEY_LABEL = "compliance.subjectkey"
_reporting: ContextVar[bool] = ContextVar("fintech_reporting_reads", default=False)


@contextmanager
def reporting_reads() -> Iterator[None]:
    token = _reporting.set(True)
    try:
        yield
    finally:
        _reporting.reset(token)


def _has_replica() -> bool:
    return REPLICA in settings.DATABASES


def separate_key_store() -> bool:
    """Whether the subject keys live in their own database (the ``keys`` alias is configured)."""
    return KEYS in settings.DATABASES


def key_store_alias() -> str:
    """The database alias holding the subject keys: ``keys``, or ``default`` in single-database mode."""
    return KEYS if separate_key_store() else DEFAULT_DB_ALIAS


def _is_subject_key(model: Any) -> bool:
    return getattr(getattr(model, "_meta", None), "label_lower", "") == SUBJECT_KEY_LABEL


class SubjectKeysRouter:
    def db_for_read(self, model: Any, **hints: Any) -> str | None:
        # "default" in single-database mode too: a subject key is never read from the replica.
        return key_store_alias() if _is_subject_key(model) else None

    def db_for_write(self, model: Any, **hints: Any) -> str | None:
        return key_store_alias() if _is_subject_key(model) else None

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool | None:
        return None

    def allow_migrate(self, db: str, app_label: str, model_name: str | None = None, **hints: Any) -> bool | None:
        if db == KEYS:
            # Only the key table; every other operation (RunPython/RunSQL without hints included) is skipped.
            return f"{app_label}.{model_name}".lower() == SUBJECT_KEY_LABEL if model_name else False
        return None  # default: unchanged (the table stays there for single-database mode)


class ReportReadsRouter:
    def db_for_read(self, model: Any, **hints: Any) -> str | None:
        if _reporting.get() and _has_replica():
            return REPLICA
        return None

    def db_for_write(self, model: Any, **hints: Any) -> str | None:
        return None

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool | None:
        return True  # the same rows, whichever copy they were read from

    def allow_migrate(self, db: str, app_label: str, **hints: Any) -> bool | None:
        return False if db == REPLICA else None

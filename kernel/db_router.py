"""Report and export reads on a replica (SPEC C9), everything else on the primary.

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

REPLICA = "replica"
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

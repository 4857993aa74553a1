"""The subject-key store (docs/adr/0007, "A key store outside the main backups"): moving the keys
of a single-database deployment into it (``manage.py move_subject_keys``).

Why it is safe:
- Primary keys are kept: every ``s1:<key id>:`` token names its key by id.
- Per batch, the copy commits in the key store before the rows are deleted from the main database;
  a crash in between leaves a row in both, which the next run recognises (same id, same subject)
  and deletes from the main database. Idempotent and resumable.
- A destroyed key stays destroyed: a key destroyed in the main database but live in the key store
  is destroyed in the key store too, never the reverse.
- A conflict (the key store holds another key under the same id, or another key for the same
  subject: the application ran with the key store before the move) is reported and left in the
  main database. Tokens under both keys exist then: resolved by hand.
- The key store's id sequence is moved past the highest id, so a new key never reuses one.
"""

from __future__ import annotations

from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.utils import timezone

from compliance.crypto.models import SubjectKey
from kernel.db_router import KEYS

MAIN = DEFAULT_DB_ALIAS


def key_counts(alias: str) -> dict[str, int]:
    rows = SubjectKey.objects.using(alias)
    return {
        "live": rows.filter(destroyed_at__isnull=True).count(),
        "destroyed": rows.filter(destroyed_at__isnull=False).count(),
    }


def reset_key_sequence() -> None:
    """Move the key store's id sequence past its highest id (explicit ids do not advance it)."""
    connection = connections[KEYS]
    table = SubjectKey._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # No ORM equivalent for a sequence; the table name is the model's own.
            cursor.execute(  # nosemgrep: no-raw-sql -- setval on the key table's own sequence
                f"SELECT setval(pg_get_serial_sequence(%s, 'id'), COALESCE(MAX(id), 1), MAX(id) IS NOT NULL) "  # noqa: S608
                f'FROM "{table}"',
                [table],
            )
        elif connection.vendor == "sqlite":
            # AUTOINCREMENT keeps the largest id ever used in sqlite_sequence; make sure it covers them all.
            highest = SubjectKey.objects.using(KEYS).order_by("-pk").values_list("pk", flat=True).first()
            if highest is not None:
                cursor.execute(  # nosemgrep: no-raw-sql -- SQLite's sequence table, values as parameters
                    "UPDATE sqlite_sequence SET seq = MAX(seq, %s) WHERE name = %s", [highest, table]
                )
                if cursor.rowcount == 0:
                    cursor.execute(  # nosemgrep: no-raw-sql -- SQLite's sequence table, values as parameters
                        "INSERT INTO sqlite_sequence (name, seq) VALUES (%s, %s)", [table, highest]
                    )


def move_subject_keys(*, batch_size: int = 500) -> tuple[int, list[int]]:
    """Move every key from the main database to the key store: (keys moved, conflicting key ids)."""
    moved, last = 0, 0
    conflicts: list[int] = []
    if SubjectKey._meta.db_table not in connections[MAIN].introspection.table_names():
        return moved, conflicts  # the main database is not migrated yet: it holds no key
    while True:
        with transaction.atomic(using=MAIN):
            rows = list(
                SubjectKey.objects.using(MAIN).select_for_update().filter(pk__gt=last).order_by("pk")[:batch_size]
            )
            if not rows:
                break
            last = rows[-1].pk
            done = []
            # The key store commits first (inner block): only then are the rows deleted from main.
            with transaction.atomic(using=KEYS):
                copies = [
                    SubjectKey(
                        pk=row.pk, subject_type=row.subject_type, subject_id=row.subject_id, version=row.version,
                        wrapped_key=row.wrapped_key, created_at=row.created_at, destroyed_at=row.destroyed_at,
                    )
                    for row in rows
                ]  # fmt: skip
                SubjectKey.objects.using(KEYS).bulk_create(copies, ignore_conflicts=True)
                stored = {
                    key.pk: key
                    for key in SubjectKey.objects.using(KEYS).select_for_update().filter(pk__in=[r.pk for r in rows])
                }
                for row in rows:
                    there = stored.get(row.pk)
                    if there is None or (there.subject_type, there.subject_id) != (row.subject_type, row.subject_id):
                        conflicts.append(row.pk)
                        continue
                    if row.destroyed_at is not None and there.destroyed_at is None:
                        SubjectKey.objects.using(KEYS).filter(pk=row.pk).update(
                            wrapped_key="", destroyed_at=row.destroyed_at or timezone.now()
                        )
                    done.append(row.pk)
            SubjectKey.objects.using(MAIN).filter(pk__in=done).delete()
            moved += len(done)
    reset_key_sequence()
    return moved, conflicts

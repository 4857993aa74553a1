"""Re-applying erasures after a restore (``manage.py reapply_erasures``; the restore runbook).

A restore brings back whatever the backup held, including subjects erased after it was taken.
The erasure ledger (``compliance.dsar.erasure_ledger``) lives outside the database and says who
was erased; this module erases each of them again in the restored copy:

- the personal information, by the erasure's own routine (``compliance.dsar.erasure.
  reapply_erasure``: per field annotation, holds honoured, retention-duty holds re-created), whatever
  state the restored copy shows the deletion request in;
- the subject's crypto-shredding key (``compliance.crypto.subject_keys.shred_subject_key``, after
  what the erasure keeps is re-keyed to the field ring), by the same routine.

Invariants:
- Only entries whose hash and signature verify are acted on (a forged entry would erase a
  customer who never asked); the subject must be the same account: same internal id *and* public
  id (a restored sequence may since have given the id to someone else).
- Idempotent: a subject whose rows are already erased and whose key is gone is reported as such
  and nothing is written; only a re-erasure that changed something is audited
  (DSAR_ERASURE_REAPPLIED, one event per subject, ids and counts, never PI).
- Fail loudly: a ledger problem (a gap, a broken link, an altered or unsigned entry, an entry
  this database recorded that the ledger lacks), a subject under a hold in force over the whole
  subject in the copy, or a failed re-erasure makes the run unsuccessful (the command exits 1);
  every other subject is still re-erased.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction

from compliance.audit.services import ActorType, AuditAction, audit_record
from compliance.audit.storage import ArchiveStorage
from compliance.dsar.erasure import Reapplied, reapply_erasure
from compliance.dsar.erasure_ledger import read_ledger, recorded_mismatches
from compliance.dsar.models import DataSubjectRequest

logger = logging.getLogger("compliance.dsar.reapply")


# A subject the run did not re-erase (absent, another account, failed): nothing changed.
NOTHING_DONE = Reapplied({}, {}, 0, 0, 0, 0, {}, held_whole_subject=False, key_shredded=False)


@dataclass
class SubjectOutcome:
    seq: int
    subject_id: int
    subject_public_id: str
    request: str
    # re-erased | already erased | absent | other account | held | failed
    result: str
    request_status: str | None = None
    reapplied: Reapplied | None = None
    key_shredded: bool | None = None
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "subject_id": self.subject_id,
            "subject_public_id": self.subject_public_id,
            "request": self.request,
            "result": self.result,
            "request_status_in_copy": self.request_status,
            **(self.reapplied or NOTHING_DONE).counts(),
            "key_shredded": self.key_shredded,
            "note": self.note,
        }


@dataclass
class ReapplyReport:
    entries: int = 0
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    subjects: list[SubjectOutcome] = field(default_factory=list)
    # With a separate key store: the user id sequence moved past every subject id the key store knows.
    user_ids_from: int | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def reerased(self) -> list[SubjectOutcome]:
        return [s for s in self.subjects if s.result == "re-erased"]

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "ledger_entries": self.entries,
            "subjects": [s.as_dict() for s in self.subjects],
            "reerased": len(self.reerased),
            "problems": self.problems,
            "warnings": self.warnings,
            "user_ids_from": self.user_ids_from,
        }


def _latest_per_subject(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # A subject erased twice (the second request erasing what a released hold had kept): the
    # latest entry says what the last erasure kept.
    latest: dict[int, dict[str, Any]] = {}
    for entry in entries:
        latest[int(entry["subject_id"])] = entry
    return sorted(latest.values(), key=lambda entry: int(entry["seq"]))


def reapply_erasures(*, storage: ArchiveStorage | None = None, dry_run: bool = False) -> ReapplyReport:
    """Erase again, in this (restored) database, every subject the erasure ledger lists."""
    reading = read_ledger(storage=storage)
    report = ReapplyReport(
        entries=reading.stored,
        problems=[*reading.problems, *recorded_mismatches(reading)],
        warnings=reading.warnings,
    )
    users = get_user_model()
    for entry in _latest_per_subject(reading.entries):
        outcome = SubjectOutcome(
            seq=int(entry["seq"]),
            subject_id=int(entry["subject_id"]),
            subject_public_id=str(entry["subject_public_id"]),
            request=str(entry["dsar"]),
            result="already erased",
        )
        report.subjects.append(outcome)
        status = DataSubjectRequest.objects.filter(public_id=outcome.request).values_list("status", flat=True).first()
        outcome.request_status = status
        subject = users._default_manager.filter(pk=outcome.subject_id).first()
        if subject is None:
            outcome.result, outcome.note = "absent", "the copy holds no account with this id"
            continue
        if str(subject.public_id) != outcome.subject_public_id:
            outcome.result = "other account"
            outcome.note = "the id now belongs to another account (created after the backup): left alone"
            continue
        try:
            _reapply_one(outcome, subject, entry, dry_run=dry_run)
        except Exception as error:  # reported, and every other subject is still erased
            logger.exception("re-erasure failed", extra={"seq": outcome.seq, "subject_id": outcome.subject_id})
            outcome.result, outcome.note = "failed", type(error).__name__
            report.problems.append(f"entry {outcome.seq}: the re-erasure failed ({type(error).__name__})")
            continue
        if outcome.result == "held":
            report.problems.append(
                f"entry {outcome.seq}: a hold in force over the whole subject in the restored copy kept every "
                "row; the erasure happened after it, so check whether it was released before re-running"
            )
    if not dry_run:
        report.user_ids_from = advance_user_ids_past_key_store()
    return report


def advance_user_ids_past_key_store() -> int | None:
    """Move the restored copy's user id sequence past every user id the key store has a key for.

    The key store is never restored with the main database (docs/adr/0007): it still holds the keys
    of users registered after the backup, some destroyed. A restored sequence would give their ids
    to newcomers, whose values would then go under another person's key (or, that key destroyed,
    under the field ring). Returns the next id the sequence gives (None: single-database mode, or
    not PostgreSQL)."""
    from django.db import connection
    from django.db.models import BigIntegerField, Max
    from django.db.models.functions import Cast

    from compliance.crypto.models import SubjectKey
    from kernel.db_router import separate_key_store

    users = get_user_model()
    if not separate_key_store() or connection.vendor != "postgresql":
        return None
    highest = (
        SubjectKey.objects.filter(subject_type=users._meta.label_lower, subject_id__regex=r"^[0-9]{1,18}$")
        .annotate(number=Cast("subject_id", BigIntegerField()))
        .aggregate(highest=Max("number"))["highest"]
        or 0
    )
    table, column = users._meta.db_table, users._meta.pk.column
    with connection.cursor() as cursor:
        cursor.execute(  # nosemgrep: no-raw-sql -- sequences have no ORM equivalent; values as parameters
            "SELECT pg_get_serial_sequence(%s, %s)", [table, column]
        )
        (sequence,) = cursor.fetchone()
        # Never backwards: past the key store's ids, the table's ids and what the sequence gave already.
        cursor.execute(  # nosemgrep: no-raw-sql -- setval on the user table's sequence (see above)
            f'SELECT setval(%s, GREATEST(%s, COALESCE((SELECT MAX("{column}") FROM "{table}"), 0), '  # noqa: S608 - model metadata
            "COALESCE(pg_sequence_last_value(%s::regclass), 0), 1))",
            [sequence, highest, sequence],
        )
        (last,) = cursor.fetchone()
    return int(last) + 1


def _reapply_one(outcome: SubjectOutcome, subject: Any, entry: dict[str, Any], *, dry_run: bool) -> None:
    with transaction.atomic():
        done = reapply_erasure(
            subject=subject, reference=outcome.request, kept_rows=entry.get("kept_rows") or [], shred=not dry_run
        )
        outcome.reapplied = done
        if done.held_whole_subject:
            outcome.result = "held"
        # A dry run rolls back what the wipe wrote, and leaves the key alone.
        shredded = None if dry_run else done.key_shredded
        outcome.key_shredded = shredded
        if done.changed or shredded:
            if outcome.result != "held":
                outcome.result = "re-erased"
            audit_record(
                action=AuditAction.DSAR_ERASURE_REAPPLIED,
                actor_type=ActorType.SYSTEM,
                object_type="compliance.DataSubjectRequest",
                object_id=outcome.request,
                change_diff={
                    "ledger_seq": outcome.seq,
                    "subject_id": outcome.subject_id,
                    "request_status_in_copy": outcome.request_status,
                    **done.counts(),
                    "key_shredded": shredded,
                },
            )
        if dry_run:
            transaction.set_rollback(True)

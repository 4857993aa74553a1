"""After a restore: erase again every subject the erasure ledger lists (the restore runbook's step).

Prints one line per subject (what was re-erased, or that it already was); ``--json`` prints the
report as one JSON object. Exits 1 on any ledger problem or failed re-erasure, 0 otherwise.
A second run changes nothing and says so.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from compliance.dsar.reapply import ReapplyReport, SubjectOutcome, reapply_erasures


def _line(subject: SubjectOutcome) -> str:
    head = (
        f"ledger #{subject.seq} subject {subject.subject_id} ({subject.subject_public_id}), request {subject.request}"
    )
    status = f"; the request is {subject.request_status or 'absent'} in this copy"
    done = subject.reapplied
    if subject.result != "re-erased" or done is None:
        return f"{head}: {subject.result}{status}" + (f" ({subject.note})" if subject.note else "")
    parts = []
    if done.deleted:
        parts.append("deleted " + ", ".join(f"{label} x{count}" for label, count in sorted(done.deleted.items())))
    if done.cleared:
        parts.append(
            "erased " + "; ".join(f"{label}: {', '.join(names)}" for label, names in sorted(done.cleared.items()))
        )
    if done.holds_created:
        parts.append(f"{done.holds_created} retention-duty hold(s) re-created")
    if done.exports_destroyed:
        parts.append(f"{done.exports_destroyed} export bundle(s) destroyed")
    if done.contacts_erased:
        parts.append(f"{done.contacts_erased} notice contact(s) erased")
    key = {True: "subject key destroyed", False: "no subject key left", None: "key left alone (dry run)"}
    parts.append(key[subject.key_shredded])
    return f"{head}: re-erased: {'; '.join(parts)}{status}"


class Command(BaseCommand):
    help = "Re-apply every erasure in the erasure ledger to this (restored) database."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="report what would be re-erased, change nothing")
        parser.add_argument("--json", action="store_true", help="print the report as one JSON object")

    def handle(self, *args: Any, **options: Any) -> None:
        report: ReapplyReport = reapply_erasures(dry_run=options["dry_run"])
        if options["json"]:
            self.stdout.write(json.dumps(report.as_dict(), sort_keys=True))
        else:
            for subject in report.subjects:
                self.stdout.write(_line(subject))
            summary = (
                f"{report.entries} ledger entries, {len(report.subjects)} subjects, "
                f"{len(report.reerased)} re-erased" + (" (dry run: nothing written)" if options["dry_run"] else "")
            )
            self.stdout.write(self.style.SUCCESS(summary) if report.ok else summary)
            for warning in report.warnings:
                self.stderr.write(self.style.WARNING(warning))
            for problem in report.problems:
                self.stderr.write(self.style.ERROR(problem))
        if not report.ok:
            sys.exit(1)

"""Purge rows past their retention end (SPEC C8); ``--dry-run`` reports counts per policy only."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from compliance.retention.engine import retention_purge


class Command(BaseCommand):
    help = "Delete or de-identify rows past their retention policy's period (resumes an unfinished run)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Count what would be purged; change nothing.")
        parser.add_argument("--batch-size", type=int, default=None)
        parser.add_argument("--pause-ms", type=int, default=None, help="Pause between batches (throttle).")

    def handle(self, *args: Any, **options: Any) -> None:
        pause = None if options["pause_ms"] is None else options["pause_ms"] / 1000
        report = retention_purge(dry_run=options["dry_run"], batch_size=options["batch_size"], pause_seconds=pause)
        verb = "would purge" if report.dry_run else "purged"
        self.stdout.write(
            f"Retention purge as of {report.as_of.isoformat()} ({'dry run' if report.dry_run else 'run'})"
        )
        for policy, targets in sorted(report.counts.items()):
            self.stdout.write(f"  {policy}: {verb} {sum(targets.values())}")
            for key, rows in sorted(targets.items()):
                self.stdout.write(f"    {key}: {rows}")
        for key, reason in sorted(report.skipped.items()):
            self.stdout.write(f"  skipped {key}: {reason}")
        self.stdout.write(f"Total {verb}: {report.total}")
        if report.errors:
            lines = [f"  {key}: {problem}" for key, problem in sorted(report.errors.items())]
            raise CommandError("Retention targets that could not run:\n" + "\n".join(lines))

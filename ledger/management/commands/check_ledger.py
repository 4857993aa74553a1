"""``manage.py check_ledger``: re-derive every balance from postings; exit non-zero on any mismatch."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from ledger.metrics import record_reconciliation
from ledger.reconciliation import check_ledger


class Command(BaseCommand):
    help = "Verify balances = posted postings and pending totals = unresolved pending postings, each summing to zero."

    def handle(self, *args, **options) -> None:
        report = check_ledger()
        record_reconciliation(report)
        if not report.ok:
            for problem in report.problems:
                self.stderr.write(problem)
            raise CommandError(f"Ledger check FAILED: {len(report.problems)} problem(s).")
        self.stdout.write(
            self.style.SUCCESS(f"Ledger OK: {report.accounts} accounts, {report.postings} postings balance.")
        )
        # Posted and pending are proved separately (ADR 0005): balances from posted postings,
        # pending totals from unresolved pending postings.
        self.stdout.write(
            f"  posted:  {report.posted_postings} postings, {report.posted_volume} minor units moved, "
            "= every balance, sum 0 per currency\n"
            f"  pending: {report.pending_postings} unresolved postings, {report.pending_volume} minor units claimed, "
            "= every account's pending totals, sum 0 per currency"
        )

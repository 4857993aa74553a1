"""``manage.py check_ledger``: re-derive every balance from postings; exit non-zero on any mismatch."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from ledger.metrics import record_reconciliation
from ledger.reconciliation import check_ledger


class Command(BaseCommand):
    help = "Verify balance = sum of postings for every account and that postings sum to zero per currency."

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

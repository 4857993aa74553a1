"""Write pseudonymous wallet-usage analytics as CSV to stdout: only subjects who may be processed for
``analytics`` (consented, not objected, not restricted)."""

from __future__ import annotations

import csv
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from ledger.analytics import usage_analytics


class Command(BaseCommand):
    help = "Export pseudonymous per-subject wallet activity for analytics (consenting subjects only)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days", type=int, default=30, help="Activity of the last N days.")

    def handle(self, *args, days: int, **options) -> None:
        writer = csv.writer(self.stdout)
        writer.writerow(("subject", "postings", "volume"))
        for row in usage_analytics(since=timezone.now() - timedelta(days=days)):
            writer.writerow((row.subject, row.postings, row.volume))

"""Verify the audit hash chain; exit 0 when intact, 1 naming the first broken seq otherwise."""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand

from compliance.audit.chain import verify_and_alert


class Command(BaseCommand):
    help = "Verify the audit trail's hash chain against the exported head."

    def handle(self, *args: Any, **options: Any) -> None:
        result = verify_and_alert()
        if result.ok:
            self.stdout.write(self.style.SUCCESS(result.message()))
            return
        self.stderr.write(self.style.ERROR(result.message()))
        sys.exit(1)

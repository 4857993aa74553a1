"""Seal every committed unsealed audit record now (what the 5-second beat task does)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from compliance.audit.chain import seal_and_export_head


class Command(BaseCommand):
    help = "Seal pending audit records and export the chain head."

    def handle(self, *args: Any, **options: Any) -> None:
        result = seal_and_export_head(force_head=True)
        self.stdout.write(f"sealed {result.sealed} records; head seq {result.head_seq}")

"""Export sealed audit segments and a manifest to the archive storage (what the daily task does)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from compliance.audit.archive import export_segments
from compliance.audit.chain import seal_and_export_head


class Command(BaseCommand):
    help = "Seal pending audit records, then archive every sealed record not yet archived."

    def handle(self, *args: Any, **options: Any) -> None:
        seal_and_export_head(force_head=True)
        summary = export_segments()
        self.stdout.write(
            f"archived {summary['records']} records in {summary['segments']} segments; head seq {summary['head_seq']}"
        )

"""Seal every committed unsealed audit record now (what the 5-second beat task does)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from compliance.audit.chain import seal_and_export_head
from compliance.audit.transparency import latest_checkpoint


class Command(BaseCommand):
    help = "Seal pending audit records, export the chain head and publish a checkpoint if one is due."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--checkpoint", action="store_true", help="Publish a signed checkpoint now.")

    def handle(self, *args: Any, **options: Any) -> None:
        result = seal_and_export_head(force_head=True, force_checkpoint=options["checkpoint"])
        checkpoint = latest_checkpoint()
        self.stdout.write(f"sealed {result.sealed} records; head seq {result.head_seq}")
        if checkpoint is not None:
            self.stdout.write(f"latest checkpoint: size {checkpoint.size}, root {checkpoint.root_hash}")

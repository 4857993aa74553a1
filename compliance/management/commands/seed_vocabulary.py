"""Create the declared processing purposes and retention policies that have no row yet (idempotent)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from compliance.consent.seed import seed_processing_purposes
from compliance.retention.seed import seed_retention_policies


class Command(BaseCommand):
    help = "Seed purposes (with their first notices) and retention policies from compliance.pi.vocabulary."

    def handle(self, *args, **options) -> None:
        purposes = seed_processing_purposes()
        policies = seed_retention_policies()
        self.stdout.write(f"created {purposes} purpose(s) and {policies} retention policy row(s)")

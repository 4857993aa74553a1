"""List the KYC records due for their periodic re-check, and those paused by a restriction (with why).

Prints record ids (random UUIDs) only, never personal information.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand

from ledger.kyc_recheck import kyc_rechecks_due


class Command(BaseCommand):
    help = "List KYC records due for a periodic re-check; restricted customers are paused, with the reason."

    def handle(self, *args, **options) -> None:
        plan = kyc_rechecks_due()
        self.stdout.write(f"Due for re-check: {len(plan.due)}")
        for record in plan.due:
            self.stdout.write(f"  {record.public_id}")
        self.stdout.write(f"Paused: {len(plan.paused)}")
        for record in plan.paused:
            self.stdout.write(f"  {record.public_id}")
        if plan.paused:
            self.stdout.write(plan.paused_reason)

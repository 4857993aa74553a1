"""Create the role groups and set their permissions to the declared set (idempotent)."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from accounts.services import roles_sync


class Command(BaseCommand):
    help = "Create/refresh the five role groups with exactly their declared permissions."

    def handle(self, *args, **options) -> None:
        for role, count in roles_sync(actor=None).items():
            self.stdout.write(f"{role:<20} {count} permissions")

"""Create the role groups and set their permissions to the declared set (idempotent)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from accounts.services import RoleConfigurationError, roles_sync


class Command(BaseCommand):
    help = "Create/refresh the five role groups with exactly their declared permissions."

    def handle(self, *args, **options) -> None:
        try:
            counts = roles_sync(actor=None)
        except RoleConfigurationError as error:
            raise CommandError(str(error)) from error
        for role, count in counts.items():
            self.stdout.write(f"{role:<20} {count} permissions")

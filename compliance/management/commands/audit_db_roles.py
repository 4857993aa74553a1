"""Create/refresh the application's least-privilege database role (safe to re-run)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

from compliance.audit.db_roles import app_role_statements, render_sql


class Command(BaseCommand):
    help = "Grant the application role INSERT/SELECT only on the audit table (run after every migrate)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--role", default=None, help="Role name (default: AUDIT_DB_APP_ROLE).")
        parser.add_argument("--schema", default="public")
        parser.add_argument("--no-create", action="store_true", help="Do not create the role if missing.")
        parser.add_argument("--print-sql", action="store_true", help="Print the SQL instead of running it.")

    def handle(self, *args: Any, **options: Any) -> None:
        role = options["role"] or settings.AUDIT_DB_APP_ROLE
        if options["print_sql"]:
            self.stdout.write(render_sql(role, schema=options["schema"]), ending="")
            return
        if connection.vendor != "postgresql":
            raise CommandError("Database roles exist only on PostgreSQL.")
        with transaction.atomic(), connection.cursor() as cursor:
            for statement in app_role_statements(role, schema=options["schema"], create_role=not options["no_create"]):
                cursor.execute(statement)
        self.stdout.write(self.style.SUCCESS(f"Role {role}: INSERT/SELECT only on the audit table."))

"""Load the demo data `make run` shows a newcomer: one user per role.

Idempotent: a second run changes nothing and says so. Passwords are random, printed once when
the users are created and kept in a private file (mode 0600, git-ignored) under var/.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction

DEMO_DOMAIN = "demo.fintech.example"
ROLES = ("customer", "operations", "information_officer", "auditor", "admin")


class Command(BaseCommand):
    help = "Create the demo users (one per role) unless they exist; print credentials once."

    def handle(self, *args, **options) -> None:
        user_model = get_user_model()
        credentials_file = Path(settings.VAR_DIR) / "demo-credentials.txt"
        created: list[tuple[str, str, str]] = []
        with transaction.atomic():
            for role in ROLES:
                group, _ = Group.objects.get_or_create(name=role)
                email = f"{role.replace('_', '.')}@{DEMO_DOMAIN}"
                if user_model.objects.filter(email=email).exists():
                    continue
                password = secrets.token_urlsafe(18)
                user = user_model.objects.create_user(
                    email=email,
                    password=password,
                    first_name="Demo",
                    last_name=role.replace("_", " ").title(),
                    is_staff=role != "customer",
                    is_superuser=role == "admin",
                )
                user.groups.add(group)
                created.append((role, email, password))
        if not created:
            self.stdout.write(f"Demo data already present; credentials are in {credentials_file}.")
            return
        lines = [f"{role:<20} {email:<45} {password}" for role, email, password in created]
        credentials_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(credentials_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as handle:
            handle.write("\n".join(lines) + "\n")
        self.stdout.write(self.style.SUCCESS(f"Demo users created (shown once; also in {credentials_file}):"))
        for line in lines:
            self.stdout.write("  " + line)

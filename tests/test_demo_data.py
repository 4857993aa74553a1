from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from accounts.models import TOTPDevice
from fintech.management.commands.demo_data import ROLES


@pytest.mark.django_db
def test_demo_data_creates_one_user_per_role_once(settings, tmp_path, capsys):
    settings.VAR_DIR = tmp_path
    call_command("demo_data")
    first = capsys.readouterr().out
    call_command("demo_data")
    second = capsys.readouterr().out
    users = get_user_model().objects.all()
    assert users.count() == len(ROLES)
    assert {group for user in users for group in user.groups.values_list("name", flat=True)} == set(ROLES)
    assert users.get(groups__name="customer").is_staff is False
    assert all(user.is_staff for user in users.filter(groups__name__in=["operations", "auditor"]))
    assert "Demo users created" in first
    assert "already present" in second
    credentials = tmp_path / "demo-credentials.txt"
    assert credentials.stat().st_mode & 0o777 == 0o600
    lines = credentials.read_text().splitlines()
    assert len([line for line in lines if "TOTP key" in line]) == len(ROLES)
    assert len([line for line in lines if "otpauth://totp/" in line]) == len(ROLES)
    # Every demo user has a confirmed authenticator, so the OTP-only admin is usable at once.
    assert TOTPDevice.objects.filter(confirmed=True).count() == len(ROLES)
    assert users.get(groups__name="admin").is_superuser

"""Accounts' retention targets (SPEC C8), registered from ``AccountsConfig.ready()``.

What goes, and when (periods are the admin-editable policies named here):
- expired sessions (``session``), expired refresh-token records with their blacklist entries
  (``auth_tokens``), failed-login/lockout records (``lockout_records``);
- the MFA devices and backup codes of deactivated accounts (``mfa_devices_closed_accounts``),
  counted from the account's last change, which for a closed account is its deactivation.
Users themselves are never deleted (their audit records protect them): a deletion request
pseudonymises them (compliance.dsar.erasure).
"""

from __future__ import annotations

from django.apps import apps

from compliance.retention.engine import register_retention_target


def register_accounts_targets() -> None:
    from axes.models import AccessAttempt, AccessFailureLog, AccessLog
    from django.contrib.sessions.models import Session
    from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

    from accounts.models import BackupCode, TOTPDevice

    if apps.is_installed("django.contrib.sessions"):
        register_retention_target(Session, policy="session", date_field="expire_date")
    register_retention_target(OutstandingToken, policy="auth_tokens", date_field="expires_at", subject_path="user")
    for model in (AccessAttempt, AccessFailureLog, AccessLog):
        register_retention_target(model, policy="lockout_records", date_field="attempt_time")
    for model in (TOTPDevice, BackupCode):
        register_retention_target(
            model,
            policy="mfa_devices_closed_accounts",
            date_field="user__updated_at",
            subject_path="user",
            queryset=lambda model=model: model.objects.filter(user__is_active=False),  # type: ignore[misc]  # mypy infers no lambda with a default argument
        )

"""Seed the retention policies: every code of the PI inventory's registry, plus the platform's
housekeeping policies (tokens, lockout records, MFA devices of closed accounts, ended holds).

Existing rows are left alone (the information officer may have edited them); reversing removes
only rows still equal to their seed.
"""

from django.db import migrations

# Housekeeping policies that no PI annotation names but the purge targets do.
PLATFORM_POLICIES = [
    (
        "auth_tokens",
        1,
        "the token expires",
        "Security and minimisation (POPIA s14): an expired refresh-token record proves nothing and links a person "
        "to sessions",
        "delete",
    ),
    (
        "lockout_records",
        90,
        "the failed login attempt",
        "Security: 90 days of failed-login records support incident investigation (POPIA s19); older ones "
        "only hold usernames and IP addresses",
        "delete",
    ),
    (
        "mfa_devices_closed_accounts",
        30,
        "the account is deactivated",
        "Minimisation: an MFA secret of a closed account protects nothing; kept 30 days for reactivation",
        "delete",
    ),
    (
        "legal_hold_expiry",
        0,
        "the retention duty's end date",
        "FICA s23 / POPIA s14: once the legal duty ends the held record may go; insert-only records stay "
        "pseudonymised and the hold is completed",
        "anonymise",
    ),
]


def _seed_rows():
    from compliance.pi.vocabulary import RETENTION_POLICIES

    rows = []
    for policy in RETENTION_POLICIES.values():
        days = None if policy.period is None else max(policy.period.days, 0)
        rows.append((policy.code, days, policy.trigger, policy.reason, "delete"))
    rows.extend(PLATFORM_POLICIES)
    return rows


def seed(apps, schema_editor):
    RetentionPolicy = apps.get_model("compliance", "RetentionPolicy")
    for code, days, trigger, reason, action in _seed_rows():
        RetentionPolicy.objects.get_or_create(
            code=code, defaults={"period_days": days, "trigger": trigger, "legal_reason": reason, "action": action}
        )


def unseed(apps, schema_editor):
    RetentionPolicy = apps.get_model("compliance", "RetentionPolicy")
    for code, days, trigger, reason, action in _seed_rows():
        RetentionPolicy.objects.filter(
            code=code, period_days=days, trigger=trigger, legal_reason=reason, action=action
        ).delete()


class Migration(migrations.Migration):
    dependencies = [("compliance", "0009_retention_policies_runs_and_secret_inventory")]

    operations = [migrations.RunPython(seed, unseed)]

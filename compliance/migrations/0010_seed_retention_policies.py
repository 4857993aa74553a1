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


# The policies of the PI inventory's registry, frozen as they were declared when this migration was
# written (a migration never imports live code; compliance.pi.vocabulary declares them today).
REGISTRY_POLICIES = [
    (
        "fica_customer_due_diligence",
        1825,
        "the business relationship ends",
        "FICA s22/s23: customer due diligence records kept 5 years after the relationship ends",
        "delete",
    ),
    (
        "fica_transactions",
        1825,
        "the transaction date",
        "FICA s22A/s23: transaction records kept 5 years after the transaction",
        "delete",
    ),
    (
        "audit_trail",
        1825,
        "the event",
        "PMLA/FICA and POPIA s19: evidence of processing and access",
        "delete",
    ),
    (
        "account_active_plus_1y",
        365,
        "the account is closed",
        "POPIA s14: no longer than needed; one year covers disputes and chargebacks",
        "delete",
    ),
    (
        "mfa_secrets",
        None,
        "the MFA device is enrolled",
        "Security: deleted when the device is",
        "delete",
    ),
    (
        "session",
        1,
        "the session ends",
        "Security: sessions expire",
        "delete",
    ),
    (
        "consent_records",
        1825,
        "the consent is withdrawn or the relationship ends",
        "POPIA s11(2)(a): the responsible party bears the burden of proof of consent",
        "delete",
    ),
    (
        "dsar_records",
        1825,
        "the request is closed",
        "POPIA s23-s25, PAIA: proof of handling requests",
        "delete",
    ),
    (
        "dsar_export_7d",
        7,
        "the export is produced",
        "Minimisation: download window only",
        "delete",
    ),
    (
        "marketing_until_withdrawn",
        None,
        "consent is in force",
        "POPIA s69: direct marketing only with consent",
        "delete",
    ),
]


def _seed_rows():
    return [*REGISTRY_POLICIES, *PLATFORM_POLICIES]


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

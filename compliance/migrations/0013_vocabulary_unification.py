"""The vocabulary unification (issue 14): one lawful-basis vocabulary, purposes and retention
policies declared once (compliance.pi.vocabulary); for legal holds placed by the officer, a
``regulator`` kind, the permission to release one and the release reason.

Data, frozen here as declared when this migration was written (a migration never imports live code),
brings an existing database in line with the declaration without touching what the officer edited:
- the s11(1)(d) basis has one code, ``subject_legitimate_interest``: any stored ``vital_interest``
  (the PI inventory's old spelling) is rewritten;
- the purposes the PI inventory named but no row held (``legal_compliance``, ``security``) are
  created with a published version-1 notice;
- every declared retention policy without a row gets one (0010 seeded them all; this covers a
  database where one was deleted by hand, which the purge would otherwise have reported forever).
"""

from django.db import migrations, models
from django.utils import timezone

NEW_PURPOSES = [
    {
        "code": "legal_compliance",
        "data_categories": ["identity", "financial"],
        "description": "Keeping and reporting the records the law requires: FICA, tax and PAIA, and the evidence "
        "of how we handled your consents and requests.",
        "lawful_basis": "legal_obligation",
        "name": "Records the law requires",
        "notice": "The law requires us to keep certain records (FICA customer and transaction records, tax "
        "records, the evidence of your consents and requests) for set periods and to report to "
        "regulators (POPIA s11(1)(c)). This processing does not depend on your consent.",
    },
    {
        "code": "security",
        "data_categories": ["identity", "contact"],
        "description": "Authentication, two-factor codes, records of access and the investigation of incidents.",
        "lawful_basis": "legal_obligation",
        "name": "Security of the service",
        "notice": "We use your login details, two-factor device and records of access to keep your account and our "
        "systems secure and to investigate incidents, as POPIA s19 requires of us (s11(1)(c)). This "
        "processing does not depend on your consent.",
    },
]

POLICIES = [
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
    ("audit_trail", 1825, "the event", "PMLA/FICA and POPIA s19: evidence of processing and access", "delete"),
    (
        "account_active_plus_1y",
        365,
        "the account is closed",
        "POPIA s14: no longer than needed; one year covers disputes and chargebacks",
        "delete",
    ),
    ("mfa_secrets", None, "the MFA device is enrolled", "Security: deleted when the device is", "delete"),
    ("session", 1, "the session ends", "Security: sessions expire", "delete"),
    (
        "consent_records",
        1825,
        "the consent is withdrawn or the relationship ends",
        "POPIA s11(2)(a): the responsible party bears the burden of proof of consent",
        "delete",
    ),
    ("dsar_records", 1825, "the request is closed", "POPIA s23-s25, PAIA: proof of handling requests", "delete"),
    ("dsar_export_7d", 7, "the export is produced", "Minimisation: download window only", "delete"),
    (
        "marketing_until_withdrawn",
        None,
        "consent is in force",
        "POPIA s69: direct marketing only with consent",
        "delete",
    ),
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
        "Security: 90 days of failed-login records support incident investigation (POPIA s19); older ones only "
        "hold usernames and IP addresses",
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


def forwards(apps, schema_editor):
    purpose_model = apps.get_model("compliance", "ProcessingPurpose")
    notice_model = apps.get_model("compliance", "PurposeNotice")
    policy_model = apps.get_model("compliance", "RetentionPolicy")
    purpose_model.objects.filter(lawful_basis="vital_interest").update(lawful_basis="subject_legitimate_interest")
    now = timezone.now()
    for spec in NEW_PURPOSES:
        purpose, _ = purpose_model.objects.get_or_create(
            code=spec["code"],
            defaults={
                "name": spec["name"],
                "description": spec["description"],
                "lawful_basis": spec["lawful_basis"],
                "data_categories": spec["data_categories"],
            },
        )
        if not notice_model.objects.filter(purpose=purpose, published_at__isnull=False).exists():
            notice_model.objects.create(
                purpose=purpose, text=spec["notice"], version=1, effective_at=now, published_at=now
            )
    for code, days, trigger, reason, action in POLICIES:
        policy_model.objects.get_or_create(
            code=code, defaults={"period_days": days, "trigger": trigger, "legal_reason": reason, "action": action}
        )


class Migration(migrations.Migration):
    dependencies = [
        ("compliance", "0012_audit_seq_unique_among_sealed_rows"),
    ]

    operations = [
        # Notices are immutable evidence once published and policies may have been edited since:
        # unapplying leaves the rows.
        migrations.RunPython(forwards, migrations.RunPython.noop),
        migrations.AlterModelOptions(
            name="legalhold",
            options={"permissions": [("release_legalhold", "Can release a litigation or regulator hold")]},
        ),
        migrations.AddField(
            model_name="legalhold",
            name="release_reason",
            field=models.TextField(blank=True, help_text="Why the officer released the hold."),
        ),
        migrations.AlterField(
            model_name="legalhold",
            name="kind",
            field=models.CharField(
                choices=[
                    ("retention_duty", "Kept under a legal retention duty"),
                    ("litigation", "Litigation / investigation hold"),
                    ("regulator", "Regulator / law-enforcement hold"),
                ],
                max_length=20,
            ),
        ),
        migrations.AlterField(
            model_name="processingpurpose",
            name="lawful_basis",
            field=models.CharField(
                choices=[
                    ("consent", "Consent (s11(1)(a))"),
                    ("contract", "Performance of a contract (s11(1)(b))"),
                    ("legal_obligation", "Obligation imposed by law (s11(1)(c))"),
                    ("subject_legitimate_interest", "Protects a legitimate interest of the data subject (s11(1)(d))"),
                    ("public_law_duty", "Public law duty (s11(1)(e))"),
                    ("legitimate_interest", "Legitimate interest of the responsible party (s11(1)(f))"),
                ],
                max_length=32,
            ),
        ),
    ]

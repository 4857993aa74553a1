"""Seed the platform's processing purposes with their first published notices (data only).

The data is frozen here as it was when this migration was written: a migration never imports live
code (compliance.pi.vocabulary declares the purposes today; 0013 brings older databases in line).
Existing purposes are left as they are.
"""

from django.db import migrations
from django.utils import timezone

PURPOSES = (
    {
        "code": "account_management",
        "name": "Account management",
        "lawful_basis": "contract",
        "data_categories": ["identity", "contact"],
        "description": "Opening and running your account: identifying you at login, keeping your "
        "profile, and sending you service messages about your account.",
        "notice": "We use your name, e-mail address and login details to open and run your account "
        "and to send you messages about it. We need this to provide the service you signed up for "
        "(POPIA s11(1)(b)); without it we cannot open an account. You may ask to see or correct "
        "this information at any time.",
    },
    {
        "code": "kyc",
        "name": "Identity verification (KYC)",
        "lawful_basis": "legal_obligation",
        "data_categories": ["identity", "contact"],
        "description": "Verifying your identity before money moves, as the Financial Intelligence "
        "Centre Act (FICA) requires, and keeping the records it prescribes.",
        "notice": "The Financial Intelligence Centre Act requires us to verify your identity (ID "
        "number, date of birth, address) and to keep these records for five years after our "
        "relationship ends (POPIA s11(1)(c)). This processing does not depend on your consent.",
    },
    {
        "code": "payments",
        "name": "Payments and wallet",
        "lawful_basis": "contract",
        "data_categories": ["financial", "card"],
        "description": "Deposits, withdrawals and transfers you ask for, and the statements of your wallet.",
        "notice": "We process your bank account, card and transaction details to carry out the "
        "deposits, withdrawals and transfers you ask for and to give you statements (POPIA "
        "s11(1)(b)). Card numbers are stored encrypted and the CVV is never stored.",
    },
    {
        "code": "fraud_prevention",
        "name": "Fraud and financial-crime prevention",
        "lawful_basis": "legal_obligation",
        "data_categories": ["identity", "financial"],
        "description": "Monitoring transactions to detect fraud and money laundering and to "
        "report suspicious activity, as FICA requires; also in our legitimate interest in a safe "
        "service.",
        "notice": "We monitor transactions and account activity to prevent fraud and money "
        "laundering and to report suspicious transactions as FICA requires (POPIA s11(1)(c), and "
        "our legitimate interest under s11(1)(f)). This processing does not depend on your consent.",
    },
    {
        "code": "direct_marketing",
        "name": "Direct marketing by us",
        "lawful_basis": "consent",
        "data_categories": ["contact"],
        "description": "Sending you offers about our own products by e-mail, only if you opt in.",
        "notice": "With your consent we will send you news and offers about our own products by "
        "e-mail (POPIA s69). This is optional: nothing happens unless you opt in, and you can "
        "withdraw at any time in the app, as easily as you gave it; every message also tells you "
        "how to stop them.",
    },
    {
        "code": "analytics",
        "name": "Analytics and product improvement",
        "lawful_basis": "consent",
        "data_categories": ["contact", "financial"],
        "description": "Analysing how you use the service to improve it, only if you agree.",
        "notice": "With your consent we analyse how you use the app (features used, transaction "
        "patterns, in aggregate where possible) to improve our products. This is optional and you "
        "can withdraw at any time.",
    },
    {
        "code": "third_party_marketing_sharing",
        "name": "Sharing with partners for their marketing",
        "lawful_basis": "consent",
        "data_categories": ["contact"],
        "description": "Sharing your name and e-mail address with selected partners so they can "
        "market their products to you, only if you opt in.",
        "notice": "With your consent we share your name and e-mail address with selected partners "
        "who may send you offers for their own products (POPIA s69). This is optional: nothing is "
        "shared unless you opt in, and you can withdraw at any time; partners are told to stop.",
    },
)


def seed(apps, schema_editor):
    purpose_model = apps.get_model("compliance", "ProcessingPurpose")
    notice_model = apps.get_model("compliance", "PurposeNotice")
    now = timezone.now()
    for spec in PURPOSES:
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


class Migration(migrations.Migration):
    dependencies = [
        ("compliance", "0001_consent_purposes_notices_events"),
    ]

    # Published notices are immutable evidence (a trigger refuses deleting them), so unapplying
    # leaves the rows; unapplying 0001 drops the tables.
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]

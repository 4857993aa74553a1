"""Schema: one customer cannot register the same bank account twice (decided by the blind index,
which 0004 filled for existing rows)."""

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("ledger", "0004_encrypt_existing_kyc_and_bank_account_rows"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddConstraint(
            model_name="bankaccount",
            constraint=models.UniqueConstraint(
                fields=("owner", "account_number_index"), name="ledger_bank_account_unique_per_owner"
            ),
        ),
    ]

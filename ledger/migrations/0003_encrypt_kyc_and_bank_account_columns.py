# Schema: KYC ID number and date of birth and the bank account number become encrypted columns with
# blind indexes. Existing plaintext is encrypted by 0004; the uniqueness per owner is added by 0005.

from django.conf import settings
from django.db import migrations

import compliance.crypto.fields


class Migration(migrations.Migration):

    dependencies = [
        ('ledger', '0002_postgresql_ledger_functions_and_triggers'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='bankaccount',
            name='account_number_index',
            field=compliance.crypto.fields.BlindIndexField(normaliser='digits', source_field='account_number'),
        ),
        migrations.AddField(
            model_name='kycrecord',
            name='id_number_index',
            field=compliance.crypto.fields.BlindIndexField(normaliser='id_number', source_field='id_number'),
        ),
        migrations.AlterField(
            model_name='bankaccount',
            name='account_number',
            field=compliance.crypto.fields.EncryptedCharField(max_length=20),
        ),
        migrations.AlterField(
            model_name='kycrecord',
            name='date_of_birth',
            field=compliance.crypto.fields.EncryptedDateField(),
        ),
        migrations.AlterField(
            model_name='kycrecord',
            name='id_number',
            field=compliance.crypto.fields.EncryptedCharField(max_length=13),
        ),
    ]

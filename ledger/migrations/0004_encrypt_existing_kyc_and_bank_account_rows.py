"""Data: encrypt KYC ID numbers, dates of birth and bank account numbers stored in clear before
0003, and compute their blind indexes (KYC search, DSAR lookup, duplicate detection). Reversible."""

from django.db import migrations

from compliance.crypto.backfill import decrypt_existing_rows, encrypt_existing_rows


def encrypt(apps, schema_editor):
    encrypt_existing_rows(apps, schema_editor, "ledger.KycRecord", ["id_number", "date_of_birth"])
    encrypt_existing_rows(apps, schema_editor, "ledger.BankAccount", ["account_number"])


def decrypt(apps, schema_editor):
    decrypt_existing_rows(apps, schema_editor, "ledger.KycRecord", ["id_number", "date_of_birth"])
    decrypt_existing_rows(apps, schema_editor, "ledger.BankAccount", ["account_number"])


class Migration(migrations.Migration):
    dependencies = [("ledger", "0003_encrypt_kyc_and_bank_account_columns")]

    operations = [migrations.RunPython(encrypt, decrypt)]

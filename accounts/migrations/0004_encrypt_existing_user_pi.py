"""Data: encrypt the e-mail addresses, names and TOTP keys stored in clear before 0003, and compute
the e-mail blind index that login and the uniqueness of addresses now rely on. Reversible (the
reverse decrypts, so 0003 can then turn the columns back into plain ones)."""

from django.db import migrations

from compliance.crypto.backfill import decrypt_existing_rows, encrypt_existing_rows

USER_FIELDS = ["email", "first_name", "last_name", "phone"]


def encrypt(apps, schema_editor):
    encrypt_existing_rows(apps, schema_editor, "accounts.User", USER_FIELDS)
    encrypt_existing_rows(apps, schema_editor, "accounts.TOTPDevice", ["key"])


def decrypt(apps, schema_editor):
    decrypt_existing_rows(apps, schema_editor, "accounts.User", USER_FIELDS)
    decrypt_existing_rows(apps, schema_editor, "accounts.TOTPDevice", ["key"])


class Migration(migrations.Migration):
    dependencies = [("accounts", "0003_encrypt_user_pi_columns")]

    operations = [migrations.RunPython(encrypt, decrypt)]

"""The surname's blind index (normaliser "name"), so staff find a data subject by surname (the DSAR
queue's search) without the encrypted column being searchable. Existing rows get their index here:
``encrypt_existing_rows`` leaves the already-encrypted surnames as they are and only computes the
index from each decrypted value. The reverse drops the column (nothing to undo in the data)."""

from django.db import migrations

import compliance.crypto.fields
from compliance.crypto.backfill import encrypt_existing_rows


def index_existing_surnames(apps, schema_editor):
    encrypt_existing_rows(apps, schema_editor, "accounts.User", ["last_name"])


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0004_encrypt_existing_user_pi"),
    ]

    operations = [
        migrations.AddField(
            model_name="user",
            name="last_name_index",
            field=compliance.crypto.fields.BlindIndexField(normaliser="name", source_field="last_name"),
        ),
        migrations.RunPython(index_existing_surnames, migrations.RunPython.noop),
    ]

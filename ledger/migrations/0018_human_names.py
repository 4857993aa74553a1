"""Verbose names that carry their own capitals ("ID number"): the subject reads them (issue 16). No SQL."""

from django.db import migrations

import compliance.crypto.fields


class Migration(migrations.Migration):
    dependencies = [
        ("ledger", "0017_dsar_erasure_holds_money"),
    ]

    operations = [
        migrations.AlterField(
            model_name="kycrecord",
            name="id_number",
            field=compliance.crypto.fields.EncryptedCharField(max_length=13, verbose_name="ID number"),
        ),
        migrations.AlterField(
            model_name="kycrecord",
            name="id_number_index",
            field=compliance.crypto.fields.BlindIndexField(
                normaliser="id_number", source_field="id_number", verbose_name="ID number index"
            ),
        ),
    ]

"""Verbose names that carry their own capitals ("DSAR events", "source IP address"): the subject's
export and deletion statement name tables and fields by them (issue 16). No SQL."""

from django.db import migrations, models

import compliance.crypto.fields


class Migration(migrations.Migration):
    dependencies = [
        ("compliance", "0021_seal_function_set_checks"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="dsarevent",
            options={"ordering": ("created_at", "id"), "verbose_name": "DSAR event"},
        ),
        migrations.AlterModelOptions(
            name="dsarexport",
            options={"verbose_name": "DSAR export"},
        ),
        migrations.AlterModelOptions(
            name="dsarnotice",
            options={"ordering": ("created_at", "id"), "verbose_name": "DSAR notice"},
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="source_ip",
            field=models.GenericIPAddressField(blank=True, null=True, verbose_name="source IP address"),
        ),
        migrations.AlterField(
            model_name="consentevent",
            name="source_ip",
            field=models.GenericIPAddressField(blank=True, null=True, verbose_name="source IP address"),
        ),
        migrations.AlterField(
            model_name="datasubjectrequest",
            name="notify_contact",
            field=compliance.crypto.fields.EncryptedCharField(
                blank=True, max_length=254, verbose_name="contact for notices about this request"
            ),
        ),
        migrations.AlterField(
            model_name="processingrestrictionevent",
            name="source_ip",
            field=models.GenericIPAddressField(blank=True, null=True, verbose_name="source IP address"),
        ),
    ]

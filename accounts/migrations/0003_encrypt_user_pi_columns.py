# Schema: e-mail, names and TOTP key become encrypted columns; blind indexes and the optional phone
# number are added. Existing plaintext is encrypted by the data migration 0004.

from django.db import migrations

import compliance.crypto.fields


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0002_totp_devices_backup_codes_auth_epoch'),
    ]

    operations = [
        migrations.AddField(
            model_name='user',
            name='email_index',
            field=compliance.crypto.fields.BlindIndexField(normaliser='email', source_field='email', unique=True),
        ),
        migrations.AddField(
            model_name='user',
            name='phone',
            field=compliance.crypto.fields.EncryptedCharField(blank=True, help_text='E.164, e.g. +27825550100.', max_length=20, null=True),
        ),
        migrations.AddField(
            model_name='user',
            name='phone_index',
            field=compliance.crypto.fields.BlindIndexField(normaliser='phone', source_field='phone'),
        ),
        migrations.AlterField(
            model_name='totpdevice',
            name='key',
            field=compliance.crypto.fields.EncryptedCharField(max_length=128),
        ),
        migrations.AlterField(
            model_name='user',
            name='email',
            field=compliance.crypto.fields.EncryptedEmailField(max_length=254),
        ),
        migrations.AlterField(
            model_name='user',
            name='first_name',
            field=compliance.crypto.fields.EncryptedCharField(blank=True, max_length=150),
        ),
        migrations.AlterField(
            model_name='user',
            name='last_name',
            field=compliance.crypto.fields.EncryptedCharField(blank=True, max_length=150),
        ),
    ]

"""Per-subject data keys (docs/adr/0007-crypto-shredding.md): the key table, then every encrypted
value of a subject-owned row moved from the field ring (``v…``) to its subject's key (``s1:…``).

The backfill is idempotent and resumable (``manage.py seal_subject_keys`` runs the same code); its
reverse leaves the ``s1:`` tokens alone (they stay readable while the key table exists), so the
schema step can only be reversed once ``seal_subject_keys --to-field-ring`` moved them back.
"""

import django.utils.timezone
from django.db import migrations, models


def seal(apps, schema_editor):
    from compliance.crypto.subject_keys import clear_cache
    from compliance.crypto.subject_rows import backfill_subject_keys

    backfill_subject_keys(app_registry=apps)
    clear_cache()


class Migration(migrations.Migration):

    dependencies = [
        ('compliance', '0019_audit_list_indexes'),
        # Every app whose encrypted columns the backfill moves under subject keys.
        ('accounts', '0004_encrypt_existing_user_pi'),
        ('ledger', '0017_dsar_erasure_holds_money'),
    ]

    operations = [
        migrations.CreateModel(
            name='SubjectKey',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('subject_type', models.CharField(help_text="The subject's model, e.g. accounts.user.", max_length=100)),
                ('subject_id', models.CharField(help_text="The subject's primary key (no PI).", max_length=64)),
                ('version', models.PositiveSmallIntegerField(default=1, help_text='Token format version.')),
                ('wrapped_key', models.TextField(blank=True, help_text='The data key wrapped by the field-key ring; empty once destroyed.')),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now, editable=False)),
                ('destroyed_at', models.DateTimeField(blank=True, null=True)),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('subject_type', 'subject_id'), name='crypto_subject_key_one_per_subject'), models.CheckConstraint(condition=models.Q(models.Q(('destroyed_at__isnull', True), models.Q(('wrapped_key', ''), _negated=True)), models.Q(('destroyed_at__isnull', False), ('wrapped_key', '')), _connector='OR'), name='crypto_subject_key_live_xor_destroyed')],
            },
        ),
        migrations.RunPython(seal, migrations.RunPython.noop),
    ]

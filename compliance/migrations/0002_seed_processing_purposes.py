"""Seed the platform's processing purposes with their first published notices (data only)."""

from django.db import migrations


def seed(apps, schema_editor):
    from compliance.consent.seed import seed_processing_purposes

    seed_processing_purposes(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("compliance", "0001_consent_purposes_notices_events"),
    ]

    # Published notices are immutable evidence (a trigger refuses deleting them), so unapplying
    # leaves the rows; unapplying 0001 drops the tables.
    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]

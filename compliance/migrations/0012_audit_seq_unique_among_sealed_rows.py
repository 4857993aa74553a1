"""``seq`` is unique among sealed rows only: a partial unique index instead of a full one.

Every movement inserts an unsealed row (``seq`` NULL), and a full unique index stores a tuple for
each of those NULLs too: one index insert per audit record on the write path, for nothing (NULLs
never conflict). The partial index (``WHERE seq IS NOT NULL``) gets its tuple when the sealer
sets ``seq``. Uniqueness of sealed ``seq`` values is unchanged, and every lookup by ``seq``
(``seq = x``, ``seq >= x``, the head ``ORDER BY seq DESC`` among ``seq IS NOT NULL``) implies
``seq IS NOT NULL``, so it can use the partial index.

The audit table is the largest and every movement writes to it: on PostgreSQL the partial index
is built CONCURRENTLY (writes continue while it scans), and only then is the full unique
constraint dropped, so sealed ``seq`` values are unique throughout.
"""

from django.db import migrations, models

TABLE = "compliance_auditevent"
FULL = "compliance_auditevent_seq_key"  # PostgreSQL's name for the column's UNIQUE (0005)
PARTIAL = "audit_seq_unique"


def _seq_field(unique: bool) -> models.Field:
    field = models.BigIntegerField(null=True, blank=True, unique=unique, editable=False)
    field.set_attributes_from_name("seq")
    return field


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f"CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS {PARTIAL} ON {TABLE} (seq) WHERE seq IS NOT NULL",
            params=None,
        )
        schema_editor.execute(f"ALTER TABLE {TABLE} DROP CONSTRAINT IF EXISTS {FULL}", params=None)
        return
    # SQLite (the dev profile): the column's UNIQUE goes with a table rebuild, as Django does it.
    model = apps.get_model("compliance", "AuditEvent")
    schema_editor.alter_field(model, model._meta.get_field("seq"), _seq_field(unique=False))
    schema_editor.execute(f"CREATE UNIQUE INDEX {PARTIAL} ON {TABLE} (seq) WHERE seq IS NOT NULL", params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE {TABLE} ADD CONSTRAINT {FULL} UNIQUE (seq)", params=None)
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {PARTIAL}", params=None)
        return
    schema_editor.execute(f"DROP INDEX IF EXISTS {PARTIAL}", params=None)
    model = apps.get_model("compliance", "AuditEvent")
    schema_editor.alter_field(model, _seq_field(unique=False), _seq_field(unique=True))


class Migration(migrations.Migration):
    atomic = False  # CREATE/DROP INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ("compliance", "0011_correction_request_notes"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(forwards, backwards, elidable=False)],
            state_operations=[
                migrations.AddConstraint(
                    model_name="auditevent",
                    constraint=models.UniqueConstraint(
                        condition=models.Q(("seq__isnull", False)), fields=("seq",), name=PARTIAL
                    ),
                ),
                migrations.AlterField(
                    model_name="auditevent",
                    name="seq",
                    field=models.BigIntegerField(blank=True, editable=False, null=True),
                ),
            ],
        ),
    ]

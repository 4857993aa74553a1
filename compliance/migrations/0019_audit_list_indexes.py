"""Indexes for the audit trail's admin list at millions of rows (issue 17), no more of them on the
write path than before:

- ``audit_object_id_idx (object_id, object_type)`` replaces ``audit_object_idx (object_type,
  object_id)``: the admin's search and the DSAR "who accessed" report look up object ids (the
  report with a case-insensitive type, which the old order could not use); nothing looks up a
  type alone.
- ``audit_user_ts_idx (user, timestamp)`` replaces the foreign key's own index on ``user``: it
  serves every lookup by user and also the landing page's "Recent actions" (a user's latest).
- ``audit_request_id_idx (request_id) WHERE request_id <> ''``: the admin's search by request id
  (records written outside a request have none and add no index tuple).

The audit table is the largest and every movement writes to it: on PostgreSQL each new index is
built CONCURRENTLY before the one it replaces is dropped (CONCURRENTLY too), as 0012 does.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

OLD_OBJECT = models.Index(fields=["object_type", "object_id"], name="audit_object_idx")
NEW = [
    models.Index(fields=["object_id", "object_type"], name="audit_object_id_idx"),
    models.Index(fields=["user", "timestamp"], name="audit_user_ts_idx"),
    models.Index(fields=["request_id"], name="audit_request_id_idx", condition=~models.Q(request_id="")),
]


def _options(schema_editor):
    return {"concurrently": True} if schema_editor.connection.vendor == "postgresql" else {}


def _user_fk_indexes(model, schema_editor):
    return schema_editor._constraint_names(model, ["user_id"], index=True, unique=False, primary_key=False)


def forwards(apps, schema_editor):
    model = apps.get_model("compliance", "AuditEvent")
    options = _options(schema_editor)
    for index in NEW:
        schema_editor.execute(index.create_sql(model, schema_editor, **options), params=None)
    schema_editor.execute(OLD_OBJECT.remove_sql(model, schema_editor, **options), params=None)
    # The foreign key's own single-column index (its name is generated): audit_user_ts_idx leads
    # with the same column.
    for name in _user_fk_indexes(model, schema_editor):
        schema_editor.execute(schema_editor._delete_index_sql(model, name, **options), params=None)


def backwards(apps, schema_editor):
    model = apps.get_model("compliance", "AuditEvent")
    options = _options(schema_editor)
    user = model._meta.get_field("user")
    schema_editor.execute(schema_editor._create_index_sql(model, fields=[user], **options), params=None)
    schema_editor.execute(OLD_OBJECT.create_sql(model, schema_editor, **options), params=None)
    for index in NEW:
        schema_editor.execute(index.remove_sql(model, schema_editor, **options), params=None)


class Migration(migrations.Migration):
    atomic = False  # CREATE/DROP INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ("compliance", "0018_erasure_ledger"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(forwards, backwards, elidable=False)],
            state_operations=[
                migrations.RemoveIndex(model_name="auditevent", name="audit_object_idx"),
                migrations.AlterField(
                    model_name="auditevent",
                    name="user",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        help_text="The acting user; empty for the system or an anonymous caller (see actor type).",
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                *[migrations.AddIndex(model_name="auditevent", index=index) for index in NEW],
            ],
        ),
    ]

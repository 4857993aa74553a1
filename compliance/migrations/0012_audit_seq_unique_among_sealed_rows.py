"""``seq`` is unique among sealed rows only: a partial unique index instead of a full one.

Every movement inserts an unsealed row (``seq`` NULL), and a full unique index stores a tuple for
each of those NULLs too: one index insert per audit record on the write path, for nothing (NULLs
never conflict). The partial index (``WHERE seq IS NOT NULL``) gets its tuple when the sealer
sets ``seq``. Uniqueness of sealed ``seq`` values is unchanged, and every lookup by ``seq``
(``seq = x``, ``seq >= x``, the head ``ORDER BY seq DESC`` among ``seq IS NOT NULL``) implies
``seq IS NOT NULL``, so it can use the partial index. The partial index is created before the
full one is dropped, in one transaction.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("compliance", "0011_correction_request_notes"),
    ]

    operations = [
        migrations.AddConstraint(
            model_name="auditevent",
            constraint=models.UniqueConstraint(
                condition=models.Q(("seq__isnull", False)), fields=("seq",), name="audit_seq_unique"
            ),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="seq",
            field=models.BigIntegerField(blank=True, editable=False, null=True),
        ),
    ]

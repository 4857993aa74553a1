"""DSAR notice delivery attempts (count, last attempt, the error's class) and the events that raise
an undelivered notice to the officers and record its resend (issue 16)."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("compliance", "0022_human_names"),
    ]

    operations = [
        migrations.AddField(
            model_name="dsarnotice",
            name="attempts",
            field=models.PositiveSmallIntegerField(default=0),
        ),
        migrations.AddField(
            model_name="dsarnotice",
            name="last_attempt_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="dsarnotice",
            name="last_error_class",
            field=models.CharField(blank=True, max_length=100),
        ),
        migrations.AlterField(
            model_name="dsarevent",
            name="kind",
            field=models.CharField(
                choices=[
                    ("transition", "Status change"),
                    ("note", "Internal note"),
                    ("evidence", "Evidence"),
                    ("extension", "Deadline extended"),
                    ("assignment", "Assigned"),
                    ("approval_requested", "Second approval requested"),
                    ("escalation", "Escalated"),
                    ("balance_settled", "Balance settled before deletion"),
                    ("restriction_lifted", "Restriction or objection lifted"),
                    ("applied_at_filing", "Direct-marketing objection applied at filing"),
                    ("erasure_blocked", "Erasure waiting for the balance to be settled"),
                    ("identity_requested", "Identity verification asked of the subject"),
                    ("notice_undelivered", "Notice to the subject not delivered"),
                    ("notice_resent", "Notice to the subject sent again"),
                ],
                max_length=20,
            ),
        ),
    ]

"""Retention policies (admin-editable), purge runs (the checkpoint that makes a purge resumable) and
holds (records that must be kept, and until when).

Policies are keyed by the same codes as the PI inventory's annotations (``compliance.pi``) and are
declared once in ``compliance.pi.vocabulary``, from which the rows are seeded with their legal
reasons. The information officer edits periods and switches policies on or off; the purge engine
and erasure (``compliance.dsar.erasure``, which dates retention-duty holds) both read the row.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from compliance.pi.registry import pi_model
from compliance.pi.vocabulary import describe_period


class RetentionAction(models.TextChoices):
    DELETE = "delete", "Delete the row"
    ANONYMISE = "anonymise", "De-identify the row (kept without personal information)"


class RetentionPolicy(models.Model):
    code = models.SlugField(max_length=64, unique=True, help_text="The code PI annotations and purge targets name.")
    period_days = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(0)],
        help_text="Days after the trigger; empty: kept while the trigger lasts (never purged by age).",
    )
    trigger = models.CharField(max_length=200, help_text="What starts the clock.")
    legal_reason = models.TextField(help_text="The law or need that sets the period.")
    action = models.CharField(max_length=10, choices=RetentionAction.choices, default=RetentionAction.DELETE)
    enabled = models.BooleanField(default=True, help_text="Disabled policies are reported but never purge.")
    last_run_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("code",)
        verbose_name_plural = "retention policies"

    def __str__(self) -> str:
        return self.code

    @property
    def period(self) -> timedelta | None:
        return None if self.period_days is None else timedelta(days=self.period_days)

    def describe_period(self) -> str:
        return describe_period(self.period, self.trigger)


class RetentionRun(models.Model):
    """One purge run. An unfinished run is resumed, not restarted: same cut-off, same checkpoint."""

    class State(models.TextChoices):
        RUNNING = "running"
        COMPLETED = "completed"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    state = models.CharField(max_length=10, choices=State.choices, default=State.RUNNING)
    # Every cut-off is computed from this instant, so a resumed run selects what the first
    # attempt would have selected.
    as_of = models.DateTimeField()
    # {"target key": last primary key done (as text)}; targets in `targets_done` are finished.
    checkpoint = models.JSONField(default=dict, blank=True)
    targets_done = models.JSONField(default=list, blank=True)
    # {"policy code": {"target key": rows}} -- counts only, never row contents.
    counts = models.JSONField(default=dict, blank=True)
    batches = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-started_at",)
        constraints = [
            # Two purges must not race over the same checkpoint.
            models.UniqueConstraint(
                fields=["state"], condition=models.Q(state="running"), name="retention_one_running"
            ),
        ]

    def __str__(self) -> str:
        return f"retention run {self.public_id} ({self.state})"

    @property
    def total(self) -> int:
        return sum(sum(per_target.values()) for per_target in self.counts.values())


# --- Holds -------------------------------------------------------------------------------------
# Holds: records that must be kept (and when they may go).
#
# Three kinds, all honoured by the retention purge and by erasure:
# - ``retention_duty``: the law requires keeping the record until ``hold_until`` (e.g. FICA: five
#   years after the relationship ends). A deletion request pseudonymises such records and places
#   this hold; the purge removes them once the date has passed.
# - ``litigation``: kept regardless of retention periods (pending or expected legal proceedings),
#   until released or until ``hold_until`` if one is set.
# - ``regulator``: kept because a regulator or law enforcement asked (the Information Regulator, the
#   FIC, SARS, the police): same rules as litigation.
# Litigation and regulator holds are placed and released by the information officer
# (``compliance.retention.services.hold_place`` / ``hold_release``), on a data subject: every row of
# the subject is then kept by the purge, and a deletion request keeps the data and says why.
# A hold names its record by model label and primary key, so any app's rows can be held without
# compliance importing that app; a subject hold names the user row.


class HoldKind(models.TextChoices):
    RETENTION_DUTY = "retention_duty", "Kept under a legal retention duty"
    LITIGATION = "litigation", "Litigation / investigation hold"
    REGULATOR = "regulator", "Regulator / law-enforcement hold"


# The kinds the information officer places on a subject (the others are the system's).
SUBJECT_HOLD_KINDS = (HoldKind.LITIGATION, HoldKind.REGULATOR)


class LegalHoldQuerySet(models.QuerySet):
    def in_force(self, now=None) -> LegalHoldQuerySet:
        now = now or timezone.now()
        return self.filter(released_at__isnull=True).filter(Q(hold_until__isnull=True) | Q(hold_until__gt=now))

    def on_subjects(self) -> LegalHoldQuerySet:
        """Litigation and regulator holds on data subjects (the officer's holds)."""
        return self.filter(kind__in=SUBJECT_HOLD_KINDS, subject__isnull=False)

    def for_rows(self, model_label: str, object_ids) -> LegalHoldQuerySet:
        return self.filter(model_label=model_label.lower(), object_id__in=[str(pk) for pk in object_ids])


@pi_model(
    subject="subject",
    description=(
        "Which of the subject's records are held, why and until when. Registered so an access request "
        "shows the subject their holds; it holds no PI of its own (the reason is written by staff and names "
        "policies, not people), and erasure leaves it in place: it is what keeps the retained rows."
    ),
    fields={},
    not_pi=[
        "public_id", "kind", "model_label", "object_id", "subject", "retention_policy", "reason", "hold_until",
        "created_by", "created_at", "released_at", "released_by", "release_reason", "scope",
    ],
)  # fmt: skip
class LegalHold(models.Model):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    kind = models.CharField(max_length=20, choices=HoldKind.choices)
    model_label = models.CharField(max_length=100, help_text='"app_label.modelname", lower case.')
    object_id = models.CharField(max_length=64)
    subject = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="legal_holds"
    )
    retention_policy = models.CharField(max_length=64, blank=True, help_text="The policy code that sets the period.")
    reason = models.TextField()
    hold_until = models.DateTimeField(null=True, blank=True, help_text="Empty: until released.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    released_at = models.DateTimeField(null=True, blank=True)
    released_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    release_reason = models.TextField(blank=True, help_text="Why the officer released the hold.")
    # A subject hold may keep only some of the subject's records (a dispute about transactions keeps
    # the ledger, not the marketing consents): the tables (model labels) it keeps. Empty: everything.
    # The retention purge keeps every row of a held subject either way; a deletion erases the rest.
    scope = models.JSONField(
        default=list, blank=True, help_text="Tables the hold keeps (model labels); empty: all the subject's records."
    )

    objects = LegalHoldQuerySet.as_manager()

    class Meta:
        permissions = [("release_legalhold", "Can release a litigation or regulator hold")]
        indexes = [models.Index(fields=["model_label", "object_id"], name="legalhold_row")]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "model_label", "object_id"],
                condition=Q(released_at__isnull=True),
                name="legalhold_one_open_per_row_and_kind",
            ),
            models.CheckConstraint(
                condition=~Q(kind="retention_duty") | Q(hold_until__isnull=False), name="legalhold_duty_has_end"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} on {self.model_label}:{self.object_id}"

    def in_force(self, now=None) -> bool:
        now = now or timezone.now()
        return self.released_at is None and (self.hold_until is None or self.hold_until > now)

    def keeps_table(self, model_label: str) -> bool:
        """Whether this hold keeps the rows of ``model_label`` (an unscoped hold keeps every table)."""
        return not self.scope or model_label.lower() in self.scope

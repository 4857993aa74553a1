"""Retention policies (admin-editable) and purge runs (the checkpoint that makes a purge resumable).

Policies are keyed by the same codes as the PI inventory's annotations (``compliance.pi``); a data
migration seeds them with their legal reasons. The information officer edits periods and switches
policies on or off; the purge engine (``compliance.retention``) reads them at run time.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone


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

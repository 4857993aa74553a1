"""Two-phase settlement of money crossing the platform boundary (issue 15, ADR 0005).

- ``PendingResolution``: how a pending journal entry ended, exactly once (unique on the pending
  entry): *posted* (``posted_entry`` is the new entry whose posted postings moved the balances)
  or *voided* (nothing moved; the pending totals were released). Insert-only, like the journal.
- ``StatementMatch``: the first half of an operations confirmation: one operations user records
  the bank statement line that shows the money; a *second* one confirms it (ledger/settlement.py).
- ``WebhookEvent``: every verified provider notification, unique on (provider, event id): a
  replayed delivery cannot settle anything twice. Insert-only.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from compliance.pi import PI, Category, Erasure, LawfulBasis, pi_model

_FICA = {
    "category": Category.FINANCIAL,
    "purposes": ["payments", "legal_compliance"],
    "lawful_basis": LawfulBasis.LEGAL_OBLIGATION,
    "retention": "fica_transactions",
    "erasure": Erasure.RETAIN_UNDER_LEGAL_DUTY,
}


class ResolutionOutcome(models.TextChoices):
    POSTED = "posted", "Posted"
    VOIDED = "voided", "Voided"


class ResolutionSource(models.TextChoices):
    CARD_PROCESSOR = "card_processor", "Card processor notification"
    BANK = "bank", "Bank notification"
    OPERATIONS = "operations", "Operations (second person, statement line)"
    EXPIRY = "expiry", "Expired unsettled"
    DECLINED = "declined", "Declined by the processor"


@pi_model(
    subject="pending_entry__created_by",
    description=(
        "How a customer's pending deposit or withdrawal ended (posted or voided) and on what evidence: "
        "FICA transaction records, insert-only, retained after a deletion request."
    ),
    fields={"evidence": PI(**_FICA, description="Provider event id or bank statement line reference.")},
    not_pi=[
        "pending_entry",
        "posted_entry",
        "outcome",
        "source",
        "recorded_by",
        "decided_by",
        "created_at",
    ],
)
class PendingResolution(models.Model):
    pending_entry = models.OneToOneField(
        "ledger.JournalEntry", on_delete=models.PROTECT, related_name="resolution", help_text="Resolved once."
    )
    outcome = models.CharField(max_length=8, choices=ResolutionOutcome.choices)
    posted_entry = models.OneToOneField(
        "ledger.JournalEntry", on_delete=models.PROTECT, null=True, blank=True, related_name="settles"
    )
    source = models.CharField(max_length=16, choices=ResolutionSource.choices)
    evidence = models.CharField(max_length=128, blank=True)
    # Operations confirmations: who recorded the statement line and who (a second person) confirmed.
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(Q(outcome="posted") & Q(posted_entry__isnull=False))
                | (Q(outcome="voided") & Q(posted_entry__isnull=True)),
                name="ledger_resolution_posted_has_entry",
            ),
            models.CheckConstraint(
                condition=Q(decided_by__isnull=True)
                | Q(recorded_by__isnull=True)
                | ~Q(decided_by=models.F("recorded_by")),
                name="ledger_resolution_four_eyes",
            ),
        ]

    def __str__(self) -> str:
        return f"Resolution {self.pk} ({self.outcome})"


@pi_model(
    subject="pending_entry__created_by",
    description="The bank statement line operations matched to a customer's pending movement (FICA evidence).",
    fields={"statement_line": PI(**_FICA, description="Bank statement line reference.")},
    not_pi=["pending_entry", "recorded_by", "created_at"],
)
class StatementMatch(models.Model):
    pending_entry = models.OneToOneField("ledger.JournalEntry", on_delete=models.PROTECT, related_name="match")
    statement_line = models.CharField(max_length=64)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    def __str__(self) -> str:
        return f"Statement match {self.pk}"


class WebhookEvent(models.Model):
    """A verified provider notification (its id and type; the body is not kept: nothing of a person)."""

    provider = models.CharField(max_length=16)
    event_id = models.CharField(max_length=128)
    event_type = models.CharField(max_length=32)
    pending_entry = models.ForeignKey(
        "ledger.JournalEntry", on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False
    )
    received_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["provider", "event_id"], name="ledger_webhook_event_once"),
        ]

    def __str__(self) -> str:
        return f"{self.provider} event {self.event_id}"

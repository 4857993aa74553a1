"""Data-subject requests (POPIA s23 access, s24 correction/deletion, s11(3) objection, s14
restriction; PAIA s56–57 timelines).

A request moves through one state machine (``compliance.dsar.services``); every transition is an
append-only ``DsarEvent`` and an audit record. Deadlines are computed, never typed in: due date =
receipt + 30 calendar days, one extension of up to 30 days noticed before the original due date.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from functools import partial

from django.conf import settings
from django.db import models
from django.utils import timezone

from compliance.crypto.fields import EncryptedCharField, EncryptedJSONField
from compliance.pi.registry import PI, pi_model
from compliance.pi.vocabulary import Category, Erasure, LawfulBasis

# What the subject asked and how we verified them is the proof that a request was handled (POPIA
# s23-s25, PAIA). A deletion request therefore keeps it, under a dated hold, until the dsar_records
# period after the request closes, when the retention purge removes it: clearing it at once would
# destroy the evidence of the very erasure being carried out.
_DSAR_RECORD = partial(
    PI,
    category=Category.IDENTITY,
    purposes=["legal_compliance"],
    lawful_basis=LawfulBasis.LEGAL_OBLIGATION,
    retention="dsar_records",
    erasure=Erasure.RETAIN_UNDER_LEGAL_DUTY,
)

DSAR_RESPONSE_DAYS = 30
MASKED = "•••• (masked)"
DSAR_MAX_EXTENSION_DAYS = 30


class DsarType(models.TextChoices):
    ACCESS = "access", "Access (s23)"
    CORRECTION = "correction", "Correction (s24)"
    DELETION = "deletion", "Deletion (s24)"
    PORTABILITY = "portability", "Portability"
    OBJECTION = "objection", "Objection (s11(3))"
    RESTRICTION = "restriction", "Restriction (s14)"


class DsarStatus(models.TextChoices):
    RECEIVED = "received", "Received"
    IDENTITY_VERIFIED = "identity_verified", "Identity verified"
    IN_REVIEW = "in_review", "In review"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    FULFILLED = "fulfilled", "Fulfilled"
    PARTIALLY_FULFILLED = "partially_fulfilled", "Partially fulfilled"
    CLOSED = "closed", "Closed"


OPEN_STATUSES = (
    DsarStatus.RECEIVED,
    DsarStatus.IDENTITY_VERIFIED,
    DsarStatus.IN_REVIEW,
    DsarStatus.APPROVED,
)


class DsarChannel(models.TextChoices):
    API = "api", "Customer API"
    STAFF = "staff", "Filed by staff on the subject's behalf"


class DataSubjectRequestQuerySet(models.QuerySet):
    def open(self) -> DataSubjectRequestQuerySet:
        return self.filter(status__in=OPEN_STATUSES)

    def overdue(self, now=None) -> DataSubjectRequestQuerySet:
        return self.open().filter(due_at__lt=now or timezone.now())

    def due_within(self, days: int, now=None) -> DataSubjectRequestQuerySet:
        now = now or timezone.now()
        return self.open().filter(due_at__gte=now, due_at__lt=now + timedelta(days=days))


@pi_model(
    subject="subject",
    description=(
        "A data-subject request. Its free text, requested corrections and identity evidence are the proof "
        "the request was handled: kept (not cleared) by a deletion request until the dsar_records period "
        "after closure."
    ),
    fields={
        "details": _DSAR_RECORD(description="The subject's own words."),
        # The corrected values are the subject's PI (a new surname, a phone number): encrypted at rest,
        # shown masked, and pseudonymised by the subject's deletion (the field names stay as proof).
        "requested_changes": _DSAR_RECORD(
            erasure=Erasure.PSEUDONYMISE, description="Corrections asked for (field -> new value)."
        ),
        # What happened to the subject's money before a deletion (amounts: FICA financial records).
        "balance_settlements": PI(
            Category.FINANCIAL,
            purposes=["legal_compliance"],
            lawful_basis=LawfulBasis.LEGAL_OBLIGATION,
            retention="dsar_records",
            erasure=Erasure.RETAIN_UNDER_LEGAL_DUTY,
            description="How a balance was settled before deletion: paid out or moved to unclaimed funds.",
        ),
        # Not exported: the officer's verification notes (which document, which call-back) are the
        # officer's working record and would tell a requester how to pass the check.
        "identity_evidence": _DSAR_RECORD(export=False, description="How the subject's identity was verified."),
        # Kept through the subject's own deletion only until the deletion statement has been
        # delivered to it (compliance.dsar.notices clears it then): the erased account can no
        # longer be reached any other way.
        "notify_contact": _DSAR_RECORD(
            category=Category.CONTACT,
            description="Where the notices about this request go (e-mail address or phone), given at filing.",
        ),
    },
    not_pi=[
        "public_id", "subject", "type", "status", "channel", "filed_by", "identity_verified_by",
        "identity_verified_at", "duplicate_of", "assigned_to", "received_at", "original_due_at", "due_at",
        "extended_at", "extended_by", "extension_reason", "approval_requested_by", "approval_requested_at",
        "decided_by", "decided_at", "decision_reason", "outcome_statement", "fulfilled_at", "closed_at",
        "created_at", "updated_at", "purposes", "applied_at_filing",
    ],
)  # fmt: skip
class DataSubjectRequest(models.Model):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    subject = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="dsars")
    type = models.CharField(max_length=20, choices=DsarType.choices)
    status = models.CharField(max_length=24, choices=DsarStatus.choices, default=DsarStatus.RECEIVED)
    # The subject's own words; may contain personal information (never logged or audited).
    details = models.TextField(blank=True)
    # For correction requests: field name -> requested value (PI: encrypted, shown masked).
    requested_changes = EncryptedJSONField(default=dict, blank=True)
    channel = models.CharField(max_length=10, choices=DsarChannel.choices)
    filed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", help_text="Subject or staff member."
    )
    identity_evidence = models.TextField(
        blank=True, help_text="How the subject's identity was verified (document seen, call-back, MFA)."
    )
    identity_verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    identity_verified_at = models.DateTimeField(null=True, blank=True)
    duplicate_of = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="duplicates",
        help_text="An open request of the same type by the same subject when this one was filed.",
    )
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="assigned_dsars"
    )
    received_at = models.DateTimeField(default=timezone.now, editable=False)
    original_due_at = models.DateTimeField(editable=False)
    due_at = models.DateTimeField()
    extended_at = models.DateTimeField(null=True, blank=True)
    extended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    extension_reason = models.TextField(blank=True)
    # Four eyes for deletions: the officer who asked for approval may not give it.
    approval_requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    approval_requested_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_reason = models.TextField(blank=True)
    outcome_statement = models.TextField(
        blank=True, help_text="What was done, what was not and why (sent to the subject)."
    )
    fulfilled_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Objection / restriction: the processing purposes (codes) the subject objects to or restricts.
    purposes = models.JSONField(default=list, blank=True)
    # POPIA s11(3)(b)/s69: a direct-marketing objection takes effect when filed, before any review.
    # The purposes stopped at filing (codes); the officer's review cannot undo them.
    applied_at_filing = models.JSONField(default=list, blank=True)
    # Deletion: the subject's money settled before erasure ([{method, amount, currency, entry}, ...]).
    balance_settlements = models.JSONField(default=list, blank=True)
    # Where the notices about this request go (compliance.dsar.notices): captured at filing, so the
    # deletion statement still reaches the subject once the account is erased. Encrypted (PI).
    notify_contact = EncryptedCharField("contact for notices about this request", max_length=254, blank=True)

    objects = DataSubjectRequestQuerySet.as_manager()

    class Meta:
        verbose_name = "data-subject request"
        ordering = ("due_at",)
        permissions = [("process_dsar", "Can process data-subject requests (information officer)")]
        indexes = [
            models.Index(fields=["status", "due_at"], name="dsar_status_due"),
            models.Index(fields=["subject", "type", "status"], name="dsar_subject_type_status"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(due_at__gte=models.F("original_due_at")), name="dsar_due_not_earlier"
            ),
            models.CheckConstraint(
                condition=~models.Q(status="rejected") | ~models.Q(decision_reason=""), name="dsar_rejection_has_reason"
            ),
        ]

    def __str__(self) -> str:
        return f"DSAR {self.public_id} ({self.type}, {self.status})"

    def save(self, *args, **kwargs) -> None:
        if self._state.adding and not self.original_due_at:
            self.original_due_at = self.received_at + timedelta(days=DSAR_RESPONSE_DAYS)
            self.due_at = self.due_at or self.original_due_at
        super().save(*args, **kwargs)

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def requested_changes_masked(self) -> dict[str, str]:
        """Which fields a correction asks to change, never the values (the admin and the API show this)."""
        return {str(name): MASKED for name in (self.requested_changes or {})}


class DsarEventKind(models.TextChoices):
    TRANSITION = "transition", "Status change"
    NOTE = "note", "Internal note"
    EVIDENCE = "evidence", "Evidence"
    EXTENSION = "extension", "Deadline extended"
    ASSIGNMENT = "assignment", "Assigned"
    APPROVAL_REQUESTED = "approval_requested", "Second approval requested"
    ESCALATION = "escalation", "Escalated"
    # Erasure and its preconditions (money, restrictions lifted, objections applied at filing).
    BALANCE_SETTLED = "balance_settled", "Balance settled before deletion"
    RESTRICTION_LIFTED = "restriction_lifted", "Restriction or objection lifted"
    APPLIED_AT_FILING = "applied_at_filing", "Direct-marketing objection applied at filing"
    ERASURE_BLOCKED = "erasure_blocked", "Erasure waiting for the balance to be settled"
    IDENTITY_REQUESTED = "identity_requested", "Identity verification asked of the subject"
    # A notice that could not be delivered after its last attempt, and the officer's resend.
    NOTICE_UNDELIVERED = "notice_undelivered", "Notice to the subject not delivered"
    NOTICE_RESENT = "notice_resent", "Notice to the subject sent again"


@pi_model(
    subject="dsar__subject",
    description="The history of a request. Internal notes are not exported (PAIA s44: internal deliberation).",
    fields={"note": _DSAR_RECORD(export=False, description="Internal note or evidence text.")},
    not_pi=["dsar", "kind", "from_status", "to_status", "actor", "created_at"],
)
class DsarEvent(models.Model):
    """Append-only history of a request: transitions, notes and evidence, in order."""

    dsar = models.ForeignKey(DataSubjectRequest, on_delete=models.PROTECT, related_name="events")
    kind = models.CharField(max_length=20, choices=DsarEventKind.choices)
    from_status = models.CharField(max_length=24, blank=True)
    to_status = models.CharField(max_length=24, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # Internal; never shown to the subject and never copied into the audit trail.
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ("created_at", "id")
        verbose_name = "DSAR event"
        indexes = [models.Index(fields=["dsar", "created_at"], name="dsarevent_dsar_created")]

    def __str__(self) -> str:
        return f"{self.kind} {self.from_status}->{self.to_status}"


@pi_model(
    subject="dsar__subject",
    description=(
        "An access/portability bundle (encrypted file holding the subject's PI). The row points at the file; "
        "it is kept through a deletion request so the 7-day export purge can still find and destroy the file."
    ),
    fields={
        "storage_name": PI(
            Category.IDENTITY,
            purposes=["legal_compliance"],
            lawful_basis=LawfulBasis.LEGAL_OBLIGATION,
            retention="dsar_export_7d",
            export=False,
            erasure=Erasure.RETAIN_UNDER_LEGAL_DUTY,
            description="Where the encrypted bundle of the subject's PI is stored.",
        ),
    },
    not_pi=[
        "public_id", "dsar", "sha256", "size_bytes", "tables", "created_at", "expires_at", "purged_at",
        "download_count",
    ],
)  # fmt: skip
class DsarExport(models.Model):
    """An access/portability bundle: a ZIP, encrypted at rest, downloadable for seven days."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    dsar = models.OneToOneField(DataSubjectRequest, on_delete=models.PROTECT, related_name="export")
    storage_name = models.CharField(max_length=255, help_text="Where the encrypted bundle is stored.")
    sha256 = models.CharField(max_length=64, help_text="Digest of the plaintext ZIP, for integrity checks.")
    size_bytes = models.PositiveBigIntegerField()
    tables = models.JSONField(default=dict, help_text="Rows per table (counts only).")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    expires_at = models.DateTimeField()
    purged_at = models.DateTimeField(null=True, blank=True)
    download_count = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = "DSAR export"

    def __str__(self) -> str:
        return f"Export for {self.dsar.public_id}"

    @property
    def is_available(self) -> bool:
        return self.purged_at is None and timezone.now() < self.expires_at


@pi_model(
    subject="subject",
    description="POPIA s24(3): a correction was requested and not made; kept with the subject's data.",
    fields={
        "outcome": PI(
            category=Category.IDENTITY,
            purposes=["legal_compliance"],
            lawful_basis=LawfulBasis.LEGAL_OBLIGATION,
            retention="dsar_records",
            erasure=Erasure.RETAIN_UNDER_LEGAL_DUTY,
            description="Why the correction was not made (may describe the subject's data).",
        ),
    },
    not_pi=["subject", "dsar", "fields", "created_at"],
)
class CorrectionRequestNote(models.Model):
    """Attached to a subject's record when a requested correction was not made (s24(3))."""

    subject = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    dsar = models.OneToOneField(DataSubjectRequest, on_delete=models.PROTECT, related_name="correction_note")
    fields = models.JSONField(default=list, help_text="Names of the fields whose correction was requested.")
    outcome = models.TextField()
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    def __str__(self) -> str:
        return f"Correction requested ({', '.join(self.fields)})"


class NoticeKind(models.TextChoices):
    """The notices a data subject receives about a request (templates/dsar/notices/<kind>.v<N>.txt)."""

    ACKNOWLEDGEMENT = "acknowledgement", "Acknowledgement with due date"
    IDENTITY_NEEDED = "identity_needed", "Identity verification needed"
    EXTENSION = "extension", "Deadline extended (PAIA s57)"
    EXPORT_READY = "export_ready", "Export ready to download"
    OUTCOME = "outcome", "Outcome with reasons"
    DELETION_STATEMENT = "deletion_statement", "Deletion statement"
    RESTRICTION_LIFTED = "restriction_lifted", "Restriction lifted"


class NoticeStatus(models.TextChoices):
    PENDING = "pending", "Queued"
    SENT = "sent", "Sent"
    FAILED = "failed", "Not delivered"


@pi_model(
    subject="dsar__subject",
    description=(
        "A notice sent to the subject about their request (acknowledgement, extension, outcome...): what, "
        "when, through which channel and which template version. Neither the address nor the text is kept."
    ),
    fields={},
    not_pi=[
        "public_id", "dsar", "kind", "channel", "template", "template_version", "context", "status", "error",
        "attempts", "last_attempt_at", "last_error_class", "created_at", "sent_at",
    ],
)  # fmt: skip
class DsarNotice(models.Model):
    """One notice to the data subject (compliance.dsar.notices): recorded in the transaction that
    made it due, delivered by a task after commit. The text is rendered from the versioned template
    at delivery; the recipient is the request's ``notify_contact``."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    dsar = models.ForeignKey(DataSubjectRequest, on_delete=models.PROTECT, related_name="notices")
    kind = models.CharField(max_length=32, choices=NoticeKind.choices)
    channel = models.CharField(max_length=10, blank=True, help_text="email or sms; empty when there was no contact.")
    template = models.CharField(max_length=100)
    template_version = models.PositiveSmallIntegerField()
    # Parameters the template needs beyond the request itself (codes and ids only, never PI).
    context = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=NoticeStatus.choices, default=NoticeStatus.PENDING)
    error = models.CharField(max_length=200, blank=True, help_text="Why it was not delivered (never the address).")
    # Delivery attempts (compliance.dsar.notices: the task's retries and the beat sweep's resends):
    # how many, when the last one was, and the class of its error (never the message: a provider's
    # error text may quote the address).
    attempts = models.PositiveSmallIntegerField(default=0)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error_class = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("created_at", "id")
        verbose_name = "DSAR notice"
        indexes = [models.Index(fields=["dsar", "created_at"], name="dsarnotice_dsar_created")]

    def __str__(self) -> str:
        return f"{self.kind} v{self.template_version} ({self.status})"


class ErasureLedgerEntry(models.Model):
    """One completed erasure and its place in the erasure ledger (compliance.dsar.erasure_ledger).

    The ledger itself lives outside the database, in the archive store, so that it survives a
    restore of this database; this row is its outbox. It is written in the erasure's transaction
    (``seq`` empty) and stamped with the ledger's ``seq`` and entry hash once the entry is in the
    archive. A row left unstamped is an erasure a restore could undo: the metric
    ``fintech_dsar_erasures_unrecorded`` counts them and an alert fires. Ids only, never PI."""

    dsar = models.OneToOneField(DataSubjectRequest, on_delete=models.PROTECT, related_name="erasure_ledger_entry")
    subject = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    erased_at = models.DateTimeField()
    # Rows the erasure kept untouched under a litigation or regulator hold: [[model label, pk], ...].
    kept_rows = models.JSONField(default=list, blank=True)
    seq = models.PositiveBigIntegerField(null=True, blank=True, unique=True)
    entry_hash = models.CharField(max_length=64, blank=True)
    recorded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("id",)
        verbose_name_plural = "erasure ledger entries"
        indexes = [
            models.Index(fields=["erased_at"], condition=models.Q(seq__isnull=True), name="erasureledger_unrecorded")
        ]

    def __str__(self) -> str:
        return f"Erasure of subject {self.subject_id}" + (f" (ledger #{self.seq})" if self.seq else " (not recorded)")

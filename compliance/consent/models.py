"""Consent management (POPIA s11, s18, s69): purposes, versioned notices, append-only evidence.

Invariants:
- ``ConsentEvent`` and ``ProcessingRestrictionEvent`` are evidence: rows are only ever inserted.
  In PostgreSQL triggers reject UPDATE and DELETE, and TRUNCATE of a non-empty table (an empty
  table holds no evidence, and refusing that case too would break the test runner's flush).
  The current state of a subject × purpose is *derived* from the latest event (highest id) in
  ``compliance.consent.selectors``; nothing is ever edited in place.
- A ``PurposeNotice`` is a draft (no version, editable) until it is published; publishing assigns
  the next version number and from then on the row is immutable (trigger + admin read-only).
  The current notice of a purpose is its highest published version already in effect.
- Whether consent is needed follows from the lawful basis alone (``consent_required``), so the two
  can never disagree.
- Writes go through ``compliance.consent.services`` only.
"""

from __future__ import annotations

import uuid
from functools import partial
from typing import Any

import pgtrigger
from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from compliance.pi.registry import PI, pi_model

# One lawful-basis vocabulary, declared in compliance.pi.vocabulary (re-exported for consent code).
from compliance.pi.vocabulary import OBJECTABLE_BASES, Category, Erasure, LawfulBasis  # noqa: F401

# Consent and restriction evidence: the responsible party must be able to prove consent (POPIA
# s11(2)(a)), so a deletion request keeps it (append-only rows) until the consent_records period ends.
_EVIDENCE = partial(
    PI,
    category=Category.IDENTITY,
    purposes=["legal_compliance"],
    lawful_basis=LawfulBasis.LEGAL_OBLIGATION,
    retention="consent_records",
    erasure=Erasure.RETAIN_UNDER_LEGAL_DUTY,
)


class ConsentChannel(models.TextChoices):
    API = "api", "API (the customer themself)"
    ADMIN = "admin", "Admin (recorded by staff)"
    PHONE = "phone", "Phone (recorded by staff)"
    OTHER = "other", "Other (recorded by staff)"


# Channels where staff record the subject's choice: a note saying how it was obtained is required.
CHANNELS_NEEDING_NOTE = (ConsentChannel.ADMIN, ConsentChannel.PHONE, ConsentChannel.OTHER)


def _append_only_triggers(prefix: str) -> list[pgtrigger.Trigger]:
    return [
        pgtrigger.Protect(name=f"{prefix}_no_update", operation=pgtrigger.Update),
        pgtrigger.Protect(name=f"{prefix}_no_delete", operation=pgtrigger.Delete),
        pgtrigger.Trigger(
            name=f"{prefix}_no_truncate",
            level=pgtrigger.Statement,
            when=pgtrigger.Before,
            operation=pgtrigger.Truncate,
            func=pgtrigger.Func(
                "IF EXISTS (SELECT 1 FROM {meta.db_table}) THEN "
                "RAISE EXCEPTION 'pgtrigger: Cannot truncate % (append-only evidence)', TG_TABLE_NAME; "
                "END IF; RETURN NULL;"
            ),
        ),
    ]


class ProcessingPurpose(models.Model):
    """Why the platform processes personal information (POPIA s13: specific, explicitly defined)."""

    code = models.SlugField(max_length=64, unique=True, help_text="Stable identifier used by code and the API.")
    name = models.CharField(max_length=200)
    description = models.TextField()
    lawful_basis = models.CharField(max_length=32, choices=LawfulBasis.choices)
    data_categories = models.JSONField(
        default=list, blank=True, help_text="PI categories used, e.g. identity, contact, financial."
    )
    is_active = models.BooleanField(default=True, help_text="Retired purposes stay for the history.")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("code",)
        permissions = [
            ("export_marketing_audience", "Can export the direct-marketing audience"),
            ("record_consent_on_behalf", "Can record a consent choice on a subject's behalf"),
            ("view_consent_statistics", "Can view consent statistics"),
        ]

    def __str__(self) -> str:
        return self.code

    def export_reference(self) -> dict[str, str]:
        """How a subject's export names this purpose (compliance.dsar.export): code and name."""
        return {"code": self.code, "name": self.name}

    @property
    def consent_required(self) -> bool:
        return self.lawful_basis == LawfulBasis.CONSENT


class PurposeNotice(models.Model):
    """The notice (POPIA s18) shown for a purpose. Immutable once published."""

    purpose = models.ForeignKey(ProcessingPurpose, on_delete=models.PROTECT, related_name="notices")
    version = models.PositiveIntegerField(null=True, blank=True, editable=False)
    text = models.TextField()
    requires_reconsent = models.BooleanField(
        default=False,
        help_text="A material change: consents given under earlier versions stop counting once this "
        "version is in effect, until the subject consents again.",
    )
    effective_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", editable=False
    )
    published_at = models.DateTimeField(null=True, blank=True, editable=False)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", editable=False
    )

    class Meta:
        ordering = ("purpose", "-version")
        constraints = [
            models.UniqueConstraint(fields=["purpose", "version"], name="purposenotice_unique_version"),
            # Published ⇔ versioned ⇔ has an effective date: no half-published notice.
            models.CheckConstraint(
                condition=(
                    Q(published_at__isnull=True, version__isnull=True, effective_at__isnull=True)
                    | Q(published_at__isnull=False, version__isnull=False, effective_at__isnull=False)
                ),
                name="purposenotice_published_has_version",
            ),
        ]
        triggers = [
            pgtrigger.Protect(
                name="purposenotice_published_no_update",
                operation=pgtrigger.Update,
                condition=pgtrigger.Q(old__published_at__isnull=False),
            ),
            pgtrigger.Protect(
                name="purposenotice_published_no_delete",
                operation=pgtrigger.Delete,
                condition=pgtrigger.Q(old__published_at__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.purpose_id and self.purpose.code} v{self.version}" if self.version else "draft notice"

    def export_reference(self) -> dict[str, Any]:
        """How a subject's export names this notice: the purpose (code, name) and the version."""
        return {"purpose": self.purpose.code, "purpose_name": self.purpose.name, "version": self.version}

    @property
    def is_published(self) -> bool:
        return self.published_at is not None


@pi_model(
    subject="subject",
    description=(
        "Evidence of each consent choice (POPIA s11(2)(a)): append-only, kept after a deletion request "
        "for the consent_records period so the choice can still be proven."
    ),
    fields={
        "granted": _EVIDENCE(description="The subject's choice: a preference is personal information."),
        "note": _EVIDENCE(description="How staff obtained a choice recorded on the subject's behalf."),
        "source_ip": _EVIDENCE(description="Address the choice was made from."),
    },
    not_pi=["public_id", "subject", "purpose", "notice", "channel", "recorded_by", "request_id", "created_at"],
)
class ConsentEvent(models.Model):
    """One consent choice of a subject for a purpose: the evidence POPIA s11(2)(a) asks for."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    subject = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="consent_events")
    purpose = models.ForeignKey(ProcessingPurpose, on_delete=models.PROTECT, related_name="consent_events")
    notice = models.ForeignKey(PurposeNotice, on_delete=models.PROTECT, related_name="consent_events")
    granted = models.BooleanField(help_text="True: consent given. False: refused or withdrawn.")
    channel = models.CharField(max_length=16, choices=ConsentChannel.choices)
    note = models.TextField(blank=True, help_text="How a staff-recorded choice was obtained.")
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    source_ip = models.GenericIPAddressField("source IP address", null=True, blank=True)
    request_id = models.CharField(max_length=128, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ("-id",)
        indexes = [
            # The latest event per subject × purpose (current state, may_process).
            models.Index(fields=["subject", "purpose", "-id"], name="consentevent_current_idx"),
            # The latest event per purpose × subject (audience export) and statistics over time.
            models.Index(fields=["purpose", "subject", "-id"], name="consentevent_audience_idx"),
            models.Index(fields=["purpose", "created_at"], name="consentevent_stats_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(channel=ConsentChannel.API) | ~Q(note=""),
                name="consentevent_staff_channel_needs_note",
            ),
        ]
        triggers = _append_only_triggers("consentevent")

    def __str__(self) -> str:
        return f"consent {self.public_id}"


class RestrictionKind(models.TextChoices):
    RESTRICTION = "restriction", "Restriction of processing (s14(6))"
    OBJECTION = "objection", "Objection to processing (s11(3))"


@pi_model(
    subject="subject",
    description=(
        "Restrictions and objections imposed or lifted for the subject: append-only evidence, kept after a "
        "deletion request for the consent_records period (an objection must keep being honoured)."
    ),
    fields={
        "active": _EVIDENCE(description="Whether the subject's restriction/objection is in force."),
        "reason": _EVIDENCE(description="Why it was imposed or lifted (may quote the subject)."),
        "source_ip": _EVIDENCE(),
    },
    not_pi=["public_id", "subject", "purpose", "kind", "reference", "recorded_by", "request_id", "created_at"],
)
class ProcessingRestrictionEvent(models.Model):
    """A restriction or objection imposed (active=True) or lifted (active=False) for subject × purpose.

    Set by the information officer when fulfilling a DSAR; ``may_process`` refuses while the latest
    event of either kind is active.
    """

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    subject = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="processing_restriction_events"
    )
    purpose = models.ForeignKey(ProcessingPurpose, on_delete=models.PROTECT, related_name="restriction_events")
    kind = models.CharField(max_length=16, choices=RestrictionKind.choices)
    active = models.BooleanField()
    reason = models.TextField()
    reference = models.CharField(max_length=64, blank=True, help_text="e.g. the DSAR's public id.")
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    source_ip = models.GenericIPAddressField("source IP address", null=True, blank=True)
    request_id = models.CharField(max_length=128, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ("-id",)
        indexes = [
            models.Index(fields=["subject", "purpose", "kind", "-id"], name="restriction_current_idx"),
        ]
        triggers = _append_only_triggers("restrictionevent")

    def __str__(self) -> str:
        return f"{self.kind} {self.public_id}"

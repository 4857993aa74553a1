"""Writes of consent management: purposes, notices, consent choices, restrictions, the marketing export.

Every function takes the acting user, runs in one transaction and writes its audit record in that
transaction. Consent choices are appended, never edited (see ``compliance.models.consent``).

Rules enforced here (POPIA s11, s18, s69):
- a consent choice names the notice version the subject was shown, which must be the purpose's
  current one: a choice made against an outdated notice is refused (``stale_notice_version``);
- consent is only asked for purposes whose lawful basis is consent (``consent_not_required``);
- nothing is pre-ticked: a purpose absent from a list of choices records nothing and counts as not
  granted; ``granted`` must be an explicit boolean, so an opt-out or a default is never consent;
- staff recording a choice on a subject's behalf need the permission and a note saying how it was
  obtained (phone/other/admin channel).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, TextIO

from django.db import transaction
from django.db.models import Max
from django.http import HttpRequest
from django.utils import timezone

from compliance.audit.services import AuditAction, audit_record
from compliance.consent.consumers import register_purpose_consumer
from compliance.consent.models import (
    CHANNELS_NEEDING_NOTE,
    OBJECTABLE_BASES,
    ConsentChannel,
    ConsentEvent,
    LawfulBasis,
    ProcessingPurpose,
    ProcessingRestrictionEvent,
    PurposeNotice,
    RestrictionKind,
)
from compliance.consent.selectors import (
    DIRECT_MARKETING,
    MARKETING_AUDIENCE_COLUMNS,
    THIRD_PARTY_MARKETING_SHARING,
    current_notice,
    marketing_audience,
    public_purposes_forget,
)
from compliance.pi.vocabulary import DIRECT_MARKETING_PURPOSES, purpose_refusal
from kernel.access import require_not_own
from kernel.errors import DomainError
from kernel.request_context import client_ip, get_request_id
from kernel.types import Actor


class ConsentError(DomainError):
    """A refused consent operation. ``code`` is stable (API error code); the message never holds PI.

    ``field`` names the input at fault (for the admin's forms); a conflict with the current state
    (e.g. a newer notice was published) answers 409, anything else 400.
    """

    def __init__(self, code: str, message: str, *, field: str | None = None, conflict: bool = False) -> None:
        super().__init__(message, code=code, status_code=409 if conflict else 400)
        self.field = field
        self.conflict = conflict


class ConsentPermissionDenied(ConsentError):
    status_code = 403

    def __init__(self, message: str) -> None:
        super().__init__("permission_denied", message)
        self.status_code = 403


def _source_ip(request: HttpRequest | None) -> str | None:
    return client_ip(request) if request is not None else None


def _is_staff_with(actor: Actor, perm: str) -> bool:
    return bool(getattr(actor, "is_active", False) and getattr(actor, "is_staff", False) and actor.has_perm(perm))


# --- Purposes and notices (the information officer, in the admin) -------------------------------

PURPOSE_EDITABLE_FIELDS = ("name", "description", "data_categories", "is_active")


def purpose_create(
    *,
    actor: Actor,
    code: str,
    name: str,
    description: str,
    lawful_basis: str,
    data_categories: list[str],
    request: HttpRequest | None = None,
) -> ProcessingPurpose:
    if lawful_basis not in LawfulBasis.values:
        raise ConsentError("invalid_lawful_basis", "Unknown lawful basis.", field="lawful_basis")
    with transaction.atomic():
        purpose = ProcessingPurpose.objects.create(
            code=code, name=name, description=description, lawful_basis=lawful_basis, data_categories=data_categories
        )
        audit_record(
            action=AuditAction.PURPOSE_CHANGED,
            actor=actor,
            object_type="compliance.processingpurpose",
            object_id=purpose.code,
            change_diff={
                "before": None,
                "after": {"code": code, "lawful_basis": lawful_basis, "data_categories": list(data_categories)},
            },
            request=request,
        )
        # The public list shows the change at once: forgotten now and again after commit (a read
        # between the two could cache the state before this transaction).
        public_purposes_forget()
        transaction.on_commit(public_purposes_forget)
    return purpose


def purpose_update(
    *, actor: Actor, purpose: ProcessingPurpose, changes: Mapping[str, Any], request: HttpRequest | None = None
) -> ProcessingPurpose:
    """Change the descriptive fields of a purpose. Code and lawful basis are fixed: a different basis
    is a different purpose with its own notice."""
    unknown = set(changes) - set(PURPOSE_EDITABLE_FIELDS)
    if unknown:
        raise ConsentError("field_not_editable", "Code and lawful basis of a purpose cannot change.")
    with transaction.atomic():
        locked = ProcessingPurpose.objects.select_for_update().get(pk=purpose.pk)
        before = {name: getattr(locked, name) for name in changes}
        for name, value in changes.items():
            setattr(locked, name, value)
        locked.save(update_fields=[*changes, "updated_at"])
        audit_record(
            action=AuditAction.PURPOSE_CHANGED,
            actor=actor,
            object_type="compliance.processingpurpose",
            object_id=locked.code,
            # Purpose texts are corporate prose, not personal information.
            change_diff={"before": before, "after": dict(changes)},
            request=request,
        )
        # The public list shows the change at once: forgotten now and again after commit (a read
        # between the two could cache the state before this transaction).
        public_purposes_forget()
        transaction.on_commit(public_purposes_forget)
    return locked


def notice_draft_save(
    *,
    actor: Actor,
    purpose: ProcessingPurpose,
    text: str,
    requires_reconsent: bool = False,
    notice: PurposeNotice | None = None,
) -> PurposeNotice:
    """Create or edit a draft notice. Drafts are not shown to anyone and carry no version yet.

    Not audited: a draft has no effect on anyone; publishing it (``notice_publish``) is the audited
    act, and the published text is kept immutably.
    """
    with transaction.atomic():
        if notice is None:
            return PurposeNotice.objects.create(
                purpose=purpose, text=text, requires_reconsent=requires_reconsent, created_by_id=actor.pk
            )
        locked = PurposeNotice.objects.select_for_update().get(pk=notice.pk)
        if locked.is_published:
            raise ConsentError("notice_published", "A published notice cannot be changed: publish a new version.")
        locked.text = text
        locked.requires_reconsent = requires_reconsent
        locked.save(update_fields=["text", "requires_reconsent"])
        return locked


def notice_publish(
    *,
    actor: Actor,
    notice: PurposeNotice,
    effective_at: datetime | None = None,
    request: HttpRequest | None = None,
) -> PurposeNotice:
    """Publish a draft as the purpose's next version, in effect from ``effective_at`` (default: now)."""
    now = timezone.now()
    effective_at = effective_at or now
    if timezone.is_naive(effective_at):
        raise ConsentError("naive_datetime", "The effective date must carry a time zone.", field="effective_at")
    with transaction.atomic():
        # Lock the purpose so two officers publishing at once get consecutive versions.
        purpose = ProcessingPurpose.objects.select_for_update().get(pk=notice.purpose_id)
        locked = PurposeNotice.objects.select_for_update().get(pk=notice.pk)
        if locked.is_published:
            raise ConsentError("notice_published", "This notice is already published.")
        if not locked.text.strip():
            raise ConsentError("notice_empty", "A notice needs a text.", field="text")
        latest = purpose.notices.aggregate(latest=Max("version"))["latest"] or 0
        locked.version = latest + 1
        locked.effective_at = effective_at
        locked.published_at = now
        locked.published_by_id = actor.pk
        locked.save(update_fields=["version", "effective_at", "published_at", "published_by"])
        audit_record(
            action=AuditAction.NOTICE_PUBLISHED,
            actor=actor,
            object_type="compliance.purposenotice",
            object_id=f"{purpose.code}:v{locked.version}",
            change_diff={
                "purpose": purpose.code,
                "version": locked.version,
                "effective_at": effective_at.isoformat(),
                "requires_reconsent": locked.requires_reconsent,
            },
            request=request,
        )
        # The public list shows the change at once: forgotten now and again after commit (a read
        # between the two could cache the state before this transaction).
        public_purposes_forget()
        transaction.on_commit(public_purposes_forget)
    return locked


# --- Consent choices ------------------------------------------------------------------------------


def _validated_choice(purpose_code: Any, granted: Any, notice_version: Any) -> tuple[ProcessingPurpose, PurposeNotice]:
    if not isinstance(purpose_code, str) or not purpose_code:
        raise ConsentError("unknown_purpose", "Unknown processing purpose.", field="purpose")
    # A default, a missing answer or a truthy string is never consent (POPIA s69, "opt-out is not
    # consent"): only an explicit boolean is accepted.
    if not isinstance(granted, bool):
        raise ConsentError("granted_not_boolean", "'granted' must be true or false.", field="granted")
    if isinstance(notice_version, bool) or not isinstance(notice_version, int):
        raise ConsentError("invalid_notice_version", "'notice_version' must be an integer.", field="notice_version")
    purpose = ProcessingPurpose.objects.filter(code=purpose_code, is_active=True).first()
    if purpose is None:
        raise ConsentError("unknown_purpose", "Unknown processing purpose.", field="purpose")
    if not purpose.consent_required:
        raise ConsentError(
            "consent_not_required",
            "This purpose does not rely on consent; it cannot be granted or withdrawn "
            "(an objection or restriction request can be filed instead).",
            field="purpose",
        )
    notice = current_notice(purpose)
    if notice is None:
        raise ConsentError("no_current_notice", "This purpose has no notice in effect yet.", field="purpose")
    if notice_version != notice.version:
        raise ConsentError(
            "stale_notice_version",
            f"The notice shown is not the current one (current version is {notice.version}): "
            "show the current notice and ask again.",
            field="notice_version",
            conflict=True,
        )
    return purpose, notice


def _check_channel(*, actor: Actor, subject: Any, channel: str, note: str) -> None:
    if channel not in ConsentChannel.values:
        raise ConsentError("invalid_channel", "Unknown channel.", field="channel")
    if actor.pk != subject.pk:
        if not _is_staff_with(actor, "compliance.record_consent_on_behalf"):
            raise ConsentPermissionDenied("Only authorised staff may record a consent choice for someone else.")
        if channel not in CHANNELS_NEEDING_NOTE:
            raise ConsentError("invalid_channel", "Staff record choices via admin, phone or other.", field="channel")
    if channel in CHANNELS_NEEDING_NOTE and not note.strip():
        raise ConsentError("note_required", "Say how the choice was obtained (a note is required).", field="note")


def _append_event(
    *,
    actor: Actor,
    subject: Any,
    purpose: ProcessingPurpose,
    notice: PurposeNotice,
    granted: bool,
    channel: str,
    note: str,
    request: HttpRequest | None,
) -> ConsentEvent:
    event = ConsentEvent.objects.create(
        subject=subject,
        purpose=purpose,
        notice=notice,
        granted=granted,
        channel=channel,
        note=note,
        recorded_by_id=actor.pk,
        source_ip=_source_ip(request),
        request_id=get_request_id() or "",
    )
    audit_record(
        action=AuditAction.CONSENT_GRANTED if granted else AuditAction.CONSENT_WITHDRAWN,
        actor=actor,
        object_type="compliance.consentevent",
        object_id=str(event.public_id),
        change_diff={
            "purpose": purpose.code,
            "notice_version": notice.version,
            "granted": granted,
            "channel": channel,
        },
        request=request,
    )
    return event


def consent_record(
    *,
    actor: Actor,
    subject: Any,
    purpose: str,
    granted: bool,
    notice_version: int,
    channel: str,
    note: str = "",
    request: HttpRequest | None = None,
) -> ConsentEvent:
    """Record one grant or withdrawal (``granted`` False) by the subject or by staff on their behalf.

    Withdrawal takes the same path as granting and needs nothing more (POPIA s11(2)(b)).
    """
    _check_channel(actor=actor, subject=subject, channel=channel, note=note)
    with transaction.atomic():
        purpose_obj, notice = _validated_choice(purpose, granted, notice_version)
        return _append_event(
            actor=actor,
            subject=subject,
            purpose=purpose_obj,
            notice=notice,
            granted=granted,
            channel=channel,
            note=note,
            request=request,
        )


def consent_choices_validate(choices: Iterable[Mapping[str, Any]]) -> None:
    """Raise the ConsentError that ``consent_record_choices`` would raise for these choices, and
    record nothing (registration answers a taken address exactly like a new one)."""
    choices = list(choices)
    codes = [choice.get("purpose") for choice in choices]
    if len(set(codes)) != len(codes):
        raise ConsentError("duplicate_purpose", "Each purpose may be answered once.", field="purpose")
    for choice in choices:
        _validated_choice(choice.get("purpose"), choice.get("granted"), choice.get("notice_version"))


def consent_record_choices(
    *,
    subject: Any,
    choices: Iterable[Mapping[str, Any]],
    channel: str = ConsentChannel.API,
    request: HttpRequest | None = None,
    actor: Actor | None = None,
    note: str = "",
) -> list[ConsentEvent]:
    """Record a set of choices at once (registration). All or nothing.

    ``choices``: ``[{"purpose": code, "granted": bool, "notice_version": int}, ...]``. Purposes not
    listed record nothing and are not granted. Each purpose may appear once.
    """
    actor = actor if actor is not None else subject
    choices = list(choices)
    codes = [choice.get("purpose") for choice in choices]
    if len(set(codes)) != len(codes):
        raise ConsentError("duplicate_purpose", "Each purpose may be answered once.", field="purpose")
    _check_channel(actor=actor, subject=subject, channel=channel, note=note)
    with transaction.atomic():
        validated = [
            (*_validated_choice(choice.get("purpose"), choice.get("granted"), choice.get("notice_version")), choice)
            for choice in choices
        ]
        return [
            _append_event(
                actor=actor,
                subject=subject,
                purpose=purpose,
                notice=notice,
                granted=choice["granted"],
                channel=channel,
                note=note,
                request=request,
            )
            for purpose, notice, choice in validated
        ]


# --- Restrictions and objections (set by DSAR fulfilment) ------------------------------------------


def processing_restriction_set(
    *,
    actor: Actor,
    subject: Any,
    purpose: str,
    kind: str,
    active: bool,
    reason: str,
    reference: str = "",
    request: HttpRequest | None = None,
) -> ProcessingRestrictionEvent:
    """Impose (``active``) or lift a restriction or objection for subject × purpose.

    Objections are accepted only where POPIA s11(3) grants the right: processing on consent or on
    a legitimate-interest / public-duty basis, never on contract or legal obligation. A purpose the
    vocabulary declares not restrictable is refused with its legal reason (ADR 0004); lifting is
    always allowed.
    """
    if not _is_staff_with(actor, "compliance.add_processingrestrictionevent"):
        raise ConsentPermissionDenied("Only the information officer may restrict processing.")
    require_not_own(actor, getattr(subject, "pk", None), "restrict processing of a data subject")
    if kind not in RestrictionKind.values:
        raise ConsentError("invalid_kind", "Unknown restriction kind.", field="kind")
    if not reason.strip():
        raise ConsentError("reason_required", "A reason is required.", field="reason")
    with transaction.atomic():
        purpose_obj = ProcessingPurpose.objects.filter(code=purpose).first()
        if purpose_obj is None:
            raise ConsentError("unknown_purpose", "Unknown processing purpose.", field="purpose")
        if kind == RestrictionKind.OBJECTION and purpose_obj.lawful_basis not in OBJECTABLE_BASES:
            raise ConsentError(
                "objection_not_available",
                "POPIA s11(3) gives no right to object to processing on this lawful basis.",
                field="purpose",
            )
        refusal = purpose_refusal(purpose, kind) if active else ""
        if refusal:
            raise ConsentError("purpose_not_restrictable", refusal, field="purpose")
        event = _restriction_append(
            actor=actor, subject=subject, purpose=purpose_obj, kind=kind, active=active, reason=reason,
            reference=reference, request=request,
        )  # fmt: skip
    return event


def _restriction_append(
    *,
    actor: Actor,
    subject: Any,
    purpose: ProcessingPurpose,
    kind: str,
    active: bool,
    reason: str,
    reference: str,
    request: HttpRequest | None,
    extra: dict[str, Any] | None = None,
) -> ProcessingRestrictionEvent:
    """Append one restriction/objection event and its audit record (the caller's transaction)."""
    event = ProcessingRestrictionEvent.objects.create(
        subject=subject,
        purpose=purpose,
        kind=kind,
        active=active,
        reason=reason,
        reference=reference,
        recorded_by_id=actor.pk,
        source_ip=_source_ip(request),
        request_id=get_request_id() or "",
    )
    audit_record(
        action=AuditAction.PROCESSING_RESTRICTED if active else AuditAction.PROCESSING_RESTRICTION_LIFTED,
        actor=actor,
        object_type="compliance.processingrestrictionevent",
        object_id=str(event.public_id),
        change_diff={"purpose": purpose.code, "kind": kind, "active": active, "reference": reference, **(extra or {})},
        request=request,
    )
    return event


def direct_marketing_objection_apply(
    *, subject: Any, filed_by: Any, purpose: str, reference: str, request: HttpRequest | None = None
) -> ProcessingRestrictionEvent:
    """POPIA s11(3)(b), s69: an objection to direct marketing stops it the moment it is filed.

    Nothing is decided here (the law gives no ground to refuse such an objection), so no officer is
    needed: the event is recorded by whoever filed (the subject, or staff on their behalf) and
    ``may_process`` leaves the subject out of the audience from this commit on. Any other purpose
    is refused: its objection waits for the officer's review.
    """
    if purpose not in DIRECT_MARKETING_PURPOSES:
        raise ConsentError("not_direct_marketing", "Only an objection to direct marketing applies at once.")
    with transaction.atomic():
        purpose_obj = ProcessingPurpose.objects.filter(code=purpose).first()
        if purpose_obj is None:
            raise ConsentError("unknown_purpose", "Unknown processing purpose.", field="purpose")
        event = _restriction_append(
            actor=filed_by,
            subject=subject,
            purpose=purpose_obj,
            kind=RestrictionKind.OBJECTION,
            active=True,
            reason="Objection to direct marketing (POPIA s11(3)(b), s69), applied when filed.",
            reference=reference,
            request=request,
            extra={"at_filing": True},
        )
    return event


# --- The audience exports (consumers of may_process) -----------------------------------------------

# The consent purposes whose audience is exported: our own direct marketing, and the list handed to
# partners for theirs. Each export leaves out whoever may not be processed for its purpose.
AUDIENCE_PURPOSES = (DIRECT_MARKETING, THIRD_PARTY_MARKETING_SHARING)
for _purpose in AUDIENCE_PURPOSES:
    register_purpose_consumer(_purpose, "compliance.consent.services.marketing_audience_export")


def _csv_safe(value: str) -> str:
    # A name such as "=HYPERLINK(...)" would run as a formula in a spreadsheet (CSV injection).
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def marketing_audience_export(
    *, actor: Actor, out: TextIO, via: str, purpose: str = DIRECT_MARKETING, request: HttpRequest | None = None
) -> int:
    """Write the audience of ``purpose`` (direct marketing, or sharing with partners) as CSV to ``out``
    and record who exported it.

    Only subjects ``may_process(subject, purpose)`` allows are written; the export reads one
    consistent snapshot (one query inside the transaction). Returns the number of rows.
    """
    if not _is_staff_with(actor, "compliance.export_marketing_audience"):
        raise ConsentPermissionDenied("Only authorised staff may export the marketing audience.")
    if purpose not in AUDIENCE_PURPOSES:
        raise ConsentError("invalid_purpose", "This purpose has no audience export.", field="purpose")
    writer = csv.writer(out)
    rows = 0
    with transaction.atomic():
        writer.writerow(MARKETING_AUDIENCE_COLUMNS)
        for user in marketing_audience(purpose).iterator(chunk_size=2000):
            writer.writerow([_csv_safe(str(getattr(user, column))) for column in MARKETING_AUDIENCE_COLUMNS])
            rows += 1
        audit_record(
            action=AuditAction.MARKETING_EXPORT,
            actor=actor,
            object_type="compliance.processingpurpose",
            object_id=purpose,
            change_diff={"rows": rows, "columns": list(MARKETING_AUDIENCE_COLUMNS), "via": via},
            request=request,
        )
    return rows

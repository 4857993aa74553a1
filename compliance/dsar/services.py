"""The DSAR state machine: every change to a data-subject request goes through here.

    received -> identity_verified -> in_review -> approved | rejected
    approved -> fulfilled | partially_fulfilled;  rejected | fulfilled | partially_fulfilled -> closed

Invariants:
- No state is skipped: each action names the states it may start from (``_ALLOWED``), checked on
  the row locked ``FOR UPDATE`` so two officers acting at once cannot both move it.
- Deletion needs four eyes: an officer requests approval, and a *different* officer approves.
- The deadline is receipt + 30 days; it may be extended once, by at most 30 days, with a reason,
  and only before the original deadline passes (PAIA s57).
- Every change writes a ``DsarEvent`` and an audit record in the same transaction. Neither
  contains the subject's words or personal information: only ids, types and states.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from compliance.audit.services import AuditAction, audit_record
from compliance.consent.models import ProcessingPurpose
from compliance.dsar.models import (
    DSAR_MAX_EXTENSION_DAYS,
    OPEN_STATUSES,
    DataSubjectRequest,
    DsarChannel,
    DsarEvent,
    DsarEventKind,
    DsarStatus,
    DsarType,
)
from kernel.tasks import enqueue_on_commit
from kernel.types import Actor

PROCESS_PERMISSION = "compliance.process_dsar"


class DsarError(Exception):
    """A request that breaks the workflow's rules; ``code`` is stable for API clients."""

    def __init__(self, message: str, *, code: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class DsarPermissionError(DsarError):
    pass


_ALLOWED: dict[str, tuple[str, ...]] = {
    "verify_identity": (DsarStatus.RECEIVED,),
    "assign": (DsarStatus.IDENTITY_VERIFIED, DsarStatus.IN_REVIEW),
    "request_approval": (DsarStatus.IN_REVIEW,),
    "approve": (DsarStatus.IN_REVIEW,),
    "reject": (DsarStatus.IN_REVIEW,),
    "fulfil": (DsarStatus.APPROVED,),
    "close": (DsarStatus.REJECTED, DsarStatus.FULFILLED, DsarStatus.PARTIALLY_FULFILLED),
    "extend": tuple(OPEN_STATUSES),
}


def _require_officer(actor: Actor | None) -> None:
    if actor is None or not actor.is_active or not actor.has_perm(PROCESS_PERMISSION):
        raise DsarPermissionError("Only an information officer may do this.", code="not_an_officer")


def _locked(dsar: DataSubjectRequest, action: str) -> DataSubjectRequest:
    locked = DataSubjectRequest.objects.select_for_update().get(pk=dsar.pk)
    if locked.status not in _ALLOWED[action]:
        raise DsarError(
            f"A request that is {locked.get_status_display().lower()} cannot be {action.replace('_', ' ')}d.",
            code="invalid_transition",
        )
    return locked


def _record(
    dsar: DataSubjectRequest,
    *,
    actor: Actor,
    kind: str,
    from_status: str = "",
    to_status: str = "",
    note: str = "",
    action: str = AuditAction.DSAR_TRANSITION,
    extra: dict[str, Any] | None = None,
) -> DsarEvent:
    event = DsarEvent.objects.create(
        dsar=dsar, kind=kind, from_status=from_status, to_status=to_status, actor=actor, note=note
    )
    diff: dict[str, Any] = {"kind": kind, "type": dsar.type}
    if from_status or to_status:
        diff["before"] = {"status": from_status}
        diff["after"] = {"status": to_status}
    diff.update(extra or {})
    audit_record(
        action=action,
        actor=actor,
        object_type="compliance.DataSubjectRequest",
        object_id=str(dsar.public_id),
        change_diff=diff,
    )
    return event


def _move(
    dsar: DataSubjectRequest, *, actor: Actor, to_status: str, note: str = "", **fields: Any
) -> DataSubjectRequest:
    from_status = dsar.status
    dsar.status = to_status
    for name, value in fields.items():
        setattr(dsar, name, value)
    dsar.save(update_fields=["status", "updated_at", *fields])
    _record(dsar, actor=actor, kind=DsarEventKind.TRANSITION, from_status=from_status, to_status=to_status, note=note)
    return dsar


def dsar_file(
    *,
    subject: Any,
    filed_by: Any,
    type: str,
    details: str = "",
    requested_changes: dict[str, Any] | None = None,
    purposes: list[str] | None = None,
    identity_evidence: str = "",
) -> DataSubjectRequest:
    """File a request. Free of charge, any number; a duplicate is flagged, never short-cut."""
    if type not in DsarType.values:
        raise DsarError("Unknown request type.", code="invalid_type")
    if type == DsarType.CORRECTION and not requested_changes:
        raise DsarError("A correction request must say what should be corrected.", code="changes_required")
    purposes = sorted(set(purposes or []))
    if type in (DsarType.OBJECTION, DsarType.RESTRICTION):
        if not purposes:
            raise DsarError("Say which processing purposes the request is about.", code="purposes_required")
        known = set(ProcessingPurpose.objects.filter(code__in=purposes).values_list("code", flat=True))
        if known != set(purposes):
            raise DsarError("Unknown processing purpose.", code="unknown_purpose")
    elif purposes:
        raise DsarError("Purposes apply only to objections and restrictions.", code="purposes_not_applicable")
    on_behalf = filed_by.pk != subject.pk
    if on_behalf:
        _require_officer(filed_by)
        if not identity_evidence.strip():
            raise DsarError(
                "Record how the subject's identity was verified when filing on their behalf.",
                code="identity_evidence_required",
            )
    with transaction.atomic():
        duplicate = (
            DataSubjectRequest.objects.select_for_update()
            .filter(subject=subject, type=type, status__in=OPEN_STATUSES)
            .order_by("received_at")
            .first()
        )
        dsar = DataSubjectRequest.objects.create(
            subject=subject,
            type=type,
            details=details,
            requested_changes=requested_changes or {},
            purposes=purposes,
            channel=DsarChannel.STAFF if on_behalf else DsarChannel.API,
            filed_by=filed_by,
            identity_evidence=identity_evidence,
            duplicate_of=duplicate,
        )
        _record(
            dsar,
            actor=filed_by,
            kind=DsarEventKind.TRANSITION,
            to_status=DsarStatus.RECEIVED,
            action=AuditAction.DSAR_FILED,
            extra={"channel": dsar.channel, "duplicate_of": str(duplicate.public_id) if duplicate else None},
        )
    return dsar


def dsar_verify_identity(*, actor: Actor, dsar: DataSubjectRequest, evidence: str) -> DataSubjectRequest:
    _require_officer(actor)
    if not evidence.strip():
        raise DsarError("Say how the identity was verified.", code="identity_evidence_required")
    with transaction.atomic():
        dsar = _locked(dsar, "verify_identity")
        now = timezone.now()
        evidence_log = f"{dsar.identity_evidence}\n{evidence}".strip() if dsar.identity_evidence else evidence
        return _move(
            dsar,
            actor=actor,
            to_status=DsarStatus.IDENTITY_VERIFIED,
            note=evidence,
            identity_evidence=evidence_log,
            identity_verified_by=actor,
            identity_verified_at=now,
        )


def dsar_assign(*, actor: Actor, dsar: DataSubjectRequest, assignee: Any | None = None) -> DataSubjectRequest:
    """Assign to ``assignee`` (default: the actor — "assign to me"); starts the review."""
    _require_officer(actor)
    assignee = assignee or actor
    _require_officer(assignee)
    with transaction.atomic():
        dsar = _locked(dsar, "assign")
        if dsar.status == DsarStatus.IDENTITY_VERIFIED:
            return _move(dsar, actor=actor, to_status=DsarStatus.IN_REVIEW, assigned_to=assignee)
        dsar.assigned_to = assignee
        dsar.save(update_fields=["assigned_to", "updated_at"])
        _record(dsar, actor=actor, kind=DsarEventKind.ASSIGNMENT)
        return dsar


def dsar_request_approval(*, actor: Actor, dsar: DataSubjectRequest, note: str = "") -> DataSubjectRequest:
    """First pair of eyes on a deletion: ask a second officer to approve."""
    _require_officer(actor)
    with transaction.atomic():
        dsar = _locked(dsar, "request_approval")
        if dsar.type != DsarType.DELETION:
            raise DsarError("Only deletions need a second approval.", code="approval_not_needed")
        dsar.approval_requested_by = actor
        dsar.approval_requested_at = timezone.now()
        dsar.save(update_fields=["approval_requested_by", "approval_requested_at", "updated_at"])
        _record(dsar, actor=actor, kind=DsarEventKind.APPROVAL_REQUESTED, note=note)
        return dsar


def dsar_approve(*, actor: Actor, dsar: DataSubjectRequest, note: str = "") -> DataSubjectRequest:
    _require_officer(actor)
    with transaction.atomic():
        dsar = _locked(dsar, "approve")
        if dsar.type == DsarType.DELETION:
            if dsar.approval_requested_by_id is None:
                raise DsarError(
                    "A deletion needs a second officer: request approval first.", code="second_approval_required"
                )
            if dsar.approval_requested_by_id == actor.pk:
                raise DsarError("The officer who requested approval cannot also give it (four eyes).", code="four_eyes")
        dsar = _move(
            dsar,
            actor=actor,
            to_status=DsarStatus.APPROVED,
            note=note,
            decided_by=actor,
            decided_at=timezone.now(),
        )
        if dsar.type in (DsarType.OBJECTION, DsarType.RESTRICTION):
            return _apply_processing_flags(actor=actor, dsar=dsar)
        if dsar.type == DsarType.CORRECTION:
            return _apply_correction(actor=actor, dsar=dsar)
        _schedule_fulfilment(dsar)
        return dsar


def _apply_processing_flags(*, actor: Actor, dsar: DataSubjectRequest) -> DataSubjectRequest:
    """Objection / restriction: set the flags ``may_process`` honours, in the approval's transaction.

    Each purpose goes through the consent service (which refuses objections where POPIA s11(3)
    gives no right to object); what was refused is said in the statement and makes the outcome
    partial. Lifting a flag later is a separate, recorded act in the consent admin.
    """
    from compliance.consent.services import ConsentError, processing_restriction_set

    kind = "objection" if dsar.type == DsarType.OBJECTION else "restriction"
    applied, refused = [], []
    for code in dsar.purposes:
        try:
            processing_restriction_set(
                actor=actor, subject=dsar.subject, purpose=code, kind=kind, active=True,
                reason=f"Data-subject request {dsar.public_id}", reference=str(dsar.public_id),
            )  # fmt: skip
            applied.append(code)
        except ConsentError as error:
            refused.append(f"{code} ({error})")
    lines = []
    if applied:
        lines.append(f"We no longer process your information for: {', '.join(applied)} ({kind}).")
    if refused:
        lines.append(f"Not applied, because the law requires or allows this processing: {'; '.join(refused)}.")
    return dsar_fulfil(actor=actor, dsar=dsar, statement=" ".join(lines), partial=bool(refused))


def _apply_correction(*, actor: Actor, dsar: DataSubjectRequest) -> DataSubjectRequest:
    """The officer's verified correction, carried out by the owning apps' services (same transaction)."""
    from compliance.dsar.corrections import correction_apply

    corrected, refused = correction_apply(actor=actor, dsar=dsar)
    lines = []
    if corrected:
        lines.append(f"Corrected: {', '.join(corrected)}.")
    if refused:
        lines.append(f"Not corrected: {'; '.join(refused)}.")
    return dsar_fulfil(actor=actor, dsar=dsar, statement=" ".join(lines), partial=bool(refused))


def _schedule_fulfilment(dsar: DataSubjectRequest) -> None:
    """Approved requests that the platform can carry out itself start right after commit."""
    if dsar.type in (DsarType.ACCESS, DsarType.PORTABILITY):
        enqueue_on_commit("compliance.dsar.build_export", dsar.pk)
    elif dsar.type == DsarType.DELETION:
        enqueue_on_commit("compliance.dsar.erase_subject", dsar.pk)


def dsar_reject(*, actor: Actor, dsar: DataSubjectRequest, reason: str) -> DataSubjectRequest:
    _require_officer(actor)
    if not reason.strip():
        raise DsarError("A rejection needs a reason (it is sent to the subject).", code="reason_required")
    with transaction.atomic():
        dsar = _locked(dsar, "reject")
        if dsar.type == DsarType.CORRECTION:
            from compliance.dsar.corrections import correction_note_attach

            # s24(3): the data stays as it is, with a note that a correction was requested.
            correction_note_attach(dsar=dsar, reason=reason)
        return _move(
            dsar,
            actor=actor,
            to_status=DsarStatus.REJECTED,
            decided_by=actor,
            decided_at=timezone.now(),
            decision_reason=reason,
        )


def dsar_extend(*, actor: Actor, dsar: DataSubjectRequest, days: int, reason: str, now: datetime | None = None):
    """Extend the deadline once, by 1–30 days, before the original deadline (PAIA s57)."""
    _require_officer(actor)
    now = now or timezone.now()
    if not reason.strip():
        raise DsarError("An extension needs a reason (it is sent to the subject).", code="reason_required")
    if not 1 <= days <= DSAR_MAX_EXTENSION_DAYS:
        raise DsarError(f"An extension is 1 to {DSAR_MAX_EXTENSION_DAYS} days.", code="invalid_extension")
    with transaction.atomic():
        dsar = _locked(dsar, "extend")
        if dsar.extended_at is not None:
            raise DsarError("The deadline has already been extended once.", code="already_extended")
        if now >= dsar.original_due_at:
            raise DsarError("The deadline can only be extended before it has passed.", code="extension_too_late")
        dsar.due_at = dsar.original_due_at + timedelta(days=days)
        dsar.extended_at = now
        dsar.extended_by = actor
        dsar.extension_reason = reason
        dsar.save(update_fields=["due_at", "extended_at", "extended_by", "extension_reason", "updated_at"])
        _record(dsar, actor=actor, kind=DsarEventKind.EXTENSION, extra={"days": days})
        return dsar


def dsar_fulfil(
    *, actor: Actor | None, dsar: DataSubjectRequest, statement: str, partial: bool = False
) -> DataSubjectRequest:
    """Record the outcome. ``statement`` tells the subject what was done and, if partial, why not all."""
    if actor is not None:
        _require_officer(actor)
    if not statement.strip():
        raise DsarError("Say what was done (the statement is sent to the subject).", code="statement_required")
    with transaction.atomic():
        dsar = _locked(dsar, "fulfil")
        status = DsarStatus.PARTIALLY_FULFILLED if partial else DsarStatus.FULFILLED
        return _move(dsar, actor=actor, to_status=status, outcome_statement=statement, fulfilled_at=timezone.now())


def dsar_close(*, actor: Actor, dsar: DataSubjectRequest) -> DataSubjectRequest:
    _require_officer(actor)
    with transaction.atomic():
        dsar = _locked(dsar, "close")
        return _move(dsar, actor=actor, to_status=DsarStatus.CLOSED, closed_at=timezone.now())


def dsar_add_note(*, actor: Actor, dsar: DataSubjectRequest, note: str, evidence: bool = False) -> DsarEvent:
    """An internal note or a piece of evidence; kept on the request, never audited verbatim."""
    _require_officer(actor)
    if not note.strip():
        raise DsarError("The note is empty.", code="note_required")
    with transaction.atomic():
        kind = DsarEventKind.EVIDENCE if evidence else DsarEventKind.NOTE
        return _record(dsar, actor=actor, kind=kind, note=note)

"""The DSAR state machine: every change to a data-subject request goes through here.

The states, the actions, their inputs and rules are the table in ``compliance.dsar.workflow``;
what differs between request types is their handler in ``compliance.dsar.kinds``. This module
carries the actions out, one function per row of the table (``dsar_act`` dispatches by slug).

Invariants:
- No state is skipped: each action's ``from_states`` (and its rule: four eyes, the one
  extension) are checked on the row locked ``FOR UPDATE``, so two officers acting at once cannot
  both move it.
- Four eyes where the type's handler asks for it (deletion): an officer requests approval, and a
  *different* officer approves.
- The deadline is receipt + 30 days; it may be extended once, by at most 30 days, with a reason,
  and only before the original deadline passes (PAIA s57).
- Every change writes a ``DsarEvent`` and an audit record in the same transaction. Neither
  contains the subject's words or personal information: only ids, types and states.
"""

from __future__ import annotations

import sys
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import F
from django.http import HttpRequest
from django.utils import timezone

from compliance.audit.services import AuditAction, audit_record
from compliance.dsar.balances import (
    Balance,
    SettlementMethod,
    SettlementRefused,
    balances_settle,
    subject_balances,
)
from compliance.dsar.errors import DsarError, DsarPermissionError
from compliance.dsar.kinds import Filing, kind_for
from compliance.dsar.models import (
    DSAR_MAX_EXTENSION_DAYS,
    OPEN_STATUSES,
    DataSubjectRequest,
    DsarChannel,
    DsarEvent,
    DsarEventKind,
    DsarExport,
    DsarNotice,
    DsarStatus,
)
from compliance.dsar.notices import notice_queue, notice_resend, outcome_kind
from compliance.dsar.workflow import (
    ACTIONS_BY_SERVICE,
    ACTIONS_BY_SLUG,
    FILING_NOTICES,
    OUTCOME_OF_TYPE,
    PROCESS_PERMISSION,
    Action,
    Notice,
)
from kernel.access import has_permission, require_not_own
from kernel.messaging import channel_for
from kernel.types import Actor

__all__ = ["PROCESS_PERMISSION", "DsarError", "DsarPermissionError", "dsar_act", "dsar_file"]


def _require_officer(actor: Actor | None, permission: str = PROCESS_PERMISSION) -> None:
    if not has_permission(actor, permission):
        raise DsarPermissionError("Only an information officer may do this.", code="not_an_officer")


def _row(service: str) -> Action:
    return ACTIONS_BY_SERVICE[service]


def _check(service: str, *, actor: Actor | None, system: bool = False, **inputs: Any) -> Action:
    """The action's permission and required inputs, before anything is locked.

    ``system``: the platform itself may act (``actor`` None), e.g. a task recording a fulfilment."""
    action = _row(service)
    if not (system and actor is None):
        _require_officer(actor, action.permission)
    missing = action.missing_input(inputs)
    if missing is not None:
        raise missing
    return action


def _locked(
    dsar: DataSubjectRequest, action: Action, *, actor: Actor | None, now: datetime | None = None
) -> DataSubjectRequest:
    locked: DataSubjectRequest = DataSubjectRequest.objects.select_for_update().get(pk=dsar.pk)
    # Segregation of duties: an officer never processes a request whose subject is themself.
    require_not_own(actor, locked.subject_id, "process a data-subject request")
    refusal = action.refused(locked, actor, now)
    if refusal is not None:
        raise refusal
    return locked


def _record(
    dsar: DataSubjectRequest,
    *,
    actor: Actor | None,
    kind: str,
    from_status: str = "",
    to_status: str = "",
    note: str = "",
    action: str = AuditAction.DSAR_TRANSITION,
    extra: dict[str, Any] | None = None,
) -> DsarEvent:
    event = DsarEvent.objects.create(
        dsar=dsar,
        kind=kind,
        from_status=from_status,
        to_status=to_status,
        actor_id=actor.pk if actor is not None else None,
        note=note,
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
    dsar: DataSubjectRequest, *, actor: Actor | None, to_status: str, note: str = "", **fields: Any
) -> DataSubjectRequest:
    from_status = dsar.status
    dsar.status = to_status
    for name, value in fields.items():
        setattr(dsar, name, value)
    dsar.save(update_fields=["status", "updated_at", *fields])
    _record(dsar, actor=actor, kind=DsarEventKind.TRANSITION, from_status=from_status, to_status=to_status, note=note)
    return dsar


# --- Notices to the subject (the workflow table's ``notices``; compliance.dsar.notices) ----------
def _queue_notices(notices: tuple[Notice, ...], dsar: DataSubjectRequest, **context: Any) -> None:
    for notice in notices:
        if notice.due(dsar):
            kind = outcome_kind(dsar) if notice.kind == OUTCOME_OF_TYPE else notice.kind
            notice_queue(dsar, kind, context or None)


def _notify(service: str, dsar: DataSubjectRequest, **context: Any) -> None:
    """Queue what the table says the subject is told after ``service``'s action (in its transaction)."""
    _queue_notices(_row(service).notices, dsar, **context)


def _notify_contact(subject: Any, notify_contact: str | None) -> str:
    """The contact the request's notices go to: as given at filing, else the subject's e-mail now."""
    contact = (notify_contact or "").strip() or str(subject.email or "")
    if contact and channel_for(contact) is None:
        raise DsarError("Give an e-mail address or a phone number for the notices.", code="invalid_notify_contact")
    return contact


def dsar_file(
    *,
    subject: Any,
    filed_by: Any,
    type: str,
    details: str = "",
    requested_changes: dict[str, Any] | None = None,
    purposes: list[str] | None = None,
    identity_evidence: str = "",
    notify_contact: str | None = "",
) -> DataSubjectRequest:
    """File a request. Free of charge, any number; a duplicate is flagged, never short-cut.

    The type's handler validates what it needs (``compliance.dsar.kinds``). ``notify_contact``
    (e-mail or phone; default: the subject's e-mail) receives the notices, including the deletion
    statement after the account is erased; the acknowledgement goes out on commit."""
    filing = kind_for(type).validate(Filing(details=details, requested_changes=requested_changes, purposes=purposes))
    contact = _notify_contact(subject, notify_contact)
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
            details=filing.details,
            requested_changes=filing.requested_changes or {},
            purposes=filing.purposes or [],
            channel=DsarChannel.STAFF if on_behalf else DsarChannel.API,
            filed_by=filed_by,
            identity_evidence=identity_evidence,
            duplicate_of=duplicate,
            notify_contact=contact,
        )
        _record(
            dsar,
            actor=filed_by,
            kind=DsarEventKind.TRANSITION,
            to_status=DsarStatus.RECEIVED,
            action=AuditAction.DSAR_FILED,
            extra={"channel": dsar.channel, "duplicate_of": str(duplicate.public_id) if duplicate else None},
        )
        _apply_at_filing(dsar, filed_by=filed_by)
        _queue_notices(FILING_NOTICES, dsar)
    return dsar


def dsar_act(slug: str, *, actor: Actor, dsar: DataSubjectRequest, inputs: dict[str, Any]) -> Any:
    """Carry out the workflow table's action ``slug`` with its declared inputs (admin and API)."""
    action = ACTIONS_BY_SLUG[slug]
    service = getattr(sys.modules[__name__], action.service)
    return service(actor=actor, dsar=dsar, **{spec.name: inputs.get(spec.name) for spec in action.inputs})


def dsar_verify_identity(*, actor: Actor, dsar: DataSubjectRequest, evidence: str) -> DataSubjectRequest:
    action = _check("dsar_verify_identity", actor=actor, evidence=evidence)
    with transaction.atomic():
        dsar = _locked(dsar, action, actor=actor)
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
    action = _check("dsar_assign", actor=actor)
    assignee = assignee or actor
    _require_officer(assignee, action.permission)
    require_not_own(assignee, dsar.subject_id, "be assigned a data-subject request")
    with transaction.atomic():
        dsar = _locked(dsar, action, actor=actor)
        if dsar.status == DsarStatus.IDENTITY_VERIFIED:
            return _move(dsar, actor=actor, to_status=DsarStatus.IN_REVIEW, assigned_to=assignee)
        dsar.assigned_to_id = assignee.pk
        dsar.save(update_fields=["assigned_to", "updated_at"])
        _record(dsar, actor=actor, kind=DsarEventKind.ASSIGNMENT)
        return dsar


def dsar_request_approval(*, actor: Actor, dsar: DataSubjectRequest, note: str | None = "") -> DataSubjectRequest:
    """First pair of eyes (types whose handler needs four eyes): ask a second officer to approve."""
    action = _check("dsar_request_approval", actor=actor)
    with transaction.atomic():
        dsar = _locked(dsar, action, actor=actor)
        dsar.approval_requested_by_id = actor.pk
        dsar.approval_requested_at = timezone.now()
        dsar.save(update_fields=["approval_requested_by", "approval_requested_at", "updated_at"])
        _record(dsar, actor=actor, kind=DsarEventKind.APPROVAL_REQUESTED, note=note or "")
        return dsar


def dsar_approve(*, actor: Actor, dsar: DataSubjectRequest, note: str | None = "") -> DataSubjectRequest:
    """Approve; the type's handler then carries the request out (at once) or schedules it."""
    action = _check("dsar_approve", actor=actor)
    with transaction.atomic():
        dsar = _locked(dsar, action, actor=actor)
        dsar = _move(
            dsar,
            actor=actor,
            to_status=DsarStatus.APPROVED,
            note=note or "",
            decided_by=actor,
            decided_at=timezone.now(),
        )
        outcome = kind_for(dsar.type).approved(actor=actor, dsar=dsar)
        if outcome is not None:
            return dsar_fulfil(actor=actor, dsar=dsar, statement=outcome.statement, partial=outcome.partial)
        return dsar


def dsar_reject(*, actor: Actor, dsar: DataSubjectRequest, reason: str) -> DataSubjectRequest:
    action = _check("dsar_reject", actor=actor, reason=reason)
    with transaction.atomic():
        dsar = _locked(dsar, action, actor=actor)
        kind_for(dsar.type).rejected(actor=actor, dsar=dsar, reason=reason)
        dsar = _move(
            dsar,
            actor=actor,
            to_status=DsarStatus.REJECTED,
            decided_by=actor,
            decided_at=timezone.now(),
            decision_reason=reason,
        )
        _notify("dsar_reject", dsar)
        return dsar


def dsar_extend(
    *, actor: Actor, dsar: DataSubjectRequest, days: int | None, reason: str, now: datetime | None = None
) -> DataSubjectRequest:
    """Extend the deadline once, by 1–30 days, before the original deadline (PAIA s57)."""
    action = _check("dsar_extend", actor=actor, reason=reason, days=days)
    now = now or timezone.now()
    if not 1 <= (days or 0) <= DSAR_MAX_EXTENSION_DAYS:
        raise DsarError(f"An extension is 1 to {DSAR_MAX_EXTENSION_DAYS} days.", code="invalid_extension")
    with transaction.atomic():
        dsar = _locked(dsar, action, actor=actor, now=now)
        dsar.due_at = dsar.original_due_at + timedelta(days=days or 0)
        dsar.extended_at = now
        dsar.extended_by_id = actor.pk
        dsar.extension_reason = reason
        dsar.save(update_fields=["due_at", "extended_at", "extended_by", "extension_reason", "updated_at"])
        _record(dsar, actor=actor, kind=DsarEventKind.EXTENSION, extra={"days": days})
        _notify("dsar_extend", dsar)
        return dsar


def dsar_fulfil(
    *, actor: Actor | None, dsar: DataSubjectRequest, statement: str, partial: bool | None = False
) -> DataSubjectRequest:
    """Record the outcome. ``statement`` tells the subject what was done and, if partial, why not all.

    ``actor`` is None when the platform itself fulfilled the request (export, erasure tasks)."""
    action = _check("dsar_fulfil", actor=actor, system=True, statement=statement)
    with transaction.atomic():
        dsar = _locked(dsar, action, actor=actor)
        status = DsarStatus.PARTIALLY_FULFILLED if partial else DsarStatus.FULFILLED
        dsar = _move(dsar, actor=actor, to_status=status, outcome_statement=statement, fulfilled_at=timezone.now())
        _notify("dsar_fulfil", dsar)
        return dsar


def dsar_close(*, actor: Actor, dsar: DataSubjectRequest) -> DataSubjectRequest:
    action = _check("dsar_close", actor=actor)
    with transaction.atomic():
        dsar = _locked(dsar, action, actor=actor)
        return _move(dsar, actor=actor, to_status=DsarStatus.CLOSED, closed_at=timezone.now())


def dsar_add_note(*, actor: Actor, dsar: DataSubjectRequest, note: str, evidence: bool = False) -> DsarEvent:
    """An internal note or a piece of evidence; kept on the request, never audited verbatim."""
    action = _check("dsar_add_evidence" if evidence else "dsar_add_note", actor=actor, note=note)
    with transaction.atomic():
        _locked(dsar, action, actor=actor)
        kind = DsarEventKind.EVIDENCE if evidence else DsarEventKind.NOTE
        return _record(dsar, actor=actor, kind=kind, note=note)


def dsar_add_evidence(*, actor: Actor, dsar: DataSubjectRequest, note: str) -> DsarEvent:
    """A piece of evidence (a document seen, a call-back made): kept on the request, never audited verbatim."""
    return dsar_add_note(actor=actor, dsar=dsar, note=note, evidence=True)


def dsar_export_download(*, actor: Actor, export: DsarExport, request: HttpRequest | None = None) -> None:
    """Count one download of the subject's export and audit it (the caller checked ownership)."""
    with transaction.atomic():
        DsarExport.objects.filter(pk=export.pk).update(download_count=F("download_count") + 1)
        audit_record(
            action=AuditAction.DSAR_DOWNLOAD,
            actor=actor,
            object_type="compliance.DsarExport",
            object_id=str(export.public_id),
            change_diff={"request": str(export.dsar.public_id), "size_bytes": export.size_bytes},
            request=request,
        )


# --- Erasure's preconditions and undoing a processing flag (issue 16) -----------------------------


def _apply_at_filing(dsar: DataSubjectRequest, *, filed_by: Any) -> None:
    """What the type makes take effect when filed (a direct-marketing objection), recorded as such."""
    applied = kind_for(dsar.type).filed(filed_by=filed_by, dsar=dsar)
    if applied:
        dsar.applied_at_filing = applied
        dsar.save(update_fields=["applied_at_filing", "updated_at"])
        _record(
            dsar,
            actor=filed_by,
            kind=DsarEventKind.APPLIED_AT_FILING,
            action=AuditAction.DSAR_OBJECTION_APPLIED_AT_FILING,
            extra={"purposes": applied},
        )


def dsar_settle_balance(*, actor: Actor, dsar: DataSubjectRequest, method: str) -> DataSubjectRequest:
    """Settle the subject's money before a deletion, as the officer chose (``compliance.dsar.balances``).

    ``payout``: a pending withdrawal to the subject's verified bank account (the deletion waits until
    the bank confirms); ``unclaimed``: an audited entry to the unclaimed-funds liability account.
    Recorded on the request (``balance_settlements``: method, amount, currency, entry) for the
    deletion statement. On an approved request whose erasure waited for the money, with nothing
    left to settle, the erasure is scheduled again.
    """
    action = _check("dsar_settle_balance", actor=actor, method=method)
    if method not in {str(m) for m in SettlementMethod}:
        raise DsarError("Choose how the balance is settled: payout or unclaimed.", code="invalid_settlement_method")
    with transaction.atomic():
        dsar = _locked(dsar, action, actor=actor)
        if not subject_balances(dsar.subject):
            if dsar.status == DsarStatus.APPROVED:
                kind_for(dsar.type).approved(actor=actor, dsar=dsar)  # schedules the erasure again
                _record(
                    dsar,
                    actor=actor,
                    kind=DsarEventKind.BALANCE_SETTLED,
                    action=AuditAction.DSAR_BALANCE_SETTLED,
                    extra={"rescheduled": True},
                )
                return dsar
            raise DsarError("The subject holds no money: nothing to settle.", code="nothing_to_settle")
        try:
            done = balances_settle(
                actor=actor,
                subject=dsar.subject,
                method=SettlementMethod(method),
                reference=f"Deletion request {dsar.public_id}",
            )
        except SettlementRefused as refusal:
            raise DsarError(refusal.message, code=refusal.code) from refusal
        records = [settlement.as_record() for settlement in done]
        dsar.balance_settlements = [*dsar.balance_settlements, *records]
        dsar.save(update_fields=["balance_settlements", "updated_at"])
        _record(
            dsar,
            actor=actor,
            kind=DsarEventKind.BALANCE_SETTLED,
            action=AuditAction.DSAR_BALANCE_SETTLED,
            extra={"method": method, "settlements": records},
        )
        if dsar.status == DsarStatus.APPROVED and not subject_balances(dsar.subject):
            kind_for(dsar.type).approved(actor=actor, dsar=dsar)  # the erasure waited for the money
        return dsar


def dsar_erasure_blocked(*, dsar: DataSubjectRequest, balances: list[Balance]) -> None:
    """The erasure task found money (arrived after approval): nothing is erased, the officer settles it."""
    _record(
        dsar,
        actor=None,
        kind=DsarEventKind.ERASURE_BLOCKED,
        action=AuditAction.DSAR_ERASURE_BLOCKED,
        extra={
            "balances": [{"currency": b.currency, "available": b.available, "pending": b.pending} for b in balances]
        },
    )


def dsar_lift_restriction(*, actor: Actor, dsar: DataSubjectRequest, reason: str) -> DataSubjectRequest:
    """Lift the objection or restriction this request put in force (POPIA s14(6): the subject is told).

    Audited as DSAR_RESTRICTION_LIFTED (the subject's notice subscribes to it) and, per purpose, as
    PROCESSING_RESTRICTION_LIFTED by the consent service."""
    action = _check("dsar_lift_restriction", actor=actor, reason=reason)
    with transaction.atomic():
        dsar = _locked(dsar, action, actor=actor)
        lifted = kind_for(dsar.type).lift(actor=actor, dsar=dsar, reason=reason)
        if not lifted:
            raise DsarError("Nothing this request put in force is still in force.", code="nothing_to_lift")
        _record(
            dsar,
            actor=actor,
            kind=DsarEventKind.RESTRICTION_LIFTED,
            action=AuditAction.DSAR_RESTRICTION_LIFTED,
            extra={"purposes": lifted},
        )
        _notify("dsar_lift_restriction", dsar, purposes=lifted)
        return dsar


def dsar_request_identity(*, actor: Actor, dsar: DataSubjectRequest, reason: str) -> DsarEvent:
    """Ask the subject to prove their identity (what is needed is sent to them; kept on the request)."""
    action = _check("dsar_request_identity", actor=actor, reason=reason)
    with transaction.atomic():
        dsar = _locked(dsar, action, actor=actor)
        event = _record(dsar, actor=actor, kind=DsarEventKind.IDENTITY_REQUESTED, note=reason)
        _notify("dsar_request_identity", dsar, event=event.pk)
        return event


def dsar_notice_resend(*, actor: Actor, notice: DsarNotice) -> DsarNotice:
    """An officer sends a notice that was not delivered again, once its cause is fixed (audited as
    DSAR_NOTICE_RESENT; delivered after commit, with a fresh set of attempts)."""
    _require_officer(actor)
    require_not_own(actor, notice.dsar.subject_id, "process a data-subject request")
    return notice_resend(actor=actor, notice=notice)

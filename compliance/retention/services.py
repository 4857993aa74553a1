"""Writes of retention: policies (the information officer's admin screen) and legal holds.

Legal holds (``hold_place`` / ``hold_release``): the information officer puts a data subject under
a litigation or regulator hold, with a reason and optionally an end date, and releases it with a
reason. While a hold is in force the retention purge leaves every row of the subject alone and a
deletion request keeps the data, telling the subject why and until when. Each change is audited
in its own transaction; the audit diff holds the kind, the dates and the ids, never the reason
(free text written by staff) or anything about the person. A placed hold is never edited: to change
it, release it and place another.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone

from compliance.audit.services import AuditAction, audit_record
from compliance.pi.inventory import is_product_model
from compliance.pi.registry import registry
from compliance.retention.models import SUBJECT_HOLD_KINDS, LegalHold, RetentionPolicy
from kernel.access import require_not_own
from kernel.errors import DomainError
from kernel.types import Actor

POLICY_EDITABLE_FIELDS = ("period_days", "trigger", "legal_reason", "action", "enabled")
PLACE_PERMISSION = "compliance.add_legalhold"
RELEASE_PERMISSION = "compliance.release_legalhold"
REASON_MAX_LENGTH = 2000


class HoldError(DomainError):
    """A refused hold operation; ``code`` is stable for API clients, the message holds no PI.
    A DomainError (kernel/errors.py renders it): 409 for a conflict with the holds in force, 400
    with the offending field otherwise."""

    def __init__(self, code: str, message: str, *, field: str | None = None, conflict: bool = False) -> None:
        super().__init__(
            message,
            code=code,
            status_code=409 if conflict else 400,
            fields=None if conflict else {field or "non_field_errors": [message]},
        )
        self.field = field
        self.conflict = conflict


class HoldPermissionDenied(HoldError):
    def __init__(self, message: str) -> None:
        super().__init__("permission_denied", message)
        self.status_code = 403
        self.fields = None


def retention_policy_save(*, actor: Actor, policy: RetentionPolicy, changed: list[str]) -> RetentionPolicy:
    """Create or update ``policy`` (unsaved edits on the instance) and audit before/after."""
    with transaction.atomic():
        creating = policy.pk is None
        before: dict[str, Any] = {}
        if not creating:
            current = RetentionPolicy.objects.select_for_update().get(pk=policy.pk)
            before = {name: getattr(current, name) for name in POLICY_EDITABLE_FIELDS if name in changed}
        policy.full_clean()
        policy.save()
        after = {name: getattr(policy, name) for name in POLICY_EDITABLE_FIELDS if creating or name in changed}
        audit_record(
            action=AuditAction.RETENTION_POLICY_CHANGED,
            actor=actor,
            object_type="retention_policy",
            object_id=policy.code,
            change_diff={"created": creating, "before": before, "after": after},
        )
    return policy


def _require(actor: Actor | None, permission: str, message: str) -> None:
    if actor is None or not actor.is_active or not getattr(actor, "is_staff", False) or not actor.has_perm(permission):
        raise HoldPermissionDenied(message)


def _clean_reason(reason: Any) -> str:
    if not isinstance(reason, str) or not reason.strip():
        raise HoldError("reason_required", "Give the reason for the hold (it is shown to the subject).", field="reason")
    text = str(reason).strip()
    if len(text) > REASON_MAX_LENGTH:
        raise HoldError("reason_too_long", f"The reason is at most {REASON_MAX_LENGTH} characters.", field="reason")
    return text


def holdable_tables() -> list[str]:
    """The tables a subject hold may be scoped to: every product model of the PI inventory that
    reaches a data subject (the rows a deletion would erase)."""
    return sorted(entry.label.lower() for entry in registry if is_product_model(entry) and entry.subject)


def _clean_scope(tables: Any) -> list[str]:
    if tables is None:
        return []
    if not isinstance(tables, list | tuple) or not all(isinstance(t, str) for t in tables):
        raise HoldError("invalid_scope", "The scope is a list of tables.", field="tables")
    scope = sorted({table.strip().lower() for table in tables})
    if set(scope) - set(holdable_tables()):
        raise HoldError(
            "invalid_scope", "Only tables holding a subject's personal information can be held.", field="tables"
        )
    return scope


def hold_place(
    *,
    actor: Actor,
    subject: Any,
    kind: str,
    reason: str,
    hold_until: datetime | None = None,
    tables: list[str] | None = None,
    request: Any = None,
) -> LegalHold:
    """Put ``subject`` (a user) under a litigation or regulator hold until ``hold_until`` (None: until released).

    One open hold per kind and subject: a second is refused (``hold_exists``, a conflict); an
    earlier hold of the kind whose end date has passed is completed first (it no longer holds
    anything).
    """
    _require(actor, PLACE_PERMISSION, "Only the information officer may place a legal hold.")
    if kind not in SUBJECT_HOLD_KINDS:
        kinds = ", ".join(str(k) for k in SUBJECT_HOLD_KINDS)
        raise HoldError("invalid_kind", f"A hold on a subject is one of: {kinds}.", field="kind")
    reason = _clean_reason(reason)
    scope = _clean_scope(tables)
    now = timezone.now()
    if hold_until is not None and hold_until <= now:
        raise HoldError("invalid_end", "The end date must be in the future.", field="hold_until")
    if subject is None or not getattr(subject, "pk", None):
        raise HoldError("unknown_subject", "Unknown data subject.", field="subject")
    require_not_own(actor, subject.pk, "place a legal hold")
    label = get_user_model()._meta.label_lower
    with transaction.atomic():
        open_holds = LegalHold.objects.select_for_update().filter(
            kind=kind, model_label=label, object_id=str(subject.pk), released_at__isnull=True
        )
        for existing in open_holds:
            if existing.in_force(now):
                raise HoldError(
                    "hold_exists",
                    f"This subject is already under a {existing.get_kind_display().lower()} in force: release "
                    "it first and place a new one that covers both reasons.",
                    conflict=True,
                )
            existing.released_at = now
            existing.save(update_fields=["released_at"])
        try:
            with transaction.atomic():
                hold = LegalHold.objects.create(
                    kind=kind,
                    model_label=label,
                    object_id=str(subject.pk),
                    subject=subject,
                    reason=reason,
                    hold_until=hold_until,
                    created_by_id=actor.pk,
                    scope=scope,
                )
        except IntegrityError as error:  # a concurrent placement won the race
            raise HoldError("hold_exists", "This subject is already under such a hold.", conflict=True) from error
        audit_record(
            action=AuditAction.LEGAL_HOLD_PLACED,
            actor=actor,
            object_type="compliance.legalhold",
            object_id=str(hold.public_id),
            change_diff={
                "kind": kind,
                "subject": str(getattr(subject, "public_id", subject.pk)),
                "hold_until": hold_until.isoformat() if hold_until else None,
                "scope": scope,
            },
            request=request,
        )
    return hold


def hold_release(*, actor: Actor, hold: LegalHold, reason: str, request: Any = None) -> LegalHold:
    """Release a litigation or regulator hold, with a reason; the hold row stays as the record."""
    _require(actor, RELEASE_PERMISSION, "Only the information officer may release a legal hold.")
    reason = _clean_reason(reason)
    with transaction.atomic():
        hold = LegalHold.objects.select_for_update().get(pk=hold.pk)
        require_not_own(actor, hold.subject_id, "release a legal hold")
        if hold.kind not in SUBJECT_HOLD_KINDS:
            raise HoldError(
                "not_releasable",
                "A retention-duty hold ends with the legal duty; it cannot be released by hand.",
                conflict=True,
            )
        if hold.released_at is not None:
            raise HoldError("already_released", "This hold has already been released.", conflict=True)
        hold.released_at = timezone.now()
        hold.released_by_id = actor.pk
        hold.release_reason = reason
        hold.save(update_fields=["released_at", "released_by", "release_reason"])
        audit_record(
            action=AuditAction.LEGAL_HOLD_RELEASED,
            actor=actor,
            object_type="compliance.legalhold",
            object_id=str(hold.public_id),
            change_diff={"kind": hold.kind, "released_at": hold.released_at.isoformat()},
            request=request,
        )
    return hold

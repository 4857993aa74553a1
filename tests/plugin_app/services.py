"""Writes of the loyalty programme (guide step 3): keyword-only ``actor``, validation, and the
audit record in the same transaction as the change (PI masked by ``build_change_diff``).

The audit action is ``PROFILE_UPDATED``: a new code (say ``LOYALTY_JOINED``) would be one line in
``compliance.audit.services.AuditAction``, the one registry of codes, which a real app adds
there; this test app changes nothing in compliance, so it reuses an existing code and says what
happened in ``object_type`` and the diff.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from compliance.audit.services import AuditAction, audit_record, build_change_diff
from kernel.access import has_permission
from tests.plugin_app.models import NICKNAME_MAX_LENGTH, LoyaltyMember

OBJECT_TYPE = "loyalty_member"
# Staff who may change someone else's membership (an officer applying a DSAR correction).
CHANGE_PERMISSION = "plugin_app.change_loyaltymember"
DSAR_PERMISSION = "compliance.process_dsar"


def _snapshot(member: LoyaltyMember) -> dict[str, Any]:
    return {
        "nickname": member.nickname,
        "phone": member.phone,
        "points_balance": member.points_balance,
        "closed_at": member.closed_at,
    }


def _audit(
    *, actor: Any, member: LoyaltyMember, event: str, before: dict[str, Any] | None, reference: str = ""
) -> None:
    diff = build_change_diff(model=LoyaltyMember, before=before, after=_snapshot(member))
    diff["event"] = event
    if reference:
        diff["reference"] = reference
    audit_record(
        action=AuditAction.PROFILE_UPDATED,
        actor=actor,
        object_type=OBJECT_TYPE,
        object_id=str(member.public_id),
        change_diff=diff,
    )


def _clean_nickname(nickname: str) -> str:
    nickname = nickname.strip()
    if len(nickname) > NICKNAME_MAX_LENGTH:
        # The message states the rule, never the value.
        raise ValidationError({"nickname": [f"At most {NICKNAME_MAX_LENGTH} characters."]})
    return nickname


def _require_member_or(actor: Any, member: LoyaltyMember, *permissions: str) -> None:
    if getattr(actor, "pk", None) == member.user_id and getattr(actor, "is_active", False):
        return
    if not any(has_permission(actor, permission) for permission in permissions):
        raise PermissionDenied("Only the member or authorised staff may change this membership.")


def loyalty_join(*, actor: Any, nickname: str = "", phone: str = "") -> LoyaltyMember:
    """The actor joins the programme (once; joining again reopens a closed membership)."""
    if not getattr(actor, "is_authenticated", False) or not actor.is_active:
        raise PermissionDenied("Only an active customer may join.")
    nickname = _clean_nickname(nickname)
    with transaction.atomic():
        member = LoyaltyMember.objects.select_for_update().filter(user=actor).first()
        before = _snapshot(member) if member is not None else None
        if member is None:
            member = LoyaltyMember(user=actor)
        member.nickname, member.phone, member.closed_at = nickname, phone.strip(), None
        member.save()
        _audit(actor=actor, member=member, event="joined", before=before)
    return member


def loyalty_close(*, actor: Any, member: LoyaltyMember) -> LoyaltyMember:
    """End the membership; the retention purge removes it once its policy's period has passed."""
    _require_member_or(actor, member, CHANGE_PERMISSION)
    with transaction.atomic():
        member = LoyaltyMember.objects.select_for_update().get(pk=member.pk)
        if member.closed_at is not None:
            return member
        before = _snapshot(member)
        member.closed_at = timezone.now()
        member.save(update_fields=["closed_at"])
        _audit(actor=actor, member=member, event="closed", before=before)
    return member


def loyalty_nickname_set(*, actor: Any, member: LoyaltyMember, nickname: str, reference: str = "") -> LoyaltyMember:
    """Change the nickname: the member, staff who manage memberships, or an officer correcting it (s24)."""
    _require_member_or(actor, member, CHANGE_PERMISSION, DSAR_PERMISSION)
    nickname = _clean_nickname(nickname)
    with transaction.atomic():
        member = LoyaltyMember.objects.select_for_update().get(pk=member.pk)
        before = _snapshot(member)
        member.nickname = nickname
        member.save(update_fields=["nickname"])
        _audit(actor=actor, member=member, event="nickname_set", before=before, reference=reference)
    return member


def register_correction_handlers() -> None:
    """Guide step 7: an approved correction of ``loyalty_nickname`` goes through the service above."""
    from compliance.dsar.corrections import CorrectionRefused, register_correction_handler

    def apply(*, actor: Any, subject: Any, changes: dict[str, str], reference: str) -> None:
        member = LoyaltyMember.objects.filter(user=subject).first()
        if member is None:
            raise CorrectionRefused("not a member of the loyalty programme")
        try:
            loyalty_nickname_set(actor=actor, member=member, nickname=changes["loyalty_nickname"], reference=reference)
        except ValidationError as error:
            raise CorrectionRefused("; ".join(error.messages)) from error

    register_correction_handler(fields={"loyalty_nickname"}, apply=apply)

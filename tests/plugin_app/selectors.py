"""Reads of the loyalty programme (guide steps 4-5): regulated reads live here, and processing for
a purpose asks the one gate, ``compliance.consent.selectors.may_process``."""

from __future__ import annotations

from compliance.consent.selectors import DIRECT_MARKETING, may_process
from compliance.crypto.fields import by_blind_index
from tests.plugin_app.models import LoyaltyMember


def offer_audience() -> list[LoyaltyMember]:
    """Open memberships whose member may receive offers now (consent, no objection, no restriction).

    Asked per member, on the primary: a consent withdrawn a moment ago is already honoured.
    """
    members = LoyaltyMember.objects.filter(closed_at__isnull=True).select_related("user").order_by("pk")
    return [member for member in members if may_process(member.user, DIRECT_MARKETING)]


def member_by_phone(phone: str) -> LoyaltyMember | None:
    """The membership with this phone number (an exact match through the blind index), or None."""
    return by_blind_index(LoyaltyMember, "phone", phone).first()

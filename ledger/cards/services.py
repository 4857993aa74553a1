"""Payment cards (PCI DSS): validation, the one-time security-code check, add/remove, PAN reveal.

Invariants:
- The PAN reaches the database only through ``Card.pan`` (encrypted) and ``Card.pan_index``
  (keyed HMAC); ``first6``/``last4`` are the truncation PCI DSS allows for display.
- The CVV is an argument of ``card_add`` and nothing else: it is checked once by
  ``issuer_verify`` and dropped. It is never stored, logged, cached, put in an audit diff or an
  error message, and no exception raised here carries it (or the PAN) in its arguments.
- Errors say which rule failed ("invalid security code"), never the value.
- Customers see and use only their own cards (``cards_for``): another customer's card is "not
  found". The full PAN leaves this module only through ``card_reveal_pan``, which requires the
  ``ledger.reveal_card_pan`` permission and a reason, and audits CARD_DATA_ACCESS first.

``issuer_verify`` is a local, deterministic stand-in for the issuer's card-verification call (a
zero-amount authorisation with the CVV): there is no card network in this system. It declines the
sandbox's "decline" security code (all zeros) and accepts any other well-formed one.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from django.contrib.auth.models import Permission
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from accounts.models import User
from compliance.audit.services import AuditAction, audit_pi_access, audit_record
from compliance.crypto.fields import by_blind_index
from kernel.redaction import luhn_valid
from ledger.cards.models import Card, CardBrand
from ledger.exceptions import LedgerError

REVEAL_PERMISSION = "ledger.reveal_card_pan"
MAX_YEARS_AHEAD = 20

# (brand, IIN prefix ranges as (low, high) over the first N digits, allowed lengths)
_IIN_TABLE: tuple[tuple[str, tuple[tuple[str, str], ...], frozenset[int]], ...] = (
    (CardBrand.AMEX, (("34", "34"), ("37", "37")), frozenset({15})),
    (CardBrand.DINERS, (("300", "305"), ("36", "36"), ("38", "39")), frozenset(range(14, 20))),
    (CardBrand.JCB, (("3528", "3589"),), frozenset(range(16, 20))),
    (CardBrand.VISA, (("4", "4"),), frozenset({13, 16, 19})),
    (CardBrand.MASTERCARD, (("51", "55"), ("2221", "2720")), frozenset({16})),
    (CardBrand.DISCOVER, (("6011", "6011"), ("644", "649"), ("65", "65")), frozenset(range(16, 20))),
    (CardBrand.UNIONPAY, (("62", "62"),), frozenset(range(16, 20))),
)


def normalise_pan(raw: Any) -> str:
    """The digits of a card number written with optional single spaces or dashes, else invalid."""
    if not isinstance(raw, str):
        raise LedgerError("invalid_card_number")
    digits = raw.replace(" ", "").replace("-", "")
    if not (digits.isascii() and digits.isdigit() and 13 <= len(digits) <= 19 and luhn_valid(digits)):
        raise LedgerError("invalid_card_number")
    return digits


def card_brand(pan: str) -> str:
    """The brand from the issuer identification number (IIN) and length; unsupported otherwise."""
    for brand, ranges, lengths in _IIN_TABLE:
        for low, high in ranges:
            if low <= pan[: len(low)] <= high and len(pan) in lengths:
                return brand
    raise LedgerError("unsupported_card_brand")


def parse_expiry(raw: Any) -> tuple[int, int]:
    """``MM/YY`` → (month, four-digit year); refused when malformed, past, or absurdly far."""
    if not isinstance(raw, str) or len(raw) != 5 or raw[2] != "/" or not (raw[:2] + raw[3:]).isdigit():
        raise LedgerError("invalid_expiry")
    month, year = int(raw[:2]), 2000 + int(raw[3:])
    if not 1 <= month <= 12:
        raise LedgerError("invalid_expiry")
    today = timezone.now().date()
    if is_expired(month, year, today=today):
        raise LedgerError("card_expired")
    if year > today.year + MAX_YEARS_AHEAD:
        raise LedgerError("invalid_expiry")
    return month, year


def is_expired(month: int, year: int, *, today: dt.date | None = None) -> bool:
    # A card is valid through the last day of its expiry month.
    today = today or timezone.now().date()
    return (year, month) < (today.year, today.month)


def security_code_valid_for(brand: str, cvv: Any) -> bool:
    expected = 4 if brand == CardBrand.AMEX else 3
    return isinstance(cvv, str) and len(cvv) == expected and cvv.isascii() and cvv.isdigit()


def issuer_verify(*, pan: str, expiry_month: int, expiry_year: int, cvv: str) -> bool:
    """The (simulated) issuer's card verification: the only place the CVV is compared to anything."""
    return set(cvv) != {"0"}


def _clean_holder(holder: object) -> str | None:
    if holder is None:
        return None
    if not isinstance(holder, str):
        raise LedgerError("invalid_card_holder")
    holder = " ".join(holder.split())
    if not holder:
        return None
    if len(holder) > 26 or not all(ch.isalpha() or ch in " .'-" for ch in holder):
        raise LedgerError("invalid_card_holder")
    return holder


def can_reveal_pan(user: Any) -> bool:
    """Only a role that needs it (accounts/roles.py: operations) may read full card numbers.

    Deliberately not ``has_perm``: superuser status alone does not grant it (PCI DSS 7, need to
    know); the permission must come from the user's role group.
    """
    # Not get_group_permissions() either: Django's backend answers "all" for superusers there too.
    if not (getattr(user, "is_authenticated", False) and user.is_active):
        return False
    app_label, codename = REVEAL_PERMISSION.split(".")
    return Permission.objects.filter(group__user=user, content_type__app_label=app_label, codename=codename).exists()


# --- selectors ------------------------------------------------------------------------------------


def cards_for(*, viewer: Any) -> QuerySet[Card]:
    """The viewer's own cards (active first, newest first); nobody else's, staff included."""
    if not getattr(viewer, "is_authenticated", False):
        return Card.objects.none()
    return Card.objects.filter(owner=viewer).order_by("-active", "-created_at", "-pk")


def card_get(*, viewer: Any, public_id: uuid.UUID | str) -> Card | None:
    try:
        key = uuid.UUID(str(public_id))
    except ValueError:
        return None
    return cards_for(viewer=viewer).filter(public_id=key).first()


def card_for_deposit(*, viewer: Any, public_id: Any) -> Card:
    """The viewer's own active, unexpired card for a deposit; otherwise a LedgerError."""
    card = card_get(viewer=viewer, public_id=public_id)
    # No blind index means no PAN (removed, or erased on a deletion request): unusable.
    if card is None or not card.active or card.pan_index is None:
        raise LedgerError("not_found")
    if is_expired(card.expiry_month, card.expiry_year):
        raise LedgerError("card_expired")
    return card


# --- services ---------------------------------------------------------------------------------------


def card_add(
    *,
    actor: User,
    pan: str,
    expiry: str,
    cvv: str,
    holder: str | None = None,
    request: HttpRequest | None = None,
) -> Card:
    """Register a card for the actor after a one-time security-code check; the CVV is then dropped.

    The same active card twice for one customer is refused (``card_already_added``, 409) rather
    than silently returned: the second request carried a CVV we would otherwise have checked for
    nothing, and the client should show the card it already has.
    """
    digits = normalise_pan(pan)
    brand = card_brand(digits)
    month, year = parse_expiry(expiry)
    holder = _clean_holder(holder)
    if not security_code_valid_for(brand, cvv):
        raise LedgerError("invalid_security_code")
    if not issuer_verify(pan=digits, expiry_month=month, expiry_year=year, cvv=cvv):
        raise LedgerError("card_verification_failed")
    verified_at = timezone.now()
    with transaction.atomic():
        # The blind index under every key version (a rotation may be half-way through).
        if by_blind_index(Card.objects.filter(owner=actor, active=True), "pan", digits).exists():
            raise LedgerError("card_already_added")
        try:
            with transaction.atomic():
                card = Card.objects.create(
                    owner=actor, pan=digits, brand=brand, first6=digits[:6], last4=digits[-4:],
                    pan_length=len(digits), expiry_month=month, expiry_year=year, holder=holder,
                    verified_at=verified_at,
                )  # fmt: skip
        except IntegrityError:
            # A concurrent request added the same card first (unique owner + blind index).
            raise LedgerError("card_already_added") from None
        audit_record(
            action=AuditAction.CARD_ADDED,
            actor=actor,
            object_type="ledger.Card",
            object_id=str(card.public_id),
            change_diff={"brand": brand, "last4": card.last4, "expiry": card.expiry},
            request=request,
        )
    return card


def card_remove(*, actor: User, card: uuid.UUID | str, request: HttpRequest | None = None) -> Card:
    """The owner removes a card: the PAN and holder name are erased now; the truncation stays."""
    with transaction.atomic():
        found = card_get(viewer=actor, public_id=card)
        if found is None:
            raise LedgerError("not_found")
        found = Card.objects.select_for_update().get(pk=found.pk)
        if found.active:
            found.active, found.pan, found.holder, found.deactivated_at = False, None, None, timezone.now()
            found.save(update_fields=["active", "pan", "holder", "deactivated_at"])
            audit_record(
                action=AuditAction.CARD_REMOVED,
                actor=actor,
                object_type="ledger.Card",
                object_id=str(found.public_id),
                change_diff={"active": False},
                request=request,
            )
    return found


def card_reveal_pan(
    *, actor: User, card: uuid.UUID | str, reason: str, request: HttpRequest | None = None
) -> tuple[Card, str]:
    """Operations read one card's full number for a stated reason; CARD_DATA_ACCESS is recorded first.

    The audit row is written in the same transaction as the read, before the number is returned:
    there is no reveal without its record.
    """
    if not can_reveal_pan(actor):
        raise PermissionDenied("Revealing card numbers needs the reveal_card_pan permission.")
    reason = " ".join((reason or "").split())[:140]
    if not reason:
        raise LedgerError("reason_required")
    try:
        key = uuid.UUID(str(card))
    except ValueError:
        raise LedgerError("not_found") from None
    with transaction.atomic():
        found = Card.objects.filter(public_id=key, active=True, pan__isnull=False).first()
        if found is None:
            raise LedgerError("not_found")
        audit_pi_access(
            actor=actor,
            subject_type="ledger.Card",
            subject_id=str(found.public_id),
            fields=["pan"],
            request=request,
            card_data=True,
            purpose=reason,
        )
    return found, found.pan

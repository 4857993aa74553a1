"""Payment providers at the platform boundary: the card processor interface and the sandboxes.

A card deposit is a claim until the processor says the money is ours (ADR 0005):
``authorise`` (a hold on the card, approved or declined) → ``capture`` (the processor then
notifies ``payment.captured``, signed, to POST /api/v1/webhooks/card-processor/) or ``void``
(the hold is released; a pending deposit that expired or was declined). Nothing here moves
money: only a verified notification or an operations confirmation posts a pending entry
(ledger/settlement.py).

The sandboxes behave like real providers where it matters: their callbacks are signed with the
Standard Webhooks scheme (``webhook-id``, ``webhook-timestamp``, ``webhook-signature: v1,...``)
with the provider's secret from ``LEDGER_WEBHOOK_SECRETS``, and go through the same verification
as any delivery. ``LEDGER_SANDBOX_CALLBACKS`` says where they go: ``inline`` (handed to the
webhook intake at once: dev and the demo) or ``outbox`` (kept in ``OUTBOX`` for a test to POST).

Sandbox card rules (like public test cards): a card ending 0002 is declined; any other is approved.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import json
import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from django.conf import settings
from django.utils.module_loading import import_string
from standardwebhooks.webhooks import Webhook

logger = logging.getLogger(__name__)

CARD_PROCESSOR = "card_processor"
BANK = "bank"
SANDBOX_DECLINED_LAST4 = "0002"


@dataclass(frozen=True)
class Authorisation:
    reference: str  # our pending entry's public id (the merchant reference)
    authorisation_id: str  # the processor's id for the hold
    approved: bool


@dataclass(frozen=True)
class Callback:
    """A provider notification as it travels: raw body bytes and the three signature headers."""

    provider: str
    body: bytes
    headers: dict[str, str]


class CardProcessor(Protocol):
    def authorise(self, *, reference: str, card: Any, amount: int, currency: str) -> Authorisation: ...

    def capture(self, *, reference: str, amount: int, currency: str) -> None: ...

    def void(self, *, reference: str) -> None: ...


def signing_secret(provider: str) -> str:
    secrets = getattr(settings, "LEDGER_WEBHOOK_SECRETS", {}).get(provider) or []
    if not secrets:
        raise RuntimeError(f"No webhook secret configured for {provider}")
    return secrets[0]


def signed_callback(
    provider: str,
    event_type: str,
    data: dict[str, Any],
    *,
    event_id: str | None = None,
    at: dt.datetime | None = None,
    secret: str | None = None,
) -> Callback:
    """A notification signed exactly as a Standard Webhooks sender signs it."""
    at = at or dt.datetime.now(dt.UTC)
    event_id = event_id or f"msg_{uuid.uuid4().hex}"
    body = json.dumps({"type": event_type, "data": data}, separators=(",", ":"), sort_keys=True)
    signature = Webhook(secret or signing_secret(provider)).sign(event_id, at, body)
    headers = {"webhook-id": event_id, "webhook-timestamp": str(int(at.timestamp())), "webhook-signature": signature}
    return Callback(provider, body.encode(), headers)


# Sandbox callbacks waiting for a test to deliver them (LEDGER_SANDBOX_CALLBACKS = "outbox").
OUTBOX: list[Callback] = []
_FORCE_INLINE: contextvars.ContextVar[bool] = contextvars.ContextVar("ledger_sandbox_inline", default=False)


@contextlib.contextmanager
def inline_callbacks() -> Iterator[None]:
    """Deliver sandbox callbacks at once inside this block, whatever the setting (the demo loader)."""
    token = _FORCE_INLINE.set(True)
    try:
        yield
    finally:
        _FORCE_INLINE.reset(token)


def send(callback: Callback) -> None:
    """Deliver a sandbox callback the configured way (a real provider would POST it)."""
    if getattr(settings, "LEDGER_SANDBOX_CALLBACKS", "inline") == "outbox" and not _FORCE_INLINE.get():
        OUTBOX.append(callback)
        return
    deliver(callback)


def deliver(callback: Callback) -> None:
    """Hand a signed callback to the webhook intake in-process: the same verification as over HTTP."""
    from ledger import settlement
    from ledger.exceptions import LedgerError

    try:
        settlement.webhook_receive(provider=callback.provider, body=callback.body, headers=callback.headers)
    except LedgerError as error:  # a refused delivery is audited by the intake; the sandbox moves on
        logger.warning("sandbox callback refused", extra={"code": error.code, "provider": callback.provider})


class SandboxCardProcessor:
    """A card processor for tests, `make run` and the demo: approves, captures and signs its callbacks."""

    def authorise(self, *, reference: str, card: Any, amount: int, currency: str) -> Authorisation:
        approved = getattr(card, "last4", "") != SANDBOX_DECLINED_LAST4
        return Authorisation(reference, f"auth_{uuid.uuid5(uuid.NAMESPACE_URL, reference).hex[:24]}", approved)

    def capture(self, *, reference: str, amount: int, currency: str) -> None:
        send(
            signed_callback(
                CARD_PROCESSOR, "payment.captured", {"reference": reference, "amount": amount, "currency": currency}
            )
        )

    def void(self, *, reference: str) -> None:
        # The hold is released on the processor's side; nothing comes back.
        logger.info("sandbox authorisation voided", extra={"reference": reference})


class SandboxBank:
    """The bank's side of EFT deposits and payouts: signed notifications of money in and out."""

    def deposit_received(self, *, reference: str, amount: int, currency: str, statement_line: str) -> None:
        data = {"reference": reference, "amount": amount, "currency": currency, "statement_line": statement_line}
        send(signed_callback(BANK, "deposit.received", data))

    def payout_paid(self, *, reference: str, amount: int, currency: str) -> None:
        send(signed_callback(BANK, "payout.paid", {"reference": reference, "amount": amount, "currency": currency}))

    def payout_failed(self, *, reference: str, amount: int, currency: str) -> None:
        send(signed_callback(BANK, "payout.failed", {"reference": reference, "amount": amount, "currency": currency}))


def card_processor() -> CardProcessor:
    """The configured processor; ``card_deposits_unavailable`` when none is (the production default)."""
    from ledger.exceptions import LedgerError

    path = getattr(settings, "LEDGER_CARD_PROCESSOR", "")
    if not path:
        raise LedgerError("card_deposits_unavailable")
    return import_string(path)()

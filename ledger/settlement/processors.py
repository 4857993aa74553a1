"""Payment providers at the platform boundary: the card processor interface and the signing of
provider notifications (the sandboxes, which call back into the webhook intake, are in
ledger/settlement/sandbox.py).

A card deposit is a claim until the processor says the money is ours (ADR 0005):
``authorise`` (a hold on the card, approved or declined) → ``capture`` (the processor then
notifies ``payment.captured``, signed, to POST /api/v1/webhooks/card-processor/) or ``void``
(the hold is released; a pending deposit that expired or was declined). Nothing here moves
money: only a verified notification or an operations confirmation posts a pending entry
(ledger/settlement/services.py).

The sandboxes behave like real providers where it matters: their callbacks are signed with the
Standard Webhooks scheme (``webhook-id``, ``webhook-timestamp``, ``webhook-signature: v1,...``)
with the provider's secret from ``LEDGER_WEBHOOK_SECRETS``, and go through the same verification
as any delivery. ``LEDGER_SANDBOX_CALLBACKS`` says where they go: ``inline`` (handed to the
webhook intake at once: dev and the demo) or ``outbox`` (kept in ``OUTBOX`` for a test to POST).

Sandbox card rules (like public test cards): a card ending 0002 is declined; any other is approved.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from dataclasses import dataclass
from typing import Any, Protocol

from django.conf import settings
from django.utils.module_loading import import_string
from standardwebhooks.webhooks import Webhook

logger = logging.getLogger(__name__)

CARD_PROCESSOR = "card_processor"
BANK = "bank"


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


def card_processor() -> CardProcessor:
    """The configured processor; ``card_deposits_unavailable`` when none is (the production default)."""
    from ledger.exceptions import LedgerError

    path = getattr(settings, "LEDGER_CARD_PROCESSOR", "")
    if not path:
        raise LedgerError("card_deposits_unavailable")
    return import_string(path)()

"""The sandbox payment providers (tests, `make run` and the demo): a card processor and a bank that
behave like real ones where it matters — their callbacks are signed with the Standard Webhooks
scheme and go through the same webhook intake and verification as any delivery.
``LEDGER_SANDBOX_CALLBACKS`` says where they go: ``inline`` (handed to the intake at once: dev and
the demo) or ``outbox`` (kept in ``OUTBOX`` for a test to POST over HTTP).

Sandbox card rules (like public test cards): a card ending 0002 is declined; any other is approved.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import uuid
from collections.abc import Iterator
from typing import Any

from django.conf import settings

from ledger.settlement.processors import BANK, CARD_PROCESSOR, Authorisation, Callback, signed_callback

logger = logging.getLogger(__name__)


SANDBOX_DECLINED_LAST4 = "0002"


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
    from ledger.exceptions import LedgerError
    from ledger.settlement import services as settlement

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

"""Settling pending deposits and withdrawals: the only ways a pending movement is posted or voided.

A deposit or withdrawal is a claim until settled (issue 15, ADR 0005). It is *posted* only on
1. a provider's signed notification (``webhook_receive``): the card processor for card deposits,
   the bank for EFT deposits and payouts. Verified with the Standard Webhooks scheme (HMAC-SHA256
   over ``id.timestamp.body``), the signed timestamp within ``LEDGER_WEBHOOK_TOLERANCE_SECONDS``,
   the provider's event id consumed once (``WebhookEvent``, unique): a replay changes nothing;
2. an operations confirmation against a bank statement line by a *second* person
   (``statement_line_record`` then ``pending_confirm``): the confirmer is neither the operations
   user who recorded the line nor whoever started the movement, and no staff member acts on a
   wallet they own. EFT deposits and bank payouts only: card deposits settle through the processor.
It is *voided* when the processor declines or the payout fails (notifications), when operations
say so (same four-eyes rule), or when a deposit stays unsettled past its ``expires_at``
(``expire_pending_deposits``, run by Celery beat).

Every settlement, void and refusal is an audit record: settlements and voids in the transaction
that makes them (``SETTLEMENT_POSTED`` / ``SETTLEMENT_VOIDED``); a refusal rolls its transaction
back, so its ``SETTLEMENT_REFUSED`` record is written on its own right after (it records that the
attempt happened and why, never the body: no PI, no signatures).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from accounts.models import User
from compliance.audit.services import ActorType, AuditAction, audit_record
from kernel.access import OwnSubjectDenied, require_not_own, require_permission
from kernel.request_context import get_request_id
from kernel.tasks import enqueue_on_commit
from kernel.types import Actor
from ledger.engine import MoveAudit, ResolveRequest, ResolveResult, resolve_pending
from ledger.exceptions import LedgerError
from ledger.models import (
    Channel,
    EntryType,
    JournalEntry,
    LedgerAccount,
    PendingResolution,
    ResolutionOutcome,
    ResolutionSource,
    StatementMatch,
    WebhookEvent,
)
from ledger.settlement import processors

logger = logging.getLogger(__name__)

POSTED, VOIDED = ResolutionOutcome.POSTED, ResolutionOutcome.VOIDED

# provider -> event type -> (entry type, channel, outcome): what each provider may settle.
EVENTS: dict[str, dict[str, tuple[str, str, str]]] = {
    processors.CARD_PROCESSOR: {
        "payment.captured": (EntryType.DEPOSIT, Channel.CARD, POSTED),
        "payment.failed": (EntryType.DEPOSIT, Channel.CARD, VOIDED),
    },
    processors.BANK: {
        "deposit.received": (EntryType.DEPOSIT, Channel.EFT, POSTED),
        "payout.paid": (EntryType.WITHDRAWAL, Channel.BANK_PAYOUT, POSTED),
        "payout.failed": (EntryType.WITHDRAWAL, Channel.BANK_PAYOUT, VOIDED),
    },
}
SOURCES = {processors.CARD_PROCESSOR: ResolutionSource.CARD_PROCESSOR, processors.BANK: ResolutionSource.BANK}
MAX_BODY_BYTES = 16 * 1024
MAX_EVENT_ID = 128
OPERATIONS_CHANNELS = (Channel.EFT, Channel.BANK_PAYOUT)
EXPIRY_BATCH = 500

# Recording a bank statement line and confirming a settlement: operations (accounts/roles.py).
SETTLE_PERMISSION = "ledger.confirm_settlement"


def _action(outcome: str) -> str:
    return AuditAction.SETTLEMENT_POSTED if outcome == POSTED else AuditAction.SETTLEMENT_VOIDED


def _refused(code: str, *, actor: Actor | None = None, request: HttpRequest | None = None, **diff: Any) -> LedgerError:
    """Audit a refusal on its own (the refused work rolled back) and return the error to raise."""
    with transaction.atomic():
        audit_record(
            action=AuditAction.SETTLEMENT_REFUSED,
            actor=actor,
            actor_type=None if getattr(actor, "is_authenticated", False) else ActorType.ANONYMOUS,
            object_type="ledger.JournalEntry",
            object_id=str(diff.pop("movement", "") or ""),
            change_diff={"code": code, **diff},
            request=request,
        )
    return LedgerError(code)


def _as_uuid(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


# --- 1. Provider notifications -------------------------------------------------------------------------


def _verify(provider: str, body: bytes, headers: Mapping[str, str]) -> tuple[str, Any]:
    """(event id, parsed body) of a delivery signed with one of the provider's secrets, else webhook_unverified."""
    secrets = getattr(settings, "LEDGER_WEBHOOK_SECRETS", {}).get(provider) or []
    lowered = {key.lower(): value for key, value in headers.items()}
    event_id, stamp = lowered.get("webhook-id", ""), lowered.get("webhook-timestamp", "")
    if not secrets or not event_id or len(event_id) > MAX_EVENT_ID or not stamp.isascii() or not stamp.isdigit():
        raise LedgerError("webhook_unverified")
    tolerance = min(int(getattr(settings, "LEDGER_WEBHOOK_TOLERANCE_SECONDS", 300)), 300)
    if abs(timezone.now().timestamp() - int(stamp)) > tolerance:
        raise LedgerError("webhook_unverified")
    if len(body) > MAX_BODY_BYTES:
        raise LedgerError("webhook_invalid")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise LedgerError("webhook_unverified") from None
    for secret in secrets:
        try:
            Webhook(secret).verify(text, dict(lowered), json_parse=False)
        except (WebhookVerificationError, ValueError, TypeError):  # a malformed signature header is a forgery
            continue
        try:
            return event_id, json.loads(text)
        except (ValueError, RecursionError):
            raise LedgerError("webhook_invalid") from None
    raise LedgerError("webhook_unverified")


def _event(provider: str, payload: Any) -> tuple[str, uuid.UUID, int, str, str]:
    """(event type, pending entry public id, amount, currency, statement line) or webhook_invalid."""
    if not isinstance(payload, dict) or not isinstance(payload.get("data"), dict):
        raise LedgerError("webhook_invalid")
    event_type, data = payload.get("type"), payload["data"]
    reference, amount, currency = _as_uuid(data.get("reference")), data.get("amount"), data.get("currency")
    if (
        event_type not in EVENTS[provider]
        or reference is None
        or type(amount) is not int
        or not isinstance(currency, str)
    ):
        raise LedgerError("webhook_invalid")
    line = data.get("statement_line") if isinstance(data.get("statement_line"), str) else ""
    return event_type, reference, amount, currency, line[:64]


def webhook_receive(
    *, provider: str, body: bytes, headers: Mapping[str, str], request: HttpRequest | None = None
) -> ResolveResult:
    """Verify a provider's notification and settle (post or void) the pending movement it names.

    Refused, changing nothing (and audited): a bad or missing signature, a timestamp outside the
    tolerance (``webhook_unverified``, 401); an unknown event or malformed body (``webhook_invalid``);
    an event id already received (``webhook_replayed``, 409); a movement this provider does not
    settle (``not_found``); a different amount or currency (``settlement_mismatch``, 422); a
    movement already settled or voided (``already_resolved``, 409).
    """
    if provider not in EVENTS:
        raise LedgerError("not_found")
    event_id, reference = "", None
    try:
        event_id, payload = _verify(provider, body, headers)
        event_type, reference, amount, currency, line = _event(provider, payload)
        entry_type, channel, outcome = EVENTS[provider][event_type]
        with transaction.atomic():
            entry = JournalEntry.objects.filter(
                public_id=reference, pending=True, entry_type=entry_type, channel=channel
            ).first()
            if entry is None:
                raise LedgerError("not_found")
            try:
                with transaction.atomic():
                    WebhookEvent.objects.create(
                        provider=provider, event_id=event_id, event_type=event_type, pending_entry=entry
                    )
            except IntegrityError:
                raise LedgerError("webhook_replayed") from None
            if amount != entry.amount or currency != entry.currency:
                raise LedgerError("settlement_mismatch")
            return resolve_pending(
                ResolveRequest(
                    pending_entry_id=entry.pk,
                    outcome=outcome,
                    source=SOURCES[provider],
                    evidence=line or event_id,
                    request_id=get_request_id() or "",
                    audit=MoveAudit(_action(outcome), None, request, {"provider": provider, "event": event_type}),
                )
            )
    except LedgerError as error:
        raise _refused(
            error.code, request=request, provider=provider, event_id=event_id[:MAX_EVENT_ID],
            movement=str(reference) if reference else "",
        ) from None  # fmt: skip


# --- 2. Card processor: authorise, then capture (or void) ------------------------------------------------


def card_deposit_authorise(
    *, processor: processors.CardProcessor | None, entry_public_id: uuid.UUID, card: Any, amount: int, currency: str
) -> str:
    """After a card deposit's pending entry committed: ask the processor for the money.

    Approved: capture (the processor's signed ``payment.captured`` posts it later). Declined: the
    pending deposit is voided at once. Returns the movement's status as it now stands.
    """
    reference = str(entry_public_id)
    processor = processor or processors.card_processor()
    authorisation = processor.authorise(reference=reference, card=card, amount=amount, currency=currency)
    if not authorisation.approved:
        entry = JournalEntry.objects.get(public_id=entry_public_id)
        with transaction.atomic():
            resolve_pending(
                ResolveRequest(
                    pending_entry_id=entry.pk,
                    outcome=VOIDED,
                    source=ResolutionSource.DECLINED,
                    evidence=authorisation.authorisation_id,
                    request_id=get_request_id() or "",
                    audit=MoveAudit(AuditAction.SETTLEMENT_VOIDED, None, None, {"provider": "card_processor"}),
                )
            )
        return "voided"
    processor.capture(reference=reference, amount=amount, currency=currency)
    return status_of(entry_public_id)


def status_of(entry_public_id: uuid.UUID) -> str:
    outcome = PendingResolution.objects.filter(pending_entry__public_id=entry_public_id).values_list(
        "outcome", flat=True
    )
    return outcome.first() or "pending"


# --- 3. Operations: a statement line recorded by one person, confirmed by another ------------------------


def _confirmable(actor: Actor, public_id: Any, *, for_update: bool = False) -> JournalEntry:
    entry_id = _as_uuid(public_id)
    entry = JournalEntry.objects.filter(public_id=entry_id, pending=True).first() if entry_id else None
    if entry is None:
        raise LedgerError("not_found")
    if entry.channel not in OPERATIONS_CHANNELS:
        raise LedgerError("not_confirmable")
    if PendingResolution.objects.filter(pending_entry=entry).exists():
        raise LedgerError("already_resolved")
    owners = set(
        LedgerAccount.objects.filter(postings__entry=entry, owner__isnull=False).values_list("owner_id", flat=True)
    )
    require_not_own(actor, owners, "settle a movement")
    if entry.created_by_id == actor.pk:
        raise LedgerError("second_person_required")
    return entry


def statement_line_record(
    *, actor: User, pending: Any, statement_line: str, request: HttpRequest | None = None
) -> StatementMatch:
    """The first person: the bank statement line that shows this EFT deposit or payout."""
    require_permission(actor, SETTLE_PERMISSION, "Only operations staff may record statement lines.", through_role=True)
    line = (statement_line or "").strip()[:64]
    try:
        if not line:
            raise LedgerError("statement_line_required")
        with transaction.atomic():
            entry = _confirmable(actor, pending)
            try:
                with transaction.atomic():
                    match = StatementMatch.objects.create(pending_entry=entry, statement_line=line, recorded_by=actor)
            except IntegrityError:
                raise LedgerError("statement_line_recorded") from None
            audit_record(
                action=AuditAction.STATEMENT_LINE_RECORDED,
                actor=actor,
                object_type="ledger.JournalEntry",
                object_id=str(entry.public_id),
                change_diff={"amount": entry.amount, "currency": entry.currency},
                request=request,
            )
            return match
    except OwnSubjectDenied:
        _refused(OwnSubjectDenied.code, actor=actor, request=request, step="statement_line", movement=str(pending))
        raise
    except LedgerError as error:
        raise _refused(error.code, actor=actor, request=request, step="statement_line", movement=str(pending)) from None


def pending_confirm(
    *, actor: User, pending: Any, outcome: str = POSTED, request: HttpRequest | None = None
) -> ResolveResult:
    """The second person: post (or void) the movement against the recorded statement line."""
    require_permission(actor, SETTLE_PERMISSION, "Only operations staff may confirm settlements.", through_role=True)
    if outcome not in (POSTED, VOIDED):
        raise LedgerError("webhook_invalid")
    try:
        with transaction.atomic():
            entry = _confirmable(actor, pending)
            match = StatementMatch.objects.filter(pending_entry=entry).first()
            if match is None:
                raise LedgerError("statement_line_required")
            if match.recorded_by_id == actor.pk:
                raise LedgerError("second_person_required")
            return resolve_pending(
                ResolveRequest(
                    pending_entry_id=entry.pk,
                    outcome=outcome,
                    source=ResolutionSource.OPERATIONS,
                    evidence=match.statement_line,
                    recorded_by_id=match.recorded_by_id,
                    decided_by_id=actor.pk,
                    request_id=get_request_id() or "",
                    audit=MoveAudit(
                        _action(outcome), actor, request, {"recorded_by": str(match.recorded_by.public_id)}
                    ),
                )
            )
    except OwnSubjectDenied:
        _refused(OwnSubjectDenied.code, actor=actor, request=request, step="confirm", movement=str(pending))
        raise
    except LedgerError as error:
        raise _refused(error.code, actor=actor, request=request, step="confirm", movement=str(pending)) from None


# --- 4. Expiry: unsettled deposits void --------------------------------------------------------------------


def expire_pending_deposits(*, now: dt.datetime | None = None, batch: int = EXPIRY_BATCH) -> int:
    """Void every pending deposit past its ``expires_at`` that nothing settled; returns how many.

    Idempotent and safe to run concurrently: each void is its own transaction, and the unique
    resolution decides a race with a late settlement (the loser gets already_resolved, skipped).
    A voided card deposit's authorisation is released at the processor after commit.
    """
    now = now or timezone.now()
    due = list(
        JournalEntry.objects.filter(
            pending=True, entry_type=EntryType.DEPOSIT, expires_at__lte=now, resolution__isnull=True
        )
        .order_by("expires_at", "pk")
        .values_list("pk", "public_id", "channel")[:batch]
    )
    voided = 0
    for pk, public_id, channel in due:
        try:
            with transaction.atomic():
                resolve_pending(
                    ResolveRequest(
                        pending_entry_id=pk,
                        outcome=VOIDED,
                        source=ResolutionSource.EXPIRY,
                        evidence="expired",
                        audit=MoveAudit(AuditAction.SETTLEMENT_VOIDED, None, None, {"expired": True}),
                    )
                )
                if channel == Channel.CARD:
                    enqueue_on_commit("ledger.tasks.void_card_authorisation", str(public_id))
        except LedgerError as error:
            if error.code != "already_resolved":
                raise
            continue
        voided += 1
    return voided

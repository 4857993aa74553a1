"""Ledger write services: the only code that moves money or changes KYC state.

Invariants: every function runs in one transaction (``transaction.atomic``, or for a movement that
is a single statement, that statement's own transaction; see below) and writes its audit record in
that same transaction; money moves only through ``ledger.engine.move`` (locks in primary-key order, balance
and postings together, idempotent on (actor, Idempotency-Key)); a refused operation raises
``LedgerError`` (or ``PermissionDenied``) and changes nothing. Audit diffs carry amounts, currency
and public ids only, never ID numbers, bank account numbers or names.

Money movements hand their audit record to the engine (``MoveRequest.audit``): on PostgreSQL
ledger_move inserts it in the same statement as the postings (one round trip; migration 0006), on
the ORM engine ``audit_record`` is called right after the move. A movement whose only statement is
that call runs without BEGIN/COMMIT (``engine.movement_atomic``): one statement is one transaction.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import secrets
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone

from accounts.models import User
from compliance.audit.services import AuditAction, audit_record, build_change_diff
from compliance.dsar.balances import Balance, Settlement, SettlementMethod, SettlementRefused
from kernel.access import require_not_own, require_permission
from kernel.request_context import get_request_id
from ledger import limits
from ledger.cards.services import card_for_deposit
from ledger.engine import (
    BatchItem,
    BatchRequest,
    MoveAudit,
    MoveRequest,
    MoveResult,
    move,
    move_batch,
    movement_atomic,
)
from ledger.exceptions import LedgerError
from ledger.kyc import identity_lock, is_valid_sa_id, verified_elsewhere
from ledger.metrics import LEDGER_OPERATIONS, counted
from ledger.models import (
    AccountKind,
    BankAccount,
    Channel,
    EntryType,
    JournalEntry,
    KycRecord,
    KycStatus,
    LedgerAccount,
    ReversalRequest,
)
from ledger.settlement import processors
from ledger.settlement import services as settlement

IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9_.:\-]{8,100}$")
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
# A funding source is a token or EFT reference; anything shaped like a card number is refused so a
# PAN can never be stored in the journal (cards and their vault arrive in a later phase).
CARD_LIKE = re.compile(r"\d[\d -]{11,}\d")


# --- validation shared by the money services -------------------------------------------------------


def validate_amount(amount: Any) -> int:
    # bool is an int subclass and floats/strings sneak in through loose parsers: exact int only.
    if type(amount) is not int or amount <= 0 or amount > limits.MAX_AMOUNT_MINOR:
        raise LedgerError("invalid_amount")
    return amount


def validate_currency(currency: Any) -> str:
    if not isinstance(currency, str) or currency not in limits.SUPPORTED_CURRENCIES:
        raise LedgerError("invalid_currency")
    return currency


def validate_idempotency_key(key: Any) -> str:
    if not isinstance(key, str) or not IDEMPOTENCY_KEY.match(key):
        raise LedgerError("invalid_idempotency_key")
    return key


def clean_reference(reference: str) -> str:
    return _CONTROL_CHARACTERS.sub(" ", reference or "").strip()[:140]


def _fingerprint(operation: str, **fields: Any) -> str:
    canonical = json.dumps({"op": operation, **{k: str(v) for k, v in fields.items()}}, sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _as_uuid(value: Any) -> uuid.UUID:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise LedgerError("not_found") from None


# --- money movement ---------------------------------------------------------------------------------


@counted("deposit")
def deposit_create(
    *,
    actor: User,
    account: uuid.UUID | str,
    amount: int,
    currency: str,
    channel: str,
    funding_source: str,
    idempotency_key: str,
    reference: str = "",
    request: HttpRequest | None = None,
) -> MoveResult:
    """Card or EFT money in: a *pending* movement, settlement (a random shard) → the actor's wallet.

    Nothing becomes spendable here (ADR 0005): the wallet's ``pending_credits`` grow, its balance
    does not. The deposit is posted only by a verified settlement (ledger/settlement/services.py): the card
    processor's or the bank's signed notification, or two operations users against a bank
    statement line; unsettled, it voids at ``expires_at``. Money in counts against the KYC tier's
    daily limit (inflow counter on the wallet row), checked when the claim is made.

    By card, ``funding_source`` is the public id of one of the actor's own active cards (another
    customer's card is not found); the processor then authorises and captures it (a decline voids
    the deposit at once). By EFT, a payment reference that must not look like a PAN; the answer's
    id is the reference the customer quotes on the bank transfer.
    ``result.extra["status"]`` says where the movement stands: pending, posted or voided.
    """
    amount, currency = validate_amount(amount), validate_currency(currency)
    key, account_id = validate_idempotency_key(idempotency_key), _as_uuid(account)
    if channel not in (Channel.CARD, Channel.EFT):
        raise LedgerError("invalid_channel")
    if channel == Channel.CARD:
        funding_source = str(_as_uuid(funding_source))
    elif not funding_source or len(funding_source) > 64 or CARD_LIKE.search(funding_source):
        raise LedgerError("invalid_funding_source")
    reference = clean_reference(reference)
    fingerprint = _fingerprint(
        "deposit", account=account_id, amount=amount, currency=currency, channel=channel,
        funding_source=funding_source, reference=reference,
    )  # fmt: skip
    card = processor = None
    if channel == Channel.CARD:
        processor = processors.card_processor()  # refused up front when none is configured
    with transaction.atomic():
        if channel == Channel.CARD:
            card = card_for_deposit(viewer=actor, public_id=funding_source)
        result = move(
            MoveRequest(
                entry_type=EntryType.DEPOSIT,
                channel=channel,
                amount=amount,
                currency=currency,
                from_system=AccountKind.SETTLEMENT,
                to_public=account_id,
                owner_id=actor.pk,
                owner_side="to",
                kyc_user_id=actor.pk,
                inflow_limits=limits.tier_daily_limits(),
                limit_day=limits.limit_day(),
                shard=secrets.randbelow(limits.system_shards()),
                idempotency_key=key,
                fingerprint=fingerprint,
                created_by_id=actor.pk,
                request_id=get_request_id() or "",
                reference=reference,
                external_reference=funding_source,
                audit=MoveAudit(AuditAction.DEPOSIT, actor, request, {"channel": channel, "status": "pending"}),
                pending=True,
                expires_at=timezone.now() + limits.pending_deposit_lifetime(),
            )
        )
    # After commit: a new card deposit goes to the processor (never inside the transaction).
    if result.replayed:
        result.extra["status"] = settlement.status_of(result.entry_public_id)
    elif card is not None:
        result.extra["status"] = settlement.card_deposit_authorise(
            processor=processor, entry_public_id=result.entry_public_id, card=card, amount=amount, currency=currency
        )
    else:
        result.extra["status"] = "pending"
    return result


@counted("withdrawal")
def withdrawal_create(
    *,
    actor: User,
    account: uuid.UUID | str,
    bank_account: uuid.UUID | str,
    amount: int,
    currency: str,
    idempotency_key: str,
    reference: str = "",
    request: HttpRequest | None = None,
) -> MoveResult:
    """Money out to the actor's own verified bank account: a *pending* movement, wallet → settlement.

    The amount leaves the available balance at once (``pending_debits``), so it cannot be spent
    twice; the posted balance changes only when the bank confirms the payout (signed
    ``payout.paid``, or two operations users against a statement line). A failed payout voids it:
    the money is available again. Pending withdrawals do not expire (the bank may still pay).
    """
    amount, currency = validate_amount(amount), validate_currency(currency)
    key, account_id, bank_id = validate_idempotency_key(idempotency_key), _as_uuid(account), _as_uuid(bank_account)
    reference = clean_reference(reference)
    fingerprint = _fingerprint(
        "withdrawal", account=account_id, bank_account=bank_id, amount=amount, currency=currency, reference=reference
    )
    with transaction.atomic():
        payout = BankAccount.objects.filter(public_id=bank_id, owner=actor).only("pk", "verified").first()
        if payout is None:
            raise LedgerError("not_found")
        if not payout.verified:
            raise LedgerError("bank_account_not_verified")
        result = move(
            MoveRequest(
                entry_type=EntryType.WITHDRAWAL,
                channel=Channel.BANK_PAYOUT,
                amount=amount,
                currency=currency,
                from_public=account_id,
                to_system=AccountKind.SETTLEMENT,
                owner_id=actor.pk,
                owner_side="from",
                kyc_user_id=actor.pk,
                tier_limits=limits.tier_daily_limits(),
                limit_day=limits.limit_day(),
                shard=secrets.randbelow(limits.system_shards()),
                idempotency_key=key,
                fingerprint=fingerprint,
                created_by_id=actor.pk,
                request_id=get_request_id() or "",
                reference=reference,
                external_reference=str(bank_id),
                audit=MoveAudit(
                    AuditAction.WITHDRAW, actor, request, {"bank_account": str(bank_id), "status": "pending"}
                ),
                pending=True,
            )
        )
    result.extra["status"] = settlement.status_of(result.entry_public_id) if result.replayed else "pending"
    return result


@counted("transfer")
def transfer_create(
    *,
    actor: User,
    source_account: uuid.UUID | str,
    destination_account: uuid.UUID | str,
    amount: int,
    currency: str,
    idempotency_key: str,
    reference: str = "",
    request: HttpRequest | None = None,
) -> MoveResult:
    """Wallet to wallet. The source must be the actor's own wallet (otherwise: not found)."""
    amount, currency = validate_amount(amount), validate_currency(currency)
    key = validate_idempotency_key(idempotency_key)
    source, destination = _as_uuid(source_account), _as_uuid(destination_account)
    reference = clean_reference(reference)
    fingerprint = _fingerprint(
        "transfer", source=source, destination=destination, amount=amount, currency=currency, reference=reference
    )
    with movement_atomic(single_statement=True):
        result = move(
            MoveRequest(
                entry_type=EntryType.TRANSFER,
                channel=Channel.INTERNAL,
                amount=amount,
                currency=currency,
                from_public=source,
                to_public=destination,
                owner_id=actor.pk,
                owner_side="from",
                to_wallet_only=True,
                kyc_user_id=actor.pk,
                tier_limits=limits.tier_daily_limits(),
                limit_day=limits.limit_day(),
                idempotency_key=key,
                fingerprint=fingerprint,
                created_by_id=actor.pk,
                request_id=get_request_id() or "",
                reference=reference,
                audit=MoveAudit(AuditAction.TRANSFER, actor, request),
            )
        )
    return result


@counted("transfer")
def transfer_batch_create(
    *, actor: User, transfers: Sequence[Mapping[str, Any]], request: HttpRequest | None = None
) -> list[MoveResult]:
    """Many wallet-to-wallet transfers of one customer, all or nothing (a bulk payment).

    Each item is what ``transfer_create`` takes (``source_account``, ``destination_account``,
    ``amount``, ``currency``, ``reference``, ``idempotency_key``) and is checked the same way:
    own source wallet, KYC, the daily limit (counted across the batch, in item order), funds,
    idempotency (an item whose key was used for the same transfer, alone or in a batch, is
    replayed; for a different one the batch is refused). Items are applied in order; if any is
    refused, ``LedgerError.item`` names it and nothing of the batch is kept. One audit record
    (TRANSFER) per new item, in the same transaction. On PostgreSQL the whole batch is one
    statement (ledger_transfer_batch), which is why bulk submission is the fast path.
    """
    if not isinstance(transfers, Sequence) or isinstance(transfers, (str, bytes)):
        raise LedgerError("invalid_batch")
    if not 1 <= len(transfers) <= limits.transfer_batch_max():
        raise LedgerError("invalid_batch")
    items: list[BatchItem] = []
    keys: set[str] = set()
    for index, transfer in enumerate(transfers):
        try:
            items.append(_batch_item(transfer))
        except LedgerError as error:
            raise LedgerError(error.code, item=index) from None
        if items[-1].idempotency_key in keys:
            raise LedgerError("duplicate_idempotency_key", item=index)
        keys.add(items[-1].idempotency_key)
    # The batch is the only statement on PostgreSQL; the ORM loop needs its own transaction.
    with movement_atomic(single_statement=True):
        return move_batch(
            BatchRequest(
                actor_id=actor.pk,
                items=tuple(items),
                tier_limits=limits.tier_daily_limits(),
                limit_day=limits.limit_day(),
                request_id=get_request_id() or "",
                audit=MoveAudit(AuditAction.TRANSFER, actor, request),
            )
        )


def _batch_item(transfer: Mapping[str, Any]) -> BatchItem:
    if not isinstance(transfer, Mapping):
        raise LedgerError("invalid_batch")
    amount, currency = validate_amount(transfer.get("amount")), validate_currency(transfer.get("currency"))
    key = validate_idempotency_key(transfer.get("idempotency_key"))
    source, destination = _as_uuid(transfer.get("source_account")), _as_uuid(transfer.get("destination_account"))
    reference = clean_reference(transfer.get("reference") or "")
    fingerprint = _fingerprint(
        "transfer", source=source, destination=destination, amount=amount, currency=currency, reference=reference
    )
    return BatchItem(source, destination, amount, currency, key, fingerprint, reference)


def _reversible(actor: User, entry_id: uuid.UUID, *, also_own: Sequence[Any] = ()) -> JournalEntry:
    """The entry to reverse, checked: it exists, is posted, is no reversal, and is not the actor's own
    (an entry on their account or one they created; ``also_own``: more work of theirs, e.g. the request)."""
    original = JournalEntry.objects.filter(public_id=entry_id).first()
    if original is None:
        raise LedgerError("not_found")
    if original.entry_type == EntryType.REVERSAL:
        raise LedgerError("not_reversible")
    if original.pending:
        raise LedgerError("pending_not_reversible")
    owners = [p.account.owner_id for p in original.postings.select_related("account")]
    # Segregation of duties: not an entry on one's own account, nor one of one's own entries.
    require_not_own(actor, [*owners, original.created_by_id, *also_own], "reverse an entry")
    return original


def _reverse(original: JournalEntry, *, actor: User, reason: str, request: HttpRequest | None) -> MoveResult:
    legs = {p.amount > 0: p.account.public_id for p in original.postings.select_related("account")}
    return move(
        MoveRequest(
            entry_type=EntryType.REVERSAL,
            channel=original.channel,
            amount=original.amount,
            currency=original.currency,
            from_public=legs[True],
            to_public=legs[False],
            created_by_id=actor.pk,
            fingerprint=_fingerprint("reversal", entry=original.public_id),
            request_id=get_request_id() or "",
            reference=reason,
            reverses_id=original.pk,
            audit=MoveAudit(AuditAction.REVERSAL, actor, request, {"reverses": str(original.public_id)}),
        )
    )


def needs_four_eyes(entry: JournalEntry) -> bool:
    return entry.amount >= settings.LEDGER_REVERSAL_FOUR_EYES_MINOR_UNITS


@counted("reversal")
def reversal_create(
    *, actor: User, entry: uuid.UUID | str, reason: str, request: HttpRequest | None = None
) -> MoveResult:
    """Operations staff undo an entry with a reversing entry (the original stays, insert-only).

    The money goes back exactly the way it came; a customer wallet may not go negative, so
    reversing a transfer whose recipient already spent the money is refused (insufficient_funds).
    Reversing twice is impossible (unique constraint on ``reverses``). An entry of at least
    ``LEDGER_REVERSAL_FOUR_EYES_MINOR_UNITS`` needs four eyes (``reversal_request`` then
    ``reversal_approve`` by someone else): refused here with ``four_eyes_required``.
    """
    require_permission(actor, "ledger.reverse_entry", "Only operations staff may reverse entries.", through_role=True)
    reason = clean_reference(reason)
    if not reason:
        raise LedgerError("reason_required")
    entry_id = _as_uuid(entry)
    with transaction.atomic():
        original = _reversible(actor, entry_id)
        if needs_four_eyes(original):
            raise LedgerError("four_eyes_required")
        return _reverse(original, actor=actor, reason=reason, request=request)


def reversal_request(
    *, actor: User, entry: uuid.UUID | str, reason: str, request: HttpRequest | None = None
) -> ReversalRequest:
    """The first pair of eyes: ask for a reversal that a different operations user must approve."""
    require_permission(actor, "ledger.reverse_entry", "Only operations staff may request reversals.")
    reason = clean_reference(reason)[:255]
    if not reason:
        raise LedgerError("reason_required")
    with transaction.atomic():
        original = _reversible(actor, _as_uuid(entry))
        if JournalEntry.objects.filter(reverses=original).exists():
            raise LedgerError("already_reversed")
        try:
            with transaction.atomic():
                pending = ReversalRequest.objects.create(entry=original, reason=reason, requested_by=actor)
        except IntegrityError:
            raise LedgerError("reversal_already_requested") from None
        audit_record(
            action=AuditAction.REVERSAL_REQUESTED,
            actor=actor,
            object_type="ledger.JournalEntry",
            object_id=str(original.public_id),
            change_diff={"request": str(pending.public_id), "amount": original.amount, "currency": original.currency},
            request=request,
        )
    return pending


def reversal_approve(
    *, actor: User, reversal_request: uuid.UUID | str, request: HttpRequest | None = None
) -> ReversalRequest:
    """The second pair of eyes: a different operations user approves, and the reversal is posted
    (``.reversal`` on the answer)."""
    require_permission(actor, "ledger.reverse_entry", "Only operations staff may approve reversals.")
    with transaction.atomic():
        pending = ReversalRequest.objects.select_for_update().filter(public_id=_as_uuid(reversal_request)).first()
        if pending is None:
            raise LedgerError("not_found")
        if pending.approved_at is not None:
            raise LedgerError("reversal_request_decided")
        # Whoever asked cannot approve: the request is their own work.
        original = _reversible(actor, pending.entry.public_id, also_own=[pending.requested_by_id])
        result = _reverse(original, actor=actor, reason=pending.reason, request=request)
        pending.approved_by, pending.approved_at = actor, timezone.now()
        pending.reversal = JournalEntry.objects.get(public_id=result.entry_public_id)
        pending.save(update_fields=["approved_by", "approved_at", "reversal"])
        LEDGER_OPERATIONS.labels("reversal", "replayed" if result.replayed else "created").inc()
        audit_record(
            action=AuditAction.REVERSAL_APPROVED,
            actor=actor,
            object_type="ledger.JournalEntry",
            object_id=str(original.public_id),
            change_diff={"request": str(pending.public_id), "requested_by": str(pending.requested_by.public_id)},
            request=request,
        )
    return pending


# --- wallets, KYC, bank accounts ----------------------------------------------------------------------


def wallet_ensure(*, owner: User, currency: str = "ZAR") -> LedgerAccount:
    """The owner's wallet in ``currency``, created if missing (unique constraint decides races)."""
    validate_currency(currency)
    wallet = LedgerAccount.objects.filter(owner=owner, kind=AccountKind.CUSTOMER_WALLET, currency=currency).first()
    if wallet is None:
        LedgerAccount.objects.bulk_create(
            [LedgerAccount(owner=owner, kind=AccountKind.CUSTOMER_WALLET, currency=currency)], ignore_conflicts=True
        )
        wallet = LedgerAccount.objects.get(owner=owner, kind=AccountKind.CUSTOMER_WALLET, currency=currency)
    return wallet


def kyc_submit(
    *,
    actor: User,
    id_number: str,
    date_of_birth: dt.date,
    document_reference: str,
    request: HttpRequest | None = None,
) -> KycRecord:
    """A customer submits (or, after a rejection, resubmits) identity details for verification."""
    if not is_valid_sa_id(id_number, date_of_birth) or date_of_birth >= timezone.now().date():
        raise LedgerError("invalid_id_number")
    with transaction.atomic():
        KycRecord.objects.bulk_create(
            [
                KycRecord(
                    user=actor, id_number=id_number, date_of_birth=date_of_birth, document_reference=document_reference
                )
            ],
            ignore_conflicts=True,
        )
        record = KycRecord.objects.select_for_update().get(user=actor)
        if record.status == KycStatus.VERIFIED:
            raise LedgerError("kyc_already_verified")
        record.id_number, record.date_of_birth = id_number, date_of_birth
        record.document_reference = document_reference
        record.status, record.tier, record.submitted_at = KycStatus.PENDING, 0, timezone.now()
        record.decided_by, record.decided_at, record.reason = None, None, ""
        record.save()
        audit_record(
            action=AuditAction.KYC_SUBMITTED,
            actor=actor,
            object_type="ledger.KycRecord",
            object_id=str(record.public_id),
            change_diff={"status": record.status},
            request=request,
        )
        _kyc_duplicate_flag(record, request=request)
    return record


def _kyc_duplicate_flag(record: KycRecord, *, request: HttpRequest | None) -> None:
    """Flag (or, for a resubmission with another number, unflag) a submission whose ID number is
    already verified on another account. Any earlier clearance is void: it was for other details."""
    identity_lock(record.id_number_index)
    matches = verified_elsewhere(record)
    record.duplicate_flagged_at = timezone.now() if matches else None
    record.duplicate_cleared_by, record.duplicate_cleared_at, record.duplicate_cleared_reason = None, None, ""
    record.save(
        update_fields=[
            "duplicate_flagged_at",
            "duplicate_cleared_by",
            "duplicate_cleared_at",
            "duplicate_cleared_reason",
            "updated_at",
        ]
    )
    if matches:
        audit_record(
            action=AuditAction.KYC_DUPLICATE_FLAGGED,
            actor=None,
            object_type="ledger.KycRecord",
            object_id=str(record.public_id),
            change_diff={"verified_on_other_accounts": matches},
            request=request,
        )


# KYC at this tier or above needs a second operations user (issue 15, segregation of duties).
KYC_FOUR_EYES_TIER = 2


def _kyc_locked(record: uuid.UUID | str, *, actor: User, duty: str, also_own: Sequence[str] = ()) -> KycRecord:
    """The submission, locked for a staff duty in the caller's transaction; refused (403) when the
    actor is its customer or the user named by any ``also_own`` field (segregation of duties)."""
    kyc = KycRecord.objects.select_for_update().filter(public_id=_as_uuid(record)).first()
    if kyc is None:
        raise LedgerError("not_found")
    require_not_own(actor, [kyc.user_id, *(getattr(kyc, name) for name in also_own)], duty)
    return kyc


def kyc_decide(
    *,
    actor: User,
    record: uuid.UUID | str,
    verify: bool,
    tier: int = 1,
    reason: str = "",
    request: HttpRequest | None = None,
) -> KycRecord:
    """Operations verify (with a tier) or reject a pending submission; verifying opens the wallet.

    Verifying at tier ``KYC_FOUR_EYES_TIER`` or above is four eyes: this call records the request
    (the record stays pending, ``awaiting_approval``; audited KYC_VERIFY step "approval_requested")
    and a *different* operations user approves or rejects it with ``kyc_approve``. Tier 1 and
    rejections are one step; a submission awaiting approval is decided only through ``kyc_approve``.
    """
    require_permission(
        actor, "ledger.decide_kyc", "Only operations staff may decide KYC submissions.", through_role=True
    )
    if verify and tier not in limits.KYC_TIERS:
        raise LedgerError("invalid_tier")
    with transaction.atomic():
        kyc = _kyc_locked(record, actor=actor, duty="decide a KYC submission")
        if kyc.status != KycStatus.PENDING:
            raise LedgerError("kyc_not_pending")
        if kyc.awaiting_approval:
            raise LedgerError("kyc_awaiting_approval")
        if verify:
            _kyc_verifiable(kyc)
        if verify and tier >= KYC_FOUR_EYES_TIER:
            kyc.approval_requested_by, kyc.approval_requested_at = actor, timezone.now()
            kyc.requested_tier, kyc.reason = tier, clean_reference(reason)[:255]
            kyc.save(
                update_fields=[
                    "approval_requested_by",
                    "approval_requested_at",
                    "requested_tier",
                    "reason",
                    "updated_at",
                ]
            )
            audit_record(
                action=AuditAction.KYC_VERIFY,
                actor=actor,
                object_type="ledger.KycRecord",
                object_id=str(kyc.public_id),
                change_diff={
                    "status": kyc.status,
                    "step": "approval_requested",
                    "tier": tier,
                    "customer": str(kyc.user.public_id),
                },
                request=request,
            )
            return kyc
        _kyc_settle(kyc, actor=actor, verify=verify, tier=tier, reason=reason, request=request)
    return kyc


def kyc_approve(
    *,
    actor: User,
    record: uuid.UUID | str,
    approve: bool,
    reason: str = "",
    request: HttpRequest | None = None,
) -> KycRecord:
    """The second pair of eyes on a tier >= 2 verification: a different operations user approves
    (verified at the requested tier, the wallet opens) or rejects it. Neither the requester nor the
    customer may give it (``require_not_own``); audited KYC_VERIFY with the step and the requester."""
    require_permission(
        actor, "ledger.decide_kyc", "Only operations staff may approve KYC decisions.", through_role=True
    )
    with transaction.atomic():
        kyc = _kyc_locked(record, actor=actor, duty="approve a KYC decision", also_own=("approval_requested_by_id",))
        if not kyc.awaiting_approval:
            raise LedgerError("kyc_no_approval_request")
        if approve:
            _kyc_verifiable(kyc)
        requested_by = kyc.approval_requested_by
        _kyc_settle(
            kyc,
            actor=actor,
            verify=approve,
            tier=kyc.requested_tier or KYC_FOUR_EYES_TIER,
            reason=reason or kyc.reason,
            request=request,
            step="approved" if approve else "rejected",
            requested_by=str(requested_by.public_id) if requested_by else "",
        )
    return kyc


def _kyc_verifiable(kyc: KycRecord) -> None:
    """Refuse verifying an invalid or duplicate identity (under the identity lock)."""
    if not is_valid_sa_id(kyc.id_number, kyc.date_of_birth):
        raise LedgerError("invalid_id_number")
    # Re-checked under the identity lock: another account may have been verified with the
    # same number since this one was submitted.
    identity_lock(kyc.id_number_index)
    if kyc.duplicate_blocks_approval or (kyc.duplicate_cleared_at is None and verified_elsewhere(kyc)):
        raise LedgerError("kyc_duplicate_identity")


def _kyc_settle(
    kyc: KycRecord,
    *,
    actor: User,
    verify: bool,
    tier: int,
    reason: str,
    request: HttpRequest | None,
    step: str = "",
    requested_by: str = "",
) -> None:
    kyc.status = KycStatus.VERIFIED if verify else KycStatus.REJECTED
    kyc.tier = tier if verify else 0
    kyc.decided_by, kyc.decided_at, kyc.reason = actor, timezone.now(), clean_reference(reason)[:255]
    kyc.save(update_fields=["status", "tier", "decided_by", "decided_at", "reason", "updated_at"])
    if verify:
        wallet_ensure(owner=kyc.user)
    diff: dict[str, Any] = {"status": kyc.status, "tier": kyc.tier, "customer": str(kyc.user.public_id)}
    if step:
        diff |= {"step": step, "requested_by": requested_by}
    audit_record(
        action=AuditAction.KYC_VERIFY,
        actor=actor,
        object_type="ledger.KycRecord",
        object_id=str(kyc.public_id),
        change_diff=diff,
        request=request,
    )


def kyc_duplicate_clear(
    *, actor: User, record: uuid.UUID | str, reason: str, request: HttpRequest | None = None
) -> KycRecord:
    """A reviewer (operations) explicitly clears the duplicate-identity flag of a pending
    submission, with a reason, after checking the other account(s) (e.g. a re-registration of the
    same person). Only then can the submission be verified."""
    require_permission(
        actor, "ledger.decide_kyc", "Only operations staff may clear a duplicate-identity flag.", through_role=True
    )
    reason = clean_reference(reason)[:255]
    if not reason:
        raise LedgerError("reason_required")
    with transaction.atomic():
        kyc = _kyc_locked(record, actor=actor, duty="clear a duplicate-identity flag")
        if kyc.status != KycStatus.PENDING:
            raise LedgerError("kyc_not_pending")
        identity_lock(kyc.id_number_index)
        if kyc.duplicate_flagged_at is None and not verified_elsewhere(kyc):
            raise LedgerError("kyc_not_flagged")
        now = timezone.now()
        kyc.duplicate_flagged_at = kyc.duplicate_flagged_at or now
        kyc.duplicate_cleared_by, kyc.duplicate_cleared_at, kyc.duplicate_cleared_reason = actor, now, reason
        kyc.save(
            update_fields=[
                "duplicate_flagged_at",
                "duplicate_cleared_by",
                "duplicate_cleared_at",
                "duplicate_cleared_reason",
                "updated_at",
            ]
        )
        audit_record(
            action=AuditAction.KYC_DUPLICATE_CLEARED,
            actor=actor,
            object_type="ledger.KycRecord",
            object_id=str(kyc.public_id),
            change_diff={"customer": str(kyc.user.public_id)},
            request=request,
        )
    return kyc


def bank_account_add(
    *,
    actor: User,
    bank_name: str,
    branch_code: str,
    account_number: str,
    request: HttpRequest | None = None,
) -> BankAccount:
    """A customer registers a payout account; it needs operations verification before use."""
    with transaction.atomic():
        try:
            # The unique (owner, blind index) constraint decides a duplicate, race-free.
            with transaction.atomic():
                bank = BankAccount.objects.create(
                    owner=actor, bank_name=bank_name, branch_code=branch_code, account_number=account_number
                )
        except IntegrityError as exc:
            raise LedgerError("bank_account_duplicate") from exc
        # The same account number on another customer's profile is a fraud signal for operations
        # (mule accounts); the blind index answers without decrypting anyone's number.
        elsewhere = (
            BankAccount.objects.filter(account_number_index__matches=account_number).exclude(owner=actor).exists()
        )
        audit_record(
            action=AuditAction.BANK_ACCOUNT_ADDED,
            actor=actor,
            object_type="ledger.BankAccount",
            object_id=str(bank.public_id),
            change_diff={"bank_name": bank_name, "verified": False, "registered_by_another_customer": elsewhere},
            request=request,
        )
    return bank


def bank_account_verify(
    *, actor: User, bank_account: uuid.UUID | str, request: HttpRequest | None = None
) -> BankAccount:
    require_permission(
        actor, "ledger.verify_bankaccount", "Only operations staff may verify bank accounts.", through_role=True
    )
    with transaction.atomic():
        bank = BankAccount.objects.select_for_update().filter(public_id=_as_uuid(bank_account)).first()
        if bank is None:
            raise LedgerError("not_found")
        require_not_own(actor, bank.owner_id, "verify a bank account")
        if not bank.verified:
            bank.verified, bank.verified_by, bank.verified_at = True, actor, timezone.now()
            bank.save(update_fields=["verified", "verified_by", "verified_at"])
            audit_record(
                action=AuditAction.BANK_ACCOUNT_VERIFIED,
                actor=actor,
                object_type="ledger.BankAccount",
                object_id=str(bank.public_id),
                change_diff={"verified": True},
                request=request,
            )
    return bank


# --- a deletion request's money (compliance.dsar.balances, registered in LedgerConfig.ready) -----------


def wallet_balances_of(subject: User) -> list[Balance]:
    """The subject's wallets as the deletion sees them: available and in-flight money per wallet."""
    return [
        Balance(
            holder="ledger",
            account=str(wallet.public_id),
            currency=wallet.currency,
            available=wallet.balance - wallet.pending_debits,
            pending=wallet.pending_debits + wallet.pending_credits,
        )
        for wallet in LedgerAccount.objects.filter(owner=subject, kind=AccountKind.CUSTOMER_WALLET).order_by("pk")
    ]


def wallets_settle_for_deletion(
    *, actor: User, subject: User, method: str, reference: str, request: HttpRequest | None = None
) -> list[Settlement]:
    """Empty the subject's wallets before their deletion, as the information officer chose.

    - ``payout``: a *pending* withdrawal of each wallet's available money to the subject's most
      recently verified bank account (ADR 0005: it posts when the bank confirms, as any payout);
      refused with ``no_verified_bank_account`` when there is none.
    - ``unclaimed``: a posted entry moving each wallet's available money to the unclaimed-funds
      liability account (a system account), audited UNCLAIMED_FUNDS_MOVED; reversing that entry
      (``reversal_create``) gives the money back if the person claims it.

    Money in flight (a pending deposit or payout) cannot be settled: ``balance_pending``. Runs in the
    caller's transaction (the DSAR action's): the movements and the request's record commit together.
    The actor is an information officer, never the subject (segregation of duties, checked by the
    DSAR workflow); KYC tier limits do not apply: this is the account's closure, not the customer
    moving money.
    """
    wallets = list(LedgerAccount.objects.filter(owner=subject, kind=AccountKind.CUSTOMER_WALLET).order_by("pk"))
    if any(wallet.pending_debits or wallet.pending_credits for wallet in wallets):
        raise SettlementRefused(
            "balance_pending", "Money is in flight (a pending deposit or payout): wait until it settles."
        )
    bank = None
    if method == SettlementMethod.PAYOUT:
        bank = (
            BankAccount.objects.filter(owner=subject, verified=True)
            .order_by("-verified_at", "-pk")
            .only("public_id")
            .first()
        )
        if bank is None:
            raise SettlementRefused(
                "no_verified_bank_account",
                "The subject has no verified bank account: verify one first, or move the money to unclaimed funds.",
            )
    elif method != SettlementMethod.UNCLAIMED:
        raise SettlementRefused("invalid_settlement_method", "Unknown settlement method.")
    done = []
    for wallet in wallets:
        amount = wallet.balance - wallet.pending_debits
        if amount <= 0:
            continue
        common: dict[str, Any] = {
            "amount": amount,
            "currency": wallet.currency,
            "from_public": wallet.public_id,
            "owner_id": subject.pk,
            "owner_side": "from",
            "created_by_id": actor.pk,
            "request_id": get_request_id() or "",
            "reference": clean_reference(reference),
            "fingerprint": _fingerprint("deletion-settlement", account=wallet.public_id, amount=amount, method=method),
        }
        try:
            if bank is not None:
                result = move(
                    MoveRequest(
                        entry_type=EntryType.WITHDRAWAL,
                        channel=Channel.BANK_PAYOUT,
                        to_system=AccountKind.SETTLEMENT,
                        shard=secrets.randbelow(limits.system_shards()),
                        external_reference=str(bank.public_id),
                        audit=MoveAudit(
                            AuditAction.WITHDRAW,
                            actor,
                            request,
                            {"bank_account": str(bank.public_id), "status": "pending", "closing": True},
                        ),
                        pending=True,
                        **common,
                    )
                )
            else:
                result = move(
                    MoveRequest(
                        entry_type=EntryType.TRANSFER,
                        channel=Channel.INTERNAL,
                        to_system=AccountKind.UNCLAIMED,
                        audit=MoveAudit(AuditAction.UNCLAIMED_FUNDS_MOVED, actor, request, {"closing": True}),
                        **common,
                    )
                )
        except LedgerError as error:
            raise SettlementRefused(error.code, error.message) from error
        done.append(
            Settlement(
                method=str(method),
                account=str(wallet.public_id),
                amount=amount,
                currency=wallet.currency,
                entry=str(result.entry_public_id),
            )
        )
    return done


# --- Corrections (POPIA s24): applied for an approved DSAR by the handlers ledger/apps.py registers --
def kyc_date_of_birth_correct(*, actor: User, subject: User, date_of_birth: str, reference: str) -> KycRecord:
    """Correct the date of birth on the subject's KYC record. It must agree with the ID number on
    record (an SA ID number encodes the date of birth); the audit record masks before and after."""
    require_permission(actor, "compliance.process_dsar", "Only an information officer may apply a correction.")
    try:
        new = dt.date.fromisoformat(date_of_birth.strip())
    except ValueError as exc:
        raise LedgerError("invalid_date_of_birth") from exc
    with transaction.atomic():
        record = KycRecord.objects.select_for_update().filter(user=subject).first()
        if record is None:
            raise LedgerError("not_found")
        require_not_own(actor, record.user_id, "correct a KYC record")
        if new >= timezone.now().date() or not is_valid_sa_id(record.id_number, new):
            raise LedgerError("invalid_date_of_birth")
        before = {"date_of_birth": record.date_of_birth}
        record.date_of_birth = new
        record.save(update_fields=["date_of_birth", "updated_at"])
        audit_record(
            action=AuditAction.PI_CORRECTED,
            actor=actor,
            object_type="ledger.KycRecord",
            object_id=str(record.public_id),
            change_diff={
                **build_change_diff(model=KycRecord, before=before, after={"date_of_birth": new}, subject=record.user),
                "correction_request": reference,
            },
        )
    return record


BANK_CORRECTIONS = {
    "bank_account_number": "account_number",
    "bank_name": "bank_name",
    "bank_branch_code": "branch_code",
}


def bank_account_correct(*, actor: User, subject: User, changes: Mapping[str, str], reference: str) -> BankAccount:
    """Correct the subject's payout account (their only one: with several, the officer asks which
    and the subject removes the wrong one). A corrected account is unverified again: operations
    verify it before any payout. The audit record masks before and after."""
    require_permission(actor, "compliance.process_dsar", "Only an information officer may apply a correction.")
    values = {BANK_CORRECTIONS[name]: value.strip() for name, value in changes.items() if name in BANK_CORRECTIONS}
    if "account_number" in values and not re.fullmatch(r"[0-9]{6,20}", values["account_number"]):
        raise LedgerError("invalid_bank_account")
    if "branch_code" in values and not re.fullmatch(r"[0-9]{6}", values["branch_code"]):
        raise LedgerError("invalid_bank_account")
    if "bank_name" in values and not 1 <= len(values["bank_name"]) <= 80:
        raise LedgerError("invalid_bank_account")
    with transaction.atomic():
        accounts = list(BankAccount.objects.select_for_update().filter(owner=subject))
        if len(accounts) != 1:
            raise LedgerError("bank_account_ambiguous" if accounts else "not_found")
        (bank,) = accounts
        require_not_own(actor, bank.owner_id, "correct a bank account")
        before = {name: getattr(bank, name) for name in values}
        for name, value in values.items():
            setattr(bank, name, value)
        bank.verified, bank.verified_by, bank.verified_at = False, None, None
        try:
            with transaction.atomic():
                bank.save()  # the blind index of the number follows it
        except IntegrityError as exc:
            raise LedgerError("bank_account_duplicate") from exc
        audit_record(
            action=AuditAction.PI_CORRECTED,
            actor=actor,
            object_type="ledger.BankAccount",
            object_id=str(bank.public_id),
            change_diff={
                **build_change_diff(model=BankAccount, before=before, after=values, subject=bank.owner),
                "verified": False,
                "correction_request": reference,
            },
        )
    return bank

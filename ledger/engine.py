"""The posting engine: one two-leg money movement, atomically, idempotently, race-free.

Two implementations of the same algorithm (see the header of migration 0002 for the steps):
- ``_move_plpgsql``: PostgreSQL. One round trip to the ``ledger_move`` function.
- ``_move_orm``: any database (the SQLite dev profile). The same steps as ORM statements.
tests/ledger/test_engine_parity.py runs both on PostgreSQL and asserts identical outcomes.

The movement's audit record (``MoveRequest.audit``) is written by the engine, with the postings:
inside ledger_move on PostgreSQL (migration 0006: no extra round trip), by
``compliance.audit.audit_record`` on the ORM path. Both write the same columns and the same diff
(tests/ledger/test_audit_in_function.py); a replay writes none.

Callers (ledger/services.py) run the engine inside ``movement_atomic()``: the engine's writes, the
audit record and the idempotency row commit or roll back together. A refused movement raises
``LedgerError`` and nothing is kept.

Two-phase movements (deposits and withdrawals, ADR 0005): ``MoveRequest.pending`` inserts the
entry and its postings flagged pending and changes only the accounts' pending totals; it runs the
ORM steps on every database (same locks, same order). ``resolve_pending`` later posts it (a new
entry with posted postings) or voids it, exactly once (``PendingResolution`` is unique per entry).
Funds are always checked on the available balance: posted balance minus pending debits.

Bulk transfers (``move_batch``): many wallet-to-wallet transfers of one customer, all or nothing.
On PostgreSQL one call to ``ledger_transfer_batch`` (migration 0008: one statement, one commit,
locks taken once in primary-key order after the idempotency claims); elsewhere a loop over
``move`` inside the caller's transaction. Either way the outcome per item is what the same
transfers sent one by one would give, except that a refused item refuses the whole batch.

Concurrency (READ COMMITTED): the two accounts are locked once, in primary-key order, with
``SELECT ... FOR NO KEY UPDATE`` (``lock_accounts``; ledger_move does the same in SQL). The
no-key lock does not conflict with the KEY SHARE locks the posting foreign keys take, and ordered
locking means two movements over the same pair can wait for each other but never deadlock.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import uuid
from dataclasses import dataclass, field
from typing import Any, cast

import psycopg
from django.conf import settings
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.backends.postgresql.psycopg_any import register_tzloader
from django.db.models import F
from django.http import HttpRequest
from django.utils import timezone

from compliance.audit.services import KNOWN_ACTIONS, ActorType, audit_record, scrub_change_diff
from kernel.request_context import client_ip
from kernel.types import Actor
from ledger.exceptions import MESSAGES, LedgerError
from ledger.models import (
    AccountKind,
    Channel,
    EntryType,
    JournalEntry,
    KycRecord,
    KycStatus,
    LedgerAccount,
    Posting,
)

AUDIT_OBJECT_TYPE = "ledger.JournalEntry"


@dataclass(frozen=True)
class MoveAudit:
    """The audit record of a movement: action, who, from where, and diff keys beyond the fixed four.

    The diff of every movement is ``{amount, currency, from_account, to_account, **extra}``; the
    engine fills the fixed four once it knows both accounts.
    """

    action: str
    actor: Actor | None  # None: the system acted (a settlement, an expiry)
    request: HttpRequest | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class MoveRequest:
    entry_type: str
    channel: str
    amount: int
    currency: str
    from_public: uuid.UUID | None = None
    from_system: str | None = None
    to_public: uuid.UUID | None = None
    to_system: str | None = None
    # The customer whose own wallet one side must be ("from"/"to"), or no ownership rule (None).
    owner_id: int | None = None
    owner_side: str | None = None
    to_wallet_only: bool = False
    kyc_user_id: int | None = None
    tier_limits: list[int] | None = None
    limit_day: dt.date | None = None
    shard: int = 0
    idempotency_key: str | None = None
    fingerprint: str = ""
    created_by_id: int | None = None
    request_id: str = ""
    reference: str = ""
    external_reference: str = ""
    reverses_id: int | None = None
    audit: MoveAudit | None = None
    # Two-phase (ADR 0005): a pending movement changes pending totals only, on every database
    # through the ORM steps below; ``inflow_limits`` caps the credited wallet's daily inflow by tier.
    pending: bool = False
    expires_at: dt.datetime | None = None
    inflow_limits: list[int] | None = None


@dataclass(frozen=True)
class MoveResult:
    entry_id: int
    entry_public_id: uuid.UUID
    created_at: dt.datetime
    replayed: bool
    from_public: uuid.UUID
    to_public: uuid.UUID
    from_balance_after: int
    to_balance_after: int
    extra: dict = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class BatchItem:
    """One transfer of a batch: validated, with its fingerprint (same as a single transfer's)."""

    source: uuid.UUID
    destination: uuid.UUID
    amount: int
    currency: str
    idempotency_key: str
    fingerprint: str
    reference: str = ""


@dataclass(frozen=True)
class BatchRequest:
    actor_id: int
    items: tuple[BatchItem, ...]
    tier_limits: list[int] | None
    limit_day: dt.date | None
    request_id: str = ""
    audit: MoveAudit | None = None


def use_plpgsql() -> bool:
    engine = getattr(settings, "LEDGER_ENGINE", "auto")
    if engine == "orm":
        return False
    if engine == "plpgsql":
        return True
    return connection.vendor == "postgresql"


def move(request: MoveRequest) -> MoveResult:
    """One two-leg movement. Posted movements use ledger_move on PostgreSQL; pending ones (deposits
    and withdrawals, ADR 0005) run the ORM steps on every database: one implementation."""
    if use_plpgsql() and not request.pending:
        return _move_plpgsql(request)
    result = _move_orm(request)
    if request.audit is not None and not result.replayed:
        _audit_orm(request, result)
    return result


def movement_atomic(*, single_statement: bool) -> contextlib.AbstractContextManager:
    """The transaction around one movement.

    On the PL/pgSQL engine a movement whose only statement is the ``ledger_move`` call (resolve,
    idempotency, locks, postings, balances and the audit row all happen inside it) is atomic on
    its own: PostgreSQL runs a single statement in autocommit mode as one transaction, deferred
    constraint triggers included. Wrapping it in BEGIN/COMMIT would add two round trips and
    nothing else, so outside an enclosing atomic block it is sent alone. Any service that issues a
    second statement (a lookup before the move), and the ORM engine, gets ``transaction.atomic``.
    """
    if single_statement and use_plpgsql() and connection.get_autocommit():
        return contextlib.nullcontext()
    return transaction.atomic()


def _audit_columns(audit: MoveAudit) -> tuple[int | None, str, str | None, dict[str, Any]]:
    """(user_id, actor_type, source_ip, scrubbed extra diff), derived exactly as audit_record does."""
    if audit.action not in KNOWN_ACTIONS:
        raise ValueError(f"Unknown audit action {audit.action!r}: add it to AuditAction.")
    actor = audit.actor
    user_pk = getattr(actor, "pk", None) if getattr(actor, "is_authenticated", False) else None
    actor_type = ActorType.USER if user_pk else ActorType.SYSTEM
    source_ip = client_ip(audit.request) if audit.request is not None else None
    return user_pk, str(actor_type), source_ip or None, scrub_change_diff(audit.extra)


def _audit_orm(r: MoveRequest, result: MoveResult) -> None:
    audit = r.audit
    if audit is None:
        return
    audit_record(
        action=audit.action,
        actor=audit.actor,
        object_type=AUDIT_OBJECT_TYPE,
        object_id=str(result.entry_public_id),
        change_diff={
            "amount": r.amount,
            "currency": r.currency,
            "from_account": str(result.from_public),
            "to_account": str(result.to_public),
            **audit.extra,
        },
        request=audit.request,
    )


def lock_accounts(account_ids: list[int]) -> dict[int, LedgerAccount]:
    """Lock the given accounts once, in primary-key order, and return their fresh rows by id.

    The one place Python takes ledger row locks. ``FOR NO KEY UPDATE`` rather than ``FOR UPDATE``:
    balances change, keys never do, and inserting postings (which reference the account) only
    needs KEY SHARE, so the two never block each other.
    """
    rows = LedgerAccount.objects.select_for_update(no_key=True).filter(pk__in=sorted(set(account_ids))).order_by("pk")
    return {row.pk: row for row in rows}


# --- PostgreSQL: one round trip -----------------------------------------------------------------

_MOVE_SQL = (
    "SELECT * FROM ledger_move(%s, %s, %s::bigint, %s, %s::uuid, %s, %s::uuid, %s, %s::bigint, %s, %s::boolean, "
    "%s::bigint, %s::bigint[], %s::date, %s::integer, %s, %s, %s::bigint, %s, %s, %s, %s::bigint, "
    "%s, %s::bigint, %s, %s::inet, %s::jsonb)"
)


def _ledger_code(exc: DatabaseError) -> str | None:
    diag = getattr(exc.__cause__, "diag", None)
    message = getattr(diag, "message_primary", None) or ""
    if not message.startswith("ledger:"):
        return None
    code = message.split(":")[1].strip()
    return code if code in MESSAGES else None


def _ledger_item(exc: DatabaseError) -> int | None:
    """The 0-based batch item a ledger_transfer_batch refusal names (its HINT is 1-based)."""
    hint = getattr(getattr(exc.__cause__, "diag", None), "message_hint", None) or ""
    return int(hint) - 1 if hint.isdigit() else None


def _audit_params(audit: MoveAudit | None) -> list[Any]:
    """The five audit arguments of ledger_move and ledger_transfer_batch (all NULL: no record)."""
    if audit is None:
        return [None, None, None, None, None]
    user_id, actor_type, source_ip, extra = _audit_columns(audit)
    return [audit.action, user_id, actor_type, source_ip, json.dumps(extra)]


class _PreparedCall(psycopg.Cursor):
    """A server-side-binding cursor whose statements are prepared on first use (per connection).

    Django's default cursor binds client-side: every ``ledger_move`` call would quote its 27
    arguments into a new query text that PostgreSQL parses and plans again. The two ledger
    function calls are the hot path's only statements and never change, so they are sent as a
    named prepared statement with their arguments bound separately (the issue-19 A/B in
    docs/BENCHMARKS.md: less client CPU per transfer, the same rows). PostgreSQL re-plans a
    prepared statement by itself when a migration replaces the function.
    """

    def execute(
        self, query: Any, params: Any = None, *, prepare: bool | None = None, binary: bool | None = None
    ) -> Any:
        return super().execute(query, params, prepare=True if prepare is None else prepare, binary=binary)


def _ledger_cursor() -> Any:
    """A Django cursor wrapper (query logging, execute wrappers, error mapping all apply, so
    ``assertNumQueries`` and CaptureQueriesContext still count the call) around ``_PreparedCall``."""
    connection.ensure_connection()
    raw = connection.connection
    if not isinstance(raw, psycopg.Connection):  # not the psycopg 3 backend: Django's own cursor
        return connection.cursor()
    cursor = _PreparedCall(raw)
    loader = raw.adapters.get_loader(psycopg.adapters.types["timestamptz"].oid, psycopg.pq.Format.TEXT)
    if connection.timezone != getattr(loader, "timezone", None):  # as Django's create_cursor does
        register_tzloader(connection.timezone, cursor)
    # What Django's own cursor() does with a new cursor: a debug wrapper when queries are logged.
    connection.validate_thread_sharing()
    raw_cursor = cast(Any, cursor)  # django-stubs type the argument as Django's wrapper; it is the DB-API cursor
    if connection.queries_logged:
        return connection.make_debug_cursor(raw_cursor)
    return connection.make_cursor(raw_cursor)


def _call_ledger_function(sql: str, params: list[Any]) -> list[tuple]:
    """Run one ledger function call; its refusals (``ledger:<code>``) become LedgerError."""
    try:
        with _ledger_cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall()
    except DatabaseError as exc:
        code = _ledger_code(exc)
        if code is None:
            raise
        raise LedgerError(code, item=_ledger_item(exc)) from None


def _move_plpgsql(r: MoveRequest) -> MoveResult:
    params = [
        r.entry_type,
        r.channel,
        r.amount,
        r.currency,
        r.from_public,
        r.from_system,
        r.to_public,
        r.to_system,
        r.owner_id,
        r.owner_side,
        r.to_wallet_only,
        r.kyc_user_id,
        r.tier_limits,
        r.limit_day,
        r.shard,
        r.idempotency_key,
        r.fingerprint,
        r.created_by_id,
        r.request_id,
        r.reference,
        r.external_reference,
        r.reverses_id,
        *_audit_params(r.audit),
    ]
    (row,) = _call_ledger_function(_MOVE_SQL, params)
    return MoveResult(*row)


_BATCH_SQL = (
    "SELECT * FROM ledger_transfer_batch(%s::bigint, %s::uuid[], %s::uuid[], %s::bigint[], %s::text[], "
    "%s::text[], %s::text[], %s::text[], %s::bigint[], %s::date, %s, %s, %s::bigint, %s, %s::inet, %s::jsonb)"
)


def move_batch(request: BatchRequest) -> list[MoveResult]:
    """Every transfer of the batch, or none (LedgerError naming the refused ``item``)."""
    if use_plpgsql():
        return _move_batch_plpgsql(request)
    return _move_batch_orm(request)


def _move_batch_plpgsql(r: BatchRequest) -> list[MoveResult]:
    items = r.items
    params = [
        r.actor_id,
        [item.source for item in items],
        [item.destination for item in items],
        [item.amount for item in items],
        [item.currency for item in items],
        [item.idempotency_key for item in items],
        [item.fingerprint for item in items],
        [item.reference for item in items],
        r.tier_limits,
        r.limit_day,
        r.request_id,
        *_audit_params(r.audit),
    ]
    rows = _call_ledger_function(_BATCH_SQL, params)
    # Row: item (1-based), then the MoveResult columns.
    return [MoveResult(*row[1:]) for row in rows]


def _batch_item_request(r: BatchRequest, item: BatchItem) -> MoveRequest:
    return MoveRequest(
        entry_type=EntryType.TRANSFER,
        channel=Channel.INTERNAL,
        amount=item.amount,
        currency=item.currency,
        from_public=item.source,
        to_public=item.destination,
        owner_id=r.actor_id,
        owner_side="from",
        to_wallet_only=True,
        kyc_user_id=r.actor_id,
        tier_limits=r.tier_limits,
        limit_day=r.limit_day,
        idempotency_key=item.idempotency_key,
        fingerprint=item.fingerprint,
        created_by_id=r.actor_id,
        request_id=r.request_id,
        reference=item.reference,
        audit=r.audit,
    )


def _resolve_batch(r: BatchRequest) -> tuple[dict, dict]:
    """Step 2: every item's source (the actor's own wallet) and destination (a wallet), checked."""
    wallets = LedgerAccount.objects.filter(kind=AccountKind.CUSTOMER_WALLET)
    sources = {a.public_id: a for a in wallets.filter(owner_id=r.actor_id, public_id__in={i.source for i in r.items})}
    destinations = {a.public_id: a for a in wallets.filter(public_id__in={i.destination for i in r.items})}
    checks = {
        "not_found": lambda item, source, destination: source is None or destination is None,
        "currency_mismatch": lambda item, source, destination: (
            source.currency != item.currency or destination.currency != item.currency
        ),
        "same_account": lambda item, source, destination: source.pk == destination.pk,
    }
    # Like the function: every item's accounts first, then currencies, then same-account.
    for code, refused in checks.items():
        for index, item in enumerate(r.items):
            if refused(item, sources.get(item.source), destinations.get(item.destination)):
                raise LedgerError(code, item=index)
    return sources, destinations


def _claim_batch(requests: list[MoveRequest]) -> dict[int, tuple[JournalEntry, bool]]:
    """Steps 3-4: claim every key in key order, before any account lock; used keys replay or refuse."""
    claims = {}
    for index in sorted(range(len(requests)), key=lambda n: requests[n].idempotency_key or ""):
        try:
            claims[index] = _insert_entry(requests[index])
        except LedgerError as error:
            raise LedgerError(error.code, item=index) from None
    return claims


def _move_batch_orm(r: BatchRequest) -> list[MoveResult]:
    """ledger_transfer_batch's steps (migration 0008) as ORM statements, inside the caller's atomic.

    The same rows as the function. One difference in order: since migration 0009 the function
    writes the audit rows with the claims, before locking, to keep its lock span short; here they
    come last, which only matters for throughput (this engine serves SQLite and comparisons).
    """
    requests = [_batch_item_request(r, item) for item in r.items]
    # 1. KYC of the actor; 2. resolve; 3-4. claims (helpers above).
    tiers = KycRecord.objects.filter(user_id=r.actor_id, status=KycStatus.VERIFIED).values_list("tier", flat=True)
    tier = tiers.first()
    if tier is None:
        raise LedgerError("kyc_required")
    sources, destinations = _resolve_batch(r)
    claims = _claim_batch(requests)
    # 5. Lock every account of the new items once, in primary-key order.
    new = [index for index in range(len(r.items)) if claims[index][1]]
    ids = [sources[r.items[n].source].pk for n in new] + [destinations[r.items[n].destination].pk for n in new]
    locked = lock_accounts(ids)
    # 6. Balances in item order, funds and the daily limit on the locked rows.
    results: list[MoveResult | None] = [None] * len(r.items)
    postings, outflow = [], set()
    now = timezone.now()
    for index in range(len(r.items)):
        entry, created = claims[index]
        if not created:
            results[index] = _replay(entry)
            continue
        item, request = r.items[index], requests[index]
        source, destination = locked[sources[item.source].pk], locked[destinations[item.destination].pk]
        try:
            daily = _daily_total(request, source, tier) if r.tier_limits is not None else None
            if not source.allow_negative and source.balance - source.pending_debits < item.amount:
                raise LedgerError("insufficient_funds")
        except LedgerError as error:
            raise LedgerError(error.code, item=index) from None
        source.balance -= item.amount
        destination.balance += item.amount
        if daily is not None:
            source.daily_debit_day, source.daily_debit_total = r.limit_day, daily
            outflow.add(source.pk)
        postings += [
            Posting(entry_id=entry.pk, account_id=source.pk, amount=-item.amount, currency=item.currency,
                    balance_after=source.balance, created_at=now),
            Posting(entry_id=entry.pk, account_id=destination.pk, amount=item.amount, currency=item.currency,
                    balance_after=destination.balance, created_at=now),
        ]  # fmt: skip
        results[index] = MoveResult(
            entry.pk, entry.public_id, entry.created_at, False,
            source.public_id, destination.public_id, source.balance, destination.balance,
        )  # fmt: skip
    # 7. Final balances (and outflow counters), every posting in one statement, the audit records.
    for account in locked.values():
        values: dict[str, Any] = {"balance": account.balance}
        if account.pk in outflow:
            values.update(daily_debit_day=account.daily_debit_day, daily_debit_total=account.daily_debit_total)
        LedgerAccount.objects.filter(pk=account.pk).update(**values)
    Posting.objects.bulk_create(postings)
    done = cast(list[MoveResult], results)  # step 6 filled every item
    if r.audit is not None:
        for index in new:
            _audit_orm(requests[index], done[index])
    return done


# --- Any database: the same steps through the ORM --------------------------------------------------


def system_account(kind: str, currency: str, shard: int) -> LedgerAccount:
    """Find or create one shard of a system account (insert-or-ignore, then read: no race)."""
    lookup = {"owner__isnull": True, "kind": kind, "currency": currency, "shard": shard}
    account = LedgerAccount.objects.filter(**lookup).first()
    if account is None:
        LedgerAccount.objects.bulk_create(
            [LedgerAccount(kind=kind, currency=currency, shard=shard, allow_negative=True)], ignore_conflicts=True
        )
        account = LedgerAccount.objects.get(**lookup)
    return account


def _resolve(public_id: uuid.UUID | None, system: str | None, r: MoveRequest, side: str) -> LedgerAccount | None:
    if system is not None:
        return system_account(system, r.currency, r.shard)
    if public_id is None:
        return None
    queryset = LedgerAccount.objects.filter(public_id=public_id)
    if r.owner_side == side:
        queryset = queryset.filter(owner_id=r.owner_id, kind=AccountKind.CUSTOMER_WALLET)
    if side == "to" and r.to_wallet_only:
        queryset = queryset.filter(kind=AccountKind.CUSTOMER_WALLET)
    return queryset.first()


def _replay(entry: JournalEntry) -> MoveResult:
    postings = list(Posting.objects.filter(entry=entry).select_related("account"))
    debit = next(p for p in postings if p.amount < 0)
    credit = next(p for p in postings if p.amount > 0)
    return MoveResult(
        entry.pk,
        entry.public_id,
        entry.created_at,
        True,
        debit.account.public_id,
        credit.account.public_id,
        debit.balance_after,
        credit.balance_after,
    )


def _insert_entry(r: MoveRequest) -> tuple[JournalEntry, bool]:
    """Insert the entry unless its idempotency key (or reversal target) exists: (entry, created)."""
    entry = JournalEntry(
        public_id=uuid.uuid4(),
        entry_type=r.entry_type,
        channel=r.channel,
        amount=r.amount,
        currency=r.currency,
        reference=r.reference,
        external_reference=r.external_reference,
        reverses_id=r.reverses_id,
        idempotency_key=r.idempotency_key,
        request_fingerprint=r.fingerprint,
        request_id=r.request_id,
        created_by_id=r.created_by_id,
        created_at=timezone.now(),
        pending=r.pending,
        expires_at=r.expires_at,
    )
    JournalEntry.objects.bulk_create([entry], ignore_conflicts=True)
    if r.idempotency_key is not None:
        stored = JournalEntry.objects.filter(created_by_id=r.created_by_id, idempotency_key=r.idempotency_key).first()
    else:
        stored = JournalEntry.objects.filter(public_id=entry.public_id).first()
    if stored is None:
        raise LedgerError("already_reversed")
    if stored.public_id != entry.public_id and stored.request_fingerprint != r.fingerprint:
        raise LedgerError("idempotency_key_reused")
    return stored, stored.public_id == entry.public_id


def _daily_total(r: MoveRequest, source: LedgerAccount, tier: int | None) -> int:
    """Today's outflow including this movement; refuses it beyond the tier's limit."""
    limits = r.tier_limits or []
    limit = limits[tier - 1] if tier is not None and 1 <= tier <= len(limits) else None
    daily = r.amount + (source.daily_debit_total if source.daily_debit_day == r.limit_day else 0)
    if limit is None or daily > limit:
        raise LedgerError("daily_limit_exceeded")
    return daily


def _daily_inflow(r: MoveRequest, destination: LedgerAccount, tier: int | None) -> int:
    """Today's inflow including this movement (money in is limited by KYC tier too)."""
    limits = r.inflow_limits or []
    limit = limits[tier - 1] if tier is not None and 1 <= tier <= len(limits) else None
    daily = r.amount + (destination.daily_credit_total if destination.daily_credit_day == r.limit_day else 0)
    if limit is None or daily > limit:
        raise LedgerError("daily_limit_exceeded")
    return daily


def _move_orm(r: MoveRequest) -> MoveResult:
    # 1. Resolve both sides.
    source = _resolve(r.from_public, r.from_system, r, "from")
    destination = _resolve(r.to_public, r.to_system, r, "to")
    if source is None or destination is None:
        raise LedgerError("not_found")
    # 2. Currency and same account.
    if source.currency != r.currency or destination.currency != r.currency:
        raise LedgerError("currency_mismatch")
    if source.pk == destination.pk:
        raise LedgerError("same_account")
    # 3. KYC.
    tier = None
    if r.kyc_user_id is not None:
        tier = (
            KycRecord.objects.filter(user_id=r.kyc_user_id, status=KycStatus.VERIFIED)
            .values_list("tier", flat=True)
            .first()
        )
        if tier is None:
            raise LedgerError("kyc_required")
    # 4. Idempotency: insert-or-ignore on the unique key, then read back who won.
    stored, created = _insert_entry(r)
    if not created:
        return _replay(stored)
    # 5. Lock once, in primary-key order; the locked rows are fresh.
    locked = lock_accounts([source.pk, destination.pk])
    source, destination = locked[source.pk], locked[destination.pk]
    # 6. Daily limits (outflow of the debited wallet; inflow of the credited one, if asked).
    daily = _daily_total(r, source, tier) if r.tier_limits is not None else None
    inflow = _daily_inflow(r, destination, tier) if r.inflow_limits is not None else None
    # 7. Funds: the available balance (posted minus pending debits; pending credits never count).
    if not source.allow_negative and source.balance - source.pending_debits < r.amount:
        raise LedgerError("insufficient_funds")
    # 8. Balances (or, for a pending movement, pending totals) and postings.
    if r.pending:
        from_after, to_after = source.balance, destination.balance
        source_update: dict = {"pending_debits": F("pending_debits") + r.amount}
        destination_update: dict = {"pending_credits": F("pending_credits") + r.amount}
    else:
        from_after, to_after = source.balance - r.amount, destination.balance + r.amount
        source_update = {"balance": F("balance") - r.amount}
        destination_update = {"balance": F("balance") + r.amount}
    if daily is not None:
        source_update.update(daily_debit_day=r.limit_day, daily_debit_total=daily)
    if inflow is not None:
        destination_update.update(daily_credit_day=r.limit_day, daily_credit_total=inflow)
    LedgerAccount.objects.filter(pk=source.pk).update(**source_update)
    LedgerAccount.objects.filter(pk=destination.pk).update(**destination_update)
    now = timezone.now()
    Posting.objects.bulk_create(
        [
            Posting(
                entry_id=stored.pk,
                account_id=source.pk,
                amount=-r.amount,
                currency=r.currency,
                balance_after=from_after,
                created_at=now,
                pending=r.pending,
            ),
            Posting(
                entry_id=stored.pk,
                account_id=destination.pk,
                amount=r.amount,
                currency=r.currency,
                balance_after=to_after,
                created_at=now,
                pending=r.pending,
            ),
        ]
    )
    return MoveResult(
        stored.pk,
        stored.public_id,
        stored.created_at,
        False,
        source.public_id,
        destination.public_id,
        from_after,
        to_after,
    )


# --- Two-phase: resolving a pending movement (ADR 0005) --------------------------------------------


@dataclass(frozen=True)
class ResolveRequest:
    """Post or void one pending entry, exactly once.

    ``outcome`` is ``posted`` (a new entry moves the balances) or ``voided`` (nothing moves);
    ``source``/``evidence`` say on what grounds (a provider event id, a statement line, expiry).
    """

    pending_entry_id: int
    outcome: str
    source: str
    evidence: str = ""
    recorded_by_id: int | None = None
    decided_by_id: int | None = None
    request_id: str = ""
    audit: MoveAudit | None = None


@dataclass(frozen=True)
class ResolveResult:
    pending_public_id: uuid.UUID
    outcome: str
    posted_public_id: uuid.UUID | None
    debit_public: uuid.UUID
    credit_public: uuid.UUID
    debit_balance_after: int
    credit_balance_after: int
    created_at: dt.datetime


def resolve_pending(r: ResolveRequest) -> ResolveResult:
    """Resolve a pending entry inside the caller's transaction; ``already_resolved`` if it was.

    Steps (the order every movement uses): 1. the pending entry and its two pending postings;
    2. for *posted*, the new entry (no postings yet); 3. the resolution row, the claim: its unique
    pending entry decides a race before any account is locked (a concurrent twin waits on the
    index and then finds it taken); 4. both accounts locked once, in primary-key order; 5. pending
    totals released and, for *posted*, balances moved with two posted postings; 6. the audit row.
    No funds check is needed: posting a pending debit lowers the balance and the pending debits
    by the same amount, so the available balance does not change.
    """
    from ledger.models import PendingResolution, ResolutionOutcome

    entry = JournalEntry.objects.filter(pk=r.pending_entry_id, pending=True).first()
    legs = list(Posting.objects.filter(entry_id=r.pending_entry_id, pending=True))
    if entry is None or len(legs) != 2:
        raise LedgerError("not_found")
    debit = next(p for p in legs if p.amount < 0)
    credit = next(p for p in legs if p.amount > 0)
    amount, now = entry.amount, timezone.now()
    posted = None
    if r.outcome == ResolutionOutcome.POSTED:
        posted = JournalEntry.objects.create(
            entry_type=entry.entry_type,
            channel=entry.channel,
            amount=amount,
            currency=entry.currency,
            reference=entry.reference,
            external_reference=entry.external_reference,
            request_id=r.request_id[:128],
            created_by_id=r.decided_by_id,
            created_at=now,
        )
    try:
        with transaction.atomic():
            PendingResolution.objects.create(
                pending_entry_id=entry.pk,
                outcome=r.outcome,
                posted_entry=posted,
                source=r.source,
                evidence=r.evidence[:128],
                recorded_by_id=r.recorded_by_id,
                decided_by_id=r.decided_by_id,
                created_at=now,
            )
    except IntegrityError:
        raise LedgerError("already_resolved") from None
    locked = lock_accounts([debit.account_id, credit.account_id])
    source, destination = locked[debit.account_id], locked[credit.account_id]
    source_update: dict = {"pending_debits": F("pending_debits") - amount}
    destination_update: dict = {"pending_credits": F("pending_credits") - amount}
    debit_after, credit_after = source.balance, destination.balance
    if posted is not None:
        debit_after, credit_after = source.balance - amount, destination.balance + amount
        source_update["balance"] = F("balance") - amount
        destination_update["balance"] = F("balance") + amount
    LedgerAccount.objects.filter(pk=source.pk).update(**source_update)
    LedgerAccount.objects.filter(pk=destination.pk).update(**destination_update)
    if posted is not None:
        Posting.objects.bulk_create(
            [
                Posting(entry_id=posted.pk, account_id=source.pk, amount=-amount, currency=entry.currency,
                        balance_after=debit_after, created_at=now),
                Posting(entry_id=posted.pk, account_id=destination.pk, amount=amount, currency=entry.currency,
                        balance_after=credit_after, created_at=now),
            ]
        )  # fmt: skip
    result = ResolveResult(
        entry.public_id,
        r.outcome,
        posted.public_id if posted is not None else None,
        source.public_id,
        destination.public_id,
        debit_after,
        credit_after,
        now,
    )
    if r.audit is not None:
        audit_record(
            action=r.audit.action,
            actor=r.audit.actor,
            object_type=AUDIT_OBJECT_TYPE,
            object_id=str(entry.public_id),
            change_diff={
                "amount": amount,
                "currency": entry.currency,
                "from_account": str(source.public_id),
                "to_account": str(destination.public_id),
                "outcome": r.outcome,
                "source": r.source,
                "posted_entry": str(posted.public_id) if posted is not None else None,
                **r.audit.extra,
            },
            request=r.audit.request,
        )
    return result

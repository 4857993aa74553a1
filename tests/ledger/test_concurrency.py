"""Real processes against PostgreSQL: money is never lost, created, double-spent or deadlocked.

Each worker is a forked process with its own database connection, hammering the real services:
single transfers, bulk payments (five transfers, all or nothing), overdrawing withdrawals and
deposits (both two-phase: pending claims), and the bank's signed notifications settling or
failing any worker's open movements (so two settlements of one movement race each other).
Afterwards the ledger is re-derived from postings (posted and pending separately) and compared
with what the workers were told.
"""

from __future__ import annotations

import multiprocessing
import random
import traceback
import uuid

import pytest
from django.db import connections
from django.db.models import F, Sum
from django.utils import timezone

from ledger import services
from ledger.exceptions import LedgerError
from ledger.models import AccountKind, EntryType, JournalEntry, LedgerAccount, PendingResolution
from ledger.reconciliation import check_ledger
from ledger.settlement import processors
from ledger.settlement import services as settlement

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.xdist_group("ledger-concurrency")]

EXPECTED_REFUSALS = {"insufficient_funds", "daily_limit_exceeded", "already_resolved"}
START_BALANCE = 100_000


def _worker(worker: int, operations: int, plan: dict, engine: str, barrier, results) -> None:  # noqa: PLR0917
    from django.conf import settings

    settings.LEDGER_ENGINE = engine
    from django.contrib.auth import get_user_model

    users = {user.pk: user for user in get_user_model().objects.filter(pk__in=plan["users"].values())}
    rng = random.Random(worker)
    acknowledged, refused, errors, settled = [], [], [], []
    succeeded = 0
    barrier.wait()
    for number in range(operations):
        key = f"w{worker}-op{number}-{uuid.uuid4().hex[:8]}"
        source, destination = rng.sample(plan["wallets"], 2)
        actor = users[plan["users"][source]]
        try:
            if number % 10 == 4:
                # A bulk payment of five transfers from the actor's wallet: all of it or none.
                items = [
                    {"source_account": source, "destination_account": other, "amount": rng.randint(1, 5_000),
                     "currency": "ZAR", "idempotency_key": f"{key}-{n}"}
                    for n, other in enumerate(rng.sample([w for w in plan["wallets"] if w != source], 5))
                ]  # fmt: skip
                made = services.transfer_batch_create(actor=actor, transfers=items)
                acknowledged.extend(
                    (str(result.entry_public_id), EntryType.TRANSFER, item["amount"], item["idempotency_key"])
                    for item, result in zip(items, made, strict=True)
                )
                succeeded += 1
                continue
            if number % 10 in (3, 7):
                # The bank settles (or fails) an open deposit or payout, any worker's: races included.
                open_entry = JournalEntry.objects.filter(pending=True, resolution__isnull=True).order_by("?").first()
                if open_entry is not None:
                    event = "deposit.received"
                    if open_entry.entry_type == EntryType.WITHDRAWAL:
                        event = rng.choice(["payout.paid", "payout.failed"])
                    data = {"reference": str(open_entry.public_id), "amount": open_entry.amount, "currency": "ZAR"}
                    callback = processors.signed_callback("bank", event, data)
                    outcome = settlement.webhook_receive(provider="bank", body=callback.body, headers=callback.headers)
                    settled.append((str(open_entry.public_id), outcome.outcome))
                succeeded += 1
                continue
            if number % 10 == 6:
                amount = rng.randint(1, 5_000)
                result = services.deposit_create(
                    actor=actor, account=source, amount=amount, currency="ZAR", channel="eft",
                    funding_source=f"EFT-{worker}", idempotency_key=key,
                )  # fmt: skip
                acknowledged.append((str(result.entry_public_id), EntryType.DEPOSIT, amount, key))
                succeeded += 1
                continue
            if number % 10 == 9:
                # Large withdrawals: most would overdraw the wallet and must be refused.
                amount = rng.randint(60_000, 150_000)
                result = services.withdrawal_create(
                    actor=actor, account=source, bank_account=plan["banks"][source], amount=amount,
                    currency="ZAR", idempotency_key=key,
                )  # fmt: skip
                kind = EntryType.WITHDRAWAL
            else:
                amount = rng.randint(1, 5_000)
                result = services.transfer_create(
                    actor=actor, source_account=source, destination_account=destination, amount=amount,
                    currency="ZAR", idempotency_key=key,
                )  # fmt: skip
                kind = EntryType.TRANSFER
            acknowledged.append((str(result.entry_public_id), kind, amount, key))
            succeeded += 1
        except LedgerError as error:
            (refused if error.code in EXPECTED_REFUSALS else errors).append(error.code)
        except Exception:
            errors.append(traceback.format_exc(limit=3))
    results.put(
        {"worker": worker, "acknowledged": acknowledged, "refused": refused, "errors": errors, "succeeded": succeeded,
         "settled": settled}
    )  # fmt: skip
    connections.close_all()


def _same_key_worker(worker: int, plan: dict, barrier, results) -> None:
    from django.contrib.auth import get_user_model

    actor = get_user_model().objects.get(pk=plan["actor"])
    barrier.wait()
    try:
        if worker % 2:
            # The same transfer inside a bulk payment, beside one of its own: a single and a batch
            # claiming one key concurrently must neither deadlock nor make the transfer twice.
            shared = {"source_account": plan["source"], "destination_account": plan["destination"], "amount": 777,
                      "currency": "ZAR", "idempotency_key": plan["key"]}  # fmt: skip
            own = {**shared, "amount": 1, "idempotency_key": f"{plan['key']}-own-{worker}"}
            result = services.transfer_batch_create(actor=actor, transfers=[own, shared])[1]
        else:
            result = services.transfer_create(
                actor=actor, source_account=plan["source"], destination_account=plan["destination"], amount=777,
                currency="ZAR", idempotency_key=plan["key"],
            )  # fmt: skip
        results.put({"entry": str(result.entry_public_id), "replayed": result.replayed})
    except Exception:
        results.put({"error": traceback.format_exc(limit=3)})
    connections.close_all()


def _setup(make_customer, operations, count: int) -> dict:
    plan = {"wallets": [], "users": {}, "banks": {}}
    for _ in range(count):
        user, wallet = make_customer(tier=3, balance=START_BALANCE)
        bank = services.bank_account_add(actor=user, bank_name="Bank", branch_code="250655", account_number="6200001")
        services.bank_account_verify(actor=operations, bank_account=bank.public_id)
        plan["wallets"].append(str(wallet.public_id))
        plan["users"][str(wallet.public_id)] = user.pk
        plan["banks"][str(wallet.public_id)] = str(bank.public_id)
    return plan


def _run(target, args_for, workers: int) -> list[dict]:
    context = multiprocessing.get_context("fork")
    barrier, results = context.Barrier(workers), context.Queue()
    # Close the parent's connections before forking: each child then opens its own.
    connections.close_all()
    processes = [context.Process(target=target, args=(*args_for(n), barrier, results)) for n in range(workers)]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=240) for _ in processes]
    for process in processes:
        process.join(timeout=60)
        assert process.exitcode == 0
    return outcomes


@pytest.mark.slow
@pytest.mark.parametrize(("engine", "operations_per_worker"), [("plpgsql", 500), ("orm", 100)])
def test_eight_workers_random_transfers_and_overdrawing_withdrawals(
    transactional_db, make_customer, operations, engine, operations_per_worker
):
    plan = _setup(make_customer, operations, 20)
    wallets_before = LedgerAccount.objects.filter(kind=AccountKind.CUSTOMER_WALLET).aggregate(t=Sum("balance"))["t"]
    assert wallets_before == 20 * START_BALANCE
    entries_before = JournalEntry.objects.count()
    started = timezone.now()

    outcomes = _run(_worker, lambda n: (n, operations_per_worker, plan, engine), 8)

    errors = [error for outcome in outcomes for error in outcome["errors"]]
    assert errors == [], errors[:3]  # no deadlock, serialization failure or anything unexpected
    acknowledged = [op for outcome in outcomes for op in outcome["acknowledged"]]
    refused = [code for outcome in outcomes for code in outcome["refused"]]
    succeeded = sum(outcome["succeeded"] for outcome in outcomes)
    assert succeeded + len(refused) == 8 * operations_per_worker  # every call answered, one way or the other
    assert any(kind == EntryType.TRANSFER and key.endswith("-4") for _, kind, _, key in acknowledged)  # batches
    assert any(kind == EntryType.WITHDRAWAL for _, kind, _, _ in acknowledged)
    assert "insufficient_funds" in refused  # the overdrawing withdrawals really were tried

    assert any(kind == EntryType.DEPOSIT for _, kind, _, _ in acknowledged)
    settled = dict(pair for outcome in outcomes for pair in outcome["settled"])
    assert {"posted", "voided"} <= set(settled.values())  # payouts both paid and failed

    # Every acknowledged operation is present exactly once, as acknowledged; nothing else was
    # written but the entries that posted settled movements (one per posted resolution).
    customer_made = JournalEntry.objects.filter(idempotency_key__isnull=False, created_at__gte=started)
    stored = {str(e.public_id): (e.entry_type, e.amount, e.idempotency_key) for e in customer_made}
    assert len(stored) == len(acknowledged)
    for public_id, kind, amount, key in acknowledged:
        assert stored[public_id] == (kind, amount, key)
    resolutions = dict(
        PendingResolution.objects.filter(created_at__gte=started).values_list("pending_entry__public_id", "outcome")
    )
    posted = sum(1 for outcome in resolutions.values() if outcome == "posted")
    assert JournalEntry.objects.count() - entries_before == len(acknowledged) + posted
    # Each movement was settled once, and as the bank was told: a losing racer got already_resolved.
    assert {str(k): v for k, v in resolutions.items()} == settled

    # No negative wallet, nothing promised twice (available >= 0), every balance = Σ posted postings,
    # every pending total = Σ unresolved pending postings, both sum to zero, money conserved.
    assert not LedgerAccount.objects.filter(kind=AccountKind.CUSTOMER_WALLET, balance__lt=0).exists()
    assert not LedgerAccount.objects.filter(kind=AccountKind.CUSTOMER_WALLET, balance__lt=F("pending_debits")).exists()
    report = check_ledger()
    assert report.ok, report.problems

    def total(kind: str, outcome: str | None) -> int:
        return sum(
            amount for public_id, k, amount, _ in acknowledged if k == kind and settled.get(public_id) == outcome
        )

    wallets = LedgerAccount.objects.filter(kind=AccountKind.CUSTOMER_WALLET).aggregate(
        t=Sum("balance"), out=Sum("pending_debits"), into=Sum("pending_credits")
    )
    assert wallets["t"] == wallets_before - total(EntryType.WITHDRAWAL, "posted") + total(EntryType.DEPOSIT, "posted")
    assert wallets["out"] == total(EntryType.WITHDRAWAL, None)
    assert wallets["into"] == total(EntryType.DEPOSIT, None)
    assert LedgerAccount.objects.aggregate(t=Sum("balance"))["t"] == 0
    assert report.pending_volume == wallets["out"] + wallets["into"]


@pytest.mark.parametrize("engine", ["plpgsql", "orm"])
def test_the_same_idempotency_key_submitted_concurrently_yields_one_entry(
    transactional_db, make_customer, operations, settings, engine
):
    settings.LEDGER_ENGINE = engine
    (alice, a_wallet), (_, b_wallet) = make_customer(balance=10_000), make_customer()
    plan = {"actor": alice.pk, "source": str(a_wallet.public_id), "destination": str(b_wallet.public_id)}
    plan["key"] = f"same-key-{uuid.uuid4()}"

    outcomes = _run(_same_key_worker, lambda n: (n, plan), 6)

    assert all("error" not in outcome for outcome in outcomes), outcomes
    assert len({outcome["entry"] for outcome in outcomes}) == 1
    assert sorted(outcome["replayed"] for outcome in outcomes) == [False] + [True] * 5
    assert JournalEntry.objects.filter(idempotency_key=plan["key"]).count() == 1
    # Three of the six workers sent a batch with one extra 1-cent transfer of their own.
    assert JournalEntry.objects.filter(idempotency_key__startswith=f"{plan['key']}-own-").count() == 3
    a_wallet.refresh_from_db()
    b_wallet.refresh_from_db()
    assert (a_wallet.balance, b_wallet.balance) == (10_000 - 777 - 3, 777 + 3)
    assert check_ledger().ok


def _settle_worker(worker: int, plan: dict, barrier, results) -> None:
    """Deliver one bank notification for the shared pending movement, at the same moment as the others."""
    barrier.wait()
    try:
        if plan["same_event"]:
            body, headers = plan["body"].encode(), plan["headers"]
        else:
            event = "payout.paid" if worker % 2 else "payout.failed"
            data = {"reference": plan["reference"], "amount": plan["amount"], "currency": "ZAR"}
            callback = processors.signed_callback("bank", event, data)
            body, headers = callback.body, callback.headers
        outcome = settlement.webhook_receive(provider="bank", body=body, headers=headers)
        results.put({"outcome": outcome.outcome})
    except LedgerError as error:
        results.put({"refused": error.code})
    except Exception:
        results.put({"error": traceback.format_exc(limit=3)})
    connections.close_all()


@pytest.mark.parametrize("same_event", [False, True], ids=["competing-events", "one-event-replayed"])
def test_concurrent_settlements_of_one_movement_resolve_it_exactly_once(
    transactional_db, make_customer, operations, same_event
):
    alice, wallet = make_customer(balance=50_000)
    bank = services.bank_account_add(actor=alice, bank_name="Bank", branch_code="250655", account_number="6200077")
    services.bank_account_verify(actor=operations, bank_account=bank.public_id)
    pending = services.withdrawal_create(
        actor=alice, account=wallet.public_id, bank_account=bank.public_id, amount=30_000, currency="ZAR",
        idempotency_key=f"race-{uuid.uuid4()}",
    )  # fmt: skip
    data = {"reference": str(pending.entry_public_id), "amount": 30_000, "currency": "ZAR"}
    shared = processors.signed_callback("bank", "payout.paid", data)
    plan = {"reference": str(pending.entry_public_id), "amount": 30_000, "same_event": same_event,
            "body": shared.body.decode(), "headers": shared.headers}  # fmt: skip

    outcomes = _run(_settle_worker, lambda n: (n, plan), 6)

    assert all("error" not in outcome for outcome in outcomes), outcomes
    winners = [outcome["outcome"] for outcome in outcomes if "outcome" in outcome]
    losers = sorted(outcome["refused"] for outcome in outcomes if "refused" in outcome)
    assert len(winners) == 1  # exactly one settlement, whichever came first
    assert losers == ["webhook_replayed" if same_event else "already_resolved"] * 5
    wallet.refresh_from_db()
    paid = winners[0] == "posted"
    assert (wallet.balance, wallet.pending_debits) == (20_000 if paid else 50_000, 0)
    assert PendingResolution.objects.filter(pending_entry__public_id=pending.entry_public_id).count() == 1
    assert check_ledger().ok

"""The PL/pgSQL function and the ORM path are the same algorithm: one scripted scenario, run on each
engine against PostgreSQL, must give identical outcomes (results, refusals, balances, postings)."""

from __future__ import annotations

import pytest

from ledger import services
from ledger.cards import services as cards
from ledger.exceptions import LedgerError
from ledger.models import LedgerAccount, Posting
from tests.ledger.conftest import card_expiry

pytestmark = pytest.mark.django_db


def _scenario(make_customer, operations) -> list:
    alice, a = make_customer(tier=1, balance=400_000)
    bob, b = make_customer(tier=1, balance=10_000)
    carol, c = make_customer(verified=False)
    bank = services.bank_account_add(actor=alice, bank_name="Bank", branch_code="250655", account_number="6200009")
    services.bank_account_verify(actor=operations, bank_account=bank.public_id)
    names = {a.public_id: "alice", b.public_id: "bob", c.public_id: "carol"}
    bob_card = cards.card_add(actor=bob, pan="5555555555554444", expiry=card_expiry(), cvv="123")

    def transfer(actor, source, destination, amount, key):
        return services.transfer_create(
            actor=actor, source_account=source.public_id, destination_account=destination.public_id,
            amount=amount, currency="ZAR", idempotency_key=key,
        )  # fmt: skip

    steps = [
        lambda: transfer(alice, a, b, 1_500, "parity-0001"),
        lambda: transfer(alice, a, b, 1_500, "parity-0001"),  # replay
        lambda: transfer(alice, a, b, 1_501, "parity-0001"),  # reused key
        lambda: transfer(bob, a, b, 10, "parity-0002"),  # not bob's wallet
        lambda: transfer(alice, a, a, 10, "parity-0003"),  # same account
        lambda: transfer(carol, c, a, 10, "parity-0004"),  # unverified
        lambda: transfer(bob, b, a, 400_000, "parity-0005"),  # insufficient funds
        lambda: transfer(alice, a, b, 498_501, "parity-0006"),  # beyond the daily limit
        lambda: services.withdrawal_create(
            actor=alice,
            account=a.public_id,
            bank_account=bank.public_id,
            amount=300_000,
            currency="ZAR",
            idempotency_key="parity-0007",
        ),
        lambda: transfer(alice, a, b, 198_501, "parity-0008"),  # 1 cent over the limit
        lambda: transfer(alice, a, b, 98_501, "parity-0009"),  # insufficient funds after the withdrawal
        lambda: services.deposit_create(
            actor=bob,
            account=b.public_id,
            amount=7_000,
            currency="ZAR",
            channel="card",
            funding_source=str(bob_card.public_id),
            idempotency_key="parity-0010",
        ),
    ]
    outcomes = []
    for step in steps:
        try:
            result = step()
        except LedgerError as error:
            outcomes.append(("refused", error.code))
            continue
        outcomes.append(
            (
                "ok",
                result.replayed,
                names.get(result.from_public, "system"),
                names.get(result.to_public, "system"),
                result.from_balance_after if result.from_public in names else None,
                result.to_balance_after if result.to_public in names else None,
            )
        )
    reversal = services.reversal_create(actor=operations, entry=_first_entry(a), reason="parity")
    outcomes.append(("reversal", names.get(reversal.from_public), names.get(reversal.to_public)))
    for wallet in (a, b, c):
        wallet.refresh_from_db()
        outcomes.append(
            (
                names[wallet.public_id],
                wallet.balance,
                wallet.daily_debit_total,
                list(Posting.objects.filter(account=wallet).order_by("pk").values_list("amount", "balance_after")),
            )
        )
    outcomes.append(("ledger sums to zero", sum(LedgerAccount.objects.values_list("balance", flat=True)) == 0))
    return outcomes


def _first_entry(wallet):
    return Posting.objects.filter(account=wallet, entry__entry_type="transfer").order_by("pk").first().entry.public_id


def test_plpgsql_and_orm_engines_agree(make_customer, operations, settings, django_db_blocker):
    results = {}
    for engine in ("plpgsql", "orm"):
        settings.LEDGER_ENGINE = engine
        results[engine] = _scenario(make_customer, operations)
    assert results["plpgsql"] == results["orm"]
    codes = [outcome[1] for outcome in results["orm"] if outcome[0] == "refused"]
    assert codes == [
        "idempotency_key_reused", "not_found", "same_account", "kyc_required", "insufficient_funds",
        "daily_limit_exceeded", "daily_limit_exceeded", "insufficient_funds",
    ]  # fmt: skip

"""Money movement through the services, on both engines (PL/pgSQL function and ORM statements)."""

from __future__ import annotations

import pytest
from django.core.exceptions import PermissionDenied

from compliance.audit.models import AuditEvent
from ledger import services
from ledger.cards import services as cards
from ledger.exceptions import LedgerError
from ledger.models import AccountKind, EntryType, JournalEntry, LedgerAccount, Posting
from ledger.reconciliation import check_ledger
from tests.ledger.conftest import card_expiry, ledger_snapshot, new_key, settle

pytestmark = pytest.mark.django_db


def _transfer(actor, source, destination, amount, key=None, **extra):
    return services.transfer_create(
        actor=actor,
        source_account=source.public_id,
        destination_account=destination.public_id,
        amount=amount,
        currency="ZAR",
        idempotency_key=key or new_key(),
        **extra,
    )


def test_a_card_deposit_is_pending_until_the_processor_captures_it(engine, make_customer):
    from ledger.settlement import sandbox

    sandbox.OUTBOX.clear()
    user, wallet = make_customer()
    card = cards.card_add(actor=user, pan="4111111111111111", expiry=card_expiry(), cvv="123")
    result = services.deposit_create(
        actor=user, account=wallet.public_id, amount=12_345, currency="ZAR", channel="card",
        funding_source=str(card.public_id), idempotency_key=new_key(), reference="top-up",
    )  # fmt: skip
    wallet.refresh_from_db()
    # A claim: pending money in, nothing spendable, nothing posted.
    assert (wallet.balance, wallet.pending_credits, wallet.available_balance) == (0, 12_345, 0)
    assert result.to_public == wallet.public_id and result.to_balance_after == 0
    assert result.extra["status"] == "pending"
    entry = JournalEntry.objects.get(public_id=result.entry_public_id)
    assert (entry.entry_type, entry.channel, entry.amount, entry.external_reference, entry.pending) == (
        "deposit", "card", 12_345, str(card.public_id), True,
    )  # fmt: skip
    postings = {p.account.kind: p for p in entry.postings.select_related("account")}
    assert postings[AccountKind.SETTLEMENT].amount == -12_345 and postings[AccountKind.SETTLEMENT].pending
    assert postings[AccountKind.CUSTOMER_WALLET].amount == 12_345
    assert check_ledger().ok
    # The sandbox processor authorised and captured: its signed payment.captured posts the deposit.
    (callback,) = sandbox.OUTBOX
    sandbox.OUTBOX.clear()
    sandbox.deliver(callback)
    wallet.refresh_from_db()
    assert (wallet.balance, wallet.pending_credits, wallet.available_balance) == (12_345, 0, 12_345)
    settled = entry.resolution.posted_entry
    assert sorted(settled.postings.values_list("amount", "balance_after", "pending"))[1] == (12_345, 12_345, False)
    assert check_ledger().ok


def test_a_declined_card_deposit_is_voided_at_once(engine, make_customer):
    user, wallet = make_customer()
    card = cards.card_add(actor=user, pan="4000000000000002", expiry=card_expiry(), cvv="123")
    result = services.deposit_create(
        actor=user, account=wallet.public_id, amount=5_000, currency="ZAR", channel="card",
        funding_source=str(card.public_id), idempotency_key=new_key(),
    )  # fmt: skip
    wallet.refresh_from_db()
    assert result.extra["status"] == "voided"
    assert (wallet.balance, wallet.pending_credits) == (0, 0)
    assert check_ledger().ok


def test_transfer_moves_money_and_records_balance_after(engine, customer, other_customer):
    (alice, a_wallet), (_bob, b_wallet) = customer, other_customer
    result = _transfer(alice, a_wallet, b_wallet, 30_000, reference="rent")
    a_wallet.refresh_from_db()
    b_wallet.refresh_from_db()
    assert (a_wallet.balance, b_wallet.balance) == (70_000, 80_000)
    assert (result.from_balance_after, result.to_balance_after) == (70_000, 80_000)
    assert sorted(Posting.objects.filter(entry_id=result.entry_id).values_list("amount", "balance_after")) == [
        (-30_000, 70_000),
        (30_000, 80_000),
    ]
    assert check_ledger().ok


def test_same_key_same_body_replays_without_moving_money_again(engine, customer, other_customer):
    (alice, a_wallet), (_, b_wallet) = customer, other_customer
    key = new_key()
    first = _transfer(alice, a_wallet, b_wallet, 1_000, key=key)
    before = ledger_snapshot()
    again = _transfer(alice, a_wallet, b_wallet, 1_000, key=key)
    assert again.replayed and not first.replayed
    assert again.entry_public_id == first.entry_public_id
    assert again.from_balance_after == first.from_balance_after
    assert ledger_snapshot() == before


def test_same_key_different_body_is_refused_and_changes_nothing(engine, customer, other_customer):
    (alice, a_wallet), (_, b_wallet) = customer, other_customer
    key = new_key()
    _transfer(alice, a_wallet, b_wallet, 1_000, key=key)
    before = ledger_snapshot()
    with pytest.raises(LedgerError) as refused:
        _transfer(alice, a_wallet, b_wallet, 1_001, key=key)
    assert refused.value.code == "idempotency_key_reused" and refused.value.status_code == 409
    assert ledger_snapshot() == before


def test_keys_are_scoped_per_customer(engine, customer, other_customer):
    (alice, a_wallet), (bob, b_wallet) = customer, other_customer
    _transfer(alice, a_wallet, b_wallet, 500, key="shared-key-0001")
    result = _transfer(bob, b_wallet, a_wallet, 700, key="shared-key-0001")
    assert not result.replayed
    assert JournalEntry.objects.filter(idempotency_key="shared-key-0001").count() == 2


def test_a_customer_cannot_move_money_from_another_customers_wallet(engine, customer, other_customer):
    (_alice, a_wallet), (bob, b_wallet) = customer, other_customer
    before = ledger_snapshot()
    with pytest.raises(LedgerError) as refused:
        _transfer(bob, a_wallet, b_wallet, 1_000)
    assert refused.value.code == "not_found"
    with pytest.raises(LedgerError) as refused:
        services.withdrawal_create(
            actor=bob, account=a_wallet.public_id, bank_account=services.bank_account_add(
                actor=bob, bank_name="Bank", branch_code="250655", account_number="62000000001"
            ).public_id, amount=1, currency="ZAR", idempotency_key=new_key(),
        )  # fmt: skip
    assert refused.value.code == "bank_account_not_verified"
    assert ledger_snapshot() == before


def test_transfers_only_reach_customer_wallets(engine, customer):
    alice, a_wallet = customer
    settlement = LedgerAccount.objects.filter(kind=AccountKind.SETTLEMENT).first()
    with pytest.raises(LedgerError) as refused:
        _transfer(alice, a_wallet, settlement, 100)
    assert refused.value.code == "not_found"


@pytest.mark.parametrize(
    ("amount", "currency", "code"),
    [
        (0, "ZAR", "invalid_amount"),
        (-5, "ZAR", "invalid_amount"),
        (10.5, "ZAR", "invalid_amount"),
        (10.0, "ZAR", "invalid_amount"),
        (True, "ZAR", "invalid_amount"),
        ("100", "ZAR", "invalid_amount"),
        (10**15, "ZAR", "invalid_amount"),
        (100, "USD", "invalid_currency"),
        (100, "zar", "invalid_currency"),
    ],
)
def test_malformed_amounts_and_currencies_change_nothing(engine, customer, other_customer, amount, currency, code):  # noqa: PLR0917
    (alice, a_wallet), (_, b_wallet) = customer, other_customer
    before = ledger_snapshot()
    with pytest.raises(LedgerError) as refused:
        services.transfer_create(
            actor=alice, source_account=a_wallet.public_id, destination_account=b_wallet.public_id,
            amount=amount, currency=currency, idempotency_key=new_key(),
        )  # fmt: skip
    assert refused.value.code == code
    assert ledger_snapshot() == before


def test_wallet_currency_must_match(engine, customer, other_customer):
    (alice, a_wallet), (_, b_wallet) = customer, other_customer
    LedgerAccount.objects.filter(pk=b_wallet.pk).update(currency="USD")
    before = ledger_snapshot()
    with pytest.raises(LedgerError) as refused:
        _transfer(alice, a_wallet, b_wallet, 100)
    assert refused.value.code == "currency_mismatch"
    assert ledger_snapshot() == before


def test_insufficient_funds_never_overdraws(engine, customer, other_customer):
    (alice, a_wallet), (_, b_wallet) = customer, other_customer
    before = ledger_snapshot()
    with pytest.raises(LedgerError) as refused:
        _transfer(alice, a_wallet, b_wallet, 100_001)
    assert refused.value.code == "insufficient_funds"
    assert ledger_snapshot() == before


def test_unverified_customers_cannot_move_money(engine, make_customer, other_customer):
    carol, c_wallet = make_customer(verified=False)
    _, b_wallet = other_customer
    before = ledger_snapshot()
    with pytest.raises(LedgerError) as refused:
        services.deposit_create(
            actor=carol, account=c_wallet.public_id, amount=100, currency="ZAR", channel="eft",
            funding_source="EFT-9", idempotency_key=new_key(),
        )  # fmt: skip
    assert refused.value.code == "kyc_required"
    with pytest.raises(LedgerError) as refused:
        _transfer(carol, c_wallet, b_wallet, 100)
    assert refused.value.code == "kyc_required"
    assert ledger_snapshot() == before


def test_daily_limit_of_the_tier_is_enforced_across_transfers_and_withdrawals(engine, make_customer, operations):
    # Tier 1: R5,000 (500,000 cents) a day of outgoing money.
    alice, a_wallet = make_customer(tier=1, balance=900_000)
    _, b_wallet = make_customer()
    bank = services.bank_account_add(actor=alice, bank_name="Bank", branch_code="250655", account_number="62000000002")
    services.bank_account_verify(actor=operations, bank_account=bank.public_id)
    _transfer(alice, a_wallet, b_wallet, 300_000)
    services.withdrawal_create(
        actor=alice, account=a_wallet.public_id, bank_account=bank.public_id, amount=150_000, currency="ZAR",
        idempotency_key=new_key(),
    )  # fmt: skip
    before = ledger_snapshot()
    with pytest.raises(LedgerError) as refused:
        _transfer(alice, a_wallet, b_wallet, 50_001)
    assert refused.value.code == "daily_limit_exceeded" and refused.value.status_code == 403
    assert ledger_snapshot() == before
    _transfer(alice, a_wallet, b_wallet, 50_000)  # exactly up to the limit is allowed
    a_wallet.refresh_from_db()
    # The withdrawal is pending: out of the available balance, not yet out of the posted one.
    assert a_wallet.daily_debit_total == 500_000 and a_wallet.available_balance == 400_000
    assert (a_wallet.balance, a_wallet.pending_debits) == (550_000, 150_000)


def test_higher_tier_allows_more(engine, make_customer):
    alice, a_wallet = make_customer(tier=2, balance=3_000_000)
    _, b_wallet = make_customer()
    _transfer(alice, a_wallet, b_wallet, 2_500_000)
    with pytest.raises(LedgerError) as refused:
        _transfer(alice, a_wallet, b_wallet, 1)
    assert refused.value.code == "daily_limit_exceeded"


def test_limit_counter_resets_on_a_new_day(engine, make_customer, settings):
    import datetime as dt

    alice, a_wallet = make_customer(tier=1, balance=600_000)
    _, b_wallet = make_customer()
    LedgerAccount.objects.filter(pk=a_wallet.pk).update(daily_debit_day=dt.date(2000, 1, 1), daily_debit_total=500_000)
    _transfer(alice, a_wallet, b_wallet, 500_000)
    a_wallet.refresh_from_db()
    assert a_wallet.daily_debit_total == 500_000 and a_wallet.daily_debit_day != dt.date(2000, 1, 1)


def test_withdrawal_needs_a_verified_bank_account_of_the_customer(engine, customer, operations):
    alice, a_wallet = customer
    bank = services.bank_account_add(actor=alice, bank_name="Bank", branch_code="250655", account_number="62000000003")
    with pytest.raises(LedgerError) as refused:
        services.withdrawal_create(
            actor=alice, account=a_wallet.public_id, bank_account=bank.public_id, amount=1_000, currency="ZAR",
            idempotency_key=new_key(),
        )  # fmt: skip
    assert refused.value.code == "bank_account_not_verified"
    services.bank_account_verify(actor=operations, bank_account=bank.public_id)
    result = services.withdrawal_create(
        actor=alice, account=a_wallet.public_id, bank_account=bank.public_id, amount=1_000, currency="ZAR",
        idempotency_key=new_key(),
    )  # fmt: skip
    a_wallet.refresh_from_db()
    assert (a_wallet.balance, a_wallet.available_balance) == (100_000, 99_000) and result.from_balance_after == 100_000
    entry = JournalEntry.objects.get(public_id=result.entry_public_id)
    assert entry.entry_type == EntryType.WITHDRAWAL and entry.external_reference == str(bank.public_id)
    assert entry.pending and result.extra["status"] == "pending"
    settle(result, "payout.paid")  # the bank paid out: now the posted balance drops
    a_wallet.refresh_from_db()
    assert (a_wallet.balance, a_wallet.available_balance, a_wallet.pending_debits) == (99_000, 99_000, 0)
    assert check_ledger().ok


def test_a_failed_payout_voids_the_withdrawal_and_the_money_is_available_again(
    engine, customer, other_customer, operations
):
    (alice, a_wallet), (_, b_wallet) = customer, other_customer
    bank = services.bank_account_add(actor=alice, bank_name="Bank", branch_code="250655", account_number="62000000013")
    services.bank_account_verify(actor=operations, bank_account=bank.public_id)
    result = services.withdrawal_create(
        actor=alice, account=a_wallet.public_id, bank_account=bank.public_id, amount=100_000, currency="ZAR",
        idempotency_key=new_key(),
    )  # fmt: skip
    # All of it is promised to the payout: a transfer cannot spend it meanwhile.
    before = ledger_snapshot()
    with pytest.raises(LedgerError) as refused:
        _transfer(alice, a_wallet, b_wallet, 1)
    assert refused.value.code == "insufficient_funds"
    assert ledger_snapshot() == before
    settle(result, "payout.failed")
    a_wallet.refresh_from_db()
    assert (a_wallet.balance, a_wallet.available_balance, a_wallet.pending_debits) == (100_000, 100_000, 0)
    assert JournalEntry.objects.get(public_id=result.entry_public_id).resolution.outcome == "voided"
    assert check_ledger().ok


def test_reversal_restores_balances_once_and_only_for_operations(engine, customer, other_customer, operations):
    (alice, a_wallet), (_bob, b_wallet) = customer, other_customer
    original = _transfer(alice, a_wallet, b_wallet, 20_000)
    with pytest.raises(PermissionDenied):
        services.reversal_create(actor=alice, entry=original.entry_public_id, reason="mine")
    with pytest.raises(LedgerError) as refused:
        services.reversal_create(actor=operations, entry=original.entry_public_id, reason="")
    assert refused.value.code == "reason_required"
    reversal = services.reversal_create(actor=operations, entry=original.entry_public_id, reason="sent in error")
    a_wallet.refresh_from_db()
    b_wallet.refresh_from_db()
    assert (a_wallet.balance, b_wallet.balance) == (100_000, 50_000)
    stored = JournalEntry.objects.get(public_id=reversal.entry_public_id)
    assert stored.reverses.public_id == original.entry_public_id and stored.reference == "sent in error"
    before = ledger_snapshot()
    with pytest.raises(LedgerError) as refused:
        services.reversal_create(actor=operations, entry=original.entry_public_id, reason="again")
    assert refused.value.code == "already_reversed"
    with pytest.raises(LedgerError) as refused:
        services.reversal_create(actor=operations, entry=reversal.entry_public_id, reason="undo undo")
    assert refused.value.code == "not_reversible"
    assert ledger_snapshot() == before
    assert check_ledger().ok


def test_reversal_cannot_overdraw_the_recipient(engine, customer, other_customer, operations):
    (alice, a_wallet), (bob, b_wallet) = customer, other_customer
    original = _transfer(alice, a_wallet, b_wallet, 20_000)
    _transfer(bob, b_wallet, a_wallet, 60_000)
    before = ledger_snapshot()
    with pytest.raises(LedgerError) as refused:
        services.reversal_create(actor=operations, entry=original.entry_public_id, reason="too late")
    assert refused.value.code == "insufficient_funds"
    assert ledger_snapshot() == before


def test_system_accounts_are_sharded_and_sum_to_the_mirror_of_wallets(engine, make_customer, settings):
    settings.LEDGER_SYSTEM_SHARDS = 4
    users = [make_customer() for _ in range(3)]
    for user, wallet in users:
        for _ in range(4):
            settle(
                services.deposit_create(
                    actor=user, account=wallet.public_id, amount=1_000, currency="ZAR", channel="eft",
                    funding_source="EFT", idempotency_key=new_key(),
                )
            )  # fmt: skip
    shards = LedgerAccount.objects.filter(kind=AccountKind.SETTLEMENT, currency="ZAR")
    assert set(shards.values_list("shard", flat=True)) <= {0, 1, 2, 3}
    assert sum(shards.values_list("balance", flat=True)) == -12_000
    assert all(shard.allow_negative and shard.owner_id is None for shard in shards)


def test_each_movement_is_audited_once_without_personal_information(engine, customer, other_customer):
    (alice, a_wallet), (_, b_wallet) = customer, other_customer
    key = new_key()
    result = _transfer(alice, a_wallet, b_wallet, 4_200, key=key)
    _transfer(alice, a_wallet, b_wallet, 4_200, key=key)  # a replay is not a second movement
    events = list(AuditEvent.objects.filter(action="TRANSFER"))
    assert len(events) == 1
    assert events[0].object_id == str(result.entry_public_id)
    assert events[0].change_diff == {
        "amount": 4_200,
        "currency": "ZAR",
        "from_account": str(a_wallet.public_id),
        "to_account": str(b_wallet.public_id),
    }
    assert events[0].user == alice
    assert alice.email not in str(AuditEvent.objects.values().get(pk=events[0].pk))


def test_a_refused_movement_writes_no_audit_event(engine, customer, other_customer):
    (alice, a_wallet), (_, b_wallet) = customer, other_customer
    with pytest.raises(LedgerError):
        _transfer(alice, a_wallet, b_wallet, 999_999)
    assert not AuditEvent.objects.filter(action="TRANSFER").exists()


@pytest.mark.parametrize(
    ("channel", "funding_source", "code"),
    [
        # An EFT reference must not look like a card number, be empty or be too long.
        ("eft", "4111111111111111", "invalid_funding_source"),
        ("eft", "4111 1111 1111 1111", "invalid_funding_source"),
        ("eft", "", "invalid_funding_source"),
        ("eft", "x" * 65, "invalid_funding_source"),
        # By card, the funding source is one of the caller's card ids: a PAN is simply not one.
        ("card", "4111111111111111", "not_found"),
        ("card", "tok_visa_1", "not_found"),
        ("card", "", "not_found"),
    ],
)
def test_deposit_refuses_card_numbers_and_bad_funding_sources(engine, customer, channel, funding_source, code):
    alice, a_wallet = customer
    before = ledger_snapshot()
    with pytest.raises(LedgerError) as refused:
        services.deposit_create(
            actor=alice, account=a_wallet.public_id, amount=100, currency="ZAR", channel=channel,
            funding_source=funding_source, idempotency_key=new_key(),
        )  # fmt: skip
    assert refused.value.code == code
    assert ledger_snapshot() == before

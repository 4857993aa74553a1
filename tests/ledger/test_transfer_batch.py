"""Bulk transfers: many transfers of one customer in one call, all or nothing, on both engines."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from compliance.models import AuditEvent
from ledger import services
from ledger.exceptions import LedgerError
from ledger.models import JournalEntry, LedgerAccount, Posting
from ledger.reconciliation import check_ledger
from tests.ledger.conftest import api_client, new_key, settle

pytestmark = pytest.mark.django_db


def _item(source, destination, amount, *, key=None, reference="", currency="ZAR") -> dict:
    return {
        "source_account": str(source.public_id),
        "destination_account": str(destination.public_id),
        "amount": amount,
        "currency": currency,
        "reference": reference,
        "idempotency_key": key or new_key(),
    }


def _ledger_state() -> tuple:
    return (
        sorted(LedgerAccount.objects.values_list("pk", "balance", "daily_debit_total")),
        JournalEntry.objects.count(),
        Posting.objects.count(),
        AuditEvent.objects.count(),
    )


@pytest.fixture
def three(make_customer):
    """A payer with R1,000.00 (tier 3) and two payees."""
    payer = make_customer(balance=100_000, tier=3)
    return payer, make_customer(), make_customer()


def test_a_batch_moves_every_item_in_order_with_running_balances(engine, three):
    (alice, a_wallet), (_, b_wallet), (_, c_wallet) = three
    results = services.transfer_batch_create(
        actor=alice,
        transfers=[
            _item(a_wallet, b_wallet, 1_000, reference="rent"),
            _item(a_wallet, c_wallet, 2_000),
            _item(a_wallet, b_wallet, 3_000),
        ],
    )
    assert [r.from_balance_after for r in results] == [99_000, 97_000, 94_000]
    assert [r.to_balance_after for r in results] == [1_000, 2_000, 4_000]
    assert not any(r.replayed for r in results)
    assert {r.from_public for r in results} == {a_wallet.public_id}
    a_wallet.refresh_from_db(), b_wallet.refresh_from_db(), c_wallet.refresh_from_db()
    assert (a_wallet.balance, b_wallet.balance, c_wallet.balance) == (94_000, 4_000, 2_000)
    # Every posting carries the balance after it, in item order (statements need no sums).
    posted = Posting.objects.filter(account=a_wallet, pending=False)  # the fixture's deposit claim is not a line
    assert list(posted.order_by("pk").values_list("balance_after", flat=True)) == [
        100_000, 99_000, 97_000, 94_000,
    ]  # fmt: skip
    entries = JournalEntry.objects.filter(public_id__in=[r.entry_public_id for r in results])
    assert sorted(entries.values_list("entry_type", "channel", "amount")) == [
        ("transfer", "internal", 1_000), ("transfer", "internal", 2_000), ("transfer", "internal", 3_000),
    ]  # fmt: skip
    assert entries.get(amount=1_000).reference == "rent"
    assert check_ledger().ok


def test_every_item_gets_its_own_transfer_audit_record_like_a_single_transfer(engine, three):
    (alice, a_wallet), (_, b_wallet), (_, c_wallet) = three
    before = AuditEvent.objects.count()
    results = services.transfer_batch_create(
        actor=alice, transfers=[_item(a_wallet, b_wallet, 100), _item(a_wallet, c_wallet, 200)]
    )
    events = list(AuditEvent.objects.order_by("pk")[before:])
    assert [e.action for e in events] == ["TRANSFER", "TRANSFER"]
    assert {e.object_id for e in events} == {str(r.entry_public_id) for r in results}
    by_entry = {e.object_id: e for e in events}
    for result, amount, destination in zip(results, (100, 200), (b_wallet, c_wallet), strict=True):
        event = by_entry[str(result.entry_public_id)]
        assert event.user_id == alice.pk and event.actor_type == "user"
        assert event.object_type == "ledger.JournalEntry"
        assert event.change_diff == {
            "amount": amount, "currency": "ZAR",
            "from_account": str(a_wallet.public_id), "to_account": str(destination.public_id),
        }  # fmt: skip


@pytest.mark.parametrize(
    ("build", "code", "item"),
    [
        # The third item would overdraw: nothing of the batch is kept, not even the first two.
        (
            lambda a, b, c, other: [_item(a, b, 60_000), _item(a, c, 30_000), _item(a, b, 20_000)],
            "insufficient_funds",
            2,
        ),
        # Someone else's wallet as the source is simply not found (404), as for a single transfer.
        (lambda a, b, c, other: [_item(a, b, 100), _item(other, c, 100)], "not_found", 1),
        (lambda a, b, c, other: [_item(a, a, 100)], "same_account", 0),
    ],
)
def test_a_refused_item_refuses_the_whole_batch_and_changes_nothing(  # noqa: PLR0917 - fixtures and parameters
    engine, three, make_customer, build, code, item
):
    (alice, a_wallet), (_, b_wallet), (_, c_wallet) = three
    _, other_wallet = make_customer(balance=5_000)
    before = _ledger_state()
    with pytest.raises(LedgerError) as refused:
        services.transfer_batch_create(actor=alice, transfers=build(a_wallet, b_wallet, c_wallet, other_wallet))
    assert (refused.value.code, refused.value.item) == (code, item)
    assert _ledger_state() == before


def test_a_destination_in_another_currency_refuses_the_batch(engine, three):
    (alice, a_wallet), (_, b_wallet), (_, c_wallet) = three
    LedgerAccount.objects.filter(pk=c_wallet.pk).update(currency="USD")
    before = _ledger_state()
    with pytest.raises(LedgerError) as refused:
        services.transfer_batch_create(
            actor=alice, transfers=[_item(a_wallet, b_wallet, 1), _item(a_wallet, c_wallet, 1)]
        )
    assert (refused.value.code, refused.value.item) == ("currency_mismatch", 1)
    assert _ledger_state() == before


def test_the_daily_limit_counts_across_the_batch(engine, make_customer, settings):
    settings.LEDGER_KYC_DAILY_LIMITS = {1: 5_000}
    alice, a_wallet = make_customer(balance=100_000, tier=1)
    _, b_wallet = make_customer()
    services.transfer_batch_create(actor=alice, transfers=[_item(a_wallet, b_wallet, 2_000)])
    before = _ledger_state()
    with pytest.raises(LedgerError) as refused:
        services.transfer_batch_create(
            actor=alice, transfers=[_item(a_wallet, b_wallet, 2_000), _item(a_wallet, b_wallet, 1_001)]
        )
    assert (refused.value.code, refused.value.item) == ("daily_limit_exceeded", 1)
    assert _ledger_state() == before
    services.transfer_batch_create(
        actor=alice, transfers=[_item(a_wallet, b_wallet, 2_000), _item(a_wallet, b_wallet, 1_000)]
    )
    a_wallet.refresh_from_db()
    assert a_wallet.daily_debit_total == 5_000


def test_kyc_is_required(engine, make_customer):
    alice, a_wallet = make_customer(verified=False)
    _, b_wallet = make_customer()
    with pytest.raises(LedgerError) as refused:
        services.transfer_batch_create(actor=alice, transfers=[_item(a_wallet, b_wallet, 1)])
    assert refused.value.code == "kyc_required"


def test_resubmitting_a_batch_replays_it_and_a_partly_new_batch_makes_only_the_new_items(engine, three):
    (alice, a_wallet), (_, b_wallet), (_, c_wallet) = three
    first = [_item(a_wallet, b_wallet, 1_000), _item(a_wallet, c_wallet, 2_000)]
    made = services.transfer_batch_create(actor=alice, transfers=first)
    before = _ledger_state()
    again = services.transfer_batch_create(actor=alice, transfers=first)
    assert _ledger_state() == before
    assert [r.replayed for r in again] == [True, True]
    assert [(r.entry_public_id, r.from_balance_after, r.to_balance_after) for r in again] == [
        (r.entry_public_id, r.from_balance_after, r.to_balance_after) for r in made
    ]
    extended = services.transfer_batch_create(actor=alice, transfers=[*first, _item(a_wallet, b_wallet, 500)])
    assert [r.replayed for r in extended] == [True, True, False]
    assert extended[2].from_balance_after == 96_500
    assert JournalEntry.objects.count() == before[1] + 1


def test_a_key_first_used_by_a_single_transfer_replays_it_in_a_batch(engine, three):
    (alice, a_wallet), (_, b_wallet), _ = three
    key = new_key()
    single = services.transfer_create(
        actor=alice, source_account=a_wallet.public_id, destination_account=b_wallet.public_id, amount=700,
        currency="ZAR", idempotency_key=key,
    )  # fmt: skip
    (replayed,) = services.transfer_batch_create(actor=alice, transfers=[_item(a_wallet, b_wallet, 700, key=key)])
    assert replayed.replayed and replayed.entry_public_id == single.entry_public_id


def test_a_used_key_with_a_different_transfer_refuses_the_batch(engine, three):
    (alice, a_wallet), (_, b_wallet), (_, c_wallet) = three
    key = new_key()
    services.transfer_batch_create(actor=alice, transfers=[_item(a_wallet, b_wallet, 700, key=key)])
    before = _ledger_state()
    with pytest.raises(LedgerError) as refused:
        services.transfer_batch_create(
            actor=alice, transfers=[_item(a_wallet, c_wallet, 5), _item(a_wallet, b_wallet, 701, key=key)]
        )
    assert (refused.value.code, refused.value.item) == ("idempotency_key_reused", 1)
    assert _ledger_state() == before


@pytest.mark.parametrize(
    ("mutate", "code"),
    [
        (lambda item: item.update(amount=0), "invalid_amount"),
        (lambda item: item.update(amount=-5), "invalid_amount"),
        (lambda item: item.update(amount=1.5), "invalid_amount"),
        (lambda item: item.update(amount=10**13), "invalid_amount"),
        (lambda item: item.update(currency="USD"), "invalid_currency"),
        (lambda item: item.update(idempotency_key="short"), "invalid_idempotency_key"),
        (lambda item: item.update(destination_account="not-a-uuid"), "not_found"),
    ],
)
def test_the_service_validates_every_item_before_anything_moves(three, mutate, code):
    (alice, a_wallet), (_, b_wallet), _ = three
    bad = _item(a_wallet, b_wallet, 100)
    mutate(bad)
    before = _ledger_state()
    with pytest.raises(LedgerError) as refused:
        services.transfer_batch_create(actor=alice, transfers=[_item(a_wallet, b_wallet, 100), bad])
    assert (refused.value.code, refused.value.item) == (code, 1)
    assert _ledger_state() == before


def test_batch_size_and_duplicate_keys_are_refused(three, settings):
    settings.LEDGER_TRANSFER_BATCH_MAX = 3
    (alice, a_wallet), (_, b_wallet), _ = three
    with pytest.raises(LedgerError, match="invalid_batch"):
        services.transfer_batch_create(actor=alice, transfers=[])
    with pytest.raises(LedgerError, match="invalid_batch"):
        services.transfer_batch_create(actor=alice, transfers=[_item(a_wallet, b_wallet, 1) for _ in range(4)])
    key = new_key()
    with pytest.raises(LedgerError) as refused:
        services.transfer_batch_create(
            actor=alice, transfers=[_item(a_wallet, b_wallet, 1, key=key), _item(a_wallet, b_wallet, 2, key=key)]
        )
    assert (refused.value.code, refused.value.item) == ("duplicate_idempotency_key", 1)


def test_the_database_function_defends_itself_against_duplicate_keys(three):
    """Even a caller that skips the service cannot claim one key twice in one batch."""
    from django.db import DatabaseError

    (alice, a_wallet), (_, b_wallet), _ = three
    with pytest.raises(DatabaseError, match="ledger:invalid_batch"), connection.cursor() as cursor:
        cursor.execute(
            "SELECT * FROM ledger_transfer_batch(%s, %s::uuid[], %s::uuid[], %s::bigint[], %s::text[], %s::text[], "
            "%s::text[], %s::text[], NULL, NULL, '', NULL, NULL, NULL, NULL, NULL)",
            [alice.pk, [a_wallet.public_id] * 2, [b_wallet.public_id] * 2, [1, 2], ["ZAR"] * 2, ["dup-key-1"] * 2,
             ["f", "g"], ["", ""]],
        )  # fmt: skip


def test_a_batch_is_one_statement_on_postgresql(three):
    (alice, a_wallet), (_, b_wallet), (_, c_wallet) = three
    items = [_item(a_wallet, b_wallet if n % 2 else c_wallet, 10) for n in range(50)]
    with CaptureQueriesContext(connection) as queries:
        services.transfer_batch_create(actor=alice, transfers=items)
    # Inside the test's transaction: savepoint handling may add its own statements, never per item.
    batch_calls = [q for q in queries.captured_queries if "ledger_transfer_batch" in q["sql"]]
    assert len(batch_calls) == 1
    assert len(queries.captured_queries) <= 3


# --- API ---------------------------------------------------------------------------------------------


def test_the_api_makes_a_batch_and_replays_it(three):
    (alice, a_wallet), (_, b_wallet), (_, c_wallet) = three
    client = api_client(alice)
    body = {"transfers": [_item(a_wallet, b_wallet, 1_000, reference="salary"), _item(a_wallet, c_wallet, 2_000)]}
    made = client.post("/api/v1/transfers/batch/", body, format="json")
    assert made.status_code == 201, made.content
    lines = made.json()["transfers"]
    assert [line["balance_after"] for line in lines] == [99_000, 97_000]
    assert [line["idempotency_key"] for line in lines] == [item["idempotency_key"] for item in body["transfers"]]
    assert lines[0]["reference"] == "salary" and lines[0]["type"] == "transfer"
    assert lines[1]["destination_account"] == str(c_wallet.public_id)
    assert not any(line["replayed"] for line in lines)
    assert "Idempotent-Replayed" not in made
    again = client.post("/api/v1/transfers/batch/", body, format="json")
    assert again.status_code == 201 and again["Idempotent-Replayed"] == "true"
    assert [line["id"] for line in again.json()["transfers"]] == [line["id"] for line in lines]


def test_the_api_names_the_refused_item_in_the_error_shape(three):
    (alice, a_wallet), (_, b_wallet), _ = three
    before = _ledger_state()
    answer = api_client(alice).post(
        "/api/v1/transfers/batch/",
        {"transfers": [_item(a_wallet, b_wallet, 50_000), _item(a_wallet, b_wallet, 60_000)]},
        format="json",
    )
    assert answer.status_code == 422
    assert answer.json() == {
        "error": {
            "code": "insufficient_funds",
            "message": "The account has insufficient funds.",
            "fields": {"transfers.1": ["The account has insufficient funds."]},
        }
    }
    assert _ledger_state() == before


def test_another_customers_wallet_is_not_found_through_the_api(three, make_customer):
    (alice, _), (_, b_wallet), _ = three
    _, other_wallet = make_customer(balance=5_000)
    before = _ledger_state()
    answer = api_client(alice).post(
        "/api/v1/transfers/batch/", {"transfers": [_item(other_wallet, b_wallet, 1)]}, format="json"
    )
    assert answer.status_code == 404 and answer.json()["error"]["code"] == "not_found"
    assert _ledger_state() == before


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "transfers"),
        ({"transfers": []}, "transfers"),
        ({"transfers": "all of them"}, "transfers"),
        ({"transfers": [{"amount": 5}]}, "transfers.0.source_account"),
        ({"transfers": [{"amount": 1.5}]}, "transfers.0.amount"),
    ],
)
def test_malformed_batches_answer_400_in_the_error_shape(three, body, field):
    (alice, _), _, _ = three
    before = _ledger_state()
    answer = api_client(alice).post("/api/v1/transfers/batch/", body, format="json")
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert error["code"] == "validation_error" and field in error["fields"]
    assert _ledger_state() == before


def test_the_api_refuses_oversized_batches_and_duplicate_keys(three, settings):
    settings.LEDGER_TRANSFER_BATCH_MAX = 2
    (alice, a_wallet), (_, b_wallet), _ = three
    client = api_client(alice)
    too_many = client.post(
        "/api/v1/transfers/batch/", {"transfers": [_item(a_wallet, b_wallet, 1) for _ in range(3)]}, format="json"
    )
    assert too_many.status_code == 400 and "transfers" in too_many.json()["error"]["fields"]
    key = new_key()
    twice = client.post(
        "/api/v1/transfers/batch/",
        {"transfers": [_item(a_wallet, b_wallet, 1, key=key), _item(a_wallet, b_wallet, 2, key=key)]},
        format="json",
    )
    assert twice.status_code == 400 and "transfers" in twice.json()["error"]["fields"]


def test_the_api_needs_a_recent_mfa(three):
    (alice, a_wallet), (_, b_wallet), _ = three
    answer = api_client(alice, mfa=False).post(
        "/api/v1/transfers/batch/", {"transfers": [_item(a_wallet, b_wallet, 1)]}, format="json"
    )
    assert answer.status_code == 403
    assert Posting.objects.filter(account=b_wallet).count() == 0


def test_a_batch_answers_in_a_constant_number_of_queries(three, django_assert_max_num_queries):
    (alice, a_wallet), (_, b_wallet), (_, c_wallet) = three
    client = api_client(alice)
    small = {"transfers": [_item(a_wallet, b_wallet, 1)]}
    large = {"transfers": [_item(a_wallet, c_wallet if n % 2 else b_wallet, 1) for n in range(40)]}
    # The user's first request reads the user row, later ones its snapshot (accounts/auth_snapshot.py).
    assert client.get("/api/v1/accounts/").status_code == 200
    with CaptureQueriesContext(connection) as one:
        assert client.post("/api/v1/transfers/batch/", small, format="json").status_code == 201
    with CaptureQueriesContext(connection) as forty:
        assert client.post("/api/v1/transfers/batch/", large, format="json").status_code == 201
    assert len(forty.captured_queries) == len(one.captured_queries) <= 6


def test_unique_keys_per_actor_not_global(three, make_customer):
    """Two customers may use the same key: idempotency is per (actor, key)."""
    (alice, a_wallet), (bob, b_wallet), _ = three
    settle(
        services.deposit_create(
            actor=bob, account=b_wallet.public_id, amount=1_000, currency="ZAR", channel="eft", funding_source="EFT-2",
            idempotency_key=new_key(),
        )
    )  # fmt: skip
    key = f"shared-{uuid.uuid4().hex}"
    (first,) = services.transfer_batch_create(actor=alice, transfers=[_item(a_wallet, b_wallet, 10, key=key)])
    (second,) = services.transfer_batch_create(actor=bob, transfers=[_item(b_wallet, a_wallet, 10, key=key)])
    assert not first.replayed and not second.replayed
    assert first.entry_public_id != second.entry_public_id

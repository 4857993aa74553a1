"""The ledger API: error shape, idempotency over HTTP, scoping (404), MFA step-up, query counts, CSV."""

from __future__ import annotations

import csv
import io
import time

import pytest

from ledger import services
from ledger.cards import services as cards
from ledger.models import JournalEntry
from tests.kernel.test_errors import assert_error_shape
from tests.ledger.conftest import api_client, card_expiry, ledger_snapshot, new_key, post_card_deposit

pytestmark = pytest.mark.django_db


def _post_transfer(client, source, destination, amount=1_000, key=None, **extra):
    body = {
        "source_account": str(source.public_id),
        "destination_account": str(destination.public_id),
        "amount": amount,
        "currency": "ZAR",
        **extra,
    }
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not False else {}
    if key is None:
        headers = {"HTTP_IDEMPOTENCY_KEY": new_key()}
    return client.post("/api/v1/transfers/", body, format="json", **headers)


def test_transfer_answers_201_and_replays_with_the_same_body(customer, other_customer, django_assert_max_num_queries):
    (alice, a_wallet), (_, b_wallet) = customer, other_customer
    client = api_client(alice)
    key = new_key()
    # User lookup + one ledger_move call + the audit row; the other two are the savepoint pair that
    # atomic() uses inside the test's own transaction (in production: BEGIN/COMMIT, not counted).
    with django_assert_max_num_queries(5):
        first = _post_transfer(client, a_wallet, b_wallet, 2_500, key=key, reference="lunch")
    assert first.status_code == 201, first.content
    body = first.json()
    assert body["type"] == "transfer" and body["amount"] == 2_500 and body["balance_after"] == 97_500
    assert body["source_account"] == str(a_wallet.public_id)
    assert body["destination_account"] == str(b_wallet.public_id)
    assert "Idempotent-Replayed" not in first
    before = ledger_snapshot()
    again = _post_transfer(client, a_wallet, b_wallet, 2_500, key=key, reference="lunch")
    assert again.status_code == 201 and again.json() == body and again["Idempotent-Replayed"] == "true"
    assert ledger_snapshot() == before
    conflict = _post_transfer(client, a_wallet, b_wallet, 2_501, key=key, reference="lunch")
    assert_error_shape(conflict, 409, "idempotency_key_reused")
    assert ledger_snapshot() == before


@pytest.mark.parametrize(
    ("amount", "currency"),
    [(-1, "ZAR"), (0, "ZAR"), (10.5, "ZAR"), (10.0, "ZAR"), ("100", "ZAR"), (10**13, "ZAR"), (True, "ZAR"),
     (None, "ZAR"), (100, "USD"), (100, "")],
)  # fmt: skip
def test_malformed_amounts_answer_400_and_change_nothing(customer, other_customer, amount, currency):
    (alice, a_wallet), (_, b_wallet) = customer, other_customer
    before = ledger_snapshot()
    response = api_client(alice).post(
        "/api/v1/transfers/",
        {"source_account": str(a_wallet.public_id), "destination_account": str(b_wallet.public_id),
         "amount": amount, "currency": currency},
        format="json", HTTP_IDEMPOTENCY_KEY=new_key(),
    )  # fmt: skip
    error = assert_error_shape(response, 400, "validation_error")
    assert set(error["fields"]) <= {"amount", "currency"}
    if currency:
        assert currency not in response.content.decode()
    assert ledger_snapshot() == before


def test_missing_or_malformed_idempotency_key_is_refused(customer, other_customer):
    (alice, a_wallet), (_, b_wallet) = customer, other_customer
    before = ledger_snapshot()
    assert_error_shape(_post_transfer(api_client(alice), a_wallet, b_wallet, key=False), 400, "invalid_idempotency_key")
    assert_error_shape(
        _post_transfer(api_client(alice), a_wallet, b_wallet, key="bad key!"), 400, "invalid_idempotency_key"
    )
    assert ledger_snapshot() == before


def test_money_movement_needs_a_recent_mfa(customer, other_customer):
    (alice, a_wallet), (_, b_wallet) = customer, other_customer
    before = ledger_snapshot()
    assert_error_shape(_post_transfer(api_client(alice, mfa=False), a_wallet, b_wallet), 403, "mfa_step_up_required")
    stale = api_client(alice, mfa_at=int(time.time()) - 3600)
    assert_error_shape(_post_transfer(stale, a_wallet, b_wallet), 403, "mfa_step_up_required")
    assert ledger_snapshot() == before


def test_another_customers_wallet_answers_404_everywhere(customer, other_customer):
    (_alice, a_wallet), (bob, b_wallet) = customer, other_customer
    client = api_client(bob)
    before = ledger_snapshot()
    assert_error_shape(_post_transfer(client, a_wallet, b_wallet), 404, "not_found")
    response = client.post(
        "/api/v1/deposits/",
        {"account": str(a_wallet.public_id), "amount": 100, "currency": "ZAR", "method": "eft", "funding_source": "E1"},
        format="json", HTTP_IDEMPOTENCY_KEY=new_key(),
    )  # fmt: skip
    assert_error_shape(response, 404, "not_found")
    assert_error_shape(client.get(f"/api/v1/accounts/{a_wallet.public_id}/"), 404, "not_found")
    assert_error_shape(client.get(f"/api/v1/accounts/{a_wallet.public_id}/statement/"), 404, "not_found")
    assert_error_shape(client.get(f"/api/v1/accounts/{a_wallet.public_id}/statement/?format=csv"), 404, "not_found")
    assert [a["id"] for a in client.get("/api/v1/accounts/").json()["results"]] == [str(b_wallet.public_id)]
    assert ledger_snapshot() == before


def test_unverified_customer_gets_403_kyc_required(make_customer, other_customer):
    carol, c_wallet = make_customer(verified=False)
    _, b_wallet = other_customer
    assert_error_shape(_post_transfer(api_client(carol), c_wallet, b_wallet), 403, "kyc_required")


def test_daily_limit_answers_403(make_customer):
    alice, a_wallet = make_customer(tier=1, balance=600_000)
    _, b_wallet = make_customer()
    client = api_client(alice)
    assert _post_transfer(client, a_wallet, b_wallet, 500_000).status_code == 201
    before = ledger_snapshot()
    assert_error_shape(_post_transfer(client, a_wallet, b_wallet, 1), 403, "daily_limit_exceeded")
    assert ledger_snapshot() == before


def test_insufficient_funds_answers_422(customer, other_customer):
    (alice, a_wallet), (_, b_wallet) = customer, other_customer
    assert_error_shape(_post_transfer(api_client(alice), a_wallet, b_wallet, 100_001), 422, "insufficient_funds")


def test_deposit_refuses_card_numbers_as_funding_source(customer):
    alice, a_wallet = customer
    before = ledger_snapshot()
    response = api_client(alice).post(
        "/api/v1/deposits/",
        {"account": str(a_wallet.public_id), "amount": 100, "currency": "ZAR", "method": "card",
         "funding_source": "4111 1111 1111 1111"},
        format="json", HTTP_IDEMPOTENCY_KEY=new_key(),
    )  # fmt: skip
    assert_error_shape(response, 400, "validation_error")
    assert "4111" not in response.content.decode()
    assert ledger_snapshot() == before


def test_deposit_and_withdrawal_over_the_api(customer, operations, django_assert_max_num_queries):
    alice, a_wallet = customer
    client = api_client(alice)
    card = cards.card_add(actor=alice, pan="4111111111111111", expiry=card_expiry(), cvv="123")
    # A pending movement runs the engine's ORM steps (ADR 0005): a fixed number of statements,
    # whatever the ledger's size (user, card, resolve, KYC, claim, locks, pending totals,
    # postings, audit, savepoints), then the sandbox processor's authorise and capture.
    with django_assert_max_num_queries(20):
        deposit = post_card_deposit(client, a_wallet, card, 5_000)
    # A claim: the posted balance is unchanged until the processor's signed capture arrives.
    assert deposit.status_code == 201 and deposit.json()["balance_after"] == 100_000
    assert deposit.json()["status"] == "pending"
    bank = client.post(
        "/api/v1/bank-accounts/",
        {"bank_name": "Bank", "branch_code": "250655", "account_number": "62012345678"},
        format="json",
    )
    assert bank.status_code == 201
    assert bank.json()["account_number_masked"] == "***5678" and "account_number" not in bank.json()
    withdrawal_body = {"account": str(a_wallet.public_id), "bank_account": bank.json()["id"], "amount": 4_000,
                       "currency": "ZAR"}  # fmt: skip
    refused = client.post("/api/v1/withdrawals/", withdrawal_body, format="json", HTTP_IDEMPOTENCY_KEY=new_key())
    assert_error_shape(refused, 403, "bank_account_not_verified")
    services.bank_account_verify(actor=operations, bank_account=bank.json()["id"])
    withdrawal = client.post("/api/v1/withdrawals/", withdrawal_body, format="json", HTTP_IDEMPOTENCY_KEY=new_key())
    assert withdrawal.status_code == 201 and withdrawal.json()["balance_after"] == 100_000
    assert withdrawal.json()["status"] == "pending"
    account = client.get(f"/api/v1/accounts/{a_wallet.public_id}/").json()
    assert (account["balance"], account["available_balance"]) == (100_000, 96_000)
    assert (account["pending_in"], account["pending_out"]) == (5_000, 4_000)


def test_account_reads_are_scoped_and_constant_in_queries(customer, other_customer, django_assert_max_num_queries):
    (alice, a_wallet), (_, b_wallet) = customer, other_customer
    client = api_client(alice)
    for amount in (100, 200, 300, 400):
        assert _post_transfer(client, a_wallet, b_wallet, amount).status_code == 201
    with django_assert_max_num_queries(3):
        listing = client.get("/api/v1/accounts/")
    assert listing.json()["results"] == [
        {"id": str(a_wallet.public_id), "kind": "customer_wallet", "currency": "ZAR", "balance": 99_000,
         "available_balance": 99_000, "pending_in": 0, "pending_out": 0,
         "created_at": listing.json()["results"][0]["created_at"]}
    ]  # fmt: skip
    with django_assert_max_num_queries(2):
        detail = client.get(f"/api/v1/accounts/{a_wallet.public_id}/")
    assert detail.json()["balance"] == 99_000 and detail.json()["available_balance"] == 99_000
    with django_assert_max_num_queries(3):
        page = client.get(f"/api/v1/accounts/{a_wallet.public_id}/statement/?page_size=2")
    lines = page.json()["results"]
    assert [(line["type"], line["amount"], line["balance_after"]) for line in lines] == [
        ("transfer", -400, 99_000),
        ("transfer", -300, 99_400),
    ]
    with django_assert_max_num_queries(3):
        next_page = client.get(page.json()["next"])
    assert [line["amount"] for line in next_page.json()["results"]] == [-200, -100]
    final = client.get(next_page.json()["next"]).json()
    assert [line["type"] for line in final["results"]] == ["deposit"] and final["next"] is None


def test_statement_csv_export_guards_against_formula_injection(customer, other_customer):
    (alice, a_wallet), (bob, b_wallet) = customer, other_customer
    assert _post_transfer(api_client(bob), b_wallet, a_wallet, 1_234, reference="=HYPERLINK(1)").status_code == 201
    response = api_client(alice).get(f"/api/v1/accounts/{a_wallet.public_id}/statement/?format=csv")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [(r["type"], r["amount"], r["balance_after"], r["reference"]) for r in rows] == [
        ("transfer", "1234", "101234", "'=HYPERLINK(1)"),
        ("deposit", "100000", "100000", ""),
    ]


def test_reversal_endpoint_is_for_operations_with_mfa(customer, other_customer, operations):
    (alice, a_wallet), (_, b_wallet) = customer, other_customer
    created = _post_transfer(api_client(alice), a_wallet, b_wallet, 3_000).json()
    url = f"/api/v1/ops/entries/{created['id']}/reversal/"
    assert_error_shape(api_client(alice).post(url, {"reason": "please"}, format="json"), 403, "permission_denied")
    response = api_client(operations).post(url, {"reason": "duplicate charge"}, format="json")
    assert response.status_code == 201 and response.json()["reverses"] == created["id"]
    assert_error_shape(api_client(operations).post(url, {"reason": "again"}, format="json"), 409, "already_reversed")
    assert JournalEntry.objects.filter(reverses__public_id=created["id"]).count() == 1


def test_options_on_the_statement_answers_json_even_when_csv_is_asked(customer):
    """Found by the API fuzz test: OPTIONS ?format=csv crashed the CSV renderer with metadata (500)."""
    alice, a_wallet = customer
    response = api_client(alice).options(f"/api/v1/accounts/{a_wallet.public_id}/statement/?format=csv")
    assert response.status_code == 200 and response["Content-Type"].startswith("application/json")
    assert response.json()["name"]

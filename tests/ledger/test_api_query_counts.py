"""Regression guard for the hot API requests (issue 19): the exact statements each one sends.

A customer's transfer, balance (account detail) and statement (postings list) are the requests
every customer makes; their database round trips are fixed here, exactly, so that a statement
added anywhere on their path (middleware, authentication, a permission, the admin header's role
query, a serializer) fails this test instead of slipping into the latency. The service-level
counts (``ledger_move`` is the transfer's only statement) are in test_audit_in_function.py and
test_transfer_batch.py; this file counts whole requests through the middleware and DRF.

Run on committed data (``transaction=True``): inside a test transaction the movement's savepoint
would add statements production never sends. The first request of a user also reads the user row
(and then keeps the authentication snapshot, accounts/auth_snapshot.py): counted separately.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.ledger.conftest import api_client, new_key

pytestmark = pytest.mark.django_db(transaction=True)


def _statements(call) -> tuple[int, list[str]]:
    with CaptureQueriesContext(connection) as queries:
        response = call()
    return response.status_code, [query["sql"] for query in queries.captured_queries]


def _transfer(client, source, destination):
    return client.post(
        "/api/v1/transfers/",
        {"source_account": str(source.public_id), "destination_account": str(destination.public_id),
         "amount": 100, "currency": "ZAR"},
        format="json", HTTP_IDEMPOTENCY_KEY=new_key(),
    )  # fmt: skip


@pytest.fixture
def pair(make_customer):
    (alice, wallet), (_, other) = make_customer(balance=100_000), make_customer()
    return alice, wallet, other


def test_a_transfer_request_is_one_statement(pair):
    alice, wallet, other = pair
    client = api_client(alice)
    status, first = _statements(lambda: _transfer(client, wallet, other))
    assert status == 201
    # The user's first request: its row (then snapshotted) and the ledger call.
    assert len(first) == 2 and 'FROM "accounts_user"' in first[0], first
    status, sql = _statements(lambda: _transfer(client, wallet, other))
    assert status == 201
    assert len(sql) == 1, sql
    assert "ledger_move" in sql[0]


def test_a_balance_request_is_one_statement(pair):
    alice, wallet, _ = pair
    client = api_client(alice)
    path = f"/api/v1/accounts/{wallet.public_id}/"
    assert client.get(path).status_code == 200
    status, sql = _statements(lambda: client.get(path))
    assert status == 200
    assert len(sql) == 1, sql
    assert 'FROM "ledger_ledgeraccount"' in sql[0]


def test_a_statement_request_is_two_statements_however_many_postings(pair):
    alice, wallet, other = pair
    client = api_client(alice)
    path = f"/api/v1/accounts/{wallet.public_id}/statement/"
    assert client.get(path).status_code == 200
    status, few = _statements(lambda: client.get(path))
    assert status == 200
    for _ in range(5):
        assert _transfer(client, wallet, other).status_code == 201
    status, many = _statements(lambda: client.get(path))
    assert status == 200
    assert len(many) == len(few) == 2, many
    assert 'FROM "ledger_ledgeraccount"' in many[0] and 'FROM "ledger_posting"' in many[1]


def test_an_account_list_request_is_two_statements(pair):
    alice, _, _ = pair
    client = api_client(alice)
    assert client.get("/api/v1/accounts/").status_code == 200
    status, sql = _statements(lambda: client.get("/api/v1/accounts/"))
    assert status == 200
    assert len(sql) == 2, sql  # the page's count, the page

"""Issue 15, "5xx on input": a tampered pagination cursor on the statement and the audit list used
to reach the database as a raw string (``p=not-a-date``) and answer 500. Now it is a 400."""

from __future__ import annotations

import base64

import pytest

from tests.kernel.test_errors import assert_error_shape
from tests.ledger.conftest import api_client
from tests.personas import make_api_client, make_staff


def _cursor(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


TAMPERED = [
    "cD1ub3QtYS1kYXRlJnI9MA==",  # p=not-a-date&r=0, as the attack sent it
    _cursor("p=2026-13-45T00:00:00Z"),
    _cursor("p=1e999"),
    _cursor("p=%00"),
    _cursor("o=-5&p=x"),
    _cursor("r=yes"),
    "not base64 at all!",
    "%%%",
]


@pytest.mark.parametrize("cursor", TAMPERED)
def test_tampered_statement_cursor_is_a_400(customer, cursor):
    user, wallet = customer
    response = api_client(user).get(f"/api/v1/accounts/{wallet.public_id}/statement/", {"cursor": cursor})
    error = assert_error_shape(response, 400, "validation_error")
    assert "cursor" in error["fields"]


@pytest.mark.django_db
@pytest.mark.parametrize("cursor", TAMPERED)
def test_tampered_audit_cursor_is_a_400(cursor):
    auditor = make_staff("auditor")
    response = make_api_client(auditor).get("/api/v1/audit/events/", {"cursor": cursor})
    error = assert_error_shape(response, 400, "validation_error")
    assert "cursor" in error["fields"]


def test_the_cursors_we_hand_out_still_work(customer):
    user, wallet = customer
    client = api_client(user)
    first = client.get(f"/api/v1/accounts/{wallet.public_id}/statement/", {"page_size": 1})
    assert first.status_code == 200
    follow = client.get(first.json()["previous"] or first.json()["next"] or first.request["PATH_INFO"])
    assert follow.status_code == 200

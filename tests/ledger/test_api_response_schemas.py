"""Real answers of the money endpoints match the OpenAPI schema the API publishes (SPEC C10).

The fuzz run (tests/test_api_fuzz.py) checks every answer it provokes against the schema too, but
random bodies rarely get past validation to a 201; here each movement really happens, and its
answer is validated against the documented response (every field required, typed, enums closed).
"""

from __future__ import annotations

import pytest
from jsonschema import Draft7Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from ledger import services
from ledger.cards import services as cards
from tests.ledger.conftest import api_client, card_expiry, new_key, post_card_deposit

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def openapi(openapi_document) -> dict:
    return _json_schema(openapi_document)


def _json_schema(node):
    """OpenAPI 3.0's ``nullable: true`` in JSON Schema terms (the validator knows only the latter)."""
    if isinstance(node, list):
        return [_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _json_schema(value) for key, value in node.items()}
    if node.pop("nullable", False):
        if "type" in node:
            node["type"] = [node["type"], "null"]
            if "enum" in node:
                node["enum"] = [*node["enum"], None]
        else:
            node = {"anyOf": [node, {"type": "null"}]}
    return node


def assert_documented(openapi: dict, path: str, response) -> None:
    """The response's status is documented for the operation, and its JSON body matches."""
    method = response.wsgi_request.method.lower()
    documented = openapi["paths"][path][method]["responses"]
    assert str(response.status_code) in documented, (path, response.status_code, response.content[:200])
    assert "application/json" in documented[str(response.status_code)]["content"]
    # Validate through a reference into the whole document, so its own $refs resolve there.
    steps = ["paths", path, method, "responses", str(response.status_code), "content", "application/json", "schema"]
    pointer = "/".join(step.replace("~", "~0").replace("/", "~1") for step in steps)
    registry = Registry().with_resource("urn:openapi", Resource.from_contents(openapi, default_specification=DRAFT7))
    validator = Draft7Validator({"$ref": f"urn:openapi#/{pointer}"}, registry=registry)
    errors = [error.message for error in validator.iter_errors(response.json())]
    assert not errors, (path, errors)


def test_every_movement_answers_what_its_schema_says(openapi, customer, other_customer, operations):
    (alice, a_wallet), (_, b_wallet) = customer, other_customer
    client = api_client(alice)
    card = cards.card_add(actor=alice, pan="4111111111111111", expiry=card_expiry(), cvv="123")
    deposit = post_card_deposit(client, a_wallet, card, 5_000)
    assert deposit.status_code == 201
    assert_documented(openapi, "/api/v1/deposits/", deposit)

    transfer = client.post(
        "/api/v1/transfers/",
        {"source_account": str(a_wallet.public_id), "destination_account": str(b_wallet.public_id), "amount": 700,
         "currency": "ZAR", "reference": "rent"},
        format="json", HTTP_IDEMPOTENCY_KEY=new_key(),
    )  # fmt: skip
    assert transfer.status_code == 201
    assert_documented(openapi, "/api/v1/transfers/", transfer)

    item = {"source_account": str(a_wallet.public_id), "destination_account": str(b_wallet.public_id),
            "amount": 100, "currency": "ZAR"}  # fmt: skip
    batch = client.post(
        "/api/v1/transfers/batch/",
        {"transfers": [{**item, "idempotency_key": new_key()}, {**item, "idempotency_key": new_key()}]},
        format="json",
    )
    assert batch.status_code == 201 and len(batch.json()["transfers"]) == 2
    assert_documented(openapi, "/api/v1/transfers/batch/", batch)

    bank = client.post(
        "/api/v1/bank-accounts/", {"bank_name": "Bank", "branch_code": "250655", "account_number": "62012345678"},
        format="json",
    )  # fmt: skip
    services.bank_account_verify(actor=operations, bank_account=bank.json()["id"])
    withdrawal = client.post(
        "/api/v1/withdrawals/",
        {"account": str(a_wallet.public_id), "bank_account": bank.json()["id"], "amount": 400, "currency": "ZAR"},
        format="json", HTTP_IDEMPOTENCY_KEY=new_key(),
    )  # fmt: skip
    assert withdrawal.status_code == 201
    assert_documented(openapi, "/api/v1/withdrawals/", withdrawal)

    reversal = api_client(operations).post(
        f"/api/v1/ops/entries/{transfer.json()['id']}/reversal/", {"reason": "duplicate"}, format="json"
    )
    assert reversal.status_code == 201
    assert_documented(openapi, "/api/v1/ops/entries/{public_id}/reversal/", reversal)


def test_the_settlement_endpoints_answer_what_their_schema_says(openapi, customer, operations):
    """Two-phase settlement (ADR 0005): listings, the webhook, both operations steps and a refusal."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from rest_framework.test import APIClient

    from accounts import roles
    from ledger.settlement import processors

    alice, a_wallet = customer
    client = api_client(alice)
    deposits = [
        services.deposit_create(
            actor=alice, account=a_wallet.public_id, amount=1_000 + n, currency="ZAR", channel="eft",
            funding_source=f"EFT-S{n}", idempotency_key=new_key(),
        )
        for n in range(2)
    ]  # fmt: skip
    mine = client.get("/api/v1/pending/")
    assert mine.status_code == 200 and len(mine.json()) >= 2
    assert_documented(openapi, "/api/v1/pending/", mine)
    queue = api_client(operations).get("/api/v1/ops/pending/")
    assert queue.status_code == 200
    assert_documented(openapi, "/api/v1/ops/pending/", queue)

    first = deposits[0]
    callback = processors.signed_callback(
        "bank", "deposit.received", {"reference": str(first.entry_public_id), "amount": 1_000, "currency": "ZAR"}
    )
    headers = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in callback.headers.items()}
    hook = APIClient().post("/api/v1/webhooks/bank/", callback.body, content_type="application/json", **headers)
    assert hook.status_code == 200
    assert_documented(openapi, "/api/v1/webhooks/bank/", hook)
    replay = APIClient().post("/api/v1/webhooks/bank/", callback.body, content_type="application/json", **headers)
    assert replay.status_code == 409
    assert_documented(openapi, "/api/v1/webhooks/bank/", replay)

    second = get_user_model().objects.create_user(email="ops-schema-2@example.test", is_staff=True)
    second.groups.add(Group.objects.get_or_create(name=roles.OPERATIONS)[0])
    path = "/api/v1/ops/pending/{public_id}"
    base = f"/api/v1/ops/pending/{deposits[1].entry_public_id}"
    line = api_client(operations).post(f"{base}/statement-line/", {"statement_line": "LINE-1"}, format="json")
    assert line.status_code == 201
    assert_documented(openapi, f"{path}/statement-line/", line)
    confirm = api_client(second).post(f"{base}/confirm/", {"outcome": "voided"}, format="json")
    assert confirm.status_code == 200 and confirm.json() == {
        "id": str(deposits[1].entry_public_id), "status": "voided", "settled_entry": None,
    }  # fmt: skip
    assert_documented(openapi, f"{path}/confirm/", confirm)


def test_a_schema_mismatch_is_caught(openapi, customer, other_customer):
    """The check itself can fail: an answer missing a documented field does not pass."""
    (alice, a_wallet), (_, b_wallet) = customer, other_customer
    transfer = api_client(alice).post(
        "/api/v1/transfers/",
        {"source_account": str(a_wallet.public_id), "destination_account": str(b_wallet.public_id), "amount": 5,
         "currency": "ZAR"},
        format="json", HTTP_IDEMPOTENCY_KEY=new_key(),
    )  # fmt: skip
    body = transfer.json()
    del body["balance_after"]
    transfer.json = lambda: body
    with pytest.raises(AssertionError, match="balance_after"):
        assert_documented(openapi, "/api/v1/transfers/", transfer)


def test_the_audit_report_answers_what_its_schema_says(openapi, customer):
    from tests.personas import make_api_client, make_staff

    auditor = make_staff("auditor")
    report = make_api_client(auditor, mfa=True).get("/api/v1/audit/reports/events/")
    assert report.status_code == 200 and report.json()["summary"]["count"] >= 1
    assert_documented(openapi, "/api/v1/audit/reports/events/", report)


def test_password_reset_answers_what_its_schema_says(openapi, customer):
    from rest_framework.test import APIClient

    alice, _ = customer
    response = APIClient().post("/api/v1/auth/password/reset/", {"email": alice.email}, format="json")
    assert response.status_code == 202
    assert_documented(openapi, "/api/v1/auth/password/reset/", response)


def test_refusals_answer_the_documented_error_shape(openapi, customer, other_customer):
    (alice, a_wallet), (_, b_wallet) = customer, other_customer
    client = api_client(alice)
    body = {"source_account": str(a_wallet.public_id), "destination_account": str(b_wallet.public_id),
            "amount": 100_001, "currency": "ZAR"}  # fmt: skip
    refused = client.post("/api/v1/transfers/", body, format="json", HTTP_IDEMPOTENCY_KEY=new_key())
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "insufficient_funds"
    assert_documented(openapi, "/api/v1/transfers/", refused)
    invalid = client.post("/api/v1/transfers/", {**body, "amount": -1}, format="json", HTTP_IDEMPOTENCY_KEY=new_key())
    assert invalid.status_code == 400 and "amount" in invalid.json()["error"]["fields"]
    assert_documented(openapi, "/api/v1/transfers/", invalid)

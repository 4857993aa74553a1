"""A database failover as the API's clients see it (SPEC C9, issue 18).

The connection under a request really dies (the view terminates its own backend, as a failover
does to every session of the old leader). The API then answers 503 in the JSON error shape with
Retry-After, never a bare 500; an idempotent request (a safe method, or a write carrying an
Idempotency-Key) is replayed once inside the app and succeeds; a write without a key is not.
The failover itself, on Patroni, is scripts/ha_drill_db.py (tests/ha/).
"""

from __future__ import annotations

import json

import pytest
from django.test import Client

from tests import urls_failover

pytestmark = [pytest.mark.urls("tests.urls_failover"), pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _calls():
    urls_failover.CALLS.clear()
    urls_failover.FAILURES.clear()
    yield
    urls_failover.CALLS.clear()
    urls_failover.FAILURES.clear()


@pytest.fixture
def client_without_raising() -> Client:
    return Client(raise_request_exception=False)


def _is_unavailable(response) -> None:
    assert response.status_code == 503
    assert response["Content-Type"].startswith("application/json")
    assert int(response["Retry-After"]) > 0
    body = response.json()
    assert set(body) == {"error"} and body["error"]["code"] == "service_unavailable"
    assert "Traceback" not in response.content.decode() and "SELECT" not in response.content.decode()


def test_a_read_that_loses_its_connection_is_replayed_once_and_succeeds(client):
    urls_failover.FAILURES["api"] = 1
    response = client.get("/api/test/ledger-like/")
    assert response.status_code == 200 and response.json() == {"value": 1}
    assert urls_failover.CALLS["api"] == 2


def test_a_keyed_write_that_loses_its_connection_is_replayed_once_with_its_body(client):
    urls_failover.FAILURES["api"] = 1
    response = client.post(
        "/api/test/ledger-like/", data=json.dumps({"amount": 125}), content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="k-1",
    )  # fmt: skip
    assert response.status_code == 201 and response.json() == {"value": 1, "echo": 125}
    assert urls_failover.CALLS["api"] == 2


def test_a_write_without_a_key_is_never_replayed_and_answers_503(client):
    urls_failover.FAILURES["api"] = 1
    response = client.post("/api/test/ledger-like/", data=json.dumps({"amount": 125}), content_type="application/json")
    _is_unavailable(response)
    assert urls_failover.CALLS["api"] == 1


def test_a_second_loss_is_not_replayed_again_and_answers_503(client):
    urls_failover.FAILURES["api"] = 2
    _is_unavailable(client.get("/api/test/ledger-like/"))
    assert urls_failover.CALLS["api"] == 2  # one replay, no more


def test_outside_the_api_views_a_lost_connection_is_a_503_too(client_without_raising):
    urls_failover.FAILURES["plain"] = 2
    _is_unavailable(client_without_raising.get("/test/plain/"))
    assert urls_failover.CALLS["plain"] == 2


def test_an_unreachable_database_answers_503_not_500(client_without_raising, settings):
    """No node accepts connections (the leader is gone, none elected yet): 503 with Retry-After."""
    from django.db import connection

    from tests.fintech.test_health import unused_port

    original = connection.settings_dict["PORT"]
    connection.close()
    connection.settings_dict["PORT"] = unused_port()
    try:
        response = client_without_raising.get("/api/test/ledger-like/")
    finally:
        connection.close()
        connection.settings_dict["PORT"] = original
    _is_unavailable(response)


def test_the_settings_bound_every_wait_on_the_database(settings):
    """A hung node cannot hold a request: connect and statement timeouts, keepalives."""
    options = settings.DATABASES["default"]["OPTIONS"]
    assert 0 < options["connect_timeout"] <= 5
    assert options["keepalives"] == 1 and options["keepalives_idle"] <= 30
    assert "statement_timeout=" in options["options"]
    timeout_ms = int(options["options"].split("statement_timeout=")[1].split()[0])
    assert 0 < timeout_ms < 30_000  # below gunicorn's worker timeout


def test_failover_options_merge_with_options_from_the_url():
    from kernel.env import database_config

    config = database_config(
        "postgres://app@db-a:5432,db-b/fintech?options=-c%20search_path%3Dledger", connect_timeout=2,
        statement_timeout_ms=1000,
    )  # fmt: skip
    assert config["OPTIONS"]["connect_timeout"] == 2
    assert config["OPTIONS"]["options"] == "-c search_path=ledger -c statement_timeout=1000"
    sqlite = database_config("sqlite:///x.db", connect_timeout=2, statement_timeout_ms=1)
    assert "connect_timeout" not in sqlite.get("OPTIONS", {})

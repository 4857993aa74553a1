"""Liveness does no I/O; readiness gates on this process's own state, not on shared dependencies."""

from __future__ import annotations

import socket

import pytest
from django.db import connection


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_healthz_answers_without_touching_the_database(client):
    # No django_db mark: pytest-django raises on any database access, so a 200 proves no I/O.
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_healthz_rejects_other_methods_with_the_error_shape(client):
    response = client.post("/healthz")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


@pytest.mark.django_db
def test_readyz_is_ready_when_database_redis_and_migrations_are(client):
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"] == {"database": "ok", "redis": "ok", "migrations": "ok"}


def _with_unreachable_postgresql(client):
    original_port = connection.settings_dict["PORT"]
    connection.close()
    connection.settings_dict["PORT"] = unused_port()
    try:
        return client.get("/readyz")
    finally:
        connection.close()
        connection.settings_dict["PORT"] = original_port


@pytest.mark.django_db(transaction=True)
def test_a_database_outage_leaves_a_running_instance_in_the_load_balancer(client, monkeypatch):
    """The database is shared: failing readiness for it would drop every instance at once."""
    from fintech import health

    monkeypatch.setitem(health._migration_state, "all_applied", False)
    assert client.get("/readyz").status_code == 200  # migrations confirmed once
    response = _with_unreachable_postgresql(client)
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["checks"] == {"database": "unreachable", "redis": "ok", "migrations": "ok"}


@pytest.mark.django_db(transaction=True)
def test_an_instance_that_never_reached_the_database_is_not_ready(client, monkeypatch):
    """A new instance started during an outage cannot know that its code matches the schema."""
    from fintech import health

    monkeypatch.setitem(health._migration_state, "all_applied", False)
    response = _with_unreachable_postgresql(client)
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == "unreachable" and body["checks"]["migrations"] == "unknown"


@pytest.mark.django_db
def test_a_redis_outage_is_reported_but_keeps_the_instance_in_rotation(client, settings):
    settings.REDIS_URL = f"redis://127.0.0.1:{unused_port()}/0"
    client.get("/readyz")
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["status"] == "degraded"
    assert response.json()["checks"]["redis"] == "unreachable"


@pytest.mark.django_db(transaction=True)
def test_a_hung_database_cannot_hold_the_readiness_probe(client, monkeypatch):
    """A server that accepts the connection and never answers (a SIGSTOPped primary): the probe
    gives up after its one-second connect timeout, well inside the probes' 3 s timeouts."""
    import time

    from fintech import health

    monkeypatch.setitem(health._migration_state, "all_applied", True)
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # the kernel completes handshakes; nothing ever reads or answers
        original_port = connection.settings_dict["PORT"]
        connection.close()
        connection.settings_dict["PORT"] = silent.getsockname()[1]
        try:
            started = time.monotonic()
            response = client.get("/readyz")
            elapsed = time.monotonic() - started
        finally:
            connection.close()
            connection.settings_dict["PORT"] = original_port
    assert elapsed < 2.5, elapsed
    assert response.status_code == 200 and response.json()["checks"]["database"] == "unreachable"

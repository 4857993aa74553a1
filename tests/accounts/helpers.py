"""Small helpers for the accounts tests."""

from __future__ import annotations

import logging

import pytest


def audit_events(caplog: pytest.LogCaptureFixture) -> list[dict]:
    """The audit events recorded so far (audit_record logs them until the audit table lands)."""
    return [
        {
            "action": record.audit_action,
            "actor": record.actor,
            "diff": record.change_diff,
        }
        for record in caplog.records
        if record.name == "compliance.audit"
    ]


def audit_actions(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [event["action"] for event in audit_events(caplog)]


def capture_audit(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="compliance.audit")


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code, body
    assert "Traceback" not in response.content.decode()
    return body["error"]

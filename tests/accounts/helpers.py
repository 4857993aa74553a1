"""Small helpers for the accounts tests."""

from __future__ import annotations

# Id of the last audit row written before the test body (or the last mark) ran.
_mark = {"id": 0}


def audit_mark_now() -> None:
    """Forget the events recorded so far: only later ones are returned by ``audit_events``."""
    from django.db.models import Max

    from compliance.audit.models import AuditEvent

    _mark["id"] = AuditEvent.objects.aggregate(last=Max("id"))["last"] or 0


def audit_events() -> list[dict]:
    """The audit events the test body recorded (since the last mark), oldest first, from the table."""
    from compliance.audit.models import AuditEvent

    return [
        {
            "action": event.action,
            "actor": str(event.user.public_id) if event.user else None,
            "diff": event.change_diff,
        }
        for event in AuditEvent.objects.filter(id__gt=_mark["id"]).select_related("user").order_by("id")
    ]


def audit_actions() -> list[str]:
    return [event["action"] for event in audit_events()]


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code, body
    assert "Traceback" not in response.content.decode()
    return body["error"]

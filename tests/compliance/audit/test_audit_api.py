"""The auditor API: only auditors get in, refusals are audited, filters, cursor pages, reports."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
import time_machine
from django.conf import settings
from django.utils import timezone

from compliance.audit.chain import seal_pending
from compliance.audit.services import AuditAction, audit_record
from compliance.models import AuditEvent
from tests.compliance.audit.conftest import write_events

pytestmark = pytest.mark.django_db

EVENTS = "/api/v1/audit/events/"
VERIFY = "/api/v1/audit/verify/"
REPORT = "/api/v1/audit/reports/events/"


@pytest.mark.parametrize("persona", ["customer", "operations"])
@pytest.mark.parametrize(("method", "url"), [("get", EVENTS), ("get", VERIFY), ("post", VERIFY), ("get", REPORT)])
def test_non_auditors_are_refused_and_the_refusal_is_audited(persona, method, url, request, api_client):
    user = request.getfixturevalue(persona)
    write_events(2)
    before = set(AuditEvent.objects.values_list("id", flat=True))
    api_client.force_authenticate(user)
    response = getattr(api_client, method)(url)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"
    new = AuditEvent.objects.exclude(id__in=before)
    assert [(e.action, e.user_id, e.object_type) for e in new] == [(AuditAction.PERMISSION_DENIED, user.pk, "view")]
    # A refused export exported nothing and a refused verification verified nothing.
    assert not AuditEvent.objects.filter(
        action__in=[AuditAction.AUDIT_EXPORTED, AuditAction.AUDIT_CHAIN_BROKEN]
    ).exists()


def test_anonymous_callers_get_401(api_client):
    assert api_client.get(EVENTS).status_code == 401


def test_auditors_list_events_with_filters_and_cursor_pages(
    auditor, customer, api_client, django_assert_max_num_queries
):
    write_events(3)
    for index in range(5):
        audit_record(action=AuditAction.LOGIN, actor=customer, object_type="accounts.User", object_id=f"s{index}")
    audit_record(action=AuditAction.LOGOUT, actor=customer, object_id="other-action")
    seal_pending()
    api_client.force_authenticate(auditor)

    with django_assert_max_num_queries(6):
        response = api_client.get(EVENTS, {"action": "LOGIN", "actor": str(customer.public_id), "page_size": 2})
    assert response.status_code == 200
    body = response.json()
    assert [e["object_id"] for e in body["results"]] == ["s4", "s3"]
    first = body["results"][0]
    assert first["user_id"] == str(customer.public_id)
    assert first["action"] == "LOGIN" and first["seq"] is not None and len(first["hash"]) == 64
    assert "email" not in str(body)
    seen = [e["object_id"] for e in body["results"]]
    while body["next"]:
        body = api_client.get(body["next"]).json()
        seen += [e["object_id"] for e in body["results"]]
    assert seen == ["s4", "s3", "s2", "s1", "s0"]

    by_object = api_client.get(EVENTS, {"object_type": "ledger.Transfer", "object_id": "t-1"}).json()
    assert [e["object_id"] for e in by_object["results"]] == ["t-1"]

    tomorrow = (timezone.now() + timedelta(days=1)).date().isoformat()
    assert api_client.get(EVENTS, {"from": tomorrow}).json()["results"] == []
    today = timezone.now().date().isoformat()
    assert len(api_client.get(EVENTS, {"from": today, "to": today}).json()["results"]) == 9


@pytest.mark.parametrize(
    ("params", "field"),
    [({"action": "NOPE"}, "action"), ({"actor": "not-a-uuid"}, "actor"), ({"from": "yesterday"}, "from")],
)
def test_invalid_filters_answer_400_in_the_error_shape(auditor, api_client, params, field):
    api_client.force_authenticate(auditor)
    response = api_client.get(EVENTS, params)
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == [field]


def test_verify_reports_the_chain_status(auditor, api_client, behind_the_triggers):
    write_events(3)
    seal_pending()
    api_client.force_authenticate(auditor)
    never = api_client.get(VERIFY).json()
    # Never verified, records sealed moments ago: no check was due yet, so not stale.
    assert (never["ok"], never["stale"], never["head_seq"]) == (None, False, 3)
    with time_machine.travel(timezone.now() + timedelta(seconds=settings.AUDIT_VERIFY_MAX_AGE_SECONDS + 60)):
        assert api_client.get(VERIFY).json()["stale"] is True
    assert api_client.post(VERIFY).json()["ok"] is True
    status = api_client.get(VERIFY).json()
    assert (status["ok"], status["stale"], status["checked"]) == (True, False, 3)
    behind_the_triggers("UPDATE compliance_auditevent SET object_id = 'x' WHERE seq = 2")
    broken = api_client.post(VERIFY).json()
    assert (broken["ok"], broken["first_broken_seq"]) == (False, 2)


def test_reports_export_json_and_csv_and_are_audited(auditor, customer, api_client):
    write_events(2)
    audit_record(action=AuditAction.LOGIN, actor=customer, object_id="=cmd|' /C calc'!A0")
    seal_pending()
    api_client.force_authenticate(auditor)

    report = api_client.get(REPORT, {"action": "TRANSFER"})
    assert report.status_code == 200
    body = report.json()
    assert body["summary"] == {"count": 2, "by_action": {"TRANSFER": 2}, "by_actor_type": {"system": 2}}
    assert [e["object_id"] for e in body["events"]] == ["t-0", "t-1"]

    exported = api_client.get(REPORT, {"format": "csv", "actor": str(customer.public_id)})
    assert exported.status_code == 200
    assert exported["Content-Type"].startswith("text/csv")
    assert "attachment" in exported["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(exported.content.decode())))
    assert rows[0][:3] == ["seq", "timestamp", "action"]
    assert len(rows) == 2
    assert rows[1][2] == "LOGIN"
    assert rows[1][4] == str(customer.public_id)
    assert rows[1][7].startswith("'=")  # no formula injection into spreadsheets

    exports = AuditEvent.objects.filter(action=AuditAction.AUDIT_EXPORTED, user=auditor).order_by("id")
    assert [(e.object_id, e.change_diff["count"]) for e in exports] == [("json", 2), ("csv", 1)]


def test_an_export_too_large_is_refused(auditor, api_client, settings):
    settings.AUDIT_REPORT_MAX_ROWS = 2
    write_events(3)
    api_client.force_authenticate(auditor)
    response = api_client.get(REPORT, {"format": "csv"})
    # Asked for CSV, refused in the one JSON error shape (SPEC C1).
    assert response.status_code == 400 and response["Content-Type"].startswith("application/json")
    assert "narrow the period" in response.json()["error"]["message"]
    assert not AuditEvent.objects.filter(action=AuditAction.AUDIT_EXPORTED).exists()

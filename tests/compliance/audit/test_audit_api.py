"""The auditor API: only auditors get in, refusals are audited, filters, cursor pages, reports."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
import time_machine
from django.conf import settings
from django.utils import timezone
from rest_framework.test import APIClient

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


# --- Proofs (docs/adr/0006) --------------------------------------------------------------------
def _proof_url(pk: int) -> str:
    return f"/api/v1/audit/events/{pk}/proof/"


@pytest.mark.parametrize("persona", ["customer", "operations"])
def test_proofs_are_for_auditors_only_and_refusals_are_audited(persona, request, api_client):
    from tests.compliance.audit.conftest import grow_and_checkpoint

    grow_and_checkpoint(3)
    user = request.getfixturevalue(persona)
    event = AuditEvent.objects.get(seq=2)
    api_client.force_authenticate(user)
    for url, params in ((_proof_url(event.pk), {}), ("/api/v1/audit/consistency/", {"from": 1})):
        before = set(AuditEvent.objects.values_list("id", flat=True))
        response = api_client.get(url, params)
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "permission_denied"
        new = AuditEvent.objects.exclude(id__in=before)
        assert [(e.action, e.user_id) for e in new] == [(AuditAction.PERMISSION_DENIED, user.pk)]
    assert APIClient().get(_proof_url(event.pk)).status_code == 401


def test_an_auditor_gets_inclusion_and_consistency_proofs_that_verify(auditor, api_client):
    import base64

    from compliance.audit import merkle
    from compliance.audit.note import Checkpoint, SignedNote
    from tests.compliance.audit.conftest import grow_and_checkpoint

    grow_and_checkpoint(5, 11)
    api_client.force_authenticate(auditor)
    event = AuditEvent.objects.get(seq=4)
    body = api_client.get(_proof_url(event.pk)).json()
    checkpoint = Checkpoint.parse_body(SignedNote.parse(body["checkpoint"]).body)
    assert checkpoint.size == body["tree_size"] == 11
    proof = [base64.b64decode(h) for h in body["proof"]]
    assert merkle.verify_inclusion(3, 11, merkle.leaf_hash(bytes.fromhex(event.hash)), proof, checkpoint.root)

    body = api_client.get("/api/v1/audit/consistency/", {"from": 5}).json()
    assert (body["from_size"], body["to_size"]) == (5, 11)
    old = Checkpoint.parse_body(SignedNote.parse(body["from_checkpoint"]).body)
    proof = [base64.b64decode(h) for h in body["proof"]]
    assert base64.b64decode(body["from_root"]) == old.root
    assert merkle.verify_consistency(5, 11, old.root, checkpoint.root, proof)


@pytest.mark.parametrize(
    ("url", "params", "expected"),
    [
        ("proof", {"size": "abc"}, (400, "validation_error", ["size"])),
        ("proof", {"size": "0"}, (400, "validation_error", ["size"])),
        ("proof", {"size": "7"}, (400, "proof_unavailable", ["size"])),  # no checkpoint of that size
        ("proof", {"size": "2"}, (400, "proof_unavailable", ["size"])),  # the record came later
        ("missing", {}, (404, "not_found", None)),
        ("huge", {}, (404, "not_found", None)),
        ("proof", {"size": str(2**70)}, (400, "validation_error", ["size"])),
        ("consistency", {"from": str(2**70)}, (400, "validation_error", ["from"])),
        ("unsealed", {}, (400, "proof_unavailable", None)),
        ("consistency", {}, (400, "validation_error", ["from"])),
        ("consistency", {"from": "x"}, (400, "validation_error", ["from"])),
        ("consistency", {"from": 99}, (400, "proof_unavailable", ["from"])),
        ("consistency", {"from": 1, "to": 4}, (400, "proof_unavailable", ["to"])),
    ],
)
def test_bad_proof_requests_answer_4xx_in_the_error_shape(auditor, api_client, url, params, expected):
    from tests.compliance.audit.conftest import grow_and_checkpoint

    grow_and_checkpoint(3, 5)
    sealed = AuditEvent.objects.get(seq=3)
    unsealed = write_events(1)[0]
    path = {
        "proof": _proof_url(sealed.pk),
        "missing": _proof_url(10**12),
        "huge": _proof_url(2**70),
        "unsealed": _proof_url(unsealed.pk),
        "consistency": "/api/v1/audit/consistency/",
    }[url]
    api_client.force_authenticate(auditor)
    response = api_client.get(path, params)
    error = response.json()["error"]
    assert (response.status_code, error["code"], sorted(error["fields"]) if error.get("fields") else None) == expected


def test_no_checkpoint_yet_is_a_400_not_a_500(auditor, api_client):
    write_events(2)
    seal_pending()  # sealed, but no checkpoint published yet
    api_client.force_authenticate(auditor)
    response = api_client.get(_proof_url(AuditEvent.objects.get(seq=1).pk))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "proof_unavailable"

"""Customers file and follow their own requests; officers drive the workflow through the API."""

from __future__ import annotations

from datetime import timedelta

import pytest

from compliance.dsar.models import DataSubjectRequest, DsarEvent, DsarStatus
from tests.compliance.dsar.conftest import client_for

pytestmark = pytest.mark.django_db


def test_filing_needs_a_recent_mfa(customer):
    response = client_for(customer, mfa=False).post("/api/v1/dsar/", {"type": "access"}, format="json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "mfa_step_up_required"
    assert not DataSubjectRequest.objects.exists()


def test_a_customer_files_and_sees_status_and_due_date(customer):
    client = client_for(customer)
    response = client.post("/api/v1/dsar/", {"type": "access", "details": "Everything you hold"}, format="json")
    assert response.status_code == 201
    body = response.json()
    dsar = DataSubjectRequest.objects.get(public_id=body["id"])
    assert body["status"] == "received"
    assert dsar.due_at - dsar.received_at == timedelta(days=30)
    assert dsar.filed_by == customer and dsar.channel == "api"
    detail = client.get(f"/api/v1/dsar/{dsar.public_id}/").json()
    assert detail["due_at"] and detail["history"][0]["to_status"] == "received"
    assert [item["id"] for item in client.get("/api/v1/dsar/").json()["results"]] == [body["id"]]


@pytest.mark.parametrize(
    ("payload", "field"),
    [({"type": "everything"}, "type"), ({}, "type"), ({"type": "access", "details": "x" * 5001}, "details")],
)
def test_bad_filings_answer_the_error_shape_and_store_nothing(customer, payload, field):
    response = client_for(customer).post("/api/v1/dsar/", payload, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    assert not DataSubjectRequest.objects.exists()


def test_a_correction_must_say_what_to_correct(customer):
    response = client_for(customer).post("/api/v1/dsar/", {"type": "correction"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "changes_required"
    assert not DataSubjectRequest.objects.exists()


def test_another_customers_request_is_not_found(customer, other_customer, filed):
    dsar = filed("access")
    client = client_for(other_customer)
    assert client.get(f"/api/v1/dsar/{dsar.public_id}/").status_code == 404
    assert client.get("/api/v1/dsar/").json()["results"] == []


def test_internal_notes_never_reach_the_subject(customer, officer, filed):
    dsar = filed("access")
    client_for(officer).post(
        f"/api/v1/officer/dsar/{dsar.public_id}/note/", {"note": "caller sounded unsure"}, format="json"
    )
    detail = client_for(customer).get(f"/api/v1/dsar/{dsar.public_id}/")
    assert "caller sounded unsure" not in detail.content.decode()


def test_the_officer_api_drives_a_request_to_closure(customer, officer, filed):
    dsar = filed("access")
    client = client_for(officer)
    url = f"/api/v1/officer/dsar/{dsar.public_id}"
    steps = [
        ("verify-identity", {"evidence": "MFA step-up at filing; ID document seen"}, "identity_verified"),
        ("assign", {}, "in_review"),
        ("approve", {}, "approved"),
        ("fulfil", {"statement": "Export delivered."}, "fulfilled"),
        ("close", {}, "closed"),
    ]
    for action, payload, expected in steps:
        response = client.post(f"{url}/{action}/", payload, format="json")
        assert response.status_code == 200, response.json()
        assert response.json()["status"] == expected
    dsar.refresh_from_db()
    assert dsar.assigned_to == officer
    transitions = list(DsarEvent.objects.filter(dsar=dsar, kind="transition").values_list("to_status", flat=True))
    assert transitions == ["received", "identity_verified", "in_review", "approved", "fulfilled", "closed"]


@pytest.mark.parametrize("persona", ["customer", "operations"])
def test_only_officers_may_act(request, persona, filed):
    dsar = filed("access")
    user = request.getfixturevalue(persona)
    response = client_for(user).post(
        f"/api/v1/officer/dsar/{dsar.public_id}/verify-identity/", {"evidence": "trust me"}, format="json"
    )
    assert response.status_code == 403
    dsar.refresh_from_db()
    assert dsar.status == DsarStatus.RECEIVED
    assert DsarEvent.objects.filter(dsar=dsar).count() == 1


def test_unknown_officer_action_is_404(officer, filed):
    dsar = filed("access")
    response = client_for(officer).post(f"/api/v1/officer/dsar/{dsar.public_id}/teleport/", {}, format="json")
    assert response.status_code == 404


def test_skipping_a_state_is_a_409_that_changes_nothing(officer, filed):
    dsar = filed("access")
    response = client_for(officer).post(f"/api/v1/officer/dsar/{dsar.public_id}/approve/", {}, format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "invalid_transition"
    dsar.refresh_from_db()
    assert dsar.status == DsarStatus.RECEIVED


def test_staff_file_on_behalf_with_identity_evidence(customer, officer):
    client = client_for(officer)
    missing = client.post(
        "/api/v1/officer/dsar/", {"subject": str(customer.public_id), "type": "access"}, format="json"
    )
    assert missing.status_code == 400
    assert "identity_evidence" in missing.json()["error"]["fields"]
    response = client.post(
        "/api/v1/officer/dsar/",
        {
            "subject": str(customer.public_id),
            "type": "objection",
            "purposes": ["direct_marketing"],
            "identity_evidence": "Call-back to number on file",
        },
        format="json",
    )
    assert response.status_code == 201
    dsar = DataSubjectRequest.objects.get(public_id=response.json()["id"])
    assert dsar.subject == customer and dsar.filed_by == officer and dsar.channel == "staff"
    # Filing on behalf never skips verification.
    assert dsar.status == DsarStatus.RECEIVED

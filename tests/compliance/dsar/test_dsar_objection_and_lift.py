"""Objections to direct marketing take effect when filed (POPIA s11(3)(b), s69), and the officer lifts
restrictions and objections through the workflow (issue 16) — in the officer API and the admin,
audited, never silently."""

from __future__ import annotations

import pytest

from compliance.audit.models import AuditEvent
from compliance.consent.selectors import marketing_audience, may_process
from compliance.consent.services import consent_record
from compliance.dsar.models import DataSubjectRequest, DsarEvent, DsarStatus
from tests.compliance.consent.consent_helpers import current_version, seed_purposes
from tests.personas import make_api_client, make_customer, make_staff, otp_admin_login

pytestmark = pytest.mark.django_db

DSAR_URL = "/api/v1/dsar/"


def act_url(dsar_id: str, slug: str) -> str:
    return f"/api/v1/officer/dsar/{dsar_id}/{slug}/"


@pytest.fixture
def marketed():
    """A customer who opted in to our marketing and to partners' marketing and to analytics."""
    seed_purposes()
    customer = make_customer()
    for purpose in ("direct_marketing", "third_party_marketing_sharing", "analytics"):
        consent_record(
            actor=customer, subject=customer, purpose=purpose, granted=True,
            notice_version=current_version(purpose), channel="api",
        )  # fmt: skip
    assert may_process(customer, "direct_marketing") and customer in marketing_audience()
    return customer


@pytest.fixture
def officer():
    return make_staff("information_officer")


def review(dsar_id: str, officer) -> None:
    client = make_api_client(officer)
    for slug, body in (("verify-identity", {"evidence": "MFA step-up at filing"}), ("assign", {})):
        assert client.post(act_url(dsar_id, slug), body, format="json").status_code == 200


def test_a_direct_marketing_objection_stops_marketing_the_moment_it_is_filed(marketed):
    filed = make_api_client(marketed).post(
        DSAR_URL,
        {"type": "objection", "purposes": ["direct_marketing", "third_party_marketing_sharing", "analytics"]},
        format="json",
    )

    assert filed.status_code == 201, filed.content
    body = filed.json()
    assert body["status"] == "received"
    assert body["applied_at_filing"] == ["direct_marketing", "third_party_marketing_sharing"]
    # Before any officer has looked at it: out of both marketing audiences ...
    assert not may_process(marketed, "direct_marketing") and marketed not in marketing_audience()
    assert not may_process(marketed, "third_party_marketing_sharing")
    assert marketed not in marketing_audience("third_party_marketing_sharing")
    # ... while an objection on legitimate-interest-style grounds waits for the review.
    assert may_process(marketed, "analytics")
    dsar = DataSubjectRequest.objects.get(public_id=body["id"])
    assert DsarEvent.objects.filter(dsar=dsar, kind="applied_at_filing", actor=marketed).count() == 1
    [applied] = AuditEvent.objects.filter(action="DSAR_OBJECTION_APPLIED_AT_FILING")
    assert applied.object_id == str(dsar.public_id) and applied.user_id == marketed.pk
    assert applied.change_diff["purposes"] == ["direct_marketing", "third_party_marketing_sharing"]
    flags = AuditEvent.objects.filter(action="PROCESSING_RESTRICTED")
    assert sorted(flag.change_diff["purpose"] for flag in flags) == [
        "direct_marketing",
        "third_party_marketing_sharing",
    ]
    assert all(flag.change_diff["at_filing"] is True for flag in flags)


def test_approval_applies_the_rest_and_says_what_took_effect_at_filing(marketed, officer):
    dsar_id = (
        make_api_client(marketed)
        .post(DSAR_URL, {"type": "objection", "purposes": ["direct_marketing", "analytics"]}, format="json")
        .json()["id"]
    )
    review(dsar_id, officer)

    approved = make_api_client(officer).post(act_url(dsar_id, "approve"), {}, format="json")

    assert approved.status_code == 200 and approved.json()["status"] == "fulfilled", approved.content
    statement = approved.json()["outcome_statement"]
    # Purposes by the names the notices use, never their codes (issue 16).
    assert "Stopped when you filed the request (direct marketing): Direct marketing by us." in statement
    assert "We no longer process your information for: Analytics and product improvement (objection)." in statement
    assert "direct_marketing" not in statement and "analytics" not in statement
    assert not may_process(marketed, "analytics")
    # Applied once, not twice.
    assert (
        AuditEvent.objects.filter(action="PROCESSING_RESTRICTED", change_diff__purpose="direct_marketing").count() == 1
    )


def test_rejecting_the_objection_does_not_undo_it_silently_only_an_audited_lift_does(marketed, officer):
    dsar_id = (
        make_api_client(marketed)
        .post(DSAR_URL, {"type": "objection", "purposes": ["direct_marketing"]}, format="json")
        .json()["id"]
    )
    review(dsar_id, officer)
    client = make_api_client(officer)

    rejected = client.post(
        act_url(dsar_id, "reject"), {"reason": "Filed by mistake, says the customer."}, format="json"
    )

    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    assert not may_process(marketed, "direct_marketing"), "the rejection leaves the objection in force"

    missing = client.post(act_url(dsar_id, "lift-restriction"), {}, format="json")
    assert missing.status_code == 400 and not may_process(marketed, "direct_marketing")

    lifted = client.post(
        act_url(dsar_id, "lift-restriction"), {"reason": "The customer asked to receive offers again."}, format="json"
    )

    assert lifted.status_code == 200, lifted.content
    assert may_process(marketed, "direct_marketing") and marketed in marketing_audience()
    [audit] = AuditEvent.objects.filter(action="DSAR_RESTRICTION_LIFTED")
    assert audit.object_id == dsar_id and audit.user_id == officer.pk
    assert audit.change_diff["purposes"] == ["direct_marketing"] and "customer asked" not in str(audit.change_diff)
    assert AuditEvent.objects.filter(action="PROCESSING_RESTRICTION_LIFTED").count() == 1

    again = client.post(act_url(dsar_id, "lift-restriction"), {"reason": "again"}, format="json")
    assert again.status_code == 409 and again.json()["error"]["code"] == "nothing_to_lift"
    assert AuditEvent.objects.filter(action="DSAR_RESTRICTION_LIFTED").count() == 1


def test_lifting_is_refused_for_other_types_and_to_non_officers(marketed, officer):
    access_id = make_api_client(marketed).post(DSAR_URL, {"type": "access"}, format="json").json()["id"]
    wrong = make_api_client(officer).post(act_url(access_id, "lift-restriction"), {"reason": "x"}, format="json")
    assert wrong.status_code == 409 and wrong.json()["error"]["code"] == "lift_not_applicable"

    objection_id = (
        make_api_client(marketed)
        .post(DSAR_URL, {"type": "objection", "purposes": ["direct_marketing"]}, format="json")
        .json()["id"]
    )
    denied_before = AuditEvent.objects.filter(action="PERMISSION_DENIED").count()
    own = make_api_client(marketed).post(act_url(objection_id, "lift-restriction"), {"reason": "x"}, format="json")
    assert own.status_code == 403
    assert AuditEvent.objects.filter(action="PERMISSION_DENIED").count() == denied_before + 1
    assert not may_process(marketed, "direct_marketing")


def test_the_officer_lifts_an_approved_restriction_in_the_admin(client, marketed, officer):
    dsar_id = (
        make_api_client(marketed)
        .post(DSAR_URL, {"type": "restriction", "purposes": ["analytics"]}, format="json")
        .json()["id"]
    )
    assert may_process(marketed, "analytics"), "a restriction waits for the review"
    review(dsar_id, officer)
    assert make_api_client(officer).post(act_url(dsar_id, "approve"), {}, format="json").status_code == 200
    assert not may_process(marketed, "analytics")
    dsar = DataSubjectRequest.objects.get(public_id=dsar_id)
    assert dsar.status == DsarStatus.FULFILLED
    otp_admin_login(client, officer)
    page = client.get(f"/admin/compliance/datasubjectrequest/{dsar.pk}/change/")
    assert b"/act/lift-restriction/" in page.content

    empty = client.post(f"/admin/compliance/datasubjectrequest/{dsar.pk}/act/lift-restriction/", {"reason": ""})
    assert empty.status_code == 200 and not may_process(marketed, "analytics")

    response = client.post(
        f"/admin/compliance/datasubjectrequest/{dsar.pk}/act/lift-restriction/",
        {"reason": "Accuracy confirmed with the customer."},
    )

    assert response.status_code == 302
    assert may_process(marketed, "analytics")
    assert DsarEvent.objects.filter(dsar=dsar, kind="restriction_lifted", actor=officer).count() == 1
    assert AuditEvent.objects.filter(action="DSAR_RESTRICTION_LIFTED", object_id=dsar_id).count() == 1

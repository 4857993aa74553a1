"""Objection and restriction requests set the flags that ``may_process`` honours (POPIA s11(3), s14)."""

from __future__ import annotations

import pytest

from compliance.consent.models import ProcessingRestrictionEvent
from compliance.consent.selectors import may_process
from compliance.consent.services import consent_record
from compliance.dsar import services
from compliance.dsar.models import DsarStatus
from tests.compliance.consent.consent_helpers import current_version, seed_purposes
from tests.compliance.dsar.test_dsar_api import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _purposes():
    seed_purposes()


def approve(dsar, officer):
    services.dsar_verify_identity(actor=officer, dsar=dsar, evidence="MFA at filing")
    services.dsar_assign(actor=officer, dsar=dsar)
    return services.dsar_approve(actor=officer, dsar=dsar)


def test_an_approved_objection_stops_processing_at_once(customer, information_officer):
    consent_record(
        actor=customer, subject=customer, purpose="direct_marketing", granted=True,
        notice_version=current_version("direct_marketing"), channel="api",
    )  # fmt: skip
    assert may_process(customer, "direct_marketing")
    response = client_for(customer).post(
        "/api/v1/dsar/", {"type": "objection", "purposes": ["direct_marketing"]}, format="json"
    )
    assert response.status_code == 201
    dsar = services.DataSubjectRequest.objects.get(public_id=response.json()["id"])
    assert not may_process(customer, "direct_marketing"), "a direct-marketing objection applies when filed"
    dsar = approve(dsar, information_officer)
    assert dsar.status == DsarStatus.FULFILLED
    assert not may_process(customer, "direct_marketing")
    flag = ProcessingRestrictionEvent.objects.get(subject=customer)
    assert (flag.kind, flag.active, flag.reference) == ("objection", True, str(dsar.public_id))
    assert "Direct marketing by us" in dsar.outcome_statement and "direct_marketing" not in dsar.outcome_statement


def test_an_objection_the_law_does_not_allow_is_partial_with_reasons(customer, information_officer):
    dsar = services.dsar_file(
        subject=customer, filed_by=customer, type="objection", purposes=["kyc", "direct_marketing"]
    )
    dsar = approve(dsar, information_officer)
    assert dsar.status == DsarStatus.PARTIALLY_FULFILLED
    assert "Identity verification (KYC) (" in dsar.outcome_statement and "law" in dsar.outcome_statement
    assert list(ProcessingRestrictionEvent.objects.values_list("purpose__code", flat=True)) == ["direct_marketing"]
    assert may_process(customer, "kyc")


def test_a_restriction_applies_to_any_restrictable_purpose(customer, information_officer):
    dsar = services.dsar_file(subject=customer, filed_by=customer, type="restriction", purposes=["kyc"])
    assert approve(dsar, information_officer).status == DsarStatus.FULFILLED
    assert not may_process(customer, "kyc")


@pytest.mark.parametrize("kind", ["restriction", "objection"])
def test_a_purpose_the_law_keeps_running_is_refused_at_filing_with_the_reason(customer, kind):
    from compliance.pi.vocabulary import PURPOSES

    response = client_for(customer).post(
        "/api/v1/dsar/", {"type": kind, "purposes": ["payments", "direct_marketing"]}, format="json"
    )
    assert response.status_code == 400
    error = response.json()["error"]
    shown = " ".join(message for messages in error["fields"].values() for message in messages)
    assert PURPOSES["payments"].not_restrictable in shown, "the subject is told why"
    assert not services.DataSubjectRequest.objects.exists()
    assert may_process(customer, "payments")


def test_the_officer_filing_on_behalf_is_told_why_too(customer, information_officer):
    from compliance.pi.vocabulary import PURPOSES

    with pytest.raises(services.DsarError) as caught:
        services.dsar_file(
            subject=customer, filed_by=information_officer, type="restriction", purposes=["fraud_prevention"],
            identity_evidence="called back on the registered number",
        )  # fmt: skip
    assert caught.value.code == "purpose_not_restrictable"
    assert PURPOSES["fraud_prevention"].not_restrictable in caught.value.message


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        ({"type": "objection"}, "purposes_required"),
        ({"type": "objection", "purposes": ["astrology"]}, "unknown_purpose"),
        ({"type": "access", "purposes": ["direct_marketing"]}, "purposes_not_applicable"),
    ],
)
def test_purposes_are_required_known_and_only_for_flags(customer, payload, code):
    response = client_for(customer).post("/api/v1/dsar/", payload, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code
    assert not services.DataSubjectRequest.objects.exists()

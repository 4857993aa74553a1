"""Filing on a subject's behalf works for every request type, from the admin and the API (issue 14).

The on-behalf form and the officer serializer are built from the types' declared inputs: purposes
are a multiple choice of the declared purposes, requested changes one input per correctable
field. Each type is filed and then carried through approval, so "filed" means "workable".
"""

from __future__ import annotations

import pytest
from django.test import TestCase

from compliance.consent.selectors import may_process
from compliance.dsar import services
from compliance.dsar.corrections import correctable_fields
from compliance.dsar.kinds import kinds
from compliance.dsar.models import DataSubjectRequest, DsarStatus, DsarType
from tests.compliance.consent.consent_helpers import seed_purposes
from tests.compliance.dsar.conftest import client_for
from tests.personas import make_staff, otp_admin_login

pytestmark = pytest.mark.django_db

ADD = "/admin/compliance/datasubjectrequest/add/"

# Per type: the admin form's extra inputs, the API body's, and what the stored request holds.
CASES = {
    "access": ({}, {}, {}),
    "portability": ({}, {}, {}),
    "deletion": ({}, {}, {}),
    "correction": (
        {"change_last_name": "Dlamini-Zuma", "change_phone": "082 555 0177"},
        {"requested_changes": {"last_name": "Dlamini-Zuma", "phone": "082 555 0177"}},
        {"requested_changes": {"last_name": "Dlamini-Zuma", "phone": "082 555 0177"}},
    ),
    "objection": (
        {"purposes": ["direct_marketing"]},
        {"purposes": ["direct_marketing"]},
        {"purposes": ["direct_marketing"]},
    ),
    # Two restrictable purposes (payments is not restrictable: compliance.pi.vocabulary says why).
    "restriction": (
        {"purposes": ["kyc", "analytics"]},
        {"purposes": ["kyc", "analytics"]},
        {"purposes": ["analytics", "kyc"]},
    ),
}


@pytest.fixture(autouse=True)
def _purposes():
    seed_purposes()


@pytest.fixture
def officer(information_officer):
    """An officer in the information-officer role (it also sets the processing flags)."""
    return information_officer


@pytest.fixture
def second_officer():
    return make_staff("information_officer")


def test_every_type_has_a_case():
    assert set(CASES) == set(DsarType.values) == set(kinds.slugs())


def carry_out(dsar, officer, second_officer):
    """Verify, assign and approve (two officers where the type needs four eyes)."""
    services.dsar_verify_identity(actor=officer, dsar=dsar, evidence="seen")
    services.dsar_assign(actor=officer, dsar=dsar)
    approver = officer
    if dsar.type == "deletion":
        services.dsar_request_approval(actor=officer, dsar=dsar)
        approver = second_officer
    with TestCase.captureOnCommitCallbacks(execute=False) as scheduled:
        services.dsar_approve(actor=approver, dsar=dsar)
    dsar.refresh_from_db()
    return dsar, scheduled


def check_carried_out(dsar, customer, scheduled) -> None:
    match dsar.type:
        case "access" | "portability" | "deletion":
            # Approved, and the export or erasure task is queued for after commit.
            assert dsar.status == DsarStatus.APPROVED and len(scheduled) == 1
        case "correction":
            assert dsar.status == DsarStatus.FULFILLED, dsar.outcome_statement
            customer.refresh_from_db()
            assert (customer.last_name, customer.phone) == ("Dlamini-Zuma", "+27825550177")
        case "objection":
            assert dsar.status == DsarStatus.FULFILLED
            assert not may_process(customer, "direct_marketing")
        case "restriction":
            assert dsar.status == DsarStatus.FULFILLED
            assert not may_process(customer, "kyc") and not may_process(customer, "analytics")


@pytest.mark.parametrize("type_", list(CASES))
def test_an_officer_files_every_type_in_the_admin(client, officer, second_officer, customer, type_):
    form_inputs, _, stored = CASES[type_]
    otp_admin_login(client, officer)
    response = client.post(
        ADD,
        {"subject_email": customer.email, "type": type_, "identity_evidence": "Call-back done", **form_inputs},
    )
    assert response.status_code == 302, response.context["form"].errors if response.context else response
    dsar = DataSubjectRequest.objects.get()
    assert (dsar.type, dsar.subject, dsar.filed_by, dsar.channel) == (type_, customer, officer, "staff")
    assert dsar.requested_changes == stored.get("requested_changes", {})
    assert dsar.purposes == stored.get("purposes", [])
    dsar, scheduled = carry_out(dsar, officer, second_officer)
    check_carried_out(dsar, customer, scheduled)


@pytest.mark.parametrize("type_", list(CASES))
def test_an_officer_files_every_type_through_the_api(officer, second_officer, customer, type_):
    _, body, stored = CASES[type_]
    response = client_for(officer).post(
        "/api/v1/officer/dsar/",
        {"subject": str(customer.public_id), "type": type_, "identity_evidence": "Call-back done", **body},
        format="json",
    )
    assert response.status_code == 201, response.json()
    dsar = DataSubjectRequest.objects.get(public_id=response.json()["id"])
    assert (dsar.type, dsar.subject, dsar.filed_by, dsar.channel) == (type_, customer, officer, "staff")
    assert dsar.requested_changes == stored.get("requested_changes", {})
    assert dsar.purposes == stored.get("purposes", [])
    dsar, scheduled = carry_out(dsar, officer, second_officer)
    check_carried_out(dsar, customer, scheduled)


def test_the_form_offers_the_declared_purposes_and_one_input_per_correctable_field(client, officer):
    otp_admin_login(client, officer)
    form = client.get(ADD).context["form"]
    assert set(form.fields["type"].choices) == set(DsarType.choices)
    assert {code for code, _ in form.fields["purposes"].choices} >= {"direct_marketing", "payments", "analytics"}
    # One input per correctable field the apps registered (the product's three, and the test
    # plug-in app's own when it is installed).
    assert (
        {name for name in form.fields if name.startswith("change_")}
        == {f"change_{field}" for field in correctable_fields()}
        >= {"change_first_name", "change_last_name", "change_phone"}
    )
    assert "requested_changes" not in form.fields


@pytest.mark.parametrize(
    "case",
    [
        ("objection", {}, "purposes", "Say which processing purposes"),
        ("restriction", {"purposes": ["astrology"]}, "purposes", "not one of the available choices"),
        ("access", {"purposes": ["payments"]}, "purposes", "Purposes apply only to"),
        ("correction", {}, None, "must say what should be corrected"),
    ],
    ids=lambda case: case[0],
)
def test_a_filing_the_type_refuses_is_shown_on_the_form(client, officer, customer, case):
    type_, inputs, field, message = case
    otp_admin_login(client, officer)
    response = client.post(
        ADD, {"subject_email": customer.email, "type": type_, "identity_evidence": "Call-back", **inputs}
    )
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert message in " ".join(errors.get(field or "__all__", [])), errors
    assert not DataSubjectRequest.objects.exists()


def test_the_api_refuses_a_field_that_cannot_be_corrected(officer, customer):
    response = client_for(officer).post(
        "/api/v1/officer/dsar/",
        {
            "subject": str(customer.public_id),
            "type": "correction",
            "identity_evidence": "Call-back",
            "requested_changes": {"is_staff": "true"},
        },
        format="json",
    )
    assert response.status_code == 400
    body = response.json()["error"]
    assert "requested_changes" in body["fields"] and "is_staff" not in str(body)
    assert not DataSubjectRequest.objects.exists()

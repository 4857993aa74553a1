"""Correction requests (POPIA s24): applied through the accounts service, or noted when refused."""

from __future__ import annotations

import pytest

from compliance.audit.models import AuditEvent
from compliance.audit.services import is_encrypted_value, reveal_change_diff
from compliance.dsar import services
from compliance.dsar.models import CorrectionRequestNote, DsarStatus
from tests.compliance.dsar.test_dsar_api import client_for

pytestmark = pytest.mark.django_db


def to_review(dsar, officer):
    services.dsar_verify_identity(actor=officer, dsar=dsar, evidence="Copy of ID seen")
    return services.dsar_assign(actor=officer, dsar=dsar)


def test_an_approved_correction_changes_the_record_through_the_service(customer, information_officer):
    response = client_for(customer).post(
        "/api/v1/dsar/",
        {"type": "correction", "requested_changes": {"last_name": "Dlamini-Zuma", "phone": "082 555 0177"}},
        format="json",
    )
    assert response.status_code == 201
    dsar = services.DataSubjectRequest.objects.get(public_id=response.json()["id"])
    to_review(dsar, information_officer)
    dsar = services.dsar_approve(actor=information_officer, dsar=dsar)
    assert dsar.status == DsarStatus.FULFILLED
    assert dsar.outcome_statement == "Corrected: last name, phone.", "the fields in words, not their keys"
    customer.refresh_from_db()
    assert (customer.last_name, customer.phone) == ("Dlamini-Zuma", "+27825550177")
    events = list(AuditEvent.objects.filter(action="PROFILE_UPDATED").order_by("id"))
    assert [event.change_diff["changed"] for event in events] == [["last_name"], ["phone"]]
    for event in events:
        assert event.user == information_officer and event.object_id == str(customer.public_id)
        assert event.change_diff["correction_request"] == str(dsar.public_id)
        field = event.change_diff["changed"][0]
        # Kept only encrypted under the customer's key (docs/adr/0007); readable through a reveal.
        assert is_encrypted_value(event.change_diff["after"][field])
        assert event.change_diff["before"][field] == "***" or is_encrypted_value(event.change_diff["before"][field])
        assert (
            reveal_change_diff(event.change_diff)["after"][field]
            == {"last_name": "Dlamini-Zuma", "phone": "+27825550177"}[field]
        )
        assert "Dlamini" not in str(event.change_diff) and "555" not in str(event.change_diff)


def test_fields_that_cannot_be_corrected_make_the_outcome_partial(customer, information_officer):
    dsar = services.dsar_file(
        subject=customer, filed_by=customer, type="correction",
        requested_changes={"first_name": "Lerato", "is_staff": "true", "phone": "not a phone"},
    )  # fmt: skip
    to_review(dsar, information_officer)
    dsar = services.dsar_approve(actor=information_officer, dsar=dsar)
    assert dsar.status == DsarStatus.PARTIALLY_FULFILLED
    assert "Corrected: first name." in dsar.outcome_statement
    assert "is staff (cannot be corrected this way)" in dsar.outcome_statement
    assert "_" not in dsar.outcome_statement, "no field key reaches the subject"
    assert "phone (" in dsar.outcome_statement and "not a phone" not in dsar.outcome_statement
    customer.refresh_from_db()
    assert customer.first_name == "Lerato" and not customer.is_staff and customer.phone is None


def test_a_refused_correction_leaves_a_note_on_the_subjects_record(customer, information_officer):
    before = customer.last_name
    dsar = services.dsar_file(
        subject=customer, filed_by=customer, type="correction", requested_changes={"last_name": "Someone Else"}
    )
    to_review(dsar, information_officer)
    services.dsar_reject(actor=information_officer, dsar=dsar, reason="The ID document shows the name on record.")
    customer.refresh_from_db()
    assert customer.last_name == before
    note = CorrectionRequestNote.objects.get(subject=customer)
    assert note.fields == ["last_name"] and note.dsar == dsar
    assert "ID document" in note.outcome

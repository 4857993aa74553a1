"""Every field the PI inventory marks correctable can be corrected (issue 16): e-mail (with
re-verification), date of birth (within the ID number's rule), bank account (verified again before
any payout) — each through its owning app's handler, audited with before/after masked. The API
schema lists exactly the inventory's correctable fields, and the inventory and the registered
handlers are held in agreement by a system check (compliance.E603).
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import mail
from django.test import TestCase

from compliance.audit.models import AuditEvent
from compliance.audit.services import is_encrypted_value
from compliance.dsar import services
from compliance.dsar.checks import correction_problems
from compliance.dsar.corrections import correctable_fields as handled
from compliance.dsar.export import subject_rows
from compliance.dsar.models import DataSubjectRequest, DsarStatus
from compliance.pi.inventory import is_product_model
from compliance.pi.registry import correctable_fields as marked
from compliance.pi.registry import registry
from ledger import services as ledger
from ledger.models import BankAccount, KycRecord
from tests.compliance.dsar.conftest import client_for
from tests.ledger.conftest import sa_id
from tests.personas import make_staff

pytestmark = pytest.mark.django_db

DOB = dt.date(1990, 1, 15)


@pytest.fixture(autouse=True)
def eager(monkeypatch):
    from fintech.celery import app

    monkeypatch.setattr(app.conf, "task_always_eager", True)


def correct(customer, officer, changes: dict[str, str]) -> DataSubjectRequest:
    response = client_for(customer).post(
        "/api/v1/dsar/", {"type": "correction", "requested_changes": changes}, format="json"
    )
    assert response.status_code == 201, response.content
    dsar = DataSubjectRequest.objects.get(public_id=response.json()["id"])
    services.dsar_verify_identity(actor=officer, dsar=dsar, evidence="Certified copy seen")
    services.dsar_assign(actor=officer, dsar=dsar)
    mail.outbox.clear()
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = client_for(officer).post(f"/api/v1/officer/dsar/{dsar.public_id}/approve/", {}, format="json")
    assert response.status_code == 200, response.content
    dsar.refresh_from_db()
    return dsar


def masked(event: AuditEvent, *values: str) -> None:
    text = str(event.change_diff)
    for value in values:
        assert value not in text, value
    # The before/after are kept only encrypted under the subject's key (docs/adr/0007), or masked.
    sides = [*event.change_diff["before"].values(), *event.change_diff["after"].values()]
    assert sides and all(is_encrypted_value(value) or value == "***" for value in sides)
    assert any(is_encrypted_value(value) for value in sides)


def test_the_schema_lists_exactly_the_inventorys_correctable_fields(openapi_document):
    schemas = openapi_document["components"]["schemas"]
    properties = set(schemas["RequestedChanges"]["properties"])
    assert properties == set(marked())
    assert {"email", "date_of_birth", "bank_account_number", "bank_name", "bank_branch_code"} <= properties


def test_inventory_and_handlers_agree_and_a_disagreement_is_an_error():
    assert set(marked()) == set(handled())
    errors = correction_problems({"email", "address"}, {"email", "nickname"})
    assert [error.id for error in errors] == ["compliance.E603", "compliance.E603"]
    assert "'address'" in errors[0].msg and "'nickname'" in errors[1].msg


def test_an_email_correction_reverifies_the_new_address(customer, information_officer):
    old = customer.email
    dsar = correct(customer, information_officer, {"email": "Thandiwe.New@Example.org"})
    assert dsar.status == DsarStatus.FULFILLED, dsar.outcome_statement
    customer.refresh_from_db()
    assert customer.email == "thandiwe.new@example.org"
    recipients = [message.to for message in mail.outbox]
    assert [old] in recipients, "the old address is told"
    reset = next(m for m in mail.outbox if m.to == ["thandiwe.new@example.org"] and "password" in m.subject.lower())
    assert "#uid=" in reset.body, "the new address proves itself through a reset link"
    # Every token of the account was revoked: the old access token no longer works.
    assert client_for(customer).get("/api/v1/me/").status_code == 200  # a fresh token does
    event = AuditEvent.objects.get(action="PROFILE_UPDATED", object_id=str(customer.public_id))
    assert event.user == information_officer and event.change_diff["correction_request"] == str(dsar.public_id)
    masked(event, old, "thandiwe.new")


def test_an_email_of_another_account_is_refused_and_noted(customer, other_customer, information_officer):
    dsar = correct(customer, information_officer, {"email": other_customer.email})
    assert dsar.status == DsarStatus.PARTIALLY_FULFILLED
    assert "belongs to another account" in dsar.outcome_statement
    assert other_customer.email not in dsar.outcome_statement
    customer.refresh_from_db()
    assert customer.email == "thandiwe.subject@example.co.za"


def test_a_date_of_birth_correction_must_agree_with_the_id_number(customer, information_officer):
    ledger.kyc_submit(actor=customer, id_number=sa_id(DOB), date_of_birth=DOB, document_reference="D")
    # A record captured before the ID-number rule (or keyed in by staff) holds the wrong date.
    record = KycRecord.objects.get(user=customer)
    record.date_of_birth = dt.date(1990, 1, 16)
    record.save(update_fields=["date_of_birth"])
    wrong = correct(customer, information_officer, {"date_of_birth": "1991-02-03"})
    assert wrong.status == DsarStatus.PARTIALLY_FULFILLED and "ID number" in wrong.outcome_statement
    assert KycRecord.objects.get(user=customer).date_of_birth == dt.date(1990, 1, 16)
    right = correct(customer, information_officer, {"date_of_birth": DOB.isoformat()})
    assert right.status == DsarStatus.FULFILLED, right.outcome_statement
    assert right.outcome_statement == "Corrected: date of birth."
    assert KycRecord.objects.get(user=customer).date_of_birth == DOB
    (event,) = AuditEvent.objects.filter(action="PI_CORRECTED", object_type="ledger.KycRecord")
    masked(event, "1990-01-15", "1990-01-16")


def test_a_corrected_bank_account_must_be_verified_again(customer, information_officer):
    operations = make_staff("operations")
    bank = ledger.bank_account_add(
        actor=customer, bank_name="Demo Bank", branch_code="250655", account_number="62001234567"
    )
    ledger.bank_account_verify(actor=operations, bank_account=bank.public_id)
    dsar = correct(customer, information_officer, {"bank_account_number": "62007654321", "bank_branch_code": "198765"})
    assert dsar.status == DsarStatus.FULFILLED, dsar.outcome_statement
    bank = BankAccount.objects.get(pk=bank.pk)
    assert (bank.account_number, bank.branch_code, bank.verified) == ("62007654321", "198765", False)
    events = AuditEvent.objects.filter(action="PI_CORRECTED", object_type="ledger.BankAccount")
    assert events.count() == 2
    for event in events:
        masked(event, "62001234567", "62007654321")
        assert event.change_diff["verified"] is False


def test_a_bank_correction_with_several_accounts_is_refused_not_guessed(customer, information_officer):
    ledger.bank_account_add(actor=customer, bank_name="Demo Bank", branch_code="250655", account_number="62001234567")
    ledger.bank_account_add(actor=customer, bank_name="Other Bank", branch_code="198765", account_number="10001234567")
    dsar = correct(customer, information_officer, {"bank_account_number": "62007654321"})
    assert dsar.status == DsarStatus.PARTIALLY_FULFILLED and "several bank accounts" in dsar.outcome_statement
    assert sorted(BankAccount.objects.filter(owner=customer).values_list("branch_code", flat=True)) == [
        "198765",
        "250655",
    ]


# Every field the inventory marks correctable: (the value the subject asks for, what is stored).
# A field newly marked correctable fails the first assertion until it has a case here.
CORRECTIONS = {
    "email": ("Thandiwe.Corrected@Example.org", "thandiwe.corrected@example.org"),
    "first_name": ("Thandiwecorrected", "Thandiwecorrected"),
    "last_name": ("Correctedsurname", "Correctedsurname"),
    "phone": ("082 555 0188", "+27825550188"),
    "date_of_birth": (DOB.isoformat(), DOB),
    "bank_account_number": ("62007654321", "62007654321"),
    "bank_name": ("Other Bank", "Other Bank"),
    "bank_branch_code": ("198765", "198765"),
}


@pytest.mark.parametrize("name", sorted(CORRECTIONS))
def test_every_correctable_field_is_corrected_over_the_api_and_audited_masked(name, customer, information_officer):
    product = {key for key, (label, _) in marked().items() if is_product_model(registry.get(label))}
    assert set(CORRECTIONS) == product, "every field the product's inventory marks correctable has a case"
    customer.first_name, customer.last_name, customer.phone = "Thandiwe", "Subject", "+27825550100"
    customer.save()
    ledger.kyc_submit(actor=customer, id_number=sa_id(DOB), date_of_birth=DOB, document_reference="D")
    # A date keyed in wrongly before the ID-number rule: the one kind of date a correction can fix.
    KycRecord.objects.filter(user=customer).update(date_of_birth=dt.date(1990, 1, 16))
    ledger.bank_account_add(actor=customer, bank_name="Demo Bank", branch_code="250655", account_number="62001234567")
    label, field = marked()[name]
    [before] = subject_rows(registry.get(label), customer)
    old = getattr(before, field)
    asked, stored = CORRECTIONS[name]
    audits = set(AuditEvent.objects.values_list("pk", flat=True))

    dsar = correct(customer, information_officer, {name: asked})

    assert dsar.status == DsarStatus.FULFILLED, dsar.outcome_statement
    assert dsar.outcome_statement == f"Corrected: {name.replace('_', ' ')}."
    [after] = subject_rows(registry.get(label), customer)
    assert getattr(after, field) == stored != old
    corrected = AuditEvent.objects.exclude(pk__in=audits).filter(action__in=("PROFILE_UPDATED", "PI_CORRECTED"))
    assert corrected and all(event.user == information_officer for event in corrected)
    for event in corrected:
        masked(event, str(old), str(stored))

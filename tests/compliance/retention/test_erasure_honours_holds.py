"""Erasure honours every hold over the subject (issue 16): the officer's litigation and regulator
holds (placed through the officer API), holds on particular records, and the FICA retention
periods. Held data is kept and listed in the statement with the hold's reason and end; what is not
held is erased; earlier export bundles are destroyed either way."""

from __future__ import annotations

import datetime as dt
from datetime import UTC

import pytest
from django.core.files.storage import default_storage

from compliance.audit.models import AuditEvent
from compliance.dsar.erasure import erase_subject
from compliance.dsar.export import export_create
from compliance.dsar.models import DataSubjectRequest, DsarExport, DsarStatus
from compliance.retention.models import HoldKind, LegalHold
from ledger import services as ledger
from tests.compliance.consent.consent_helpers import seed_purposes
from tests.compliance.dsar.deletion_helpers import assert_statement_in_words
from tests.personas import make_api_client, make_customer, make_staff, otp_admin_login

pytestmark = pytest.mark.django_db

REASON = "Case 2026/114 (Western Cape High Court): keep all records of the account."


def act(officer, dsar_id: str, slug: str, body: dict | None = None) -> dict:
    response = make_api_client(officer).post(f"/api/v1/officer/dsar/{dsar_id}/{slug}/", body or {}, format="json")
    assert response.status_code == 200, (slug, response.content)
    return response.json()


@pytest.fixture
def officers():
    seed_purposes()
    return make_staff("information_officer"), make_staff("information_officer")


def exported(subject, officer) -> DsarExport:
    """The subject asks for their data over the API; the officer approves; the worker builds the bundle."""
    dsar_id = make_api_client(subject).post("/api/v1/dsar/", {"type": "access"}, format="json").json()["id"]
    act(officer, dsar_id, "verify-identity", {"evidence": "MFA step-up at filing"})
    act(officer, dsar_id, "assign")
    act(officer, dsar_id, "approve")
    export = export_create(dsar=DataSubjectRequest.objects.get(public_id=dsar_id))
    assert export is not None and default_storage.exists(export.storage_name)
    return export


def deletion_approved(subject, first, second) -> DataSubjectRequest:
    dsar_id = make_api_client(subject).post("/api/v1/dsar/", {"type": "deletion"}, format="json").json()["id"]
    act(first, dsar_id, "verify-identity", {"evidence": "MFA step-up at filing"})
    act(first, dsar_id, "assign")
    act(first, dsar_id, "request-approval")
    act(second, dsar_id, "approve")
    return DataSubjectRequest.objects.get(public_id=dsar_id)


def test_a_litigation_hold_placed_through_the_api_keeps_the_subject_but_their_bundles_go(
    officers, django_capture_on_commit_callbacks
):
    first, second = officers
    subject = make_customer()
    subject.first_name = "Keptname"
    subject.save()
    bundle = exported(subject, first)
    placed = make_api_client(first).post(
        "/api/v1/officer/holds/",
        {"subject": str(subject.public_id), "kind": "litigation", "reason": REASON,
         "hold_until": "2031-06-30T23:59:00Z"},
        format="json",
    )  # fmt: skip
    assert placed.status_code == 201, placed.content
    dsar = deletion_approved(subject, first, second)

    with django_capture_on_commit_callbacks(execute=True):  # the files go once the erasure commits
        statement = erase_subject(dsar=dsar)

    dsar.refresh_from_db()
    subject.refresh_from_db()
    assert dsar.status == DsarStatus.PARTIALLY_FULFILLED and dsar.outcome_statement == statement
    assert subject.is_active and subject.first_name == "Keptname", "held data is kept"
    assert f"Litigation / investigation hold, until 2031-06-30: {REASON}" in statement
    assert_statement_in_words(statement)
    # The bundle is a copy: destroyed, file and row, even under the hold (audited, without content).
    assert not DsarExport.objects.filter(pk=bundle.pk).exists()
    assert not default_storage.exists(bundle.storage_name)
    assert "Earlier copies of your data prepared for download: 1 destroyed." in statement
    [destroyed] = AuditEvent.objects.filter(action="DSAR_EXPORT_DESTROYED")
    assert destroyed.object_id == str(bundle.public_id)


def test_a_hold_on_some_records_keeps_those_and_erases_the_rest_with_fica_periods_said(officers):
    first, second = officers
    subject = make_customer()
    subject.first_name, subject.last_name = "Erasedfirst", "Erasedlast"
    subject.save()
    wallet = ledger.wallet_ensure(owner=subject)
    bank = ledger.bank_account_add(
        actor=subject, bank_name="Demo Bank", branch_code="250655", account_number="62009876543"
    )
    # A regulator's request names one record: the payout bank account.
    LegalHold.objects.create(
        kind=HoldKind.REGULATOR, model_label="ledger.bankaccount", object_id=str(bank.pk), subject=subject,
        reason="FIC request 77/2026: the payout account.", hold_until=dt.datetime(2030, 1, 31, tzinfo=UTC),
        created_by=first,
    )  # fmt: skip
    dsar = deletion_approved(subject, first, second)

    statement = erase_subject(dsar=dsar)

    dsar.refresh_from_db()
    subject.refresh_from_db()
    bank.refresh_from_db()
    assert dsar.status == DsarStatus.PARTIALLY_FULFILLED
    # Not held: erased.
    assert not subject.is_active and "Erased" not in subject.first_name + subject.last_name
    # Held: untouched.
    assert bank.account_number == "62009876543" and bank.bank_name == "Demo Bank"
    assert "  - Bank accounts: 1 record(s)" in statement
    assert_statement_in_words(statement)
    assert "Regulator / law-enforcement hold, until 2030-01-31: FIC request 77/2026: the payout account." in statement
    # FICA retention is a hold too: the wallet is kept (pseudonymous) under a dated retention duty.
    duty = LegalHold.objects.get(
        kind=HoldKind.RETENTION_DUTY, model_label="ledger.ledgeraccount", object_id=str(wallet.pk)
    )
    assert duty.hold_until > dt.datetime.now(UTC) + dt.timedelta(days=4 * 365)
    assert "Kept because the law requires it" in statement and "FICA" in statement


def test_a_released_or_expired_hold_holds_nothing(officers):
    first, second = officers
    subject = make_customer()
    hold = LegalHold.objects.create(
        kind=HoldKind.LITIGATION, model_label="accounts.user", object_id=str(subject.pk), subject=subject,
        reason="Old matter", hold_until=dt.datetime(2020, 1, 1, tzinfo=UTC), created_by=first,
    )  # fmt: skip
    assert not hold.in_force()
    statement = erase_subject(dsar=deletion_approved(subject, first, second))
    subject.refresh_from_db()
    assert "has been carried out" in statement and "Old matter" not in statement
    assert not subject.is_active


def test_a_hold_scoped_to_the_ledger_keeps_the_money_records_and_the_rest_is_erased(officers):
    first, second = officers
    subject = make_customer()
    subject.first_name = "Erasedfirst"
    subject.save()
    bank = ledger.bank_account_add(
        actor=subject, bank_name="Demo Bank", branch_code="250655", account_number="62004444555"
    )
    placed = make_api_client(first).post(
        "/api/v1/officer/holds/",
        {"subject": str(subject.public_id), "kind": "litigation", "reason": "Chargeback dispute 2026/017.",
         "tables": ["ledger.bankaccount", "ledger.journalentry"]},
        format="json",
    )  # fmt: skip
    assert placed.status_code == 201, placed.content
    assert placed.json()["scope"] == ["ledger.bankaccount", "ledger.journalentry"]
    audit = AuditEvent.objects.get(action="LEGAL_HOLD_PLACED")
    assert audit.change_diff["scope"] == ["ledger.bankaccount", "ledger.journalentry"]
    dsar = deletion_approved(subject, first, second)

    statement = erase_subject(dsar=dsar)

    subject.refresh_from_db()
    bank.refresh_from_db()
    assert not subject.is_active and subject.first_name != "Erasedfirst", "the profile is not held: erased"
    assert bank.account_number == "62004444555", "the held table is kept untouched"
    assert "  - Bank accounts: 1 record(s)" in statement
    assert (
        "Litigation / investigation hold, until it is released: Chargeback dispute 2026/017. "
        "(keeps: Bank accounts, Journal entries)"
    ) in statement
    assert_statement_in_words(statement)
    assert DataSubjectRequest.objects.get(pk=dsar.pk).status == DsarStatus.PARTIALLY_FULFILLED


@pytest.mark.parametrize("tables", [["auth.permission"], ["ledger.bankaccount", "not.a_table"], "ledger.bankaccount"])
def test_a_hold_scoped_to_something_that_is_not_a_subjects_table_is_refused(officers, tables):
    first, _ = officers
    subject = make_customer()
    response = make_api_client(first).post(
        "/api/v1/officer/holds/",
        {"subject": str(subject.public_id), "kind": "litigation", "reason": "x", "tables": tables},
        format="json",
    )
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] in ("invalid_scope", "validation_error")
    assert not LegalHold.objects.exists() and not AuditEvent.objects.filter(action="LEGAL_HOLD_PLACED").exists()


def test_the_officer_scopes_a_hold_in_the_admin(client, officers):
    first, _ = officers
    subject = make_customer()
    otp_admin_login(client, first)
    form = client.get("/admin/compliance/legalhold/add/")
    assert b'value="ledger.journalentry"' in form.content and b'value="accounts.user"' in form.content
    response = client.post(
        "/admin/compliance/legalhold/add/",
        {"subject_email": subject.email, "kind": "regulator", "reason": "FIC 12/2026", "tables": ["ledger.posting"]},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert LegalHold.objects.get().scope == ["ledger.posting"]
    refused = client.post(
        "/admin/compliance/legalhold/add/",
        {"subject_email": subject.email, "kind": "litigation", "reason": "x", "tables": ["auth.permission"]},
    )
    assert refused.status_code == 200 and LegalHold.objects.count() == 1

"""Deletion with money (issue 16): a deletion is blocked while the subject holds money, until the
officer settles it — paid out to the subject's verified bank account, or moved to the
unclaimed-funds account — through the officer API or the admin; the statement says which and how
much, and the ledger still balances.

Driven as the people would: the customer files over the API, two information officers act through
the officer API (or the admin), operations verify the bank account, the bank confirms the payout
with a signed notification. The erasure is what the worker's task runs after the approval commits.
"""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from compliance.audit.models import AuditEvent
from compliance.dsar.erasure import erase_subject
from compliance.dsar.models import DataSubjectRequest, DsarEvent, DsarStatus
from compliance.retention.seed import seed_retention_policies
from ledger import services as ledger
from ledger.models import AccountKind, JournalEntry, LedgerAccount
from ledger.reconciliation import check_ledger
from tests.compliance.consent.consent_helpers import seed_purposes
from tests.ledger.conftest import fund, sa_id, settle, verify_kyc
from tests.personas import make_api_client, make_customer, make_staff, otp_admin_login

pytestmark = pytest.mark.django_db

DSAR_URL = "/api/v1/dsar/"


def act_url(dsar_id: str, slug: str) -> str:
    return f"/api/v1/officer/dsar/{dsar_id}/{slug}/"


@pytest.fixture(autouse=True)
def _vocabulary() -> None:
    seed_purposes()
    seed_retention_policies()


@pytest.fixture
def people():
    return {
        "operations": make_staff("operations"),
        "first": make_staff("information_officer"),
        "second": make_staff("information_officer"),
    }


def funded_customer(operations, amount: int = 180_000):
    """A KYC-verified customer with ``amount`` (minor units) posted in their wallet."""
    customer = make_customer()
    record = ledger.kyc_submit(
        actor=customer, id_number=sa_id(), date_of_birth=dt.date(1990, 1, 15), document_reference="DOC-1",
    )  # fmt: skip
    verify_kyc(record, operations=operations, tier=2)  # tier 2 is four eyes (a second operations user)
    wallet = ledger.wallet_ensure(owner=customer)
    fund(customer, wallet, amount)
    return customer, wallet


def file_and_review(customer, people) -> str:
    """The customer files a deletion over the API; the first officer verifies, takes it and asks for approval."""
    filed = make_api_client(customer).post(DSAR_URL, {"type": "deletion"}, format="json")
    assert filed.status_code == 201, filed.content
    dsar_id = filed.json()["id"]
    first = make_api_client(people["first"])
    for slug, body in (("verify-identity", {"evidence": "MFA step-up at filing"}), ("assign", {}),
                       ("request-approval", {})):  # fmt: skip
        response = first.post(act_url(dsar_id, slug), body, format="json")
        assert response.status_code == 200, (slug, response.content)
    return dsar_id


def state(dsar_id: str) -> tuple:
    dsar = DataSubjectRequest.objects.get(public_id=dsar_id)
    return dsar.status, dsar.decided_by_id, list(dsar.balance_settlements), dsar.events.count()


def unclaimed_total(currency: str = "ZAR") -> int:
    return sum(
        LedgerAccount.objects.filter(kind=AccountKind.UNCLAIMED, currency=currency).values_list("balance", flat=True)
    )


def test_approval_is_refused_while_money_is_held_then_the_officer_moves_it_to_unclaimed_funds(people):
    customer, wallet = funded_customer(people["operations"])
    dsar_id = file_and_review(customer, people)
    second = make_api_client(people["second"])
    before = state(dsar_id)
    audits_before = AuditEvent.objects.count()

    refused = second.post(act_url(dsar_id, "approve"), {}, format="json")

    assert refused.status_code == 409, refused.content
    error = refused.json()["error"]
    assert error["code"] == "balance_outstanding" and "ZAR 1800.00 available" in error["message"]
    assert state(dsar_id) == before and AuditEvent.objects.count() == audits_before, "nothing changed"

    settled = second.post(act_url(dsar_id, "settle-balance"), {"method": "unclaimed"}, format="json")

    assert settled.status_code == 200, settled.content
    wallet.refresh_from_db()
    assert (wallet.balance, wallet.pending_debits) == (0, 0) and unclaimed_total() == 180_000
    dsar = DataSubjectRequest.objects.get(public_id=dsar_id)
    [record] = dsar.balance_settlements
    assert (record["method"], record["amount"], record["currency"]) == ("unclaimed", 180_000, "ZAR")
    entry = JournalEntry.objects.get(public_id=record["entry"])
    assert entry.created_by == people["second"] and not entry.pending
    moved = AuditEvent.objects.get(action="UNCLAIMED_FUNDS_MOVED")
    assert moved.object_id == record["entry"] and moved.user_id == people["second"].pk
    settled_audit = AuditEvent.objects.get(action="DSAR_BALANCE_SETTLED")
    assert settled_audit.object_id == dsar_id and settled_audit.change_diff["method"] == "unclaimed"
    assert check_ledger().ok

    approved = second.post(act_url(dsar_id, "approve"), {}, format="json")
    assert approved.status_code == 200 and approved.json()["status"] == "approved", approved.content

    statement = erase_subject(dsar=dsar)

    assert "ZAR 1,800.00 moved to the unclaimed-funds account" in statement
    assert DataSubjectRequest.objects.get(public_id=dsar_id).status == DsarStatus.FULFILLED
    customer.refresh_from_db()
    assert not customer.is_active
    assert check_ledger().ok


def test_payout_needs_a_verified_bank_account_and_the_deletion_waits_until_the_bank_pays(people):
    customer, wallet = funded_customer(people["operations"], amount=50_000)
    dsar_id = file_and_review(customer, people)
    second = make_api_client(people["second"])

    before = state(dsar_id)
    no_bank = second.post(act_url(dsar_id, "settle-balance"), {"method": "payout"}, format="json")
    assert no_bank.status_code == 409 and no_bank.json()["error"]["code"] == "no_verified_bank_account"
    assert state(dsar_id) == before and not JournalEntry.objects.filter(entry_type="withdrawal").exists()

    bank = ledger.bank_account_add(
        actor=customer, bank_name="Demo Bank", branch_code="250655", account_number="62001234567"
    )
    ledger.bank_account_verify(actor=people["operations"], bank_account=bank.public_id)

    paid = second.post(act_url(dsar_id, "settle-balance"), {"method": "payout"}, format="json")

    assert paid.status_code == 200, paid.content
    [record] = DataSubjectRequest.objects.get(public_id=dsar_id).balance_settlements
    payout = JournalEntry.objects.get(public_id=record["entry"])
    assert (payout.entry_type, payout.pending, payout.external_reference) == ("withdrawal", True, str(bank.public_id))
    wallet.refresh_from_db()
    assert (wallet.balance, wallet.pending_debits) == (50_000, 50_000), "pending until the bank confirms"

    # Money in flight still blocks the deletion, with its own code.
    waiting = second.post(act_url(dsar_id, "approve"), {}, format="json")
    assert waiting.status_code == 409 and waiting.json()["error"]["code"] == "balance_pending"

    settle(payout.public_id, event="payout.paid")  # the bank's signed notification

    wallet.refresh_from_db()
    assert (wallet.balance, wallet.pending_debits) == (0, 0)
    approved = second.post(act_url(dsar_id, "approve"), {}, format="json")
    assert approved.status_code == 200, approved.content
    statement = erase_subject(dsar=DataSubjectRequest.objects.get(public_id=dsar_id))
    assert "ZAR 500.00 paid out to the subject's verified bank account" in statement
    assert check_ledger().ok


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({}, 400, "validation_error"),
        ({"method": "to-my-cousin"}, 400, "validation_error"),
        ({"method": ["unclaimed"]}, 400, "validation_error"),
    ],
)
def test_settling_refuses_bad_input_with_the_error_shape_and_changes_nothing(people, body, status, code):
    customer, wallet = funded_customer(people["operations"], amount=10_000)
    dsar_id = file_and_review(customer, people)
    before = state(dsar_id)

    response = make_api_client(people["second"]).post(act_url(dsar_id, "settle-balance"), body, format="json")

    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert set(error) <= {"code", "message", "fields"} and error["message"]
    assert error["code"] == code and "method" in error["fields"]
    assert "to-my-cousin" not in response.content.decode(), "the message never echoes input"
    wallet.refresh_from_db()
    assert wallet.balance == 10_000 and state(dsar_id) == before


def test_only_a_deletion_settles_money_and_nobody_settles_their_own(people):
    customer, wallet = funded_customer(people["operations"], amount=10_000)
    access = make_api_client(customer).post(DSAR_URL, {"type": "access"}, format="json").json()["id"]
    first = make_api_client(people["first"])
    first.post(act_url(access, "verify-identity"), {"evidence": "MFA"}, format="json")
    first.post(act_url(access, "assign"), {}, format="json")
    wrong_type = first.post(act_url(access, "settle-balance"), {"method": "unclaimed"}, format="json")
    assert wrong_type.status_code == 409 and wrong_type.json()["error"]["code"] == "settlement_not_applicable"

    # A customer (not an officer) cannot settle: 403, audited once through the one denial path.
    dsar_id = file_and_review(customer, people)
    denied_before = AuditEvent.objects.filter(action="PERMISSION_DENIED").count()
    own = make_api_client(customer).post(act_url(dsar_id, "settle-balance"), {"method": "unclaimed"}, format="json")
    assert own.status_code == 403
    assert AuditEvent.objects.filter(action="PERMISSION_DENIED").count() == denied_before + 1
    wallet.refresh_from_db()
    assert wallet.balance == 10_000 and unclaimed_total() == 0


def test_money_arriving_after_approval_blocks_the_erasure_until_settled(people, django_capture_on_commit_callbacks):
    customer, wallet = funded_customer(people["operations"], amount=1)
    # One cent, settled before the approval so that it goes through.
    first_dsar = file_and_review(customer, people)
    second = make_api_client(people["second"])
    assert second.post(act_url(first_dsar, "settle-balance"), {"method": "unclaimed"}, format="json").status_code == 200
    assert second.post(act_url(first_dsar, "approve"), {}, format="json").status_code == 200
    # ... then a friend pays the customer before the worker runs the erasure.
    friend, friend_wallet = funded_customer(people["operations"], amount=20_000)
    ledger.transfer_create(
        actor=friend, source_account=friend_wallet.public_id, destination_account=wallet.public_id,
        amount=7_500, currency="ZAR", idempotency_key=f"tr-{uuid.uuid4()}",
    )  # fmt: skip
    dsar = DataSubjectRequest.objects.get(public_id=first_dsar)

    assert erase_subject(dsar=dsar) is None

    dsar.refresh_from_db()
    customer.refresh_from_db()
    assert dsar.status == DsarStatus.APPROVED and customer.is_active, "nothing erased"
    assert DsarEvent.objects.filter(dsar=dsar, kind="erasure_blocked").count() == 1
    blocked = AuditEvent.objects.get(action="DSAR_ERASURE_BLOCKED")
    assert blocked.change_diff["balances"] == [{"currency": "ZAR", "available": 7_500, "pending": 0}]

    # Settling on the approved request schedules the erasure again (the task, after the commit).
    with django_capture_on_commit_callbacks() as scheduled:
        again = second.post(act_url(first_dsar, "settle-balance"), {"method": "unclaimed"}, format="json")
    assert again.status_code == 200 and len(scheduled) == 1
    statement = erase_subject(dsar=dsar)
    assert "ZAR 0.01 moved" in statement and "ZAR 75.00 moved" in statement
    assert check_ledger().ok


def test_the_officer_settles_in_the_admin(client, people):
    customer, wallet = funded_customer(people["operations"], amount=25_000)
    dsar_id = file_and_review(customer, people)
    dsar = DataSubjectRequest.objects.get(public_id=dsar_id)
    otp_admin_login(client, people["second"])
    page = client.get(f"/admin/compliance/datasubjectrequest/{dsar.pk}/change/")
    assert page.status_code == 200 and b"/act/settle-balance/" in page.content
    form = client.get(f"/admin/compliance/datasubjectrequest/{dsar.pk}/act/settle-balance/")
    assert form.status_code == 200 and b"unclaimed" in form.content and b"payout" in form.content

    response = client.post(
        f"/admin/compliance/datasubjectrequest/{dsar.pk}/act/settle-balance/", {"method": "unclaimed"}
    )

    assert response.status_code == 302
    wallet.refresh_from_db()
    assert wallet.balance == 0 and unclaimed_total() == 25_000
    dsar.refresh_from_db()
    assert dsar.balance_settlements[0]["amount"] == 25_000
    shown = client.get(f"/admin/compliance/datasubjectrequest/{dsar.pk}/change/")
    assert b"Balance settled before deletion" in shown.content


def test_with_no_money_settling_is_refused_in_review_and_reschedules_an_approved_erasure(
    people, django_capture_on_commit_callbacks
):
    customer = make_customer()
    dsar_id = file_and_review(customer, people)
    second = make_api_client(people["second"])
    before = state(dsar_id)
    nothing = second.post(act_url(dsar_id, "settle-balance"), {"method": "payout"}, format="json")
    assert nothing.status_code == 409 and nothing.json()["error"]["code"] == "nothing_to_settle"
    assert state(dsar_id) == before

    assert second.post(act_url(dsar_id, "approve"), {}, format="json").status_code == 200
    with django_capture_on_commit_callbacks() as scheduled:
        again = second.post(act_url(dsar_id, "settle-balance"), {"method": "payout"}, format="json")
    assert again.status_code == 200 and len(scheduled) == 1, "the erasure is scheduled again"
    assert DsarEvent.objects.filter(dsar__public_id=dsar_id, kind="balance_settled").count() == 1
    assert AuditEvent.objects.get(action="DSAR_BALANCE_SETTLED").change_diff["rescheduled"] is True

"""KYC at tier >= 2 needs a second operations user (issue 15), through the ops API and the admin.

One operations user's tier 2+ verification is a request (the record stays pending, no wallet); a
different operations user approves (verified at the requested tier, the wallet opens) or rejects
it. Neither the requester nor the customer can give the second approval; every step is a
KYC_VERIFY record. Tier 1 stays one step. In the admin, operations decide and approve on the
detail page; the auditor sees the queue and the record, and cannot decide.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client

from accounts import roles
from compliance.audit.models import AuditEvent
from compliance.audit.services import AuditAction
from ledger import services
from ledger.models import KycRecord, KycStatus, LedgerAccount
from tests.ledger.conftest import api_client, sa_id
from tests.personas import make_customer, make_staff, otp_admin_login

pytestmark = pytest.mark.django_db


@pytest.fixture
def submission():
    customer = make_customer()
    return services.kyc_submit(
        actor=customer, id_number=sa_id(), date_of_birth=dt.date(1990, 1, 15), document_reference="DOC-4E"
    )


def _state(record: KycRecord) -> tuple:
    record.refresh_from_db()
    return (record.status, record.tier, record.decided_by_id, LedgerAccount.objects.filter(owner=record.user).count())


def test_tier_2_through_the_api_is_a_request_that_a_colleague_approves(submission):
    first, second = make_staff(roles.OPERATIONS), make_staff(roles.OPERATIONS)
    url = f"/api/v1/ops/kyc/{submission.public_id}/"
    asked = api_client(first).post(
        f"{url}decision/", {"decision": "verify", "tier": 2, "reason": "ID seen"}, format="json"
    )
    assert asked.status_code == 202 and asked.json()["status"] == "pending" and asked.json()["awaiting_approval"]
    assert _state(submission) == (KycStatus.PENDING, 0, None, 0)
    # The requester cannot approve their own request, nor decide it again another way.
    own = api_client(first).post(f"{url}approval/", {"decision": "approve"}, format="json")
    assert own.status_code == 403 and own.json()["error"]["code"] == "own_account"
    again = api_client(second).post(f"{url}decision/", {"decision": "verify", "tier": 1}, format="json")
    assert again.status_code == 409 and again.json()["error"]["code"] == "kyc_awaiting_approval"
    assert _state(submission) == (KycStatus.PENDING, 0, None, 0)
    approved = api_client(second).post(f"{url}approval/", {"decision": "approve"}, format="json")
    assert approved.status_code == 200 and approved.json()["status"] == "verified" and approved.json()["tier"] == 2
    assert _state(submission) == (KycStatus.VERIFIED, 2, second.pk, 1)
    steps = [e.change_diff.get("step") for e in AuditEvent.objects.filter(action=AuditAction.KYC_VERIFY).order_by("id")]
    assert steps == ["approval_requested", "approved"]
    assert AuditEvent.objects.filter(action=AuditAction.PERMISSION_DENIED, user=first).count() == 1


def test_the_customer_cannot_approve_and_a_rejection_is_the_second_step_too(submission):
    first, second = make_staff(roles.OPERATIONS), make_staff(roles.OPERATIONS)
    services.kyc_decide(actor=first, record=submission.public_id, verify=True, tier=3, reason="ID seen")
    customer_answer = api_client(submission.user).post(
        f"/api/v1/ops/kyc/{submission.public_id}/approval/", {"decision": "approve"}, format="json"
    )
    assert customer_answer.status_code == 403
    services.kyc_approve(actor=second, record=submission.public_id, approve=False, reason="address unclear")
    assert _state(submission) == (KycStatus.REJECTED, 0, second.pk, 0)


def test_tier_1_stays_one_step_and_no_approval_is_open(submission):
    ops = make_staff(roles.OPERATIONS)
    services.kyc_decide(actor=ops, record=submission.public_id, verify=True, tier=1, reason="ID seen")
    assert _state(submission) == (KycStatus.VERIFIED, 1, ops.pk, 1)
    refused = api_client(make_staff(roles.OPERATIONS)).post(
        f"/api/v1/ops/kyc/{submission.public_id}/approval/", {"decision": "approve"}, format="json"
    )
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "kyc_no_approval_request"


def _admin(role: str) -> tuple:
    user = make_staff(role)
    client = Client()
    otp_admin_login(client, user)
    return user, client


def test_operations_decide_and_approve_on_the_admin_detail_page(submission):
    first, first_client = _admin(roles.OPERATIONS)
    second, second_client = _admin(roles.OPERATIONS)
    assert first_client.get("/admin/ledger/kycrecord/").status_code == 200
    page = first_client.get(f"/admin/ledger/kycrecord/{submission.pk}/change/").content.decode()
    assert "Decide this submission" in page and submission.id_number not in page
    first_client.post(
        f"/admin/ledger/kycrecord/{submission.pk}/decide/", {"decision": "verify", "tier": 2, "reason": "ID book seen"}
    )
    assert _state(submission) == (KycStatus.PENDING, 0, None, 0) and submission.awaiting_approval
    mine = first_client.get(f"/admin/ledger/kycrecord/{submission.pk}/change/").content.decode()
    assert "You asked for it" in mine
    # The requester posting the approval anyway is refused (403, audited once) and changes nothing.
    assert (
        first_client.post(f"/admin/ledger/kycrecord/{submission.pk}/approve/", {"decision": "approve"}).status_code
        == 403
    )
    assert AuditEvent.objects.filter(action=AuditAction.PERMISSION_DENIED, user=first).count() == 1
    assert _state(submission) == (KycStatus.PENDING, 0, None, 0)
    theirs = second_client.get(f"/admin/ledger/kycrecord/{submission.pk}/change/").content.decode()
    assert "Second approval" in theirs
    second_client.post(f"/admin/ledger/kycrecord/{submission.pk}/approve/", {"decision": "approve", "reason": "agree"})
    assert _state(submission) == (KycStatus.VERIFIED, 2, second.pk, 1)
    assert AuditEvent.objects.filter(action=AuditAction.KYC_VERIFY).count() == 2


def test_a_missing_reason_decides_nothing_and_says_so(submission):
    _, client = _admin(roles.OPERATIONS)
    answer = client.post(
        f"/admin/ledger/kycrecord/{submission.pk}/decide/", {"decision": "verify", "tier": 1}, follow=True
    )
    assert "Nothing was decided" in answer.content.decode()
    assert _state(submission) == (KycStatus.PENDING, 0, None, 0)


def test_the_auditor_views_the_queue_and_record_but_cannot_decide(submission):
    auditor, client = _admin(roles.AUDITOR)
    assert client.get("/admin/ledger/kycrecord/").status_code == 200
    page = client.get(f"/admin/ledger/kycrecord/{submission.pk}/change/").content.decode()
    assert "Decide this submission" not in page and 'value="verify_tier_1"' not in page
    refused = client.post(
        f"/admin/ledger/kycrecord/{submission.pk}/decide/", {"decision": "verify", "tier": 1, "reason": "x"}
    )
    assert refused.status_code == 403
    assert AuditEvent.objects.filter(action=AuditAction.PERMISSION_DENIED, user=auditor).count() == 1
    assert _state(submission) == (KycStatus.PENDING, 0, None, 0)


def test_the_bulk_action_reports_only_what_happened(submission):
    _, client = _admin(roles.OPERATIONS)
    other = services.kyc_submit(
        actor=make_customer(), id_number=sa_id(), date_of_birth=dt.date(1990, 1, 15), document_reference="DONE"
    )
    # Already decided by a colleague: the service refuses deciding it again (kyc_not_pending).
    services.kyc_decide(actor=make_staff(roles.OPERATIONS), record=other.public_id, verify=False, reason="blurred")
    answer = client.post(
        "/admin/ledger/kycrecord/",
        {"action": "verify_tier_1", "_selected_action": [submission.pk, other.pk]},
        follow=True,
    )
    page = answer.content.decode()
    assert "1 submission(s) verified at tier 1." in page and "0 submission" not in page
    assert _state(submission)[0] == KycStatus.VERIFIED
    answer = client.post(
        "/admin/ledger/kycrecord/", {"action": "verify_tier_1", "_selected_action": [other.pk]}, follow=True
    )
    page = answer.content.decode()
    assert "No submission was decided." in page and "0 submission" not in page

"""KYC: SA ID validation, customer submission, operations decisions (API and admin), KYC_VERIFY audit."""

from __future__ import annotations

import datetime as dt

import pytest

from compliance.audit.models import AuditEvent
from ledger import services
from ledger.kyc import is_valid_sa_id, luhn_check_digit
from ledger.models import KycRecord, KycStatus, LedgerAccount
from tests.kernel.test_errors import assert_error_shape
from tests.ledger.conftest import api_client, sa_id
from tests.personas import otp_admin_login

DOB = dt.date(1990, 1, 15)


def _with_check_digit(first_twelve: str) -> str:
    return first_twelve + luhn_check_digit(first_twelve)


def test_a_valid_sa_id_number_passes():
    assert is_valid_sa_id(_with_check_digit("900115500908"), DOB)
    assert is_valid_sa_id(_with_check_digit("900115500918"), DOB)  # permanent resident
    assert is_valid_sa_id(_with_check_digit("040229000108"), dt.date(2004, 2, 29))


@pytest.mark.parametrize(
    ("id_number", "date_of_birth"),
    [
        (_with_check_digit("900115500908")[:-1] + "0" if _with_check_digit("900115500908")[-1] != "0" else
         _with_check_digit("900115500908")[:-1] + "1", DOB),  # wrong Luhn check digit
        (_with_check_digit("900115500928"), DOB),  # citizenship digit 2
        (_with_check_digit("900116500908"), DOB),  # date of birth disagrees
        (_with_check_digit("901315500908"), dt.date(1990, 1, 15)),  # month 13
        (_with_check_digit("030229000108"), dt.date(2003, 3, 1)),  # 29 Feb in a non-leap year
        ("90011550090", DOB),  # too short
        ("9001155009O81", DOB),  # a letter
        ("９００１１５５００９０８１", DOB),  # non-ASCII digits
    ],
)  # fmt: skip
def test_invalid_sa_id_numbers_fail(id_number, date_of_birth):
    assert not is_valid_sa_id(id_number, date_of_birth)


@pytest.mark.django_db
def test_customer_submits_and_operations_verify_through_the_api(operations, django_user_model):
    customer = django_user_model.objects.create_user(email="kyc@example.test")
    id_number = sa_id(DOB)
    response = api_client(customer, mfa=False).post(
        "/api/v1/kyc/",
        {"id_number": id_number, "date_of_birth": "1990-01-15", "document_reference": "DOC-77"},
        format="json",
    )
    assert response.status_code == 201
    assert response.json()["status"] == "pending" and id_number not in response.content.decode()
    record = KycRecord.objects.get(user=customer)
    assert not LedgerAccount.objects.filter(owner=customer).exists()

    url = f"/api/v1/ops/kyc/{record.public_id}/decision/"
    assert_error_shape(api_client(customer).post(url, {"decision": "verify"}, format="json"), 403, "permission_denied")
    record.refresh_from_db()
    assert record.status == KycStatus.PENDING

    decided = api_client(operations).post(url, {"decision": "verify", "tier": 1}, format="json")
    assert decided.status_code == 200 and decided.json()["status"] == "verified" and decided.json()["tier"] == 1
    record.refresh_from_db()
    assert (record.status, record.tier, record.decided_by) == (KycStatus.VERIFIED, 1, operations)
    assert LedgerAccount.objects.filter(owner=customer, kind="customer_wallet", currency="ZAR").count() == 1
    events = list(AuditEvent.objects.filter(action="KYC_VERIFY"))
    assert len(events) == 1 and events[0].object_id == str(record.public_id)
    assert id_number not in str(events[0].change_diff)
    again = api_client(operations).post(url, {"decision": "reject"}, format="json")
    assert_error_shape(again, 409, "kyc_not_pending")


@pytest.mark.django_db
def test_invalid_id_numbers_are_refused_without_echoing_them(django_user_model):
    customer = django_user_model.objects.create_user(email="kyc2@example.test")
    wrong = sa_id(dt.date(1991, 2, 2))
    response = api_client(customer).post(
        "/api/v1/kyc/", {"id_number": wrong, "date_of_birth": "1990-01-15", "document_reference": "D"}, format="json"
    )
    assert_error_shape(response, 400, "invalid_id_number")
    assert wrong not in response.content.decode()
    assert not KycRecord.objects.filter(user=customer).exists()


@pytest.mark.django_db
def test_rejected_customers_may_resubmit_but_verified_ones_may_not(operations, django_user_model):
    customer = django_user_model.objects.create_user(email="kyc3@example.test")
    record = services.kyc_submit(actor=customer, id_number=sa_id(DOB), date_of_birth=DOB, document_reference="A")
    services.kyc_decide(actor=operations, record=record.public_id, verify=False, reason="blurry document")
    record.refresh_from_db()
    assert (record.status, record.tier, record.reason) == (KycStatus.REJECTED, 0, "blurry document")
    again = services.kyc_submit(actor=customer, id_number=sa_id(DOB), date_of_birth=DOB, document_reference="B")
    assert again.pk == record.pk and again.status == KycStatus.PENDING and again.decided_by is None
    services.kyc_decide(actor=operations, record=record.public_id, verify=True, tier=1)
    response = api_client(customer).post(
        "/api/v1/kyc/", {"id_number": sa_id(DOB), "date_of_birth": "1990-01-15", "document_reference": "C"},
        format="json",
    )  # fmt: skip
    assert_error_shape(response, 409, "kyc_already_verified")
    assert api_client(customer).get("/api/v1/kyc/").json()["status"] == "verified"


@pytest.mark.django_db
def test_admin_kyc_queue_actions_call_the_service(client, operations, django_user_model):
    customers = [django_user_model.objects.create_user(email=f"q{n}@example.test") for n in range(3)]
    records = [
        services.kyc_submit(actor=c, id_number=sa_id(DOB), date_of_birth=DOB, document_reference="Q") for c in customers
    ]
    otp_admin_login(client, operations)
    response = client.get("/admin/ledger/kycrecord/")
    assert response.status_code == 200
    response = client.post(
        "/admin/ledger/kycrecord/",
        {"action": "verify_tier_1", "_selected_action": [str(r.pk) for r in records[:2]]},
    )
    assert response.status_code == 302
    statuses = dict(KycRecord.objects.values_list("pk", "status"))
    assert [statuses[r.pk] for r in records] == ["verified", "verified", "pending"]
    assert LedgerAccount.objects.filter(owner__in=customers[:2]).count() == 2

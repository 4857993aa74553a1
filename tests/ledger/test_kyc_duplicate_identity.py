"""Issue 15, "one SA ID number KYC-verified on any number of accounts, with no flag": the same ID
number submitted by a second account is now flagged and cannot be verified until a reviewer
explicitly clears the flag."""

from __future__ import annotations

import datetime as dt

import pytest

from compliance.audit.models import AuditEvent
from ledger import services
from ledger.models import KycRecord, KycStatus, LedgerAccount
from tests.kernel.test_errors import assert_error_shape
from tests.ledger.conftest import api_client, sa_id

DOB = dt.date(1990, 1, 15)


def _submit(client, id_number: str):
    return client.post(
        "/api/v1/kyc/",
        {"id_number": id_number, "date_of_birth": "1990-01-15", "document_reference": "DOC-9"},
        format="json",
    )


@pytest.fixture
def verified_id(operations, django_user_model) -> str:
    first = django_user_model.objects.create_user(email="first-holder@example.test")
    id_number = sa_id(DOB)
    record = services.kyc_submit(actor=first, id_number=id_number, date_of_birth=DOB, document_reference="D-1")
    services.kyc_decide(actor=operations, record=record.public_id, verify=True, tier=1)
    return id_number


@pytest.mark.django_db
def test_the_same_id_number_on_a_second_account_is_flagged_and_cannot_be_verified(
    verified_id, operations, django_user_model
):
    second = django_user_model.objects.create_user(email="second-holder@example.test")
    assert _submit(api_client(second, mfa=False), verified_id).status_code == 201
    record = KycRecord.objects.get(user=second)
    assert record.duplicate_flagged_at is not None and record.duplicate_blocks_approval
    flagged = AuditEvent.objects.get(action="KYC_DUPLICATE_FLAGGED", object_id=str(record.public_id))
    assert verified_id not in str(flagged.change_diff)

    # The attack: operations verify it anyway. Refused, and nothing changed.
    url = f"/api/v1/ops/kyc/{record.public_id}/decision/"
    refused = api_client(operations).post(url, {"decision": "verify", "tier": 3}, format="json")
    assert_error_shape(refused, 409, "kyc_duplicate_identity")
    record.refresh_from_db()
    assert (record.status, record.tier, record.decided_by) == (KycStatus.PENDING, 0, None)
    assert not LedgerAccount.objects.filter(owner=second).exists()
    # A rejection is still possible without clearing.

    # A reviewer clears the flag explicitly, with a reason; only then can it be verified.
    clearance = f"/api/v1/ops/kyc/{record.public_id}/duplicate-clearance/"
    assert_error_shape(api_client(second).post(clearance, {"reason": "me"}, format="json"), 403, "permission_denied")
    assert_error_shape(api_client(operations).post(clearance, {}, format="json"), 400, "validation_error")
    cleared = api_client(operations).post(clearance, {"reason": "Same person re-registered; old account closed"})
    assert cleared.status_code == 200, cleared.content
    record.refresh_from_db()
    assert record.duplicate_cleared_by == operations and not record.duplicate_blocks_approval
    assert AuditEvent.objects.filter(action="KYC_DUPLICATE_CLEARED", object_id=str(record.public_id)).count() == 1
    assert api_client(operations).post(url, {"decision": "verify", "tier": 1}, format="json").status_code == 200


@pytest.mark.django_db
def test_a_number_verified_elsewhere_after_submission_still_blocks_verification(operations, django_user_model):
    id_number = sa_id(DOB)
    early = django_user_model.objects.create_user(email="early@example.test")
    late = django_user_model.objects.create_user(email="late@example.test")
    first = services.kyc_submit(actor=early, id_number=id_number, date_of_birth=DOB, document_reference="D-1")
    second = services.kyc_submit(actor=late, id_number=id_number, date_of_birth=DOB, document_reference="D-2")
    # Both pending: neither was a duplicate of a *verified* identity at submission.
    assert first.duplicate_flagged_at is None and second.duplicate_flagged_at is None
    services.kyc_decide(actor=operations, record=first.public_id, verify=True)
    with pytest.raises(services.LedgerError) as refused:
        services.kyc_decide(actor=operations, record=second.public_id, verify=True)
    assert refused.value.code == "kyc_duplicate_identity"
    second.refresh_from_db()
    assert second.status == KycStatus.PENDING


@pytest.mark.django_db
def test_a_clearance_does_not_survive_a_resubmission(verified_id, operations, django_user_model):
    second = django_user_model.objects.create_user(email="resubmits@example.test")
    record = services.kyc_submit(actor=second, id_number=verified_id, date_of_birth=DOB, document_reference="D")
    services.kyc_duplicate_clear(actor=operations, record=record.public_id, reason="checked")
    services.kyc_decide(actor=operations, record=record.public_id, verify=False, reason="blurry document")
    record = services.kyc_submit(actor=second, id_number=verified_id, date_of_birth=DOB, document_reference="D2")
    assert record.duplicate_blocks_approval


@pytest.mark.django_db
def test_clearing_an_unflagged_submission_is_refused(operations, django_user_model):
    user = django_user_model.objects.create_user(email="unique-id@example.test")
    record = services.kyc_submit(actor=user, id_number=sa_id(DOB), date_of_birth=DOB, document_reference="D")
    with pytest.raises(services.LedgerError) as refused:
        services.kyc_duplicate_clear(actor=operations, record=record.public_id, reason="nothing to clear")
    assert refused.value.code == "kyc_not_flagged"

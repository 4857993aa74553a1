"""Ledger PI at rest: KYC ID numbers, dates of birth and bank account numbers are encrypted, found
through blind indexes (duplicate detection, fraud signal), and validation still runs on plaintext."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection

from compliance.audit.models import AuditEvent
from ledger import services
from ledger.exceptions import LedgerError
from ledger.models import BankAccount, KycRecord
from tests.ledger.conftest import api_client, sa_id

pytestmark = pytest.mark.django_db

BANK = "/api/v1/bank-accounts/"


def raw(table: str, column: str, pk: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT "{column}" FROM "{table}" WHERE id = %s', [pk])  # noqa: S608 - names are ours
        return cursor.fetchone()[0]


def test_kyc_identity_is_encrypted_and_validated_on_plaintext(make_customer):
    user, _ = make_customer(verified=False)
    number = sa_id(dt.date(1988, 2, 29))
    record = services.kyc_submit(
        actor=user, id_number=number, date_of_birth=dt.date(1988, 2, 29), document_reference="D"
    )
    assert raw("ledger_kycrecord", "id_number", record.pk).startswith("s1:"), "under the subject's own key (ADR 0007)"
    assert raw("ledger_kycrecord", "date_of_birth", record.pk).startswith("s1:"), (
        "under the subject's own key (ADR 0007)"
    )
    assert number not in raw("ledger_kycrecord", "id_number", record.pk)
    fresh = KycRecord.objects.get(pk=record.pk)
    assert (fresh.id_number, fresh.date_of_birth) == (number, dt.date(1988, 2, 29))
    assert KycRecord.objects.get(id_number_index__matches=f"{number[:6]} {number[6:]}") == fresh
    # A resubmission with a date of birth that does not match the number is still refused (Luhn + DOB).
    with pytest.raises(LedgerError) as refused:
        services.kyc_submit(actor=user, id_number=number, date_of_birth=dt.date(1988, 3, 1), document_reference="D")
    assert refused.value.code == "invalid_id_number"
    assert KycRecord.objects.get(pk=record.pk).date_of_birth == dt.date(1988, 2, 29)


def test_the_same_bank_account_twice_is_refused_through_the_blind_index(make_customer):
    user, _ = make_customer()
    client = api_client(user)
    body = {"bank_name": "Bank", "branch_code": "250655", "account_number": "62012345678"}
    assert client.post(BANK, body, format="json").status_code == 201
    bank = BankAccount.objects.get(owner=user)
    assert raw("ledger_bankaccount", "account_number", bank.pk).startswith("s1:"), (
        "under the subject's own key (ADR 0007)"
    )
    audit_before = AuditEvent.objects.count()
    again = client.post(BANK, body, format="json")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "bank_account_duplicate"
    assert "62012345678" not in again.content.decode()
    assert BankAccount.objects.filter(owner=user).count() == 1
    assert AuditEvent.objects.count() == audit_before


def test_an_account_number_seen_on_another_customer_is_flagged_in_the_audit_trail(make_customer):
    (alice, _), (bob, _) = make_customer(), make_customer()
    services.bank_account_add(actor=alice, bank_name="Bank", branch_code="250655", account_number="62000000077")
    first = AuditEvent.objects.filter(action="BANK_ACCOUNT_ADDED").latest("id")
    assert first.change_diff["registered_by_another_customer"] is False
    services.bank_account_add(actor=bob, bank_name="Bank", branch_code="250655", account_number="6200-000-0077")
    second = AuditEvent.objects.filter(action="BANK_ACCOUNT_ADDED").latest("id")
    assert second.change_diff["registered_by_another_customer"] is True
    assert "62000000077" not in str(second.change_diff)

"""The demo ledger loader gives the demo customer a verified, funded wallet and is idempotent."""

from __future__ import annotations

import pytest

from ledger.demo import load_demo_ledger
from ledger.models import JournalEntry, KycRecord, LedgerAccount
from ledger.reconciliation import check_ledger

pytestmark = pytest.mark.django_db


def test_load_demo_ledger_twice_moves_money_once(django_user_model):
    customer = django_user_model.objects.create_user(email="customer@demo.fintech.example")
    load_demo_ledger(customer=customer)
    load_demo_ledger(customer=customer)
    assert KycRecord.objects.get(user=customer).status == "verified"
    wallet = LedgerAccount.objects.get(owner=customer)
    assert wallet.balance == 250_000 - 12_500 - 40_000 - 7_550 + 5_000 - 15_000 - 8_000
    assert JournalEntry.objects.filter(entry_type="transfer").count() == 6  # four single, a bulk payment of two
    assert JournalEntry.objects.filter(entry_type="deposit").count() == 2
    assert check_ledger().ok


@pytest.mark.django_db
def test_the_demo_shows_a_flagged_duplicate_identity(django_user_model):
    from ledger.demo import DEMO_DUPLICATE_CUSTOMER_EMAIL

    customer = django_user_model.objects.create_user(email="customer@demo.fintech.example")
    load_demo_ledger(customer=customer)
    load_demo_ledger(customer=customer)
    record = KycRecord.objects.get(user=django_user_model.objects.get_by_email(DEMO_DUPLICATE_CUSTOMER_EMAIL))
    assert record.status == "pending" and record.duplicate_blocks_approval

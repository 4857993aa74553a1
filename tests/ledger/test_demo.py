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
    # The R12,000 refund in and out again (to the wrong recipient: its reversal awaits a second person).
    assert wallet.balance == 250_000 + 1_200_000 - 1_200_000 - 12_500 - 40_000 - 7_550 + 5_000 - 15_000 - 8_000
    # four single, a bulk payment of two, the one to the wrong recipient
    assert JournalEntry.objects.filter(entry_type="transfer").count() == 7
    # Two-phase (ADR 0005): three deposit claims (salary and card top-up settled by signed provider
    # notifications, the bonus still pending) and a withdrawal voided by the bank's failed payout.
    claims = JournalEntry.objects.filter(pending=True)
    ends = sorted(
        (kind, outcome or "pending") for kind, outcome in claims.values_list("entry_type", "resolution__outcome")
    )
    assert ends == [
        ("deposit", "pending"), ("deposit", "posted"), ("deposit", "posted"), ("deposit", "posted"),
        ("withdrawal", "voided"),
    ]  # fmt: skip
    assert (wallet.pending_credits, wallet.pending_debits, wallet.available_balance) == (50_000, 0, wallet.balance)
    assert check_ledger().ok


def test_the_demo_leaves_a_large_reversal_waiting_for_a_second_operations_user(django_user_model):
    from ledger.models import ReversalRequest

    customer = django_user_model.objects.create_user(email="customer@demo.fintech.example")
    load_demo_ledger(customer=customer)
    load_demo_ledger(customer=customer)
    waiting = ReversalRequest.objects.get()
    assert waiting.approved_at is None and waiting.entry.amount == 1_200_000
    assert waiting.entry.entry_type == "transfer" and waiting.reversal is None


@pytest.mark.django_db
def test_the_demo_shows_a_flagged_duplicate_identity(django_user_model):
    from ledger.demo import DEMO_DUPLICATE_CUSTOMER_EMAIL

    customer = django_user_model.objects.create_user(email="customer@demo.fintech.example")
    load_demo_ledger(customer=customer)
    load_demo_ledger(customer=customer)
    record = KycRecord.objects.get(user=django_user_model.objects.get_by_email(DEMO_DUPLICATE_CUSTOMER_EMAIL))
    assert record.status == "pending" and record.duplicate_blocks_approval


def test_the_demo_leaves_a_tier_2_kyc_for_the_demo_operations_user_to_approve(django_user_model):
    from ledger import services
    from ledger.demo import DEMO_AWAITING_CUSTOMER_EMAIL
    from tests.personas import make_staff

    customer = django_user_model.objects.create_user(email="customer@demo.fintech.example")
    operations = make_staff("operations")
    load_demo_ledger(customer=customer, operations=operations)
    load_demo_ledger(customer=customer, operations=operations)
    record = KycRecord.objects.get(user=django_user_model.objects.get_by_email(DEMO_AWAITING_CUSTOMER_EMAIL))
    assert record.awaiting_approval and record.requested_tier == 2
    assert record.approval_requested_by != operations
    # The demo's operations login can give the second approval.
    services.kyc_approve(actor=operations, record=record.public_id, approve=True)
    record.refresh_from_db()
    assert (record.status, record.tier) == ("verified", 2)


def test_the_demo_data_is_encrypted_under_each_customers_own_key(django_user_model):
    # Crypto-shredding (docs/adr/0007): every PI column the demo writes is an s1 token of its owner's key.
    from django.db import connection

    from compliance.crypto.models import SubjectKey

    customer = django_user_model.objects.create_user(email="customer@demo.fintech.example", first_name="Demo")
    load_demo_ledger(customer=customer)
    checked = 0
    with connection.cursor() as cursor:
        for table, columns, owner in (
            ("accounts_user", ("email", "first_name"), "id"),
            ("ledger_kycrecord", ("id_number", "date_of_birth"), "user_id"),
            ("ledger_bankaccount", ("account_number",), "owner_id"),
        ):
            cursor.execute(f'SELECT {owner}, {", ".join(columns)} FROM "{table}"')  # noqa: S608 - our names
            for owner_id, *values in cursor.fetchall():
                key = SubjectKey.objects.get(subject_type="accounts.user", subject_id=str(owner_id))
                assert all(value.startswith(f"s1:{key.pk}:") for value in values if value is not None), table
                checked += 1
    assert checked >= 4

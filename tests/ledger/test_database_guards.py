"""PostgreSQL itself protects the ledger: insert-only journal, balanced entries, no negative wallets."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, IntegrityError, connection, transaction

from ledger.models import JournalEntry, LedgerAccount, Posting
from tests.ledger.conftest import new_key

pytestmark = pytest.mark.django_db


@pytest.fixture
def entry(customer, other_customer):
    from ledger import services

    (alice, a_wallet), (_, b_wallet) = customer, other_customer
    result = services.transfer_create(
        actor=alice, source_account=a_wallet.public_id, destination_account=b_wallet.public_id, amount=100,
        currency="ZAR", idempotency_key=new_key(),
    )  # fmt: skip
    return JournalEntry.objects.get(public_id=result.entry_public_id)


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE ledger_posting SET amount = amount + 1",
        "DELETE FROM ledger_posting",
        "UPDATE ledger_journalentry SET amount = 1",
        "DELETE FROM ledger_journalentry",
        "TRUNCATE ledger_posting CASCADE",
        "TRUNCATE ledger_journalentry CASCADE",
    ],
)
def test_journal_and_postings_are_insert_only(entry, statement):
    before = list(Posting.objects.order_by("pk").values_list("amount", flat=True))
    with connection.cursor() as cursor:
        # The fixture's entry is still inside the test's transaction: run its deferred checks now, or
        # PostgreSQL refuses TRUNCATE for "pending trigger events" before our trigger is reached.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    with pytest.raises(DatabaseError, match="ledger:insert_only"), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(statement)
    assert list(Posting.objects.order_by("pk").values_list("amount", flat=True)) == before
    assert JournalEntry.objects.filter(pk=entry.pk, amount=100).exists()


def test_an_unbalanced_entry_cannot_commit(entry, customer):
    _, a_wallet = customer
    with pytest.raises(DatabaseError, match="ledger:unbalanced_entry"), transaction.atomic():
        Posting.objects.create(entry=entry, account=a_wallet, amount=5, currency="ZAR", balance_after=0)
        with connection.cursor() as cursor:
            # Fire the deferred constraint triggers now instead of at the (test-wrapped) commit.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    assert entry.postings.count() == 2


def test_an_entry_with_a_single_posting_cannot_commit(customer):
    alice, a_wallet = customer
    with pytest.raises(DatabaseError, match="ledger:unbalanced_entry"), transaction.atomic():
        lone = JournalEntry.objects.create(entry_type="deposit", amount=5, currency="ZAR", created_by=alice)
        Posting.objects.create(entry=lone, account=a_wallet, amount=5, currency="ZAR", balance_after=5)
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def test_an_entry_without_postings_cannot_commit(customer):
    """The entries' deferred check: the postings' statement trigger never sees an entry with none."""
    alice, _ = customer
    with (
        pytest.raises(DatabaseError, match=r"ledger:unbalanced_entry: entry \d+ has no postings"),
        transaction.atomic(),
    ):
        JournalEntry.objects.create(entry_type="deposit", amount=5, currency="ZAR", created_by=alice)
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def test_postings_added_later_to_an_entry_are_refused_even_when_they_balance(entry, customer):
    """An entry's postings are written once, in one statement: a balanced pair added afterwards
    would leave the entry summing to zero, and is refused all the same."""
    _, a_wallet = customer
    with pytest.raises(DatabaseError, match="written in one statement"), transaction.atomic():
        Posting.objects.bulk_create(
            [
                Posting(entry=entry, account=a_wallet, amount=5, currency="ZAR", balance_after=0),
                Posting(entry=entry, account=a_wallet, amount=-5, currency="ZAR", balance_after=0),
            ]
        )
    assert entry.postings.count() == 2


def test_a_customer_wallet_can_never_hold_a_negative_balance(customer):
    _, a_wallet = customer
    with pytest.raises(IntegrityError), transaction.atomic():
        LedgerAccount.objects.filter(pk=a_wallet.pk).update(balance=-1)
    a_wallet.refresh_from_db()
    assert a_wallet.balance == 100_000

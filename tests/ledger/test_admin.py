"""The ledger admin is read-only for operations and auditors, and its change lists are cheap."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission

from tests.ledger.conftest import new_key
from tests.personas import otp_admin_login

pytestmark = pytest.mark.django_db

PAGES = ["ledgeraccount", "journalentry", "posting"]


@pytest.fixture
def auditor(django_user_model):
    user = django_user_model.objects.create_user(email="auditor@example.test", is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="ledger", codename__startswith="view_")
    )
    return user


def _transfers(alice, a_wallet, b_wallet, count: int) -> None:
    from ledger import services

    for amount in range(101, 101 + count):
        services.transfer_create(
            actor=alice, source_account=a_wallet.public_id, destination_account=b_wallet.public_id, amount=amount,
            currency="ZAR", idempotency_key=new_key(),
        )  # fmt: skip


@pytest.fixture
def busy_ledger(customer, other_customer):
    (alice, a_wallet), (_, b_wallet) = customer, other_customer
    _transfers(alice, a_wallet, b_wallet, 10)
    return alice, a_wallet, b_wallet


@pytest.mark.parametrize("page", PAGES)
def test_change_lists_are_read_only_and_constant_in_queries(client, auditor, busy_ledger, page):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    otp_admin_login(client, auditor)
    with CaptureQueriesContext(connection) as few:
        assert client.get(f"/admin/ledger/{page}/").status_code == 200
    _transfers(*busy_ledger, 15)
    with CaptureQueriesContext(connection) as many:
        response = client.get(f"/admin/ledger/{page}/")
    assert response.status_code == 200
    # No query per row (list_select_related), no full COUNT; one for the header's role (fintech/landing.py).
    assert len(many) == len(few) <= 13
    content = response.content.decode()
    assert f"/admin/ledger/{page}/add/" not in content
    assert 'value="delete_selected"' not in content


def test_entry_detail_cannot_be_changed_or_deleted(client, auditor, busy_ledger):
    from ledger.models import JournalEntry

    entry = JournalEntry.objects.get(entry_type="transfer", amount=101)
    otp_admin_login(client, auditor)
    assert client.get(f"/admin/ledger/journalentry/{entry.pk}/change/").status_code == 200
    response = client.post(f"/admin/ledger/journalentry/{entry.pk}/change/", {"amount": 1})
    assert response.status_code == 403
    assert client.post(f"/admin/ledger/journalentry/{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    entry.refresh_from_db()
    assert entry.amount == 101 and JournalEntry.objects.filter(pk=entry.pk).exists()

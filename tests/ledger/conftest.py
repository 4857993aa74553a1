"""Ledger fixtures: personas with verified KYC and wallets, funded through the real services."""

from __future__ import annotations

import datetime as dt
import itertools
import time
import uuid

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import roles
from accounts.tokens import token_pair_for
from ledger import services
from ledger.kyc import luhn_check_digit
from ledger.models import LedgerAccount

_sequence = itertools.count(1000)


def sa_id(date_of_birth: dt.date = dt.date(1990, 1, 15), citizenship: str = "0") -> str:
    first_twelve = date_of_birth.strftime("%y%m%d") + f"{next(_sequence) % 10000:04d}" + citizenship + "8"
    return first_twelve + luhn_check_digit(first_twelve)


def verify_kyc(record, *, operations, tier: int = 1):
    """Verify a submission as operations would: tier 2+ is four eyes, so a second operations user
    approves what ``operations`` asked for (ledger/services.py kyc_approve)."""
    from accounts import roles
    from tests.personas import make_staff

    services.kyc_decide(actor=operations, record=record.public_id, verify=True, tier=tier)
    if tier >= services.KYC_FOUR_EYES_TIER:
        services.kyc_approve(actor=make_staff(roles.OPERATIONS), record=record.public_id, approve=True)


def new_key() -> str:
    return f"key-{uuid.uuid4()}"


def post_card_deposit(client, account, card, amount: int):
    """POST /api/v1/deposits/ from a saved card into ``account``, with a fresh Idempotency-Key."""
    return client.post(
        "/api/v1/deposits/",
        {"account": str(account.public_id), "amount": amount, "currency": "ZAR", "method": "card",
         "funding_source": str(card.public_id)},
        format="json", HTTP_IDEMPOTENCY_KEY=new_key(),
    )  # fmt: skip


def settle(result, event: str = "deposit.received", provider: str = "bank") -> None:
    """Settle a pending deposit (or payout) the way the bank does: a signed notification, verified."""
    from ledger.models import JournalEntry
    from ledger.settlement import processors
    from ledger.settlement import services as settlement

    entry = JournalEntry.objects.get(public_id=getattr(result, "entry_public_id", result))
    data = {"reference": str(entry.public_id), "amount": entry.amount, "currency": entry.currency}
    callback = processors.signed_callback(provider, event, data)
    settlement.webhook_receive(provider=callback.provider, body=callback.body, headers=callback.headers)


def fund(user, wallet, amount: int) -> None:
    """Money in through the real services: an EFT deposit (pending), then the bank's settlement.

    Fixture money arrived "before today": it is not held against today's inflow limit (the claim is
    made with limits lifted and the wallet's inflow counter is cleared), so tests of the daily
    limits start from an untouched day whatever balance they asked for.
    """
    from django.test import override_settings

    with override_settings(LEDGER_KYC_DAILY_LIMITS={1: 10**15, 2: 10**15, 3: 10**15}):
        result = services.deposit_create(
            actor=user, account=wallet.public_id, amount=amount, currency="ZAR", channel="eft",
            funding_source="EFT-1", idempotency_key=new_key(),
        )  # fmt: skip
    settle(result)
    LedgerAccount.objects.filter(pk=wallet.pk).update(daily_credit_day=None, daily_credit_total=0)


@pytest.fixture(params=["plpgsql", "orm"])
def engine(request, settings):
    """Run a test on both engine implementations (PL/pgSQL function and ORM statements)."""
    settings.LEDGER_ENGINE = request.param
    return request.param


@pytest.fixture
def operations(db):
    user = get_user_model().objects.create_user(email=f"ops-{uuid.uuid4().hex[:8]}@example.test", is_staff=True)
    user.groups.add(Group.objects.get_or_create(name=roles.OPERATIONS)[0])
    return user


@pytest.fixture
def make_customer(db, operations):
    def make(*, verified: bool = True, tier: int = 1, balance: int = 0) -> tuple:
        user = get_user_model().objects.create_user(email=f"c-{uuid.uuid4().hex[:10]}@example.test")
        if not verified:
            return user, services.wallet_ensure(owner=user)
        record = services.kyc_submit(
            actor=user, id_number=sa_id(), date_of_birth=dt.date(1990, 1, 15), document_reference="DOC-1"
        )
        verify_kyc(record, operations=operations, tier=tier)
        wallet = LedgerAccount.objects.get(owner=user)
        if balance:
            fund(user, wallet, balance)
            wallet.refresh_from_db()
        return user, wallet

    return make


@pytest.fixture
def customer(make_customer):
    return make_customer(balance=100_000)


@pytest.fixture
def other_customer(make_customer):
    return make_customer(balance=50_000)


def api_client(user, *, mfa: bool = True, mfa_at: int | None = None) -> APIClient:
    """A client with a real access token from the accounts token service."""
    if mfa and mfa_at is None:
        mfa_at = int(time.time())
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token_pair_for(user, mfa_at=mfa_at)['access']}")
    return client


def ledger_snapshot() -> dict:
    """Everything that money movement could change, for 'nothing changed' assertions."""
    from ledger.models import JournalEntry, PendingResolution, Posting, WebhookEvent

    return {
        "balances": dict(LedgerAccount.objects.values_list("public_id", "balance")),
        "pending": sorted(LedgerAccount.objects.values_list("public_id", "pending_debits", "pending_credits")),
        "entries": JournalEntry.objects.count(),
        "postings": Posting.objects.count(),
        "resolutions": PendingResolution.objects.count(),
        "webhook_events": WebhookEvent.objects.count(),
    }


def card_expiry(years_ahead: int = 5) -> str:
    """An MM/YY expiry safely in the future, whenever the tests run."""
    return f"12/{(timezone.now().year + years_ahead) % 100:02d}"

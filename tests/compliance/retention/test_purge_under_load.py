"""A purge of many expired rows runs in batches while ledger transfers keep succeeding.

The 100,000-row figure and the transfers' p99 during the purge are in ``make bench``
(bench/bench_retention.py); this test proves the behaviour at a size a test can afford."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.sessions.models import Session
from django.db import connections
from django.db.models import Sum
from django.utils import timezone

from accounts import roles
from compliance.models import RetentionRun
from compliance.retention.engine import retention_purge
from ledger import services
from ledger.kyc import luhn_check_digit
from ledger.models import LedgerAccount
from tests.ledger.conftest import settle, verify_kyc

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.xdist_group("ledger-concurrency")]

ROWS = 6000


def _funded_wallet(operations, number: int) -> tuple:
    user = get_user_model().objects.create_user(email=f"load-{number}@example.test")
    first_twelve = f"900115{number:04d}08"
    record = services.kyc_submit(
        actor=user, id_number=first_twelve + luhn_check_digit(first_twelve),
        date_of_birth=dt.date(1990, 1, 15), document_reference="LOAD",
    )  # fmt: skip
    verify_kyc(record, operations=operations, tier=3)
    wallet = services.wallet_ensure(owner=user)
    claim = services.deposit_create(
        actor=user, account=wallet.public_id, amount=10_000_000, currency="ZAR", channel="eft",
        funding_source="LOAD", idempotency_key=f"load-fund-{number}",
    )  # fmt: skip
    settle(claim)  # a deposit is a claim until the bank's signed notification posts it (ADR 0005)
    return user, str(wallet.public_id)


def test_transfers_keep_succeeding_during_a_batched_purge(settings, transactional_db):
    settings.LEDGER_KYC_DAILY_LIMITS = {1: 10**15, 2: 10**15, 3: 10**15}
    operations = get_user_model().objects.create_user(email="load-ops@example.test", is_staff=True)
    operations.groups.add(Group.objects.get_or_create(name=roles.OPERATIONS)[0])
    wallets = [_funded_wallet(operations, n) for n in range(4)]
    customer_total = LedgerAccount.objects.filter(owner__isnull=False).aggregate(s=Sum("balance"))["s"]
    Session.objects.bulk_create(
        Session(session_key=f"load{n:08d}", session_data="x", expire_date=timezone.now() - timedelta(days=5))
        for n in range(ROWS)
    )

    stop = threading.Event()
    done: list[int] = [0, 0]
    errors: list[BaseException] = []

    def transfers(index: int) -> None:
        try:
            step = index
            while not stop.is_set():
                (user, source), (_, destination) = wallets[step % 4], wallets[(step + 1) % 4]
                services.transfer_create(
                    actor=user, source_account=source, destination_account=destination, amount=1 + step % 50,
                    currency="ZAR", idempotency_key=uuid.uuid4().hex,
                )  # fmt: skip
                done[index] += 1
                step += 2
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=transfers, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    during_purge = []
    try:
        report = retention_purge(
            batch_size=500, pause_seconds=0.005, on_batch=lambda key, rows: during_purge.append(sum(done))
        )
    finally:
        stop.set()
        for thread in threads:
            thread.join()

    assert errors == []
    assert report.counts["session"]["sessions.session"] == ROWS
    assert report.batches == ROWS // 500
    assert not Session.objects.exists()
    assert RetentionRun.objects.get().batches == ROWS // 500
    # Transfers committed while the purge was between its first and last batch.
    assert during_purge[-1] > during_purge[0]
    # Money moved only between customer wallets: their total is unchanged.
    assert LedgerAccount.objects.filter(owner__isnull=False).aggregate(s=Sum("balance"))["s"] == customer_total

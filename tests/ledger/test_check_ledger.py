"""manage.py check_ledger re-derives balances from postings and fails loudly on any mismatch."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from fintech.schedule import BEAT_SCHEDULE
from ledger.models import LedgerAccount
from ledger.tasks import check_ledger_task

pytestmark = pytest.mark.django_db


def test_a_consistent_ledger_passes(customer, other_customer, capsys):
    call_command("check_ledger")
    assert "Ledger OK" in capsys.readouterr().out
    # Two wallets, each funded by one deposit from a settlement shard, settled by the bank: per
    # deposit a pending entry (2 pending postings) and the entry that posted it (2 posted postings).
    expected = {"ok": True, "accounts": LedgerAccount.objects.count(), "postings": 8, "problems": 0}
    assert check_ledger_task() == expected


def test_a_tampered_balance_fails_with_a_non_zero_exit(customer, capsys):
    _, wallet = customer
    LedgerAccount.objects.filter(pk=wallet.pk).update(balance=wallet.balance + 1)
    with pytest.raises(CommandError, match="Ledger check FAILED: 2 problem"):
        call_command("check_ledger")
    err = capsys.readouterr().err
    assert f"account {wallet.public_id}: balance 100001 != sum of postings 100000" in err
    assert check_ledger_task()["ok"] is False


def test_check_ledger_is_scheduled_daily():
    entry = BEAT_SCHEDULE["ledger-check-daily"]
    assert entry["task"] == "ledger.tasks.check_ledger"
    assert entry["schedule"].hour == {2} and entry["schedule"].minute == {30}


def _scrape(client) -> str:
    return client.get("/metrics", REMOTE_ADDR="10.1.2.3").content.decode()


def test_the_last_reconciliation_is_on_the_metrics_for_alerting(customer, client):
    """The check runs in a worker, /metrics is served by the web process: the shared cache carries
    the outcome (deploy/monitoring alerts on it), and nothing about the accounts is exposed."""
    assert "fintech_ledger_reconciliation_ok -1.0" in _scrape(client)  # never run: unknown
    check_ledger_task()
    scraped = _scrape(client)
    assert "fintech_ledger_reconciliation_ok 1.0" in scraped
    assert "fintech_ledger_reconciliation_problems 0.0" in scraped
    _, wallet = customer
    LedgerAccount.objects.filter(pk=wallet.pk).update(balance=wallet.balance + 1)
    with pytest.raises(CommandError):
        call_command("check_ledger")
    scraped = _scrape(client)
    assert "fintech_ledger_reconciliation_ok 0.0" in scraped
    assert "fintech_ledger_reconciliation_problems 2.0" in scraped
    assert str(wallet.public_id) not in scraped

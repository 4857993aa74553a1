"""The purge's throttle is driven by measured impact (issue 19): pauses in proportion to each
batch's own duration, a back-off while batches make other sessions wait on their locks, a wait
while a replica lags; and the lock-waiter count it reads is real."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.contrib.sessions.models import Session
from django.db import connections, transaction
from django.utils import timezone

from compliance.retention import engine


def _throttle(**overrides) -> tuple[engine.Throttle, list[float]]:
    slept: list[float] = []
    values = {"duty_cycle": 0.5, "min_pause": 0.0, "max_pause": 5.0, "max_replica_lag": 1.0, **overrides}
    return engine.Throttle(**values, sleep=slept.append), slept


def test_the_pause_follows_the_batch_duration_and_the_duty_cycle():
    throttle, slept = _throttle()
    assert throttle.after_batch(0.2, blocked=0) == pytest.approx(0.2)  # half the time working
    quarter, _ = _throttle(duty_cycle=0.25)
    assert quarter.after_batch(0.2, blocked=0) == pytest.approx(0.6)
    assert throttle.after_batch(0.01, blocked=0) == pytest.approx(0.01)  # a faster batch, a shorter rest
    assert slept == pytest.approx([0.2, 0.01])
    floor, _ = _throttle(min_pause=0.05)
    assert floor.after_batch(0.001, blocked=0) == pytest.approx(0.05)
    capped, _ = _throttle(max_pause=0.3)
    assert capped.after_batch(10.0, blocked=0) == pytest.approx(0.3)


def test_batches_that_block_others_back_off_and_recover():
    throttle, _ = _throttle()
    pauses = [throttle.after_batch(0.1, blocked=b) for b in (2, 1, 3, 0, 0, 0)]
    assert pauses == pytest.approx([0.2, 0.4, 0.8, 0.4, 0.2, 0.1])
    assert throttle.blocked_batches == 3


def test_it_waits_while_a_replica_lags(monkeypatch):
    lags = iter([5.0, 3.0, 0.5, 9.0])
    monkeypatch.setattr(engine, "_replica_lag_seconds", lambda: next(lags))
    throttle, slept = _throttle()
    assert throttle.before_batch() == pytest.approx(0.2)  # two steps of 0.1 s, then the lag is fine
    assert slept == pytest.approx([0.1, 0.1])
    monkeypatch.setattr(engine, "_replica_lag_seconds", lambda: 60.0)
    capped, _ = _throttle(max_pause=0.35)
    assert capped.before_batch() == pytest.approx(0.35)  # never waits longer than max_pause at once


@pytest.mark.django_db
def test_without_a_replica_the_lag_is_zero():
    assert engine._replica_lag_seconds() == 0


def _sessions_blocked_by_this_one() -> int:
    """The count a batch's checkpoint update returns (``engine._BLOCKED_BY_ME``), read on its own."""
    with connections["default"].cursor() as cursor:
        cursor.execute(engine._BLOCKED_BY_ME)
        return int(cursor.fetchone()[0])


@pytest.mark.django_db(transaction=True)
def test_the_lock_waiters_of_a_batch_are_counted():
    Session.objects.create(session_key="locked-row", session_data="x", expire_date=timezone.now() - timedelta(days=2))
    waiting = threading.Event()

    def wait_for_the_row() -> None:
        try:
            with transaction.atomic():
                waiting.set()
                Session.objects.select_for_update().get(session_key="locked-row")
        finally:
            connections.close_all()

    with transaction.atomic():
        Session.objects.select_for_update().get(session_key="locked-row")
        assert _sessions_blocked_by_this_one() == 0
        other = threading.Thread(target=wait_for_the_row)
        other.start()
        assert waiting.wait(10)
        deadline = timezone.now() + timedelta(seconds=10)
        while _sessions_blocked_by_this_one() == 0 and timezone.now() < deadline:
            threading.Event().wait(0.05)
        assert _sessions_blocked_by_this_one() == 1
    other.join(10)
    assert not other.is_alive()


def test_batches_are_sized_by_their_measured_time():
    throttle, _ = _throttle(max_batch=5000, batch_seconds=0.025, min_batch=500, first_batch=1000)
    assert throttle.batch_size == 1000
    assert throttle.next_batch_size(1000, 0.005) == 2000  # cheap rows: grows, at most twofold
    assert throttle.next_batch_size(2000, 0.020) == 2500  # 2,000 rows in 20 ms: 2,500 in 25 ms
    assert throttle.next_batch_size(2500, 0.250) == 1250  # a loaded database: shrinks, at most by half
    assert throttle.next_batch_size(1250, 1.0) == 625
    assert throttle.next_batch_size(625, 1.0) == 500  # never below min_batch
    assert throttle.next_batch_size(300, 0.001) == 500  # a short (last) batch says nothing
    fast, _ = _throttle(max_batch=5000, batch_seconds=0.025, first_batch=4000)
    assert fast.next_batch_size(4000, 0.001) == 5000  # never above max_batch
    small, _ = _throttle(max_batch=200, batch_seconds=0.025, min_batch=500)
    assert small.next_batch_size(200, 1.0) == 200  # a max_batch under min_batch wins
    fixed, _ = _throttle(max_batch=3)  # no time target: every batch is max_batch
    assert (fixed.batch_size, fixed.next_batch_size(3, 10.0)) == (3, 3)


def test_the_replica_lag_is_read_at_most_once_per_interval(monkeypatch):
    reads = []
    monkeypatch.setattr(engine, "_replica_lag_seconds", lambda: reads.append(1) or 0.0)
    throttle, _ = _throttle(lag_interval=60.0)
    for _ in range(5):
        throttle.before_batch()
    assert len(reads) == 1
    every_batch, _ = _throttle()
    for _ in range(3):
        every_batch.before_batch()
    assert len(reads) == 1 + 3


@pytest.mark.django_db(transaction=True)
def test_a_batch_commits_without_waiting_for_its_wal_and_the_audit_record_does(monkeypatch):
    # The batch's own setting (SET LOCAL, through set_config) ends with it: the run's audit record commits durably.
    Session.objects.create(session_key="expired-row", session_data="x", expire_date=timezone.now() - timedelta(days=2))
    seen = []

    def setting() -> str:
        with connections["default"].cursor() as cursor:
            cursor.execute("SHOW synchronous_commit")
            return cursor.fetchone()[0]

    delete_locked_batch = engine._delete_locked_batch

    def batch_and_setting(*args):
        seen.append(("batch", setting()))
        return delete_locked_batch(*args)

    audit_record = engine.audit_record

    def audit_and_setting(**kwargs):
        seen.append(("audit record", setting()))
        return audit_record(**kwargs)

    monkeypatch.setattr(engine, "_delete_locked_batch", batch_and_setting)
    monkeypatch.setattr(engine, "audit_record", audit_and_setting)
    report = engine.retention_purge(pause_seconds=0)
    assert report.per_policy()["session"] == 1
    # Every target's first batch (the others find nothing) inside the batch setting, then the record.
    assert seen[-1] == ("audit record", "on")
    assert len(seen) > 1
    assert set(seen[:-1]) == {("batch", "off")}

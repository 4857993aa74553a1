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
        assert engine._sessions_blocked_by_this_one() == 0
        other = threading.Thread(target=wait_for_the_row)
        other.start()
        assert waiting.wait(10)
        deadline = timezone.now() + timedelta(seconds=10)
        while engine._sessions_blocked_by_this_one() == 0 and timezone.now() < deadline:
            threading.Event().wait(0.05)
        assert engine._sessions_blocked_by_this_one() == 1
    other.join(10)
    assert not other.is_alive()

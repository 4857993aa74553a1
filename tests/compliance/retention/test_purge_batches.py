"""A target's batch after the first is one statement compiled once per purge (issue 19: building
the ORM query was most of a small batch's cost). It must select exactly what the ORM query would:
a hold placed while the purge runs keeps its rows from the next batch on, each key type works, and
a query the compiler cannot parametrise is built per batch instead, with the same result."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.contrib.sessions.models import Session
from django.utils import timezone

from compliance.retention import engine
from compliance.retention.models import HoldKind, LegalHold

pytestmark = pytest.mark.django_db


def _expired_sessions(count: int) -> list[str]:
    keys = [f"batch{n:04d}" for n in range(count)]
    expired = timezone.now() - timedelta(days=2)
    Session.objects.bulk_create(Session(session_key=k, session_data="x", expire_date=expired) for k in keys)
    return keys


def _hold(key: str) -> None:
    LegalHold.objects.create(
        kind=HoldKind.RETENTION_DUTY, model_label="sessions.session", object_id=key, reason="must stay",
        hold_until=timezone.now() + timedelta(days=30),
    )  # fmt: skip


def test_a_hold_placed_during_the_run_keeps_its_row_from_the_next_batch_on():
    keys = _expired_sessions(12)
    held_early, held_late = keys[1], keys[10]
    _hold(held_early)
    placed = []

    def after_batch(target: str, rows: int) -> None:
        if target == "sessions.session" and not placed:
            _hold(held_late)  # after the first batch: the compiled statement must see it
            placed.append(rows)

    report = engine.retention_purge(batch_size=3, pause_seconds=0, on_batch=after_batch)
    assert placed == [3]
    assert set(Session.objects.values_list("session_key", flat=True)) == {held_early, held_late}
    assert report.counts["session"]["sessions.session"] == 10
    assert report.batches >= 4


def test_the_checkpoint_and_the_limit_become_parameters_for_each_key_type():
    for model, sample in ((Session, "batch0001"), (AccessAttempt, 41)):
        target = next(t for t in engine.retention_targets() if t.model is model)
        policy = engine._policies()[target.policy]
        eligible = engine.eligible_rows(target, policy, timezone.now()).order_by("pk")
        plan = engine._deletion_plan(target, eligible, sample)
        assert plan is not None, target.key
        assert plan.params[plan.checkpoint_at] == sample
        assert plan.params[plan.limit_at] == engine._LIMIT_SENTINEL
        assert "LIMIT %s" in plan.statement
    assert engine._another_pk(uuid.UUID(int=5)) == uuid.UUID(int=6)


def test_a_batch_that_cannot_be_parametrised_is_built_per_batch_with_the_same_result(monkeypatch):
    keys = _expired_sessions(7)
    _hold(keys[3])
    built = []
    deletion_plan = engine._deletion_plan

    def spy(*args):
        plan = deletion_plan(*args)
        built.append(plan)
        return plan

    monkeypatch.setattr(engine, "_deletion_plan", spy)
    monkeypatch.setattr(engine, "_deletion_statement", _without_limit(engine._deletion_statement))
    report = engine.retention_purge(batch_size=3, pause_seconds=0)
    assert built and all(plan is None for plan in built)
    assert list(Session.objects.values_list("session_key", flat=True)) == [keys[3]]
    assert report.counts["session"]["sessions.session"] == 6


def _without_limit(compile_statement):
    """The compiled statement with its LIMIT written differently, as a future Django might."""

    def compiled(target, lockable, limit):
        statement, params = compile_statement(target, lockable, limit)
        return statement.replace(f"LIMIT {limit}", f"FETCH FIRST {limit} ROWS ONLY"), params

    return compiled

"""Retention purges (SPEC C8): rows past their retention end are deleted or de-identified.

Apps register what may be purged (``register_retention_target``) from their ``AppConfig.ready()``;
compliance never imports them. Each target names a retention policy (``RetentionPolicy`` rows,
admin-editable), the date that starts the clock, and optionally the path to the data subject.

Why this is safe to run on a live system:
- Nothing under a legal hold in force is touched: a litigation or regulator hold, or a
  retention-duty hold whose end date has not passed, on the row itself (``LegalHold`` names rows by
  model label and primary key) or, for a target with a subject, a litigation or regulator hold on
  that subject.
- A target whose policy has no row is an error, never a silent skip: the run goes on with the
  other targets, reports it in ``PurgeReport.errors`` and in the run's audit record, and logs it
  at error level (``manage.py purge_retention`` then exits non-zero; the system check
  ``compliance.E111`` catches it before any run).
- Nothing belonging to a subject with an open data-subject request is touched: the request may
  need it (an access export, a correction) and the purge must not pre-empt the officer.
- Every batch is its own short transaction: it selects at most ``batch_size`` eligible rows in
  primary-key order with ``FOR UPDATE SKIP LOCKED`` (a row a business transaction holds is skipped
  and picked up by the next run, so the purge never waits on, or deadlocks with, a transfer),
  deletes or de-identifies them and moves the run's checkpoint in the same transaction. A crash
  or a time limit loses at most the batch in flight, which rolls back whole.
- Restartable with the same result: an unfinished run is resumed, not restarted. Its cut-offs are
  computed from the run's ``as_of`` instant and it continues after the last committed primary key,
  so the resumed run ends in the state one uninterrupted run would have reached. The selection is
  idempotent too: a purged row no longer matches (deleted, or excluded by the target's queryset
  once de-identified), so a second run purges nothing more.
- Set-based and bounded: a batch is one locking SELECT of at most ``RETENTION_PURGE_BATCH_SIZE``
  primary keys, walked in primary-key order from the checkpoint (the primary key's index), and one
  DELETE (or the target's de-identifying UPDATE) of exactly those rows; a plain deletion is one
  statement, compiled once per target and run (``_DeletionPlan``), and the run row is read and
  advanced by one statement each, so a batch's fixed cost is four round trips and little Python
  (0.95 ms of client CPU, against 5.6 ms when each batch built its ORM query). Batches are sized by time:
  each is meant to work about ``RETENTION_PURGE_BATCH_MS`` (the next size follows the last batch's
  measured cost per row, at least 500 rows), so a burst of the purge's CPU and WAL stays short
  whatever the load. A batch commits with ``synchronous_commit = off`` (``_purge_next_batch``
  says why that loses nothing); the run's audit record commits durably.
- Throttled by measured impact, not a fixed sleep (``Throttle``): the purge works at most
  ``RETENTION_PURGE_DUTY_CYCLE`` of the time, pausing in proportion to how long its last batch
  took (a busy or contended database makes batches slower, so the pauses grow with the load);
  it backs off further while its batches make other sessions wait on their locks (counted with
  ``pg_blocking_pids`` just before each commit), and before each batch it waits while a streaming
  replica's replay lag (``pg_stat_replication``, read at most twice a second) exceeds
  ``RETENTION_PURGE_MAX_REPLICA_LAG_SECONDS``.
  Every pause lies between ``RETENTION_PURGE_PAUSE_SECONDS`` and ``RETENTION_PURGE_MAX_PAUSE_SECONDS``.
- Insert-only records (journal entries, postings, the audit trail) are never deleted by age here:
  a deletion request has already pseudonymised them and placed a retention-duty hold. When the
  hold's end passes, the ``legal_hold_expiry`` target completes (releases) the hold: the records
  stay, holding no personal information, as the double-entry and hash-chain invariants require.
- Each completed run writes exactly one RETENTION_PURGE audit record with counts per policy and
  per target, never row contents or identifiers of people. A dry run writes nothing.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, connection, models, transaction
from django.db.models import CharField, Exists, Expression, OuterRef
from django.db.models.deletion import Collector
from django.db.models.functions import Cast
from django.utils import timezone

from compliance.audit.services import ActorType, AuditAction, audit_record
from compliance.retention.models import HoldKind, LegalHold, RetentionAction, RetentionPolicy, RetentionRun
from kernel.types import Actor

logger = logging.getLogger(__name__)

OnBatch = Callable[[str, int], None]


class RetentionError(Exception):
    pass


@dataclass(frozen=True)
class RetentionTarget:
    key: str
    model: type[models.Model]
    policy: str
    date_field: str
    subject_path: str | None
    action: str
    queryset: Callable[[], models.QuerySet] | None
    anonymise: Callable[[models.QuerySet], Any] | None

    @property
    def label(self) -> str:
        return self.model._meta.label_lower

    def base_queryset(self) -> models.QuerySet:
        return self.queryset() if self.queryset is not None else self.model._base_manager.all()


_TARGETS: dict[str, RetentionTarget] = {}
# Subjects whose rows no purge may touch for now, by name: e.g. those with an open data-subject
# request (registered by compliance.dsar). Each returns a queryset of user ids.
_SUBJECT_EXCLUSIONS: dict[str, Callable[[], models.QuerySet]] = {}


def register_subject_exclusion(name: str, subjects: Callable[[], models.QuerySet]) -> None:
    """Keep every purge away from the rows of the subjects ``subjects()`` returns (ids)."""
    _SUBJECT_EXCLUSIONS[name] = subjects


def register_retention_target(
    model: type[models.Model],
    *,
    policy: str,
    date_field: str,
    subject_path: str | None = None,
    action: str = RetentionAction.DELETE,
    queryset: Callable[[], models.QuerySet] | None = None,
    anonymise: Callable[[models.QuerySet], Any] | None = None,
    name: str = "",
) -> RetentionTarget:
    """Declare rows of ``model`` purgeable under ``policy`` once ``date_field`` + period has passed.

    ``queryset`` narrows the candidates (e.g. only deactivated users' devices) and must exclude rows
    already de-identified, so selection stays idempotent. ``anonymise`` receives a queryset of one
    locked batch and de-identifies it; it is required for ``action="anonymise"`` and lets a policy
    set to anonymise de-identify instead of delete. ``name`` distinguishes two targets on one model.
    """
    if action not in RetentionAction.values:
        raise RetentionError(f"Unknown retention action {action!r}.")
    if action == RetentionAction.ANONYMISE and anonymise is None:
        raise RetentionError("An anonymising target needs an anonymise callable.")
    key = model._meta.label_lower + (f":{name}" if name else "")
    target = RetentionTarget(key, model, policy, date_field, subject_path, action, queryset, anonymise)
    _TARGETS[key] = target
    return target


def retention_targets() -> list[RetentionTarget]:
    return [_TARGETS[key] for key in sorted(_TARGETS)]


def _effective_action(target: RetentionTarget, policy: RetentionPolicy) -> str:
    # A target that must be de-identified (its rows cannot go) is never deleted; a policy set to
    # anonymise de-identifies wherever the target knows how.
    if target.action == RetentionAction.ANONYMISE:
        return RetentionAction.ANONYMISE
    if policy.action == RetentionAction.ANONYMISE and target.anonymise is not None:
        return RetentionAction.ANONYMISE
    return RetentionAction.DELETE


def eligible_rows(target: RetentionTarget, policy: RetentionPolicy, as_of: datetime) -> models.QuerySet:
    """Rows of ``target`` past retention at ``as_of``, minus held rows and open-DSAR subjects."""
    assert policy.period is not None  # noqa: S101 - callers skip policies without a period
    queryset = target.base_queryset().filter(**{f"{target.date_field}__lt": as_of - policy.period})
    in_force = LegalHold.objects.in_force(as_of)
    row_held = in_force.filter(model_label=target.label, object_id=Cast(OuterRef("pk"), output_field=CharField()))
    queryset = queryset.filter(~Exists(row_held))
    if target.subject_path:
        user_label = get_user_model()._meta.label_lower
        subjects_on_hold = in_force.on_subjects().values("subject_id")
        subject_rows_held = in_force.filter(model_label=user_label).values("object_id")
        for subjects in _SUBJECT_EXCLUSIONS.values():
            queryset = queryset.exclude(**{f"{target.subject_path}__in": subjects()})
        queryset = queryset.exclude(**{f"{target.subject_path}__in": subjects_on_hold})
        queryset = queryset.annotate(_subject_text=Cast(target.subject_path, output_field=CharField())).exclude(
            _subject_text__in=subject_rows_held
        )
    return queryset


@dataclass
class PurgeReport:
    dry_run: bool
    as_of: datetime
    # {"policy": {"target": rows}}: rows purged, or for a dry run rows that would be.
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)  # target key -> why (disabled, no period)
    errors: dict[str, str] = field(default_factory=dict)  # target key -> what is wrong (no policy row)
    batches: int = 0
    run_public_id: str = ""
    paused_seconds: float = 0.0  # the throttle's pauses in this call
    blocked_batches: int = 0  # batches that made another session wait on their locks

    def per_policy(self) -> dict[str, int]:
        return {policy: sum(targets.values()) for policy, targets in sorted(self.counts.items())}

    @property
    def total(self) -> int:
        return sum(self.per_policy().values())


def _policies() -> dict[str, RetentionPolicy]:
    return {policy.code: policy for policy in RetentionPolicy.objects.all()}


def _missing_policy(target: RetentionTarget) -> str:
    return f"policy {target.policy!r} has no row: its rows are not purged until it is seeded"


def _skip_reason(target: RetentionTarget, policy: RetentionPolicy) -> str:
    if not policy.enabled:
        return "policy disabled"
    if policy.period is None:
        return "policy has no period (kept while its trigger lasts)"
    return ""


def _pk_value(target: RetentionTarget, text: str) -> Any:
    return target.model._meta.pk.to_python(text)


# --- The throttle: measured impact of the purge on everyone else ---------------------------------
# Two catalog reads, no ORM model exists for them; neither takes input.
# pg_locks is read live (pg_stat_activity would be a snapshot fixed for the whole transaction).
_BLOCKED_BY_ME = (
    "SELECT count(DISTINCT pid) FROM pg_locks WHERE NOT granted AND pg_backend_pid() = ANY(pg_blocking_pids(pid))"
)
_REPLICA_LAG = "SELECT coalesce(extract(epoch FROM max(replay_lag)), 0) FROM pg_stat_replication"


def _replica_lag_seconds() -> float:
    """The largest replay lag among streaming replicas (0 without replicas, or when the role may not
    read the lag: pg_monitor lets it)."""
    with connection.cursor() as cursor:
        cursor.execute(_REPLICA_LAG)  # nosemgrep: no-raw-sql -- catalog read (pg_stat_replication), no input
        return float(cursor.fetchone()[0] or 0)


@dataclass
class Throttle:
    """Paces the batches by what they cost the rest of the system.

    After a batch that took ``seconds`` the purge pauses ``seconds * (1 - duty_cycle) / duty_cycle``
    (at a duty cycle of 0.5 it rests as long as it worked), times a back-off factor that doubles
    after each batch that made another session wait on its locks and halves back towards 1 after
    each batch that did not. Before a batch it waits while a replica lags more than ``max_replica_lag``.
    """

    duty_cycle: float
    min_pause: float
    max_pause: float
    max_replica_lag: float
    # Batches sized by time: each works about ``batch_seconds`` (0: every batch is ``max_batch``),
    # between ``min_batch`` and ``max_batch`` rows, changing at most twofold from one to the next.
    max_batch: int = 5000
    batch_seconds: float = 0.0
    min_batch: int = 500
    batch_size: int = 0  # the next batch's size (starts at min(max_batch, first_batch))
    first_batch: int = 500
    lag_interval: float = 0.0
    lag_checked: float = float("-inf")
    backoff: float = 1.0
    blocked_batches: int = 0
    paused: float = 0.0
    sleep: Callable[[float], None] = time.sleep

    def after_batch(self, seconds: float, blocked: int) -> float:
        if blocked:
            self.blocked_batches += 1
            self.backoff = min(self.backoff * 2, 64.0)
        else:
            self.backoff = max(1.0, self.backoff / 2)
        work_share = min(max(self.duty_cycle, 0.01), 1.0)
        pause = seconds * (1 - work_share) / work_share * self.backoff
        pause = min(max(pause, self.min_pause), self.max_pause)
        if pause > 0:
            self.sleep(pause)
            self.paused += pause
        return pause

    def __post_init__(self) -> None:
        if not self.batch_size:
            self.batch_size = min(self.max_batch, self.first_batch) if self.batch_seconds else self.max_batch

    def next_batch_size(self, rows: int, seconds: float) -> int:
        """After a batch of ``rows`` that took ``seconds``: the size that would take ``batch_seconds``
        at the same cost per row (a loaded or contended database makes rows dearer, so batches
        shrink with the load), at most double or half the last, within [min_batch, max_batch]."""
        if self.batch_seconds and rows >= self.batch_size and seconds > 0:
            wanted = int(rows * self.batch_seconds / seconds)
            least = min(self.min_batch, self.max_batch)
            self.batch_size = max(least, min(self.max_batch, rows * 2, max(rows // 2, wanted)))
        return self.batch_size

    def before_batch(self) -> float:
        """Wait (in steps, at most ``max_pause`` in all) while a replica lags too far behind. The lag
        is read at most every ``lag_interval`` seconds while it is within its limit (it moves on
        that scale, and each read is a round trip in every batch)."""
        if time.monotonic() < self.lag_checked + self.lag_interval:
            return 0.0
        waited = 0.0
        while waited < self.max_pause and _replica_lag_seconds() > self.max_replica_lag:
            step = min(0.1, self.max_pause - waited)
            self.sleep(step)
            waited += step
        self.lag_checked = time.monotonic()
        self.paused += waited
        return waited


class _RowLocation(Expression):
    """A row's physical location (PostgreSQL's ``ctid``): the batch's DELETE finds the rows its
    SELECT locked by location (a TID scan) instead of probing the primary key's index again."""

    output_field = CharField()

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        return f"{compiler.quote_name_unless_alias(compiler.query.get_initial_alias())}.ctid", []


@dataclass
class _DeletionPlan:
    """One target's batch deletion, compiled once per purge call (issue 19: building and compiling
    the ORM query was most of a small batch's cost).

    ``_delete_locked_batch``'s statement, with the batch size and the checkpoint as parameters
    (``limit_at``, ``checkpoint_at``: their positions in ``params``). Everything else in the
    selection is SQL evaluated at each execution (holds in force, open requests), so a hold placed
    while the purge runs still keeps its rows from the next batch on; only the run's ``as_of``
    instant is fixed, as it is for the whole run anyway.
    """

    statement: str
    params: list[Any]
    checkpoint_at: int
    limit_at: int

    def delete_next(self, checkpoint: Any, batch_size: int) -> tuple[int, Any]:
        params = list(self.params)
        params[self.checkpoint_at], params[self.limit_at] = checkpoint, batch_size
        return _run_deletion(self.statement, params)


_LIMIT_SENTINEL = 987_654_321  # a LIMIT no batch uses: found in the compiled SQL and made a parameter


def _deletion_statement(target: RetentionTarget, lockable: models.QuerySet, limit: int) -> tuple[str, list[Any]]:
    """Lock up to ``limit`` eligible rows (``lockable``: the ORM's query, in primary-key order,
    ``FOR UPDATE SKIP LOCKED``), delete exactly those, and answer how many and the last primary
    key: one statement, no primary key travels to Python."""
    batch = lockable.annotate(_at=_RowLocation()).values_list("_at", "pk")[:limit]
    select, params = batch.query.sql_with_params()
    table = connection.ops.quote_name(target.model._meta.db_table)
    pk = connection.ops.quote_name(target.model._meta.pk.column)
    # The ORM compiled every condition of the batch with its parameters; only quoted names are added.
    deleting = f"DELETE FROM {table} WHERE ctid = ANY(ARRAY(SELECT _at FROM batch)) RETURNING {pk} AS pk"  # noqa: S608
    statement = f"WITH batch AS ({select}), gone AS ({deleting}) SELECT count(*), max(pk) FROM gone"  # noqa: S608
    return statement, list(params)


def _delete_locked_batch(target: RetentionTarget, lockable: models.QuerySet, batch_size: int) -> tuple[int, Any]:
    """``_deletion_statement`` run once (the first batch of a target: no checkpoint yet). Only for
    models Django deletes without its collector (no cascades, no delete signals), so it deletes
    what ``QuerySet.delete()`` would."""
    return _run_deletion(*_deletion_statement(target, lockable, batch_size))


def _run_deletion(statement: str, params: list[Any]) -> tuple[int, Any]:
    """Run a ``_deletion_statement``: how many rows went, and the last primary key."""
    with connection.cursor() as cursor:
        cursor.execute(statement, params)  # nosemgrep: no-raw-sql -- the ORM's batch query, deleted by ctid
        count, last = cursor.fetchone()
    return int(count), last


def _another_pk(sample: Any) -> Any:
    """A primary-key value of the same type as ``sample`` and different from it."""
    if isinstance(sample, uuid.UUID):
        return uuid.UUID(int=(sample.int + 1) % 2**128)
    if isinstance(sample, str):
        return f"{sample}0"
    return sample + 1


def _deletion_plan(target: RetentionTarget, eligible: models.QuerySet, sample_pk: Any) -> _DeletionPlan | None:
    """Compile the batch after a checkpoint twice, with two different checkpoint values, and take
    the one parameter that differs as the checkpoint's place; the LIMIT, which the ORM writes into
    the SQL, becomes the last parameter (nothing after it in the locking SELECT takes one). None
    (logged) when the compiled query does not have that shape: the target's batches are then
    built by the ORM each time, as the first one was (slower, the same rows)."""

    def compiled(checkpoint: Any) -> tuple[str, list[Any]]:
        lockable = eligible.filter(pk__gt=checkpoint).select_for_update(skip_locked=True, of=("self",))
        return _deletion_statement(target, lockable, _LIMIT_SENTINEL)

    (statement, params), (twin, twin_params) = compiled(sample_pk), compiled(_another_pk(sample_pk))
    limit = f"LIMIT {_LIMIT_SENTINEL}"
    differing = [i for i, (a, b) in enumerate(zip(params, twin_params)) if a != b]  # noqa: B905 - lengths checked
    shaped = (
        statement == twin
        and len(params) == len(twin_params)
        and len(differing) == 1
        and statement.count(limit) == 1
        and "%s" not in statement[statement.index(limit) :]
    ) if limit in statement else False  # fmt: skip
    if not shaped:
        logger.warning("retention batch not parametrised; built per batch", extra={"target": target.key})
        return None
    return _DeletionPlan(
        statement=statement.replace(limit, "LIMIT %s"),
        params=[*params, _LIMIT_SENTINEL],
        checkpoint_at=differing[0],
        limit_at=len(params),
    )


def _fast_deletable(model: type[models.Model]) -> bool:
    return Collector(using=connection.alias).can_fast_delete(model._base_manager.all())


# The run row, read locked and written back by one statement each (a batch's fixed cost, paid per
# batch: issue 19). Reading also turns off the wait for the batch's WAL (``_purge_next_batch``).
_RUN_TABLE = RetentionRun._meta.db_table
_RUN_LOCK = (
    "SELECT set_config('synchronous_commit', 'off', true), state, targets_done, checkpoint, counts "  # noqa: S608
    f"FROM {_RUN_TABLE} WHERE id = %s FOR UPDATE"
)
_RUN_ADVANCE = (
    f"UPDATE {_RUN_TABLE} SET checkpoint = %s::jsonb, counts = %s::jsonb, targets_done = %s::jsonb, "  # noqa: S608
    "batches = batches + %s, updated_at = %s WHERE id = %s "
    f"RETURNING ({_BLOCKED_BY_ME})"
)


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, (str, bytes)) else value


def _purge_next_batch(
    *,
    run_pk: int,
    target: RetentionTarget,
    policy: RetentionPolicy,
    as_of: datetime,
    batch_size: int,
    plans: dict[str, _DeletionPlan],
) -> tuple[int, int]:
    """Lock, purge and checkpoint the next batch of ``target`` in one short transaction; answers
    how many rows went and how many other sessions were waiting on the batch's locks just before
    it committed.

    The batch is at most ``batch_size`` eligible rows after the checkpoint in primary-key order
    (the primary key's index), locked ``SKIP LOCKED``. A plain deletion is one statement
    (``_DeletionPlan``, compiled once per target into ``plans``): no primary key travels to Python.
    A model with cascades or delete signals goes through Django's collector, and a de-identifying
    target gets exactly the locked rows.
    """
    with transaction.atomic(), connection.cursor() as cursor:
        # The batch's commit does not wait for its WAL to reach the disk (``set_config(...,
        # true)`` is ``SET LOCAL``). Losing it in a crash is harmless: the deletion and the run's
        # checkpoint are in this one transaction, so both are lost together and the resumed run
        # simply purges those rows again. Waiting would put a flush of the batch's whole WAL (a
        # lock and a deletion record per row) in front of every transfer committing at that
        # moment. Whatever commits durably later (the next transfer, the run's audit record in
        # ``_complete``) flushes this WAL first: the audit record never counts a batch that could be lost.
        # The run row is locked for the batch: a second worker resuming the same run waits here
        # instead of overwriting the checkpoint and counts.
        cursor.execute(_RUN_LOCK, [run_pk])  # nosemgrep: no-raw-sql -- the run row by id, locked
        _, state, targets_done, checkpoint, counts = cursor.fetchone()
        targets_done, checkpoint, counts = _json(targets_done), _json(checkpoint), _json(counts)
        if state != RetentionRun.State.RUNNING or target.key in targets_done:
            return 0, 0
        last = checkpoint.get(target.key)
        anonymise = _effective_action(target, policy) == RetentionAction.ANONYMISE
        if not anonymise and last is not None and target.key in plans:
            purged, last = plans[target.key].delete_next(_pk_value(target, last), batch_size)
        else:
            eligible = eligible_rows(target, policy, as_of).order_by("pk")
            queryset = eligible if last is None else eligible.filter(pk__gt=_pk_value(target, last))
            lockable = queryset.select_for_update(skip_locked=True, of=("self",))
            if not anonymise and _fast_deletable(target.model):
                purged, last = _delete_locked_batch(target, lockable, batch_size)
                plan = _deletion_plan(target, eligible, last) if purged else None
                if plan is not None:
                    plans[target.key] = plan
            else:
                pks = list(lockable.values_list("pk", flat=True)[:batch_size])
                purged, last = len(pks), (pks[-1] if pks else None)
                if pks:
                    batch = target.model._base_manager.filter(pk__in=pks)
                    if anonymise:
                        target.anonymise(batch)  # type: ignore[misc]
                    else:
                        batch.delete()
        if purged:
            checkpoint[target.key] = str(last)
            per_target = counts.setdefault(target.policy, {})
            per_target[target.key] = per_target.get(target.key, 0) + purged
        else:
            targets_done.append(target.key)
        cursor.execute(  # nosemgrep: no-raw-sql -- the run row by id; values as parameters
            _RUN_ADVANCE,
            [
                *(json.dumps(value) for value in (checkpoint, counts, targets_done)),
                1 if purged else 0,
                timezone.now(),
                run_pk,
            ],
        )
        blocked = int(cursor.fetchone()[0]) if purged else 0
    return purged, blocked


def _start_or_resume(now: datetime) -> RetentionRun:
    unfinished = RetentionRun.objects.filter(state=RetentionRun.State.RUNNING).first()
    if unfinished is not None:
        return unfinished
    try:
        with transaction.atomic():
            return RetentionRun.objects.create(as_of=now)
    except IntegrityError:
        # Another worker created the run a moment ago: join it (batches serialise on its row).
        return RetentionRun.objects.get(state=RetentionRun.State.RUNNING)


def _complete(*, actor: Actor | None, run_pk: int, report: PurgeReport) -> RetentionRun:
    with transaction.atomic():
        run = RetentionRun.objects.select_for_update().get(pk=run_pk)
        if run.state == RetentionRun.State.COMPLETED:
            return run
        run.state = RetentionRun.State.COMPLETED
        run.finished_at = timezone.now()
        run.save(update_fields=["state", "finished_at", "updated_at"])
        ran = [t for t in retention_targets() if t.key not in report.skipped and t.key not in report.errors]
        RetentionPolicy.objects.filter(code__in={t.policy for t in ran}).update(last_run_at=run.finished_at)
        # Every target that ran is reported, with 0 when it found nothing.
        for target in ran:
            run.counts.setdefault(target.policy, {}).setdefault(target.key, 0)
        run.save(update_fields=["counts"])
        audit_record(
            action=AuditAction.RETENTION_PURGE,
            actor=actor,
            actor_type=None if actor is not None else ActorType.SYSTEM,
            object_type="retention_run",
            object_id=str(run.public_id),
            change_diff={
                "as_of": run.as_of.isoformat(),
                "batches": run.batches,
                "total": run.total,
                "per_policy": {code: sum(targets.values()) for code, targets in sorted(run.counts.items())},
                "per_target": {key: n for targets in run.counts.values() for key, n in sorted(targets.items())},
                "skipped": dict(sorted(report.skipped.items())),
                "errors": dict(sorted(report.errors.items())),
            },
        )
    return run


def retention_purge(
    *,
    actor: Actor | None = None,
    dry_run: bool = False,
    batch_size: int | None = None,
    batch_ms: float | None = None,
    pause_seconds: float | None = None,
    duty_cycle: float | None = None,
    now: datetime | None = None,
    on_batch: OnBatch | None = None,
) -> PurgeReport:
    """Purge every registered target past its policy's period; resumes an unfinished run.

    ``on_batch(target_key, rows)`` is called after each committed batch (progress reporting). A
    dry run counts what would be purged now and changes nothing. ``pause_seconds`` is the least
    pause between batches and ``duty_cycle`` the share of time the purge may work (``Throttle``).
    Batches are sized by time (``batch_ms`` of work each, ``RETENTION_PURGE_BATCH_MS``) up to
    ``batch_size`` rows (``RETENTION_PURGE_BATCH_SIZE``); a ``batch_size`` given without a
    ``batch_ms`` fixes every batch at that size.
    """
    if batch_ms is None:
        batch_ms = 0 if batch_size else settings.RETENTION_PURGE_BATCH_MS
    throttle = Throttle(
        max_batch=batch_size or settings.RETENTION_PURGE_BATCH_SIZE,
        lag_interval=0.5,
        batch_seconds=batch_ms / 1000,
        duty_cycle=settings.RETENTION_PURGE_DUTY_CYCLE if duty_cycle is None else duty_cycle,
        min_pause=settings.RETENTION_PURGE_PAUSE_SECONDS if pause_seconds is None else pause_seconds,
        max_pause=settings.RETENTION_PURGE_MAX_PAUSE_SECONDS,
        max_replica_lag=settings.RETENTION_PURGE_MAX_REPLICA_LAG_SECONDS,
    )
    policies = _policies()
    if dry_run:
        as_of = now or timezone.now()
        report = PurgeReport(dry_run=True, as_of=as_of)
        for target in retention_targets():
            policy = policies.get(target.policy)
            if policy is None:
                report.errors[target.key] = _missing_policy(target)
                continue
            reason = _skip_reason(target, policy)
            if reason:
                report.skipped[target.key] = reason
                continue
            count = eligible_rows(target, policy, as_of).count()
            report.counts.setdefault(target.policy, {})[target.key] = count
        return report

    run = _start_or_resume(now or timezone.now())
    report = PurgeReport(dry_run=False, as_of=run.as_of, run_public_id=str(run.public_id))
    plans: dict[str, _DeletionPlan] = {}
    for target in retention_targets():
        policy = policies.get(target.policy)
        if policy is None:
            report.errors[target.key] = _missing_policy(target)
            logger.error("retention target without a policy row", extra={"target": target.key, "policy": target.policy})
            continue
        reason = _skip_reason(target, policy)
        if reason:
            report.skipped[target.key] = reason
            continue
        while True:
            throttle.before_batch()
            started = time.perf_counter()
            size = throttle.batch_size
            purged, blocked = _purge_next_batch(
                run_pk=run.pk, target=target, policy=policy, as_of=run.as_of, batch_size=size, plans=plans
            )
            worked = time.perf_counter() - started  # the batch alone: the caller's on_batch is not its cost
            if not purged:
                break
            if on_batch is not None:
                on_batch(target.key, purged)
            throttle.next_batch_size(purged, worked)
            throttle.after_batch(worked, blocked)
    run = _complete(actor=actor, run_pk=run.pk, report=report)
    report.counts = {code: dict(targets) for code, targets in run.counts.items()}
    report.batches = run.batches
    report.paused_seconds = throttle.paused
    report.blocked_batches = throttle.blocked_batches
    logger.info(
        "retention purge completed",
        extra={
            "run": report.run_public_id,
            "rows": report.total,
            "batches": report.batches,
            "paused_seconds": round(throttle.paused, 3),
            "blocked_batches": throttle.blocked_batches,
        },
    )
    return report


# --- compliance's own targets (other apps register theirs in their AppConfig.ready()) ---------


def _complete_ended_holds(batch: models.QuerySet) -> None:
    # The held records are insert-only and already pseudonymised: completing the hold is what
    # "purge" means for them (see the module header). released_by stays empty: the system did it.
    batch.update(released_at=timezone.now())


def register_compliance_targets() -> None:
    register_retention_target(
        LegalHold,
        policy="legal_hold_expiry",
        date_field="hold_until",
        subject_path="subject",
        action=RetentionAction.ANONYMISE,
        queryset=lambda: LegalHold.objects.filter(kind=HoldKind.RETENTION_DUTY, released_at__isnull=True),
        anonymise=_complete_ended_holds,
    )

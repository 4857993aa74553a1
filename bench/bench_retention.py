#!/usr/bin/env python
"""Benchmark: retention purge throughput while ledger transfers continue (SPEC C11, C8).

Bounded: a throw-away database (``bench_retention_<db>``, dropped afterwards); ``BENCH_PURGE_ROWS``
expired sessions (default 1,000,000, loaded by one ``INSERT ... SELECT generate_series``) purged by
the real engine (batches sized by ``RETENTION_PURGE_BATCH_MS``, its measured-impact throttle), in
its own forked process as a Celery worker would run it, while ``BENCH_TRANSFER_THREADS`` threads
(default 2) call ``ledger.services.transfer_create`` in a loop. The rows are loaded first; then the
transfers run continuously while the purge is alternately parked between two batches and let work,
in slices of ``BENCH_SLICE_SECONDS`` (default 4 s), A-B-A-…-A, so each purge slice has a baseline
on either side in the same run. What must stay stays, and is checked: ``BENCH_KEPT_ROWS`` (default
1,000) sessions not yet expired and as many expired ones under a legal hold in force; the run's
audit record counts the purged rows per table.

Rows: every slice, transfers/s and their p50/p99 latency alone and during the purge (pooled, and
the median of the per-slice ratios), purge rows/s over its working time, the CPU seconds of the
purge (its process and its PostgreSQL backend), WAL and checkpoints, the load average, and each
goal (issue 19: >= 20,000 rows/s; transfer p99 during the purge <= 2x its baseline, both pooled
and median) met or NOT met.
Run with ``make bench`` (PostgreSQL from DATABASE_URL, or a throw-away server).
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import os
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ["DJANGO_SETTINGS_MODULE"] = "fintech.settings.test"

import django

django.setup()

from bench_common import fund_wallets, quiet_logs, run_in_scratch_test_database  # noqa: E402
from bench_ledger import process_cpu_seconds  # noqa: E402
from django.conf import settings  # noqa: E402
from django.db import connection, connections  # noqa: E402

# The purge runs in a forked process (its own interpreter lock, as a Celery worker would).
_PROCESSES = multiprocessing.get_context("fork")
SLICE = float(os.environ.get("BENCH_SLICE_SECONDS", "4"))
WARMUP = 1.0
ROWS = int(os.environ.get("BENCH_PURGE_ROWS", "1000000"))
KEPT = int(os.environ.get("BENCH_KEPT_ROWS", "1000"))
GOAL_ROWS_PER_SECOND = 20_000
GOAL_P99_RATIO = 2.0
THREADS = int(os.environ.get("BENCH_TRANSFER_THREADS", "2"))
WALLETS = 8
# Sample pg_stat_activity's wait events every 10 ms (a diagnostic: where the transfers wait).
SAMPLE_WAITS = os.environ.get("BENCH_PURGE_SAMPLE_WAITS") == "1"


@dataclass
class Slice:
    kind: str  # "alone" (the purge parked) or "purge" (the purge working)
    start: float
    end: float
    latencies: list[float] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return self.end - self.start


class Transfers:
    """``THREADS`` threads calling ``transfer_create`` in a loop until stopped; each transfer's
    start, end (``perf_counter``) and its backend's pid are kept."""

    def __init__(self, plan: list) -> None:
        self.plan, self.stop = plan, threading.Event()
        self.samples: list[list[tuple[float, float]]] = [[] for _ in range(THREADS)]
        self.failures = [0] * THREADS
        self.pids: list[int] = []
        self.threads = [threading.Thread(target=self._work, args=(i,)) for i in range(THREADS)]

    def __enter__(self) -> Transfers:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join()

    def _work(self, index: int) -> None:
        from ledger import services

        try:
            connection.ensure_connection()
            self.pids.append(connection.connection.info.backend_pid)
            step = index
            while not self.stop.is_set():
                (source_user, source), (_, destination) = self.plan[step % WALLETS], self.plan[(step + 3) % WALLETS]
                step += THREADS
                started = time.perf_counter()
                try:
                    services.transfer_create(
                        actor=source_user, source_account=source, destination_account=destination,
                        amount=1 + step % 997, currency="ZAR", idempotency_key=uuid.uuid4().hex,
                    )  # fmt: skip
                except Exception:  # noqa: BLE001 - counted: the benchmark is invalid if any fail
                    self.failures[index] += 1
                    continue
                self.samples[index].append((started, time.perf_counter()))
        finally:
            connections.close_all()

    def assign(self, slices: list[Slice]) -> int:
        """Put each transfer in the slice it started and ended in; returns how many straddled a
        boundary (or fell in a hand-over between slices) and were left out."""
        spans = sorted((s for per_thread in self.samples for s in per_thread), key=lambda s: s[0])
        left_out, i = 0, 0
        for started, ended in spans:
            while i < len(slices) and slices[i].end < started:
                i += 1
            if i < len(slices) and slices[i].start <= started and ended <= slices[i].end:
                slices[i].latencies.append((ended - started) * 1000)
            else:
                left_out += 1
        return left_out


class Gate:
    """Parks the purge between its batches (``on_batch`` runs after each committed batch, before
    the throttle's pause), so the transfers can be measured alone and with the purge in turns.
    Its events are shared with the purge's own process (``_PROCESSES``: forked)."""

    def __init__(self) -> None:
        self.open, self.parked = _PROCESSES.Event(), _PROCESSES.Event()
        self.sizes: list[int] = []  # each batch's rows (kept in the purge's process)

    def on_batch(self, _target: str, rows: int) -> None:
        self.sizes.append(rows)
        if not self.open.is_set():
            self.parked.set()
            self.open.wait()
            self.parked.clear()


class WaitSampler(threading.Thread):
    """Counts (who, wait_event_type:wait_event) from pg_stat_activity every 10 ms, per slice kind."""

    def __init__(self, transfer_pids: list[int], purge_pid: int, kind: Callable[[], str]) -> None:
        super().__init__()
        self.transfer_pids, self.purge_pid, self.kind = transfer_pids, purge_pid, kind
        self.stop = threading.Event()
        self.counts: dict[tuple[str, str, str], int] = {}

    def run(self) -> None:
        try:
            with connection.cursor() as cursor:
                while not self.stop.is_set():
                    kind = self.kind()
                    cursor.execute(
                        "SELECT pid, state, coalesce(wait_event_type || ':' || wait_event, 'CPU') FROM "
                        "pg_stat_activity WHERE pid = ANY(%s) OR backend_type <> 'client backend'",
                        [[*self.transfer_pids, self.purge_pid]],
                    )
                    for pid, state, wait in cursor.fetchall():
                        if pid in self.transfer_pids:
                            who = "transfer" if state == "active" else "transfer (idle: client side)"
                        elif pid == self.purge_pid:
                            who = "purge" if state == "active" else "purge (idle: client side)"
                        else:
                            who = "background"
                            if wait != "CPU" and wait.startswith("Activity:"):
                                continue
                        key = (kind, who, wait)
                        self.counts[key] = self.counts.get(key, 0) + 1
                    time.sleep(0.01)
        finally:
            connections.close_all()


def _p(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) >= 2 else float("nan")


def _pg_counters() -> dict[str, float]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT checkpoints_timed + checkpoints_req, pg_current_wal_lsn() - '0/0'::pg_lsn FROM pg_stat_bgwriter"
        )
        checkpoints, wal = cursor.fetchone()
    return {"checkpoints": checkpoints, "wal_bytes": float(wal)}


def _interleave(gate: Gate, purger: Any) -> list[Slice]:
    """A-B-A-B…: the transfers alone for SLICE seconds (the purge parked between two batches), then
    with the purge working for SLICE seconds, until the purge is done; a last "alone" slice closes
    the series so every purge slice has an "alone" slice on each side. A purge slice ends when the
    purge has parked: the batch in flight when it was asked to stop belongs to it."""
    slices = []

    def alone() -> None:
        started = time.perf_counter()
        time.sleep(SLICE)
        slices.append(Slice("alone", started, time.perf_counter()))

    while purger.is_alive():
        alone()
        started = time.perf_counter()
        gate.open.set()
        purger.join(SLICE)
        if purger.is_alive():
            gate.open.clear()
            while not gate.parked.wait(0.05) and purger.is_alive():
                pass
        slices.append(Slice("purge", started, time.perf_counter()))
    alone()
    return slices


def _purge_in_own_process(gate: Gate, pipe: Any) -> None:
    """The purge in its own process, as in production (a Celery worker, never a web worker):
    its Python work never holds the transfers' interpreter lock."""
    from compliance.retention.engine import retention_purge

    result: dict[str, object] = {}
    try:
        connection.ensure_connection()
        pid = connection.connection.info.backend_pid
        pipe.send({"pid": pid})
        gate.open.wait()
        started = time.process_time()
        result["report"] = retention_purge(on_batch=gate.on_batch)
        result["client_cpu"] = time.process_time() - started
        result["sizes"] = gate.sizes
        result["server_cpu_after"] = process_cpu_seconds(pid)
    finally:
        pipe.send(result)
        connections.close_all()


def main() -> None:
    from django.contrib.sessions.models import Session

    from compliance.audit.models import AuditEvent

    quiet_logs()
    plan = fund_wallets(WALLETS)
    _load_sessions(dt.datetime.now(tz=dt.UTC) - dt.timedelta(days=30))

    gate = Gate()
    outcome: dict[str, object] = {}

    connections.close_all()  # nothing shared with the forked purge
    parent_end, child_end = _PROCESSES.Pipe()
    purger = _PROCESSES.Process(target=_purge_in_own_process, args=(gate, child_end))
    purger.start()
    outcome.update(parent_end.recv())
    server_before, load_before, counters_before = (
        process_cpu_seconds(int(outcome["pid"])),
        os.getloadavg(),
        _pg_counters(),
    )
    wall_started = time.perf_counter()
    with Transfers(plan) as transfers:
        time.sleep(WARMUP)  # connections open, caches warm: not measured
        sampler = None
        if SAMPLE_WAITS:
            sampler = WaitSampler(
                transfers.pids, int(outcome["pid"]), lambda: "purge" if gate.open.is_set() else "alone"
            )
            sampler.start()
        slices = _interleave(gate, purger)
        if sampler is not None:
            sampler.stop.set()
            sampler.join()
    outcome.update(parent_end.recv())
    purger.join()
    if "report" not in outcome:
        raise SystemExit("benchmark invalid: the purge's process failed (its traceback is above)")
    gate.sizes = list(outcome["sizes"])  # type: ignore[call-overload]
    counters_after = _pg_counters()
    left_out = transfers.assign(slices)
    report = outcome["report"]
    purged = report.counts.get("session", {}).get("sessions.session", 0)
    audited = (
        AuditEvent.objects.filter(action="RETENTION_PURGE", object_id=report.run_public_id)
        .values_list("change_diff", flat=True)
        .get()["per_target"]["sessions.session"]
    )
    left = set(Session.objects.values_list("session_key", flat=True))
    failed = sum(transfers.failures)
    if purged != ROWS or audited != ROWS or left != _kept_keys() or failed:
        raise SystemExit(
            f"benchmark invalid: purged {purged} of {ROWS} (audited {audited}); {len(left)} rows left of "
            f"{2 * KEPT} kept; failed transfers {failed}"
        )
    server_after = outcome["server_cpu_after"]
    server_cpu = None if server_before is None or server_after is None else server_after - server_before
    _print(
        report, slices=slices, left_out=left_out, purge_cpu=float(outcome["client_cpu"]), server_cpu=server_cpu,
        load_before=load_before[0], wall=time.perf_counter() - wall_started,
        checkpoints=counters_after["checkpoints"] - counters_before["checkpoints"],
        wal_mb=(counters_after["wal_bytes"] - counters_before["wal_bytes"]) / 2**20,
        waits=None if sampler is None else sampler.counts, report_sizes=gate.sizes,
    )  # fmt: skip


def _print(
    report, *, slices: list[Slice], left_out: int, purge_cpu: float, server_cpu: float | None, load_before: float,
    wall: float, checkpoints: float, wal_mb: float, waits: dict | None, report_sizes: list[int],
) -> None:  # fmt: skip
    purged = report.counts["session"]["sessions.session"]
    out = sys.stdout.write
    out(
        f"\nretention purge benchmark ({ROWS} expired rows and {2 * KEPT} kept, batches of "
        f"{settings.RETENTION_PURGE_BATCH_MS} ms of work, at most {settings.RETENTION_PURGE_BATCH_SIZE} rows "
        f"(0 ms: all of that size), {report.batches} batches, throttle: duty cycle "
        f"{settings.RETENTION_PURGE_DUTY_CYCLE:.2f}, pause {settings.RETENTION_PURGE_PAUSE_SECONDS * 1000:.0f}-"
        f"{settings.RETENTION_PURGE_MAX_PAUSE_SECONDS * 1000:.0f} ms; {THREADS} transfer threads; "
        f"PostgreSQL {connection.pg_version // 10000})\n"
        f"method: interleaved slices of {SLICE:.0f} s, transfers alone (purge parked between two batches) / "
        f"with the purge working, A-B-A-…-A; {left_out} transfers in the warm-up or straddling a boundary left out\n"
    )
    out(f"{'slice':<8} {'kind':<6} {'s':>5} {'transfers':>9} {'p50 ms':>7} {'p99 ms':>7} {'p99 / alone around':>19}\n")
    pair_ratios = []
    for i, s in enumerate(slices):
        ratio = ""
        if s.kind == "purge":
            around = [x for x in (slices[i - 1], slices[i + 1] if i + 1 < len(slices) else None) if x is not None]
            alone_p99 = statistics.mean(_p(x.latencies, 99) for x in around)
            if len(s.latencies) >= 200:  # the last, short purge slice says little on its own
                pair_ratios.append(_p(s.latencies, 99) / alone_p99)
                ratio = f"{pair_ratios[-1]:.2f}"
            else:
                ratio = "(short)"
        out(
            f"{i:<8} {'alone' if s.kind == 'alone' else 'PURGE':<6} {s.seconds:>5.1f} {len(s.latencies):>9} "
            f"{_p(s.latencies, 50):>7.2f} {_p(s.latencies, 99):>7.2f} {ratio:>19}\n"
        )
    pooled = {k: [v for s in slices if s.kind == k for v in s.latencies] for k in ("alone", "purge")}
    seconds = {k: sum(s.seconds for s in slices if s.kind == k) for k in ("alone", "purge")}
    out(f"\n{'measure':<44} {'alone':>10} {'during purge':>13} {'ratio':>7}\n")
    rates = {k: len(pooled[k]) / seconds[k] for k in pooled}
    out(
        f"{'transfers/s':<44} {rates['alone']:>10.0f} {rates['purge']:>13.0f} {rates['purge'] / rates['alone']:>7.2f}\n"
    )
    out(f"{'transfers measured':<44} {len(pooled['alone']):>10} {len(pooled['purge']):>13}\n")
    ratios = {}
    for q in (50, 99):
        alone, busy = _p(pooled["alone"], q), _p(pooled["purge"], q)
        ratios[q] = busy / alone
        out(f"{f'transfer p{q} latency, all slices (ms)':<44} {alone:>10.2f} {busy:>13.2f} {busy / alone:>7.2f}\n")
    median_ratio = statistics.median(pair_ratios) if pair_ratios else float("nan")
    out(f"{'transfer p99 ratio, median of purge slices':<44} {'':>10} {'':>13} {median_ratio:>7.2f}\n")
    purge_rate = purged / seconds["purge"]
    out(f"{'purge rows/s (' + str(purged) + ' rows, its slices)':<44} {'':>10} {purge_rate:>13.0f}\n")
    out(f"{'purge seconds (working / wall incl. parked)':<44} {'':>10} {seconds['purge']:>6.1f} / {wall:.1f}\n")
    sizes = sorted(report_sizes)
    out(f"{'batch rows: min / median / max':<44} {'':>10} {sizes[0]:>6} / {sizes[len(sizes) // 2]} / {sizes[-1]}\n")
    out(f"{'purge CPU s: its process (client)':<44} {'':>10} {purge_cpu:>13.1f}\n")
    out(f"{'throttle pauses, s (batches that blocked)':<44} {'':>10} {report.paused_seconds:>13.1f}")
    out(f" ({report.blocked_batches})\n")
    out(
        f"{'purge CPU s: its backend (server)':<44} {'':>10} {'-' if server_cpu is None else f'{server_cpu:.1f}':>13}\n"
    )
    out(f"{'WAL MB written (whole server) / checkpoints':<44} {'':>10} {wal_mb:>6.0f} / {checkpoints:.0f}\n")
    load_after = os.getloadavg()
    out(f"{'load average (1 min) before / after':<44} {load_before:>10.2f} {load_after[0]:>13.2f}\n")
    if waits:
        out("\nwait events sampled every 10 ms (share of samples per slice kind and backend):\n")
        totals: dict[tuple[str, str], int] = {}
        for (kind, who, _), n in waits.items():
            totals[kind, who] = totals.get((kind, who), 0) + n
        for (kind, who, wait), n in sorted(waits.items(), key=lambda item: (item[0][0], item[0][1], -item[1])):
            if n / totals[kind, who] >= 0.01:
                out(f"  {kind:<6} {who:<30} {wait:<32} {100 * n / totals[kind, who]:>5.1f}%\n")
    met = purge_rate >= GOAL_ROWS_PER_SECOND
    out(f"goal: purge >= {GOAL_ROWS_PER_SECOND:,} rows/s: {'met' if met else 'NOT met'}\n")
    # Both the pooled p99 and the median of the slices' ratios must be within the goal.
    met = ratios[99] <= GOAL_P99_RATIO and median_ratio <= GOAL_P99_RATIO
    out(
        f"goal: transfer p99 during the purge <= {GOAL_P99_RATIO:.0f}x its baseline (pooled {ratios[99]:.2f}x, "
        f"median slice {median_ratio:.2f}x): {'met' if met else 'NOT met'}\n"
    )


def _kept_keys() -> set[str]:
    return {f"live{n:010d}" for n in range(KEPT)} | {f"held{n:010d}" for n in range(KEPT)}


def _load_sessions(expired: dt.datetime) -> None:
    """``ROWS`` expired sessions in one statement, plus the rows that must stay: ``KEPT`` not yet
    expired and ``KEPT`` expired but each under a retention-duty hold in force."""
    from compliance.retention.models import HoldKind, LegalHold

    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO django_session (session_key, session_data, expire_date) "
            "SELECT 'bench' || lpad(n::text, 10, '0'), 'x', %s FROM generate_series(0, %s - 1) AS n",
            [expired, ROWS],
        )
        cursor.execute(
            "INSERT INTO django_session (session_key, session_data, expire_date) "
            "SELECT 'live' || lpad(n::text, 10, '0'), 'x', %s FROM generate_series(0, %s - 1) AS n",
            [expired + dt.timedelta(days=60), KEPT],
        )
        cursor.execute(
            "INSERT INTO django_session (session_key, session_data, expire_date) "
            "SELECT 'held' || lpad(n::text, 10, '0'), 'x', %s FROM generate_series(0, %s - 1) AS n",
            [expired, KEPT],
        )
    LegalHold.objects.bulk_create(
        LegalHold(
            kind=HoldKind.RETENTION_DUTY, model_label="sessions.session", object_id=f"held{n:010d}",
            reason="benchmark: must be kept", hold_until=expired + dt.timedelta(days=3650),
        )
        for n in range(KEPT)
    )  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE django_session")
        cursor.execute("ANALYZE compliance_legalhold")


if __name__ == "__main__":
    run_in_scratch_test_database(main, "bench_retention")

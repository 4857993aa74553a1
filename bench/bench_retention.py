#!/usr/bin/env python
"""Benchmark: retention purge throughput while ledger transfers continue (SPEC C11, C8).

Bounded: a throw-away database (``bench_retention_<db>``, dropped afterwards); ``BENCH_PURGE_ROWS``
expired sessions (default 1,000,000, loaded by one ``INSERT ... SELECT generate_series``) purged by
the real engine (batches of ``RETENTION_PURGE_BATCH_SIZE``, its measured-impact throttle) while
``BENCH_TRANSFER_THREADS`` threads (default 2) call ``ledger.services.transfer_create`` in a loop.
The same transfer loop first runs alone for ``BENCH_SECONDS`` (default 5 s) as the baseline, in the
same run. What must stay stays, and is checked: ``BENCH_KEPT_ROWS`` (default 1,000) sessions not yet
expired and as many expired ones under a legal hold in force; the run's audit record counts the
purged rows per table.

Rows: transfers/s and their p50/p99 latency without and during the purge, purge rows/s, the CPU
seconds of the purge (its thread and its PostgreSQL backend), the load average, and each goal
(issue 19: >= 20,000 rows/s; transfer p99 during the purge <= 2x its own baseline) met or NOT met.
Run with ``make bench`` (PostgreSQL from DATABASE_URL, or a throw-away server).
"""

from __future__ import annotations

import datetime as dt
import os
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ["DJANGO_SETTINGS_MODULE"] = "fintech.settings.test"

import django

django.setup()

from bench_common import fund_wallets, quiet_logs, run_in_scratch_test_database  # noqa: E402
from bench_ledger import process_cpu_seconds  # noqa: E402
from django.conf import settings  # noqa: E402
from django.db import connection, connections  # noqa: E402

SECONDS = float(os.environ.get("BENCH_SECONDS", "5"))
ROWS = int(os.environ.get("BENCH_PURGE_ROWS", "1000000"))
KEPT = int(os.environ.get("BENCH_KEPT_ROWS", "1000"))
GOAL_ROWS_PER_SECOND = 20_000
GOAL_P99_RATIO = 2.0
THREADS = int(os.environ.get("BENCH_TRANSFER_THREADS", "2"))
WALLETS = 8


def _transfers(plan: list, stop: threading.Event, deadline: float | None) -> tuple[list[float], int]:
    """Run transfer loops in threads until ``stop`` is set (or ``deadline``); latencies in ms."""
    from ledger import services

    latencies: list[list[float]] = [[] for _ in range(THREADS)]
    failures = [0] * THREADS

    def work(index: int) -> None:
        try:
            step = index
            while not stop.is_set() and (deadline is None or time.perf_counter() < deadline):
                (source_user, source), (_, destination) = plan[step % WALLETS], plan[(step + 3) % WALLETS]
                step += THREADS
                started = time.perf_counter()
                try:
                    services.transfer_create(
                        actor=source_user, source_account=source, destination_account=destination,
                        amount=1 + step % 997, currency="ZAR", idempotency_key=uuid.uuid4().hex,
                    )  # fmt: skip
                except Exception:  # noqa: BLE001 - counted: the benchmark is invalid if any fail
                    failures[index] += 1
                    continue
                latencies[index].append((time.perf_counter() - started) * 1000)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [value for per_thread in latencies for value in per_thread], sum(failures)


def _p(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100)[q - 1] if len(values) >= 2 else float("nan")


def main() -> None:
    from django.contrib.sessions.models import Session

    from compliance.audit.models import AuditEvent
    from compliance.retention.engine import retention_purge

    quiet_logs()
    plan = fund_wallets(WALLETS)

    started = time.perf_counter()
    baseline, failed_alone = _transfers(plan, threading.Event(), time.perf_counter() + SECONDS)
    baseline_rate = len(baseline) / (time.perf_counter() - started)

    expired = dt.datetime.now(tz=dt.UTC) - dt.timedelta(days=30)
    _load_sessions(expired)

    stop = threading.Event()
    during: dict[str, object] = {}

    def load() -> None:
        during["latencies"], during["failed"] = _transfers(plan, stop, None)

    connection.ensure_connection()
    backend = connection.connection.info.backend_pid
    server_before, load_before = process_cpu_seconds(backend), os.getloadavg()
    loader = threading.Thread(target=load)
    loader.start()
    time.sleep(0.2)  # transfers running before the purge starts
    purge_started, cpu_started = time.perf_counter(), time.thread_time()
    try:
        report = retention_purge()
    finally:
        purge_seconds = time.perf_counter() - purge_started
        purge_cpu = time.thread_time() - cpu_started
        server_after = process_cpu_seconds(backend)
        stop.set()
        loader.join()
    latencies: list[float] = during["latencies"]  # type: ignore[assignment]
    purged = report.counts.get("session", {}).get("sessions.session", 0)
    audited = (
        AuditEvent.objects.filter(action="RETENTION_PURGE", object_id=report.run_public_id)
        .values_list("change_diff", flat=True)
        .get()["per_target"]["sessions.session"]
    )
    left = set(Session.objects.values_list("session_key", flat=True))
    if purged != ROWS or audited != ROWS or left != _kept_keys() or failed_alone or during["failed"]:
        raise SystemExit(
            f"benchmark invalid: purged {purged} of {ROWS} (audited {audited}); {len(left)} rows left of "
            f"{2 * KEPT} kept; failed transfers {failed_alone} + {during['failed']}"
        )
    server_cpu = None if server_before is None or server_after is None else server_after - server_before
    _print(
        report, baseline=baseline, baseline_rate=baseline_rate, latencies=latencies, purge_seconds=purge_seconds,
        purge_cpu=purge_cpu, server_cpu=server_cpu, load_before=load_before[0],
    )  # fmt: skip


def _print(
    report, *, baseline: list[float], baseline_rate: float, latencies: list[float], purge_seconds: float,
    purge_cpu: float, server_cpu: float | None, load_before: float,
) -> None:  # fmt: skip
    purged = report.counts["session"]["sessions.session"]
    out = sys.stdout.write
    out(
        f"\nretention purge benchmark ({ROWS} expired rows and {2 * KEPT} kept, batches of "
        f"{settings.RETENTION_PURGE_BATCH_SIZE}, {report.batches} batches, throttle: duty cycle "
        f"{settings.RETENTION_PURGE_DUTY_CYCLE:.2f}, pause {settings.RETENTION_PURGE_PAUSE_SECONDS * 1000:.0f}-"
        f"{settings.RETENTION_PURGE_MAX_PAUSE_SECONDS * 1000:.0f} ms; {THREADS} transfer threads; "
        f"PostgreSQL {connection.pg_version // 10000})\n"
    )
    out(f"{'measure':<40} {'alone':>10} {'during purge':>13} {'ratio':>7}\n")
    rate = len(latencies) / purge_seconds
    out(f"{'transfers/s':<40} {baseline_rate:>10.0f} {rate:>13.0f} {rate / baseline_rate:>7.2f}\n")
    ratios = {}
    for q in (50, 99):
        alone, busy = _p(baseline, q), _p(latencies, q)
        ratios[q] = busy / alone
        out(f"{f'transfer p{q} latency (ms)':<40} {alone:>10.1f} {busy:>13.1f} {busy / alone:>7.2f}\n")
    purge_rate = purged / purge_seconds
    out(f"{'purge rows/s (' + str(purged) + ' rows)':<40} {'':>10} {purge_rate:>13.0f}\n")
    out(f"{'purge seconds':<40} {'':>10} {purge_seconds:>13.1f}\n")
    out(f"{'purge CPU s: its thread (client)':<40} {'':>10} {purge_cpu:>13.1f}\n")
    out(f"{'throttle pauses, s (batches that blocked)':<40} {'':>10} {report.paused_seconds:>13.1f}")
    out(f" ({report.blocked_batches})\n")
    out(
        f"{'purge CPU s: its backend (server)':<40} {'':>10} {'-' if server_cpu is None else f'{server_cpu:.1f}':>13}\n"
    )
    load_after = os.getloadavg()
    out(f"{'load average (1 min) before / after':<40} {load_before:>10.2f} {load_after[0]:>13.2f}\n")
    met = purge_rate >= GOAL_ROWS_PER_SECOND
    out(f"goal: purge >= {GOAL_ROWS_PER_SECOND:,} rows/s: {'met' if met else 'NOT met'}\n")
    met = ratios[99] <= GOAL_P99_RATIO
    out(f"goal: transfer p99 during the purge <= {GOAL_P99_RATIO:.0f}x its baseline: {'met' if met else 'NOT met'}\n")


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

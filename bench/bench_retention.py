#!/usr/bin/env python
"""Benchmark: retention purge throughput while ledger transfers continue (SPEC C11, C8).

Bounded: a throw-away database (``bench_retention_<db>``, dropped afterwards); ``BENCH_PURGE_ROWS``
expired sessions (default 100,000) purged by the real engine (batches of
``RETENTION_PURGE_BATCH_SIZE``, its throttle) while ``BENCH_TRANSFER_THREADS`` threads (default 2)
call ``ledger.services.transfer_create`` in a loop. The same transfer loop first runs alone for
``BENCH_SECONDS`` (default 3 s) as the baseline. About 10-30 s in all on a laptop-class machine.

Rows: transfers/s and their p50/p99 latency without and during the purge, and purge rows/s.
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
from django.conf import settings  # noqa: E402
from django.db import connection, connections  # noqa: E402

SECONDS = float(os.environ.get("BENCH_SECONDS", "3"))
ROWS = int(os.environ.get("BENCH_PURGE_ROWS", "100000"))
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

    from compliance.retention.engine import retention_purge

    quiet_logs()
    plan = fund_wallets(WALLETS)

    started = time.perf_counter()
    baseline, failed_alone = _transfers(plan, threading.Event(), time.perf_counter() + SECONDS)
    baseline_rate = len(baseline) / (time.perf_counter() - started)

    expired = dt.datetime.now(tz=dt.UTC) - dt.timedelta(days=30)
    for offset in range(0, ROWS, 10_000):
        Session.objects.bulk_create(
            Session(session_key=f"bench{n:010d}", session_data="x", expire_date=expired)
            for n in range(offset, min(offset + 10_000, ROWS))
        )

    stop = threading.Event()
    during: dict[str, object] = {}

    def load() -> None:
        during["latencies"], during["failed"] = _transfers(plan, stop, None)

    loader = threading.Thread(target=load)
    loader.start()
    time.sleep(0.2)  # transfers running before the purge starts
    purge_started = time.perf_counter()
    try:
        report = retention_purge()
    finally:
        purge_seconds = time.perf_counter() - purge_started
        stop.set()
        loader.join()
    latencies: list[float] = during["latencies"]  # type: ignore[assignment]
    purged = report.counts.get("session", {}).get("sessions.session", 0)
    if purged != ROWS or Session.objects.exists() or failed_alone or during["failed"]:
        raise SystemExit(
            f"benchmark invalid: purged {purged} of {ROWS}; failed transfers {failed_alone} + {during['failed']}"
        )

    out = sys.stdout.write
    out(
        f"\nretention purge benchmark ({ROWS} expired rows, batches of {settings.RETENTION_PURGE_BATCH_SIZE}, "
        f"{report.batches} batches, pause {settings.RETENTION_PURGE_PAUSE_SECONDS * 1000:.0f} ms; "
        f"{THREADS} transfer threads; PostgreSQL {connection.pg_version // 10000})\n"
    )
    out(f"{'measure':<40} {'alone':>10} {'during purge':>13} {'ratio':>7}\n")
    rate = len(latencies) / purge_seconds
    out(f"{'transfers/s':<40} {baseline_rate:>10.0f} {rate:>13.0f} {rate / baseline_rate:>7.2f}\n")
    for q in (50, 99):
        alone, busy = _p(baseline, q), _p(latencies, q)
        out(f"{f'transfer p{q} latency (ms)':<40} {alone:>10.1f} {busy:>13.1f} {busy / alone:>7.2f}\n")
    out(f"{'purge rows/s (' + str(purged) + ' rows)':<40} {'':>10} {purged / purge_seconds:>13.0f}\n")


if __name__ == "__main__":
    run_in_scratch_test_database(main, "bench_retention")

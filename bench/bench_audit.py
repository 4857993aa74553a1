#!/usr/bin/env python
"""Benchmark: the cost of the audit trail, and sealing/verification throughput (SPEC C11).

Bounded: each timed phase runs for ``BENCH_SECONDS`` (default 1.5 s), the whole script for a few
seconds plus the migration of a throw-away database (``bench_audit_<db>``, dropped afterwards).

Rows:
- stand-in business writes/s (one INSERT per transaction) without and with an audit record in
  the same transaction, 1 and 4 concurrent writers (threads, one connection each);
- sealing records/s (the sealer chaining everything written above);
- chain verification records/s (full walk, SHA-256 per record).

Run with ``make bench`` (PostgreSQL from DATABASE_URL, or a throw-away server).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ["DJANGO_SETTINGS_MODULE"] = "fintech.settings.test"

import django

django.setup()

from bench_common import run_in_scratch_test_database  # noqa: E402
from django.db import connection, connections, transaction  # noqa: E402

SECONDS = float(os.environ.get("BENCH_SECONDS", "1.5"))


def _writes_per_second(workers: int, *, with_audit: bool) -> float:
    from compliance.audit.services import ActorType, AuditAction, audit_record

    stop = time.monotonic() + SECONDS
    counts = [0] * workers

    def work(index: int) -> None:
        try:
            n = 0
            while time.monotonic() < stop:
                with transaction.atomic():
                    with connection.cursor() as cursor:
                        cursor.execute("INSERT INTO bench_transfer (amount_minor) VALUES (%s)", [n])
                    if with_audit:
                        audit_record(
                            action=AuditAction.TRANSFER,
                            actor_type=ActorType.SYSTEM,
                            object_type="bench.Transfer",
                            object_id=str(n),
                            change_diff={"after": {"amount_minor": n, "currency": "ZAR"}},
                        )
                n += 1
            counts[index] = n
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(workers)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts) / (time.monotonic() - started)


def main() -> None:
    from compliance.audit.chain import seal_pending, verify_chain
    from compliance.models import AuditEvent

    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE bench_transfer (id bigserial PRIMARY KEY, amount_minor bigint NOT NULL)")
    rows = []
    for workers in (1, 4):
        plain = _writes_per_second(workers, with_audit=False)
        audited = _writes_per_second(workers, with_audit=True)
        rows.append((f"writes/s, {workers} writer(s): without / with audit", plain, audited, audited / plain))

    pending = AuditEvent.objects.filter(seq__isnull=True).count()
    started = time.monotonic()
    sealed = seal_pending(batch_size=2000).sealed
    seal_rate = sealed / (time.monotonic() - started)
    started = time.monotonic()
    result = verify_chain()
    verify_rate = result.checked / (time.monotonic() - started)
    if not (result.ok and sealed == pending == result.checked):
        raise SystemExit(f"benchmark invalid: {result.message()}; sealed {sealed} of {pending}")

    out = sys.stdout.write
    out(f"\naudit trail benchmark ({SECONDS:.1f} s per phase, PostgreSQL {connection.pg_version // 10000})\n")
    out(f"{'measure':<48} {'baseline':>10} {'audited':>10} {'ratio':>7}\n")
    for name, plain, audited, ratio in rows:
        out(f"{name:<48} {plain:>10.0f} {audited:>10.0f} {ratio:>7.2f}\n")
    out(f"{'sealing records/s (' + str(sealed) + ' records)':<48} {'':>10} {seal_rate:>10.0f}\n")
    out(f"{'chain verification records/s':<48} {'':>10} {verify_rate:>10.0f}\n")


if __name__ == "__main__":
    run_in_scratch_test_database(main, "bench_audit")

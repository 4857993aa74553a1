#!/usr/bin/env python
"""Benchmark: the cost of the audit trail, and sealing/verification throughput (SPEC C11).

Bounded: each timed phase runs for ``BENCH_SECONDS`` (default 1.5 s), the whole script for a few
seconds plus the migration of a throw-away database (``bench_audit_<db>``, dropped afterwards).

Rows:
- stand-in business writes/s (one INSERT per transaction) without and with an audit record in
  the same transaction, 1 and 4 concurrent writers (threads, one connection each);
- sealing + Merkle update records/s (the sealer chaining everything written above and growing the
  RFC 9162 tree in the same transactions; goal >= 10k/s);
- chain verification records/s (the database verifier ``verify_chain``: full walk, every chain hash
  and the re-derived Merkle root at the signed checkpoint; goal >= 100k/s);
- proof generation (inclusion and consistency proofs from the stored nodes, median ms; goal < 10);
- offline verification records/s (``compliance.audit.verify`` on the exported archive: every
  chain hash, every Merkle root at each checkpoint, every signature; goal >= 100k/s). A second
  batch of synthetic records brings the tree to ``BENCH_AUDIT_RECORDS`` (default 100k) first.

Each goal is printed as met / NOT met with the load average, and sealing and both verifiers also
as records per CPU-second (this process plus its PostgreSQL backend, read from /proc): on a shared
two-core machine the wall figures move with everyone else's work, the CPU figures much less.

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
RECORDS = int(os.environ.get("BENCH_AUDIT_RECORDS", "100000"))


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


class _CPU:
    """CPU seconds of this process and of its PostgreSQL backend (``/proc/<pid>/schedstat``, the
    server runs on this machine): a figure the other helpers' load does not move as much as wall time."""

    def __init__(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            self.path = Path(f"/proc/{cursor.fetchone()[0]}/schedstat")

    def server(self) -> float | None:
        try:
            return int(self.path.read_text().split()[0]) / 1e9
        except (OSError, ValueError, IndexError):
            return None  # not on this machine

    def start(self) -> tuple[float, float, float | None]:
        return time.monotonic(), time.process_time(), self.server()

    def stop(self, started: tuple[float, float, float | None]) -> tuple[float, float, float | None]:
        """(wall, client CPU, server CPU or None) seconds since ``started``."""
        wall, client, server = started
        now_server = self.server()
        spent = None if server is None or now_server is None else now_server - server
        return time.monotonic() - wall, time.process_time() - client, spent


def _per_cpu_second(count: int, client: float, server: float | None) -> str:
    return "n/a" if server is None else f"{count / (client + server):.0f}"


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

    _bulk_unsealed(max(0, RECORDS - AuditEvent.objects.count()))
    with connection.cursor() as cursor:
        # What autovacuum does within a minute of a bulk insert; a freshly filled table without
        # statistics makes the planner sort the whole backlog for every batch.
        cursor.execute("ANALYZE compliance_auditevent")
    pending = AuditEvent.objects.filter(seq__isnull=True).count()
    cpu = _CPU()
    started = cpu.start()
    sealed = seal_pending(batch_size=2000).sealed
    seal_wall, seal_client, seal_server = cpu.stop(started)
    proof_ms, offline = _transparency_rows(sealed)
    started = cpu.start()
    result = verify_chain()
    verify_wall, verify_client, verify_server = cpu.stop(started)
    if not (result.ok and sealed == pending == result.checked):
        raise SystemExit(f"benchmark invalid: {result.message()}; sealed {sealed} of {pending}")

    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    out = sys.stdout.write
    out(f"\naudit trail benchmark ({SECONDS:.1f} s per phase, PostgreSQL {connection.pg_version // 10000})\n")
    out(f"{'measure':<48} {'baseline':>10} {'audited':>10} {'ratio':>7}\n")
    for name, plain, audited, ratio in rows:
        out(f"{name:<48} {plain:>10.0f} {audited:>10.0f} {ratio:>7.2f}\n")
    seal_rate, verify_rate = sealed / seal_wall, result.checked / verify_wall
    goals = [
        (f"sealing + Merkle update records/s ({sealed})", seal_rate, ">= 10000", seal_rate >= 10_000),
        ("chain verification (database) records/s", verify_rate, ">= 100000", verify_rate >= 100_000),
        (f"inclusion proof, median ms (tree of {sealed})", proof_ms[0], "< 10", proof_ms[0] < 10),
        ("consistency proof, median ms", proof_ms[1], "< 10", proof_ms[1] < 10),
        ("offline verification records/s (no database)", offline[0], ">= 100000", offline[0] >= 100_000),
    ]
    out(f"\n{'goal (wall clock)':<48} {'figure':>10} {'goal':>10}  status\n")
    for name, figure, goal, met in goals:
        shown = f"{figure:.2f}" if figure < 100 else f"{figure:.0f}"
        out(f"{name:<48} {shown:>10} {goal:>10}  {'met' if met else 'NOT met'} (load {load})\n")
    # Per CPU-second, client + PostgreSQL backend: what the work costs, whatever else the two
    # shared cores are running. A rate per CPU-second is what one otherwise idle core would do
    # with client and server taking turns on it.
    out(f"\n{'cost (CPU seconds of client + server)':<48} {'client':>10} {'server':>10} {'rec/CPU-s':>10}\n")
    for name, count, client, server in (
        ("sealing + Merkle update", sealed, seal_client, seal_server),
        ("chain verification (database)", result.checked, verify_client, verify_server),
        ("offline verification (one process, no server)", offline[2], offline[1], 0.0),
    ):
        shown_server = "n/a" if server is None else f"{server:.2f}"
        out(f"{name:<48} {client:>10.2f} {shown_server:>10} {_per_cpu_second(count, client, server):>10}\n")
    out(f"load average (1/5/15 min): {load}\n")


def _bulk_unsealed(count: int) -> None:
    """Synthetic unsealed records (as audit_record writes them), so the tree is of a realistic size."""
    from compliance.models import AuditEvent

    rows = [
        AuditEvent(
            actor_type="system",
            action="TRANSFER",
            object_type="bench.Transfer",
            object_id=str(n),
            change_diff={"after": {"amount_minor": n, "currency": "ZAR"}},
        )
        for n in range(count)
    ]
    AuditEvent.objects.bulk_create(rows, batch_size=5000)


def _transparency_rows(size: int) -> tuple[tuple[float, float], tuple[float, float, int]]:
    import random
    import statistics
    import tempfile

    from compliance.audit.archive import export_segments
    from compliance.audit.storage import LocalDirectoryStorage
    from compliance.audit.transparency import consistency_proof, inclusion_proof, log_verifier_keys, publish_checkpoint
    from compliance.audit.verify import verify_archive

    rng = random.Random(9162)  # noqa: S311 - picks benchmark positions, not secrets
    inclusion, consistency = [], []
    for _ in range(200):
        seq = rng.randint(1, size)
        started = time.perf_counter()
        inclusion_proof(seq, size)
        inclusion.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        consistency_proof(rng.randint(1, size), size)
        consistency.append((time.perf_counter() - started) * 1000)
    with tempfile.TemporaryDirectory() as directory:
        storage = LocalDirectoryStorage(directory)
        publish_checkpoint(storage=storage, force=True)
        export_segments(storage=storage, max_records=size)
        keys = log_verifier_keys()
        started, cpu = time.monotonic(), time.process_time()
        report = verify_archive(Path(directory), keys)
        elapsed, cpu = time.monotonic() - started, time.process_time() - cpu
        if not report.ok or report.records != size or report.checkpoints != 1:
            raise SystemExit(f"benchmark invalid: offline verification {report.as_dict()}")
    # (records/s wall, CPU seconds, records)
    offline = (report.records / elapsed, cpu, report.records)
    return (statistics.median(inclusion), statistics.median(consistency)), offline


if __name__ == "__main__":
    run_in_scratch_test_database(main, "bench_audit")

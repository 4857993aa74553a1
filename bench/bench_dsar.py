#!/usr/bin/env python3
"""DSAR export benchmark (SPEC C11): an access export for a subject with 10,000 ledger postings.

    .venv/bin/python scripts/with_services.py -- .venv/bin/python bench/bench_dsar.py [--postings 10000]

In a scratch database (``<db>_bench_dsar``, dropped afterwards) one verified customer makes
``--postings`` transfers (bulk payments of 100, so each is a posting on their wallet and a TRANSFER
audit record with them as actor), then files an access request. Timed, as the fulfilment task
runs them: collecting every annotated table of the subject (``compliance.dsar.export.collect``)
and writing the ZIP (JSON + one CSV per table), then encrypting the bundle (AES-GCM).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from bench_ledger import drop_database, own_cpu_seconds, process_cpu_seconds, scratch_database  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postings", type=int, default=10_000)
    parser.add_argument("--profile", type=int, default=0, metavar="N", help="print cProfile's top N functions")
    args = parser.parse_args()
    parts, name, url = scratch_database("dsar")
    try:
        from bench_common import app_on

        (subject, wallet), (_, other) = app_on(url, 2)
        from django.db import connections
        from django.utils import timezone

        from compliance.crypto import aead
        from compliance.dsar import services as dsar_services
        from compliance.dsar.export import build_bundle
        from ledger import services

        made = 0
        while made < args.postings:
            size = min(100, args.postings - made)
            services.transfer_batch_create(
                actor=subject,
                transfers=[
                    {"source_account": wallet, "destination_account": other, "amount": 1, "currency": "ZAR",
                     "idempotency_key": uuid.uuid4().hex}
                    for _ in range(size)
                ],
            )  # fmt: skip
            made += size
        dsar = dsar_services.dsar_file(subject=subject, filed_by=subject, type="access")
        connection = connections["default"]
        connection.ensure_connection()
        backend = connection.cursor().connection.info.backend_pid
        server_before, client_before = process_cpu_seconds(backend), own_cpu_seconds()
        profiler = cProfile.Profile() if args.profile else None
        started = time.perf_counter()
        if profiler is not None:
            profiler.enable()
        plaintext, counts = build_bundle(subject=subject, dsar=dsar, generated_at=timezone.now())
        if profiler is not None:
            profiler.disable()
        built = time.perf_counter() - started
        client_cpu = own_cpu_seconds() - client_before
        server_after = process_cpu_seconds(backend)
        server_cpu = None if server_before is None or server_after is None else server_after - server_before
        started = time.perf_counter()
        aead.encrypt(plaintext, associated_data=b"bench")
        encrypted = time.perf_counter() - started
        phases = _phases(subject)
        connections.close_all()
    finally:
        drop_database(parts, name)
    if profiler is not None:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(args.profile)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(args.profile)
    _print(args.postings, counts, built=built, size=len(plaintext), encrypted=encrypted, client_cpu=client_cpu,
           server_cpu=server_cpu, phases=phases)  # fmt: skip
    return 0


def _phases(subject: object) -> dict[str, float]:
    """The parts of the build, each again on its own (client CPU seconds): reading the tables and the
    audit trail about the subject; the rest of the build is encoding and compressing."""
    from compliance.dsar import export

    phases = {}
    for label, step in (
        ("reading the tables", lambda: export._tables(subject)),
        ("who accessed (audit trail)", lambda: export.who_accessed(subject)),
    ):
        # As build_bundle runs them: with the cycle collector paused (else its collections, which
        # the build does not pay, would be counted here and taken off "the rest").
        with export._cycle_collection_paused():
            before = own_cpu_seconds()
            step()
            phases[label] = own_cpu_seconds() - before
    return phases


def _print(
    postings: int, counts: dict[str, int], *, built: float, size: int, encrypted: float, client_cpu: float,
    server_cpu: float | None, phases: dict[str, float],
) -> None:  # fmt: skip
    records = sum(counts.values())

    print(f"\nDSAR access export, subject with {postings} ledger postings (one run)")
    print(f"{'measure':<44} {'value':>12}")
    print(f"{'records exported (all tables)':<44} {records:>12}")
    for label, count in sorted(counts.items(), key=lambda item: -item[1])[:4]:
        print(f"{'  of which ' + label:<44} {count:>12}")
    print(f"{'collect + ZIP, seconds':<44} {built:>12.2f}")
    print(f"{'records/s':<44} {records / built:>12.0f}")
    print(f"{'bundle size, MB':<44} {size / 1e6:>12.2f}")
    print(f"{'AES-GCM encryption, seconds':<44} {encrypted:>12.3f}")
    print(f"{'client CPU seconds (collect + ZIP)':<44} {client_cpu:>12.2f}")
    for label, seconds in phases.items():
        print(f"{'  of which ' + label:<44} {seconds:>12.2f}")
    print(f"{'  of which JSON, CSV and ZIP (the rest)':<44} {client_cpu - sum(phases.values()):>12.2f}")
    print(f"{'server CPU seconds (its backend)':<44} {'-' if server_cpu is None else f'{server_cpu:.2f}':>12}")
    load = "/".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"{'load average (1/5/15 min) after':<44} {load:>12}")
    goal = 1.0
    print(f"{'goal: collect + ZIP <= 1 s':<44} {'met' if built <= goal else 'NOT met':>12}")


if __name__ == "__main__":
    sys.exit(main())

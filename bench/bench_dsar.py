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
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from bench_ledger import drop_database, scratch_database  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postings", type=int, default=10_000)
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
        started = time.perf_counter()
        plaintext, counts = build_bundle(subject=subject, dsar=dsar, generated_at=timezone.now())
        built = time.perf_counter() - started
        started = time.perf_counter()
        aead.encrypt(plaintext, associated_data=b"bench")
        encrypted = time.perf_counter() - started
        connections.close_all()
    finally:
        drop_database(parts, name)
    records = sum(counts.values())
    print(f"\nDSAR access export, subject with {args.postings} ledger postings (one run)")
    print(f"{'measure':<44} {'value':>12}")
    print(f"{'records exported (all tables)':<44} {records:>12}")
    for label, count in sorted(counts.items(), key=lambda item: -item[1])[:4]:
        print(f"{'  of which ' + label:<44} {count:>12}")
    print(f"{'collect + ZIP, seconds':<44} {built:>12.2f}")
    print(f"{'records/s':<44} {records / built:>12.0f}")
    print(f"{'bundle size, MB':<44} {len(plaintext) / 1e6:>12.2f}")
    print(f"{'AES-GCM encryption, seconds':<44} {encrypted:>12.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

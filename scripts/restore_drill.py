#!/usr/bin/env python3
# ruff: noqa: S311 - a seeded load, not cryptography
"""Restore drill (SPEC C9): base backup + WAL archive, then a point-in-time restore, checked.

    make restore-drill                            # or: .venv/bin/python scripts/restore_drill.py --json

On loopback, in a temporary directory, from this machine's PostgreSQL server binaries:

1. a primary with WAL archiving (``archive_mode=on``; ``archive_command`` copies each finished
   segment to the archive directory and refuses to overwrite one);
2. the app migrated and wallets funded through the real services; a **base backup**
   (``pg_basebackup``) taken while the app runs;
3. transfers (phase A), then a named restore point (``pg_create_restore_point``: the moment
   operations would pick before a bad deployment or an operator error), then more transfers
   (phase B); the last WAL segment is switched out and archived, and the primary is destroyed;
4. a new node restored from the base backup, replaying the archive up to the restore point
   (``recovery_target_name``) and promoted;
5. on it: every phase-A transfer is there, no phase-B transfer is, ``check_ledger`` passes
   (balances = Σ postings, Σ postings = 0) and the wallets hold exactly the money they held at
   the restore point.

Exit status 0 only if every check holds.
"""

from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench"), str(ROOT / "scripts")]

from failover_drill import setup_app  # noqa: E402 - after the path
from pg_cluster import copy_node, new_node, print_summary, server_bin  # noqa: E402


def transfers(plan: list, count: int, rng: random.Random, tag: str) -> list[tuple[str, int]]:
    from django.contrib.auth import get_user_model

    from ledger import services

    users = get_user_model().objects.in_bulk([pk for pk, _ in plan])
    made = []
    for _ in range(count):
        (source_user, source), (_, destination) = rng.sample(plan, 2)
        result = services.transfer_create(
            actor=users[source_user], source_account=source, destination_account=destination,
            amount=rng.randint(1, 5_000), currency="ZAR", idempotency_key=f"{tag}-{uuid.uuid4().hex}",
        )  # fmt: skip
        made.append((str(result.entry_public_id), result.from_balance_after))
    return made


def wait_archived(node, dbname: str) -> str:
    """Switch out the current WAL segment and wait until the archiver has copied it."""
    (segment,) = node.sql("SELECT pg_walfile_name(pg_switch_wal())", dbname)[0]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        (archived,) = node.sql("SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver", dbname)[0]
        if archived >= segment:
            return segment
        time.sleep(0.1)
    raise SystemExit(f"restore drill: segment {segment} was never archived")


def record_and_lose_primary(work: Path, archive: Path, args: argparse.Namespace) -> tuple:
    """Steps 1-3: archive, back up, transfer around a restore point, destroy the primary.

    Returns (node to restore into, phase-A transfers, phase-B transfers, base backup seconds).
    """
    from django.db import connections

    primary = new_node(
        work, "primary", wal_level="replica", archive_mode="on",
        archive_command=f"test ! -f {archive}/%f && cp %p {archive}/%f",
    )  # fmt: skip
    try:
        primary.start()
        primary.sql("CREATE DATABASE drill")
        plan = setup_app(f"postgres://postgres@127.0.0.1:{primary.port}/drill", args.wallets)
        backup = copy_node(primary, work, "restored")
        started = time.monotonic()
        primary.tool(
            "pg_basebackup", "-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres", "-D",
            str(backup.data), "-X", "stream", "--checkpoint", "fast",
        )  # fmt: skip
        backup_seconds = time.monotonic() - started
        rng = random.Random(7)
        phase_a = transfers(plan, args.before, rng, "restore-a")
        primary.sql("SELECT pg_create_restore_point('before_phase_b')", "drill")
        phase_b = transfers(plan, args.after, rng, "restore-b")
        wait_archived(primary, "drill")
        connections.close_all()
        primary.kill()  # the primary and its data directory are gone
        shutil.rmtree(primary.data)
    finally:
        primary.stop()
    return backup, phase_a, phase_b, backup_seconds


def restore(node, archive: Path) -> float:
    """Step 4: replay the archive onto the base backup up to the restore point, then promote."""
    node.configure(
        port=str(node.port), restore_command=f"cp {archive}/%f %p",
        recovery_target_name="before_phase_b", recovery_target_action="promote",
    )  # fmt: skip
    (node.data / "recovery.signal").touch()
    started = time.monotonic()
    node.start()
    while node.sql("SELECT pg_is_in_recovery()")[0][0]:
        if time.monotonic() - started > 120:
            raise SystemExit("restore drill: recovery did not finish within 120 s")
        time.sleep(0.1)
    return time.monotonic() - started


def verify(node, phase_a: list, phase_b: list, wallets: int) -> dict:
    """Step 5, through the app pointed at the restored node."""
    from bench_common import START_BALANCE
    from django.conf import settings
    from django.db import connections
    from django.db.models import Sum

    from ledger.models import AccountKind, LedgerAccount
    from ledger.reconciliation import check_ledger

    settings.DATABASES["default"]["PORT"] = node.port
    connections.close_all()
    ids = {str(public_id) for (public_id,) in node.sql("SELECT public_id FROM ledger_journalentry", "drill")}
    report = check_ledger()
    total = LedgerAccount.objects.filter(kind=AccountKind.CUSTOMER_WALLET).aggregate(total=Sum("balance"))["total"]
    connections.close_all()
    return {
        "phase_a_transfers": len(phase_a),
        "phase_a_restored": sum(1 for public_id, _ in phase_a if public_id in ids),
        "phase_b_transfers": len(phase_b),
        "phase_b_restored": sum(1 for public_id, _ in phase_b if public_id in ids),
        "ledger_ok": report.ok,
        "ledger_problems": report.problems[:5],
        "wallets_conserved": total == wallets * START_BALANCE,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--wallets", type=int, default=20)
    parser.add_argument("--before", type=int, default=300, help="transfers before the restore point")
    parser.add_argument("--after", type=int, default=200, help="transfers after it (must not come back)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = parser.parse_args(argv)

    server_bin()  # fail early, with one clear message, where there are no server binaries
    with tempfile.TemporaryDirectory(prefix="fintech-restore-") as folder:
        work, archive = Path(folder), Path(folder) / "archive"
        archive.mkdir()
        node, phase_a, phase_b, backup_seconds = record_and_lose_primary(work, archive, args)
        try:
            restore_seconds = restore(node, archive)
            summary = verify(node, phase_a, phase_b, args.wallets)
        finally:
            node.stop()
        summary.update(
            archived_segments=len(list(archive.iterdir())),
            base_backup_seconds=round(backup_seconds, 2),
            restore_seconds=round(restore_seconds, 2),
        )
    summary["ok"] = bool(
        summary["phase_a_restored"] == summary["phase_a_transfers"] > 0
        and summary["phase_b_restored"] == 0 and summary["ledger_ok"] and summary["wallets_conserved"]
    )  # fmt: skip
    return print_summary(summary, as_json=args.json)


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
# ruff: noqa: S311 - a seeded load, not cryptography
"""Failover drill (SPEC C9): kill the primary under load, promote the standby, prove nothing was lost.

    make drill                                    # or: .venv/bin/python scripts/failover_drill.py
    .venv/bin/python scripts/failover_drill.py --json --seconds 8

On loopback, in a temporary directory, from the PostgreSQL server binaries of this machine:

1. a primary and a streaming standby (``pg_basebackup``) with **synchronous replication**
   (``synchronous_standby_names``, ``synchronous_commit=on``): a commit is acknowledged only once
   the standby has flushed it, so an acknowledged transfer cannot be lost with the primary;
2. the app's schema migrated and wallets funded through the real services, the app connecting with
   the multi-host URL production uses (``postgres://…@primary,standby/db?target_session_attrs=
   read-write``);
3. worker processes calling ``ledger.services.transfer_create`` in a loop; a call that fails on a
   lost connection is retried with the *same* Idempotency-Key (exactly-once whatever happened to the
   first attempt) until it is acknowledged;
4. the primary is killed with SIGKILL (postmaster and backends: a lost machine), the standby is
   promoted (``pg_ctl promote``), and the workers carry on through the same URL;
   Before the kill, a report read (``kernel.db_router.reporting_reads``) is shown to run on the
   standby through ``DATABASE_REPLICA_URL``;
5. then, on the promoted node: every acknowledged transfer is there exactly once (RPO 0), the
   ledger's invariants hold (``check_ledger``: balances = Σ postings, Σ postings = 0), wallets
   still hold all the money, and writes resumed within the RTO target (default 30 s).

The promoted node runs without a synchronous standby (none is left): in production the runbook
attaches a new standby (docs/ARCHITECTURE.md); until then commits are durable on one node only.
Exit status 0 only if every check holds.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench"), str(ROOT / "scripts")]

from pg_cluster import Node, copy_node, new_node, print_summary, server_bin  # noqa: E402 - after the path


def build_pair(work: Path) -> tuple[Node, Node]:
    primary = new_node(
        work, "primary", wal_level="replica", max_wal_senders="4", wal_keep_size="256MB",
        synchronous_standby_names="standby1", synchronous_commit="on",
    )  # fmt: skip
    primary.start()
    standby = copy_node(primary, work, "standby")
    primary.tool(
        "pg_basebackup", "-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres", "-D", str(standby.data),
        "-X", "stream", "-R",
    )  # fmt: skip
    standby.configure(
        port=str(standby.port),
        primary_conninfo=f"host=127.0.0.1 port={primary.port} user=postgres application_name=standby1",
        # Once promoted there is no synchronous partner left; waiting for one would stop every commit.
        synchronous_standby_names="",
    )
    standby.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        state = primary.sql("SELECT sync_state FROM pg_stat_replication WHERE application_name = 'standby1'")
        if state and state[0][0] == "sync":
            return primary, standby
        time.sleep(0.2)
    raise SystemExit("failover drill: the standby never became a synchronous standby")


def setup_app(url: str, wallets: int, **environment: str) -> list[tuple[int, str]]:
    from bench_common import app_on

    return [(user.pk, wallet) for user, wallet in app_on(url, wallets, **environment)]


def report_reads_on_standby() -> bool:
    """Inside reporting_reads() the ORM reads the replica alias, and that is the hot standby."""
    from django.db import connections

    from compliance.models import AuditEvent
    from kernel.db_router import REPLICA, reporting_reads

    with reporting_reads():
        alias = AuditEvent.objects.all().db
        AuditEvent.objects.count()
    with connections[alias].cursor() as cursor:
        cursor.execute("SELECT pg_is_in_recovery()")
        on_standby = cursor.fetchone()[0]
    connections.close_all()
    return alias == REPLICA and on_standby is True


def _worker(seed: int, plan: list, until: float, results) -> None:
    from django.contrib.auth import get_user_model
    from django.db import DatabaseError, InterfaceError, connection

    from ledger import services
    from ledger.exceptions import LedgerError

    rng = random.Random(seed)
    users = None
    acknowledged, refused, failures, retried = [], 0, [], 0
    while time.time() < until:
        (source_user, source), (_, destination) = rng.sample(plan, 2)
        key, amount = f"drill-{seed}-{uuid.uuid4().hex}", rng.randint(1, 5_000)
        while time.time() < until:  # the same key until it is acknowledged (or the drill ends)
            attempt = time.time()
            try:
                users = users or get_user_model().objects.in_bulk([pk for pk, _ in plan])
                result = services.transfer_create(
                    actor=users[source_user], source_account=source, destination_account=destination,
                    amount=amount, currency="ZAR", idempotency_key=key,
                )  # fmt: skip
                acknowledged.append((str(result.entry_public_id), key, amount, time.time(), attempt))
                break
            except LedgerError:
                refused += 1
                break
            except (DatabaseError, InterfaceError) as error:
                # Connection lost or the node not writable (yet): reconnect through the URL and retry.
                failures.append((time.time(), type(error).__name__))
                retried += 1
                with contextlib.suppress(Exception):
                    connection.close()
                time.sleep(0.1)
    results.put({"acknowledged": acknowledged, "refused": refused, "failures": failures, "retried": retried})


def run_load(plan: list, args: argparse.Namespace, primary: Node, standby: Node) -> dict:
    workers, seconds, kill_after = args.workers, args.seconds, args.kill_after
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    until = time.time() + seconds
    processes = [context.Process(target=_worker, args=(n, plan, until, results)) for n in range(workers)]
    for process in processes:
        process.start()
    time.sleep(kill_after)
    primary.kill()
    killed_at = time.time()  # after every process of the primary is gone
    standby.tool("pg_ctl", "-D", str(standby.data), "-w", "-t", "60", "promote")
    promoted_at = time.time()
    outcomes = [results.get(timeout=seconds + 120) for _ in processes]
    for process in processes:
        process.join(timeout=30)
    acknowledged = [ack for outcome in outcomes for ack in outcome["acknowledged"]]
    # Writes have resumed when a call *started* after the kill is acknowledged (a call answered just
    # after the kill may have been served by the old primary a moment before it died).
    after = [ack[3] for ack in acknowledged if ack[4] > killed_at]
    return {
        "acknowledged": acknowledged,
        "refused": sum(o["refused"] for o in outcomes),
        "retried": sum(o["retried"] for o in outcomes),
        "killed_at": killed_at,
        "promoted_at": promoted_at,
        "before_kill": sum(1 for ack in acknowledged if ack[3] <= killed_at),
        "rto_seconds": (min(after) - killed_at) if after else None,
    }


def verify(standby: Node, dbname: str, load: dict, wallets: int, start_balance: int) -> dict:
    from django.db import connections

    from ledger.reconciliation import check_ledger

    connections.close_all()
    stored = {
        str(public_id): (key, amount)
        for public_id, key, amount in standby.sql(
            "SELECT public_id, idempotency_key, amount FROM ledger_journalentry WHERE idempotency_key LIKE 'drill-%'",
            dbname,
        )
    }
    missing = [ack for ack in load["acknowledged"] if stored.get(ack[0]) != (ack[1], ack[2])]
    keys = [key for key, _ in stored.values()]
    report = check_ledger()  # through the app's multi-host URL: it must land on the promoted node
    (wallet_total,) = standby.sql(
        "SELECT coalesce(sum(balance), 0) FROM ledger_ledgeraccount WHERE kind = 'customer_wallet'", dbname
    )[0]
    return {
        "lost_acknowledged": len(missing),
        "duplicate_keys": len(keys) - len(set(keys)),
        "ledger_ok": report.ok,
        "ledger_problems": report.problems[:5],
        "wallets_conserved": int(wallet_total) == wallets * start_balance,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10, help="length of the load (default 10)")
    parser.add_argument("--kill-after", type=float, default=3, help="kill the primary after this many seconds")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--wallets", type=int, default=30)
    parser.add_argument("--rto-target", type=float, default=30, help="seconds within which writes must resume")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = parser.parse_args(argv)

    server_bin()  # fail early, with one clear message, where there are no server binaries
    with tempfile.TemporaryDirectory(prefix="fintech-drill-") as folder:
        work = Path(folder)
        primary, standby = build_pair(work)
        try:
            primary.sql("CREATE DATABASE drill")
            url = (
                f"postgres://postgres@127.0.0.1:{primary.port},127.0.0.1:{standby.port}/drill"
                "?target_session_attrs=read-write"
            )
            replica = f"postgres://postgres@127.0.0.1:{standby.port}/drill"
            plan = setup_app(url, args.wallets, DATABASE_REPLICA_URL=replica)
            reports_on_standby = report_reads_on_standby()
            from bench_common import START_BALANCE

            load = run_load(plan, args, primary, standby)
            checks = verify(standby, "drill", load, args.wallets, START_BALANCE)
        finally:
            primary.stop()
            standby.stop()
    rto = load["rto_seconds"]
    summary = {
        "acknowledged": len(load["acknowledged"]),
        "acknowledged_before_kill": load["before_kill"],
        "retried_calls": load["retried"],
        "refused": load["refused"],
        "promote_seconds": round(load["promoted_at"] - load["killed_at"], 2),
        "rto_seconds": None if rto is None else round(rto, 2),
        "rto_target_seconds": args.rto_target,
        "report_reads_on_standby": reports_on_standby,
        **checks,
    }
    summary["ok"] = bool(
        checks["lost_acknowledged"] == 0 and checks["duplicate_keys"] == 0 and checks["ledger_ok"]
        and checks["wallets_conserved"] and rto is not None and rto <= args.rto_target
        and load["before_kill"] > 0 and reports_on_standby
    )  # fmt: skip
    return print_summary(summary, as_json=args.json)


if __name__ == "__main__":
    sys.exit(main())

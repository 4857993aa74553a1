#!/usr/bin/env python3
"""Database failover drill on Patroni (SPEC C9, issue 18): nothing in here promotes anything.

    make drill-db                 # or: .venv/bin/python scripts/failover_drill.py [--json]

On loopback, in a temporary directory (scripts/patroni_cluster.py): etcd, three PostgreSQL nodes
run by Patroni (``synchronous_mode``, ``use_pg_rewind``; deploy/patroni/patroni.yml) and HAProxy
sending writes to the leader by Patroni's REST check ``/primary`` (deploy/haproxy/haproxy.cfg).
The app runs under gunicorn with DATABASE_URL at HAProxy's write port, and client processes
POST transfers through HTTP with an Idempotency-Key, retrying a 503 or an unanswered request
with the same key. Then:

1. **kill**: the leader machine is lost (Patroni and PostgreSQL SIGKILLed together). Patroni
   detects it (the leader key expires after ``ttl``), promotes a synchronous standby, HAProxy
   follows; the drill only watches. RTO = from the failure (detection included) to the first
   acknowledged write whose request started after it;
2. the lost node comes back (its Patroni restarted): it rewinds (``pg_rewind``) and rejoins; the
   drill waits until it is a synchronous standby again;
3. **stop**: the new leader hangs (SIGSTOP: its connections stay open, nothing answers) — the
   second failover. Afterwards the hung node is resumed and must demote itself and rejoin.

Then, on the final leader: every acknowledged transfer is there exactly once with its amount
(RPO 0); every request whose outcome the client never learnt is retried with its key and is
applied at most once; ``check_ledger`` and the audit chain verification pass; wallets still hold
all the money; no error answer was outside the JSON error shape. Exit 0 only if all of it holds.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench"), str(ROOT / "scripts")]

import http_load  # noqa: E402 - after the path
from ops_tools import missing  # noqa: E402
from patroni_cluster import PatroniCluster  # noqa: E402
from pg_cluster import print_summary, server_bin  # noqa: E402
from with_services import free_port  # noqa: E402


def inject(cluster: PatroniCluster, how: str, log: list[dict]) -> dict:
    """Fail the current leader ``how`` ("kill" or "stop"); watch Patroni replace it."""
    leader = cluster.leader()
    if leader is None:
        raise SystemExit("failover drill: no leader before the failure")
    leader.kill() if how == "kill" else leader.freeze()
    failed_at = time.time()  # every process of the node is dead (or stopped) from here on
    cluster.wait_for(lambda: (new := cluster.leader()) is not None and new is not leader, 90, "a new leader")
    elected = time.time() - failed_at
    phase = {"how": how, "failed": leader.name, "failed_at": failed_at, "leader_elected_seconds": round(elected, 2)}
    phase["new_leader"] = cluster.leader().name
    log.append(phase)
    return phase


def rejoin(cluster: PatroniCluster, phase: dict) -> None:
    """The failed node comes back (restarted, or resumed) and must rejoin as a streaming standby."""
    node = next(node for node in cluster.nodes if node.name == phase["failed"])
    started = time.monotonic()
    if phase["how"] == "kill":
        node.start(cluster.environment)
    else:
        node.thaw()
    cluster.wait_for(
        lambda: cluster.role_of(node) == "sync_standby" and cluster.streaming() == cluster.size - 1,
        120, f"{node.name} to rejoin as a synchronous standby",
    )  # fmt: skip
    phase["rejoined_seconds"] = round(time.monotonic() - started, 2)
    phase["rejoined_as"] = cluster.role_of(node)


def choreography(cluster: PatroniCluster, args: argparse.Namespace, log: list[dict]):
    def run(_sent) -> None:
        for number, how in enumerate(args.phases.split(",")):
            time.sleep(args.load_before if number == 0 else 1.5)
            phase = inject(cluster, how, log)
            time.sleep(args.load_after)  # writes resume on the new leader under load
            rejoin(cluster, phase)
        time.sleep(1.5)  # and go on after the last rejoin

    return run


def report_reads_on_a_replica() -> bool:
    """Inside reporting_reads() the ORM reads the replica alias: HAProxy's read port, a standby."""
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


def first_write_after(acknowledged: list[dict], moment: float) -> float | None:
    """The first acknowledged write whose successful attempt started after ``moment``."""
    after = [ack["at"] for ack in acknowledged if ack["started"] > moment]
    return min(after) if after else None


def settle_unknown(port: int, unknown: list[dict]) -> int:
    """Retry every request whose outcome the client never learnt, with its key: 201 each."""
    answered = 0
    for item in unknown:
        for _ in range(20):
            status, _headers, _body = http_load.transfer(
                port, item["payer"], item["payee"], item["amount"], item["key"]
            )
            if status == 201:
                answered += 1
                break
            time.sleep(0.5)
    return answered


def verify(cluster: PatroniCluster, load: dict, wallets: int) -> dict:
    from bench_common import START_BALANCE
    from django.db import connections
    from django.db.models import Count, Sum

    from compliance.audit.chain import seal_and_export_head, verify_and_alert
    from ledger.models import AccountKind, JournalEntry, LedgerAccount
    from ledger.reconciliation import check_ledger

    connections.close_all()  # through HAProxy's write port: the final leader
    keys = [ack["key"] for ack in load["acknowledged"]] + [item["key"] for item in load["unknown"]]
    stored = {
        row["idempotency_key"]: row
        for row in JournalEntry.objects.filter(idempotency_key__in=keys)
        .values("idempotency_key").annotate(rows=Count("id"), public_id=Count("public_id"))
    }  # fmt: skip
    entries = dict(JournalEntry.objects.filter(idempotency_key__in=keys).values_list("idempotency_key", "public_id"))
    lost = [ack for ack in load["acknowledged"] if str(entries.get(ack["key"])) != ack["id"]]
    twice = [key for key, row in stored.items() if row["rows"] > 1]
    unknown_applied = sum(1 for item in load["unknown"] if item["key"] in stored)
    report = check_ledger()
    seal_and_export_head(force_head=True)
    chain = verify_and_alert()
    total = LedgerAccount.objects.filter(kind=AccountKind.CUSTOMER_WALLET).aggregate(total=Sum("balance"))["total"]
    connections.close_all()
    return {
        "lost_acknowledged": len(lost),
        "applied_twice": len(twice),
        "unknown_outcome": len(load["unknown"]),
        "unknown_applied_once": unknown_applied,
        "ledger_ok": report.ok,
        "ledger_problems": report.problems[:5],
        "audit_chain_ok": chain.ok,
        "wallets_conserved": total == wallets * START_BALANCE,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--phases", default="kill,stop", help="failures in order: kill (SIGKILL) / stop (SIGSTOP)")
    parser.add_argument("--load-before", type=float, default=4, help="seconds of load before the first failure")
    parser.add_argument("--load-after", type=float, default=4, help="seconds of load after each promotion")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=3, help="gunicorn workers")
    parser.add_argument("--wallets", type=int, default=30)
    parser.add_argument("--rto-target", type=float, default=25, help="seconds, failure to first write (goal 25)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = parser.parse_args(argv)

    absent = missing("db")
    if absent:
        raise SystemExit(f"failover drill: missing {', '.join(absent)} (scripts/ops_tools.py install db)")
    server_bin()
    with tempfile.TemporaryDirectory(prefix="fintech-drill-db-") as folder:
        work = Path(folder)
        cluster = PatroniCluster(work, size=3)
        gunicorn = None
        try:
            cluster.start()
            cluster.sql(cluster.leader(), "CREATE DATABASE drill")
            environment = http_load.app_environment(
                f"{cluster.write_url}/drill", work, DATABASE_REPLICA_URL=f"{cluster.read_url}/drill"
            )
            customers = http_load.prepare(environment, args.wallets)
            reports_on_replica = report_reads_on_a_replica()
            port = free_port()
            gunicorn = http_load.serve(environment, port, workers=args.workers, log=work / "gunicorn.log")
            phases: list[dict] = []
            seconds = args.load_before + 200 * len(args.phases.split(","))  # bounded; ends with the choreography
            load = http_load.run_clients(
                [port], customers, seconds, args.clients, during=choreography(cluster, args, phases)
            )
            load["unknown_settled"] = settle_unknown(port, load["unknown"])
            checks = verify(cluster, load, args.wallets)
        finally:
            if gunicorn:
                gunicorn.terminate()
                gunicorn.wait(timeout=30)
            cluster.stop()
    for phase in phases:
        first = first_write_after(load["acknowledged"], phase["failed_at"])
        phase["rto_first_write_seconds"] = None if first is None else round(first - phase["failed_at"], 2)
    summary = {
        "acknowledged": len(load["acknowledged"]),
        "statuses": load["statuses"],
        "errors_not_json": len(load["not_json"]),
        **checks,
        "unknown_settled": load["unknown_settled"],
        **{
            f"phase{n}_{key}": value
            for n, phase in enumerate(phases, 1)
            for key, value in phase.items()
            if key != "failed_at"
        },
        "rto_target_seconds": args.rto_target,
        "report_reads_on_a_replica": reports_on_replica,
    }
    summary["ok"] = bool(
        summary["acknowledged"] > 0 and reports_on_replica
        and checks["lost_acknowledged"] == 0 and checks["applied_twice"] == 0
        and checks["ledger_ok"] and checks["audit_chain_ok"] and checks["wallets_conserved"]
        and summary["errors_not_json"] == 0 and load["unknown_settled"] == len(load["unknown"])
        and len(phases) == len(args.phases.split(","))
        and all(p["rto_first_write_seconds"] is not None and p["rto_first_write_seconds"] <= args.rto_target
                for p in phases)
    )  # fmt: skip
    return print_summary(summary, as_json=args.json)


if __name__ == "__main__":
    sys.exit(main())

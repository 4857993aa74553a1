#!/usr/bin/env python3
"""Load-balancer drill (SPEC C9, issue 18): one of two app servers killed under load, 0 requests lost.

    make drill-lb                 # or: scripts/with_services.py -- .venv/bin/python scripts/lb_drill.py

In a scratch database beside DATABASE_URL's (dropped afterwards): two gunicorn instances of the
app on loopback behind nginx configured from deploy/nginx/nginx.conf (passive health checks,
``proxy_next_upstream error timeout http_502 http_503 non_idempotent``). Client processes POST
transfers through nginx, each with an Idempotency-Key; once a share of the requests is done, one
instance is SIGKILLed (master and workers: the machine is gone). The drill prints the requests
that failed as the client saw them (goal: 0 of at least 2,000), p99 latency before and after the
kill, and checks that every error answer was the JSON error shape, that every acknowledged
transfer is in the ledger exactly once, and that ``check_ledger`` passes.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench"), str(ROOT / "scripts")]

import http_load  # noqa: E402 - after the path
from ops_tools import missing  # noqa: E402
from patroni_cluster import render  # noqa: E402
from pg_cluster import print_summary  # noqa: E402
from with_services import free_port  # noqa: E402


def start_nginx(work: Path, port: int, upstreams: list[int]) -> subprocess.Popen:
    (work / "nginx").mkdir()
    config = work / "nginx" / "nginx.conf"
    config.write_text(
        render(
            ROOT / "deploy" / "nginx" / "nginx.conf",
            WORKER_PROCESSES="1",
            PID_FILE=str(work / "nginx" / "nginx.pid"),
            ERROR_LOG=str(work / "nginx" / "error.log"),
            TEMP_DIR=str(work / "nginx"),
            LISTEN=f"127.0.0.1:{port}",
            UPSTREAM_SERVERS="\n".join(
                f"        server 127.0.0.1:{up} max_fails=1 fail_timeout=10s;" for up in upstreams
            ),
        )
    )
    subprocess.run(["nginx", "-t", "-q", "-p", str(work / "nginx"), "-c", str(config)], check=True)
    nginx = subprocess.Popen(["nginx", "-p", str(work / "nginx"), "-c", str(config), "-g", "daemon off;"])
    http_load.wait_healthy(port, nginx)
    return nginx


def kill_instance(server: subprocess.Popen) -> None:
    workers = subprocess.run(["pgrep", "-P", str(server.pid)], check=False, capture_output=True, text=True)
    for pid in [server.pid, *map(int, workers.stdout.split())]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    server.wait(timeout=10)


def settle_unknown(port: int, unknown: list[dict]) -> int:
    """Retry every request whose outcome the client never learnt, with its key: 201 each."""
    answered = 0
    for item in unknown:
        for _ in range(20):
            if http_load.transfer(port, item["payer"], item["payee"], item["amount"], item["key"])[0] == 201:
                answered += 1
                break
            time.sleep(0.5)
    return answered


def verify(load: dict) -> dict:
    from django.db import connections

    from ledger.models import JournalEntry
    from ledger.reconciliation import check_ledger

    connections.close_all()
    keys = [ack["key"] for ack in load["acknowledged"]] + [item["key"] for item in load["unknown"]]
    rows = list(JournalEntry.objects.filter(idempotency_key__in=keys).values_list("idempotency_key", "public_id"))
    stored = dict(rows)
    lost = sum(1 for ack in load["acknowledged"] if str(stored.get(ack["key"])) != ack["id"])
    report = check_ledger()
    connections.close_all()
    return {"lost_acknowledged": lost, "applied_twice": len(rows) - len(stored), "ledger_ok": report.ok}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000, help="transfer requests to send (default 2000)")
    parser.add_argument("--kill-at", type=float, default=0.4, help="kill an instance after this share of them")
    parser.add_argument("--clients", type=int, default=6)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers per instance")
    parser.add_argument("--wallets", type=int, default=40)
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = parser.parse_args(argv)

    absent = missing("lb")
    if absent:
        raise SystemExit(f"lb drill: missing {', '.join(absent)} (scripts/ops_tools.py install lb)")
    from bench_ledger import drop_database, scratch_database

    parts, name, url = scratch_database("lb")
    servers: list[subprocess.Popen] = []
    nginx = None
    try:
        with tempfile.TemporaryDirectory(prefix="fintech-drill-lb-") as folder:
            work = Path(folder)
            environment = http_load.app_environment(url, work)
            customers = http_load.prepare(environment, args.wallets)
            ports = [free_port(), free_port()]
            servers = [http_load.serve(environment, port, workers=args.workers, log=work / f"gunicorn-{port}.log")
                       for port in ports]  # fmt: skip
            front = free_port()
            nginx = start_nginx(work, front, ports)

            def choreography(sent) -> dict:
                while sent.value < args.requests * args.kill_at:
                    time.sleep(0.01)
                killed_at = time.time()
                kill_instance(servers[0])
                while sent.value < args.requests:
                    time.sleep(0.01)
                return {"killed_at": killed_at}

            load = http_load.run_clients([front], customers, 600, args.clients, pause=0.05, during=choreography)
            load["unknown_settled"] = settle_unknown(front, load["unknown"])
            checks = verify(load)
    finally:
        for process in [nginx, *servers]:
            if process and process.poll() is None:
                process.terminate()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    process.wait(timeout=15)
        from django.db import connections

        connections.close_all()
        drop_database(parts, name)
    killed_at = load["during"]["killed_at"]
    before = [ack["latency"] for ack in load["acknowledged"] if ack["started"] < killed_at]
    after = [ack["latency"] for ack in load["acknowledged"] if ack["started"] >= killed_at]
    summary = {
        "requests": load["sent"],
        "failed_requests": len(load["failures"]) + len(load["refused"]),
        # How each failure looked to the client: a status, or the exception of a missing or cut-off answer.
        "failure_kinds": sorted(
            {kind for _, kind in load["failures"]} | {str(status) for status, _ in load["refused"]}
        ),
        "unknown_outcome": len(load["unknown"]),
        "unknown_settled": load["unknown_settled"],
        "acknowledged": len(load["acknowledged"]),
        "statuses": load["statuses"],
        "errors_not_json": len(load["not_json"]),
        "p99_before_kill_ms": http_load.p99_ms(before),
        "p99_after_kill_ms": http_load.p99_ms(after),
        "acknowledged_after_kill": len(after),
        **checks,
    }
    summary["ok"] = bool(
        summary["requests"] >= args.requests and summary["failed_requests"] == 0 and summary["errors_not_json"] == 0
        and checks["lost_acknowledged"] == 0 and checks["applied_twice"] == 0 and checks["ledger_ok"] and len(after) > 0
        and load["unknown_settled"] == len(load["unknown"])
    )  # fmt: skip
    return print_summary(summary, as_json=args.json)


if __name__ == "__main__":
    sys.exit(main())

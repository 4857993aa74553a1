#!/usr/bin/env python3
# ruff: noqa: S311, S603 - a seeded load; gunicorn from this virtualenv
"""API benchmark (SPEC C11): the transfer API through gunicorn against a trivial JSON endpoint.

    .venv/bin/python scripts/with_services.py -- .venv/bin/python bench/bench_api.py [-d 10]

In a scratch database (``<db>_bench_api``, dropped afterwards), wallets of verified customers are
funded through the services and each customer gets a real access token with a recent MFA. Then
gunicorn serves the app as the Dockerfile runs it (``--config python:fintech.gunicorn_conf``,
whose worker class and count are the defaults here; ``--workers``/``--threads`` to compare others;
DEBUG off, the production log level INFO with the JSON access line of every request built,
filtered, redacted and written to /dev/null, throttles raised so they never refuse) and
``--clients`` (default 16) client processes send requests for ``-d`` seconds per row, a new
connection per request:

- ``GET /healthz``: the trivial JSON endpoint (no I/O): the server's ceiling for any request;
- ``POST /api/v1/transfers/``: JWT authentication, step-up check, validation, one ledger call;
- ``POST /api/v1/transfers/batch/``: 20 transfers per request (ops/s counts requests and
  transfers).

Rows print requests/s, the ratio to /healthz, p50/p99 latency, and the CPU milliseconds per
request of the gunicorn processes (app), the PostgreSQL backends serving them (db, from
/proc/<pid>/stat) and the client processes. Then the goal of issue 19 for the transfer row
(>= 0.5x /healthz and p99 <= 50 ms at 16 clients) as met / NOT met, with the bound the CPU costs
set: client and server share the machine's cores, so a row's requests/s cannot exceed
``cores x 1000 / (app + db + client ms)`` and the ratio follows the ratio of those sums. Read the
ratio and the CPU per request, not the absolute figures. The load average is printed before and
after.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import random
import resource
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench"), str(ROOT / "scripts")]

from bench_ledger import _poll_backends, drop_database, process_cpu_seconds, scratch_database  # noqa: E402
from with_services import free_port  # noqa: E402

BATCH = 20
# Issue 19's goal for one transfer per request, at 16 concurrent clients.
GOAL_RATIO, GOAL_P99_MS, GOAL_CLIENTS = 0.5, 50.0, 16


def prepare(url: str, wallets: int) -> list[dict]:
    """Migrate, fund ``wallets`` verified customers, and mint each an access token (recent MFA)."""
    from bench_common import app_on

    plan = app_on(url, wallets)  # sets Django up: imports of the app come after
    from accounts.tokens import token_pair_for

    now = int(time.time())
    return [{"token": token_pair_for(user, mfa_at=now)["access"], "wallet": wallet} for user, wallet in plan]


def serve(url: str, port: int, extra: list[str]) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": "fintech.settings.dev",
        "API_THROTTLE_USER": "1000000/min",
        "LOG_LEVEL": "INFO",
    }
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "--config", "python:fintech.gunicorn_conf",
         "fintech.wsgi:application", "--bind", f"127.0.0.1:{port}", "--timeout", "30", *extra],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if _call(port, "GET", "/healthz", None, {})[0] == 200:
                return server
        except OSError:
            time.sleep(0.2)
    server.terminate()
    raise SystemExit("bench_api: gunicorn did not answer /healthz within 60 s")


def backend_cpu_seconds(parts: dict[str, str], name: str) -> dict[int, float]:
    import psycopg

    with psycopg.connect(
        host=parts["host"], port=parts["port"], user=parts["user"], password=parts["password"] or None,
        dbname="postgres", autocommit=True,
    ) as conn:  # fmt: skip
        pids = [pid for (pid,) in conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", [name])]
    return {pid: value for pid in pids if (value := process_cpu_seconds(pid)) is not None}


def server_cpu_seconds(master: int) -> float:
    """CPU seconds of the gunicorn master and its current workers."""
    try:
        listed = Path(f"/proc/{master}/task/{master}/children").read_text()
    except OSError:
        listed = ""
    return sum(process_cpu_seconds(pid) or 0.0 for pid in [master, *map(int, listed.split())])


def _call(port: int, method: str, path: str, body: dict | None, headers: dict) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        payload = json.dumps(body) if body is not None else None
        connection.request(method, path, body=payload, headers={"Content-Type": "application/json", **headers})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def _request(kind: str, customers: list[dict], rng: random.Random) -> tuple[str, str, dict | None, dict]:
    if kind == "healthz":
        return "GET", "/healthz", None, {}
    payer, *payees = rng.sample(customers, 1 + (BATCH if kind == "batch" else 1))
    headers = {"Authorization": f"Bearer {payer['token']}"}
    items = [
        {"source_account": payer["wallet"], "destination_account": payee["wallet"], "amount": rng.randint(1, 1_000),
         "currency": "ZAR", "idempotency_key": uuid.uuid4().hex}
        for payee in payees
    ]  # fmt: skip
    if kind == "batch":
        return "POST", "/api/v1/transfers/batch/", {"transfers": items}, headers
    key = items[0].pop("idempotency_key")
    return "POST", "/api/v1/transfers/", items[0], {**headers, "Idempotency-Key": key}


def _client(kind: str, port: int, customers: list[dict], seconds: float, seed: int, results) -> None:  # noqa: PLR0917
    rng = random.Random(seed)
    latencies, failures = [], 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        method, path, body, headers = _request(kind, customers, rng)
        started = time.perf_counter()
        status, _ = _call(port, method, path, body, headers)
        if status in (200, 201):
            latencies.append(time.perf_counter() - started)
        else:
            failures += 1
    results.put((latencies, failures))


def run_row(kind: str, port: int, customers: list[dict], clients: int, seconds: float, server: dict) -> dict:  # noqa: PLR0917
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    processes = [
        context.Process(target=_client, args=(kind, port, customers, seconds, n, results)) for n in range(clients)
    ]
    # Every backend's CPU before the row, read to completion before any client starts; a backend
    # first seen during the row (a new connection) counts from zero.
    backends_before = backend_cpu_seconds(server["parts"], server["name"])
    backends: dict[int, float] = dict(backends_before)
    stop = threading.Event()
    poller = threading.Thread(target=_poll_backends, args=(server["parts"], server["name"], stop, backends))
    poller.start()
    app_before = server_cpu_seconds(server["pid"])
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=seconds + 120) for _ in processes]
    for process in processes:
        process.join()
    app_seconds = server_cpu_seconds(server["pid"]) - app_before
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    stop.set()
    poller.join()
    latencies = sorted(latency for outcome in outcomes for latency in outcome[0])
    quantiles = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    answered = max(len(latencies), 1)
    client_seconds = (children.ru_utime + children.ru_stime) - (children_before.ru_utime + children_before.ru_stime)
    db_seconds = sum(value - backends_before.get(pid, 0.0) for pid, value in backends.items())
    return {
        "requests": len(latencies) / seconds,
        "failures": sum(outcome[1] for outcome in outcomes),
        "p50_ms": 1000 * quantiles[49],
        "p99_ms": 1000 * quantiles[98],
        "app_ms": 1000 * app_seconds / answered,
        "db_ms": 1000 * db_seconds / answered,
        "client_ms": 1000 * client_seconds / answered,
    }


def _load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-d", "--duration", type=float, default=10, help="seconds per row (default 10)")
    parser.add_argument("--clients", type=int, default=GOAL_CLIENTS, help="concurrent client processes")
    parser.add_argument("--wallets", type=int, default=200)
    parser.add_argument("--workers", type=int, help="gunicorn workers (default: fintech/gunicorn_conf.py)")
    parser.add_argument("--threads", type=int, help="gunicorn threads per worker (>1: gthread workers)")
    parser.add_argument("--rounds", type=int, default=1, help="alternate the healthz and transfer rows N times")
    args = parser.parse_args()
    extra = [*(["--workers", str(args.workers)] if args.workers else []),
             *(["--threads", str(args.threads)] if args.threads else [])]  # fmt: skip
    parts, name, url = scratch_database("api")
    server = None
    rows: dict[str, list[dict]] = {"healthz": [], "transfer": [], "batch": []}
    load_before = _load()
    try:
        customers = prepare(url, args.wallets)
        port = free_port()
        server = serve(url, port, extra)
        context = {"pid": server.pid, "parts": parts, "name": name}
        run_row("healthz", port, customers, args.clients, 1, context)  # warm every worker up
        for _ in range(args.rounds):
            for kind in ("healthz", "transfer"):
                rows[kind].append(run_row(kind, port, customers, args.clients, args.duration, context))
        rows["batch"].append(run_row("batch", port, customers, args.clients, args.duration, context))
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        from django.db import connections

        connections.close_all()
        drop_database(parts, name)
    return report(rows, args, extra, load_before)


def report(rows: dict[str, list[dict]], args: argparse.Namespace, extra: list[str], load_before: str) -> int:
    from fintech import gunicorn_conf

    workers = args.workers or gunicorn_conf.workers
    threads = args.threads or gunicorn_conf.threads
    kind_of_worker = f"{workers} gthread workers x {threads} threads" if threads > 1 else f"{workers} sync workers"
    print(f"\nAPI through gunicorn ({kind_of_worker}), {args.clients} clients, {args.duration:.0f} s per row, "
          f"{os.cpu_count()} cores; load average {load_before} before, {_load()} after")  # fmt: skip
    print(f"{'request':<40} {'req/s':>7} {'vs healthz':>10} {'p50 ms':>7} {'p99 ms':>7} {'failed':>6} "
          f"{'CPU ms/req: app':>15} {'db':>5} {'client':>6}")  # fmt: skip
    labels = {"healthz": "GET /healthz (trivial JSON)", "transfer": "POST /api/v1/transfers/",
              "batch": f"POST /api/v1/transfers/batch/ ({BATCH}/req)"}  # fmt: skip
    lines = [(kind, row, health["requests"]) for health, transfer in zip(rows["healthz"], rows["transfer"], strict=True)
             for kind, row in (("healthz", health), ("transfer", transfer))]  # fmt: skip
    lines += [("batch", row, rows["healthz"][-1]["requests"]) for row in rows["batch"]]
    for kind, row, baseline in lines:
        print(
            f"{labels[kind]:<40} {row['requests']:>7.0f} {row['requests'] / (baseline or 1.0):>9.2f}x "
            f"{row['p50_ms']:>7.1f} {row['p99_ms']:>7.1f} {row['failures']:>6} "
            f"{row['app_ms']:>15.2f} {row['db_ms']:>5.2f} {row['client_ms']:>6.2f}"
        )
    print(f"bulk transfers/s through the API: {rows['batch'][-1]['requests'] * BATCH:.0f}")
    for health, transfer in zip(rows["healthz"], rows["transfer"], strict=True):
        ratio = transfer["requests"] / (health["requests"] or 1.0)
        met = ratio >= GOAL_RATIO and transfer["p99_ms"] <= GOAL_P99_MS and args.clients == GOAL_CLIENTS
        costs = [sum(row[key] for key in ("app_ms", "db_ms", "client_ms")) for row in (health, transfer)]
        print(
            f"goal (transfer >= {GOAL_RATIO}x /healthz, p99 <= {GOAL_P99_MS:.0f} ms at {GOAL_CLIENTS} clients): "
            f"{ratio:.2f}x, p99 {transfer['p99_ms']:.1f} ms -> {'met' if met else 'NOT met'}; CPU per request "
            f"(app + db + client) healthz {costs[0]:.2f} ms, transfer {costs[1]:.2f} ms: bound "
            f"{costs[0] / (costs[1] or 1.0):.2f}x, server side alone {transfer['app_ms'] + transfer['db_ms']:.2f} "
            f"vs {health['app_ms'] + health['db_ms']:.2f} ms"
        )
    return 0 if all(row["failures"] == 0 for found in rows.values() for row in found) else 1


if __name__ == "__main__":
    sys.exit(main())

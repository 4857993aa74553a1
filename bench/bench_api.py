#!/usr/bin/env python3
# ruff: noqa: S311, S603 - a seeded load; gunicorn from this virtualenv
"""API benchmark (SPEC C11): the transfer API through gunicorn against a trivial JSON endpoint.

    .venv/bin/python scripts/with_services.py -- .venv/bin/python bench/bench_api.py [-d 10]

In a scratch database (``<db>_bench_api``, dropped afterwards), wallets of verified customers are
funded through the services and each customer gets a real access token with a recent MFA. Then
gunicorn serves the app (the Dockerfile's command: sync workers, ``--workers 4``; DEBUG off, JSON
logs to /dev/null, throttles raised so they never refuse) and N client processes send requests
for ``-d`` seconds per row, a new connection per request (sync workers close them):

- ``GET /healthz``: the trivial JSON endpoint (no I/O): the server's ceiling for any request;
- ``POST /api/v1/transfers/``: JWT authentication, step-up check, validation, one ledger call;
- ``POST /api/v1/transfers/batch/``: 20 transfers per request (ops/s counts requests and
  transfers).

Rows print requests/s, the ratio to /healthz, and p50/p99 latency. Client and server share the
machine's cores: read the ratio, not the absolute figures.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import random
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench"), str(ROOT / "scripts")]

from bench_ledger import drop_database, scratch_database  # noqa: E402
from with_services import free_port  # noqa: E402

BATCH = 20


def prepare(url: str, wallets: int) -> list[dict]:
    """Migrate, fund ``wallets`` verified customers, and mint each an access token (recent MFA)."""
    from bench_common import app_on

    plan = app_on(url, wallets)  # sets Django up: imports of the app come after
    from accounts.tokens import token_pair_for

    now = int(time.time())
    return [{"token": token_pair_for(user, mfa_at=now)["access"], "wallet": wallet} for user, wallet in plan]


def serve(url: str, port: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "DJANGO_SETTINGS_MODULE": "fintech.settings.dev",
        "API_THROTTLE_USER": "1000000/min",
        "LOG_LEVEL": "WARNING",
    }
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "fintech.wsgi:application", "--bind", f"127.0.0.1:{port}",
         "--workers", "4", "--timeout", "30"],
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


def run_row(kind: str, port: int, customers: list[dict], clients: int, seconds: float) -> dict:
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    processes = [
        context.Process(target=_client, args=(kind, port, customers, seconds, n, results)) for n in range(clients)
    ]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=seconds + 120) for _ in processes]
    for process in processes:
        process.join()
    latencies = sorted(latency for outcome in outcomes for latency in outcome[0])
    quantiles = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [0.0] * 99
    return {
        "requests": len(latencies) / seconds,
        "failures": sum(outcome[1] for outcome in outcomes),
        "p50_ms": 1000 * quantiles[49],
        "p99_ms": 1000 * quantiles[98],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-d", "--duration", type=float, default=10, help="seconds per row (default 10)")
    parser.add_argument("--clients", type=int, default=8, help="concurrent client processes")
    parser.add_argument("--wallets", type=int, default=200)
    args = parser.parse_args()
    parts, name, url = scratch_database("api")
    server = None
    try:
        customers = prepare(url, args.wallets)
        port = free_port()
        server = serve(url, port)
        kinds = ("healthz", "transfer", "batch")
        rows = {kind: run_row(kind, port, customers, args.clients, args.duration) for kind in kinds}
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        from django.db import connections

        connections.close_all()
        drop_database(parts, name)
    baseline = rows["healthz"]["requests"]
    print(f"\nAPI through gunicorn (4 sync workers), {args.clients} clients, {args.duration:.0f} s per row")
    print(f"{'request':<40} {'req/s':>8} {'vs healthz':>11} {'p50 ms':>8} {'p99 ms':>8} {'failed':>7}")
    labels = {"healthz": "GET /healthz (trivial JSON)", "transfer": "POST /api/v1/transfers/",
              "batch": f"POST /api/v1/transfers/batch/ ({BATCH}/req)"}  # fmt: skip
    for kind, row in rows.items():
        print(
            f"{labels[kind]:<40} {row['requests']:>8.0f} {row['requests'] / baseline:>10.2f}x "
            f"{row['p50_ms']:>8.1f} {row['p99_ms']:>8.1f} {row['failures']:>7}"
        )
    print(f"bulk transfers/s through the API: {rows['batch']['requests'] * BATCH:.0f}")
    return 0 if all(row["failures"] == 0 for row in rows.values()) else 1


if __name__ == "__main__":
    sys.exit(main())

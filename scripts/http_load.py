# ruff: noqa: S311 - a seeded load
"""Transfers through HTTP for the drills (scripts/failover_drill.py, scripts/lb_drill.py).

``prepare`` funds verified customers and mints each an access token with a recent MFA (as
bench/bench_api.py does); ``serve`` runs the app under gunicorn on loopback; ``run_clients``
forks client processes that POST /api/v1/transfers/ with an Idempotency-Key until a deadline,
retrying an unanswered or 503 request **with the same key** until it is acknowledged, and
recording every answer: what was acknowledged, what never was (unknown outcome), and any
error that is not the JSON error shape.
"""

from __future__ import annotations

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
TRANSFERS = "/api/v1/transfers/"


def app_environment(url: str, work: Path, **extra: str) -> dict[str, str]:
    """The app's environment for a drill: its own database URL, no shared Redis (local caches),
    tokens that outlive the drill, throttles that never refuse."""
    environment = {key: value for key, value in os.environ.items() if key not in ("REDIS_URL", "DATABASE_REPLICA_URL")}
    environment.update(
        DATABASE_URL=url, DJANGO_SETTINGS_MODULE="fintech.settings.dev", LOG_LEVEL="WARNING",
        FINTECH_VAR_DIR=str(work / "var"), JWT_ACCESS_MINUTES="60", API_THROTTLE_USER="1000000/min", **extra,
    )  # fmt: skip
    return environment


def prepare(environment: dict[str, str], wallets: int) -> list[dict]:
    """Migrate, fund ``wallets`` customers and mint their tokens (Django set up in this process)."""
    sys.path[:0] = [str(ROOT), str(ROOT / "bench")]
    for key in ("REDIS_URL", "DATABASE_REPLICA_URL"):
        os.environ.pop(key, None)
    from bench_common import app_on

    extra = {key: value for key, value in environment.items() if os.environ.get(key) != value}
    plan = app_on(environment["DATABASE_URL"], wallets, **extra)
    from accounts.tokens import token_pair_for

    now = int(time.time())
    return [{"token": token_pair_for(user, mfa_at=now)["access"], "wallet": wallet} for user, wallet in plan]


def call(port: int, method: str, path: str, body: dict | None = None, headers: dict | None = None, *,
         timeout: float = 35) -> tuple[int, dict[str, str], bytes]:  # fmt: skip
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        payload = json.dumps(body) if body is not None else None
        connection.request(method, path, body=payload, headers={"Content-Type": "application/json", **(headers or {})})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def serve(environment: dict[str, str], port: int, workers: int = 3, log: Path | None = None) -> subprocess.Popen:
    """gunicorn as the Dockerfile runs it (sync workers, 30 s timeout), on 127.0.0.1:``port``."""
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - handed to the child
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "fintech.wsgi:application", "--bind", f"127.0.0.1:{port}",
         "--workers", str(workers), "--timeout", "30", "--graceful-timeout", "5"],
        cwd=ROOT, env=environment, stdout=out, stderr=subprocess.STDOUT,
    )  # fmt: skip
    wait_healthy(port, server)
    return server


def wait_healthy(port: int, server: subprocess.Popen | None = None, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server is not None and server.poll() is not None:
            raise SystemExit(f"drill: gunicorn on port {port} exited with {server.returncode}")
        try:
            if call(port, "GET", "/healthz", timeout=2)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"drill: gunicorn on port {port} did not answer /healthz within {seconds:.0f} s")


def is_error_shape(body: bytes) -> bool:
    try:
        error = json.loads(body)["error"]
    except (ValueError, KeyError, TypeError):
        return False
    return isinstance(error, dict) and bool(error.get("code")) and bool(error.get("message"))


def transfer(port: int, customer: dict, destination: str, amount: int, key: str) -> tuple[int, dict, bytes]:
    return call(
        port, "POST", TRANSFERS,
        {"source_account": customer["wallet"], "destination_account": destination, "amount": amount, "currency": "ZAR"},
        {"Authorization": f"Bearer {customer['token']}", "Idempotency-Key": key},
    )  # fmt: skip


def _client(  # noqa: PLR0917
    ports: list[int], customers: list[dict], until: float, seed: int, pause: float, stop, sent, results
) -> None:
    rng = random.Random(seed)

    def going() -> bool:
        return time.time() < until and not stop.is_set()

    def count() -> None:
        with sent.get_lock():
            sent.value += 1

    acknowledged, unknown, refused, failures, not_json = [], [], [], [], []
    statuses: dict[str, int] = {}
    while going():
        payer, payee = rng.sample(customers, 2)
        key, amount = f"drill-{seed}-{uuid.uuid4().hex}", rng.randint(1, 5_000)
        first = time.time()
        outcome = None
        while going():  # the same key until it is acknowledged (or the load ends)
            started = time.time()
            count()
            try:
                status, _headers, body = transfer(rng.choice(ports), payer, payee["wallet"], amount, key)
            except (OSError, http.client.HTTPException) as error:  # no (whole) answer: outcome unknown, retry
                failures.append((started, type(error).__name__))
                statuses["no answer"] = statuses.get("no answer", 0) + 1
                time.sleep(pause)
                continue
            statuses[str(status)] = statuses.get(str(status), 0) + 1
            if status == 201:
                entry = json.loads(body)["id"]
                acknowledged.append({"id": entry, "key": key, "amount": amount, "at": time.time(), "started": started,
                                     "first": first, "latency": time.time() - started})  # fmt: skip
                outcome = "acknowledged"
                break
            if not is_error_shape(body):
                not_json.append((status, body[:200].decode(errors="replace")))
            if status >= 500:
                failures.append((started, str(status)))
                time.sleep(pause)
                continue
            refused.append((status, body[:200].decode(errors="replace")))
            outcome = "refused"
            break
        if outcome is None:
            unknown.append({"key": key, "amount": amount, "payer": payer, "payee": payee["wallet"]})
    results.put({"acknowledged": acknowledged, "unknown": unknown, "refused": refused, "failures": failures,
                 "not_json": not_json, "statuses": statuses})  # fmt: skip


def run_clients(ports: list[int], customers: list[dict], seconds: float, clients: int, *, pause: float = 0.2,
                during=None) -> dict:  # fmt: skip
    """Fork ``clients`` processes for at most ``seconds``; call ``during(sent)`` meanwhile (``sent``
    counts the requests made so far; its return ends the load early); merge what the clients saw."""
    context = multiprocessing.get_context("fork")
    results, stop, sent = context.Queue(), context.Event(), context.Value("l", 0)
    until = time.time() + seconds
    processes = [
        context.Process(target=_client, args=(ports, customers, until, seed, pause, stop, sent, results))
        for seed in range(clients)
    ]
    for process in processes:
        process.start()
    try:
        extra = during(sent) if during else None
    finally:
        stop.set()
    outcomes = [results.get(timeout=seconds + 180) for _ in processes]
    for process in processes:
        process.join(timeout=30)
    merged: dict = {"during": extra, "statuses": {}, "sent": sent.value}
    for name in ("acknowledged", "unknown", "refused", "failures", "not_json"):
        merged[name] = [item for outcome in outcomes for item in outcome[name]]
    for outcome in outcomes:
        for status, count in outcome["statuses"].items():
            merged["statuses"][status] = merged["statuses"].get(status, 0) + count
    return merged


def p99_ms(latencies: list[float]) -> float | None:
    if len(latencies) < 2:
        return None
    return round(1000 * statistics.quantiles(latencies, n=100)[98], 1)

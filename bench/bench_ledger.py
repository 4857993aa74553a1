#!/usr/bin/env python3
# ruff: noqa: S603, S607, S311, S608, PLR0917 - a benchmark script: fixed tools, seeded load, integer-only pgbench scripts, prints a table
"""Ledger benchmark: our transfer service against pgbench's tpcb-like, side by side, one cluster.

    make bench                                   # 30 s per row
    .venv/bin/python bench/bench_ledger.py -d 5  # short run while developing (shared machine)

Runs on the PostgreSQL named by DATABASE_URL (``make bench`` gets it from scripts/with_services.py)
in two scratch databases created and dropped here: ``<db>_bench_pgbench`` (``pgbench -i -s 10``,
then ``-c 8 -j 2 -T <duration>``, built-in tpcb-like, simple protocol) and ``<db>_bench_ledger``
(migrated; wallets of verified customers). Each ledger row runs N forked worker processes, each
with its own connection, calling ``ledger.services.transfer_create`` in a loop: the full service
with validation, a fresh Idempotency-Key, KYC and daily-limit checks, the locked PL/pgSQL
``ledger_move`` call and the ``audit_record`` call in the same transaction (its log output goes
to /dev/null after being formatted and redacted, so its cost is counted).

Bulk rows: the same workers calling ``ledger.services.transfer_batch_create`` with ``--batch``
(default 100) transfers per call, each from the calling customer's wallet to a random other wallet,
each with its own idempotency key and audit record; ops/s counts transfers, not calls.

Fairness: pgbench runs twice, on a freshly initialised database each time (``pgbench -i`` ends
with a VACUUM), once before the ledger rows and once after them; every ledger row starts with a
``VACUUM (ANALYZE)`` of the ledger database. The ratios, and the goal, are against the *faster*
pgbench run: this VM's speed drifts during a run, and pgbench alone has ranged from 2,400 to
6,200 tps here (docs/BENCHMARKS.md), so a single run could flatter either side.

Issue 19 rows (every run, ``--quick`` too): the same 8-worker single transfers with and without
their audit record (A-B-B-A slices; "without" is a bench-only switch in the forked worker, see
``_without_audit_record``; the audit rows each slice added are counted and checked), and
``ledger_move`` called from pgbench's C client with and without the audit arguments: the server's
floor per transfer with no Python. Goals printed: one transfer per call >= 0.6x pgbench, bulk
>= 1.2x, with/without the audit record >= 0.8x.

Extra rows: the ORM engine (same service, eight ORM statements instead of one function call),
and deposits from 8 workers against 1 settlement shard vs the default 16 (ADR 0003).

Where the time goes: every row also reports CPU milliseconds per operation on the client side
(the worker processes' own user+system time, or pgbench's) and on the server side (the
PostgreSQL backends serving them, read from /proc/<pid>/stat; shown as "-" when the server is not
on this machine). On a machine with C cores, C*1000 / (client + server ms) bounds the ops/s any
number of workers can reach, whatever the disk does. The load average is printed with the table.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlparse

from bench_common import app_on

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def _url_parts(url: str) -> dict[str, str]:
    parsed = urlparse(url)
    return {
        "host": parsed.hostname or "127.0.0.1",
        "port": str(parsed.port or 5432),
        "user": parsed.username or "postgres",
        "password": parsed.password or "",
        "dbname": parsed.path.lstrip("/") or "postgres",
    }


def _with_db(url: str, dbname: str) -> str:
    parsed = urlparse(url)
    return parsed._replace(path=f"/{dbname}", query="").geturl()


def _admin_sql(parts: dict[str, str], statement: str) -> None:
    import psycopg

    with psycopg.connect(
        host=parts["host"], port=parts["port"], user=parts["user"], password=parts["password"] or None,
        dbname="postgres", autocommit=True,
    ) as conn:  # fmt: skip
        conn.execute(statement)


def recreate_database(parts: dict[str, str], name: str) -> None:
    _admin_sql(parts, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    _admin_sql(parts, f'CREATE DATABASE "{name}"')


def drop_database(parts: dict[str, str], name: str) -> None:
    _admin_sql(parts, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def scratch_database(suffix: str) -> tuple[dict[str, str], str, str]:
    """A fresh, empty database beside DATABASE_URL's: (its URL parts, its name, its URL)."""
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        raise SystemExit(f"{Path(sys.argv[0]).name}: DATABASE_URL must point at PostgreSQL (use `make bench`).")
    parts = _url_parts(url)
    name = f"{parts['dbname']}_bench_{suffix}"
    recreate_database(parts, name)
    return parts, name, _with_db(url, name)


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds of a process on this machine (a PostgreSQL backend), if visible."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # After "pid (comm)": state is field 0, utime field 11, stime field 12 (proc(5)).
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def own_cpu_seconds(who: int = resource.RUSAGE_SELF) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def _poll_backends(parts: dict[str, str], name: str, stop: threading.Event, seen: dict[int, float]) -> None:
    """Keep the latest CPU reading of every backend connected to ``name`` until ``stop``."""
    import psycopg

    with psycopg.connect(
        host=parts["host"], port=parts["port"], user=parts["user"], password=parts["password"] or None,
        dbname="postgres", autocommit=True,
    ) as conn:  # fmt: skip
        while not stop.is_set():
            for (pid,) in conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", [name]).fetchall():
                value = process_cpu_seconds(pid)
                if value is not None:
                    seen[pid] = value
            stop.wait(0.2)


def run_pgbench(
    parts: dict[str, str], name: str, duration: int, clients: int, scale: int | None, script: Path | None = None
) -> dict:
    """pgbench on ``name``: tpcb-like after ``pgbench -i -s scale``, or ``script`` (``-f``) on the
    database as it is (``scale`` None)."""
    env = {**os.environ, "PGPASSWORD": parts["password"]}
    common = ["-h", parts["host"], "-p", parts["port"], "-U", parts["user"]]
    if scale is not None:
        subprocess.run(
            ["pgbench", "-i", "-s", str(scale), "-q", *common, name],
            check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
    workload = [] if script is None else ["-f", str(script)]
    stop, seen = threading.Event(), {}
    poller = threading.Thread(target=_poll_backends, args=(parts, name, stop, seen), daemon=True)
    poller.start()
    client_before = own_cpu_seconds(resource.RUSAGE_CHILDREN)
    out = subprocess.run(
        ["pgbench", "-c", str(clients), "-j", str(min(clients, 2)), "-T", str(duration), "-n", *workload, *common,
         name],
        check=True, env=env, capture_output=True, text=True,
    ).stdout  # fmt: skip
    client_cpu = own_cpu_seconds(resource.RUSAGE_CHILDREN) - client_before
    stop.set()
    poller.join()
    match = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", out)
    count = re.search(r"number of transactions actually processed: (\d+)", out)
    if not match or not count:
        raise SystemExit(f"could not read pgbench's tps from:\n{out}")
    done = int(count.group(1))
    # The last reading of each backend is up to 0.2 s before it exited: a slight underestimate.
    server = sum(seen.values()) if seen else None
    return {
        "rate": float(match.group(1)),
        "client_ms": 1000 * client_cpu / done,
        "server_ms": None if server is None else 1000 * server / done,
    }


def fresh_pgbench(parts: dict[str, str], name: str, args: argparse.Namespace) -> dict:
    """pgbench tpcb-like on a database initialised for this run (``pgbench -i``) and dropped after."""
    recreate_database(parts, name)
    try:
        return run_pgbench(parts, name, args.duration, args.clients, args.scale)
    finally:
        drop_database(parts, name)


def vacuum_analyze(url: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE)")


# --- the ledger side -----------------------------------------------------------------------------


def setup_ledger(ledger_url: str, wallets: int) -> list[tuple[int, str]]:
    # INFO, not app_on's WARNING: the service's log records are built and redacted (then sent to
    # /dev/null), so their cost is part of every row.
    plan = app_on(ledger_url, wallets, LOG_LEVEL=os.environ.get("LOG_LEVEL", "INFO"))
    return [(user.pk, wallet) for user, wallet in plan]


def _batch(rng: random.Random, plan: list, size: int) -> tuple[int, list[dict]]:
    """One customer's bulk payment: ``size`` transfers from their wallet to random other wallets."""
    source_user, source = rng.choice(plan)
    others = [wallet for _, wallet in rng.sample(plan, size + 1) if wallet != source][:size]
    return source_user, [
        {"source_account": source, "destination_account": destination, "amount": rng.randint(1, 10_000),
         "currency": "ZAR", "idempotency_key": uuid.uuid4().hex}
        for destination in others
    ]  # fmt: skip


def _without_audit_record() -> None:
    """Bench only, in this forked worker process: the same service with its audit record left out.

    ``ledger_move`` writes the TRANSFER audit row when its five audit arguments are given and none
    when they are NULL (system movements without an actor use that). Here the engine's helper
    that derives them (actor, source IP, the scrubbed diff, JSON) answers NULLs, so the row
    measures exactly the audit record's cost, Python and SQL, and nothing else changes: same
    service, same validation, same function. Nothing in the application can switch this on; the
    bench checks the audit table grew by one row per transfer with the record and by none without.
    """
    from ledger import engine

    engine._audit_params = lambda audit: [None] * 5


def _worker(kind: str, engine: str, shards: int, plan: list, seconds: float, seed: int, barrier, results) -> None:
    from django.conf import settings
    from django.contrib.auth import get_user_model

    from ledger import services
    from ledger.exceptions import LedgerError

    settings.LEDGER_ENGINE = engine
    settings.LEDGER_SYSTEM_SHARDS = shards
    if kind == "transfer-noaudit":
        _without_audit_record()
    from django.db import connection

    users = get_user_model().objects.in_bulk([pk for pk, _ in plan])
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    rng = random.Random(seed)
    done = refused = 0
    barrier.wait()
    client_before, server_before = own_cpu_seconds(), process_cpu_seconds(backend)
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        key, moved = uuid.uuid4().hex, 1
        try:
            if kind.startswith("batch"):
                source_user, items = _batch(rng, plan, int(kind.removeprefix("batch")))
                moved = len(services.transfer_batch_create(actor=users[source_user], transfers=items))
            elif kind in {"transfer", "transfer-noaudit"}:
                (source_user, source), (_, destination) = rng.sample(plan, 2)
                services.transfer_create(
                    actor=users[source_user], source_account=source, destination_account=destination,
                    amount=rng.randint(1, 10_000), currency="ZAR", idempotency_key=key,
                )  # fmt: skip
            else:
                user_pk, wallet = rng.choice(plan)
                services.deposit_create(
                    actor=users[user_pk], account=wallet, amount=rng.randint(1, 10_000), currency="ZAR",
                    channel="eft", funding_source="BENCH", idempotency_key=key,
                )  # fmt: skip
            done += moved  # counted in transfers, whatever the number per call
        except LedgerError:
            refused += 1
    server_after = process_cpu_seconds(backend)
    server = None if server_before is None or server_after is None else server_after - server_before
    results.put((done, refused, own_cpu_seconds() - client_before, server))


def run_ledger(kind: str, engine: str, shards: int, plan: list, workers: int, seconds: float) -> dict:
    context = multiprocessing.get_context("fork")
    barrier, results = context.Barrier(workers + 1), context.Queue()
    processes = [
        context.Process(target=_worker, args=(kind, engine, shards, plan, seconds, n, barrier, results))
        for n in range(workers)
    ]
    for process in processes:
        process.start()
    barrier.wait()
    started = time.perf_counter()
    outcomes = [results.get(timeout=seconds + 120) for _ in processes]
    elapsed = max(time.perf_counter() - started, seconds)
    for process in processes:
        process.join()
    done = sum(o[0] for o in outcomes)
    refused = sum(o[1] for o in outcomes)
    if refused:
        print(f"  note: {refused} operations refused", file=sys.__stdout__)
    servers = [o[3] for o in outcomes]
    return {
        "rate": done / elapsed,
        "elapsed": elapsed,
        "client_ms": 1000 * sum(o[2] for o in outcomes) / max(done, 1),
        "server_ms": None if None in servers else 1000 * sum(servers) / max(done, 1),
    }


# --- the audit record's cost and the server's floor ------------------------------------------------

AUDIT_ROW = "transfer_create, with its audit record"
NO_AUDIT_ROW = "transfer_create, without (bench only)"
C_CLIENT = "ledger_move from pgbench (C client)"
C_CLIENT_NO_AUDIT = "ledger_move from pgbench, no audit"


def audit_rows(url: str) -> int:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute("SELECT count(*) FROM compliance_auditevent").fetchone()[0]


def run_audit_pair(plan: list, workers: int, seconds: float, url: str) -> tuple[dict, dict]:
    """The same 8-worker single transfers with and without their audit record, in A-B-B-A slices
    of ``seconds / 2`` each (this VM's speed drifts within a run). Each slice counts the audit
    rows it added: one per transfer with the record, none without, or the bench stops."""
    totals = {True: [0.0, 0.0, 0.0, 0.0, 0.0], False: [0.0, 0.0, 0.0, 0.0, 0.0]}  # ops, s, client, server, rows
    for audited in (True, False, False, True):
        vacuum_analyze(url)
        before = audit_rows(url)
        row = run_ledger("transfer" if audited else "transfer-noaudit", "plpgsql", 16, plan, workers, seconds / 2)
        added = audit_rows(url) - before
        done = round(row["rate"] * row["elapsed"])
        if added != (done if audited else 0):
            raise SystemExit(f"audit rows: {added} added by {done} transfers ({'with' if audited else 'without'})")
        total = totals[audited]
        total[0] += done
        total[1] += row["elapsed"]
        total[2] += row["client_ms"] * done
        total[3] += (row["server_ms"] or 0.0) * done
        total[4] += added
    return tuple(  # type: ignore[return-value]
        {"rate": t[0] / t[1], "client_ms": t[2] / t[0], "server_ms": t[3] / t[0], "audit_rows": int(t[4]),
         "done": int(t[0])}
        for t in (totals[True], totals[False])
    )  # fmt: skip


def pgbench_ledger_scripts(url: str, plan: list, folder: Path) -> tuple[Path, Path]:
    """Two pgbench scripts calling ``ledger_move`` exactly as ``transfer_create`` does (same
    arguments, the limits never reached), with and without the audit arguments: the server's cost
    per transfer with no Python client at all. Wallets are picked through a lookup table
    (``bench_wallets``, two primary-key probes per call, like tpcb-like's own SELECT)."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE bench_wallets (n integer PRIMARY KEY, user_id bigint, public_id uuid)")
        with conn.cursor() as cursor:
            cursor.executemany(
                "INSERT INTO bench_wallets VALUES (%s, %s, %s)", [(n + 1, pk, w) for n, (pk, w) in enumerate(plan)]
            )
    count, limit = len(plan), 10**15
    who = "(SELECT user_id FROM bench_wallets WHERE n = :a)"
    call = (
        f"\\set a random(1, {count})\n\\set b random(1, {count - 1})\n\\set amount random(1, 10000)\n"
        "SELECT * FROM ledger_move('transfer', 'internal', :amount, 'ZAR', "
        "(SELECT public_id FROM bench_wallets WHERE n = :a), NULL, "
        f"(SELECT public_id FROM bench_wallets WHERE n = (:a + :b - 1) % {count} + 1), NULL, "
        f"{who}, 'from', true, {who}, '{{{limit},{limit},{limit}}}', current_date, 0, md5(random()::text), "
        f"md5(random()::text), {who}, '', '', '', NULL, AUDIT);\n"
    )
    with_audit, without = folder / "ledger_move.sql", folder / "ledger_move_no_audit.sql"
    with_audit.write_text(call.replace("AUDIT", f"'TRANSFER', {who}, 'user', NULL, '{{}}'"))
    without.write_text(call.replace("AUDIT", "NULL, NULL, NULL, NULL, NULL"))
    return with_audit, without


def run_c_client_pair(
    parts: dict[str, str], name: str, url: str, plan: list, args: argparse.Namespace, folder: Path
) -> list[tuple[str, int, dict]]:
    """``ledger_move`` from pgbench with and without the audit arguments, A-B-B-A slices of half
    the row duration each, like the Python pair."""
    scripts = dict(zip((True, False), pgbench_ledger_scripts(url, plan, folder), strict=True))
    totals = {True: [0.0, 0.0, 0.0, 0.0], False: [0.0, 0.0, 0.0, 0.0]}  # transactions, s, client, server ms
    seconds = max(args.duration // 2, 1)
    for audited in (True, False, False, True):
        vacuum_analyze(url)
        row = run_pgbench(parts, name, seconds, args.clients, None, scripts[audited])
        done = row["rate"] * seconds
        total = totals[audited]
        total[0] += done
        total[1] += seconds
        total[2] += row["client_ms"] * done
        total[3] += (row["server_ms"] or 0.0) * done
    return [
        (label, args.clients, {"rate": t[0] / t[1], "client_ms": t[2] / t[0], "server_ms": t[3] / t[0]})
        for label, t in ((C_CLIENT, totals[True]), (C_CLIENT_NO_AUDIT, totals[False]))
    ]


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-d", "--duration", type=int, default=30, help="seconds per row (default 30)")
    parser.add_argument("--clients", type=int, default=8, help="pgbench clients and max ledger workers")
    parser.add_argument("--scale", type=int, default=10, help="pgbench -s")
    parser.add_argument("--wallets", type=int, default=1000, help="customer wallets transfers choose from")
    parser.add_argument("--batch", type=int, default=100, help="transfers per bulk payment (default 100)")
    parser.add_argument("--quick", action="store_true", help="only pgbench and the PL/pgSQL transfer rows")
    args = parser.parse_args()
    if args.wallets <= args.batch:
        parser.error("--wallets must exceed --batch (a bulk payment pays --batch other wallets)")
    return args


def main() -> int:
    args = _arguments()

    parts, ledger_db, ledger_url = scratch_database("ledger")
    pgbench_db = f"{parts['dbname']}_bench_pgbench"
    out = sys.stdout
    rows: list[tuple[str, int, dict]] = []
    load_before = os.getloadavg()
    try:
        print(
            f"pgbench tpcb-like: -s {args.scale}, {args.clients} clients, {args.duration} s ...", file=out, flush=True
        )
        rows.append(("pgbench tpcb-like", args.clients, fresh_pgbench(parts, pgbench_db, args)))

        print(f"ledger: setting up {args.wallets} verified, funded wallets ...", file=out, flush=True)
        plan = setup_ledger(ledger_url, args.wallets)
        bulk = f"transfer_batch_create, {args.batch}/call"
        scenarios = [
            ("transfer_create, PL/pgSQL", "transfer", "plpgsql", 16, 1),
            ("transfer_create, PL/pgSQL", "transfer", "plpgsql", 16, args.clients),
            (bulk, f"batch{args.batch}", "plpgsql", 16, 1),
            (bulk, f"batch{args.batch}", "plpgsql", 16, args.clients),
        ]
        if not args.quick:
            scenarios += [
                ("transfer_create, ORM statements", "transfer", "orm", 16, 1),
                ("transfer_create, ORM statements", "transfer", "orm", 16, args.clients),
                ("deposit_create, 1 settlement shard", "deposit", "plpgsql", 1, args.clients),
                ("deposit_create, 16 settlement shards", "deposit", "plpgsql", 16, args.clients),
            ]
        for label, kind, engine, shards, workers in scenarios:
            print(f"{label}, {workers} worker(s), {args.duration} s ...", file=out, flush=True)
            # Each row starts on vacuumed tables, as pgbench's does (-i ends with a VACUUM).
            vacuum_analyze(ledger_url)
            rows.append((label, workers, run_ledger(kind, engine, shards, plan, workers, args.duration)))
        print(f"{AUDIT_ROW} and {NO_AUDIT_ROW}, {args.clients} workers, A-B-B-A ...", file=out, flush=True)
        audited, unaudited = run_audit_pair(plan, args.clients, args.duration, ledger_url)
        rows += [(AUDIT_ROW, args.clients, audited), (NO_AUDIT_ROW, args.clients, unaudited)]
        with tempfile.TemporaryDirectory() as folder:
            print(f"{C_CLIENT}, with and without the audit record, A-B-B-A ...", file=out, flush=True)
            rows += run_c_client_pair(parts, ledger_db, ledger_url, plan, args, Path(folder))
        from django.db import connections

        connections.close_all()
        print("pgbench tpcb-like again, after the ledger rows ...", file=out, flush=True)
        rows.append(("pgbench tpcb-like, again", args.clients, fresh_pgbench(parts, pgbench_db, args)))
        # This VM's speed drifts within a run (pgbench alone has ranged 2,400-6,200 tps): the goal is
        # judged against the faster of the two pgbench runs that bracket the ledger rows.
        baseline = max(row["rate"] for label, _, row in rows if label.startswith("pgbench"))
    finally:
        drop_database(parts, pgbench_db)
        drop_database(parts, ledger_db)

    load_after = os.getloadavg()

    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value:.3f}"

    print("", file=out)
    print(f"Ratios are to the faster pgbench run ({baseline:.0f} tps).", file=out)
    print(
        f"{'benchmark':<40} {'workers':>7} {'ops/s':>10} {'vs pgbench':>11} {'client ms/op':>13} {'server ms/op':>13}",
        file=out,
    )
    print("-" * 99, file=out)
    for label, workers, row in rows:
        print(
            f"{label:<40} {workers:>7} {row['rate']:>10.0f} {row['rate'] / baseline:>10.2f}x "
            f"{ms(row['client_ms']):>13} {ms(row['server_ms']):>13}",
            file=out,
        )
    print(
        f"\nCPU per operation: client = the worker processes (or pgbench), server = their PostgreSQL backends. "
        f"{os.cpu_count()} CPUs; load average {load_before[0]:.2f} before, {load_after[0]:.2f} after.",
        file=out,
    )
    print("", file=out)

    def rate(prefix: str) -> float:
        return next(row["rate"] for label, workers, row in rows if label == prefix and workers == args.clients)

    # Issue 19: one transfer per call >= 0.6x; the bulk path keeps its 1.2x (issue 7).
    for prefix, how, target in (
        ("transfer_create, PL/pgSQL", "one transfer per call", 0.6),
        (bulk, f"{args.batch} per call", 1.2),
    ):
        ratio = rate(prefix) / baseline
        print(
            f"goal: {args.clients}-worker transfers/s >= {target}x pgbench tpcb-like, {how}: "
            f"{'met' if ratio >= target else 'NOT met'} ({ratio:.2f}x)",
            file=out,
        )
    ratio = audited["rate"] / unaudited["rate"]
    print(
        f"goal: transfers with their audit record >= 0.8x the same transfers without it ({args.clients} workers): "
        f"{'met' if ratio >= 0.8 else 'NOT met'} ({ratio:.2f}x; {audited['audit_rows']} audit rows for "
        f"{audited['done']} transfers with, {unaudited['audit_rows']} for {unaudited['done']} without)",
        file=out,
    )
    print(
        f"floor: ledger_move alone from a C client (no Python) reaches {rate(C_CLIENT) / baseline:.2f}x pgbench "
        f"tpcb-like ({rate(C_CLIENT_NO_AUDIT) / baseline:.2f}x without the audit record; with/without "
        f"{rate(C_CLIENT) / rate(C_CLIENT_NO_AUDIT):.2f}x)",
        file=out,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
# ruff: noqa: S311 - a seeded load, not cryptography
"""Restore drill (SPEC C9, issues 18 and 20): pgBackRest backups of a Patroni cluster, a point-in-time
restore, and the erasures the restore undid applied again.

    make drill-restore            # or: .venv/bin/python scripts/restore_drill.py [--json]

On loopback, in a temporary directory: a Patroni cluster (scripts/patroni_cluster.py, the shipped
deploy/patroni/patroni.yml) archiving every WAL segment with pgBackRest
(deploy/pgbackrest/pgbackrest.conf: encrypted, compressed repository; ``archive_timeout``). Then:

1. the app migrated and wallets funded; a **full** backup while the app runs;
2. transfers (phase A1), a **differential** backup, more transfers (A2); a customer with sentinel
   personal information files a deletion request, verified and sent for approval (four eyes still
   pending); then a named restore point (``pg_create_restore_point``: the moment operations would
   pick before a bad deployment or an operator error), then more transfers (phase B) and the
   deletion approved and **carried out**: its entry goes to the erasure ledger in the archive
   store (a directory outside the cluster, as the S3 Object-Lock bucket is in production);
3. the **backup RPO** measured: from the last commit until the segment holding it is in the
   repository, with nothing forcing it out but ``archive_timeout``;
4. the whole cluster destroyed (every node, its data directory);
5. ``pgbackrest restore --type=name --target=<restore point>`` into a new, empty data directory
   (the latest backup before the target, plus WAL from the repository), started and promoted;
6. on it: every phase-A transfer is there, no phase-B transfer is, ``check_ledger`` passes and
   the wallets hold exactly the money they held at the restore point;
7. the erased subject is **already unreadable** in the restored database, before anything else
   runs: the subject keys live in the key store (``SUBJECT_KEYS_DATABASE_URL``: a database on the
   machine's PostgreSQL at 127.0.0.1:5432, another cluster, which the pgBackRest backups cannot
   contain), the restored main database holds no key row, and the current key store has the
   subject's key destroyed (docs/adr/0007). Its blind indexes are still in a ``pg_dump``;
8. the runbook's next step, ``manage.py reapply_erasures``: it wipes what the restore brought
   back (blind indexes, pseudonyms, the captured contact); after the command nothing of the subject
   is in the dump or readable, the command reported the subject re-erased, and a second run
   re-erases nothing.

Exit status 0 only if every check holds.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pwd
import random
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench"), str(ROOT / "scripts")]

from ops_tools import missing  # noqa: E402 - after the path
from patroni_cluster import HOST, PatroniCluster, render  # noqa: E402
from pg_cluster import Node, print_summary, server_bin  # noqa: E402
from with_services import free_port  # noqa: E402

STANZA = "fintech"
# The subject-key store lives on the machine's PostgreSQL (another cluster than the drill's Patroni
# one): the pgBackRest backups of the drill's cluster cannot contain a key.
KEY_SERVER = os.environ.get("DRILL_KEY_SERVER_URL", "postgres://postgres@127.0.0.1:5432")
KEY_DATABASE = f"fintech_drill_keys_{os.getpid()}"


def key_store(action: str) -> str:
    """Create (or drop) the drill's key-store database; returns its URL."""
    import psycopg

    with psycopg.connect(f"{KEY_SERVER}/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{KEY_DATABASE}" WITH (FORCE)')
        if action == "create":
            conn.execute(f'CREATE DATABASE "{KEY_DATABASE}"')
    return f"{KEY_SERVER}/{KEY_DATABASE}"


class Repository:
    """pgBackRest's configuration and repository for the drill, run as the postgres account."""

    def __init__(self, work: Path) -> None:
        self.folder = work / "pgbackrest"
        self.config = self.folder / "pgbackrest.conf"
        for name in ("repo", "log", "lock"):
            (self.folder / name).mkdir(parents=True)

    def write(self, cluster: PatroniCluster) -> None:
        hosts = "\n".join(
            f"pg{n}-path={node.data}\npg{n}-port={node.pg_port}\npg{n}-socket-path={node.data.parent}"
            for n, node in enumerate(cluster.nodes, 1)
        )
        self.config.write_text(
            render(
                ROOT / "deploy" / "pgbackrest" / "pgbackrest.conf",
                REPO_PATH=str(self.folder / "repo"),
                REPO_CIPHER_PASS=uuid.uuid4().hex,
                LOG_PATH=str(self.folder / "log"),
                LOCK_PATH=str(self.folder / "lock"),
                PG_HOSTS=hosts,
            )
        )
        account = pwd.getpwnam("postgres")
        for path in [self.folder, *self.folder.rglob("*")]:
            os.chown(path, account.pw_uid, account.pw_gid)
        self.config.chmod(0o600)

    @property
    def archive_command(self) -> str:
        return f"pgbackrest --config={self.config} --stanza={STANZA} archive-push %p"

    def run(self, *args: str) -> float:
        started = time.monotonic()
        subprocess.run(
            ["runuser", "-u", "postgres", "--", "pgbackrest", f"--config={self.config}", f"--stanza={STANZA}", *args],
            check=True, capture_output=True, text=True, cwd="/",
        )  # fmt: skip
        return time.monotonic() - started


def transfers(plan: list, count: int, rng: random.Random, tag: str) -> list[str]:
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
        made.append(str(result.entry_public_id))
    return made


def measure_backup_rpo(cluster: PatroniCluster, timeout: float) -> float:
    """Seconds from the last commit until the WAL segment holding it is in the repository."""
    leader = cluster.leader()
    committed_at = time.monotonic()
    (segment,) = cluster.sql(leader, "SELECT pg_walfile_name(pg_current_wal_lsn())")[0]
    deadline = committed_at + timeout
    while time.monotonic() < deadline:
        (archived,) = cluster.sql(leader, "SELECT coalesce(last_archived_wal, '') FROM pg_stat_archiver")[0]
        if archived >= segment:
            return time.monotonic() - committed_at
        time.sleep(0.1)
    raise SystemExit(f"restore drill: segment {segment} was not archived within {timeout:.0f} s")


def restore(work: Path, repository: Repository) -> tuple[Node, float]:
    """A new data directory from the repository, recovered to the restore point and promoted."""
    data, run = work / "restored", work / "restored-run"  # data; socket and log
    account = pwd.getpwnam("postgres")
    for folder in (data, run):
        folder.mkdir(mode=0o700)
        os.chown(folder, account.pw_uid, account.pw_gid)
    started = time.monotonic()
    repository.run(
        "restore", f"--pg1-path={data}", "--type=name", "--target=before_phase_b", "--target-action=promote",
    )  # fmt: skip
    node = Node(server_bin(), data, free_port(), ["runuser", "-u", "postgres", "--"])
    # The restored files carry the old cluster's Patroni settings: override what must differ (own
    # port, no synchronous partner to wait for, no archiving into the old stanza's timeline).
    # Patroni's configuration names files of the old data directory: point them at the new one.
    options = (
        f"-p {node.port} -c listen_addresses={HOST} -c unix_socket_directories={run} -c archive_mode=off "
        f"-c synchronous_standby_names='' -c hot_standby=on -c hba_file={data}/pg_hba.conf "
        f"-c ident_file={data}/pg_ident.conf"
    )
    try:
        node.tool("pg_ctl", "-D", str(data), "-o", options, "-l", str(run / "server.log"), "-w", "-t", "120", "start")
    except subprocess.CalledProcessError:
        raise SystemExit(
            "restore drill: the restored node did not start\n" + (run / "server.log").read_text()[-3000:]
        ) from None
    while node.sql("SELECT pg_is_in_recovery()")[0][0]:
        if time.monotonic() - started > 180:
            raise SystemExit("restore drill: recovery did not finish within 180 s")
        time.sleep(0.1)
    return node, time.monotonic() - started


SENTINELS = {
    "email": "zanele.drillsentinel5309@example.co.za",
    "first_name": "Zaneledrillsentinel",
    "last_name": "Mokoenadrillsentinel",
    "phone": "+27825555309",
}


def file_deletion() -> dict:
    """A customer with sentinel PI and a deletion request awaiting its second officer (phase A)."""
    from accounts import services as accounts
    from compliance.dsar import services as dsar

    suffix = uuid.uuid4().hex[:8]
    first, second = (
        accounts.staff_user_create(
            actor=None, email=f"officer-{n}-{suffix}@drill.example", password=secrets.token_urlsafe(24),
            role="information_officer", first_name="Officer",
        )
        for n in (1, 2)
    )  # fmt: skip
    subject = accounts.customer_register(
        email=SENTINELS["email"], password=secrets.token_urlsafe(24), first_name=SENTINELS["first_name"]
    )
    subject.last_name, subject.phone = SENTINELS["last_name"], SENTINELS["phone"]
    subject.save()
    request = dsar.dsar_file(subject=subject, filed_by=subject, type="deletion")
    request = dsar.dsar_verify_identity(actor=first, dsar=request, evidence="Call-back on the number on file")
    request = dsar.dsar_assign(actor=first, dsar=request)
    request = dsar.dsar_request_approval(actor=first, dsar=request)
    return {"subject": subject.pk, "request": str(request.public_id), "second_officer": second.pk}


def carry_out_deletion(deletion: dict) -> bool:
    """Phase B: the second officer approves and the erasure runs (what the worker's task does)."""
    from django.contrib.auth import get_user_model

    from compliance.dsar import services as dsar
    from compliance.dsar.erasure import erase_subject
    from compliance.dsar.models import DataSubjectRequest, ErasureLedgerEntry

    second = get_user_model().objects.get(pk=deletion["second_officer"])
    request = dsar.dsar_approve(actor=second, dsar=DataSubjectRequest.objects.get(public_id=deletion["request"]))
    statement = erase_subject(dsar=request)
    # Recorded on the erasure's commit, outside the database the restore will replace.
    return statement is not None and ErasureLedgerEntry.objects.filter(dsar=request, seq__isnull=False).exists()


def sentinels_in(node: Node) -> dict:
    """Where the subject's PI shows in the restored database: a pg_dump (values in clear and the
    blind indexes of the encrypted ones) and the values the models decrypt."""
    from django.contrib.auth import get_user_model

    from compliance.crypto.blind_index import blind_index
    from compliance.dsar.export import subject_rows
    from compliance.pi.inventory import is_product_model
    from compliance.pi.registry import registry

    dump = node.tool("pg_dump", "--data-only", "-h", HOST, "-p", str(node.port), "-U", "postgres", "drill").stdout
    # The main database's backups hold no subject key: the table's data section is empty.
    key_rows = dump.split("COPY public.compliance_subjectkey ", 1)[1].split("\n", 1)[1].split("\\.\n", 1)[0]
    searched = {**SENTINELS, **{f"{name} index": blind_index(name, SENTINELS[name]) for name in ("email", "phone")}}
    subject = get_user_model().objects.filter(pk=DELETION["subject"]).first()
    readable = []
    for entry in registry if subject else []:
        if is_product_model(entry) and entry.subject:
            for row in subject_rows(entry, subject):
                readable += [str(getattr(row, name, "")) for name in entry.annotations()]
    text = "\n".join(readable)
    return {
        "in_dump": sorted(name for name, value in searched.items() if value in dump),
        "readable": sorted(name for name, value in SENTINELS.items() if value in text),
        "shredded": sorted(name for name, value in readable_by_name(subject).items() if value == "[shredded]"),
        "subject_keys_in_dump": len(key_rows.splitlines()),
    }


def readable_by_name(subject: object) -> dict:
    """The subject's own account values as the application reads them (``[shredded]`` once its key is gone)."""
    return {name: str(getattr(subject, name, "")) for name in SENTINELS} if subject else {}


def reapply(node: Node) -> dict:
    """The runbook's step after a restore: manage.py reapply_erasures, twice (the second must do nothing)."""
    import io
    import json

    from django.conf import settings
    from django.core.management import call_command
    from django.db import connections

    settings.DATABASES["default"]["PORT"] = node.port
    connections.close_all()
    before = sentinels_in(node)
    runs = []
    for _ in range(2):
        out = io.StringIO()
        try:
            call_command("reapply_erasures", "--json", stdout=out, stderr=io.StringIO())
            code = 0
        except SystemExit as exit_:
            code = int(exit_.code or 0)
        runs.append((code, json.loads(out.getvalue())))
    after = sentinels_in(node)
    connections.close_all()
    (first_code, first), (second_code, second) = runs
    reerased = [s for s in first["subjects"] if s["result"] == "re-erased"]
    return {
        "erased_subject_restored": before,
        "reapply_exit_codes": [first_code, second_code],
        "reapply_reerased_subjects": [s["subject_id"] for s in reerased],
        "reapply_request_status_in_copy": reerased[0]["request_status_in_copy"] if reerased else None,
        "reapply_second_run_reerased": second["reerased"],
        "sentinels_after_reapply": {"in_dump": after["in_dump"], "readable": after["readable"]},
        "reapply_problems": first["problems"] + second["problems"],
    }


DELETION: dict = {}


def verify(node: Node, phase_a: list[str], phase_b: list[str], wallets: int) -> dict:
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
        "phase_a_restored": sum(1 for public_id in phase_a if public_id in ids),
        "phase_b_transfers": len(phase_b),
        "phase_b_restored": sum(1 for public_id in phase_b if public_id in ids),
        "ledger_ok": report.ok,
        "ledger_problems": report.problems[:5],
        "wallets_conserved": total == wallets * START_BALANCE,
    }


def main(argv: list[str] | None = None) -> int:  # noqa: PLR0915 - one drill, read top to bottom
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nodes", type=int, default=1, help="Patroni nodes in the source cluster (default 1)")
    parser.add_argument("--wallets", type=int, default=20)
    parser.add_argument("--before", type=int, default=300, help="transfers before the restore point")
    parser.add_argument("--after", type=int, default=200, help="transfers after it (must not come back)")
    parser.add_argument("--archive-timeout", type=int, default=15, help="seconds (production: 60)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = parser.parse_args(argv)

    absent = missing("db", "backup")
    if absent:
        raise SystemExit(f"restore drill: missing {', '.join(absent)} (scripts/ops_tools.py install db backup)")
    from bench_common import app_on
    from django.db import connections

    with tempfile.TemporaryDirectory(prefix="fintech-drill-restore-") as folder:
        work = Path(folder)
        os.chmod(work, 0o755)  # noqa: S103 - the postgres account enters it
        repository = Repository(work)
        cluster = PatroniCluster(
            work, size=args.nodes, archive_command=repository.archive_command,
            archive_timeout=f"{args.archive_timeout}s",
        )  # fmt: skip
        repository.write(cluster)
        node = None
        try:
            cluster.start()
            repository.run("stanza-create")
            repository.run("check")
            cluster.sql(cluster.leader(), "CREATE DATABASE drill")
            # The archive store (audit segments, the erasure ledger) outside the cluster, as S3 is.
            archive = work / "archive"
            keys_url = key_store("create")
            subprocess.run(
                [sys.executable, "manage.py", "migrate", "--database", "keys", "--noinput", "-v", "0"], cwd=ROOT,
                check=True, env={
                    **os.environ, "DJANGO_SETTINGS_MODULE": "fintech.settings.dev", "LOG_LEVEL": "WARNING",
                    "DATABASE_URL": f"{cluster.write_url}/drill", "SUBJECT_KEYS_DATABASE_URL": keys_url,
                },
            )  # fmt: skip
            plan = [
                (u.pk, w)
                for u, w in app_on(
                    f"{cluster.write_url}/drill", args.wallets, REDIS_URL="", AUDIT_ARCHIVE_BACKEND="local",
                    AUDIT_ARCHIVE_DIR=str(archive), SUBJECT_KEYS_DATABASE_URL=keys_url,
                )
            ]  # fmt: skip
            full_seconds = repository.run("--type=full", "backup")
            rng = random.Random(7)
            phase_a = transfers(plan, args.before // 2, rng, "restore-a1")
            diff_seconds = repository.run("--type=diff", "backup")
            phase_a += transfers(plan, args.before - args.before // 2, rng, "restore-a2")
            DELETION.update(file_deletion())
            connections.close_all()
            cluster.sql(cluster.leader(), "SELECT pg_create_restore_point('before_phase_b')", "drill")
            phase_b = transfers(plan, args.after, rng, "restore-b")
            erased_and_recorded = carry_out_deletion(DELETION)
            connections.close_all()
            rpo = measure_backup_rpo(cluster, timeout=args.archive_timeout * 4 + 30)
            info = subprocess.run(
                ["runuser", "-u", "postgres", "--", "pgbackrest", f"--config={repository.config}", "info"],
                check=True, capture_output=True, text=True, cwd="/",
            ).stdout  # fmt: skip
        finally:
            cluster.stop()
        for member in cluster.nodes:  # the whole cluster is gone, data directories included
            shutil.rmtree(member.data, ignore_errors=True)
        try:
            node, restore_seconds = restore(work, repository)
            from compliance.crypto import subject_keys

            # The restored database is served by freshly started processes: this one's key cache
            # (which saw the subject's key destroyed) must not survive into it.
            subject_keys.clear_cache()
            summary = verify(node, phase_a, phase_b, args.wallets)
            summary["erasure_recorded_in_ledger"] = erased_and_recorded
            summary.update(reapply(node))
        finally:
            if node:
                with contextlib.suppress(Exception):
                    node.stop()
            connections.close_all()
            with contextlib.suppress(Exception):
                key_store("drop")
    summary.update(
        backups=f"{info.count('full backup')} full, {info.count('diff backup')} differential",
        full_backup_seconds=round(full_seconds, 2),
        diff_backup_seconds=round(diff_seconds, 2),
        archive_timeout_seconds=args.archive_timeout,
        backup_rpo_seconds=round(rpo, 2),
        restore_seconds=round(restore_seconds, 2),
    )
    summary["ok"] = bool(
        summary["phase_a_restored"] == summary["phase_a_transfers"] > 0
        and summary["phase_b_restored"] == 0 and summary["ledger_ok"] and summary["wallets_conserved"]
        and rpo <= args.archive_timeout + 15
        and summary["erasure_recorded_in_ledger"]
        # the restore brought the erased subject's rows back, but neither a key nor a readable value:
        # the key store (not in the backup) has its key destroyed, before reapply_erasures runs
        and summary["erased_subject_restored"]["readable"] == []
        and summary["erased_subject_restored"]["shredded"] == sorted(SENTINELS)
        and summary["erased_subject_restored"]["subject_keys_in_dump"] == 0
        and summary["erased_subject_restored"]["in_dump"]
        # reapply_erasures then wiped what the rows still said (blind indexes), once
        and summary["reapply_exit_codes"] == [0, 0]
        and summary["reapply_reerased_subjects"] == [DELETION["subject"]]
        and summary["reapply_second_run_reerased"] == 0
        and summary["sentinels_after_reapply"] == {"in_dump": [], "readable": []}
    )  # fmt: skip
    return print_summary(summary, as_json=args.json)


if __name__ == "__main__":
    sys.exit(main())

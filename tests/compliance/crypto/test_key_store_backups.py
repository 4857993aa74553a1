"""The key store keeps subject keys out of the main database's backups (issue 20, docs/adr/0007).

Real PostgreSQL, real processes (``manage.py`` and tests/compliance/crypto/key_store_steps.py, each
step a fresh process), two databases: the main one and the key store (SUBJECT_KEYS_DATABASE_URL).

- A ``pg_dump`` of the main database taken before an erasure is the backup. Restored into a new
  database and served with the same key store and field ring, the erased subject reads
  ``[shredded]`` at once, before any ``reapply_erasures``; another subject of the same backup
  reads fine. The dump holds no subject key and none of the sentinels in clear.
- The destruction follows the erasure's commit: a rolled-back shred leaves the key live, and a
  crash between the commit and the destruction is repaired by ``compliance.dsar.record_erasures``.
- ``move_subject_keys`` moves the keys of a single-database deployment into the key store, ids kept.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from tests.compliance.crypto.key_store_steps import OTHER, SENTINELS

ROOT = Path(__file__).resolve().parents[3]
STEPS = Path(__file__).with_name("key_store_steps.py")
SERVER = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/fintech").rsplit("/", 1)[0]
PREFIX = f"fintech_keysproof_{{}}_{os.getpid()}"

pytestmark = pytest.mark.skipif(shutil.which("pg_dump") is None, reason="pg_dump and psql are needed")


def _admin(sql: str) -> None:
    with psycopg.connect(f"{SERVER}/postgres", autocommit=True) as conn:
        conn.execute(sql)


def _environment(tmp: Path, main: str, keys: str | None) -> dict[str, str]:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "fintech.settings.dev",
        "DATABASE_URL": f"{SERVER}/{main}",
        "REDIS_URL": "",
        "FINTECH_VAR_DIR": str(tmp / "var"),  # the same field ring (a key-ring file) in every step
        "AUDIT_ARCHIVE_BACKEND": "local",
        "AUDIT_ARCHIVE_DIR": str(tmp / "archive"),
        "LOG_LEVEL": "WARNING",
    }
    env.pop("SUBJECT_KEYS_DATABASE_URL", None)
    if keys:
        env["SUBJECT_KEYS_DATABASE_URL"] = f"{SERVER}/{keys}"
    return env


def _manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        check=False, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def _step(env: dict[str, str], name: str, state: dict | None = None) -> dict:
    done = subprocess.run(
        [sys.executable, str(STEPS), name, json.dumps(state or {})],
        check=False, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    line = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")][-1]
    return json.loads(line.removeprefix("RESULT "))


@pytest.fixture(scope="module")
def templates(tmp_path_factory) -> Iterator[tuple[str, str]]:
    """A migrated main database (single-database mode, no key yet) and a migrated key store, as templates."""
    tmp = tmp_path_factory.mktemp("keystore-templates")
    main, keys = PREFIX.format("tmain"), PREFIX.format("tkeys")
    for name in (main, keys):
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        _admin(f'CREATE DATABASE "{name}"')
    try:
        env = _environment(tmp, main, keys)
        for args in (("migrate", "--database", "keys", "--noinput"), ("migrate", "--noinput")):
            done = _manage(env, *args)
            assert done.returncode == 0, done.stderr[-3000:]
        yield main, keys
    finally:
        for name in (main, keys):
            _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def databases(templates) -> Iterator[dict[str, str]]:
    names = {role: PREFIX.format(role) for role in ("main", "keys", "restored")}
    template_of = {"main": templates[0], "keys": templates[1]}
    for role, name in names.items():
        _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        _admin(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template_of[role]}"' if role in template_of else ""))
    try:
        yield names
    finally:
        for name in names.values():
            _admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_the_key_store_migrates_only_the_key_table(templates):
    with psycopg.connect(f"{SERVER}/{templates[1]}") as conn:
        tables = {
            name
            for (name,) in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'django_migrations'"
            )
        }
    assert tables == {"compliance_subjectkey"}


def test_a_backup_taken_before_an_erasure_holds_no_key_and_reads_the_subject_as_shredded(databases, tmp_path):
    env = _environment(tmp_path, databases["main"], databases["keys"])
    state = _step(env, "seed")
    # Every value of both subjects is under its own key: nothing the field ring alone decrypts.
    assert state["field_ring_values"] == [] and state["keys"] == ["live", "live"]

    # The backup, taken before the erasure (pgBackRest / RDS hold such a copy for weeks).
    dump = subprocess.run(
        ["pg_dump", "--no-owner", "--no-privileges", f"{SERVER}/{databases['main']}"],
        check=True, capture_output=True, text=True, timeout=300,
    ).stdout  # fmt: skip
    erased = _step(env, "erase", state)
    assert erased["erased"] is True and erased["key"] == "destroyed"

    # The backup holds none of the sentinels in clear, and no subject key at all.
    assert [name for name, value in SENTINELS.items() if value in dump] == []
    copy = dump.split("COPY public.compliance_subjectkey ", 1)[1].split("\n", 1)[1]
    assert copy.startswith("\\.\n"), copy[:200]  # the table's data section is empty
    with psycopg.connect(f"{SERVER}/{databases['keys']}") as conn:
        assert conn.execute("SELECT count(*) FROM compliance_subjectkey").fetchone()[0] >= 2  # the keys are there

    # Restored into a new database and served with the same key store and field ring, WITHOUT reapply_erasures.
    restore = subprocess.run(
        ["psql", "-q", "-v", "ON_ERROR_STOP=1", f"{SERVER}/{databases['restored']}"],
        check=False, input=dump, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert restore.returncode == 0, restore.stderr[-3000:]
    restored = _step(_environment(tmp_path, databases["restored"], databases["keys"]), "read", state)
    assert restored["subject"] == dict.fromkeys(SENTINELS, "[shredded]")
    assert restored["other"] == OTHER
    assert restored["keys"] == ["destroyed", "live"]

    # The runbook's step still runs: it wipes what the rows hold besides ciphertext, and moves the
    # restored user id sequence past the ids the key store knows (a user registered after the backup).
    reapplied = _manage(_environment(tmp_path, databases["restored"], databases["keys"]), "reapply_erasures", "--json")
    assert reapplied.returncode == 0, reapplied.stdout + reapplied.stderr
    report = json.loads([line for line in reapplied.stdout.splitlines() if '"ledger_entries"' in line][-1])
    assert [s["result"] for s in report["subjects"]] == ["re-erased"] and report["subjects"][0]["key_shredded"] is False
    assert report["user_ids_from"] > erased["late"]


def test_the_key_is_destroyed_only_after_the_erasure_commits_and_a_crash_is_repaired(databases, tmp_path):
    out = _step(_environment(tmp_path, databases["main"], databases["keys"]), "crash")
    # Rolled back: the shred was only scheduled, the key and the values are intact.
    assert out["rollback_scheduled"] is True and out["rollback_scheduled_again"] is False
    assert out["rollback_pending_key_before_commit"] == "live"  # nothing destroyed before the commit
    assert out["rollback_key"] == "live"
    assert out["rollback_values"]["email"] == "kept.keyproof@example.co.za"
    # Crashed after the commit: the key stayed live until the erasure ledger's task destroyed it.
    assert out["crash_erased"] is True and out["crash_key_after_commit"] == "live"
    assert out["crash_key_after_task"] == "destroyed"
    assert "crashed.keyproof@example.co.za" not in json.dumps(out["crash_values_after_task"])
    assert SENTINELS["first_name"] not in json.dumps(out["crash_values_after_task"])


def test_move_subject_keys_moves_a_single_database_deployments_keys_with_their_ids(databases, tmp_path):
    single = _environment(tmp_path, databases["main"], None)
    before = _step(single, "single_seed")
    assert before["key"] == "live"
    separate = _environment(tmp_path, databases["main"], databases["keys"])
    assert _step(separate, "e126") == {"e126": ["compliance.E126"]}  # keys still in the main database

    status = _manage(separate, "move_subject_keys", "--status")
    assert status.returncode == 0 and "main database: 1 live" in status.stdout, status.stdout + status.stderr
    moved = _manage(separate, "move_subject_keys")
    assert moved.returncode == 0 and "1 subject key(s) moved" in moved.stdout, moved.stdout + moved.stderr
    again = _manage(separate, "move_subject_keys")
    assert again.returncode == 0 and "0 subject key(s) moved" in again.stdout  # idempotent

    after = _step(separate, "after_move", before)
    assert after["values"] == OTHER  # the tokens name the same key id, now in the key store
    assert after["new_key_id"] > after["old_key_id"]  # the key store's sequence was moved past it
    assert after["e126"] == []
    with psycopg.connect(f"{SERVER}/{databases['main']}") as conn:
        assert conn.execute("SELECT count(*) FROM compliance_subjectkey").fetchone()[0] == 0


def test_rotating_the_field_keys_rewraps_the_keys_in_the_key_store(databases, tmp_path):
    env = _environment(tmp_path, databases["main"], databases["keys"])
    state = _step(env, "seed")
    rotated = _manage(env, "rotate_field_keys", "--keys", "field")
    assert rotated.returncode == 0, rotated.stdout + rotated.stderr
    with psycopg.connect(f"{SERVER}/{databases['keys']}") as conn:
        prefixes = {row[0][:3] for row in conn.execute("SELECT wrapped_key FROM compliance_subjectkey")}
    assert prefixes == {"v2:"}  # every live key re-wrapped under the new field-key version, in the key store
    assert _step(env, "read", state)["other"] == OTHER

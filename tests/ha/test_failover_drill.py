"""The drills as tests (SPEC C9): failover under load, and restore from backup to a point in time.

Each runs its script in its own process (it builds its own throwaway cluster and points the app
at it, away from the test database) and holds it to its promises.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from scripts.with_services import find_postgres_bin

pytestmark = [pytest.mark.ha, pytest.mark.slow]

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
needs_server_binaries = pytest.mark.skipif(
    find_postgres_bin() is None or not (find_postgres_bin() / "pg_basebackup").exists(),
    reason="needs PostgreSQL server binaries (initdb, pg_ctl, pg_basebackup)",
)


def _drill(script: str, *args: str) -> tuple[dict, int]:
    done = subprocess.run(
        [sys.executable, str(SCRIPTS / script), "--json", *args],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.stdout.strip(), done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1]), done.returncode


@needs_server_binaries
def test_killing_the_primary_under_load_loses_no_acknowledged_transfer():
    summary, returncode = _drill("failover_drill.py", "--seconds", "7", "--kill-after", "2.5", "--rto-target", "30")
    assert summary["acknowledged_before_kill"] > 0 and summary["acknowledged"] > summary["acknowledged_before_kill"]
    assert summary["lost_acknowledged"] == 0, summary  # RPO 0: synchronous replication
    assert summary["duplicate_keys"] == 0, summary  # retries with the same key made nothing twice
    assert summary["ledger_ok"] and summary["wallets_conserved"], summary
    assert summary["rto_seconds"] is not None and summary["rto_seconds"] <= 30, summary
    assert summary["report_reads_on_standby"], summary  # DATABASE_REPLICA_URL: reports read the standby
    assert summary["ok"] and returncode == 0


@needs_server_binaries
def test_a_restore_to_a_restore_point_brings_back_exactly_what_came_before_it():
    summary, returncode = _drill("restore_drill.py", "--before", "150", "--after", "100")
    assert summary["phase_a_restored"] == summary["phase_a_transfers"] == 150, summary
    assert summary["phase_b_restored"] == 0, summary  # replay stopped at the restore point
    assert summary["archived_segments"] > 0 and summary["ledger_ok"] and summary["wallets_conserved"], summary
    assert summary["ok"] and returncode == 0

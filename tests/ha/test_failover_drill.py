"""The failover drill as a test (SPEC C9): kill the primary under load, promote the standby.

Runs scripts/failover_drill.py in its own process (it builds its own two-node cluster and points
the app at it, away from the test database) and holds it to its promises: no acknowledged transfer
lost, none made twice, the ledger's invariants intact on the promoted node, writes back within the
RTO target.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from scripts.with_services import find_postgres_bin

pytestmark = [pytest.mark.ha, pytest.mark.slow]

DRILL = Path(__file__).resolve().parents[2] / "scripts" / "failover_drill.py"


@pytest.mark.skipif(
    find_postgres_bin() is None or not (find_postgres_bin() / "pg_basebackup").exists(),
    reason="needs PostgreSQL server binaries (initdb, pg_ctl, pg_basebackup)",
)
def test_killing_the_primary_under_load_loses_no_acknowledged_transfer():
    done = subprocess.run(
        [sys.executable, str(DRILL), "--json", "--seconds", "7", "--kill-after", "2.5", "--rto-target", "30"],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["acknowledged_before_kill"] > 0 and summary["acknowledged"] > summary["acknowledged_before_kill"]
    assert summary["lost_acknowledged"] == 0, summary  # RPO 0: synchronous replication
    assert summary["duplicate_keys"] == 0, summary  # retries with the same key made nothing twice
    assert summary["ledger_ok"] and summary["wallets_conserved"], summary
    assert summary["rto_seconds"] is not None and summary["rto_seconds"] <= 30, summary
    assert summary["ok"] and done.returncode == 0

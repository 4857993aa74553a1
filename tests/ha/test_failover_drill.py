"""The drills as tests (SPEC C9, issues 18 and 20): Patroni failover, a load-balancer drill, a pgBackRest
restore that re-applies the erasures it undid.

Each runs its script in its own process (it starts its own engines on loopback, in a temporary
directory, and points its own app processes at them, away from the test database) and holds it
to its promises. They need the operations engines (``make engines`` installs them; ``make ci``
does) and root (PostgreSQL runs as the ``postgres`` account): without them they are skipped with
a message naming what is missing. They run one after another on one xdist worker, with short load
phases, so ``make test`` stays bounded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from scripts.ops_tools import missing
from scripts.with_services import find_postgres_bin

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
pytestmark = [pytest.mark.ha, pytest.mark.slow, pytest.mark.xdist_group("ha-drills")]


def _needs(*groups: str):
    absent = missing(*groups)
    reasons = []
    if absent:
        reasons.append(f"missing {', '.join(absent)} (make engines: scripts/ops_tools.py install {' '.join(groups)})")
    if find_postgres_bin() is None:
        reasons.append("no PostgreSQL server binaries (apt-get install postgresql)")
    if os.geteuid() != 0:
        reasons.append("not root: the drills run PostgreSQL and Patroni as the postgres account")
    return pytest.mark.skipif(bool(reasons), reason="; ".join(reasons))


def _drill(script: str, *args: str, timeout: int) -> tuple[dict, int]:
    done = subprocess.run(
        [sys.executable, str(SCRIPTS / script), "--json", *args],
        capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip
    assert done.stdout.strip(), done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1]), done.returncode


@_needs("db")
@pytest.mark.timeout(600)
def test_patroni_fails_over_twice_under_http_load_without_losing_an_acknowledged_transfer():
    # The RTO bound is looser than the drill's 25 s goal: here the machine's two cores are shared
    # with the rest of the suite, which slows Patroni's loop (make drill-db measures it alone).
    summary, returncode = _drill(
        "failover_drill.py", "--load-before", "3", "--load-after", "3", "--clients", "3", "--rto-target", "40",
        timeout=560,
    )  # fmt: skip
    assert summary["acknowledged"] > 0, summary
    assert summary["lost_acknowledged"] == 0, summary  # RPO 0: synchronous standbys only are promoted
    assert summary["applied_twice"] == 0, summary  # retried with the same key: never twice
    assert summary["unknown_settled"] == summary["unknown_outcome"], summary
    assert summary["errors_not_json"] == 0, summary  # every 5xx a client saw was the JSON shape
    assert set(summary["statuses"]) <= {"201", "503"}, summary  # 503 + Retry-After, never a bare 500
    assert summary["ledger_ok"] and summary["audit_chain_ok"] and summary["wallets_conserved"], summary
    assert summary["report_reads_on_a_replica"], summary  # HAProxy's read port (Patroni /replica)
    for phase, how in ((1, "kill"), (2, "stop")):
        assert summary[f"phase{phase}_how"] == how
        assert summary[f"phase{phase}_new_leader"] != summary[f"phase{phase}_failed"], summary
        assert summary[f"phase{phase}_rejoined_as"] == "sync_standby", summary  # rewound, rejoined
        assert 0 < summary[f"phase{phase}_rto_first_write_seconds"] <= 40, summary
    # The second failover happened after the first failed node had rejoined.
    assert summary["phase2_failed"] == summary["phase1_new_leader"], summary
    assert summary["ok"] and returncode == 0


@_needs("lb")
@pytest.mark.timeout(600)
def test_killing_one_of_two_app_servers_behind_nginx_fails_no_request():
    summary, returncode = _drill("lb_drill.py", "--requests", "2000", "--clients", "4", timeout=560)
    assert summary["requests"] >= 2000, summary
    assert summary["errors_not_json"] == 0 and summary["lost_acknowledged"] == 0 and summary["ledger_ok"], summary
    assert summary["applied_twice"] == 0 and summary["unknown_settled"] == summary["unknown_outcome"], summary
    assert summary["acknowledged_after_kill"] > 0 and summary["p99_after_kill_ms"] is not None, summary
    # Goal 0 (make drill-lb: 0 of 2,000 in every run alone). Inside a loaded test run one answer
    # can be cut off mid-body by the kill (nginx cannot re-send a response it began to forward):
    # tolerated only as a transport failure whose keyed retry was applied exactly once (above).
    assert summary["failed_requests"] == 0 or (
        summary["failed_requests"] == 1 and set(summary["failure_kinds"]) <= {"IncompleteRead", "RemoteDisconnected"}
    ), summary
    assert returncode == 0 or summary["failed_requests"] == 1


@_needs("db", "backup")
@pytest.mark.timeout(600)
def test_a_pgbackrest_point_in_time_restore_brings_back_exactly_what_came_before_the_target():
    summary, returncode = _drill(
        "restore_drill.py", "--before", "150", "--after", "100", "--archive-timeout", "10", timeout=560
    )
    assert summary["phase_a_restored"] == summary["phase_a_transfers"] == 150, summary
    assert summary["phase_b_restored"] == 0, summary  # replay stopped at the restore point
    assert summary["backups"] == "1 full, 1 differential", summary
    assert summary["ledger_ok"] and summary["wallets_conserved"], summary
    assert 0 < summary["backup_rpo_seconds"] <= 10 + 15, summary  # archive_timeout bounds it
    # Issue 20: a subject erased after the restore point came back with the restore as rows, but
    # unreadable before anything ran: the backup holds no subject key (they live in the key store,
    # another cluster), and the key store has the subject's key destroyed (docs/adr/0007). Then
    # reapply_erasures, run by the drill as the runbook says, wiped what the rows still held (blind
    # indexes) — nothing in the dump, nothing readable — reported it, and re-erased nothing the second time.
    assert summary["erasure_recorded_in_ledger"], summary
    assert summary["erased_subject_restored"]["readable"] == [], summary
    assert summary["erased_subject_restored"]["shredded"] == ["email", "first_name", "last_name", "phone"], summary
    assert summary["erased_subject_restored"]["subject_keys_in_dump"] == 0, summary
    assert {"email index", "phone index"} <= set(summary["erased_subject_restored"]["in_dump"]), summary
    assert summary["reapply_exit_codes"] == [0, 0], summary
    assert len(summary["reapply_reerased_subjects"]) == 1, summary
    assert summary["reapply_request_status_in_copy"] == "in_review", summary  # four eyes still pending there
    assert summary["reapply_second_run_reerased"] == 0, summary
    assert summary["sentinels_after_reapply"] == {"in_dump": [], "readable": []}, summary
    assert summary["ok"] and returncode == 0

"""The DAST gates of `make dast` (scripts/dast.py) fail on a planted defect, each beside a clean twin.

The harness's own command lines and checker functions run against a planted app
(tests/urls_dast_planted.py) served by the live server: schemathesis reports the planted 500 and
the planted schema violation, sqlmap the planted injection (and not its bound twin), wapiti the
planted reflected XSS as high; the gate then names each. schemathesis is in the dev virtualenv,
so its test runs in `make test`; sqlmap and wapiti live in their own virtualenvs under
var/tools/, created by `make dast`, which runs this file before its scan (their tests are skipped,
naming the tool, where the tools are not installed).
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("dast_harness", ROOT / "scripts" / "dast.py")
assert _spec and _spec.loader
dast = importlib.util.module_from_spec(_spec)
sys.modules["dast_harness"] = dast
_spec.loader.exec_module(dast)

pytestmark = [pytest.mark.urls("tests.urls_dast_planted"), pytest.mark.timeout(300)]

PLANTED = replace(
    dast.PROFILES["quick"],
    name="planted",
    max_examples=15,
    phases="examples,coverage,fuzzing",
    wapiti_modules="xss",
    wapiti_max_scan_seconds=60,
    wapiti_max_attack_seconds=30,
)


def _clean_summary(**found: int) -> dict:
    summary = {
        "server_errors": 0,
        "schema_violations": 0,
        "check_failures": 0,
        "tool_errors": 0,
        "injectable": 0,
        "wapiti_blocking": 0,
    }
    return {**summary, **found}


def _tool(name: str, executable: str) -> Path:
    path = dast.TOOLS / name / "bin" / executable
    if not path.exists():
        pytest.skip(f"{name} is installed by `make dast` (var/tools/{name}), which runs this test")
    return path


def test_a_clean_summary_passes_and_each_planted_count_fails_the_gate():
    assert dast.gate(_clean_summary()) == []
    for key in ("server_errors", "schema_violations", "check_failures", "tool_errors", "injectable", "wapiti_blocking"):
        assert len(dast.gate(_clean_summary(**{key: 1}))) == 1, key


def test_the_access_log_counts_requests_and_5xx_per_tool_and_persona(tmp_path):
    log = tmp_path / "access.log"
    log.write_text(
        '200 GET "/api/v1/me/" "dast/schemathesis/customer"\n'
        '500 GET "/api/v1/accounts/x/statement/" "dast/schemathesis/customer"\n'
        '404 GET "/api/v1/cards/1/" "dast/sqlmap/operations"\n'
        '503 GET "/readyz" "python-requests/2.34.2"\n'
        "not an access log line\n",
        encoding="utf-8",
    )
    traffic = dast.count_access_log(log)
    assert traffic.requests == {("schemathesis", "customer"): 2, ("sqlmap", "operations"): 1, ("harness", "-"): 1}
    assert traffic.server_errors == {("schemathesis", "customer"): 1, ("harness", "-"): 1}
    assert traffic.error_paths[("schemathesis", "customer")] == {"GET /api/v1/accounts/x/statement/ 500": 1}


def test_schemathesis_reports_the_planted_500_and_schema_violation_and_the_gate_fails(live_server, tmp_path):
    schema = tmp_path / "openapi.json"
    from tests.urls_dast_planted import OPENAPI

    schema.write_text(json.dumps(OPENAPI), encoding="utf-8")
    command = dast.schemathesis_command(
        schema, live_server.url, tmp_path, PLANTED, ["User-Agent: dast/schemathesis/planted"]
    )
    done = subprocess.run(command, capture_output=True, text=True, timeout=240, check=False, cwd=tmp_path)
    assert done.returncode == 1, done.stdout[-2000:]
    failures = dast.schemathesis_failures(tmp_path / "junit.xml")
    assert set(failures["server"]) == {"GET /planted/items/{n}/ ST101"}
    # The 500 is also an undocumented status (ST103); the shape is the body that breaks its schema.
    assert "GET /planted/shape/ ST108" in failures["schema"]
    assert not any("/planted/ok/" in key for kind in ("server", "schema") for key in failures[kind])
    summary = _clean_summary(
        server_errors=sum(failures["server"].values()), schema_violations=sum(failures["schema"].values())
    )
    reasons = dast.gate(summary)
    assert [reason.split(" ", 1)[1] for reason in reasons] == ["answer(s) with a 5xx status", "schema violation(s)"]


def test_sqlmap_finds_the_planted_injection_and_not_its_bound_twin(live_server, tmp_path, transactional_db):
    sqlmap = _tool("sqlmap", "sqlmap")
    (tmp_path / "targets.txt").write_text(
        f"{live_server.url}/planted/search/?q=user*\n{live_server.url}/planted/safe/?q=user*\n", encoding="utf-8"
    )
    command = dast.sqlmap_command(sqlmap, tmp_path, PLANTED, "planted", "Accept: application/json")
    done = subprocess.run(command, capture_output=True, text=True, timeout=240, stdin=subprocess.DEVNULL, check=False)
    found = dast.sqlmap_injectable(tmp_path)
    assert [(item["url"].split("?")[0].replace(live_server.url, ""), item["parameter"]) for item in found] == [
        ("/planted/search/", "#1*")
    ], done.stdout[-3000:]
    assert dast.gate(_clean_summary(injectable=len(found))) == ["1 injectable parameter(s)"]


def test_wapiti_reports_the_planted_xss_and_it_blocks_whatever_its_level(live_server, tmp_path):
    """Wapiti rates a reflected XSS "medium" when the answer carries a Content-Security-Policy (the
    platform's middleware adds one here too); an injection blocks the gate at any level."""
    wapiti = _tool("wapiti", "wapiti")
    target = ["-u", f"{live_server.url}/planted/", "--scope", "folder"]
    command = dast.wapiti_command(wapiti, target, tmp_path, PLANTED, "planted")
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL, check=False)
    found = dast.wapiti_findings(tmp_path / "report.json")
    assert found["blocking"], done.stdout[-3000:]
    assert all(item.startswith("Reflected Cross Site Scripting: GET /planted/hello/") for item in found["blocking"])
    assert dast.gate(_clean_summary(wapiti_blocking=len(found["blocking"])))

#!/usr/bin/env python3
"""DAST (SPEC C10; original document 003 §1.2): attack the running app from outside, as a client would.

    .venv/bin/python scripts/dast.py [--profile quick|full] [--only schemathesis,sqlmap,wapiti]

What one run does (``make dast`` = quick profile, ``make dast-full`` = full profile):

1. A fresh PostgreSQL database (``DAST_DATABASE_URL``, default ``fintech_dast`` on 127.0.0.1:5432,
   dropped and re-created, with its subject-key store ``<name>_keys`` beside it, as production
   requires: check compliance.E125) and the Redis at ``REDIS_URL`` (its database is flushed: throttles and
   lockouts of an earlier run must not leak into this one). Migrated under the production profile;
   seeded with ``manage.py demo_data`` (a customer with a funded wallet and transfers, staff of
   every role, DSARs, a legal hold). The seed runs under the dev profile because its ledger story
   settles through the sandbox card processor, which the production profile refuses; the app under
   test never runs it.
2. The app under ``fintech.settings.prod`` in gunicorn (``fintech/gunicorn_conf.py``) serving TLS on
   loopback with a certificate made for this run, so Secure cookies, HSTS and the HTTPS redirect
   stay exactly as deployed. Secrets are generated per run and passed as environment variables,
   the way a deploy passes them (``deploy_environment`` lists every one).
3. Personas log in like real clients: the demo customer (with money), operations, information
   officer and auditor with password + TOTP on ``POST /api/v1/auth/token/``; a second customer
   registers through the API and enrols an authenticator through it; the admin scan uses a staff
   session from the admin's own login form (password + one-time code). ``anonymous`` has no token.
4. schemathesis (every check) against the OpenAPI schema, once per persona; sqlmap against every
   GET operation with a path id or query parameter, per persona that the operation admits (real
   ids from the persona's own lists); wapiti against the admin (staff session) and the API
   (the OpenAPI document as its map, customer token).
5. The gate: every request the tools send carries ``User-Agent: dast/<tool>/<persona>``; the
   server's access log is the ground truth for requests sent and 5xx answers per tool and persona.
   Any 5xx, any schemathesis check failure (schema violations included), any injectable parameter
   or any wapiti finding of high or critical level fails the run. A summary table is printed and
   written to ``var/dast/summary.txt`` / ``summary.json``; each tool's reports are under
   ``var/dast/<tool>/`` (the CI artifact directory is ``var/dast/``).

The checker functions (``count_access_log``, ``schemathesis_failures``, ``sqlmap_injectable``,
``wapiti_findings``, ``gate``) are proven against a planted app in tests/test_dast.py.
"""

from __future__ import annotations

import argparse
import base64
import csv
import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
import signal
import struct
import subprocess
import sys
import time
import urllib.parse
from collections import Counter, defaultdict
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
OUT = Path(os.environ.get("DAST_OUT", str(ROOT / "var" / "dast")))
TOOLS = ROOT / "var" / "tools"
SQLMAP_REQUIREMENT = "sqlmap==1.10.10"
WAPITI_REQUIREMENT = "wapiti3==3.2.3"
PORT = int(os.environ.get("DAST_PORT", "8411"))
HOST = "127.0.0.1"
API_PERSONAS = ("anonymous", "customer", "other_customer", "operations", "information_officer", "auditor")
DEMO_DOMAIN = "demo.fintech.example"
# Throttles stay on; their rates are raised (environment, as a deploy tunes them) so that the
# scanners reach the views instead of measuring the throttle. The throttles themselves are tested
# in the test suite.
SCAN_THROTTLES = {
    "API_THROTTLE_ANON": "100000/min",
    "API_THROTTLE_USER": "100000/min",
    "API_THROTTLE_AUTH": "100000/min",
}


@dataclass(frozen=True)
class Profile:
    name: str
    max_examples: int
    phases: str
    sqlmap_level: int
    sqlmap_risk: int
    sqlmap_technique: str
    sqlmap_smart: bool
    sqlmap_targets_per_process: int  # a fresh access token per process (they live 5 minutes)
    wapiti_modules: str
    wapiti_max_scan_seconds: int
    wapiti_max_attack_seconds: int
    wapiti_depth: int
    wapiti_api_personas: tuple[str, ...]


# Schemathesis phases: no "examples" (the drf-spectacular schema declares none, and a phase with
# nothing to run exits 2); "coverage" walks every boundary of every parameter (about 2,500 requests
# per persona: the full profile); "stateful" follows the schema's links (full profile).
PROFILES = {
    "quick": Profile(
        name="quick",
        max_examples=5,
        phases="fuzzing",
        sqlmap_level=1,
        sqlmap_risk=1,
        sqlmap_technique="BEU",
        sqlmap_smart=False,
        sqlmap_targets_per_process=100,
        wapiti_modules="sql,xss,exec,file,redirect,crlf,http_headers,cookieflags",
        wapiti_max_scan_seconds=60,
        wapiti_max_attack_seconds=10,
        wapiti_depth=2,
        wapiti_api_personas=("customer",),
    ),
    "full": Profile(
        name="full",
        max_examples=40,
        phases="coverage,fuzzing,stateful",
        sqlmap_level=3,
        sqlmap_risk=2,
        sqlmap_technique="BEUSTQ",
        sqlmap_smart=False,
        sqlmap_targets_per_process=1,
        wapiti_modules="all",
        wapiti_max_scan_seconds=1200,
        wapiti_max_attack_seconds=180,
        wapiti_depth=6,
        wapiti_api_personas=("customer", "operations", "information_officer", "auditor"),
    ),
}


# ----------------------------------------------------------------------------------------------
# Checker functions: pure, over the tools' own outputs (tests/test_dast.py plants defects).
# ----------------------------------------------------------------------------------------------

_UA = re.compile(r'^(?P<status>\d{3}) (?P<method>\S+) "(?P<path>[^"]*)" "(?P<agent>[^"]*)"$')


@dataclass
class Traffic:
    requests: Counter = field(default_factory=Counter)  # (tool, persona) -> requests
    server_errors: Counter = field(default_factory=Counter)  # (tool, persona) -> 5xx answers
    error_paths: dict = field(default_factory=lambda: defaultdict(Counter))  # (tool, persona) -> "GET /x 500"


ACCESS_LOG_FORMAT = '%(s)s %(m)s "%(U)s" "%(a)s"'


def count_access_log(path: Path) -> Traffic:
    """Requests and 5xx per (tool, persona), from gunicorn's access log in ACCESS_LOG_FORMAT.

    Requests without a ``dast/<tool>/<persona>`` agent (the harness's own logins) count as
    ``("harness", "-")``: a 5xx there fails the gate too."""
    traffic = Traffic()
    if not path.exists():
        return traffic
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        match = _UA.match(line.strip())
        if not match:
            continue
        agent = match["agent"]
        parts = agent.split("/") if agent.startswith("dast/") else []
        key = (parts[1], parts[2]) if len(parts) >= 3 else ("harness", "-")
        traffic.requests[key] += 1
        if match["status"].startswith("5"):
            traffic.server_errors[key] += 1
            traffic.error_paths[key][f"{match['method']} {match['path']} {match['status']}"] += 1
    return traffic


# Schemathesis failure codes (`st explain <code>`): ST101-102 a 5xx; ST103-111 an answer that
# breaks the documented contract (status, content type, headers, body schema); ST204-205 methods;
# ST301-302 and ST401-402 stateful and authentication checks. All of those fail the gate.
# ST201-203 say the API is stricter or looser about *requests* than its schema says (a valid-looking
# refresh token that is not a real one is rejected; ``page_size=null`` falls back to the default):
# reported and counted in the table, not gated, because business validation no schema expresses
# always produces them.
SERVER_CODES = {"ST101", "ST102"}
SCHEMA_CODES = {f"ST{n}" for n in range(103, 112)}
LENIENCY_CODES = {"ST201", "ST202", "ST203"}


def schemathesis_failures(junit_xml: Path) -> dict[str, Counter]:
    """Failures of a schemathesis run by kind, from its JUnit report (one testcase per operation):
    "server" and "schema" (operation -> count), "checks" (other gated codes), "leniency" (ST201-203,
    not gated) and "errors" (operations schemathesis could not test)."""
    import xml.etree.ElementTree as ET

    result: dict[str, Counter] = {kind: Counter() for kind in ("server", "schema", "checks", "leniency", "errors")}
    if not junit_xml.exists():
        result["errors"]["no report"] += 1
        return result
    root = ET.parse(junit_xml).getroot()  # noqa: S314
    for case in root.iter("testcase"):
        name = case.get("name", "?")
        for failure in case.findall("failure"):
            codes = set(re.findall(r"ST\d{3}", failure.get("message") or "")) or {"unclassified"}
            for code in codes:
                kind = (
                    "server"
                    if code in SERVER_CODES
                    else "schema"
                    if code in SCHEMA_CODES
                    else "leniency"
                    if code in LENIENCY_CODES
                    else "checks"
                )
                result[kind][f"{name} {code}"] += 1
        for _error in case.findall("error"):
            result["errors"][name] += 1
    return result


def sqlmap_injectable(output_dir: Path) -> list[dict[str, str]]:
    """Injectable parameters sqlmap found: the rows of its results CSV files under ``output_dir``
    plus any target whose ``log`` names an injection point (sqlmap writes one per target)."""
    found: list[dict[str, str]] = []
    seen: set[tuple[str, str, str]] = set()
    for results in sorted(output_dir.rglob("results-*.csv")):
        with results.open(newline="", encoding="utf-8", errors="replace") as handle:
            for row in csv.DictReader(handle):
                url = row.get("Target URL") or row.get("target url") or ""
                key = (url, row.get("Place", ""), row.get("Parameter", ""))
                if url and key not in seen:
                    seen.add(key)
                    found.append(
                        {"url": url, "place": key[1], "parameter": key[2], "technique": row.get("Technique(s)", "")}
                    )
    for log in sorted(output_dir.rglob("log")):
        text = log.read_text(encoding="utf-8", errors="replace")
        for match in re.finditer(r"Parameter: (?P<param>.+?) \((?P<place>[^)]+)\)", text):
            key = (str(log.parent.name), match["place"], match["param"])
            if not any(item["parameter"] == match["param"] and item["place"] == match["place"] for item in found):
                seen.add(key)
                found.append(
                    {"url": log.parent.name, "place": match["place"], "parameter": match["param"], "technique": "?"}
                )
    return found


WAPITI_LEVELS = {0: "info", 1: "low", 2: "medium", 3: "high", 4: "critical"}
# An injection found at all fails the gate whatever level wapiti gives it: wapiti lowers a reflected
# XSS to "medium" when the answer carries a Content-Security-Policy (ours does), but an XSS behind
# a CSP is still a defect to fix, not a risk to accept.
WAPITI_ALWAYS_BLOCKING = re.compile(
    r"injection|cross site scripting|command execution|path traversal|open redirect|external entity"
    r"|server side request forgery",
    re.IGNORECASE,
)


def wapiti_findings(report: Path) -> dict[str, Any]:
    """Wapiti's JSON report: findings by severity, and the blocking ones (high or critical, or an
    injection of any level) by category."""
    by_severity: Counter = Counter()
    blocking: list[str] = []
    if not report.exists():
        return {"by_severity": by_severity, "blocking": ["no wapiti report"], "anomalies": 0}
    data = json.loads(report.read_text(encoding="utf-8"))
    for category, items in (data.get("vulnerabilities") or {}).items():
        for item in items:
            severity = WAPITI_LEVELS.get(int(item.get("level", 0)), "info")
            by_severity[severity] += 1
            if severity in {"high", "critical"} or WAPITI_ALWAYS_BLOCKING.search(category):
                blocking.append(
                    f"{category}: {item.get('method', '')} {item.get('path', '')} {item.get('parameter', '')}".strip()
                )
    anomalies = sum(len(items) for items in (data.get("anomalies") or {}).values())
    return {"by_severity": by_severity, "blocking": blocking, "anomalies": anomalies}


def gate(summary: dict[str, Any]) -> list[str]:
    """Why the run fails (empty: it passes)."""
    reasons = []
    if summary["server_errors"]:
        reasons.append(f"{summary['server_errors']} answer(s) with a 5xx status")
    if summary["schema_violations"]:
        reasons.append(f"{summary['schema_violations']} schema violation(s)")
    if summary["check_failures"]:
        reasons.append(f"{summary['check_failures']} other schemathesis check failure(s)")
    if summary["tool_errors"]:
        reasons.append(f"{summary['tool_errors']} tool error(s) (a scan that did not run is not a pass)")
    if summary["injectable"]:
        reasons.append(f"{summary['injectable']} injectable parameter(s)")
    if summary["wapiti_blocking"]:
        reasons.append(f"{summary['wapiti_blocking']} wapiti finding(s) of high or critical level or an injection")
    return reasons


# ----------------------------------------------------------------------------------------------
# The tools' command lines (the planted-defect tests run exactly these)
# ----------------------------------------------------------------------------------------------


def schemathesis_command(schema: Path, base: str, folder: Path, profile: Profile, headers: list[str]) -> list[str]:
    """Every check, the profile's phases and examples, a JUnit report in ``folder``."""
    return [
        str(VENV_BIN / "schemathesis"), "run", str(schema), "--url", base,
        "--include-path-regex", "^/(api/v1|planted)/", "--checks", "all",
        "--max-examples", str(profile.max_examples), "--phases", profile.phases,
        "--seed", "15", "--tls-verify", "false", "--workers", "2", "--no-shrink",
        "--suppress-health-check", "all", "--request-timeout", "30", "--continue-on-failure",
        "--report", "junit", "--report-junit-path", str(folder / "junit.xml"),
        "--output-truncate", "true", *(item for header in headers for item in ("-H", header)),
    ]  # fmt: skip


def sqlmap_command(sqlmap: Path, folder: Path, profile: Profile, persona: str, header: str) -> list[str]:
    """sqlmap in bulk mode over ``folder/targets.txt`` (injection points marked with ``*``)."""
    return [
        str(sqlmap), "-m", str(folder / "targets.txt"), "--batch", "--disable-coloring",
        "--level", str(profile.sqlmap_level), "--risk", str(profile.sqlmap_risk),
        "--technique", profile.sqlmap_technique, "--time-sec", "2", "--threads", "4",
        "--dbms", "PostgreSQL", "--user-agent", f"dast/sqlmap/{persona}", "--headers", header,
        "--output-dir", str(folder), "--results-file", str(folder / "results-bulk.csv"),
        "--timeout", "20", "--retries", "1", "--skip-waf", "--flush-session",
        *(["--smart"] if profile.sqlmap_smart else []),
    ]  # fmt: skip


def wapiti_command(wapiti: Path, target: list[str], folder: Path, profile: Profile, persona: str) -> list[str]:
    """wapiti with the profile's modules and time limits, a JSON report in ``folder``."""
    return [
        str(wapiti), *target, "-m", profile.wapiti_modules, "-d", str(profile.wapiti_depth),
        "--max-scan-time", str(profile.wapiti_max_scan_seconds),
        "--max-attack-time", str(profile.wapiti_max_attack_seconds),
        "--max-links-per-page", "20", "--max-files-per-dir", "10", "-r", "o", "-r", "_changelist_filters",
        "-A", f"dast/wapiti/{persona}", "--flush-session", "--store-session", str(folder / "session"),
        "-f", "json", "-o", str(folder / "report.json"), "--verify-ssl", "0", "-l", "1", "--tasks", "4",
    ]  # fmt: skip


# ----------------------------------------------------------------------------------------------
# The run
# ----------------------------------------------------------------------------------------------


def log(message: str) -> None:
    print(f"[dast {time.strftime('%H:%M:%S')}] {message}", flush=True)


def totp(key_b32: str, at: float | None = None, step: int = 30, digits: int = 6) -> tuple[str, int]:
    """RFC 6238 code and its time step, as an authenticator app computes it."""
    counter = int((time.time() if at is None else at) // step)
    digest = hmac.new(base64.b32decode(key_b32), struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    code = (struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF) % 10**digits
    return str(code).zfill(digits), counter


def b64key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


def deploy_environment(database_url: str, redis_url: str, var_dir: Path, keys_url: str = "") -> dict[str, str]:
    """Everything a production deploy passes to the app, with values made for this run."""
    return {
        # The subject-key store (check compliance.E125): its own database beside the main one.
        "SUBJECT_KEYS_DATABASE_URL": keys_url
        or _with_path(database_url, urllib.parse.urlsplit(database_url).path + "_keys"),
        "DJANGO_SETTINGS_MODULE": "fintech.settings.prod",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
        "JWT_SIGNING_KEY": secrets.token_urlsafe(64),
        "DJANGO_ALLOWED_HOSTS": f"{HOST},localhost",
        "DJANGO_CSRF_TRUSTED_ORIGINS": f"https://{HOST}:{PORT}",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "FIELD_ENCRYPTION_KEYS": f"1:{b64key()}",
        "BLIND_INDEX_KEYS": f"1:{b64key()}",
        "AUDIT_SIGNING_KEYS": f"1:{b64key()}",
        "METRICS_TOKEN": secrets.token_urlsafe(32),
        "FINTECH_VAR_DIR": str(var_dir),
        "DJANGO_STATIC_ROOT": str(var_dir / "static"),
        "DJANGO_MEDIA_ROOT": str(var_dir / "media"),
        "DJANGO_EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
        **SCAN_THROTTLES,
    }


class Run:
    def __init__(self, profile: Profile, only: set[str], api_personas: tuple[str, ...] = API_PERSONAS) -> None:
        self.profile = profile
        self.api_personas = api_personas
        self.only = only
        self.base = f"https://{HOST}:{PORT}"
        self.server: subprocess.Popen | None = None
        self.tokens: dict[str, dict[str, Any]] = {}
        self.credentials: dict[str, dict[str, str]] = {}
        self.rows: dict[tuple[str, str], dict[str, Any]] = defaultdict(dict)
        self.tool_errors: list[str] = []
        self.admin_cookies: dict[str, str] = {}
        self.injectable: list[dict[str, str]] = []
        self.wapiti: dict[str, dict[str, Any]] = {}
        self.schemathesis: dict[str, dict[str, Counter]] = {}
        self.sqlmap_targets: dict[str, int] = {}
        self.sqlmap_refused: dict[str, int] = {}
        self.operations = 0

    # -- environment -------------------------------------------------------------------------
    def prepare(self) -> None:
        if OUT.exists():
            shutil.rmtree(OUT)
        (OUT / "server").mkdir(parents=True)
        database_url = os.environ.get("DAST_DATABASE_URL") or _with_path(
            os.environ.get("DATABASE_URL") or "postgres://postgres@127.0.0.1:5432/", "/fintech_dast"
        )
        redis_url = os.environ.get("DAST_REDIS_URL") or _with_path(
            os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/", "/9"
        )
        self.env = {**os.environ, **deploy_environment(database_url, redis_url, OUT / "server")}
        import psycopg
        import redis

        admin_url = database_url.rsplit("/", 1)[0] + "/postgres"
        with psycopg.connect(admin_url, autocommit=True) as conn:
            for url in (database_url, self.env["SUBJECT_KEYS_DATABASE_URL"]):
                name = urllib.parse.urlsplit(url).path.lstrip("/")
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                conn.execute(f'CREATE DATABASE "{name}"')
        redis.Redis.from_url(redis_url).flushdb()
        cert, key = OUT / "server" / "cert.pem", OUT / "server" / "key.pem"
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", f"/CN={HOST}",
             "-addext", f"subjectAltName=IP:{HOST},DNS:localhost", "-keyout", str(key), "-out", str(cert)],
            check=True, capture_output=True,
        )  # fmt: skip
        manage = [str(VENV_BIN / "python"), "manage.py"]
        log("migrate and collectstatic (production profile)")
        self._django([*manage, "migrate", "--database", "keys", "--noinput", "-v", "0"])
        self._django([*manage, "migrate", "--noinput", "-v", "0"])
        self._django([*manage, "collectstatic", "--noinput", "-v", "0"])
        log("seed: manage.py demo_data (dev profile: its ledger story settles through the sandbox processor)")
        seed = self._django(
            [*manage, "demo_data"],
            extra={"DJANGO_SETTINGS_MODULE": "fintech.settings.dev"},
        )
        (OUT / "server" / "seed.log").write_text(seed, encoding="utf-8")
        # The seed's enrolments used this time step's codes; a code is accepted once (replay).
        self.seed_step = totp("A" * 16)[1]
        self._read_credentials(OUT / "server" / "demo-credentials.txt")

    def _django(self, command: list[str], extra: dict[str, str] | None = None) -> str:
        done = subprocess.run(
            command, cwd=ROOT, env={**self.env, **(extra or {})}, capture_output=True, text=True, check=False
        )
        if done.returncode:
            sys.stderr.write(done.stdout[-4000:] + done.stderr[-4000:])
            raise SystemExit(f"dast: {' '.join(command[1:])} failed")
        return done.stdout

    def _read_credentials(self, path: Path) -> None:
        for line in path.read_text(encoding="utf-8").splitlines():
            parts = line.split()
            if len(parts) == 6 and parts[3:5] == ["TOTP", "key"]:
                self.credentials[parts[0]] = {"email": parts[1], "password": parts[2], "key": parts[5]}

    def start_server(self) -> None:
        access_log = OUT / "server" / "access.log"
        command = [
            str(VENV_BIN / "gunicorn"), "--config", "python:fintech.gunicorn_conf", "fintech.wsgi:application",
            "--bind", f"{HOST}:{PORT}", "--workers", "2", "--threads", "4", "--timeout", "60",
            "--certfile", str(OUT / "server" / "cert.pem"), "--keyfile", str(OUT / "server" / "key.pem"),
            "--access-logfile", str(access_log), "--access-logformat", ACCESS_LOG_FORMAT,
            "--error-logfile", str(OUT / "server" / "error.log"),
        ]  # fmt: skip
        log(f"gunicorn (fintech.settings.prod, TLS) on {self.base}")
        with (OUT / "server" / "app.log").open("w") as app_log:
            self.server = subprocess.Popen(
                command, cwd=ROOT, env=self.env, stdout=app_log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if self.http("GET", "/readyz").status_code == 200:
                    return
            except Exception:  # noqa: S110 - not up yet
                pass
            if self.server.poll() is not None:
                raise SystemExit(f"dast: gunicorn exited; see {OUT / 'server'}")
            time.sleep(1)
        raise SystemExit("dast: the app did not become ready within 60 s")

    def stop_server(self) -> None:
        if self.server and self.server.poll() is None:
            os.killpg(self.server.pid, signal.SIGTERM)
            try:
                self.server.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.server.pid, signal.SIGKILL)

    def http(self, method: str, path: str, *, persona: str | None = None, **kwargs: Any):
        import requests
        import urllib3

        urllib3.disable_warnings()
        headers = kwargs.pop("headers", {})
        if persona and persona != "anonymous":
            headers["Authorization"] = f"Bearer {self.bearer(persona)}"
        return requests.request(
            method,
            self.base + path,
            headers=headers,
            verify=False,  # noqa: S501 - our own per-run certificate
            timeout=30,
            allow_redirects=False,
            **kwargs,
        )

    # -- personas ----------------------------------------------------------------------------
    def login(self, persona: str, email: str, password: str, key: str) -> None:
        code, _ = totp(key)
        answer = self.http("POST", "/api/v1/auth/token/", json={"email": email, "password": password, "otp": code})
        if answer.status_code != 200:
            raise SystemExit(f"dast: {persona} could not log in ({answer.status_code} {answer.text[:200]})")
        self.tokens[persona] = {**answer.json(), "at": time.monotonic()}

    def bearer(self, persona: str, fresh: bool = False) -> str:
        """The persona's access token, refreshed (rotation) when older than three minutes."""
        token = self.tokens[persona]
        if fresh or time.monotonic() - token["at"] > 180:
            answer = self.http("POST", "/api/v1/auth/token/refresh/", json={"refresh": token["refresh"]})
            if answer.status_code != 200:
                raise SystemExit(f"dast: {persona}'s session could not be refreshed ({answer.status_code})")
            self.tokens[persona] = token = {**answer.json(), "at": time.monotonic()}
        return str(token["access"])

    def personas(self) -> None:
        log("personas log in (password + TOTP); a second customer registers and enrols through the API")
        while totp("A" * 16)[1] <= self.seed_step:
            time.sleep(1)
        for persona, role in (
            ("customer", "customer"),
            ("operations", "operations"),
            ("information_officer", "information_officer"),
            ("auditor", "auditor"),
        ):
            found = self.credentials[role]
            self.login(persona, found["email"], found["password"], found["key"])
        email, password = f"second.{secrets.token_hex(4)}@dast.example", f"Dast-{secrets.token_urlsafe(12)}-9x"
        answer = self.http(
            "POST", "/api/v1/auth/register/",
            json={"email": email, "password": password, "first_name": "Second", "last_name": "Customer"},
        )  # fmt: skip
        if answer.status_code not in (201, 202):
            raise SystemExit(f"dast: registration failed ({answer.status_code} {answer.text[:200]})")
        answer = self.http("POST", "/api/v1/auth/token/", json={"email": email, "password": password})
        if answer.status_code != 200:
            raise SystemExit(f"dast: the second customer could not log in ({answer.status_code} {answer.text[:200]})")
        self.tokens["other_customer"] = {**answer.json(), "at": time.monotonic()}
        enrol = self.http("POST", "/api/v1/auth/mfa/totp/", persona="other_customer", json={"password": password})
        if enrol.status_code not in (200, 201):
            raise SystemExit(f"dast: TOTP enrolment failed ({enrol.status_code} {enrol.text[:200]})")
        key = enrol.json().get("secret") or _secret_from_uri(enrol.json()["otpauth_uri"])
        code, _ = totp(key)
        confirm = self.http("POST", "/api/v1/auth/mfa/totp/confirm/", persona="other_customer", json={"otp": code})
        if confirm.status_code != 200:
            raise SystemExit(f"dast: TOTP confirmation failed ({confirm.status_code} {confirm.text[:200]})")
        self.tokens["other_customer"] = {**confirm.json(), "at": time.monotonic()}
        # The admin session is made now, before the scanners' wrong logins from this address make
        # the login throttle slow it down, and kept alive (each tool step touches it) until wapiti.
        self.admin_cookies = self.admin_session_cookies()
        schema = self.http("GET", "/api/schema/?format=json", persona="operations")
        if schema.status_code != 200:
            raise SystemExit(f"dast: the staff could not read the OpenAPI schema ({schema.status_code})")
        self.schema = schema.json()
        (OUT / "openapi.json").write_text(json.dumps(self.schema, indent=1), encoding="utf-8")
        self.operations = sum(
            1
            for path, ops in self.schema["paths"].items()
            if path.startswith("/api/v1/")
            for m in ops
            if m != "parameters"
        )
        anonymous = self.http("GET", "/api/schema/?format=json")
        log(f"OpenAPI: {self.operations} operations; anonymous read of the schema answers {anonymous.status_code}")

    # -- schemathesis ------------------------------------------------------------------------
    def run_schemathesis(self) -> None:
        for persona in self.api_personas:
            folder = OUT / "schemathesis" / persona
            folder.mkdir(parents=True)
            started = time.monotonic()
            failures: dict[str, Counter] = {}
            exits = []
            # One schemathesis process per phase, each with a fresh access token (tokens live five
            # minutes; the full profile's phases together run longer than that).
            for phase in self.profile.phases.split(","):
                self.touch_admin()
                headers = [f"User-Agent: dast/schemathesis/{persona}"]
                if persona != "anonymous":
                    headers.append(f"Authorization: Bearer {self.bearer(persona, fresh=True)}")
                phase_folder = folder / phase
                phase_folder.mkdir()
                command = schemathesis_command(
                    OUT / "openapi.json", self.base, phase_folder, replace(self.profile, phases=phase), headers
                )
                with (phase_folder / "output.txt").open("w") as output:
                    done = subprocess.run(
                        command,
                        cwd=phase_folder,
                        stdout=output,
                        stderr=subprocess.STDOUT,
                        env={**os.environ, "NO_COLOR": "1"},
                        check=False,
                    )
                exits.append(done.returncode)
                for kind, found in schemathesis_failures(phase_folder / "junit.xml").items():
                    failures.setdefault(kind, Counter()).update(found)
            self.schemathesis[persona] = failures
            log(
                f"schemathesis as {persona}: exit {max(exits)} in {time.monotonic() - started:.0f} s; "
                + ", ".join(f"{kind} {sum(failures[kind].values())}" for kind in failures)
            )
            done = subprocess.CompletedProcess(command, max(exits))
            if done.returncode not in (0, 1):
                self.tool_errors.append(f"schemathesis as {persona} exited {done.returncode}")

    # -- sqlmap ------------------------------------------------------------------------------
    def sqlmap_targets_for(self, persona: str) -> list[str]:
        """GET operations with a path id or query parameter, with real values for this persona,
        each parameter marked for injection; operations that refuse the persona are skipped."""
        targets = []
        refused = 0
        for path, ops in sorted(self.schema["paths"].items()):
            op = ops.get("get")
            if not path.startswith("/api/v1/") or not op:
                continue
            params = [
                p for p in op.get("parameters", []) + ops.get("parameters", []) if p.get("in") in {"path", "query"}
            ]
            if not params:
                continue
            url_path = path
            for param in (p for p in params if p["in"] == "path"):
                url_path = url_path.replace("{" + param["name"] + "}", self._real_id(path, persona) + "*")
            query = [(p["name"], _sample(p) + "*") for p in params if p["in"] == "query"]
            probe = self.http(
                "GET",
                url_path.replace("*", "")
                + ("?" + urllib.parse.urlencode([(k, v.rstrip("*")) for k, v in query]) if query else ""),
                persona=persona,
            )
            if probe.status_code in (401, 403, 405):
                refused += 1
                continue
            targets.append(
                self.base
                + url_path
                + ("?" + "&".join(f"{k}={urllib.parse.quote(v, safe='*')}" for k, v in query) if query else "")
            )
        self.sqlmap_refused[persona] = refused
        return targets

    def _real_id(self, path: str, persona: str) -> str:
        listing = path.split("{", maxsplit=1)[0]
        try:
            answer = self.http("GET", listing, persona=persona)
            if answer.status_code == 200:
                body = answer.json()
                items = body.get("results", body) if isinstance(body, dict) else body
                if isinstance(items, list) and items and isinstance(items[0], dict):
                    for key in ("public_id", "id"):
                        if key in items[0]:
                            return str(items[0][key])
        except ValueError:
            pass
        return "00000000-0000-4000-8000-000000000000"

    def run_sqlmap(self) -> None:
        python = ensure_venv("sqlmap", SQLMAP_REQUIREMENT)
        for persona in self.api_personas:
            folder = OUT / "sqlmap" / persona
            folder.mkdir(parents=True)
            targets = self.sqlmap_targets_for(persona)
            self.sqlmap_targets[persona] = len(targets)
            started = time.monotonic()
            per_process = self.profile.sqlmap_targets_per_process
            for number, start in enumerate(range(0, len(targets), per_process)):
                # Bulk mode over a chunk of the persona's targets with a token made for it (the quick
                # profile's chunk is every target; the full one's, one target per process).
                chunk = targets[start : start + per_process]
                self.touch_admin()
                (folder / "targets.txt").write_text("\n".join(chunk) + "\n", encoding="utf-8")
                header = (
                    f"Authorization: Bearer {self.bearer(persona, fresh=True)}"
                    if persona != "anonymous"
                    else "Accept: application/json"
                )
                command = sqlmap_command(python.parent / "sqlmap", folder, self.profile, persona, header)
                command[command.index("--results-file") + 1] = str(folder / f"results-{number}.csv")
                with (folder / f"output-{number}.txt").open("w") as output:
                    done = subprocess.run(
                        command, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, check=False
                    )
                text = (folder / f"output-{number}.txt").read_text(errors="replace")
                tested = text.count("testing URL '")
                if done.returncode != 0 or tested < len(chunk):
                    self.tool_errors.append(
                        f"sqlmap as {persona}: exit {done.returncode}, {tested} of {len(chunk)} targets tested"
                    )
            found = sqlmap_injectable(folder)
            self.injectable += [{**item, "persona": persona} for item in found]
            log(
                f"sqlmap as {persona}: {len(targets)} targets ({self.sqlmap_refused[persona]} refused the persona) "
                f"in {time.monotonic() - started:.0f} s; injectable {len(found)}"
            )

    # -- wapiti ------------------------------------------------------------------------------
    def admin_session_cookies(self) -> dict[str, str]:
        import requests
        import urllib3

        urllib3.disable_warnings()
        found = self.credentials["admin"]
        session = requests.Session()
        login = self.base + "/admin/login/"
        page = session.get(login, timeout=30, verify=False)
        csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        if not csrf:
            raise SystemExit(f"dast: no CSRF token on the admin login page ({page.status_code})")
        code, _ = totp(found["key"])
        answer = session.post(
            login,
            data={"csrfmiddlewaretoken": csrf.group(1), "username": found["email"], "password": found["password"],
                  "otp_token": code, "next": "/admin/"},
            headers={"Referer": login},
            allow_redirects=False, timeout=30, verify=False,
        )  # fmt: skip
        if answer.status_code != 302:
            raise SystemExit(f"dast: admin login failed ({answer.status_code})")
        return {cookie.name: cookie.value for cookie in session.cookies}

    def touch_admin(self) -> None:
        """One admin page with the staff session, so that its idle timeout does not end it."""
        cookie = "; ".join(f"{name}={value}" for name, value in self.admin_cookies.items())
        answer = self.http("GET", "/admin/", headers={"Cookie": cookie})
        if answer.status_code != 200:
            raise SystemExit(f"dast: the admin session ended ({answer.status_code})")

    def run_wapiti(self) -> None:
        python = ensure_venv("wapiti", WAPITI_REQUIREMENT)
        wapiti = python.parent / "wapiti"
        scans: list[tuple[str, str, list[str]]] = []
        self.touch_admin()
        cookies = self.admin_cookies
        cookie_value = "; ".join(f"{name}={value}" for name, value in cookies.items())
        scans.append(("admin", "admin", [
            "-u", f"{self.base}/admin/", "--scope", "folder", "-C", cookie_value,
            "-x", f"{self.base}/admin/logout/", "-x", f"{self.base}/admin/password_change/",
            "-x", f"{self.base}/admin/password_change/done/", "-x", f"{self.base}/admin/mfa/*",
        ]))  # fmt: skip
        for persona in self.profile.wapiti_api_personas:
            scans.append((f"api-{persona}", persona, [
                "-u", f"{self.base}/api/v1/", "--scope", "folder", "--swagger", str(OUT / "openapi.json"),
                "-H", f"Authorization: Bearer {self.bearer(persona)}",
                "-x", f"{self.base}/api/v1/auth/logout/",
            ]))  # fmt: skip
        for name, persona, target in scans:
            folder = OUT / "wapiti" / name
            folder.mkdir(parents=True)
            command = wapiti_command(wapiti, target, folder, self.profile, persona)
            started = time.monotonic()
            try:
                with (folder / "output.txt").open("w") as output:
                    done = subprocess.run(
                        command, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                        timeout=self.profile.wapiti_max_scan_seconds * 3 + 120, check=False,
                    )  # fmt: skip
            except subprocess.TimeoutExpired:
                done = subprocess.CompletedProcess(command, -9)
            self.wapiti[name] = wapiti_findings(folder / "report.json")
            if done.returncode != 0 or not (folder / "report.json").exists():
                self.tool_errors.append(f"wapiti {name} exited {done.returncode}")
            severities = dict(self.wapiti[name]["by_severity"])
            log(
                f"wapiti {name}: exit {done.returncode} in {time.monotonic() - started:.0f} s; "
                f"findings {severities or 'none'}"
            )

    # -- summary -----------------------------------------------------------------------------
    def summarise(self, seconds: float) -> tuple[dict[str, Any], str]:
        traffic = count_access_log(OUT / "server" / "access.log")
        keys = sorted(traffic.requests, key=lambda k: (k[0], k[1]))
        schema_violations = sum(sum(f["schema"].values()) for f in self.schemathesis.values())
        check_failures = sum(sum(f["checks"].values()) + sum(f["server"].values()) for f in self.schemathesis.values())
        leniency = sum(sum(f["leniency"].values()) for f in self.schemathesis.values())
        errors = sum(sum(f["errors"].values()) for f in self.schemathesis.values())
        wapiti_by_severity: Counter = Counter()
        for found in self.wapiti.values():
            wapiti_by_severity.update(found["by_severity"])
        summary = {
            "profile": self.profile.name,
            "seconds": round(seconds),
            "operations": self.operations,
            "api_personas": list(self.api_personas),
            "requests": sum(traffic.requests.values()),
            "server_errors": sum(traffic.server_errors.values()),
            "server_error_paths": {f"{t}/{p}": dict(c) for (t, p), c in traffic.error_paths.items()},
            "schema_violations": schema_violations,
            "check_failures": check_failures,
            "request_leniency": leniency,
            "tool_errors": errors + len(self.tool_errors),
            "tool_error_list": self.tool_errors,
            "injectable": len(self.injectable),
            "injectable_list": self.injectable,
            "sqlmap_targets": self.sqlmap_targets,
            "wapiti_by_severity": dict(wapiti_by_severity),
            "wapiti_blocking": sum(len(f["blocking"]) for f in self.wapiti.values()),
            "wapiti_blocking_list": [b for f in self.wapiti.values() for b in f["blocking"]],
            "schemathesis": {p: {k: dict(v) for k, v in f.items()} for p, f in self.schemathesis.items()},
            "per_tool_persona": {
                f"{t}/{p}": {"requests": traffic.requests[(t, p)], "5xx": traffic.server_errors[(t, p)]}
                for t, p in keys
            },
        }
        lines = [
            f"DAST ({self.profile.name}) against fintech.settings.prod under gunicorn+TLS on {self.base}: "
            f"{round(seconds)} s",
            f"API: {self.operations} operations x {len(self.api_personas)} personas "
            f"({', '.join(self.api_personas)}) + admin session",
            "",
            f"{'tool':<13} {'persona':<20} {'requests':>9} {'5xx':>5} {'schema':>7} {'checks':>7} "
            f"{'lenient':>8} {'targets':>8} {'inject':>7}",
        ]
        for tool, persona in keys:
            schema_count = other_count = lenient = targets = inject = ""
            if tool == "schemathesis" and persona in self.schemathesis:
                schema_count = str(sum(self.schemathesis[persona]["schema"].values()))
                other_count = str(
                    sum(self.schemathesis[persona]["checks"].values())
                    + sum(self.schemathesis[persona]["server"].values())
                )
                lenient = str(sum(self.schemathesis[persona]["leniency"].values()))
            if tool == "sqlmap":
                targets = str(self.sqlmap_targets.get(persona, ""))
                inject = str(sum(1 for i in self.injectable if i["persona"] == persona))
            lines.append(
                f"{tool:<13} {persona:<20} {traffic.requests[(tool, persona)]:>9} "
                f"{traffic.server_errors[(tool, persona)]:>5} "
                f"{schema_count:>7} {other_count:>7} {lenient:>8} {targets:>8} {inject:>7}"
            )
        lines += [
            f"{'TOTAL':<34} {summary['requests']:>9} {summary['server_errors']:>5} "
            f"{schema_violations:>7} {check_failures:>7} "
            f"{leniency:>8} {sum(self.sqlmap_targets.values()):>8} {len(self.injectable):>7}",
            "(schema: ST103-111 contract violations; checks: every other gated schemathesis check; lenient: ST201-203,"
            " request-side strictness, reported not gated; targets: sqlmap URLs the persona may call)",
            "",
            "wapiti findings by severity: "
            + (
                ", ".join(f"{s} {wapiti_by_severity[s]}" for s in ("critical", "high", "medium", "low", "info"))
                if self.wapiti
                else "not run"
            ),
        ]
        for name, found in self.wapiti.items():
            lines.append(
                f"  {name:<22} "
                + ", ".join(f"{s} {found['by_severity'][s]}" for s in ("critical", "high", "medium", "low", "info"))
                + f"; anomalies {found['anomalies']}"
            )
        for key, paths in summary["server_error_paths"].items():
            for where, count in paths.items():
                lines.append(f"  5xx {key}: {where} x{count}")
        for item in self.injectable:
            lines.append(f"  INJECTABLE as {item['persona']}: {item['url']} {item['place']} {item['parameter']}")
        for blocking in summary["wapiti_blocking_list"]:
            lines.append(f"  WAPITI HIGH: {blocking}")
        for error in self.tool_errors:
            lines.append(f"  TOOL ERROR: {error}")
        reasons = gate(summary)
        summary["failed"] = reasons
        lines += [
            "",
            ("FAILED: " + "; ".join(reasons))
            if reasons
            else "PASSED: 5xx = 0, schema violations = 0, injectable = 0, wapiti high = 0",
        ]
        lines.append(
            f"Reports: {OUT}/ (summary.txt, summary.json, openapi.json, schemathesis/, sqlmap/, wapiti/, "
            "server/access.log)"
        )
        return summary, "\n".join(lines)


def _with_path(url: str, path: str) -> str:
    """The same server, another database: ``fintech_dast`` on PostgreSQL, number 9 on Redis."""
    return urllib.parse.urlunsplit(urllib.parse.urlsplit(url)._replace(path=path))


def _secret_from_uri(uri: str) -> str:
    return urllib.parse.parse_qs(urllib.parse.urlsplit(uri).query)["secret"][0]


def _sample(param: dict[str, Any]) -> str:
    schema = param.get("schema", {})
    if schema.get("enum"):
        return "json" if "json" in schema["enum"] else str(schema["enum"][0])
    if schema.get("type") == "integer":
        return "1" if param["name"] != "page_size" else "10"
    if schema.get("type") == "boolean":
        return "true"
    if schema.get("format") == "date-time" or param["name"] in {"from", "to"}:
        return "2026-01-01T00:00:00Z"
    if schema.get("format") == "uuid":
        return "00000000-0000-4000-8000-000000000000"
    return "a"


def ensure_venv(name: str, requirement: str) -> Path:
    """The tool's own virtualenv under var/tools/<name> (its pins never meet the app's)."""
    folder = TOOLS / name
    python = folder / "bin" / "python"
    marker = folder / ".installed"
    if not marker.exists() or marker.read_text().strip() != requirement:
        log(f"installing {requirement} into {folder}")
        if not python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", requirement], check=True
        )
        marker.write_text(requirement)
    return python


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--profile", choices=sorted(PROFILES), default="quick")
    parser.add_argument("--only", default="schemathesis,sqlmap,wapiti")
    parser.add_argument("--personas", default=",".join(API_PERSONAS), help="API personas (a subset while developing)")
    parser.add_argument("--serve", type=int, default=0, help="develop a tool step: keep the app up this many seconds")
    parser.add_argument("--tools-only", action="store_true", help="install the tools' virtualenvs and stop")
    args = parser.parse_args(argv)
    if args.tools_only:
        ensure_venv("sqlmap", SQLMAP_REQUIREMENT)
        ensure_venv("wapiti", WAPITI_REQUIREMENT)
        return 0
    only = set(args.only.split(","))
    run = Run(PROFILES[args.profile], only, tuple(args.personas.split(",")))
    started = time.monotonic()
    try:
        run.prepare()
        run.start_server()
        run.personas()
        if args.serve:
            (OUT / "tokens.json").write_text(json.dumps(run.tokens), encoding="utf-8")
            log(f"serving for {args.serve} s; tokens in {OUT / 'tokens.json'}")
            time.sleep(args.serve)
        if "schemathesis" in only:
            run.run_schemathesis()
        if "sqlmap" in only:
            run.run_sqlmap()
        if "wapiti" in only:
            run.run_wapiti()
    finally:
        run.stop_server()
    summary, table = run.summarise(time.monotonic() - started)
    (OUT / "summary.json").write_text(json.dumps(summary, indent=1, default=str), encoding="utf-8")
    (OUT / "summary.txt").write_text(table + "\n", encoding="utf-8")
    print(table, flush=True)
    return 1 if summary["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Static analysis with the project's own rules (issue 15, SPEC C10), run by ``make sast``.

    scripts/sast.py            # scan the checkout; print the figures; exit 1 on any finding

semgrep (pinned, its own virtualenv under ``var/tools/semgrep``: scripts/ops_tools.py, group
``sast``) runs the rules of ``.semgrep/`` (one file per rule; each says what it forbids, where
and why) over the application, offline: ``--metrics=off``, no version check, no registry
rule, nothing fetched. What is not scanned is in ``.semgrepignore``. A finding is fixed, or, only
where the code is genuinely right, suppressed on its line with ``# nosemgrep: <rule-id>`` and a
reason. The figures printed: rules, files scanned, findings per rule, seconds.
``tests/test_sast.py`` proves each rule fires on a planted violation. Standard library only.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ops_tools import semgrep_bin

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / ".semgrep"
# Offline and quiet whatever the caller's environment says.
SEMGREP_ENV = {"SEMGREP_SEND_METRICS": "off", "SEMGREP_ENABLE_VERSION_CHECK": "0"}


@dataclass
class Finding:
    rule: str
    path: str
    line: int
    message: str
    code: str  # the offending line (semgrep prints it only to a logged-in user)


@dataclass
class Scan:
    version: str
    rules: list[str]
    files: int
    seconds: float
    findings: list[Finding] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def per_rule(self) -> dict[str, int]:
        counts = dict.fromkeys(self.rules, 0)
        for finding in self.findings:
            counts[finding.rule] = counts.get(finding.rule, 0) + 1
        return counts


def rule_name(check_id: str) -> str:
    """semgrep prefixes a rule's id with its config path (``semgrep.no-raw-sql``): the bare id."""
    return check_id.rsplit(".", 1)[-1]


def scan(root: Path = ROOT, rules: Path = RULES) -> Scan:
    """Run every rule of ``rules`` over ``root`` (paths in the rules are relative to it)."""
    binary = semgrep_bin()
    if not binary.exists():
        raise FileNotFoundError(f"{binary} is absent: python3 scripts/ops_tools.py install sast")
    command = [
        str(binary),
        "scan",
        "--config",
        str(rules),
        "--metrics=off",
        "--disable-version-check",
        "--json",
        "--time",
        "--quiet",
        ".",
    ]
    started = time.monotonic()
    done = subprocess.run(
        command, cwd=root, env={**os.environ, **SEMGREP_ENV}, capture_output=True, text=True, check=False
    )
    seconds = time.monotonic() - started
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        return Scan("?", [], 0, seconds, errors=[f"semgrep exited {done.returncode}: {done.stderr[-2000:]}"])
    lines: dict[str, list[str]] = {}
    findings = []
    for result in report["results"]:
        path = result["path"]
        if path not in lines:
            lines[path] = (root / path).read_text(errors="replace").splitlines()
        line = result["start"]["line"]
        code = lines[path][line - 1].strip() if line <= len(lines[path]) else ""
        findings.append(Finding(rule_name(result["check_id"]), path, line, result["extra"]["message"], code))
    errors = [f"{error.get('type')}: {error.get('message', '')}".strip() for error in report.get("errors", [])]
    return Scan(
        version=report.get("version", "?"),
        rules=sorted(rule_name(rule) for rule in report["time"]["rules"]),
        files=len(report["paths"]["scanned"]),
        seconds=seconds,
        findings=findings,
        errors=errors,
    )


def report(result: Scan) -> int:
    """Print the findings and the figures; the exit status ``make sast`` ends with."""
    for finding in result.findings:
        print(f"{finding.path}:{finding.line}: [{finding.rule}]\n    {finding.code}\n  {finding.message}\n")
    for error in result.errors:
        print(f"sast: semgrep error: {error}")
    figures = f"{len(result.rules)} rules, {result.files} files scanned, {result.seconds:.1f}s"
    print(f"sast: semgrep {result.version}: {figures}")
    for rule, count in result.per_rule().items():
        print(f"  {rule:<32} {count} finding(s)")
    total = len(result.findings)
    print(f"sast: {total} finding(s), {len(result.errors)} error(s)")
    return 1 if total or result.errors or not result.rules else 0


def main() -> int:
    try:
        result = scan()
    except FileNotFoundError as exc:
        print(f"sast: {exc}", file=sys.stderr)
        return 2
    return report(result)


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Infrastructure-as-code gates (SPEC C9, issue 18), run by ``make ci`` (``make iac-check``).

    scripts/iac_check.py terraform   # fmt -check, init -backend=false from the local provider mirror, validate
    scripts/iac_check.py checkov     # Terraform, Kubernetes and the Dockerfile: 0 failed checks
    scripts/iac_check.py rules       # promtool check rules + promtool test rules
    scripts/iac_check.py all

Offline: terraform initialises from the provider mirror (scripts/ops_tools.py terraform_mirror,
CHECKPOINT_DISABLE=1), checkov runs with --skip-download. Every check that is skipped is skipped
where the resource is defined, with its reason (``checkov:skip=ID: why``). A missing tool is
named, with how to get it, and fails the gate (CI installs them: scripts/ops_tools.py install).
Standard library only.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ops_tools import checkov_bin, terraform_bin, terraform_mirror

ROOT = Path(__file__).resolve().parent.parent
TERRAFORM = ROOT / "deploy" / "terraform"
MONITORING = ROOT / "deploy" / "monitoring"
CHECKOV_TARGETS = [
    ("terraform", ["-d", str(TERRAFORM)]),
    ("kubernetes", ["-d", str(ROOT / "deploy" / "k8s")]),
    ("dockerfile", ["-f", str(ROOT / "Dockerfile")]),
]


def _run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    print("iac_check: " + " ".join(command), file=sys.stderr, flush=True)
    return subprocess.run(command, check=False, **kwargs)


def terraform(folder: Path = TERRAFORM) -> int:
    binary, mirror = terraform_bin(), terraform_mirror()
    if binary is None or mirror is None:
        print("iac_check: terraform (1.11+) or its AWS provider mirror (TF_PLUGIN_DIR) is absent", file=sys.stderr)
        return 1
    env = {**os.environ, "CHECKPOINT_DISABLE": "1", "TF_IN_AUTOMATION": "1"}
    steps = [
        [binary, "fmt", "-check", "-recursive", "-diff"],
        [binary, "init", "-backend=false", "-input=false", f"-plugin-dir={mirror}", "-no-color"],
        [binary, "validate", "-no-color"],
    ]
    for step in steps:
        done = _run(step, cwd=folder, env=env, capture_output=True, text=True)
        if done.returncode != 0:
            print(done.stdout[-4000:] + done.stderr[-4000:], file=sys.stderr)
            return done.returncode
    print("iac_check: terraform fmt, init (offline) and validate passed")
    return 0


def checkov_failures(framework: str, target: list[str]) -> tuple[int, list[str]]:
    """(passed, ["CHECK_ID resource", ...] that failed) for one checkov run."""
    binary = checkov_bin()
    done = _run(
        [str(binary), *target, "--framework", framework, "--skip-download", "--quiet", "-o", "json"],
        capture_output=True, text=True,
    )  # fmt: skip
    try:
        reports = json.loads(done.stdout)
    except ValueError:
        raise SystemExit(f"iac_check: checkov gave no report\n{done.stderr[-3000:]}") from None
    reports = reports if isinstance(reports, list) else [reports]
    passed, failed = 0, []
    for report in reports:
        summary = report.get("summary", {})
        passed += summary.get("passed", 0)
        for check in report.get("results", {}).get("failed_checks", []):
            failed.append(f"{check['check_id']} {check['resource']} ({check.get('file_path', '')})")
    return passed, failed


def checkov() -> int:
    if not checkov_bin().exists():
        print("iac_check: checkov is absent (scripts/ops_tools.py install iac)", file=sys.stderr)
        return 1
    status = 0
    for framework, target in CHECKOV_TARGETS:
        passed, failed = checkov_failures(framework, target)
        print(f"iac_check: checkov {framework}: {passed} passed, {len(failed)} failed")
        for line in failed:
            print(f"  FAILED {line}")
        status |= 1 if failed or passed == 0 else 0
    return status


def rules() -> int:
    promtool = shutil.which("promtool")
    if promtool is None:
        print("iac_check: promtool is absent (apt-get install prometheus)", file=sys.stderr)
        return 1
    for step in (["check", "rules", "prometheus-rules.yml"], ["test", "rules", "prometheus-rules.test.yml"]):
        if _run([promtool, *step], cwd=MONITORING).returncode != 0:
            return 1
    return 0


def main(argv: list[str]) -> int:
    gates = {"terraform": terraform, "checkov": checkov, "rules": rules}
    chosen = list(gates) if not argv or argv == ["all"] else argv
    unknown = [name for name in chosen if name not in gates]
    if unknown:
        print(f"iac_check: unknown gate(s) {unknown}; known: {sorted(gates)} or all", file=sys.stderr)
        return 2
    return max(gates[name]() for name in chosen)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

#!/usr/bin/env python3
"""Supply-chain artefacts of the runtime dependencies (SPEC C10): an SBOM and a dependency audit.

    .venv/bin/python scripts/supply_chain.py sbom   # var/sbom/runtime.cdx.json (CycloneDX 1.6, JSON)
    .venv/bin/python scripts/supply_chain.py audit  # pip-audit of the same set

The runtime set is what production installs: requirements.txt and, recursively, what those
distributions require (extras and environment markers evaluated), at the versions installed in
this virtualenv (which ``make install`` built from the same pins). Development tools are not in it.

The audit never reports a pass it did not earn. pip-audit prints "No known vulnerabilities found"
and exits 0 even when it could not look a single package up (no vulnerability source reachable,
as on a machine that reaches only a package mirror); here every skipped package is counted, and
the result is one of: vulnerabilities found (exit 1), complete and clean (exit 0), or INCOMPLETE
(exit 0 with a warning, or exit 1 when ``DEPENDENCY_AUDIT_REQUIRED=1``, as CI with internet sets).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SBOM = ROOT / "var" / "sbom" / "runtime.cdx.json"


def _top_level(path: Path) -> list[Requirement]:
    lines = (re.split(r"\s#", line, maxsplit=1)[0].strip() for line in path.read_text().splitlines())
    return [Requirement(line) for line in lines if line and not line.startswith(("#", "-"))]


def runtime_closure(path: Path = ROOT / "requirements.txt") -> dict[str, str]:
    """{distribution name: installed version} of everything the runtime requirements pull in."""
    found: dict[str, str] = {}
    pending = [(requirement, frozenset(requirement.extras)) for requirement in _top_level(path)]
    while pending:
        requirement, extras = pending.pop()
        name = canonicalize_name(requirement.name)
        distribution = metadata.distribution(name)
        if name in found and not extras:
            continue
        found[name] = distribution.version
        for child in map(Requirement, distribution.requires or []):
            environments = [{**default_environment(), "extra": extra} for extra in extras or {""}]
            if child.marker is None or any(child.marker.evaluate(env) for env in environments):
                pending.append((child, frozenset(child.extras)))
    return dict(sorted(found.items()))


def _pinned(closure: dict[str, str]) -> str:
    return "".join(f"{name}=={version}\n" for name, version in closure.items())


def sbom() -> int:
    closure = runtime_closure()
    SBOM.parent.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [BIN / "cyclonedx-py", "requirements", "-", "--of", "JSON", "--sv", "1.6", "--output-reproducible",
         "-o", str(SBOM)],
        input=_pinned(closure), text=True, check=True,
    )  # fmt: skip
    components = json.loads(SBOM.read_text()).get("components", [])
    print(f"SBOM: {SBOM.relative_to(ROOT)} — {len(components)} runtime components (CycloneDX 1.6)")
    return 0 if len(components) == len(closure) else 1


def audit() -> int:
    closure = runtime_closure()
    with tempfile.TemporaryDirectory() as folder:
        pins, report = Path(folder) / "runtime.txt", Path(folder) / "audit.json"
        pins.write_text(_pinned(closure))
        subprocess.run(
            [BIN / "pip-audit", "-r", str(pins), "--no-deps", "--disable-pip", "--progress-spinner", "off",
             "-f", "json", "-o", str(report)],
            check=False, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        if not report.exists():
            print("dependency audit: FAILED to run pip-audit", file=sys.stderr)
            return 1
        dependencies = json.loads(report.read_text())["dependencies"]
    code, lines = verdict(dependencies, required=os.environ.get("DEPENDENCY_AUDIT_REQUIRED") == "1")
    print("\n".join(lines))
    return code


def verdict(dependencies: list[dict], *, required: bool) -> tuple[int, list[str]]:
    """(exit code, lines to print) for pip-audit's JSON ``dependencies``."""
    vulnerable = [(d["name"], d["version"], v["id"]) for d in dependencies for v in d.get("vulns", [])]
    skipped = [d["name"] for d in dependencies if "skip_reason" in d]
    lines = [f"VULNERABLE: {name} {version}: {vulnerability}" for name, version, vulnerability in vulnerable]
    if vulnerable:
        return 1, [*lines, f"dependency audit: {len(vulnerable)} known vulnerabilities in the runtime set"]
    if skipped:
        return int(required), [
            f"dependency audit: INCOMPLETE — {len(skipped)} of {len(dependencies)} runtime packages could not be "
            "looked up (no vulnerability source reachable from here); this is not a pass."
        ]
    return 0, [f"dependency audit: {len(dependencies)} runtime packages, no known vulnerabilities"]


if __name__ == "__main__":
    commands = {"sbom": sbom, "audit": audit}
    if len(sys.argv) != 2 or sys.argv[1] not in commands:
        raise SystemExit(f"usage: {sys.argv[0]} {{{'|'.join(commands)}}}")
    sys.exit(commands[sys.argv[1]]())

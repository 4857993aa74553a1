#!/usr/bin/env python3
"""The operations engines the drills and CI gates run on, found or installed (SPEC C9, issue 18).

    scripts/ops_tools.py status              # what is present, what is missing (exit 0)
    scripts/ops_tools.py install [GROUP...]  # install what is missing (root; prints each install)
    scripts/ops_tools.py missing GROUP...    # print the missing packages of GROUPs, exit 1 if any

Groups: ``db`` (etcd + Patroni + HAProxy for ``make drill-db``), ``lb`` (nginx for
``make drill-lb``), ``backup`` (pgBackRest for ``make drill-restore``), ``rules`` (promtool),
``iac`` (terraform, checkov), ``sast`` (semgrep for ``make sast``). Debian packages come from apt;
Patroni, checkov and semgrep from PyPI, each
into its own virtualenv under ``var/tools/`` so their pins never fight the app's. Patroni's
virtualenv is built from Debian's ``/usr/bin/python3.11``: PostgreSQL (and so Patroni) runs as the
``postgres`` account, which cannot read a Python installed under root's home.

Standard library only: it runs before the project's virtualenv matters.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOOLS = Path(os.environ.get("FINTECH_TOOLS_DIR", ROOT / "var" / "tools"))
PATRONI_VENV = TOOLS / "patroni"
CHECKOV_VENV = TOOLS / "checkov"
SEMGREP_VENV = TOOLS / "semgrep"
# Pinned: a drill must not change behaviour because PyPI moved on.
PATRONI_REQUIREMENT = "patroni[etcd3,psycopg3]==4.1.5"
CHECKOV_REQUIREMENT = "checkov==3.3.30"
SEMGREP_REQUIREMENT = "semgrep==1.185.0"

# Debian binaries: package -> the executable that proves it is installed.
APT = {
    "etcd-server": "/usr/bin/etcd",
    "etcd-client": "/usr/bin/etcdctl",
    "haproxy": "/usr/sbin/haproxy",
    "nginx": "/usr/sbin/nginx",
    "pgbackrest": "/usr/bin/pgbackrest",
    "prometheus": "/usr/bin/promtool",
}
GROUPS = {
    "db": ["etcd-server", "etcd-client", "haproxy", "patroni"],
    "lb": ["nginx"],
    "backup": ["pgbackrest"],
    "rules": ["prometheus"],
    "iac": ["terraform", "checkov"],
    "sast": ["semgrep"],
}


def patroni_bin() -> Path:
    return PATRONI_VENV / "bin" / "patroni"


def checkov_bin() -> Path:
    return CHECKOV_VENV / "bin" / "checkov"


def semgrep_bin() -> Path:
    return SEMGREP_VENV / "bin" / "semgrep"


def terraform_bin() -> str | None:
    return shutil.which("terraform")


def terraform_mirror() -> Path | None:
    """The local mirror of the AWS provider (``registry.terraform.io``), for an offline init."""
    for candidate in (os.environ.get("TF_PLUGIN_DIR"), "/opt/tf-plugins", "/usr/share/terraform/plugins"):
        if candidate and (Path(candidate) / "registry.terraform.io").is_dir():
            return Path(candidate)
    return None


def present(package: str) -> bool:
    if package in APT:
        return Path(APT[package]).exists()
    if package == "patroni":
        return patroni_bin().exists()
    if package == "checkov":
        return checkov_bin().exists()
    if package == "semgrep":
        return semgrep_bin().exists()
    if package == "terraform":
        return terraform_bin() is not None and terraform_mirror() is not None
    raise KeyError(package)


def missing(*groups: str) -> list[str]:
    wanted = [package for group in groups or GROUPS for package in GROUPS[group]]
    return [package for package in dict.fromkeys(wanted) if not present(package)]


def _run(command: list[str]) -> None:
    print("ops_tools: " + " ".join(command), file=sys.stderr, flush=True)
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL if "apt-get" in command[0] else None)


def _venv(folder: Path, python: str, requirement: str) -> None:
    folder.parent.mkdir(parents=True, exist_ok=True)
    _run([python, "-m", "venv", str(folder)])
    _run([str(folder / "bin" / "pip"), "install", "--quiet", "--disable-pip-version-check", requirement])
    # The postgres account runs Patroni from here: every directory up to it must be enterable.
    for path in [folder, *folder.parents]:
        if path == Path("/"):
            break
        path.chmod(path.stat().st_mode | 0o005)


def install(*groups: str) -> int:
    needed = missing(*groups)
    if not needed:
        print("ops_tools: every engine is present", file=sys.stderr)
        return 0
    apt = [package for package in needed if package in APT]
    if apt:
        if os.geteuid() != 0:
            print(f"ops_tools: not root; install them with: apt-get install -y {' '.join(apt)}", file=sys.stderr)
            return 1
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        os.environ.update(env)
        _run(["apt-get", "update", "-qq"])
        _run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *apt])
    if "patroni" in needed:
        python = "/usr/bin/python3.11" if Path("/usr/bin/python3.11").exists() else sys.executable
        _venv(PATRONI_VENV, python, PATRONI_REQUIREMENT)
    if "checkov" in needed:
        _venv(CHECKOV_VENV, sys.executable, CHECKOV_REQUIREMENT)
    if "semgrep" in needed:
        _venv(SEMGREP_VENV, sys.executable, SEMGREP_REQUIREMENT)
    if "terraform" in needed:
        print(
            "ops_tools: terraform (1.11+) and a local AWS provider mirror (TF_PLUGIN_DIR with a "
            "registry.terraform.io folder) are not installable from here: install them from HashiCorp",
            file=sys.stderr,
        )
        return 1
    return 0


def main(argv: list[str]) -> int:
    command, groups = (argv[0] if argv else "status"), argv[1:]
    unknown = [group for group in groups if group not in GROUPS]
    if unknown:
        print(f"ops_tools: unknown group(s) {unknown}; known: {sorted(GROUPS)}", file=sys.stderr)
        return 2
    if command == "install":
        return install(*groups)
    if command == "missing":
        absent = missing(*groups)
        if absent:
            print(" ".join(absent))
        return 1 if absent else 0
    for group, packages in GROUPS.items():
        states = ", ".join(f"{package} {'ok' if present(package) else 'MISSING'}" for package in packages)
        print(f"{group:<7} {states}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""The architecture contracts, as a reviewer can rerun them (issue 14's "must show").

- ``lint-imports`` (import-linter, [tool.importlinter] in pyproject.toml) passes on the code and
  fails on a planted forbidden import and on a planted import circle.
- Every concern package of compliance/ and ledger/ uses the standard file names; no module is
  named after a layer and a concern at once (``services_consent.py``, ``audit_selectors.py``).
- Celery task names are interfaces (beat rows and queued messages are keyed by them): the set of
  the platform's task names and the beat schedule's entries are listed here and must not change
  by accident.
- Who acts is typed: no ``actor`` parameter is unannotated or ``Any``; a selector handed an id is
  an ``access_<thing>(viewer=..., public_id=...)`` function (kernel.access).
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
PACKAGES = ("fintech", "accounts", "compliance", "ledger", "kernel")

# The standard file names of a concern package (docs/ARCHITECTURE.md, "Layout").
STANDARD = {
    "__init__",
    "models",
    "services",
    "selectors",
    "views",
    "serializers",
    "urls",
    "admin",
    "tasks",
    "checks",
    "metrics",
    "retention",  # the retention targets a package registers (as accounts/retention.py, ledger/retention.py)
    "errors",  # the package's DomainError subclass and its codes
    "seed",  # seeding the tables from the declarations (compliance.pi.vocabulary)
}
# Modules a concern has beyond the standard names: each one named after what it is, not a layer.
DOMAIN_MODULES = {
    "pi": {"registry", "vocabulary", "inventory", "masking"},
    "audit": {
        "chain",
        "archive",
        "storage",
        "change_trail",
        "db_roles",
        "middleware",
        "merkle",
        "note",
        "transparency",
        "verify",
        "labels",  # the audit actions in words, for the subject's "who accessed your data"
    },
    "crypto": {"aead", "fields", "keys", "blind_index", "backfill", "subject_keys", "subject_rows", "key_store"},
    "consent": {"consumers"},
    "retention": {"engine"},
    "dsar": {
        "workflow",
        "kinds",
        "export",
        "erasure",
        "erasure_ledger",  # the erasures recorded outside the database (survives a restore)
        "reapply",  # re-erasing the ledger's subjects after a restore
        "corrections",
        "escalation",
        "balances",
        "notices",
    },
    "secret_rotation": {"inventory", "providers", "rotation"},
}
LAYER_WORDS = ("services", "selectors", "admin", "api", "urls", "views", "serializers", "models", "tasks")

TASK_NAMES = {
    "accounts.tasks.send_password_reset_email",
    "accounts.tasks.send_security_notice",
    "compliance.crypto.continue_key_rotation",
    "compliance.dsar.build_export",
    "compliance.dsar.erase_subject",
    "compliance.dsar.escalate",
    "compliance.dsar.record_erasures",
    "compliance.dsar.resend_notices",
    "compliance.dsar.send_notice",
    "compliance.retention.purge",
    "compliance.secrets.check",
    "compliance.tasks.archive_audit_segments",
    "compliance.tasks.seal_audit_events",
    "compliance.tasks.verify_audit_chain",
    "fintech.tasks.heartbeat",
    "ledger.tasks.check_ledger",
    "ledger.tasks.expire_pending_deposits",
    "ledger.tasks.void_card_authorisation",
}


# The beat schedule (fintech/schedule.py): entry name -> task name. Beat's PeriodicTask rows are
# keyed by both; a renamed task leaves a row that runs nothing.
BEAT_TASKS = {
    "audit-archive": "compliance.tasks.archive_audit_segments",
    "audit-seal": "compliance.tasks.seal_audit_events",
    "audit-verify-chain": "compliance.tasks.verify_audit_chain",
    "dsar-deadline-escalation": "compliance.dsar.escalate",
    "dsar-erasure-ledger": "compliance.dsar.record_erasures",
    "dsar-resend-notices": "compliance.dsar.resend_notices",
    "ledger-check-daily": "ledger.tasks.check_ledger",
    "ledger-expire-pending-deposits": "ledger.tasks.expire_pending_deposits",
    "platform-heartbeat": "fintech.tasks.heartbeat",
    "retention-purge-daily": "compliance.retention.purge",
    "secrets-check-daily": "compliance.secrets.check",
}
# The concern packages of ledger/ and the modules each has beyond the standard names.
LEDGER_PACKAGES = {"cards": set(), "settlement": {"processors", "sandbox"}}


def lint_imports(cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=cwd, capture_output=True, text=True, timeout=300, check=False
    )


def copy_of_the_code(tmp_path: Path) -> Path:
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_import_contracts_hold():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout[-3000:]
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "planted", "broken"),
    [
        # The kernel may import no app.
        ("kernel/planted.py", "import compliance.audit.services\n", "Layers"),
        # compliance never imports accounts or ledger.
        ("compliance/pi/planted.py", "from ledger import models\n", "Layers"),
        # Inside compliance the concerns layer; secret rotation and consent are independent.
        ("compliance/secret_rotation/planted.py", "from compliance.consent import selectors\n", "concerns layer"),
        # A function-local import that closes a circle between two concerns still counts.
        ("compliance/pi/planted.py", "def f():\n    from compliance.dsar import models\n", "circles"),
    ],
)
def test_a_planted_violation_breaks_a_contract(tmp_path, module, planted, broken):
    code = copy_of_the_code(tmp_path)
    (code / module).write_text(planted)
    if "circles" in broken:
        # The circle needs the other direction too: dsar already depends on pi.
        assert "compliance.pi.registry" in (code / "compliance/dsar/erasure.py").read_text()
    result = lint_imports(code)
    assert result.returncode != 0
    assert "BROKEN" in result.stdout
    assert broken in result.stdout.split("Broken contracts")[-1]


def concern_packages() -> list[Path]:
    return sorted(p for p in (ROOT / "compliance").iterdir() if p.is_dir() and (p / "__init__.py").exists())


def test_every_compliance_concern_is_a_package_with_the_standard_file_names():
    concerns = {p.name for p in concern_packages()} - {"models", "management", "migrations"}
    assert concerns == set(DOMAIN_MODULES)
    unexpected = {}
    for concern in concerns:
        names = {p.stem for p in (ROOT / "compliance" / concern).glob("*.py")}
        extra = names - STANDARD - DOMAIN_MODULES[concern]
        if extra:
            unexpected[concern] = sorted(extra)
    assert unexpected == {}, "Name new modules after what they are, or use a standard name"
    # compliance/ itself holds only the app's plumbing: no modules of a concern at its top.
    top = {p.stem for p in (ROOT / "compliance").glob("*.py")}
    assert top == {"__init__", "apps"}
    # The models package is only the facade Django discovers.
    assert {p.name for p in (ROOT / "compliance" / "models").glob("*.py")} == {"__init__.py"}


def test_no_module_is_named_after_a_layer_and_a_concern_at_once():
    # The apps and the kernel; fintech/ (the project) keeps its admin site's two halves apart:
    # admin_config.py is imported while the app registry loads, admin_site.py needs models.
    pattern = re.compile(rf"^(({'|'.join(LAYER_WORDS)})_\w+|\w+_({'|'.join(LAYER_WORDS)}))$")
    offenders = [
        str(path.relative_to(ROOT))
        for package in ("accounts", "compliance", "ledger", "kernel")
        for path in (ROOT / package).rglob("*.py")
        if "migrations" not in path.parts and pattern.match(path.stem)
    ]
    assert offenders == []


def test_the_platforms_celery_task_names_are_unchanged():
    from fintech.celery import app

    app.loader.import_default_modules()
    ours = {name for name in app.tasks if name.split(".")[0] in {"accounts", "compliance", "fintech", "ledger"}}
    assert ours == TASK_NAMES


def test_who_acts_is_typed():
    # Issue 14: "actor typed". Every parameter named ``actor`` in the application code is annotated,
    # and never with Any (kernel.types.Actor, or accounts.models.User inside accounts and ledger).
    untyped = []
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    arguments = node.args.posonlyargs + node.args.args + node.args.kwonlyargs
                    for argument in arguments:
                        annotation = ast.unparse(argument.annotation) if argument.annotation else ""
                        if argument.arg == "actor" and (not annotation or re.search(r"\bAny\b", annotation)):
                            untyped.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}({annotation or '?'})")
    assert untyped == []


def test_the_beat_schedules_task_names_are_unchanged():
    from fintech.schedule import BEAT_SCHEDULE

    assert {entry: spec["task"] for entry, spec in BEAT_SCHEDULE.items()} == BEAT_TASKS
    assert set(BEAT_TASKS.values()) <= TASK_NAMES


def test_the_ledgers_packages_use_the_standard_file_names():
    packages = {p.name for p in (ROOT / "ledger").iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert packages - {"management", "migrations"} == set(LEDGER_PACKAGES)
    unexpected = {
        package: sorted(extra)
        for package, domain in LEDGER_PACKAGES.items()
        if (extra := {p.stem for p in (ROOT / "ledger" / package).glob("*.py")} - STANDARD - domain)
    }
    assert unexpected == {}, "Name new modules after what they are, or use a standard name"


def test_a_selector_that_fetches_one_object_is_an_access_function():
    # One authorisation vocabulary (kernel.access, zulip's shape): a selector handed an id fetches
    # *and* checks, is named access_<thing>(viewer=..., public_id=...) and answers 404 otherwise.
    misnamed, access = [], set()
    for package in PACKAGES:
        for path in (ROOT / package).rglob("selectors.py"):
            for node in ast.parse(path.read_text()).body:
                if isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
                    names = [argument.arg for argument in node.args.args + node.args.kwonlyargs]
                    if "public_id" in names and not (node.name.startswith("access_") and "viewer" in names):
                        misnamed.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}")
                    if node.name.startswith("access_"):
                        access.add(node.name)
    assert misnamed == []
    # The example kernel/access.py names exists, and the check did not pass on an empty set.
    assert {"access_dsar_for_officer", "access_dsar_as_subject", "access_wallet"} <= access

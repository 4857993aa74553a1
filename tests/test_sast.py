"""The SAST gate catches what each of its rules exists to catch (issue 15, ``make sast``).

Each rule of ``.semgrep/`` is run against real modules of the checkout, copied to a temporary tree
with a violation planted at the end: the copy must report exactly that rule, on the planted line,
and nothing else (the rest of the real file is clean). The same violations planted where the
rule allows them (a service, an allowlisted module, outside ledger/, inside on_commit, a
reasoned ``nosemgrep``) must report nothing, so a rule that flags everything fails too. The real
tree must be clean. The AllowAny allowlist is checked against the URL configuration and the
access matrix's PUBLIC_ROUTES, so it cannot drift from the real public list.

semgrep lives in its own virtualenv (``var/tools/semgrep``); ``make test`` and ``make sast``
install it when it is missing, so these tests skip (naming it) only where someone runs pytest by
hand on a checkout that never ran either, or where PyPI was out of reach.
"""

from __future__ import annotations

import contextlib
import io
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from django.conf import settings
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.permissions import AllowAny
from rest_framework.views import APIView

from fintech.docs_access import DocsAccess
from scripts import sast
from scripts.ops_tools import semgrep_bin
from tests.accounts.access_expectations import PUBLIC_ROUTES

ROOT = Path(__file__).resolve().parent.parent
RULE_FILES = sorted((ROOT / ".semgrep").glob("*.yml"))
RULES = {
    "writes-only-in-services",
    "allowany-only-public-views",
    "no-raw-sql",
    "no-float-in-ledger",
    "tasks-enqueued-on-commit",
}
needs_semgrep = pytest.mark.skipif(
    not semgrep_bin().exists(), reason="semgrep absent: `make test` or `make sast` installs it (ops_tools.py sast)"
)


@dataclass(frozen=True)
class Plant:
    path: str  # a real module of the checkout, relative to the root
    code: str  # appended to the module; the line ending in "# planted" is the violation
    rule: str | None  # the one rule it must trip, or None where the rule allows it


PLANTS = [
    # 1. writes outside services: a view, an admin action, a task, a command, a serializer
    Plant(
        "compliance/dsar/views.py",
        "def _download(export):\n"
        '    DsarExport.objects.filter(pk=export.pk).update(download_count=F("download_count") + 1)  # planted\n',
        "writes-only-in-services",
    ),
    Plant(
        "ledger/admin.py",
        "def _approve(modeladmin, request, queryset):\n"
        "    for kyc in queryset:\n"
        '        kyc.status = "verified"\n'
        '        kyc.save(update_fields=["status"])  # planted\n',
        "writes-only-in-services",
    ),
    Plant(
        "accounts/tasks.py",
        "def _forget(pk):\n    User.objects.filter(pk=pk).delete()  # planted\n",
        "writes-only-in-services",
    ),
    Plant(
        "compliance/management/commands/purge_retention.py",
        'def _hold(subject):\n    LegalHold.objects.create(subject=subject, reason="x")  # planted\n',
        "writes-only-in-services",
    ),
    Plant(
        "ledger/serializers.py",
        'def _promote(user):\n    user.groups.add(Group.objects.get(name="operations"))  # planted\n',
        "writes-only-in-services",
    ),
    Plant(
        "compliance/retention/views.py",
        "def _release(pk):\n"
        "    holds = LegalHold.objects.filter(pk=pk)\n"
        "    holds.update(released_at=timezone.now())  # planted\n",
        "writes-only-in-services",
    ),
    Plant(
        "compliance/consent/consumers.py",
        "def _withdraw_all(events: QuerySet) -> None:\n    events.update(granted=False)  # planted\n",
        "writes-only-in-services",
    ),
    # 2. AllowAny outside the public views: a class, an empty list, the settings default
    Plant(
        "ledger/views.py",
        "from rest_framework.permissions import AllowAny\n\n\n"
        "class OpenBalances(APIView):\n"
        "    permission_classes = [AllowAny]  # planted\n",
        "allowany-only-public-views",
    ),
    Plant(
        "compliance/audit/views.py",
        "class OpenAudit(APIView):\n    permission_classes: list = []  # planted\n",
        "allowany-only-public-views",
    ),
    Plant(
        "fintech/settings/base.py",
        'REST_FRAMEWORK["DEFAULT_PERMISSION_CLASSES"] = ["rest_framework.permissions.AllowAny"]  # planted\n',
        "allowany-only-public-views",
    ),
    # 3. raw SQL outside its allowlist
    Plant(
        "ledger/selectors.py",
        "def _balance(account_id):\n"
        "    with connection.cursor() as cursor:\n"
        '        cursor.execute(f"SELECT balance FROM ledger_ledgeraccount WHERE id = {account_id}")  # planted\n',
        "no-raw-sql",
    ),
    Plant(
        "compliance/audit/selectors.py",
        'def _events(actor):\n    return AuditEvent.objects.raw("SELECT * FROM compliance_auditevent")  # planted\n',
        "no-raw-sql",
    ),
    Plant(
        "accounts/selectors.py",
        "def _users():\n    return User.objects.extra(where=[\"email LIKE '%%x'\"])  # planted\n",
        "no-raw-sql",
    ),
    # 4. float in ledger/: a literal in arithmetic on money, float(), true division, FloatField
    Plant(
        "ledger/limits.py",
        "def _fee(amount_minor: int) -> int:\n    return int(amount_minor * 0.015)  # planted\n",
        "no-float-in-ledger",
    ),
    Plant(
        "ledger/settlement/processors.py",
        "def _rands(amount_minor: int):\n    return amount_minor / 100  # planted\n",
        "no-float-in-ledger",
    ),
    Plant(
        "ledger/models.py",
        "class PlantedRate(models.Model):\n    rate = models.FloatField()  # planted\n",
        "no-float-in-ledger",
    ),
    Plant(
        "ledger/reconciliation.py",
        "def _total(rows):\n    return sum(float(row) for row in rows)  # planted\n",
        "no-float-in-ledger",
    ),
    # 5. tasks sent before commit
    Plant(
        "accounts/services.py",
        "def _notify(user):\n"
        "    from accounts.tasks import send_security_notice\n\n"
        '    send_security_notice.delay(str(user.public_id), "mfa_enrolled")  # planted\n',
        "tasks-enqueued-on-commit",
    ),
    Plant(
        "compliance/dsar/kinds.py",
        "def _export(dsar):\n"
        "    from celery import current_app\n\n"
        '    current_app.send_task("compliance.dsar.build_export", args=[dsar.pk])  # planted\n',
        "tasks-enqueued-on-commit",
    ),
    Plant(
        "ledger/settlement/services.py",
        "def _void(public_id):\n"
        "    from ledger.tasks import void_card_authorisation\n\n"
        "    void_card_authorisation.apply_async(args=[str(public_id)])  # planted\n",
        "tasks-enqueued-on-commit",
    ),
    # The same violations where each rule allows them: nothing may be reported.
    Plant(
        "compliance/dsar/services.py",
        "def _download(export):\n"
        '    DsarExport.objects.filter(pk=export.pk).update(download_count=F("download_count") + 1)  # planted\n',
        None,
    ),
    Plant(
        "ledger/retention.py",
        'def _anonymise(batch: models.QuerySet) -> None:\n    batch.update(holder="")  # planted\n',
        None,
    ),
    Plant(
        "compliance/audit/chain.py",
        'def _lock():\n    with connection.cursor() as cursor:\n        cursor.execute("SELECT 1")  # planted\n',
        None,
    ),
    Plant(
        "compliance/consent/selectors.py",
        "def _share(granted: int, total: int) -> float:\n    return granted / total * 1.0  # planted\n",
        None,
    ),
    Plant(
        "compliance/retention/services.py",
        "def _later(pk):\n"
        "    from django.db import transaction\n\n"
        "    from compliance.retention import tasks\n\n"
        "    transaction.on_commit(lambda: tasks.purge.delay(pk))  # planted\n",
        None,
    ),
    Plant(
        "compliance/consent/views.py",
        "def _touch(notice):\n"
        "    notice.save()  # planted  # nosemgrep: writes-only-in-services -- a reasoned exception\n",
        None,
    ),
]


def planted_line(text: str) -> int:
    return next(number for number, line in enumerate(text.splitlines(), 1) if "# planted" in line)


@dataclass(frozen=True)
class PlantedScan:
    result: sast.Scan
    lines: dict[str, int]  # path -> the planted line
    status: int  # what `make sast` would exit with
    printed: str


@pytest.fixture(scope="module")
def planted() -> PlantedScan:
    """One semgrep run over a tree of real modules, each with its violation appended."""
    assert len({plant.path for plant in PLANTS}) == len(PLANTS), "one plant per module"
    with tempfile.TemporaryDirectory(prefix="sast-") as folder:
        root = Path(folder)
        shutil.copy(ROOT / ".semgrepignore", root / ".semgrepignore")
        lines = {}
        for plant in PLANTS:
            target = root / plant.path
            target.parent.mkdir(parents=True, exist_ok=True)
            text = (ROOT / plant.path).read_text().rstrip("\n") + "\n\n\n" + plant.code
            target.write_text(text)
            lines[plant.path] = planted_line(text)
        result = sast.scan(root=root)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        status = sast.report(result)
    return PlantedScan(result, lines, status, printed.getvalue())


@needs_semgrep
@pytest.mark.slow
@pytest.mark.xdist_group("sast")
@pytest.mark.parametrize("plant", PLANTS, ids=[f"{p.rule or 'allowed'}:{p.path}" for p in PLANTS])
def test_a_planted_violation_trips_exactly_its_rule_and_an_allowed_one_nothing(planted, plant):
    assert planted.result.errors == []
    assert set(planted.result.rules) == RULES
    found = [(finding.rule, finding.line) for finding in planted.result.findings if finding.path == plant.path]
    expected = [(plant.rule, planted.lines[plant.path])] if plant.rule else []
    assert found == expected


@needs_semgrep
@pytest.mark.slow
@pytest.mark.xdist_group("sast")
def test_make_sast_fails_on_the_planted_tree_naming_each_finding(planted):
    assert planted.status == 1
    for rule in RULES:
        count = sum(plant.rule == rule for plant in PLANTS)
        assert re.search(rf"^  {re.escape(rule)} +{count} finding\(s\)$", planted.printed, re.MULTILINE), rule
    for plant in PLANTS:
        if plant.rule:
            assert f"{plant.path}:{planted.lines[plant.path]}: [{plant.rule}]" in planted.printed
    assert f"sast: {sum(bool(plant.rule) for plant in PLANTS)} finding(s), 0 error(s)" in planted.printed


@needs_semgrep
@pytest.mark.slow
@pytest.mark.xdist_group("sast")
def test_the_checkout_is_clean_and_make_sast_prints_its_figures():
    done = subprocess.run(["python3", "scripts/sast.py"], cwd=ROOT, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    figures = re.search(r"sast: semgrep [\d.]+: (\d+) rules, (\d+) files scanned", done.stdout)
    assert figures, done.stdout
    assert int(figures.group(1)) == len(RULES)
    assert int(figures.group(2)) > 100  # the application, not an empty or mis-rooted scan
    for rule in RULES:
        assert re.search(rf"^  {re.escape(rule)} +0 finding\(s\)$", done.stdout, re.MULTILINE), done.stdout
    assert "sast: 0 finding(s), 0 error(s)" in done.stdout


# --- the rule files themselves (no semgrep needed) -----------------------------------------------


def _rules() -> dict[str, dict]:
    found = {}
    for path in RULE_FILES:
        loaded = yaml.safe_load(path.read_text())["rules"]
        assert len(loaded) == 1, f"{path.name}: one rule per file"
        assert loaded[0]["id"] == path.stem, f"{path.name}: the rule id is the file's name"
        found[path.stem] = loaded[0]
    return found


def test_one_file_per_rule_each_blocking_with_its_reason():
    rules = _rules()
    assert set(rules) == RULES
    for name, rule in rules.items():
        assert rule["severity"] == "ERROR", name
        assert len(rule["message"]) > 150, f"{name}: the message says what to do and why"
        header = (ROOT / ".semgrep" / f"{name}.yml").read_text().split("rules:")[0]
        assert header.count("\n#") >= 3, f"{name}: the file opens with its scope and its reasons"


def test_every_allowlisted_module_exists():
    """A rule's exclusions name real modules: a moved or renamed one would silently widen the gap."""
    for name, rule in _rules().items():
        for entry in rule.get("paths", {}).get("exclude", []):
            if entry.startswith("/"):
                assert (ROOT / entry.lstrip("/")).exists(), f"{name}: {entry} no longer exists"


def test_suppressions_name_their_rule_and_give_a_reason():
    packages = ["accounts", "compliance", "fintech", "kernel", "ledger"]  # what the rules scan
    tracked = subprocess.run(
        ["git", "ls-files", "--", *(f"{package}/*.py" for package in packages)],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    assert len(tracked) > 100
    for path in tracked:
        for number, line in enumerate((ROOT / path).read_text().splitlines(), 1):
            if "nosemgrep" in line:
                match = re.search(r"nosemgrep: ([\w-]+)\s*(?:--|:|—)\s*\S.{10,}", line)
                assert match and match.group(1) in RULES, f"{path}:{number}: name the rule and say why"


# --- the AllowAny allowlist against the real public list -------------------------------------------


def _view_classes():
    """(route name, view class) for every class-based DRF view in the URL configuration."""

    def walk(patterns, namespaces):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                yield from walk(
                    pattern.url_patterns, [*namespaces, pattern.namespace] if pattern.namespace else namespaces
                )
            elif isinstance(pattern, URLPattern):
                view = getattr(pattern.callback, "view_class", None) or getattr(pattern.callback, "cls", None)
                if view is not None and issubclass(view, APIView):
                    name = ":".join([*namespaces, pattern.name]) if pattern.name else str(pattern.pattern)
                    initkwargs = getattr(pattern.callback, "view_initkwargs", None) or {}
                    yield name, view, initkwargs

    yield from walk(get_resolver().url_patterns, [])


def _grants_anonymous(permission_classes) -> bool:
    return not permission_classes or any(issubclass(cls, AllowAny) for cls in permission_classes)


def test_the_allowany_allowlist_is_the_set_of_views_behind_the_public_routes():
    rule = _rules()["allowany-only-public-views"]
    declared = set(rule["metadata"]["public-views"])
    text = (ROOT / ".semgrep" / "allowany-only-public-views.yml").read_text()
    regex_names = set(re.search(r"regex: \^\(\?!\((.*)\)\$\)", text).group(1).split("|"))
    assert regex_names == {name.rsplit(".", 1)[-1] for name in declared}

    open_routes, granting, permissions = set(), set(), {}
    for name, view, initkwargs in _view_classes():
        permissions[name] = initkwargs.get("permission_classes", view.permission_classes)
        if _grants_anonymous(permissions[name]):
            open_routes.add(name)
            owner = next(cls for cls in view.__mro__ if "permission_classes" in vars(cls))
            granting.add(f"{owner.__module__}.{owner.__qualname__}")
    assert granting == declared
    assert open_routes <= PUBLIC_ROUTES, open_routes - PUBLIC_ROUTES
    # The other public routes are the schema and its pages, public only through DocsAccess (staff
    # in production, fintech/docs_access.py), never through AllowAny.
    for name in PUBLIC_ROUTES - open_routes:
        if name == "redoc":  # a plain redirect to the Swagger page (ReDoc cannot run under the CSP)
            continue
        assert list(permissions[name]) == [DocsAccess], name
    assert "rest_framework.permissions.AllowAny" not in settings.REST_FRAMEWORK["DEFAULT_PERMISSION_CLASSES"]

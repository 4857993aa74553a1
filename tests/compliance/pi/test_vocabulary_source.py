"""One source of truth for the regulated vocabulary: purposes and retention policies declared once,
seeded from there, migrations frozen; erasure and purge read the same policy row; system checks fail
loudly on a target without a policy, a purpose referenced but not declared or not consumed."""

from __future__ import annotations

import ast
import importlib
from datetime import timedelta
from pathlib import Path

import pytest
from django.apps import apps
from django.core.management import call_command
from django.core.management.base import CommandError, SystemCheckError
from django.utils import timezone

from compliance.consent import checks as consent_checks
from compliance.consent import consumers
from compliance.consent.models import LawfulBasis as ConsentLawfulBasis
from compliance.consent.models import ProcessingPurpose, PurposeNotice
from compliance.consent.seed import seed_processing_purposes
from compliance.pi.vocabulary import PURPOSES, RETENTION_POLICIES, LawfulBasis
from compliance.retention import engine
from compliance.retention.models import RetentionPolicy
from compliance.retention.seed import policy_row, seed_retention_policies

MIGRATION_DIRS = [
    Path(__file__).resolve().parents[3] / app / "migrations" for app in ("compliance", "ledger", "accounts")
]
VOCABULARY_MODULES = (
    "compliance.pi.vocabulary",
    "compliance.consent.seed",
    "compliance.retention.seed",
    "accounts.roles",
)


def test_one_lawful_basis_vocabulary_with_a_faithful_s11_1_d():
    assert ConsentLawfulBasis is LawfulBasis
    assert ProcessingPurpose._meta.get_field("lawful_basis").choices == LawfulBasis.choices
    assert LawfulBasis("subject_legitimate_interest").label == (
        "Protects a legitimate interest of the data subject (s11(1)(d))"
    )
    assert "vital_interest" not in LawfulBasis.values


def vocabulary_imports(source: str) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names if alias.name in VOCABULARY_MODULES]
        elif isinstance(node, ast.ImportFrom) and node.module in VOCABULARY_MODULES:
            found.append(node.module)
    return found


def test_no_migration_imports_the_live_vocabulary():
    """Data migrations carry frozen copies: the declarations may change, history may not."""
    planted = "def seed(apps, schema_editor):\n    from compliance.consent.seed import seed_processing_purposes\n"
    assert vocabulary_imports(planted) == ["compliance.consent.seed"]
    for directory in MIGRATION_DIRS:
        for path in sorted(directory.glob("0*.py")):
            assert vocabulary_imports(path.read_text()) == [], path.name


@pytest.mark.django_db
def test_the_rows_match_the_declarations():
    rows = {p.code: p for p in ProcessingPurpose.objects.all()}
    assert set(PURPOSES) <= set(rows)
    for code, purpose in PURPOSES.items():
        assert (rows[code].name, rows[code].lawful_basis) == (purpose.name, purpose.lawful_basis), code
        notice = PurposeNotice.objects.get(purpose=rows[code], version=1)
        assert notice.text == purpose.notice
    policies = {p.code: p for p in RetentionPolicy.objects.all()}
    for code in RETENTION_POLICIES:
        row = policies[code]
        assert {name: getattr(row, name) for name in policy_row(code)} == policy_row(code), code


@pytest.mark.django_db
def test_the_data_migration_brings_an_older_database_in_line():
    migration = importlib.import_module("compliance.migrations.0013_vocabulary_unification")
    old = ProcessingPurpose.objects.create(
        code="subject_protection", name="Old", description="d", lawful_basis="vital_interest"
    )
    RetentionPolicy.objects.filter(code="lockout_records").delete()
    notices = PurposeNotice.objects.count()
    migration.forwards(apps, None)
    migration.forwards(apps, None)  # idempotent
    assert PurposeNotice.objects.count() == notices
    old.refresh_from_db()
    assert old.lawful_basis == "subject_legitimate_interest"
    assert RetentionPolicy.objects.get(code="lockout_records").period_days == 90
    # The frozen data equals today's declaration.
    assert {row[0] for row in migration.POLICIES} == set(RETENTION_POLICIES)
    for spec in migration.NEW_PURPOSES:
        assert spec["notice"] == PURPOSES[spec["code"]].notice


@pytest.mark.django_db
def test_seeding_keeps_what_the_officer_edited():
    RetentionPolicy.objects.filter(code="session").update(period_days=3)
    ProcessingPurpose.objects.filter(code="kyc").update(name="Edited by the officer")
    assert seed_retention_policies() == 0 and seed_processing_purposes() == 0
    assert RetentionPolicy.objects.get(code="session").period_days == 3
    assert ProcessingPurpose.objects.get(code="kyc").name == "Edited by the officer"
    RetentionPolicy.objects.filter(code="session").delete()
    assert seed_retention_policies() == 1
    assert RetentionPolicy.objects.get(code="session").period_days == 1


@pytest.mark.django_db
def test_erasure_dates_holds_from_the_policy_row_the_officer_edits():
    from compliance.dsar.erasure import ErasureError, _hold_until

    now = timezone.now()
    policy = RetentionPolicy.objects.get(code="fica_customer_due_diligence")
    assert _hold_until(policy, object(), now) == now + timedelta(days=5 * 365)
    policy.period_days = 7 * 365
    policy.save()
    assert _hold_until(policy, object(), now) == now + timedelta(days=7 * 365)
    policy.period_days = None
    with pytest.raises(ErasureError):
        _hold_until(policy, object(), now)


@pytest.mark.django_db
def test_a_deletion_with_a_policy_row_missing_is_refused_whole():
    from compliance.dsar import services as dsar_services
    from compliance.dsar.erasure import ErasureError, erase_subject
    from ledger import services as ledger
    from tests.ledger.conftest import sa_id
    from tests.personas import make_customer, make_staff

    subject = make_customer()
    dob = timezone.now().date().replace(year=1990)
    ledger.kyc_submit(actor=subject, id_number=sa_id(dob), date_of_birth=dob, document_reference="D")
    first, second = make_staff("information_officer"), make_staff("information_officer")
    dsar = dsar_services.dsar_file(subject=subject, filed_by=subject, type="deletion")
    dsar_services.dsar_verify_identity(actor=first, dsar=dsar, evidence="MFA")
    dsar_services.dsar_assign(actor=first, dsar=dsar)
    dsar_services.dsar_request_approval(actor=first, dsar=dsar)
    dsar = dsar_services.dsar_approve(actor=second, dsar=dsar)
    RetentionPolicy.objects.filter(code="fica_customer_due_diligence").delete()
    with pytest.raises(ErasureError, match="fica_customer_due_diligence"):
        erase_subject(dsar=dsar)
    subject.refresh_from_db()
    assert subject.is_active, "nothing was erased"


@pytest.mark.django_db
def test_the_purge_reports_a_target_without_a_policy_row_as_an_error(tmp_path):
    from compliance.audit.models import AuditEvent

    RetentionPolicy.objects.filter(code="session").delete()
    dry = engine.retention_purge(dry_run=True)
    assert "sessions.session" in dry.errors and "sessions.session" not in dry.skipped
    report = engine.retention_purge(pause_seconds=0)
    assert "has no row" in report.errors["sessions.session"]
    event = AuditEvent.objects.filter(action="RETENTION_PURGE").latest("id")
    assert "sessions.session" in event.change_diff["errors"]
    with pytest.raises(CommandError, match=r"sessions\.session"):
        call_command("purge_retention", stdout=(tmp_path / "out.txt").open("w"))


# --- The system checks, each proven to fire on a planted defect --------------------------------------


def compliance_errors(prefix: str) -> list[str]:
    from django.core import checks

    return [m.id for m in checks.run_checks() if m.id.startswith(prefix)]


@pytest.mark.django_db
def test_the_declared_vocabulary_passes_the_checks():
    call_command("check")
    assert compliance_errors("compliance.E11") == []


@pytest.fixture
def planted_target(monkeypatch):
    def plant(policy: str) -> None:
        from django.contrib.sessions.models import Session

        monkeypatch.setitem(
            engine._TARGETS,
            "planted",
            engine.RetentionTarget("planted", Session, policy, "expire_date", None, "delete", None, None),
        )

    return plant


def test_a_target_naming_an_undeclared_policy_fails_manage_py_check(planted_target):
    planted_target("forever_and_a_day")
    with pytest.raises(SystemCheckError, match=r"compliance\.E110"):
        call_command("check")


@pytest.mark.django_db
def test_a_target_whose_policy_has_no_row_fails_manage_py_check():
    RetentionPolicy.objects.filter(code="lockout_records").delete()
    with pytest.raises(SystemCheckError, match=r"compliance\.E111.*lockout_records"):
        call_command("check")


def test_a_consumer_of_an_undeclared_purpose_fails_manage_py_check(monkeypatch):
    monkeypatch.setitem(consumers._CONSUMERS, "astrology", {"tests.horoscope_mailer"})
    with pytest.raises(SystemCheckError, match=r"compliance\.E112"):
        call_command("check")


def test_a_restrictable_purpose_nobody_consults_fails_manage_py_check(monkeypatch):
    monkeypatch.delitem(consumers._CONSUMERS, "analytics")
    with pytest.raises(SystemCheckError, match=r"compliance\.E113.*analytics"):
        call_command("check")


def test_a_declared_purpose_without_a_row_is_an_error():
    errors = consent_checks.check_purposes(consumers.purpose_consumers(), rows=set(PURPOSES) - {"security"})
    assert [(e.id, e.obj) for e in errors] == [("compliance.E114", "security")]
    assert consent_checks.check_purposes(consumers.purpose_consumers(), rows=None) == []


def test_code_asking_may_process_about_an_undeclared_purpose_fails_the_check(tmp_path):
    planted = tmp_path / "horoscopes.py"
    planted.write_text(
        "from compliance.consent.selectors import may_process, processable_subjects\n"
        "def send(user):\n"
        "    return may_process(user, 'astrology') and processable_subjects(purpose_code='kyc')\n"
        "HOROSCOPES = 'horoscopes'\n"
        "def more(user):\n"
        "    return may_process(user, HOROSCOPES)\n"
    )
    errors = consent_checks.check_literal_purposes([planted])
    assert [(e.id, e.msg.split(" asks")[0]) for e in errors] == [
        ("compliance.E112", "horoscopes.py:3"),
        ("compliance.E112", "horoscopes.py:6"),
    ]
    assert "astrology" in errors[0].msg
    # The project's own code names only declared purposes (and the scan does find its calls).
    sources = consent_checks._project_sources()
    assert consent_checks.check_literal_purposes(sources) == []
    found = {code for p in sources for _, code in consent_checks.literal_purposes(p.read_text())}
    assert {"analytics", "kyc"} <= found

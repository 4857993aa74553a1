"""manage.py export_marketing_audience: the command-line consumer of may_process."""

from __future__ import annotations

import csv
import stat

import pytest
from django.core.management import CommandError, call_command

from compliance.audit.services import AuditAction
from compliance.consent.selectors import MARKETING_AUDIENCE_COLUMNS
from compliance.consent.services import consent_record, processing_restriction_set
from tests.compliance.consent.consent_helpers import current_version, make_staff, make_user, seed_purposes, spy_audit

pytestmark = pytest.mark.django_db

DM = "direct_marketing"


@pytest.fixture(autouse=True)
def _purposes(db):
    seed_purposes()


def choose(subject, granted: bool, purpose: str = DM):
    consent_record(
        actor=subject,
        subject=subject,
        purpose=purpose,
        granted=granted,
        notice_version=current_version(purpose),
        channel="api",
    )


def read(path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def test_export_writes_current_consenters_only_and_records_the_exporter(tmp_path, monkeypatch):
    officer = make_staff("information_officer")
    consenting = make_user(first_name="Lerato")
    withdrawn = make_user()
    objected = make_user()
    choose(consenting, True)
    choose(withdrawn, True)
    choose(withdrawn, False)
    choose(objected, True)
    processing_restriction_set(
        actor=officer, subject=objected, purpose=DM, kind="objection", active=True, reason="Objected by e-mail"
    )
    choose(make_user(), True, purpose="third_party_marketing_sharing")
    calls = spy_audit(monkeypatch)
    out = tmp_path / "audience.csv"

    call_command("export_marketing_audience", "--out", str(out), "--actor", officer.email.upper())

    assert read(out) == [list(MARKETING_AUDIENCE_COLUMNS), [str(consenting.public_id), consenting.email, "Lerato"]]
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert [(c["action"], c["actor"], c["change_diff"]["rows"], c["change_diff"]["via"]) for c in calls] == [
        (AuditAction.MARKETING_EXPORT, officer, 1, "command")
    ]

    # Withdrawal shows in the very next export.
    choose(consenting, False)
    second = tmp_path / "audience-2.csv"
    call_command("export_marketing_audience", "--out", str(second), "--actor", officer.email)
    assert read(second) == [list(MARKETING_AUDIENCE_COLUMNS)]


def test_export_refuses_to_overwrite_a_file(tmp_path):
    officer = make_staff("information_officer")
    out = tmp_path / "audience.csv"
    out.write_text("earlier export\n")
    with pytest.raises(CommandError, match="already exists"):
        call_command("export_marketing_audience", "--out", str(out), "--actor", officer.email)
    assert out.read_text() == "earlier export\n"


@pytest.mark.parametrize("who", ["customer", "auditor", "nobody"])
def test_export_needs_an_authorised_actor_and_leaves_no_file(tmp_path, monkeypatch, who):
    choose(make_user(), True)
    actor_email = {
        "customer": lambda: make_user().email,
        "auditor": lambda: make_staff("auditor").email,
        "nobody": lambda: "nobody@example.test",
    }[who]()
    calls = spy_audit(monkeypatch)
    out = tmp_path / "audience.csv"
    with pytest.raises(CommandError):
        call_command("export_marketing_audience", "--out", str(out), "--actor", actor_email)
    assert not out.exists()
    assert calls == []

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from accounts.models import TOTPDevice
from compliance.consent.models import ConsentEvent
from compliance.consent.selectors import may_process
from compliance.dsar.balances import subject_balances
from compliance.dsar.models import DataSubjectRequest
from compliance.retention.models import LegalHold
from fintech.management.commands.demo_data import ROLES
from ledger.models import JournalEntry, LedgerAccount
from ledger.reconciliation import check_ledger


@pytest.fixture(autouse=True)
def _archive_in_tmp(settings, tmp_path):
    settings.AUDIT_ARCHIVE_DIR = str(tmp_path / "audit-archive")


@pytest.mark.django_db
def test_demo_data_creates_one_user_per_role_once(settings, tmp_path, capsys):
    settings.VAR_DIR = tmp_path
    call_command("demo_data")
    first = capsys.readouterr().out
    call_command("demo_data")
    second = capsys.readouterr().out
    users = get_user_model().objects.filter(groups__name__in=ROLES).distinct()
    # One login per role, a second information officer (four eyes on a deletion can be completed)
    # and the demo's second operations user (who asked for the tier 2 KYC waiting for the demo
    # operations login's approval, four eyes), who has no password.
    assert sum(user.has_usable_password() for user in users) == len(ROLES) + 1
    assert users.count() == len(ROLES) + 2
    assert users.filter(groups__name="information_officer").count() == 2
    assert {group for user in users for group in user.groups.values_list("name", flat=True)} == set(ROLES)
    assert users.get(groups__name="customer").is_staff is False
    assert all(user.is_staff for user in users.filter(groups__name__in=["operations", "auditor"]))
    assert "Demo users created" in first
    assert "already present" in second
    credentials = tmp_path / "demo-credentials.txt"
    assert credentials.stat().st_mode & 0o777 == 0o600
    lines = credentials.read_text().splitlines()
    assert len([line for line in lines if "TOTP key" in line]) == len(ROLES) + 1
    assert len([line for line in lines if "otpauth://totp/" in line]) == len(ROLES) + 1
    # Every demo user has a confirmed authenticator, so the OTP-only admin is usable at once.
    assert TOTPDevice.objects.filter(confirmed=True).count() == len(ROLES) + 1
    assert users.get(groups__name="admin").is_superuser


@pytest.mark.django_db
def test_demo_data_tells_the_products_story_once(settings, tmp_path):
    settings.VAR_DIR = tmp_path
    call_command("demo_data")
    story = {
        "wallets": LedgerAccount.objects.filter(kind="customer_wallet").count(),
        "entries": JournalEntry.objects.count(),
        "consents": ConsentEvent.objects.count(),
        "dsars": DataSubjectRequest.objects.count(),
        "holds": LegalHold.objects.count(),
    }
    call_command("demo_data")
    again = {
        "wallets": LedgerAccount.objects.filter(kind="customer_wallet").count(),
        "entries": JournalEntry.objects.count(),
        "consents": ConsentEvent.objects.count(),
        "dsars": DataSubjectRequest.objects.count(),
        "holds": LegalHold.objects.count(),
    }
    assert again == story, "a second run must add nothing"
    customer = get_user_model().objects.get(groups__name="customer")
    wallet = LedgerAccount.objects.get(owner=customer, kind="customer_wallet")
    assert wallet.balance > 0 and story["entries"] >= 6
    assert may_process(customer, "direct_marketing")
    assert not may_process(customer, "third_party_marketing_sharing")
    assert set(DataSubjectRequest.objects.values_list("type", "status")) == {
        ("access", "received"),
        ("objection", "in_review"),
        ("correction", "received"),
        ("restriction", "received"),
        ("deletion", "in_review"),
        ("objection", "closed"),  # six months of history for the on-time trend
    }
    # Deadline pressure and a four-eyes step waiting for the second officer.
    assert DataSubjectRequest.objects.overdue().count() == 1
    assert DataSubjectRequest.objects.due_within(7).count() == 1
    # Two deletions wait for the second officer: the customer's, and the held customer's (refused
    # until their balance is settled, issue 16).
    deletions = DataSubjectRequest.objects.filter(type="deletion")
    assert deletions.count() == 2
    assert all(d.approval_requested_by is not None and d.decided_by is None for d in deletions)
    # A fresh install starts green: chain verified, no secret overdue, so no banner to ignore.
    from compliance.audit.chain import last_status, status_is_stale
    from compliance.secret_rotation.models import SecretRotation

    assert last_status()["ok"] is True and not status_is_stale(last_status())
    assert SecretRotation.objects.exists()
    assert not SecretRotation.objects.filter(alert_state="overdue").exists()
    [hold] = LegalHold.objects.in_force().on_subjects()
    assert hold.kind == "litigation" and not hold.subject.is_staff and hold.subject != customer
    # The held customer's deletion waits for a second approval, refused while they hold money; their
    # direct-marketing objection took effect when filed.
    deletion = DataSubjectRequest.objects.get(type="deletion", subject=hold.subject)
    assert deletion.approval_requested_by_id is not None
    assert subject_balances(deletion.subject)
    assert DataSubjectRequest.objects.exclude(status="closed").get(type="objection").applied_at_filing == [
        "direct_marketing"
    ]
    assert not may_process(hold.subject, "direct_marketing")
    on_behalf = DataSubjectRequest.objects.get(type="restriction")
    assert on_behalf.channel == "staff" and on_behalf.purposes == ["analytics"]
    assert check_ledger().ok
    # The demo acts through the services as the staff who would take each step, so their landing
    # page's "Recent actions" (the audit trail) shows that work rather than "None yet".
    from compliance.audit.selectors import recent_actions_of

    officer = get_user_model().objects.get_by_email("information.officer@demo.fintech.example")
    operations = get_user_model().objects.get_by_email("operations@demo.fintech.example")
    assert "Dsar transition" in {row["action"] for row in recent_actions_of(officer)}
    assert recent_actions_of(operations)


@pytest.mark.django_db
def test_demo_data_publishes_a_signed_checkpoint_the_auditor_can_prove_against(settings, tmp_path):
    from pathlib import Path

    from compliance.audit.chain import chain_head
    from compliance.audit.transparency import latest_checkpoint, log_verifier_keys
    from compliance.audit.verify import verify_archive
    from tests.personas import make_api_client

    settings.VAR_DIR = tmp_path
    call_command("demo_data")
    checkpoint = latest_checkpoint()
    assert checkpoint is not None and checkpoint.size >= 10
    assert checkpoint.size <= chain_head()[0]
    archive = Path(settings.AUDIT_ARCHIVE_DIR)
    assert (archive / checkpoint.archive_key).read_text() == checkpoint.note
    report = verify_archive(archive, log_verifier_keys(), partial=True)
    assert report.ok and report.records >= checkpoint.size, report.as_dict()
    auditor = get_user_model().objects.get(groups__name="auditor")
    from compliance.models import AuditEvent

    event = AuditEvent.objects.get(seq=1)
    response = make_api_client(auditor).get(f"/api/v1/audit/events/{event.pk}/proof/")
    assert response.status_code == 200 and response.json()["tree_size"] == checkpoint.size

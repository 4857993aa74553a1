"""Retention and secret screens: the information officer edits policies (audited), the auditor
only reads, an admin records an external secret's rotation; change lists stay cheap."""

from __future__ import annotations

import pytest

from compliance.models import AuditEvent, RetentionPolicy, SecretRotation
from compliance.secret_rotation.inventory import secrets_check
from tests.personas import otp_admin_login

pytestmark = pytest.mark.django_db

URL = "/admin/compliance/retentionpolicy/"


def _form(policy: RetentionPolicy, **changes) -> dict:
    data = {
        "enabled": "on" if policy.enabled else "",
        "period_days": policy.period_days,
        "trigger": policy.trigger,
        "action": policy.action,
        "legal_reason": policy.legal_reason,
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v != ""}


def test_the_information_officer_edits_a_policy_and_it_is_audited(client, information_officer):
    policy = RetentionPolicy.objects.get(code="lockout_records")
    otp_admin_login(client, information_officer)
    response = client.post(f"{URL}{policy.pk}/change/", _form(policy, period_days=60))
    assert response.status_code == 302
    policy.refresh_from_db()
    assert policy.period_days == 60
    event = AuditEvent.objects.get(action="RETENTION_POLICY_CHANGED")
    assert event.user_id == information_officer.pk
    assert event.object_id == "lockout_records"
    assert event.change_diff["before"] == {"period_days": 90}
    assert event.change_diff["after"] == {"period_days": 60}


def test_the_auditor_reads_policies_but_cannot_change_them(client, auditor):
    policy = RetentionPolicy.objects.get(code="lockout_records")
    otp_admin_login(client, auditor)
    assert client.get(URL).status_code == 200
    response = client.post(f"{URL}{policy.pk}/change/", _form(policy, period_days=1))
    assert response.status_code == 403
    policy.refresh_from_db()
    assert policy.period_days == 90
    assert not AuditEvent.objects.filter(action="RETENTION_POLICY_CHANGED").exists()


def test_nobody_deletes_a_policy(client, admin_user):
    policy = RetentionPolicy.objects.get(code="session")
    otp_admin_login(client, admin_user)
    assert client.post(f"{URL}{policy.pk}/delete/", {"post": "yes"}).status_code == 403
    assert RetentionPolicy.objects.filter(pk=policy.pk).exists()


def test_an_admin_records_an_external_rotation(client, admin_user, django_assert_max_num_queries):
    secrets_check(rotate=False)
    row = SecretRotation.objects.get(name="database-credentials")
    assert row.alert_state == "overdue"
    otp_admin_login(client, admin_user)
    with django_assert_max_num_queries(15):
        assert client.get("/admin/compliance/secretrotation/").status_code == 200
    response = client.post(
        "/admin/compliance/secretrotation/", {"action": "record_rotation", "_selected_action": [row.pk]}
    )
    assert response.status_code == 302
    row.refresh_from_db()
    assert row.alert_state == "ok"
    assert row.rotated_at is not None
    event = AuditEvent.objects.get(action="KEY_ROTATED", object_type="secret")
    assert event.object_id == "database-credentials"
    assert event.user_id == admin_user.pk


def test_the_auditor_cannot_record_a_rotation(client, auditor):
    secrets_check(rotate=False)
    row = SecretRotation.objects.get(name="database-credentials")
    otp_admin_login(client, auditor)
    client.post("/admin/compliance/secretrotation/", {"action": "record_rotation", "_selected_action": [row.pk]})
    row.refresh_from_db()
    assert row.alert_state == "overdue"
    assert row.rotated_at is None
    assert not AuditEvent.objects.filter(action="KEY_ROTATED", object_type="secret").exists()

"""Opening a PI-holding record in the admin is a PI_ACCESS event ("log all data access")."""

from __future__ import annotations

import pytest
from django.test import Client

from compliance.audit.models import AuditEvent
from compliance.dsar import services as dsar_services
from tests.personas import make_customer, make_staff, otp_admin_login

pytestmark = pytest.mark.django_db


def test_the_user_change_view_records_who_saw_which_fields(admin_user):
    subject = make_customer(email="viewed.subject@example.co.za")
    client = Client()
    otp_admin_login(client, admin_user)
    assert client.get(f"/admin/accounts/user/{subject.pk}/change/").status_code == 200
    event = AuditEvent.objects.get(action="PI_ACCESS", object_id=str(subject.public_id))
    assert event.user == admin_user
    shown = str(event.change_diff)
    assert "email" in shown and "first_name" in shown
    assert "viewed.subject" not in shown and "Thandi" not in shown


def test_the_dsar_change_view_is_audited_too(information_officer):
    subject = make_customer()
    dsar = dsar_services.dsar_file(subject=subject, filed_by=subject, type="access", details="My words, 4111")
    client = Client()
    otp_admin_login(client, information_officer)
    assert client.get(f"/admin/compliance/datasubjectrequest/{dsar.pk}/change/").status_code == 200
    event = AuditEvent.objects.get(action="PI_ACCESS", object_id=str(dsar.public_id))
    assert event.user == information_officer and "details" in str(event.change_diff)
    assert "My words" not in str(event.change_diff)


def test_list_views_are_not_reads_of_one_subject(information_officer):
    make_customer()
    client = Client()
    otp_admin_login(client, make_staff("admin", superuser=True))
    client.get("/admin/accounts/user/")
    assert not AuditEvent.objects.filter(action="PI_ACCESS").exists()

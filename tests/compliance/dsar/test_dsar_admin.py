"""The review queue in the admin: highlights, dashboard, actions through services, bounded queries."""

from __future__ import annotations

import datetime as dt
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from compliance.dsar import services
from compliance.dsar.models import DataSubjectRequest, DsarEvent, DsarStatus
from ledger import services as ledger_services
from ledger.kyc import luhn_check_digit
from tests.compliance.dsar.conftest import make_user
from tests.personas import otp_admin_login

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/compliance/datasubjectrequest/"


def change_url(dsar) -> str:
    return f"{CHANGELIST}{dsar.pk}/change/"


def act_url(dsar, action: str) -> str:
    return f"{CHANGELIST}{dsar.pk}/act/{action}/"


def test_queue_highlights_deadlines_and_shows_the_dashboard(client, officer, filed, django_assert_max_num_queries):
    overdue = filed("access")
    soon = filed("objection")
    for _ in range(20):
        filed("portability")
    now = timezone.now()
    DataSubjectRequest.objects.filter(pk=overdue.pk).update(
        due_at=now - timedelta(days=2), original_due_at=now - timedelta(days=2)
    )
    DataSubjectRequest.objects.filter(pk=soon.pk).update(
        due_at=now + timedelta(days=3), original_due_at=now + timedelta(days=3)
    )
    otp_admin_login(client, officer)
    with django_assert_max_num_queries(15):
        response = client.get(CHANGELIST)
    html = response.content.decode()
    assert response.status_code == 200
    assert "dsar-due-overdue" in html and "2 days overdue" in html
    assert "dsar-due-soon" in html
    assert response.context["dsar_dashboard"]["overdue"] == 1
    assert "1 request(s) are past their statutory deadline" in html
    assert response.context["dsar_dashboard"]["due_week"] == 1
    assert response.context["dsar_dashboard"]["open"] == 22
    overdue_only = client.get(CHANGELIST, {"due": "overdue"})
    assert list(overdue_only.context["cl"].result_list) == [DataSubjectRequest.objects.get(pk=overdue.pk)]


def test_an_action_form_calls_the_service(client, officer, filed):
    dsar = filed("access")
    otp_admin_login(client, officer)
    assert "Verify identity" in client.get(change_url(dsar)).content.decode()
    response = client.post(act_url(dsar, "verify-identity"), {"evidence": "Passport seen at branch"})
    assert response.status_code == 302
    dsar.refresh_from_db()
    assert dsar.status == DsarStatus.IDENTITY_VERIFIED and dsar.identity_verified_by == officer


def test_a_rule_violation_is_shown_and_changes_nothing(client, officer, filed):
    dsar = filed("access")
    services.dsar_verify_identity(actor=officer, dsar=dsar, evidence="seen")
    services.dsar_assign(actor=officer, dsar=dsar)
    otp_admin_login(client, officer)
    response = client.post(act_url(dsar, "reject"), {"reason": "  "})
    assert response.status_code == 200
    assert "needs a reason" in response.content.decode()
    dsar.refresh_from_db()
    assert dsar.status == DsarStatus.IN_REVIEW


def test_assign_to_me_bulk_action(client, officer):
    otp_admin_login(client, officer)
    subject = make_user("bulk.subject@example.co.za")
    dsars = [services.dsar_file(subject=subject, filed_by=subject, type=t) for t in ("access", "portability")]
    for dsar in dsars:
        services.dsar_verify_identity(actor=officer, dsar=dsar, evidence="seen")
    response = client.post(
        CHANGELIST, {"action": "assign_to_me", "_selected_action": [d.pk for d in dsars]}, follow=True
    )
    assert response.status_code == 200
    assert set(DataSubjectRequest.objects.values_list("status", "assigned_to")) == {(DsarStatus.IN_REVIEW, officer.pk)}


def test_staff_file_on_behalf_in_the_admin(client, officer, customer):
    otp_admin_login(client, officer)
    response = client.post(
        f"{CHANGELIST}add/",
        {"subject_email": customer.email, "type": "access", "details": "", "identity_evidence": "Call-back done"},
    )
    assert response.status_code == 302
    dsar = DataSubjectRequest.objects.get()
    assert dsar.subject == customer and dsar.channel == "staff" and dsar.status == DsarStatus.RECEIVED


def test_staff_file_on_behalf_by_the_subjects_id_number(client, officer, customer, other_customer):
    """The subject quotes their ID number: found through the KYC record's blind index."""
    first_twelve = "820304" + "5123" + "08"
    id_number = first_twelve + luhn_check_digit(first_twelve)
    ledger_services.kyc_submit(
        actor=customer, id_number=id_number, date_of_birth=dt.date(1982, 3, 4), document_reference="DOC"
    )
    otp_admin_login(client, officer)
    body = {"type": "access", "details": "", "identity_evidence": "ID document seen"}
    unknown = client.post(f"{CHANGELIST}add/", {**body, "subject_id_number": "8001015009087"})
    assert unknown.status_code == 200 and not DataSubjectRequest.objects.exists()
    neither = client.post(f"{CHANGELIST}add/", body)
    assert neither.status_code == 200 and not DataSubjectRequest.objects.exists()
    response = client.post(f"{CHANGELIST}add/", {**body, "subject_id_number": f"{id_number[:6]} {id_number[6:]}"})
    assert response.status_code == 302
    assert DataSubjectRequest.objects.get().subject == customer


def test_records_are_never_edited_or_deleted_in_the_admin(client, officer, filed):
    dsar = filed("access")
    otp_admin_login(client, officer)
    response = client.post(change_url(dsar), {"status": "closed"})
    assert response.status_code == 403
    assert client.post(f"{CHANGELIST}{dsar.pk}/delete/", {"post": "yes"}).status_code == 403
    dsar.refresh_from_db()
    assert dsar.status == DsarStatus.RECEIVED


def test_other_staff_cannot_open_the_queue_and_viewers_get_no_buttons(client, operations, filed):
    dsar = filed("access")
    otp_admin_login(client, operations)
    assert client.get(CHANGELIST).status_code == 403
    assert client.post(act_url(dsar, "verify-identity"), {"evidence": "x"}).status_code == 404
    viewer = make_user("auditor@fintech.example", staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_datasubjectrequest"))
    otp_admin_login(client, viewer)
    page = client.get(change_url(dsar))
    assert page.status_code == 200
    assert "Verify identity" not in page.content.decode()
    assert DsarEvent.objects.filter(dsar=dsar).count() == 1


def test_the_admin_index_warns_the_officer_about_overdue_requests(client, filed):
    from tests.personas import make_staff

    dsar = filed("access")
    past = timezone.now() - timedelta(days=1)
    DataSubjectRequest.objects.filter(pk=dsar.pk).update(due_at=past, original_due_at=past)
    officer = make_staff("information_officer")
    otp_admin_login(client, officer)
    assert "1 data-subject request(s) are past their statutory deadline" in client.get("/admin/").content.decode()
    other = make_staff("operations")
    otp_admin_login(client, other)
    assert "statutory deadline" not in client.get("/admin/").content.decode()

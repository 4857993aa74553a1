"""The admin landing page per role (issue 17): what each role sees, constant queries whatever the
number of rows, the auditor's "verify now" and report export (audited, least privilege), and a
form interrupted by the idle timeout kept through the next sign-in."""

from __future__ import annotations

import datetime as dt
import json
import re
import time

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts import roles
from compliance.audit.models import AuditEvent
from compliance.dsar.models import DataSubjectRequest
from compliance.dsar.services import dsar_file
from compliance.retention.models import HoldKind
from compliance.retention.services import hold_place
from ledger.kyc import luhn_check_digit
from ledger.services import kyc_submit
from tests.personas import PASSWORD, enrol_totp, make_customer, make_staff, next_code, otp_admin_login

pytestmark = pytest.mark.django_db

_sequence = iter(range(1000, 9999))


def sa_id() -> str:
    first_twelve = f"800101{next(_sequence):04d}08"
    return first_twelve + luhn_check_digit(first_twelve)


def _fill(officer, n: int) -> None:
    """n customers, each with a DSAR (some overdue), a KYC submission and a hold ending soon."""
    for index in range(n):
        customer = make_customer()
        dsar = dsar_file(subject=customer, filed_by=customer, type="access", details="All of it.")
        if index % 2:
            received = timezone.now() - dt.timedelta(days=31)
            DataSubjectRequest.objects.filter(pk=dsar.pk).update(
                received_at=received,
                original_due_at=received + dt.timedelta(days=30),
                due_at=received + dt.timedelta(days=30),
            )
        kyc_submit(
            actor=customer,
            id_number=sa_id(),
            date_of_birth=dt.date(1980, 1, 1),
            document_reference=f"DOC-{index}",
        )
        hold_place(
            actor=officer,
            subject=customer,
            kind=HoldKind.LITIGATION,
            reason="Test: dispute before the Ombud.",
            hold_until=timezone.now() + dt.timedelta(days=10),
        )


def _landing_queries(client: Client) -> tuple[int, str]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("admin:index"))
    assert response.status_code == 200
    return len(queries), response.content.decode()


@pytest.mark.parametrize("role", [roles.INFORMATION_OFFICER, roles.OPERATIONS, roles.AUDITOR, roles.ADMIN])
def test_each_landing_page_costs_the_same_queries_for_one_row_or_many(role):
    officer = make_staff(roles.INFORMATION_OFFICER)
    viewer = make_staff(role, superuser=role == roles.ADMIN)
    client = Client()
    otp_admin_login(client, viewer)
    _fill(officer, 1)
    few, _ = _landing_queries(client)
    _fill(officer, 4)
    many, page = _landing_queries(client)
    assert many == few, f"{role}: {few} queries with 1 row each, {many} with 5"
    assert "What needs you now" in page


def test_the_officer_sees_deadlines_four_eyes_consent_and_holds_with_people_masked():
    officer = make_staff(roles.INFORMATION_OFFICER)
    officer.first_name, officer.last_name = "Ayesha", "Patel"
    officer.save()
    _fill(officer, 2)
    client = Client()
    otp_admin_login(client, officer)
    page = client.get(reverse("admin:index")).content.decode()
    assert re.search(r"<strong>1</strong> overdue", page)
    assert "On-time rate of fulfilled requests per month" in page  # the SVG chart's title
    assert "Legal holds ending within 30 days" in page
    # The header names the person looking, with their role.
    assert "Ayesha Patel" in page and "(Information officer)" in page
    # Customers appear as masked name + short id only.
    assert "Thandi" not in page and "T*** · " in page


def test_verify_now_enqueues_the_check_after_commit_and_is_audited(auditor, django_capture_on_commit_callbacks):
    client = Client()
    otp_admin_login(client, auditor)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(reverse("admin:audit_verify_now"))
    assert response.status_code == 302
    assert len(callbacks) == 1  # the verification task, sent only once the request committed
    assert AuditEvent.objects.filter(action="AUDIT_VERIFY_REQUESTED", user=auditor).count() == 1


def test_verify_now_is_refused_to_operations_and_the_refusal_is_audited(operations):
    client = Client()
    otp_admin_login(client, operations)
    assert client.post(reverse("admin:audit_verify_now")).status_code == 403
    assert not AuditEvent.objects.filter(action="AUDIT_VERIFY_REQUESTED").exists()
    assert AuditEvent.objects.filter(action="PERMISSION_DENIED", user=operations).exists()
    assert client.get(reverse("admin:audit_verify_now")).status_code == 405


def test_the_auditor_exports_a_report_as_csv_or_json_and_each_export_is_audited(auditor, operations):
    client = Client()
    otp_admin_login(client, operations)
    client.get(reverse("admin:index"))
    otp_admin_login(client, auditor)
    url = reverse("admin:audit_report")
    today = timezone.now().date().isoformat()
    csv_answer = client.get(url, {"date_from": today, "date_to": today, "output": "csv"})
    assert csv_answer.status_code == 200
    assert csv_answer["Content-Type"].startswith("text/csv")
    assert csv_answer.content.decode().splitlines()[0].startswith("seq,timestamp,action")
    json_answer = client.get(url, {"date_from": today, "action": "AUDIT_EXPORTED", "output": "json"})
    report = json.loads(json_answer.content)
    assert report["filters"]["action"] == "AUDIT_EXPORTED"
    assert report["summary"]["count"] == 1  # the CSV export before it
    assert AuditEvent.objects.filter(action="AUDIT_EXPORTED", user=auditor).count() == 2


def test_a_report_with_a_bad_period_says_so_and_exports_nothing(auditor):
    client = Client()
    otp_admin_login(client, auditor)
    response = client.get(reverse("admin:audit_report"), {"date_from": "yesterday", "output": "csv"}, follow=True)
    assert "Report not exported" in response.content.decode()
    assert not AuditEvent.objects.filter(action="AUDIT_EXPORTED").exists()


def test_operations_cannot_export_the_audit_trail(operations):
    client = Client()
    otp_admin_login(client, operations)
    assert client.get(reverse("admin:audit_report"), {"output": "csv"}).status_code == 403
    assert not AuditEvent.objects.filter(action="AUDIT_EXPORTED").exists()


def test_a_form_posted_after_the_idle_timeout_is_kept_through_the_next_sign_in(information_officer, customer):
    device = enrol_totp(information_officer)
    client = Client()
    start = time.time()
    url = reverse("admin:compliance_legalhold_add")
    typed = {"subject": str(customer.public_id), "kind": "litigation", "reason": "Dispute 2026/044 before the Ombud"}
    with time_machine.travel(start, tick=False):
        login = {"username": information_officer.email, "password": PASSWORD, "otp_token": next_code(device)}
        assert client.post("/admin/login/?next=/admin/", login).status_code == 302
        assert client.get(url).status_code == 200
    with time_machine.travel(start + 16 * 60, tick=False):
        response = client.post(url, {**typed, "password": "never-kept-pass-2026"}, follow=True)
    page = response.content.decode()
    assert "/admin/login/" in response.redirect_chain[-1][0]
    assert "your last change was NOT saved" in page and "What you typed has been kept" in page
    assert "Not kept (enter again): password" in page
    assert not information_officer.legal_holds.exists() and not customer.legal_holds.exists()
    with time_machine.travel(start + 17 * 60, tick=False):
        login = {"username": information_officer.email, "password": PASSWORD, "otp_token": next_code(device)}
        back = client.post(f"/admin/login/?next={url}", {**login, "next": url})
        assert back["Location"] == url
        page = client.get(url).content.decode()
        restored = json.loads(re.search(r'id="preserved-form" type="application/json">(.*?)</script>', page).group(1))
        assert restored["data"]["reason"] == [typed["reason"]]
        assert "password" not in restored["data"] and "csrfmiddlewaretoken" not in restored["data"]
        assert "Your session had ended" in page
        # Shown once: a reload shows the empty form.
        assert "preserved-form" not in client.get(url).content.decode()

"""Admin screens: purposes and notices for the officer, read-only consent history for officer and
auditor, staff-recorded choices, consent statistics and the marketing export action."""

from __future__ import annotations

import csv
import io
import re

import pytest
from django.test import Client
from django.urls import reverse

from compliance.audit.services import AuditAction
from compliance.consent.models import ConsentEvent, ProcessingPurpose, PurposeNotice
from compliance.consent.selectors import MARKETING_AUDIENCE_COLUMNS, may_process
from compliance.consent.services import consent_record, notice_draft_save
from tests.compliance.consent.consent_helpers import current_version, make_staff, make_user, seed_purposes, spy_audit
from tests.personas import otp_admin_login

pytestmark = pytest.mark.django_db

DM = "direct_marketing"
EVENTS_URL = "/admin/compliance/consentevent/"
STATS_URL = "/admin/compliance/consentevent/statistics/"
RECORD_URL = "/admin/compliance/consentevent/record/"
PURPOSES_URL = "/admin/compliance/processingpurpose/"


@pytest.fixture(autouse=True)
def _purposes(db):
    seed_purposes()


def staff_client(role: str) -> tuple[Client, object]:
    user = make_staff(role)
    client = Client()
    otp_admin_login(client, user)
    return client, user


def choose(subject, purpose: str, granted: bool):
    return consent_record(
        actor=subject,
        subject=subject,
        purpose=purpose,
        granted=granted,
        notice_version=current_version(purpose),
        channel="api",
    )


@pytest.mark.parametrize("role", ["information_officer", "auditor"])
def test_officer_and_auditor_read_one_customers_history(role, django_assert_max_num_queries):
    client, _ = staff_client(role)
    alice, bob = make_user(), make_user()
    for answer in (True, False, True):
        choose(alice, DM, answer)
    choose(bob, "analytics", True)
    with django_assert_max_num_queries(12):
        response = client.get(EVENTS_URL, {"subject__public_id": str(alice.public_id)})
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count(str(alice.public_id)) >= 3
    assert str(bob.public_id) not in html
    assert alice.email not in html

    event = ConsentEvent.objects.filter(subject=alice).first()
    detail = client.get(reverse("admin:compliance_consentevent_change", args=[event.pk]))
    assert detail.status_code == 200
    assert b'name="granted"' not in detail.content  # read-only view, no form inputs


def test_consent_event_changelist_query_count_is_bounded(django_assert_max_num_queries):
    client, _ = staff_client("auditor")
    for _ in range(30):
        choose(make_user(), DM, True)
    # Session, user, permissions, the header's role, the page, filters: not one query per row.
    with django_assert_max_num_queries(11):
        assert client.get(EVENTS_URL).status_code == 200


@pytest.mark.parametrize("role", ["information_officer", "auditor"])
def test_nobody_edits_or_deletes_consent_events_in_the_admin(role):
    client, _ = staff_client(role)
    subject = make_user()
    event = choose(subject, DM, True)
    change_url = reverse("admin:compliance_consentevent_change", args=[event.pk])
    client.post(change_url, {"granted": "", "channel": "api"})
    assert client.get(reverse("admin:compliance_consentevent_delete", args=[event.pk])).status_code == 403
    assert client.get(reverse("admin:compliance_consentevent_add")).status_code == 403
    assert ConsentEvent.objects.get(pk=event.pk).granted is True


def test_customers_and_unprivileged_staff_cannot_see_consent_history():
    customer = make_user()
    client = Client()
    otp_admin_login(client, customer)
    assert client.get(EVENTS_URL).status_code == 302  # not staff: sent to the admin login
    staff = make_user("ops", groups=("operations",), is_staff=True)
    otp_admin_login(client, staff)
    assert client.get(EVENTS_URL).status_code == 403
    assert client.get(STATS_URL).status_code == 403
    assert client.get(RECORD_URL).status_code == 403


def test_a_published_notice_is_read_only_in_the_admin():
    client, _ = staff_client("information_officer")
    notice = PurposeNotice.objects.filter(purpose__code=DM, published_at__isnull=False).first()
    url = reverse("admin:compliance_purposenotice_change", args=[notice.pk])
    page = client.get(url)
    assert page.status_code == 200
    assert b'name="text"' not in page.content
    response = client.post(url, {"purpose": notice.purpose_id, "text": "rewritten", "requires_reconsent": ""})
    assert response.status_code == 403
    notice.refresh_from_db()
    assert notice.text != "rewritten"
    assert client.get(reverse("admin:compliance_purposenotice_delete", args=[notice.pk])).status_code == 403


def test_the_officer_drafts_and_publishes_a_new_notice_version(monkeypatch):
    calls = spy_audit(monkeypatch)
    client, officer = staff_client("information_officer")
    purpose = ProcessingPurpose.objects.get(code="analytics")
    before = current_version("analytics")
    response = client.post(
        reverse("admin:compliance_purposenotice_add"),
        {"purpose": purpose.pk, "text": "Analytics, revised.", "requires_reconsent": "on"},
    )
    assert response.status_code == 302, response.content
    draft = PurposeNotice.objects.get(purpose=purpose, published_at__isnull=True)
    assert (draft.text, draft.requires_reconsent, draft.created_by) == ("Analytics, revised.", True, officer)
    response = client.post(
        reverse("admin:compliance_purposenotice_changelist"),
        {"action": "publish_notices", "_selected_action": [draft.pk]},
    )
    assert response.status_code == 302
    draft.refresh_from_db()
    assert (draft.version, draft.published_by) == (before + 1, officer)
    assert [c["action"] for c in calls] == [AuditAction.NOTICE_PUBLISHED]
    assert calls[0]["change_diff"]["version"] == before + 1


def test_the_auditor_cannot_publish_or_draft_notices():
    client, _ = staff_client("auditor")
    officer = make_staff("information_officer")
    purpose = ProcessingPurpose.objects.get(code="analytics")
    draft = notice_draft_save(actor=officer, purpose=purpose, text="draft")
    response = client.post(
        reverse("admin:compliance_purposenotice_changelist"),
        {"action": "publish_notices", "_selected_action": [draft.pk]},
    )
    assert response.status_code in (200, 302, 403)
    assert client.get(reverse("admin:compliance_purposenotice_add")).status_code == 403
    draft.refresh_from_db()
    assert draft.version is None


def test_the_officer_creates_a_purpose_whose_code_and_basis_then_stay_fixed(monkeypatch):
    calls = spy_audit(monkeypatch)
    client, _ = staff_client("information_officer")
    response = client.post(
        reverse("admin:compliance_processingpurpose_add"),
        {
            "code": "surveys",
            "name": "Customer surveys",
            "description": "Asking you about our service.",
            "lawful_basis": "consent",
            "data_categories": '["contact"]',
            "is_active": "on",
            "notices-TOTAL_FORMS": "0",
            "notices-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content
    purpose = ProcessingPurpose.objects.get(code="surveys")
    assert (purpose.lawful_basis, purpose.data_categories) == ("consent", ["contact"])
    response = client.post(
        reverse("admin:compliance_processingpurpose_change", args=[purpose.pk]),
        {
            "code": "renamed",
            "name": "Customer surveys",
            "description": "Asking you about our service, twice a year.",
            "lawful_basis": "legitimate_interest",
            "data_categories": '["contact"]',
            "is_active": "on",
            "notices-TOTAL_FORMS": "0",
            "notices-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content
    purpose.refresh_from_db()
    assert (purpose.code, purpose.lawful_basis) == ("surveys", "consent")
    assert purpose.description == "Asking you about our service, twice a year."
    assert [c["action"] for c in calls] == [AuditAction.PURPOSE_CHANGED, AuditAction.PURPOSE_CHANGED]


def test_staff_record_a_phone_choice_through_the_admin_form():
    client, officer = staff_client("information_officer")
    subject = make_user()
    page = client.get(RECORD_URL)
    assert page.status_code == 200
    assert b"POPIA s69" in page.content  # the notices to read out are on the page
    missing_note = client.post(
        RECORD_URL,
        {
            "subject": str(subject.public_id),
            "purpose": DM,
            "decision": "grant",
            "notice_version": current_version(DM),
            "channel": "phone",
            "note": "",
        },
    )
    assert missing_note.status_code == 200
    assert not ConsentEvent.objects.filter(subject=subject).exists()
    no_decision = client.post(
        RECORD_URL,
        {
            "subject": str(subject.public_id),
            "purpose": DM,
            "decision": "",
            "notice_version": current_version(DM),
            "channel": "phone",
            "note": "Called in.",
        },
    )
    assert no_decision.status_code == 200
    assert not ConsentEvent.objects.filter(subject=subject).exists()
    stale = client.post(
        RECORD_URL,
        {
            "subject": str(subject.public_id),
            "purpose": DM,
            "decision": "grant",
            "notice_version": current_version(DM) + 5,
            "channel": "phone",
            "note": "Called in.",
        },
    )
    assert stale.status_code == 200
    assert b"not the current one" in stale.content
    response = client.post(
        RECORD_URL,
        {
            "subject": str(subject.public_id),
            "purpose": DM,
            "decision": "grant",
            "notice_version": current_version(DM),
            "channel": "phone",
            "note": "Customer phoned on 2026-11-20 and asked to receive offers.",
        },
    )
    assert response.status_code == 302
    event = ConsentEvent.objects.get(subject=subject)
    assert (event.granted, event.channel, event.recorded_by) == (True, "phone", officer)
    assert may_process(subject, DM) is True


def test_consent_statistics_chart(django_assert_max_num_queries):
    client, _ = staff_client("auditor")
    for granted in (True, True, True, False):
        choose(make_user(), DM, granted)
    changed_mind = make_user()
    choose(changed_mind, DM, True)
    choose(changed_mind, DM, False)
    with django_assert_max_num_queries(15):
        response = client.get(STATS_URL)
    assert response.status_code == 200
    html = response.content.decode()
    section = html[html.index('id="stats-direct_marketing"') : html.index('id="stats-third_party_marketing_sharing"')]
    assert re.search(r'class="stat-granted">3<', section)
    assert re.search(r'class="stat-not-granted">2<', section)
    # This week's bars: 4 grants and 2 withdrawals/refusals, drawn to scale (4 is the peak).
    assert "4 granted" in section and "2 withdrawn" in section
    assert 'class="bar-granted"' in section and 'height="120"' in section and 'height="60"' in section
    assert "<script" not in html.split("</head>")[1]
    assert " style=" not in section


def test_consent_statistics_read_the_replica_and_the_marketing_export_the_primary(read_routing):
    """Statistics tolerate a replica's moment of lag; the marketing audience does not: a consent
    withdrawn a moment ago must already keep the subject out (kernel/db_router.py)."""
    client, _ = staff_client("auditor")
    choose(make_user(), DM, True)
    read_routing.clear()
    assert client.get(STATS_URL).status_code == 200
    assert ("compliance.ConsentEvent", True) in read_routing
    assert ("compliance.ConsentEvent", False) not in read_routing
    officer_client, _ = staff_client("information_officer")
    dm = ProcessingPurpose.objects.get(code=DM)
    read_routing.clear()
    response = officer_client.post(PURPOSES_URL, {"action": "export_marketing_audience", "_selected_action": [dm.pk]})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert read_routing and all(not reporting for _, reporting in read_routing)


def test_the_marketing_export_action_lists_only_current_consenters(monkeypatch):
    client, officer = staff_client("information_officer")
    yes = make_user(first_name="=cmd|' /C calc'!A0")
    withdrew = make_user(first_name="Thandi")
    never = make_user()
    choose(yes, DM, True)
    choose(withdrew, DM, True)
    choose(withdrew, DM, False)
    choose(never, "analytics", True)
    dm = ProcessingPurpose.objects.get(code=DM)
    calls = spy_audit(monkeypatch)
    response = client.post(PURPOSES_URL, {"action": "export_marketing_audience", "_selected_action": [dm.pk]})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "no-store" in response["Cache-Control"]
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows == [list(MARKETING_AUDIENCE_COLUMNS), [str(yes.public_id), yes.email, "'=cmd|' /C calc'!A0"]]
    assert [(c["action"], c["actor"], c["change_diff"]) for c in calls] == [
        (
            AuditAction.MARKETING_EXPORT,
            officer,
            {"rows": 1, "columns": list(MARKETING_AUDIENCE_COLUMNS), "via": "admin"},
        )
    ]


def test_the_auditor_cannot_export_the_marketing_audience(monkeypatch):
    client, _ = staff_client("auditor")
    choose(make_user(), DM, True)
    calls = spy_audit(monkeypatch)
    dm = ProcessingPurpose.objects.get(code=DM)
    response = client.post(PURPOSES_URL, {"action": "export_marketing_audience", "_selected_action": [dm.pk]})
    assert not response.get("Content-Type", "").startswith("text/csv")
    assert calls == []


@pytest.mark.parametrize("term", ["not-a-uuid", "", "alice@example.test"])
def test_searching_consent_events_by_a_malformed_id_is_not_an_error(term):
    client, _ = staff_client("auditor")
    subject = make_user()
    choose(subject, DM, True)
    response = client.get(EVENTS_URL, {"q": term})
    assert response.status_code == 200
    found = client.get(EVENTS_URL, {"q": str(subject.public_id)})
    assert str(subject.public_id) in found.content.decode()

"""The DSAR queue as a work tool (issue 17), through the admin client: inline next steps derived
from the workflow table, list actions through the services, search by short id and e-mail (blind
index), the four-eyes step with who may give it, the outcome notice previewed, a History timeline,
and a change list whose query count does not grow with its rows."""

from __future__ import annotations

import pytest
from django.contrib.admin.models import LogEntry
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.services import user_profile_update
from compliance.audit.models import AuditEvent
from compliance.dsar import services
from compliance.dsar.models import DataSubjectRequest, DsarStatus
from tests.compliance.dsar.conftest import make_user
from tests.personas import otp_admin_login

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/compliance/datasubjectrequest/"


def change_url(dsar) -> str:
    return f"{CHANGELIST}{dsar.pk}/change/"


def act_url(dsar, action: str) -> str:
    return f"{CHANGELIST}{dsar.pk}/act/{action}/"


def offered(response) -> set[str]:
    return {action["slug"] for action in response.context["dsar_actions"]}


def in_review(officer, dsar):
    services.dsar_verify_identity(actor=officer, dsar=dsar, evidence="seen")
    return services.dsar_assign(actor=officer, dsar=dsar)


def test_next_steps_are_inline_forms_posting_to_their_action(client, officer, filed):
    dsar = filed("access")
    otp_admin_login(client, officer)
    page = client.get(change_url(dsar))
    html = page.content.decode()
    assert offered(page) == {"verify-identity", "request-identity", "extend", "note", "evidence"}
    # The form is on the request page itself: no separate page to open first.
    assert f'action="{act_url(dsar, "verify-identity")}"' in html and 'name="evidence"' in html
    assert "approve" not in offered(page)
    response = client.post(act_url(dsar, "verify-identity"), {"evidence": "Passport seen"})
    assert response.status_code == 302 and response.url == change_url(dsar)
    assert "verify-identity" not in offered(client.get(change_url(dsar)))


def test_assign_to_me_is_not_offered_and_refused_when_already_mine(client, officer, second_officer, filed):
    dsar = in_review(officer, filed("access"))
    otp_admin_login(client, officer)
    assert "assign" not in offered(client.get(change_url(dsar)))
    response = client.post(act_url(dsar, "assign"), {})
    assert response.status_code == 200 and "already assigned to you" in response.content.decode()
    otp_admin_login(client, second_officer)
    assert "assign" in offered(client.get(change_url(dsar)))


def test_four_eyes_shows_who_may_approve_and_hides_approve_from_the_requester(client, officer, second_officer, filed):
    dsar = in_review(officer, filed("deletion"))
    otp_admin_login(client, officer)
    page = client.get(change_url(dsar))
    assert "approve" not in offered(page) and "request-approval" in offered(page)
    client.post(act_url(dsar, "request-approval"), {"note": ""})
    page = client.get(change_url(dsar))
    four_eyes = page.context["dsar_four_eyes"]
    assert four_eyes["requested_by"] and len(four_eyes["may_approve"]) == 1
    assert "approve" not in offered(page)
    assert "Second approval requested by" in page.content.decode()
    otp_admin_login(client, second_officer)
    assert "approve" in offered(client.get(change_url(dsar)))


def test_approve_from_the_list_goes_through_the_service_and_its_four_eyes(
    client, officer, second_officer, filed, django_capture_on_commit_callbacks
):
    mine = in_review(officer, filed("deletion"))
    services.dsar_request_approval(actor=officer, dsar=mine)
    otp_admin_login(client, officer)
    body = {"action": "approve_selected", "_selected_action": [mine.pk]}
    response = client.post(CHANGELIST, body, follow=True)
    assert "four eyes" in response.content.decode()
    mine.refresh_from_db()
    assert mine.status == DsarStatus.IN_REVIEW and mine.decided_by is None
    otp_admin_login(client, second_officer)
    with django_capture_on_commit_callbacks():
        client.post(CHANGELIST, body, follow=True)
    mine.refresh_from_db()
    assert mine.status == DsarStatus.APPROVED and mine.decided_by == second_officer
    # The step is recorded once, in the audit trail; the landing page's "Recent actions" shows it.
    assert AuditEvent.objects.filter(action="DSAR_TRANSITION", user=second_officer).exists()
    assert not LogEntry.objects.exists()
    landing = client.get("/admin/").content.decode()
    assert "Dsar transition" in landing.split('id="recent-actions-module"')[1]


def test_search_by_short_id_and_by_the_subjects_email(client, officer, filed, customer):
    dsar = filed("access")
    someone = make_user("someone.else@example.co.za")
    other = services.dsar_file(subject=someone, filed_by=someone, type="access")
    otp_admin_login(client, officer)
    before = AuditEvent.objects.filter(action="PI_ACCESS").count()
    by_short = client.get(CHANGELIST, {"q": str(dsar.public_id)[:8]})
    assert list(by_short.context["cl"].result_list) == [dsar]
    by_email = client.get(CHANGELIST, {"q": customer.email.upper()})
    assert list(by_email.context["cl"].result_list) == [dsar]
    nobody = client.get(CHANGELIST, {"q": "nobody@example.co.za"})
    assert list(nobody.context["cl"].result_list) == []
    assert other not in by_email.context["cl"].result_list
    # The e-mail searched for never comes back in clear, and the list is no PI read.
    assert customer.email not in by_email.content.decode().replace(f'value="{customer.email.upper()}"', "")
    assert AuditEvent.objects.filter(action="PI_ACCESS").count() == before


def test_search_by_the_subjects_exact_surname_through_its_blind_index(client, officer, filed, customer):
    customer.first_name, customer.last_name = "Thandiwe", "van der Merwe"
    customer.save(update_fields=["first_name", "last_name"])
    dsar = filed("access")
    namesake = make_user("namesake@example.co.za")
    namesake.last_name = "Van der  MERWE"
    namesake.save(update_fields=["last_name"])
    theirs = services.dsar_file(subject=namesake, filed_by=namesake, type="access")
    stranger = make_user("stranger@example.co.za")
    stranger.last_name = "Merwe"
    stranger.save(update_fields=["last_name"])
    services.dsar_file(subject=stranger, filed_by=stranger, type="access")
    otp_admin_login(client, officer)
    before = AuditEvent.objects.filter(action="PI_ACCESS").count()

    def found(term: str) -> set:
        return set(client.get(CHANGELIST, {"q": term}).context["cl"].result_list)

    # Exact surname, case and spacing ignored: both van der Merwes, not the Merwe.
    assert found("  VAN DER merwe ") == {dsar, theirs}
    assert found("Merwe") == {stranger.dsars.get()}
    # No partial or first-name matches (a blind index answers exact values only).
    assert found("van der") == set() and found("Thandiwe") == set()
    # The index follows the surname: a change through the profile service moves the request.
    user_profile_update(actor=customer, last_name="Dlamini")
    assert found("van der merwe") == {theirs} and found("dlamini") == {dsar}
    response = client.get(CHANGELIST, {"q": "dlamini"})
    assert "surname" in response.content.decode()  # the help text says what the search matches
    assert AuditEvent.objects.filter(action="PI_ACCESS").count() == before


def test_the_outcome_notice_is_previewed_before_it_is_sent(client, officer, filed):
    dsar = in_review(officer, filed("deletion"))
    otp_admin_login(client, officer)
    preview = client.get(change_url(dsar)).context["dsar_statement_preview"]
    assert preview["subject"].startswith("Your deletion request")
    assert str(dsar.public_id) in preview["body"] or "deletion" in preview["body"].lower()
    assert not dsar.notices.filter(kind="deletion_statement").exists()  # previewed, not sent


def test_history_shows_the_requests_timeline_and_recent_actions_the_officers_audited_steps(client, officer, filed):
    dsar = filed("access")
    otp_admin_login(client, officer)
    client.post(act_url(dsar, "verify-identity"), {"evidence": "Passport seen"})
    client.post(act_url(dsar, "assign"), {})
    history = client.get(f"{CHANGELIST}{dsar.pk}/history/")
    rows = history.context["dsar_timeline"]
    whats = [row["what"] for row in rows]
    assert len(rows) >= 4 and any(what.startswith("Notice to the subject") for what in whats)
    assert "Passport seen" not in history.content.decode()
    # The timeline is the history: no stock "no change history" line, no staff e-mail in clear.
    assert "doesn’t have a change history" not in history.content.decode()
    assert officer.email not in history.content.decode()
    # "Recent actions" on the landing page: the officer's own steps from the audit trail (one
    # record of each step: no LogEntry beside it), never the session noise, never others' steps.
    assert not LogEntry.objects.exists()
    recent = client.get("/admin/").context["recent_actions"]
    assert [row["action"] for row in recent][:2] == ["Dsar transition", "Dsar transition"]
    assert all(row["action"] not in ("Login", "Mfa verified") for row in recent)
    assert recent[0]["object"].endswith(str(dsar.public_id)[:8])


def test_the_change_list_query_count_does_not_grow_with_its_rows(client, officer, filed):
    otp_admin_login(client, officer)

    def queries_for(rows: int) -> int:
        while DataSubjectRequest.objects.count() < rows:
            dsar = filed("access")
            if DataSubjectRequest.objects.count() % 2:
                in_review(officer, dsar)
        client.get(CHANGELIST)  # warm the per-process caches (content types, permissions)
        with CaptureQueriesContext(connection) as queries:
            response = client.get(CHANGELIST)
        assert len(response.context["cl"].result_list) == rows
        return len(queries)

    few, many = queries_for(3), queries_for(30)
    assert few == many, (few, many)


def test_the_migration_indexes_the_surnames_of_existing_accounts(customer):
    import importlib
    from types import SimpleNamespace

    from django.apps import apps as django_apps

    from compliance.crypto.fields import by_blind_index

    migration = importlib.import_module("accounts.migrations.0005_surname_blind_index")
    customer.last_name = "Khumalo"
    customer.save(update_fields=["last_name"])
    user_model = type(customer)
    # An account from before the index: the column is empty (set directly, as the AddField leaves it).
    user_model.objects.filter(pk=customer.pk).update(last_name_index=None)
    assert not by_blind_index(user_model, "last_name", "khumalo").exists()
    migration.index_existing_surnames(django_apps, SimpleNamespace(connection=connection))
    assert list(by_blind_index(user_model, "last_name", " KHUMALO")) == [customer]
    customer.refresh_from_db()
    assert customer.last_name == "Khumalo"  # the encrypted surname itself is untouched

"""The admin: audit events are read-only for everyone (superusers too); PI views are audited."""

from __future__ import annotations

import pytest
from django.urls import reverse

from compliance.audit.chain import seal_pending, verify_and_alert
from compliance.audit.services import AuditAction
from compliance.models import AuditEvent
from tests.compliance.audit.conftest import write_events
from tests.personas import otp_admin_login

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser(make_user):
    return make_user(superuser=True)


def test_the_changelist_is_read_only_and_cheap(superuser, client, django_assert_max_num_queries):
    write_events(30)
    seal_pending()
    otp_admin_login(client, superuser)
    url = reverse("admin:compliance_auditevent_changelist")
    with django_assert_max_num_queries(12):
        response = client.get(url, {"action": "TRANSFER"})
    assert response.status_code == 200
    content = response.content.decode()
    assert "TRANSFER" in content
    assert reverse("admin:compliance_auditevent_add") not in content
    assert response.context["action_form"] is None  # no bulk actions at all
    model_admin = response.context["cl"].model_admin
    request = response.wsgi_request
    assert model_admin.get_actions(request) == {}
    assert (
        model_admin.has_add_permission(request),
        model_admin.has_change_permission(request),
        model_admin.has_delete_permission(request),
    ) == (False, False, False)


VARIANTS = [{}, {"p": "2"}, {"action": "TRANSFER"}, {"actor_type": "user"}, {"q": "t-3"}]


def test_the_changelist_query_count_is_constant_in_its_rows_and_never_counts_the_whole_trail(
    auditor, make_user, client, monkeypatch
):
    """Issue 17: no query per row (actors joined), no COUNT(*) of the table: the paginator counts
    at most its cap and beyond it takes the planner's estimate (a cap of 20 and pages of 10 stand
    in for 10,000 and 50)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from compliance.audit.admin import AuditEventAdmin
    from kernel.admin import CappedCountPaginator

    monkeypatch.setattr(CappedCountPaginator, "count_cap", 20)
    monkeypatch.setattr(AuditEventAdmin, "list_per_page", 10)
    url = reverse("admin:compliance_auditevent_changelist")
    otp_admin_login(client, auditor)
    write_events(5)  # t-0 .. t-4: the search finds one

    def grow_to(rows: int) -> None:
        # A different actor on every record: a query per row would show as a growing count.
        while AuditEvent.objects.filter(actor_type="user", action="TRANSFER").count() < rows:
            write_events(1, actor=make_user())
        seal_pending()

    def measure(params: dict) -> tuple[int, list[str], str]:
        client.get(url, params)  # warm the per-process caches
        with CaptureQueriesContext(connection) as captured:
            response = client.get(url, params)
        assert response.status_code == 200, params
        return len(captured), [q["sql"] for q in captured], response.content.decode()

    grow_to(25)
    few = [measure(params)[0] for params in VARIANTS]
    grow_to(100)
    many = []
    for params in VARIANTS:
        count, sqls, content = measure(params)
        many.append(count)
        counts = [sql for sql in sqls if "COUNT(" in sql.upper() and "compliance_auditevent" in sql]
        # The one count of the trail is bounded by the cap (LIMIT 21), never the whole table.
        assert len(counts) == 1 and "LIMIT 21" in counts[0], counts
        # Past the cap, the list says its count is an estimate; below it, the exact count.
        assert ("about " in content) == ("q" not in params), params
    assert few == many, (few, many)


def test_superusers_cannot_add_change_or_delete(superuser, client):
    write_events(1)
    seal_pending()
    event = AuditEvent.objects.get()
    before = AuditEvent.objects.values().get()
    otp_admin_login(client, superuser)
    change_url = reverse("admin:compliance_auditevent_change", args=[event.pk])
    view = client.get(change_url)
    assert view.status_code == 200
    assert "Save" not in view.content.decode()
    assert client.post(change_url, {"action": "DEPOSIT", "object_id": "x"}).status_code == 403
    assert (
        client.post(reverse("admin:compliance_auditevent_delete", args=[event.pk]), {"post": "yes"}).status_code == 403
    )
    assert client.get(reverse("admin:compliance_auditevent_add")).status_code == 403
    # The refusals themselves are audited (PERMISSION_DENIED); the record is unchanged.
    assert AuditEvent.objects.values().get(pk=event.pk) == before


def test_an_auditor_sees_the_trail_and_others_do_not(auditor, operations, client):
    write_events(1)
    url = reverse("admin:compliance_auditevent_changelist")
    otp_admin_login(client, auditor)
    assert client.get(url).status_code == 200
    otp_admin_login(client, operations)
    assert client.get(url).status_code == 403


def test_a_broken_chain_shows_an_admin_warning(superuser, client, behind_the_triggers, settings):
    write_events(3)
    seal_pending()
    otp_admin_login(client, superuser)
    url = reverse("admin:compliance_auditevent_changelist")
    # Never verified, but nothing was sealed long enough ago for a check to be due: no alarm.
    assert "has not been verified recently" not in client.get(url).content.decode()
    # Records sealed longer ago than a verification may wait, and none ran: now it is due.
    max_age = settings.AUDIT_VERIFY_MAX_AGE_SECONDS
    settings.AUDIT_VERIFY_MAX_AGE_SECONDS = 0
    assert "has not been verified recently" in client.get(url).content.decode()
    settings.AUDIT_VERIFY_MAX_AGE_SECONDS = max_age
    verify_and_alert()
    page = client.get(url).content.decode()
    assert "verification FAILED" not in page and "not been verified" not in page
    behind_the_triggers("UPDATE compliance_auditevent SET object_id = 'x' WHERE seq = 3")
    verify_and_alert()
    assert "Audit chain verification FAILED at seq 3" in client.get(url).content.decode()


@pytest.mark.urls("tests.compliance.audit.urls_pi_admin")
def test_a_pi_holding_record_is_masked_and_only_a_reveal_is_a_pi_access_event(superuser, make_user, client):
    subject = make_user(first_name="Thandiwe")
    otp_admin_login(client, superuser)
    response = client.get(f"/pi-admin/accounts/user/{subject.pk}/change/")
    assert response.status_code == 200 and "Thandiwe" not in response.content.decode()
    client.get("/pi-admin/accounts/user/")
    assert not AuditEvent.objects.filter(action=AuditAction.PI_ACCESS).exists()
    client.post(f"/pi-admin/accounts/user/{subject.pk}/reveal/", {"reason": "support call"})
    event = AuditEvent.objects.get(action=AuditAction.PI_ACCESS)
    assert (event.user_id, event.object_type, event.object_id) == (
        superuser.pk,
        "accounts.User",
        str(subject.public_id),
    )
    assert event.change_diff == {"fields": ["email", "first_name", "last_name", "phone"], "purpose": "support call"}
    assert "Thandiwe" in client.get(f"/pi-admin/accounts/user/{subject.pk}/change/").content.decode()

"""The admin's side of the access matrix: every registered model's change list, for every staff
role, answers 200 exactly when the role holds a permission that lets it see the model, and every
refusal is a 403 with one PERMISSION_DENIED record (the one mechanism, kernel.access), and nothing
else changed.

The roles are the declared ones (accounts/roles.py), synced as in production; a screen a role
needs and cannot open (the KYC queue for operations, say) shows up here as a 403.
"""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.test import Client, RequestFactory

from compliance.audit.models import AuditEvent
from compliance.audit.services import AuditAction
from tests.personas import make_staff, otp_admin_login

STAFF_ROLES = ("operations", "information_officer", "auditor", "admin")

# The screens each role's daily work needs (SPEC "Who uses it"): these must open, whatever else.
MUST_OPEN = {
    "operations": {
        "/admin/ledger/kycrecord/",
        "/admin/ledger/ledgeraccount/",
        "/admin/ledger/journalentry/",
        "/admin/ledger/posting/",
        "/admin/ledger/bankaccount/",
        "/admin/accounts/user/",
    },
    "information_officer": {
        "/admin/compliance/datasubjectrequest/",
        "/admin/compliance/processingpurpose/",
        "/admin/compliance/consentevent/",
        "/admin/compliance/retentionpolicy/",
        "/admin/compliance/legalhold/",
        "/admin/compliance/auditevent/",
    },
    "auditor": {
        "/admin/compliance/auditevent/",
        "/admin/compliance/auditcheckpoint/",
        "/admin/compliance/datasubjectrequest/",
        "/admin/compliance/consentevent/",
        "/admin/compliance/retentionpolicy/",
        "/admin/ledger/journalentry/",
        "/admin/ledger/kycrecord/",
    },
    "admin": {"/admin/accounts/user/", "/admin/django_celery_beat/periodictask/"},
}


def changelists() -> list[tuple[str, str]]:
    return sorted(
        (model._meta.label_lower, f"/admin/{model._meta.app_label}/{model._meta.model_name}/")
        for model in admin.site._registry
    )


def request_as(user, url: str):
    request = RequestFactory().get(url)
    request.user = user
    return request


@pytest.mark.django_db
@pytest.mark.parametrize("role", STAFF_ROLES)
def test_every_change_list_answers_by_permission_and_every_refusal_is_audited(role):
    user = make_staff(role)
    client = Client()
    otp_admin_login(client, user)
    mismatches = []
    for label, url in changelists():
        model_admin = next(ma for model, ma in admin.site._registry.items() if model._meta.label_lower == label)
        allowed = model_admin.has_view_or_change_permission(request_as(user, url))
        denials_before = AuditEvent.objects.filter(action=AuditAction.PERMISSION_DENIED).count()
        response = client.get(url)
        denials = AuditEvent.objects.filter(action=AuditAction.PERMISSION_DENIED).count() - denials_before
        want = 200 if allowed else 403
        if url in MUST_OPEN[role] and not allowed:
            mismatches.append(f"{role} {url}: the role's work needs this screen, and its permissions do not open it")
        if response.status_code != want:
            mismatches.append(f"{role} {url}: {response.status_code} != {want}")
        if response.status_code == 403 and denials != 1:
            mismatches.append(f"{role} {url}: 403 wrote {denials} PERMISSION_DENIED records, not 1")
        if response.status_code != 403 and denials:
            mismatches.append(f"{role} {url}: {response.status_code} wrote a PERMISSION_DENIED record")
    assert mismatches == []
    # Every screen a role needs exists (a renamed model must not make this test vacuous).
    assert MUST_OPEN[role] <= {url for _, url in changelists()}


@pytest.mark.django_db
def test_the_denial_record_names_the_screen_and_the_person_never_the_path():
    user = make_staff("operations")
    client = Client()
    otp_admin_login(client, user)
    assert client.get("/admin/auth/group/").status_code == 403
    record = AuditEvent.objects.get(action=AuditAction.PERMISSION_DENIED)
    assert (record.user_id, record.object_type, record.object_id) == (user.pk, "view", "admin:auth_group_changelist")
    assert record.change_diff == {"method": "GET", "code": "permission_denied"}

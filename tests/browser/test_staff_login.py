"""Every staff role signs in through the real form (password + TOTP) and lands on its own page.

Clicks: 1 (the "Log in" button, after typing e-mail, password and the code).
"""

from __future__ import annotations

import pytest

from accounts import roles
from compliance.audit.models import AuditEvent
from tests.browser.conftest import Clicks, assert_accessible, sign_in

pytestmark = pytest.mark.django_db(transaction=True)

LANDING_HEADINGS = {
    roles.OPERATIONS: "Operations",
    roles.INFORMATION_OFFICER: "Information officer",
    roles.AUDITOR: "Auditor",
    roles.ADMIN: "Administrator",
}


@pytest.mark.parametrize("role", [roles.OPERATIONS, roles.INFORMATION_OFFICER, roles.AUDITOR, roles.ADMIN])
def test_each_role_signs_in_with_password_and_code_and_sees_its_own_name(page, staff, role):
    member = staff[role]
    page.goto("/admin/")
    assert_accessible(page, context="login page")
    clicks = Clicks()
    sign_in(page, member, clicks)
    assert clicks.count == 1
    header = page.locator("#user-tools").text_content() or ""
    # The person's own name and role, not a generic greeting.
    assert member.user.first_name in header
    assert LANDING_HEADINGS[role] in header
    assert "Welcome, Demo" not in page.content()
    assert page.get_by_role("heading", name="What needs you now").is_visible()
    assert_accessible(page, context=f"{role} landing page")
    assert AuditEvent.objects.filter(action="LOGIN", user=member.user).exists()


def test_a_wrong_code_keeps_the_door_shut(page, staff):
    member = staff[roles.AUDITOR]
    page.goto("/admin/")
    page.get_by_label("Email").fill(member.user.email)
    page.get_by_label("Password").fill(member.password)
    page.get_by_label("One-time code").fill("000000")
    page.get_by_role("button", name="Log in").click()
    assert page.locator(".errornote").is_visible()
    assert "/admin/login/" in page.url
    assert_accessible(page, context="login page with an error")

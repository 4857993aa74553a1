"""Idle timeout that keeps work: a warning before it, and a form submitted after it is filled in
again after the next sign-in (with a message saying it was not saved). The timeout is shortened
to 8 seconds for the test (the product's is 15 minutes: ``ADMIN_IDLE_TIMEOUT_SECONDS``).

Clicks: log in 1, "Stay signed in" 1, submit 1 (refused: signed out), log in 1, submit 1 = 5.
"""

from __future__ import annotations

import pytest

from accounts import roles
from compliance.retention.models import LegalHold
from tests.browser.conftest import Clicks, assert_accessible, sign_in
from tests.personas import make_customer, next_code

pytestmark = pytest.mark.django_db(transaction=True)

IDLE = 8


def test_the_warning_comes_before_the_timeout_and_a_late_form_survives_it(page, staff, settings):
    settings.ADMIN_IDLE_TIMEOUT_SECONDS = IDLE
    officer = staff[roles.INFORMATION_OFFICER]
    customer = make_customer(email="held.customer@example.test")
    clicks = Clicks()
    sign_in(page, officer, clicks, path="/admin/compliance/legalhold/add/")
    warning = page.locator("#session-warning")
    assert warning.is_hidden()
    # The warning appears before the timeout (here half-way: 4 s of an 8 s timeout).
    warning.wait_for(state="visible", timeout=IDLE * 1000)
    assert_accessible(page, context="idle warning")
    clicks.click(page.get_by_role("button", name="Stay signed in"), "stay signed in")
    warning.wait_for(state="hidden")

    reason = "Dispute 2026/051 before the Ombud; keep the statements."
    page.get_by_label("Subject email").fill(customer.email)
    page.get_by_label("Reason").fill(reason)
    page.wait_for_timeout((IDLE + 2) * 1000)  # away from the desk
    clicks.click(page.get_by_role("button", name="Place hold"), "submit after the timeout")
    page.wait_for_load_state()
    assert "/admin/login/" in page.url
    assert "NOT saved" in page.locator(".messagelist").inner_text()
    assert_accessible(page, context="login after the timeout")
    assert not LegalHold.objects.filter(subject=customer).exists()

    page.get_by_label("Email").fill(officer.user.email)
    page.get_by_label("Password").fill(officer.password)
    page.get_by_label("One-time code").fill(next_code(officer.device))
    clicks.click(page.get_by_role("button", name="Log in"), "log in again")
    page.wait_for_load_state()
    assert page.url.endswith("/admin/compliance/legalhold/add/")
    assert page.locator("#preserved-form-note").is_visible()
    assert page.get_by_label("Reason").input_value() == reason
    assert_accessible(page, context="form restored after sign-in")
    settings.ADMIN_IDLE_TIMEOUT_SECONDS = 15 * 60
    clicks.click(page.get_by_role("button", name="Place hold"), "submit again")
    page.wait_for_load_state()
    assert LegalHold.objects.filter(subject=customer, reason=reason).exists()
    assert clicks.count == 5

"""`make screenshots`: the main staff screens as PNGs in docs/screenshots/, on the demo data.

Not a test (the file name keeps it out of `make test`); run explicitly:
``pytest -n 0 tests/browser/screenshots.py``. It loads `manage.py demo_data` into the test
database, signs each demo staff member in through the real form (password + TOTP) and saves each
screen at 1440 px wide. Every screen is also checked with axe-core.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from accounts.models import TOTPDevice
from fintech.management.commands.demo_data import DEMO_DOMAIN, SECOND_OFFICER_EMAIL
from tests.browser.conftest import StaffMember, assert_accessible, sign_in
from tests.personas import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)

OUT = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


def demo_member(email: str) -> StaffMember:
    user = get_user_model().objects.get_by_email(email)
    user.set_password(PASSWORD)  # the demo's passwords are random and printed once
    user.save(update_fields=["password"])
    return StaffMember(user=user, device=TOTPDevice.objects.get(user=user, confirmed=True))


def shoot(page, name: str) -> None:
    page.wait_for_load_state("networkidle")
    assert_accessible(page, context=name)
    page.screenshot(path=str(OUT / f"{name}.png"), full_page=True)


def test_screenshots(new_page, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    call_command("demo_data")
    OUT.mkdir(parents=True, exist_ok=True)

    page = new_page()
    page.goto("/admin/")
    shoot(page, "01-login")

    officer = demo_member(f"information.officer@{DEMO_DOMAIN}")
    sign_in(page, officer)
    shoot(page, "02-officer-landing")
    page.goto("/admin/compliance/datasubjectrequest/")
    shoot(page, "03-dsar-queue")

    second = new_page()
    sign_in(second, demo_member(SECOND_OFFICER_EMAIL))
    waiting = second.locator("#panel-officer table").nth(1).get_by_role("link").first
    waiting.click()
    shoot(second, "04-dsar-four-eyes-approval")
    second.goto(second.url.replace("/change/", "/history/"))
    shoot(second, "11-dsar-history")

    operations = new_page()
    sign_in(operations, demo_member(f"operations@{DEMO_DOMAIN}"))
    shoot(operations, "05-operations-landing")
    operations.goto("/admin/ledger/journalentry/")
    shoot(operations, "06-journal-entries")
    operations.goto("/admin/ledger/kycrecord/?status__exact=pending")
    operations.locator("#result_list tbody tr th a").first.click()
    shoot(operations, "12-kyc-decision")

    auditor = new_page()
    sign_in(auditor, demo_member(f"auditor@{DEMO_DOMAIN}"))
    shoot(auditor, "07-auditor-landing")
    auditor.goto("/admin/compliance/auditevent/")
    shoot(auditor, "08-audit-trail")

    admin = new_page()
    sign_in(admin, demo_member(f"admin@{DEMO_DOMAIN}"))
    shoot(admin, "09-admin-landing")
    admin.goto("/api/docs/")
    admin.wait_for_selector(".opblock-tag", timeout=20_000)
    admin.screenshot(path=str(OUT / "10-api-docs.png"), full_page=False)

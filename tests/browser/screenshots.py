"""`make screenshots`: the main staff screens as PNGs in docs/screenshots/, on the demo data.

Not a test (the file name keeps it out of `make test`); run explicitly:
``pytest -n 0 tests/browser/screenshots.py``. It loads `manage.py demo_data` into the test
database, signs each demo staff member in through the real form (password + TOTP) and saves each
screen at 1440 px wide. Every screen is also checked with axe-core, and its HTML for the demo
customers' PI in clear (e-mails, phones, ID numbers, dates of birth, names): none may appear.
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


def customer_pi() -> set[str]:
    """Every demo customer's personal information as it would read in clear: e-mail, phone, ID
    number (digits, and as the KYC form spaces it), date of birth, full name, first name and
    surname. Staff e-mails too (a staff member's own name in the header is theirs to see)."""
    from django.utils import dateformat

    from ledger.models import KycRecord

    values: set[str] = set()
    for user in get_user_model().objects.all():
        values.add(user.email)
        if user.is_staff:
            continue
        values.update(filter(None, [user.phone, user.get_full_name(), user.first_name, user.last_name]))
    for record in KycRecord.objects.all():
        digits = record.id_number
        values.update({digits, f"{digits[:6]} {digits[6:10]} {digits[10:]}"})
        born = record.date_of_birth
        values.update({born.isoformat(), dateformat.format(born, "N j, Y"), dateformat.format(born, "j F Y")})
    return {value for value in values if value and len(value.strip()) >= 3}


def assert_no_pi_in_clear(page, name: str, pi: set[str]) -> None:
    """The page's HTML (text, attributes, hidden fields) carries none of the demo's PI in clear."""
    html = page.content()
    found = sorted(value for value in pi if value in html)
    # Say which kind of value leaked and where, never the value itself (a CI log is no place for PI).
    assert not found, f"{name}: {len(found)} personal value(s) in clear, e.g. one of {len(found[0])} characters"


def shoot(page, name: str, pi: set[str] | None = None) -> None:
    page.wait_for_load_state("networkidle")
    assert_accessible(page, context=name)
    if pi is not None:
        assert_no_pi_in_clear(page, name, pi)
    page.screenshot(path=str(OUT / f"{name}.png"), full_page=True)


def test_screenshots(new_page, settings, tmp_path):
    settings.VAR_DIR = tmp_path
    call_command("demo_data")
    OUT.mkdir(parents=True, exist_ok=True)
    pi = customer_pi()
    assert len(pi) > 20  # the demo's customers, their KYC records and the staff e-mails

    page = new_page()
    page.goto("/admin/")
    shoot(page, "01-login", pi)

    officer = demo_member(f"information.officer@{DEMO_DOMAIN}")
    sign_in(page, officer)
    shoot(page, "02-officer-landing", pi)
    page.goto("/admin/compliance/datasubjectrequest/")
    shoot(page, "03-dsar-queue", pi)

    second = new_page()
    sign_in(second, demo_member(SECOND_OFFICER_EMAIL))
    waiting = second.locator("#panel-officer table").nth(1).get_by_role("link").first
    waiting.click()
    shoot(second, "04-dsar-four-eyes-approval", pi)
    second.goto(second.url.replace("/change/", "/history/"))
    shoot(second, "11-dsar-history", pi)

    operations = new_page()
    sign_in(operations, demo_member(f"operations@{DEMO_DOMAIN}"))
    shoot(operations, "05-operations-landing", pi)
    operations.goto("/admin/ledger/journalentry/")
    shoot(operations, "06-journal-entries", pi)
    operations.goto("/admin/ledger/kycrecord/?status__exact=pending")
    operations.locator("#result_list tbody tr th a").first.click()
    shoot(operations, "12-kyc-decision", pi)

    auditor = new_page()
    sign_in(auditor, demo_member(f"auditor@{DEMO_DOMAIN}"))
    shoot(auditor, "07-auditor-landing", pi)
    auditor.goto("/admin/compliance/auditevent/")
    shoot(auditor, "08-audit-trail", pi)

    admin = new_page()
    sign_in(admin, demo_member(f"admin@{DEMO_DOMAIN}"))
    shoot(admin, "09-admin-landing", pi)
    admin.goto("/api/docs/")
    admin.wait_for_selector(".opblock-tag", timeout=20_000)
    assert_no_pi_in_clear(admin, "10-api-docs", pi)
    admin.screenshot(path=str(OUT / "10-api-docs.png"), full_page=False)

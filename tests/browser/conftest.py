"""Browser tests: Playwright driving Debian's chromium against pytest-django's live server.

- The browser is always ``/usr/bin/chromium`` from Debian (``make browsers``, which ``make test``
  runs first, installs it with apt-get): never a browser build Playwright would download.
- When chromium is missing the tests skip with a loud reason, except under CI (``CI`` set), where
  a missing browser is a failure: CI must run them.
- Every page a test visits is checked with axe-core, vendored in ``tests/browser/vendor/`` (never
  fetched): ``assert_accessible(page)`` fails on any serious or critical violation.
- Staff sign in through the real login form: e-mail, password and the current TOTP code.

Run them one file at a time, without xdist: ``pytest -n 0 tests/browser/test_x.py``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from accounts import roles
from accounts.models import TOTPDevice, User
from tests.personas import PASSWORD, enrol_totp, make_staff, next_code

# Playwright's sync API runs an event loop in this thread; Django's ORM refuses to run while a
# loop is running unless told that the caller knows it is synchronous (the test is).
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = Path(os.environ.get("FINTECH_CHROMIUM", "/usr/bin/chromium"))
AXE = Path(__file__).parent / "vendor" / "axe.min.js"
VIEWPORT = {"width": 1440, "height": 900}
BLOCKING_IMPACTS = ("serious", "critical")


def _require_chromium() -> None:
    if CHROMIUM.exists():
        return
    reason = (
        f"!!! BROWSER TESTS NOT RUN: {CHROMIUM} is missing and could not be installed "
        "(`make browsers` runs `apt-get install -y chromium`). Install it to run them. !!!"
    )
    if os.environ.get("CI"):
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    _require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # --no-sandbox: CI and the dev machines run as root, where chromium's sandbox refuses to start.
        instance = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"])
        yield instance
        instance.close()


@pytest.fixture
def new_page(browser, live_server) -> Iterator[Any]:
    """``new_page()`` opens a fresh browser context (its own cookies) on the live server."""
    contexts = []

    def open_page() -> Any:
        context = browser.new_context(base_url=live_server.url, viewport=VIEWPORT, locale="en-ZA")
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page) -> Any:
    return new_page()


def assert_accessible(page: Any, *, context: str = "") -> None:
    """axe-core on the page as shown: no serious or critical violation (WCAG 2.1 A/AA rules).

    The script is evaluated through the DevTools protocol, which the page's CSP does not govern
    (the CSP forbids inline script, and the product keeps it that way)."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE.read_text(encoding="utf-8") + "\n;undefined")
    result = page.evaluate(
        """async () => {
            const r = await axe.run(document, {resultTypes: ['violations']});
            return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 3).map(n => n.target.join(' ') + ' :: ' + n.failureSummary)}));
        }"""
    )
    blocking = [violation for violation in result if violation["impact"] in BLOCKING_IMPACTS]
    where = context or page.url
    assert not blocking, f"axe: serious/critical violations on {where}:\n" + json.dumps(blocking, indent=1)


@dataclass
class Clicks:
    """Counts the deliberate user actions a journey takes (clicks and form submissions)."""

    count: int = 0
    steps: list[str] = field(default_factory=list)

    def click(self, locator: Any, step: str = "") -> None:
        locator.click()
        self.count += 1
        self.steps.append(step or str(locator))


@dataclass
class StaffMember:
    user: User
    device: TOTPDevice
    password: str = PASSWORD


def staff_member(role: str, *, first_name: str, last_name: str, superuser: bool = False) -> StaffMember:
    user = make_staff(role, superuser=superuser)
    user.first_name, user.last_name = first_name, last_name
    user.save(update_fields=["first_name", "last_name"])
    return StaffMember(user=user, device=enrol_totp(user))


@pytest.fixture
def staff(transactional_db) -> dict[str, StaffMember]:
    """One staff member per role, with names (the header shows them) and an authenticator."""
    return {
        roles.OPERATIONS: staff_member(roles.OPERATIONS, first_name="Olwethu", last_name="Mokoena"),
        roles.INFORMATION_OFFICER: staff_member(roles.INFORMATION_OFFICER, first_name="Ayesha", last_name="Patel"),
        roles.AUDITOR: staff_member(roles.AUDITOR, first_name="Johan", last_name="van Wyk"),
        roles.ADMIN: staff_member(roles.ADMIN, first_name="Nomsa", last_name="Dlamini", superuser=True),
    }


def sign_in(page: Any, member: StaffMember, clicks: Clicks | None = None, *, path: str = "/admin/") -> None:
    """The login form as a person fills it: e-mail, password, the authenticator's current code."""
    page.goto(path)
    page.get_by_label("Email").fill(member.user.email)
    page.get_by_label("Password").fill(member.password)
    page.get_by_label("One-time code").fill(next_code(member.device))
    button = page.get_by_role("button", name="Log in")
    if clicks is not None:
        clicks.click(button, "log in")
    else:
        button.click()
    page.wait_for_load_state()

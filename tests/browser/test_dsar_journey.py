"""The information officer's main task in the browser: a deletion request from the queue to
closed, with two officers (four eyes), every screen checked with axe-core.

Clicks (each "Log in", link, button and submit counted by ``Clicks``), first officer: log in 1,
open the queue 1, open the request 1, verify identity 1, assign 1, request the second approval 1
= 6 (was 9 before the next steps were inline on the request page). Second officer: log in 1, open
the request from "Waiting for a second officer" on the landing page 1, approve 1 = 3; after the
erasure task has run, close 1 = 4 in all (was 6). Typed fields: the identity evidence (the notes
are optional).
"""

from __future__ import annotations

import pytest

from accounts import roles
from accounts.services import user_profile_update
from compliance.audit.models import AuditEvent
from compliance.dsar.models import DataSubjectRequest, DsarStatus
from compliance.dsar.services import dsar_file
from compliance.dsar.tasks import erase_dsar_subject
from tests.browser.conftest import Clicks, assert_accessible, sign_in, staff_member
from tests.personas import make_customer

pytestmark = pytest.mark.django_db(transaction=True)


def act(page, clicks: Clicks, button: str, *, fill: dict[str, str] | None = None) -> None:
    """One workflow action, inline on the request page: fill its (small) form, press its button."""
    form = page.locator("form.dsar-action").filter(has=page.get_by_role("button", name=button, exact=True))
    for label, value in (fill or {}).items():
        form.get_by_label(label).fill(value)
    clicks.click(form.get_by_role("button", name=button, exact=True), button)
    page.wait_for_load_state()
    assert page.locator(".messagelist .success").first.is_visible(), page.content()
    assert_accessible(page, context=f"request page after {button}")


def test_a_deletion_goes_from_the_queue_to_closed_with_two_officers(new_page, staff):
    first = staff[roles.INFORMATION_OFFICER]
    second = staff_member(roles.INFORMATION_OFFICER, first_name="Sipho", last_name="Ndlovu")
    customer = user_profile_update(actor=make_customer(), first_name="Lindiwe", last_name="Mahlangu")
    dsar = dsar_file(subject=customer, filed_by=customer, type="deletion", details="Close my account, please.")
    short = str(dsar.public_id)[:8]

    # --- The first officer: identity, assignment, and the request for a second approval.
    page = new_page()
    clicks = Clicks()
    sign_in(page, first, clicks)
    assert_accessible(page, context="officer landing page")
    clicks.click(page.get_by_role("link", name="open in all"), "open the queue")
    assert_accessible(page, context="DSAR queue")
    clicks.click(page.get_by_role("link", name=short), "open the request")
    assert_accessible(page, context="DSAR request page")
    # Only the valid next steps are offered: no approval before the review.
    assert page.get_by_role("button", name="Approve", exact=True).count() == 0
    act(page, clicks, "Verify identity", fill={"Evidence": "Signed in with MFA; ID document matches the account."})
    act(page, clicks, "Assign (to me unless another officer is chosen)")
    act(page, clicks, "Request second approval")
    assert "Second approval requested by" in page.locator(".dsar-four-eyes").inner_text()
    assert clicks.count == 6, clicks.steps
    # Not part of the task's clicks: the queue also finds the request by the subject's exact
    # surname (its blind index), and the results show the subject masked, never the name.
    page.goto("/admin/compliance/datasubjectrequest/")
    page.get_by_label("Search").fill("  MAHLANGU ")
    page.get_by_label("Search").press("Enter")
    page.wait_for_load_state()
    assert page.locator("#result_list").get_by_role("link", name=short).is_visible()
    assert "Mahlangu" not in page.locator("#result_list").inner_text()
    assert_accessible(page, context="DSAR queue searched by surname")
    # Four eyes: the officer who asked cannot approve their own request.
    assert page.get_by_role("button", name="Approve", exact=True).count() == 0

    # --- The second officer approves from the landing page's four-eyes list.
    page = new_page()
    clicks = Clicks()
    sign_in(page, second, clicks)
    waiting = page.locator("#panel-officer")
    assert "Waiting for a second officer" in waiting.inner_text()
    clicks.click(waiting.get_by_role("link", name=short), "open the request from the landing page")
    act(page, clicks, "Approve")
    dsar.refresh_from_db()
    assert dsar.status == DsarStatus.APPROVED and dsar.decided_by == second.user

    # The worker carries out the erasure (the task the approval enqueued after commit).
    erase_dsar_subject(dsar.pk)
    page.reload()
    act(page, clicks, "Close")
    assert clicks.count == 4, clicks.steps
    dsar.refresh_from_db()
    assert dsar.status == DsarStatus.CLOSED
    transitions = AuditEvent.objects.filter(action="DSAR_TRANSITION", object_id=str(dsar.public_id))
    assert {event.user_id for event in transitions} >= {first.user.pk, second.user.pk}
    assert DataSubjectRequest.objects.get(pk=dsar.pk).approval_requested_by == first.user

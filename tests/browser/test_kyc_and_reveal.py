"""Operations decide KYC in the browser, and a reveal-with-reason lands in the audit trail.

Every screen visited is checked with axe-core (0 serious/critical).

Clicks (``Clicks`` counts each "Log in", link, radio, button and submit):
- Tier 1, one operations user: log in 1, KYC queue card 1, open the submission 1, "Verify" 1,
  "Record decision" 1 = 5; typed: the reason.
- Tier 2, four eyes: the first operations user: log in 1, open the submission 1, "Verify" 1,
  "Record decision" 1 = 4 (tier and reason chosen/typed); the second: log in 1, open the
  submission 1, "Approve" 1, "Record approval decision" 1 = 4.
- Reveal: log in 1, open the submission 1, "Reveal personal information…" 1, "Reveal" 1 = 4
  (typed: the reason); the auditor then finds it: log in 1, the audit trail filtered to PI_ACCESS
  (one address), the record 1 = 2.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from accounts import roles
from accounts.models import User
from compliance.audit.models import AuditEvent
from ledger.kyc import luhn_check_digit
from ledger.models import KycRecord, KycStatus
from ledger.services import kyc_submit
from tests.browser.conftest import Clicks, StaffMember, assert_accessible, sign_in, staff_member
from tests.personas import make_customer

pytestmark = pytest.mark.django_db(transaction=True)

FIRST_TWELVE = "850312567808"
ID_NUMBER = FIRST_TWELVE + luhn_check_digit(FIRST_TWELVE)


def submission(customer: User | None = None) -> KycRecord:
    return kyc_submit(
        actor=customer or make_customer(),
        id_number=ID_NUMBER,
        date_of_birth=dt.date(1985, 3, 12),
        document_reference="DOC-BROWSER-1",
    )


def open_submission(page: Any, clicks: Clicks, record: KycRecord) -> None:
    clicks.click(page.get_by_role("link", name=str(record.public_id)), "open the submission")
    page.wait_for_load_state()
    assert_accessible(page, context="KYC submission page")
    body = page.locator("#content").inner_text()
    assert ID_NUMBER not in body and "1985-03-12" not in body  # masked by default


def decide(page: Any, clicks: Clicks, *, form: str, choice: str, reason: str, tier: str | None = None) -> None:
    decision = page.locator(form)
    clicks.click(decision.get_by_label(choice, exact=True), choice)
    if tier is not None:
        decision.get_by_label("Tier").select_option(label=tier)
    decision.get_by_label("Reason").fill(reason)
    clicks.click(decision.locator("input[type=submit]"), "record the decision")
    page.wait_for_load_state()
    assert_accessible(page, context=f"KYC submission page after {choice}")


def queue(page: Any, clicks: Clicks) -> None:
    page.goto("/admin/ledger/kycrecord/")  # direct address for the second visit (bookmark), not counted
    assert_accessible(page, context="KYC queue")


def test_operations_verify_a_submission_at_tier_1_in_one_step(page, staff):
    record = submission()
    clicks = Clicks()
    sign_in(page, staff[roles.OPERATIONS], clicks)
    clicks.click(page.locator("#panel-operations").get_by_role("link", name="KYC submissions waiting"), "queue")
    page.wait_for_load_state()
    assert_accessible(page, context="KYC queue")
    open_submission(page, clicks, record)
    decide(page, clicks, form="form.kyc-decision", choice="Verify", reason="Document matches the ID number.")
    assert "Submission verified (tier 1)" in page.locator(".messagelist").inner_text()
    record.refresh_from_db()
    assert record.status == KycStatus.VERIFIED and record.tier == 1
    assert record.decided_by == staff[roles.OPERATIONS].user
    assert AuditEvent.objects.filter(action="KYC_VERIFY", object_id=str(record.public_id)).count() == 1
    assert clicks.count == 5, clicks.steps


def test_tier_2_is_requested_by_one_operations_user_and_approved_by_a_second(new_page, staff):
    first: StaffMember = staff[roles.OPERATIONS]
    second = staff_member(roles.OPERATIONS, first_name="Lerato", last_name="Khumalo")
    record = submission()

    page = new_page()
    clicks = Clicks()
    sign_in(page, first, clicks)
    queue(page, clicks)
    open_submission(page, clicks, record)
    decide(page, clicks, form="form.kyc-decision", choice="Verify", reason="Proof of income seen.", tier="Tier 2")
    assert "a second operations user must approve it" in page.locator(".messagelist").inner_text()
    # Four eyes: the requester is told, and offered no approval of their own.
    approval = page.locator("form.kyc-approval")
    assert "You asked for it" in approval.inner_text()
    assert approval.locator("input[type=submit]").count() == 0
    record.refresh_from_db()
    assert record.status == KycStatus.PENDING and record.awaiting_approval
    assert clicks.count == 4, clicks.steps

    page = new_page()
    clicks = Clicks()
    sign_in(page, second, clicks)
    queue(page, clicks)
    open_submission(page, clicks, record)
    decide(page, clicks, form="form.kyc-approval", choice="Approve", reason="Second look: agreed.")
    record.refresh_from_db()
    assert record.status == KycStatus.VERIFIED and record.tier == 2
    assert record.decided_by == second.user and record.approval_requested_by == first.user
    assert AuditEvent.objects.filter(action="KYC_VERIFY", object_id=str(record.public_id)).count() == 2
    assert clicks.count == 4, clicks.steps


def test_a_reveal_with_a_reason_appears_in_the_audit_trail(new_page, staff):
    record = submission()
    reason = "Customer called about a mismatch"

    page = new_page()
    clicks = Clicks()
    sign_in(page, staff[roles.OPERATIONS], clicks)
    queue(page, clicks)
    before = AuditEvent.objects.filter(action="PI_ACCESS").count()
    open_submission(page, clicks, record)
    assert AuditEvent.objects.filter(action="PI_ACCESS").count() == before  # viewing is not a PI read
    clicks.click(page.get_by_role("link", name="Reveal personal information…"), "reveal")
    page.wait_for_load_state()
    assert_accessible(page, context="reveal form")
    page.get_by_label("Reason").fill(reason)
    clicks.click(page.get_by_role("button", name="Reveal"), "submit the reveal")
    page.wait_for_load_state()
    assert_accessible(page, context="KYC submission page, revealed")
    assert ID_NUMBER in page.locator("#content").inner_text()
    assert "this reveal is in the audit trail" in page.locator(".messagelist").inner_text()
    assert clicks.count == 4, clicks.steps
    access = AuditEvent.objects.filter(action="PI_ACCESS", object_id=str(record.public_id))
    assert access.count() == 1
    event = access.get()
    assert event.user == staff[roles.OPERATIONS].user
    assert ID_NUMBER not in str(event.change_diff) and "1985" not in str(event.change_diff)
    assert event.change_diff["purpose"] == reason and "id_number" in event.change_diff["fields"]

    # The auditor finds the reveal in the audit trail: who, which record (never the values).
    page = new_page()
    clicks = Clicks()
    sign_in(page, staff[roles.AUDITOR], clicks)
    page.goto("/admin/compliance/auditevent/?action__exact=PI_ACCESS")
    assert_accessible(page, context="audit trail filtered to PI_ACCESS")
    rows = page.locator("#result_list tbody tr")
    assert rows.count() == 1
    row = rows.first.inner_text()
    assert "PI_ACCESS" in row and str(record.public_id) in row
    assert ID_NUMBER not in page.content()
    clicks.click(rows.first.locator("th a, td a").first, "open the audit record")
    page.wait_for_load_state()
    assert_accessible(page, context="audit record")
    detail = page.locator("#content").inner_text()
    assert "PI_ACCESS" in detail and reason in detail and ID_NUMBER not in detail
    assert clicks.count == 2, clicks.steps

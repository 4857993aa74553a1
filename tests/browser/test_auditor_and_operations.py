"""The auditor's and operations' main screens in the browser, checked with axe-core.

Auditor clicks: log in 1, "Verify now" 1, "Export report" 1 (the CSV downloads) = 3.
Operations clicks: log in 1, the KYC queue card 1 = 2.

KYC approval (tier 1 in one step, tier 2 with a second operations user) and the audited PI
reveal are in ``test_kyc_and_reveal.py`` next to this file.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from accounts import roles
from compliance.audit.models import AuditEvent
from ledger.kyc import luhn_check_digit
from ledger.services import kyc_submit
from tests.browser.conftest import Clicks, assert_accessible, sign_in
from tests.personas import make_customer

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_auditor_verifies_the_chain_and_exports_a_report(page, staff, django_capture_on_commit_callbacks):
    auditor = staff[roles.AUDITOR]
    clicks = Clicks()
    sign_in(page, auditor, clicks)
    panel = page.locator("#panel-auditor")
    assert "Chain status" in panel.inner_text()
    assert_accessible(page, context="auditor landing page")
    clicks.click(panel.get_by_role("button", name="Verify now"), "verify now")
    page.wait_for_load_state()
    assert "Verification requested" in page.locator(".messagelist").inner_text()
    assert AuditEvent.objects.filter(action="AUDIT_VERIFY_REQUESTED", user=auditor.user).count() == 1

    panel = page.locator("#panel-auditor")
    panel.get_by_label("Action").select_option("AUDIT_VERIFY_REQUESTED")
    with page.expect_download() as download_info:
        clicks.click(panel.get_by_role("button", name="Export report"), "export report")
    download = download_info.value
    assert download.suggested_filename == "audit-events.csv"
    lines = Path(download.path()).read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("seq,timestamp,action")
    assert len(lines) == 2 and ",AUDIT_VERIFY_REQUESTED," in lines[1]
    assert AuditEvent.objects.filter(action="AUDIT_EXPORTED", user=auditor.user).count() == 1
    assert clicks.count == 3


def test_operations_lands_on_the_kyc_queue_and_refused_movements(page, staff):
    customer = make_customer()
    first_twelve = "850312567808"
    kyc_submit(
        actor=customer,
        id_number=first_twelve + luhn_check_digit(first_twelve),
        date_of_birth=dt.date(1985, 3, 12),
        document_reference="DOC-1",
    )
    clicks = Clicks()
    sign_in(page, staff[roles.OPERATIONS], clicks)
    panel = page.locator("#panel-operations")
    text = panel.inner_text()
    assert "KYC submissions waiting" in text and "refused movements" in text
    assert "Thandi" not in text and "T*** · " in text  # masked name + short id
    assert_accessible(page, context="operations landing page")
    clicks.click(panel.get_by_role("link", name="KYC submissions waiting"), "open the KYC queue")
    page.wait_for_load_state()
    assert "/admin/ledger/kycrecord/" in page.url
    assert_accessible(page, context="KYC queue")
    assert clicks.count == 2


KEY_COLUMNS = {
    "/admin/ledger/journalentry/": ("public_id", "amount_display", "created_by_person", "created_at"),
    "/admin/ledger/posting/": ("entry", "account", "amount_display", "balance_after_display"),
    "/admin/ledger/ledgeraccount/": ("public_id", "balance_display", "owner_person"),
    # The source IP is PI: its column is the masked display (compliance.audit.admin.PIMaskedAdmin).
    "/admin/compliance/auditevent/": ("timestamp", "action", "actor", "object_id", "pi_masked__source_ip"),
}


def test_key_columns_fit_a_1440_px_screen_with_amounts_in_rand(page, staff):
    """Amounts as "R 1,800.00" (not minor units) and every key column inside the viewport."""
    from ledger.demo import load_demo_ledger

    operations = staff[roles.OPERATIONS]
    load_demo_ledger(customer=make_customer(), operations=operations.user)
    sign_in(page, staff[roles.AUDITOR])
    for path, columns in KEY_COLUMNS.items():
        page.goto(path)
        assert_accessible(page, context=path)
        for column in columns:
            header = page.locator(f"#result_list th.column-{column}")
            box = header.bounding_box()
            assert box is not None, (path, column)
            assert box["x"] + box["width"] <= 1440, f"{path}: {column} is off-screen at 1440 px"
        if "ledger" in path and path != "/admin/ledger/ledgeraccount/":
            cells = page.locator("#result_list td.field-amount_display").all_inner_texts()
            assert cells and all(text.startswith(("R ", "-R ")) for text in cells), cells

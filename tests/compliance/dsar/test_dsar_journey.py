"""Issue 16, must show: the whole journey of one customer, driven over HTTP as the people act.

A customer reads the public notices, registers, enrols an authenticator and logs in with it,
submits KYC; two operations users verify it at tier 2 (four eyes). Money comes in (an EFT deposit
settled by the bank's signed notification) and goes out (a withdrawal to a verified bank account,
paid by the bank). The customer asks for their data: the bundle is checked field by field against
the PI inventory, including who accessed the data. A correction of the surname is applied and
audited masked; an objection to direct marketing takes effect when filed. An officer places a
litigation hold on the subject's bank-account records; the customer asks for deletion while the
wallet still holds money: the approval is refused, an officer moves the balance to unclaimed funds,
a second officer approves, the erasure runs (the worker's task, eager), the statement names the
hold and the settlement and reaches the contact given at filing; the customer cannot log in; and
a sentinel scan (database dump, Redis, media files, logs) finds nothing erasable left.

What the hold keeps, precisely (compliance/dsar/erasure.py): a table-scoped hold keeps the rows of
its tables untouched — here the one ``ledger.bankaccount`` row (account number, bank, branch) —
and the rest is erased. FICA keeps the KYC ID number (encrypted, on a dated retention-duty hold).
Neither is a name, e-mail address or phone number, and neither appears in clear in the dump.

The deletion statement is recorded in the erasure's own transaction (it cannot be lost) and sent
when that transaction commits, to the contact captured at filing: its delivery never depends on
the account, which is gone by then (compliance/dsar/notices.py).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import zipfile

import pytest
from django.core import mail

from accounts.models import TOTPDevice, User
from compliance.audit.chain import seal_pending, verify_chain
from compliance.audit.models import AuditEvent
from compliance.audit.services import is_encrypted_value, reveal_change_diff
from compliance.consent.selectors import marketing_audience, may_process
from compliance.dsar.export import _plain, export_columns, subject_rows
from compliance.dsar.models import DataSubjectRequest, DsarNotice, DsarStatus, NoticeKind, NoticeStatus
from compliance.pi.inventory import is_product_model
from compliance.pi.registry import exportable_fields, registry
from compliance.retention.models import HoldKind, LegalHold
from compliance.retention.seed import seed_retention_policies
from kernel import messaging
from ledger.models import AccountKind, BankAccount, JournalEntry, LedgerAccount
from ledger.reconciliation import check_ledger
from ledger.settlement import processors
from tests.compliance.consent.consent_helpers import seed_purposes
from tests.compliance.dsar.deletion_helpers import assert_statement_in_words
from tests.compliance.dsar.test_dsar_erasure_sentinels import console_log, media_dump, redis_dump
from tests.compliance.dsar.test_dsar_fulfilment import _made_before, _readable_values
from tests.database_dump import pg_dump_data
from tests.ledger.conftest import new_key, sa_id
from tests.personas import PASSWORD, make_api_client, make_staff, next_code, otp_admin_login

pytestmark = [pytest.mark.django_db(transaction=True)]

__all__ = ["console_log"]  # a fixture of the sentinel test, used here too

DOB = dt.date(1991, 3, 7)
SENTINELS = {
    "email": "lindiwe.journey4417@example.co.za",
    "first_name": "Lindiwejourney",
    "last_name": "Mokoenajourney",
    "phone": "+27825554417",
    "corrected_surname": "Correctedjourneysurname",
}
BANK_ACCOUNT = "62004417123"
CONTACT = "lindiwe.private4417@example.org"
REVEAL_REASON = "Checking the phone number before the customer's call back"
HOLD_REASON = "Case 2026/231 (Gauteng High Court): keep the payout account records."


@pytest.fixture(autouse=True)
def eager(monkeypatch):
    """Tasks run in-process once their transaction commits (notices, the export, the erasure)."""
    from fintech.celery import app

    monkeypatch.setattr(app.conf, "task_always_eager", True)
    mail.outbox.clear()
    messaging.sms_outbox.clear()


def ok(response, status: int = 200) -> dict:
    assert response.status_code == status, response.content
    return response.json() if response.content else {}


def refused(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert error["code"] == code and error["message"], error
    return error


def act(officer, dsar_id: str, slug: str, body: dict | None = None) -> dict:
    return ok(make_api_client(officer).post(f"/api/v1/officer/dsar/{dsar_id}/{slug}/", body or {}, format="json"))


def bank_notifies(event: str, entry_id: str, amount: int) -> None:
    """The bank's signed notification, delivered to the webhook over HTTP."""
    callback = processors.signed_callback("bank", event, {"reference": entry_id, "amount": amount, "currency": "ZAR"})
    headers = {f"HTTP_{name.upper().replace('-', '_')}": value for name, value in callback.headers.items()}
    hook = make_api_client(None).post(
        "/api/v1/webhooks/bank/", callback.body, content_type="application/json", **headers
    )
    assert hook.status_code == 200, hook.content


def login(otp: str = ""):
    return make_api_client(None).post(
        "/api/v1/auth/token/", {"email": SENTINELS["email"], "password": PASSWORD, "otp": otp}, format="json"
    )


def dsar_state(dsar_id: str) -> tuple:
    dsar = DataSubjectRequest.objects.get(public_id=dsar_id)
    return dsar.status, dsar.decided_by_id, list(dsar.balance_settlements), dsar.events.count()


def test_the_whole_journey_register_to_nothing_left_behind(client, console_log):
    seed_purposes()
    seed_retention_policies()
    ops, ops_second = make_staff("operations"), make_staff("operations")
    officer, second_officer = make_staff("information_officer"), make_staff("information_officer")

    # --- Register: the notices are public, read without a token. -------------------------------
    purposes = ok(make_api_client(None).get("/api/v1/purposes/"))
    marketing = next(row for row in purposes["results"] if row["code"] == "direct_marketing")
    version = marketing["current_notice"]["version"]
    registered = make_api_client(None).post(
        "/api/v1/auth/register/",
        {"email": SENTINELS["email"], "password": PASSWORD, "first_name": SENTINELS["first_name"],
         "last_name": SENTINELS["last_name"],
         "consents": [{"purpose": "direct_marketing", "granted": True, "notice_version": version}]},
        format="json",
    )  # fmt: skip
    ok(registered, 201)
    customer = User.objects.get_by_email(SENTINELS["email"])
    assert customer in marketing_audience()

    # --- MFA: enrol an authenticator, then log in with password and code. -----------------------
    first_login = ok(login())
    enrol = make_api_client(None)
    enrol.credentials(HTTP_AUTHORIZATION=f"Bearer {first_login['access']}")
    ok(enrol.post("/api/v1/auth/mfa/totp/", {"password": PASSWORD}), 201)
    device = TOTPDevice.objects.get(user=customer)
    ok(enrol.post("/api/v1/auth/mfa/totp/confirm/", {"otp": device.current_code()}))
    refused(login(), 401, "mfa_required")
    tokens = ok(login(next_code(device)))
    me = make_api_client(None)
    me.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    ok(me.patch("/api/v1/me/", {"phone": SENTINELS["phone"]}, format="json"))

    # --- KYC: submitted by the customer, verified at tier 2 by two operations users. -----------
    id_number = sa_id(DOB)
    kyc = ok(
        me.post("/api/v1/kyc/", {"id_number": id_number, "date_of_birth": DOB.isoformat(),
                                  "document_reference": "DOC-J1"}, format="json"),
        201,
    )  # fmt: skip
    decided = ok(
        make_api_client(ops).post(f"/api/v1/ops/kyc/{kyc['id']}/decision/", {"decision": "verify", "tier": 2},
                                  format="json"),
        202,
    )  # fmt: skip
    assert decided["awaiting_approval"] is True and decided["status"] == "pending", "waits for the second user"
    own = make_api_client(ops).post(f"/api/v1/ops/kyc/{kyc['id']}/approval/", {"decision": "approve"}, format="json")
    refused(own, 403, "own_account")  # four eyes: not the one who decided
    assert ok(me.get("/api/v1/kyc/"))["status"] == "pending", "nothing changed"
    ok(
        make_api_client(ops_second).post(
            f"/api/v1/ops/kyc/{kyc['id']}/approval/", {"decision": "approve"}, format="json"
        )
    )
    assert ok(me.get("/api/v1/kyc/"))["status"] == "verified"

    # --- Money in and out. -----------------------------------------------------------------------
    [opened] = ok(me.get("/api/v1/accounts/"))["results"]  # the verification opened the wallet
    wallet = LedgerAccount.objects.get(public_id=opened["id"])
    deposit = ok(
        me.post("/api/v1/deposits/", {"account": str(wallet.public_id), "amount": 200_000, "currency": "ZAR",
                                       "method": "eft", "funding_source": "EFT-J1"},
                format="json", HTTP_IDEMPOTENCY_KEY=new_key()),
        201,
    )  # fmt: skip
    assert deposit["status"] == "pending"
    bank_notifies("deposit.received", deposit["id"], 200_000)
    bank = ok(
        me.post("/api/v1/bank-accounts/", {"bank_name": "Demo Bank", "branch_code": "250655",
                                            "account_number": BANK_ACCOUNT}, format="json"),
        201,
    )  # fmt: skip
    # Operations verify the account in the admin (the list action), with their second factor.
    otp_admin_login(client, ops)
    verified = client.post(
        "/admin/ledger/bankaccount/",
        {"action": "verify_bank_accounts", "_selected_action": [BankAccount.objects.get(public_id=bank["id"]).pk]},
    )
    assert verified.status_code == 302, verified.content
    kept_bank = BankAccount.objects.get(public_id=bank["id"])
    assert kept_bank.verified and kept_bank.verified_by == ops
    withdrawal = ok(
        me.post("/api/v1/withdrawals/", {"account": str(wallet.public_id), "bank_account": bank["id"],
                                          "amount": 20_000, "currency": "ZAR"},
                format="json", HTTP_IDEMPOTENCY_KEY=new_key()),
        201,
    )  # fmt: skip
    bank_notifies("payout.paid", withdrawal["id"], 20_000)
    account = ok(me.get(f"/api/v1/accounts/{wallet.public_id}/"))
    assert (account["balance"], account["pending_in"], account["pending_out"]) == (180_000, 0, 0)

    customer_api = me  # logged in with the code a few moments ago: the step-up the DSAR calls need

    # An information officer reads the customer's profile in the admin: masked, then revealed with
    # a reason (audited as a read of PI).
    otp_admin_login(client, officer)
    revealed = client.post(f"/admin/accounts/user/{customer.pk}/reveal/", {"reason": REVEAL_REASON})
    assert revealed.status_code in (200, 302), revealed.content
    assert AuditEvent.objects.filter(action="PI_ACCESS", user=officer).count() == 1

    # --- Access request: verified, approved, built, downloaded, checked field by field. --------
    access_id = ok(customer_api.post("/api/v1/dsar/", {"type": "access"}, format="json"), 201)["id"]
    act(officer, access_id, "verify-identity", {"evidence": "MFA step-up at filing"})
    act(officer, access_id, "assign")
    act(officer, access_id, "approve")  # the export task runs (eager) once the approval commits
    access = DataSubjectRequest.objects.get(public_id=access_id)
    assert access.status == DsarStatus.FULFILLED and access.export.created_at
    download = customer_api.get(f"/api/v1/dsar/{access_id}/download/")
    assert download.status_code == 200 and download["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(download.content))
    names = set(archive.namelist())
    assert {"data.json", "who_accessed.csv", "data_dictionary.json", "README.txt"} <= names
    document = json.loads(archive.read("data.json"))
    tables = document["tables"]
    checked = 0
    for entry in registry:
        if not is_product_model(entry) or not entry.subject:
            continue
        label = entry.label.lower()
        made = [r for r in subject_rows(entry, customer) if _made_before(r, access.export.created_at)]
        if not made:
            continue
        assert label in tables and f"tables/{label}.csv" in names, label
        exported = tables[label]["rows"]
        for row in made:
            for field in [f for f in export_columns(entry) if f.name in exportable_fields(entry.model)]:
                value = _plain(getattr(row, field.name))
                if value in (None, ""):
                    continue
                assert any(item.get(field.name) == value for item in exported), f"{label}.{field.name}"
                checked += 1
    assert checked >= 15
    user_row = tables["accounts.user"]["rows"][0]
    assert (user_row["email"], user_row["first_name"], user_row["last_name"], user_row["phone"]) == (
        SENTINELS["email"], SENTINELS["first_name"], SENTINELS["last_name"], SENTINELS["phone"],
    )  # fmt: skip
    assert tables["ledger.kycrecord"]["rows"][0]["id_number"] == id_number
    consents = tables["compliance.consentevent"]["rows"]
    assert [(c["purpose"]["code"], c["purpose"]["name"], c["notice"]["version"]) for c in consents] == [
        ("direct_marketing", "Direct marketing by us", version)
    ]
    postings = tables["ledger.posting"]["rows"]
    # Every posting names its journal entry (type, channel, reference): each movement's claim, then
    # the settlement the bank's notification posted.
    assert sorted((p["entry"]["type"], p["amount"], p["pending"]) for p in postings) == [
        ("Deposit", 200_000, False), ("Deposit", 200_000, True),
        ("Withdrawal", -20_000, False), ("Withdrawal", -20_000, True),
    ]  # fmt: skip
    assert {p["entry"]["id"] for p in postings if p["pending"]} == {deposit["id"], withdrawal["id"]}
    for posting in postings:
        entry = JournalEntry.objects.get(public_id=posting["entry"]["id"])
        assert (posting["entry"]["type"], posting["entry"]["reference"]) == (entry.get_entry_type_display(),
                                                                            entry.reference)  # fmt: skip
    who = document["who_accessed"]
    kyc_steps = [(r["who"], r["about"]) for r in who if "KYC" in r["action"].upper()]
    assert kyc_steps == [("Operations", "KYC record")] * 2, who  # the decision and the second approval
    # Actions, roles, purposes and fields in words (regression: "Pi Access", "staff
    # (information_officer)", the purpose "transition", column keys).
    reads = [r for r in who if r["action"] == "Viewed your personal information"]
    assert [(r["who"], r["about"], r["purpose"], r["fields"]) for r in reads] == [
        ("Information Officer", "user", REVEAL_REASON, ["email", "first name", "last name", "phone"])
    ]
    # Each step of the access request, by role, named by what it did (regression: every step used
    # to read "Dsar Transition", indistinguishable).
    dsar_rows = [r for r in who if r["about"] == "data-subject request"]
    assert [r["action"] for r in dsar_rows] == [
        "Data-subject request step: received to identity verified",
        "Data-subject request step: identity verified to in review",
        "Data-subject request step: in review to approved",
    ], dsar_rows
    assert {(r["who"], r["purpose"]) for r in dsar_rows} == {("Information Officer", "handling your request")}
    assert all(r["staff_reference"].startswith("staff-") for r in who if r["who"] != "the platform (automatic)")
    assert not [r for r in who if "_" in r["who"] + r["action"] + r["purpose"] + "".join(r["fields"])], who
    everything = "".join(archive.read(name).decode() for name in names)
    for staff in (ops, ops_second, officer, second_officer):
        assert staff.email not in everything and str(staff.public_id) not in everything

    # --- Correction of the surname: applied, audited masked. -----------------------------------
    correction = ok(
        customer_api.post(
            "/api/v1/dsar/",
            {"type": "correction", "requested_changes": {"last_name": SENTINELS["corrected_surname"]}},
            format="json",
        ),
        201,
    )
    assert correction["requested_changes"] == {"last_name": "•••• (masked)"}
    act(officer, correction["id"], "verify-identity", {"evidence": "Certified copy of the marriage certificate"})
    act(officer, correction["id"], "assign")
    approved = act(officer, correction["id"], "approve")
    assert approved["status"] == "fulfilled" and SENTINELS["corrected_surname"] not in json.dumps(approved)
    assert ok(customer_api.get("/api/v1/me/"))["last_name"] == SENTINELS["corrected_surname"]
    applied = AuditEvent.objects.get(action="PROFILE_UPDATED", change_diff__correction_request=correction["id"])
    assert applied.object_id == str(customer.public_id) and applied.user_id == officer.pk
    # Kept only encrypted under the customer's key (docs/adr/0007): provable, and shredded on erasure.
    assert is_encrypted_value(applied.change_diff["before"]["last_name"]), "encrypted"
    assert reveal_change_diff(applied.change_diff)["after"] == {"last_name": SENTINELS["corrected_surname"]}

    # --- Objection to direct marketing: in force the moment it is filed. ------------------------
    objection = ok(
        customer_api.post("/api/v1/dsar/", {"type": "objection", "purposes": ["direct_marketing"]}, format="json"),
        201,
    )
    assert objection["status"] == "received" and objection["applied_at_filing"] == ["direct_marketing"]
    assert not may_process(customer, "direct_marketing") and customer not in marketing_audience()
    filed_objection = DataSubjectRequest.objects.get(public_id=objection["id"])
    assert filed_objection.events.filter(kind="applied_at_filing", actor=customer).count() == 1, "recorded as such"

    # --- A litigation hold on the payout account records, placed through the holds API. --------
    hold = ok(
        make_api_client(officer).post(
            "/api/v1/officer/holds/",
            {"subject": str(customer.public_id), "kind": "litigation", "reason": HOLD_REASON,
             "hold_until": "2031-06-30T23:59:00Z", "tables": ["ledger.bankaccount"]},
            format="json",
        ),
        201,
    )  # fmt: skip
    assert hold["in_force"] is True and hold["scope"] == ["ledger.bankaccount"]

    # --- Deletion while the wallet holds R1,800.00. ---------------------------------------------
    mail.outbox.clear()
    deletion_id = ok(
        customer_api.post("/api/v1/dsar/", {"type": "deletion", "notify_contact": CONTACT}, format="json"), 201
    )["id"]
    assert [m.to for m in mail.outbox] == [[CONTACT]], "acknowledged to the contact given at filing"
    act(officer, deletion_id, "verify-identity", {"evidence": "MFA step-up at filing"})
    act(officer, deletion_id, "assign")
    act(officer, deletion_id, "request-approval")
    before, audits = dsar_state(deletion_id), AuditEvent.objects.count()
    blocked = make_api_client(second_officer).post(f"/api/v1/officer/dsar/{deletion_id}/approve/", {}, format="json")
    assert "ZAR 1800.00 available" in refused(blocked, 409, "balance_outstanding")["message"]
    assert dsar_state(deletion_id) == before and AuditEvent.objects.count() == audits, "nothing changed"
    customer.refresh_from_db()
    assert customer.is_active and customer.last_name == SENTINELS["corrected_surname"]

    act(officer, deletion_id, "settle-balance", {"method": "unclaimed"})
    wallet.refresh_from_db()
    assert (
        wallet.balance == 0
        and sum(LedgerAccount.objects.filter(kind=AccountKind.UNCLAIMED).values_list("balance", flat=True)) == 180_000
    )
    assert check_ledger().ok
    # Four eyes: the officer who asked for approval cannot give it.
    before = dsar_state(deletion_id)
    same = make_api_client(officer).post(f"/api/v1/officer/dsar/{deletion_id}/approve/", {}, format="json")
    refused(same, 409, "four_eyes")
    assert dsar_state(deletion_id) == before and before[0] == DsarStatus.IN_REVIEW, "nothing changed"
    mail.outbox.clear()
    act(second_officer, deletion_id, "approve")  # the erasure task runs once the approval commits

    deletion = DataSubjectRequest.objects.get(public_id=deletion_id)
    assert deletion.status == DsarStatus.PARTIALLY_FULFILLED, "partly: the hold keeps the bank account"
    statement = deletion.outcome_statement
    assert "Your deletion request has been carried out. You can no longer log in." in statement
    assert f"Litigation / investigation hold, until 2031-06-30: {HOLD_REASON} (keeps: Bank accounts)" in statement
    assert "  - Bank accounts: 1 record(s)" in statement
    # Tables and fields by name, never a model label or column key (issue 16 review).
    assert "  - Users: email, first name, last name, phone" in statement, statement
    assert "  - KYC records: " in statement and "ID number" in statement
    assert_statement_in_words(statement)
    # The captured contact is erased once the statement is delivered (below): never said to be kept.
    assert "contact for notices" not in statement
    assert "The contact you gave us for this request is erased once this statement has been delivered" in statement
    assert "ZAR 1,800.00 moved to the unclaimed-funds account" in statement
    assert "Earlier copies of your data prepared for download: 1 destroyed." in statement

    # The statement reached the contact given at filing; the notice is on the record, sent.
    [message] = [m for m in mail.outbox if "what was deleted" in m.subject]
    assert message.to == [CONTACT] and statement in message.body
    notice = DsarNotice.objects.get(dsar=deletion, kind=NoticeKind.DELETION_STATEMENT)
    assert notice.status == NoticeStatus.SENT and notice.sent_at is not None
    assert {row.notify_contact for row in DataSubjectRequest.objects.filter(subject=customer)} == {""}, "then erased"

    # The subject can no longer log in, with their code or without.
    customer.refresh_from_db()
    assert not customer.is_active and not customer.has_usable_password()
    assert not TOTPDevice.objects.filter(pk=device.pk).exists(), "the authenticator went with the account"
    refused(login(), 401, "invalid_credentials")
    refused(login("123456"), 401, "invalid_credentials")
    refused(customer_api.get("/api/v1/me/"), 401, "token_not_valid")  # the old session is dead too

    # --- Nothing erasable left anywhere. ----------------------------------------------------------
    sentinels = {**SENTINELS, "id_number": id_number, "contact": CONTACT, "bank_account": BANK_ACCOUNT}
    dump, keys_and_values = pg_dump_data(), redis_dump()
    files, file_bytes = media_dump()
    logs, readable = console_log.getvalue(), _readable_values(customer)
    assert logs and files == []
    for name, value in sentinels.items():
        assert value not in dump, f"{name} in the database dump"
        assert value not in keys_and_values, f"{name} in Redis"
        assert value.encode() not in file_bytes, f"{name} in a media file"
        assert value not in logs, f"{name} in the logs"
    # What the law keeps, exactly: the held bank-account row untouched (encrypted at rest), and the
    # KYC ID number under FICA (encrypted, on a dated retention hold; not readable as erasable).
    kept = BankAccount.objects.get(public_id=bank["id"])
    assert (kept.account_number, kept.bank_name, kept.branch_code) == (BANK_ACCOUNT, "Demo Bank", "250655")
    assert LegalHold.objects.filter(subject=customer, kind=HoldKind.RETENTION_DUTY,
                                    model_label="ledger.kycrecord").exists()  # fmt: skip
    erasable = {k: v for k, v in sentinels.items() if k not in ("bank_account", "id_number")}
    for name, value in erasable.items():
        assert value not in readable, f"{name} still readable through the models"
    assert BANK_ACCOUNT in readable, "the hold's row is the one thing still readable"

    # The books balance and the audit chain verifies.
    assert check_ledger().ok
    assert JournalEntry.objects.filter(entry_type="withdrawal", pending=False).count() == 1
    seal_pending()
    assert verify_chain().ok

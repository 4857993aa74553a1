"""Segregation of duties (issue 15, PCI DSS 6.5.4 / 7.2): staff never act on their own account or
data subject, and the list of staff actions this is proven for is derived from the code.

The finding: an operations user submitted KYC for their own customer account, verified it at
tier 3 through the ops API, deposited into the new wallet and reversed their own entry.

``fintech.duties.staff_services()`` (also the system check fintech.E003/E004) reads
``accounts/services.py`` and every ``ledger/**/services.py`` and
``compliance/**/services.py`` and
returns each public function that (directly or through a module-local helper) checks a staff
permission (``require_permission`` / ``has_permission`` / ``has_perm``). Each one must be either a
scenario below (a staff member acting on themself, which must be refused by
``kernel.access.require_not_own`` and change nothing) or listed with the reason it has no subject.
A new staff service without the guard fails here: unlisted, it fails the classification test;
listed, its scenario is not refused.
"""

from __future__ import annotations

import datetime as dt
import pathlib
from collections.abc import Callable

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth import get_user_model

from accounts import roles
from accounts import services as accounts_services
from accounts.lockout import lockout_key
from accounts.models import BackupCode, TOTPDevice
from compliance.audit.services import AuditAction
from compliance.dsar import services as dsar_services
from compliance.models import AuditEvent
from compliance.retention import services as retention
from fintech import duties
from fintech.checks import check_segregation_of_duties
from fintech.duties import NO_SUBJECT
from kernel.access import OwnSubjectDenied, require_not_own
from ledger import services
from ledger.models import BankAccount, JournalEntry, KycRecord, LedgerAccount, ReversalRequest
from ledger.settlement import services as settlement
from tests.ledger.conftest import api_client, fund, ledger_snapshot, new_key, sa_id
from tests.personas import enrol_totp, make_customer, make_staff

FOUR_EYES = 1_000_000  # R10,000.00: the default LEDGER_REVERSAL_FOUR_EYES_MINOR_UNITS
ROOT = pathlib.Path(settings.BASE_DIR)


def staff_services(root: pathlib.Path = ROOT) -> dict[str, set[str]]:
    return duties.staff_services(root)


# --- the actors and their own records ----------------------------------------------------------------


@pytest.fixture
def ops(db):
    return make_staff(roles.OPERATIONS)


@pytest.fixture
def colleague(db):
    return make_staff(roles.OPERATIONS)


@pytest.fixture
def officer(db):
    return make_staff(roles.INFORMATION_OFFICER)


@pytest.fixture
def second_officer(db):
    return make_staff(roles.INFORMATION_OFFICER)


def _own_kyc(user) -> KycRecord:
    return services.kyc_submit(
        actor=user, id_number=sa_id(), date_of_birth=dt.date(1990, 1, 15), document_reference="D"
    )


def _own_funded_wallet(user, colleague, amount: int = 500_000) -> LedgerAccount:
    """A staff member's own customer wallet, KYC-verified by a colleague and funded (settled)."""
    record = _own_kyc(user)
    services.kyc_decide(actor=colleague, record=record.public_id, verify=True, tier=1)
    wallet = LedgerAccount.objects.get(owner=user)
    fund(user, wallet, amount)
    return wallet


def _own_pending_eft(user, colleague):
    record = _own_kyc(user)
    services.kyc_decide(actor=colleague, record=record.public_id, verify=True, tier=1)
    wallet = LedgerAccount.objects.get(owner=user)
    return services.deposit_create(
        actor=user, account=wallet.public_id, amount=10_000, currency="ZAR", channel="eft",
        funding_source="EFT-OWN", idempotency_key=new_key(),
    )  # fmt: skip


def _state() -> dict:
    return {
        **ledger_snapshot(),
        "kyc": sorted(KycRecord.objects.values_list("public_id", "status", "tier", "duplicate_cleared_at")),
        "banks": sorted(BankAccount.objects.values_list("public_id", "verified")),
        "dsars": sorted(dsar_services.DataSubjectRequest.objects.values_list("public_id", "status", "assigned_to")),
        "dsar_events": dsar_services.DsarEvent.objects.count(),
        "dsar_notices": sorted(dsar_services.DsarNotice.objects.values_list("public_id", "status", "attempts")),
        "holds": sorted(retention.LegalHold.objects.values_list("public_id", "released_at")),
        "restrictions": _restriction_count(),
        "reversal_requests": sorted(ReversalRequest.objects.values_list("public_id", "approved_at")),
        "devices": sorted(TOTPDevice.objects.values_list("pk", "confirmed")),
        "backup_codes": BackupCode.objects.count(),
        "lockouts": sorted(AccessAttempt.objects.values_list("pk", "failures_since_start")),
        "users": sorted(
            (
                user.pk,
                str(user.email),
                user.last_name,
                user.auth_epoch,
                tuple(sorted(user.groups.values_list("name", flat=True))),
            )
            for user in get_user_model().objects.all()
        ),
    }


def _restriction_count() -> int:
    from compliance.consent.models import ProcessingRestrictionEvent

    return ProcessingRestrictionEvent.objects.count()


# --- one scenario per staff service: set up the actor's own record, return the refused call ----------


def _kyc_decide(request) -> Callable[[], object]:
    ops = request.getfixturevalue("ops")
    record = _own_kyc(ops)
    return lambda: services.kyc_decide(actor=ops, record=record.public_id, verify=True, tier=3)


def _kyc_approve(request) -> Callable[[], object]:
    """A colleague asked for a tier 2 verification of the approver's own submission."""
    ops, colleague = request.getfixturevalue("ops"), request.getfixturevalue("colleague")
    record = _own_kyc(ops)
    services.kyc_decide(actor=colleague, record=record.public_id, verify=True, tier=2, reason="doc seen")
    return lambda: services.kyc_approve(actor=ops, record=record.public_id, approve=True)


def _kyc_approve_own_request(request) -> Callable[[], object]:
    """The operations user who asked for a tier 3 verification approves it themself."""
    ops = request.getfixturevalue("ops")
    record = _own_kyc(make_customer())
    services.kyc_decide(actor=ops, record=record.public_id, verify=True, tier=3, reason="doc seen")
    return lambda: services.kyc_approve(actor=ops, record=record.public_id, approve=True)


def _kyc_duplicate_clear(request) -> Callable[[], object]:
    ops = request.getfixturevalue("ops")
    record = _own_kyc(ops)
    return lambda: services.kyc_duplicate_clear(actor=ops, record=record.public_id, reason="same person")


def _bank_account_verify(request) -> Callable[[], object]:
    ops = request.getfixturevalue("ops")
    bank = services.bank_account_add(actor=ops, bank_name="FNB", branch_code="250655", account_number="62000000001")
    return lambda: services.bank_account_verify(actor=ops, bank_account=bank.public_id)


def _reversal_create(request) -> Callable[[], object]:
    ops, colleague = request.getfixturevalue("ops"), request.getfixturevalue("colleague")
    wallet = _own_funded_wallet(ops, colleague)
    entry = JournalEntry.objects.filter(postings__account=wallet, pending=False).latest("pk")
    return lambda: services.reversal_create(actor=ops, entry=entry.public_id, reason="mine")


def _reversal_request(request) -> Callable[[], object]:
    ops, colleague = request.getfixturevalue("ops"), request.getfixturevalue("colleague")
    wallet = _own_funded_wallet(ops, colleague, amount=FOUR_EYES)
    entry = JournalEntry.objects.filter(postings__account=wallet, pending=False).latest("pk")
    return lambda: services.reversal_request(actor=ops, entry=entry.public_id, reason="mine")


def _reversal_approve(request) -> Callable[[], object]:
    """A colleague asks to reverse a large entry on the approver's own wallet."""
    ops, colleague = request.getfixturevalue("ops"), request.getfixturevalue("colleague")
    wallet = _own_funded_wallet(ops, colleague, amount=FOUR_EYES)
    entry = JournalEntry.objects.filter(postings__account=wallet, pending=False).latest("pk")
    pending = services.reversal_request(actor=colleague, entry=entry.public_id, reason="theirs")
    return lambda: services.reversal_approve(actor=ops, reversal_request=pending.public_id)


def _reversal_approve_own_request(request) -> Callable[[], object]:
    """The four-eyes rule: whoever asked cannot approve (on a customer's entry)."""
    ops, colleague = request.getfixturevalue("ops"), request.getfixturevalue("colleague")
    customer = get_user_model().objects.create_user(email="c-four-eyes@example.test")
    wallet = _own_funded_wallet(customer, colleague, amount=FOUR_EYES)
    entry = JournalEntry.objects.filter(postings__account=wallet, pending=False).latest("pk")
    pending = services.reversal_request(actor=ops, entry=entry.public_id, reason="sent in error")
    return lambda: services.reversal_approve(actor=ops, reversal_request=pending.public_id)


def _statement_line_record(request) -> Callable[[], object]:
    ops, colleague = request.getfixturevalue("ops"), request.getfixturevalue("colleague")
    result = _own_pending_eft(ops, colleague)
    return lambda: settlement.statement_line_record(actor=ops, pending=result.entry_public_id, statement_line="L-1")


def _pending_confirm(request) -> Callable[[], object]:
    ops, colleague = request.getfixturevalue("ops"), request.getfixturevalue("colleague")
    result = _own_pending_eft(ops, colleague)
    settlement.statement_line_record(actor=colleague, pending=result.entry_public_id, statement_line="L-1")
    return lambda: settlement.pending_confirm(actor=ops, pending=result.entry_public_id)


def _own_dsar(request):
    officer = request.getfixturevalue("officer")
    return officer, dsar_services.dsar_file(subject=officer, filed_by=officer, type="access")


def _dsar(service: str, **inputs) -> Callable:
    def scenario(request) -> Callable[[], object]:
        officer, dsar = _own_dsar(request)
        return lambda: getattr(dsar_services, service)(actor=officer, dsar=dsar, **inputs)

    return scenario


def _dsar_assign_to_subject(request) -> Callable[[], object]:
    officer, dsar = _own_dsar(request)
    second = request.getfixturevalue("second_officer")
    # Neither "assign to me" (the subject) nor a colleague assigning it to the subject.
    return lambda: dsar_services.dsar_assign(actor=second, dsar=dsar, assignee=officer)


def _dsar_notice_resend(request) -> Callable[[], object]:
    officer, dsar = _own_dsar(request)
    notice = dsar.notices.get()
    dsar_services.DsarNotice.objects.filter(pk=notice.pk).update(status="failed")  # as after its last attempt
    return lambda: dsar_services.dsar_notice_resend(actor=officer, notice=notice)


def _kyc_date_of_birth_correct(request) -> Callable[[], object]:
    officer = request.getfixturevalue("officer")
    _own_kyc(officer)
    return lambda: services.kyc_date_of_birth_correct(
        actor=officer, subject=officer, date_of_birth="1990-01-15", reference="dsar"
    )


def _bank_account_correct(request) -> Callable[[], object]:
    officer = request.getfixturevalue("officer")
    services.bank_account_add(actor=officer, bank_name="FNB", branch_code="250655", account_number="62000000002")
    return lambda: services.bank_account_correct(
        actor=officer, subject=officer, changes={"bank_name": "Other"}, reference="dsar"
    )


def _user_profile_correct(request) -> Callable[[], object]:
    officer = request.getfixturevalue("officer")
    return lambda: accounts_services.user_profile_correct(
        actor=officer, user=officer, reference="dsar", last_name="Someoneelse"
    )


def _user_email_correct(request) -> Callable[[], object]:
    officer = request.getfixturevalue("officer")
    return lambda: accounts_services.user_email_correct(
        actor=officer, user=officer, email="elsewhere@staff.example.test", reference="dsar"
    )


def _totp_reset_by_admin(request) -> Callable[[], object]:
    """An administrator removes their own authenticator (a downgrade of their own second factor)."""
    admin_user = make_staff(roles.ADMIN)
    device = enrol_totp(admin_user)
    return lambda: accounts_services.totp_reset_by_admin(actor=admin_user, device=device)


def _lockout_release_by_admin(request) -> Callable[[], object]:
    """An administrator lifts the lockout on their own account (whoever is guessing their password)."""
    admin_user = make_staff(roles.ADMIN)
    attempt = AccessAttempt.objects.create(
        username=lockout_key(admin_user.email), ip_address="203.0.113.77", user_agent="x", failures_since_start=10
    )
    return lambda: accounts_services.lockout_release_by_admin(actor=admin_user, attempt=attempt)


def _hold_place(request) -> Callable[[], object]:
    officer = request.getfixturevalue("officer")
    return lambda: retention.hold_place(actor=officer, subject=officer, kind="litigation", reason="mine")


def _hold_release(request) -> Callable[[], object]:
    officer, second = request.getfixturevalue("officer"), request.getfixturevalue("second_officer")
    hold = retention.hold_place(actor=second, subject=officer, kind="litigation", reason="case 12")
    return lambda: retention.hold_release(actor=officer, hold=hold, reason="over")


def _processing_restriction_set(request) -> Callable[[], object]:
    from compliance.consent.models import ProcessingPurpose

    officer = request.getfixturevalue("officer")
    purpose = ProcessingPurpose.objects.filter(is_active=True).values_list("code", flat=True).first() or "marketing"
    return lambda: __import__("compliance.consent.services", fromlist=["x"]).processing_restriction_set(
        actor=officer, subject=officer, purpose=purpose, kind="restriction", active=True, reason="mine"
    )


SCENARIOS: dict[str, Callable] = {
    "ledger.services.kyc_decide": _kyc_decide,
    "ledger.services.kyc_duplicate_clear": _kyc_duplicate_clear,
    "ledger.services.kyc_approve": _kyc_approve,
    "ledger.services.bank_account_verify": _bank_account_verify,
    "ledger.services.reversal_create": _reversal_create,
    "ledger.services.reversal_request": _reversal_request,
    "ledger.services.reversal_approve": _reversal_approve,
    "ledger.settlement.services.statement_line_record": _statement_line_record,
    "ledger.settlement.services.pending_confirm": _pending_confirm,
    "compliance.dsar.services.dsar_verify_identity": _dsar("dsar_verify_identity", evidence="passport seen"),
    "compliance.dsar.services.dsar_assign": _dsar("dsar_assign"),
    "compliance.dsar.services.dsar_request_approval": _dsar("dsar_request_approval", note="n"),
    "compliance.dsar.services.dsar_approve": _dsar("dsar_approve", note="n"),
    "compliance.dsar.services.dsar_reject": _dsar("dsar_reject", reason="r"),
    "compliance.dsar.services.dsar_extend": _dsar("dsar_extend", days=10, reason="r"),
    "compliance.dsar.services.dsar_fulfil": _dsar("dsar_fulfil", statement="done"),
    "compliance.dsar.services.dsar_close": _dsar("dsar_close"),
    "compliance.dsar.services.dsar_add_note": _dsar("dsar_add_note", note="n"),
    "compliance.dsar.services.dsar_add_evidence": _dsar("dsar_add_evidence", note="n"),
    "compliance.dsar.services.dsar_settle_balance": _dsar("dsar_settle_balance", method="unclaimed"),
    "compliance.dsar.services.dsar_lift_restriction": _dsar("dsar_lift_restriction", reason="r"),
    "compliance.dsar.services.dsar_request_identity": _dsar("dsar_request_identity", reason="a copy of the ID"),
    "compliance.dsar.services.dsar_notice_resend": _dsar_notice_resend,
    "ledger.services.kyc_date_of_birth_correct": _kyc_date_of_birth_correct,
    "ledger.services.bank_account_correct": _bank_account_correct,
    "compliance.retention.services.hold_place": _hold_place,
    "compliance.retention.services.hold_release": _hold_release,
    "compliance.consent.services.processing_restriction_set": _processing_restriction_set,
    "accounts.services.user_profile_correct": _user_profile_correct,
    "accounts.services.user_email_correct": _user_email_correct,
    "accounts.services.totp_reset_by_admin": _totp_reset_by_admin,
    "accounts.services.lockout_release_by_admin": _lockout_release_by_admin,
}
# Extra cases for services with more than one way to be "own".
EXTRA_SCENARIOS = {
    "dsar_assign (assigned to the subject by a colleague)": _dsar_assign_to_subject,
    "reversal_approve (of one's own request)": _reversal_approve_own_request,
    "kyc_approve (of one's own tier 3 request)": _kyc_approve_own_request,
}


def test_every_staff_service_is_classified_from_the_code():
    derived = set(staff_services())
    assert len(derived) >= 20, derived  # the enumeration really reads the services
    assert derived - SCENARIOS.keys() - NO_SUBJECT.keys() == set(), "staff services without a SoD scenario"
    assert (SCENARIOS.keys() | NO_SUBJECT.keys()) - derived == set(), "stale entries: no such staff service"


def test_every_staff_service_with_a_subject_calls_the_one_guard():
    calls = staff_services()
    assert {name for name in SCENARIOS if "require_not_own" not in calls[name]} == set()


def test_the_enumeration_finds_a_new_staff_service_without_the_guard(tmp_path):
    """The planted defect: a new staff service in a services module is found, unguarded."""
    (tmp_path / "ledger").mkdir()
    (tmp_path / "ledger" / "services.py").write_text(
        "from kernel.access import require_permission\n\n"
        "def _check(actor):\n    require_permission(actor, 'ledger.refund')\n\n"
        "def refund_create(*, actor, entry):\n    _check(actor)\n\n"
        "def wallet_list(*, actor):\n    return []\n"
    )
    found = staff_services(tmp_path)
    assert set(found) == {"ledger.services.refund_create"}
    assert "require_not_own" not in found["ledger.services.refund_create"]


def test_the_system_check_passes_on_the_code_and_fails_on_an_unguarded_service(tmp_path):
    """``manage.py check`` (fintech.E003/E004): clean on the project, loud on the planted defect."""
    assert check_segregation_of_duties(None) == []
    (tmp_path / "ledger").mkdir()
    (tmp_path / "ledger" / "services.py").write_text(
        "from kernel.access import require_not_own, require_permission\n\n"
        "def refund_create(*, actor, entry):\n    require_permission(actor, 'ledger.refund')\n\n"
        "def refund_approve(*, actor, entry):\n"
        "    require_permission(actor, 'ledger.refund')\n    require_not_own(actor, entry.owner_id, 'approve')\n"
    )
    assert duties.problems(tmp_path, {"ledger.services.gone": "stale"}) == [
        ("fintech.E003", "ledger.services.refund_create"),
        ("fintech.E004", "ledger.services.gone"),
    ]


def test_manage_py_check_runs_the_segregation_check():
    from django.core import checks

    assert "fintech.checks" in {check.__module__ for check in checks.registry.registry.get_checks()}


@pytest.mark.django_db
@pytest.mark.parametrize("name", [*SCENARIOS, *EXTRA_SCENARIOS])
def test_staff_acting_on_their_own_account_or_subject_is_refused_and_changes_nothing(request, name):
    act = {**SCENARIOS, **EXTRA_SCENARIOS}[name](request)
    before = _state()
    with pytest.raises(OwnSubjectDenied, match="Segregation of duties"):
        act()
    assert _state() == before


def test_the_guard_refuses_only_the_actor_themself(db):
    user = get_user_model().objects.create_user(email="x@example.test")
    require_not_own(user, [None, user.pk + 1], "act")
    require_not_own(None, user.pk, "act")  # the platform itself (a task) is nobody's own
    with pytest.raises(OwnSubjectDenied):
        require_not_own(user, [None, user.pk], "act")
    with pytest.raises(OwnSubjectDenied):
        require_not_own(user, user.pk, "act")


# --- the finding, as the attack: through the ops API ----------------------------------------------------


def _denials(user) -> list[tuple[str, str]]:
    return list(
        AuditEvent.objects.filter(action=AuditAction.PERMISSION_DENIED, user=user).values_list("action", "object_type")
    )


def test_an_operations_user_cannot_verify_their_own_kyc_at_tier_3_through_the_ops_api(ops):
    record = _own_kyc(ops)
    before = _state()
    answer = api_client(ops).post(
        f"/api/v1/ops/kyc/{record.public_id}/decision/", {"decision": "verify", "tier": 3, "reason": "x"}, format="json"
    )
    assert answer.status_code == 403
    assert answer.json()["error"]["code"] == "own_account"
    assert "Segregation of duties" in answer.json()["error"]["message"]
    assert _denials(ops) == [(AuditAction.PERMISSION_DENIED, "view")]
    assert _state() == before
    assert not LedgerAccount.objects.filter(owner=ops).exists()  # no wallet was opened


def test_an_operations_user_cannot_reverse_their_own_entry_through_the_ops_api(ops, colleague):
    wallet = _own_funded_wallet(ops, colleague)
    entry = JournalEntry.objects.filter(postings__account=wallet, pending=False).latest("pk")
    before = _state()
    answer = api_client(ops).post(f"/api/v1/ops/entries/{entry.public_id}/reversal/", {"reason": "oops"}, format="json")
    assert answer.status_code == 403 and answer.json()["error"]["code"] == "own_account"
    assert _denials(ops) == [(AuditAction.PERMISSION_DENIED, "view")]
    assert _state() == before
    # A colleague may (the guard is about the actor, not the account).
    answer = api_client(colleague).post(
        f"/api/v1/ops/entries/{entry.public_id}/reversal/", {"reason": "oops"}, format="json"
    )
    assert answer.status_code == 201


def test_a_transfer_the_staff_member_made_to_a_customer_is_not_theirs_to_claw_back(ops, colleague):
    """'Nor one they created': the staff member's own payment to a customer stays paid."""
    wallet = _own_funded_wallet(ops, colleague)
    customer = get_user_model().objects.create_user(email="c-created@example.test")
    services.kyc_decide(actor=colleague, record=_own_kyc(customer).public_id, verify=True, tier=1)
    target = LedgerAccount.objects.get(owner=customer)
    result = services.transfer_create(
        actor=ops, source_account=wallet.public_id, destination_account=target.public_id, amount=1_000, currency="ZAR",
        idempotency_key=new_key(),
    )  # fmt: skip
    before = _state()
    with pytest.raises(OwnSubjectDenied):
        services.reversal_create(actor=ops, entry=result.entry_public_id, reason="mine")
    assert _state() == before


def test_an_officer_cannot_place_a_hold_on_themself_through_the_api(officer):
    before = _state()
    answer = api_client(officer).post(
        "/api/v1/officer/holds/",
        {"subject": str(officer.public_id), "kind": "litigation", "reason": "x"},
        format="json",
    )
    # The API only knows customers as subjects (404-free: a validation error); the service refuses anyway.
    assert answer.status_code in (400, 403)
    assert _state() == before


def test_an_officer_cannot_process_their_own_dsar_through_the_api(officer):
    dsar = dsar_services.dsar_file(subject=officer, filed_by=officer, type="access")
    before = _state()
    answer = api_client(officer).post(
        f"/api/v1/officer/dsar/{dsar.public_id}/verify-identity/", {"evidence": "passport"}, format="json"
    )
    assert answer.status_code == 403, answer.content
    assert answer.json()["error"]["code"] == "own_account"
    assert _denials(officer) == [(AuditAction.PERMISSION_DENIED, "view")]
    assert _state() == before


def _own_change_form(client, admin_user, groups) -> object:
    """POST the admin's change form of ``admin_user``'s own account with these groups (the PI
    fields are masked, read-only, and not posted)."""
    return client.post(
        f"/admin/accounts/user/{admin_user.pk}/change/",
        {"is_active": "on", "is_staff": "on", "groups": [group.pk for group in groups]},
    )


def test_an_administrator_cannot_grant_themself_a_role_in_the_admin(db):
    """Self-granted privileges: an administrator adds the information officer role to their own
    account. Refused (403, one PERMISSION_DENIED), nothing saved; another administrator may."""
    from django.contrib.auth.models import Group
    from django.test import Client

    from tests.personas import otp_admin_login

    admin_user, other_admin = make_staff(roles.ADMIN), make_staff(roles.ADMIN)
    wanted = list(Group.objects.filter(name__in=[roles.ADMIN, roles.INFORMATION_OFFICER]))
    client = Client()
    otp_admin_login(client, admin_user)
    before = _state()
    answer = _own_change_form(client, admin_user, wanted)
    assert answer.status_code == 403
    assert _denials(admin_user) == [(AuditAction.PERMISSION_DENIED, "view")]
    assert _state() == before
    assert not AuditEvent.objects.filter(
        action__in=[AuditAction.ROLE_CHANGED, AuditAction.PROFILE_UPDATED], user=admin_user
    ).exists()
    assert not admin_user.has_perm("compliance.process_dsar")
    with pytest.raises(OwnSubjectDenied):
        accounts_services.user_roles_set(actor=admin_user, user=admin_user, role_names=[roles.AUDITOR])
    assert _state() == before
    # The same change made by another administrator goes through (and is audited as ROLE_CHANGED).
    colleague_client = Client()
    otp_admin_login(colleague_client, other_admin)
    assert _own_change_form(colleague_client, admin_user, wanted).status_code == 302
    assert sorted(admin_user.groups.values_list("name", flat=True)) == [roles.ADMIN, roles.INFORMATION_OFFICER]
    assert AuditEvent.objects.filter(action=AuditAction.ROLE_CHANGED, user=other_admin).count() == 1


# --- four eyes on large reversals ------------------------------------------------------------------------


def _customer_entry(colleague, amount: int):
    customer = get_user_model().objects.create_user(email=f"c-{amount}@example.test")
    wallet = _own_funded_wallet(customer, colleague, amount=amount)
    return wallet, JournalEntry.objects.filter(postings__account=wallet, pending=False).latest("pk")


def test_the_default_threshold_is_r10000(settings):
    assert settings.LEDGER_REVERSAL_FOUR_EYES_MINOR_UNITS == FOUR_EYES


def test_a_large_reversal_by_one_person_is_refused_and_changes_nothing(ops, colleague):
    _wallet, entry = _customer_entry(colleague, FOUR_EYES)
    before = _state()
    answer = api_client(ops).post(f"/api/v1/ops/entries/{entry.public_id}/reversal/", {"reason": "x"}, format="json")
    assert answer.status_code == 409 and answer.json()["error"]["code"] == "four_eyes_required"
    assert _state() == before
    # Just below the threshold one person still may.
    _, small = _customer_entry(colleague, FOUR_EYES - 1)
    assert services.reversal_create(actor=ops, entry=small.public_id, reason="error").entry_public_id


def test_a_large_reversal_is_requested_by_one_and_approved_by_another_both_audited(ops, colleague):
    wallet, entry = _customer_entry(colleague, FOUR_EYES)
    asked = api_client(ops).post(
        f"/api/v1/ops/entries/{entry.public_id}/reversal-request/", {"reason": "sent in error"}, format="json"
    )
    assert asked.status_code == 201 and asked.json()["status"] == "awaiting_approval"
    request_id = asked.json()["id"]
    # Asking again while one waits is a conflict; nothing moved yet.
    again = api_client(colleague).post(
        f"/api/v1/ops/entries/{entry.public_id}/reversal-request/", {"reason": "again"}, format="json"
    )
    assert again.status_code == 409 and again.json()["error"]["code"] == "reversal_already_requested"
    wallet.refresh_from_db()
    assert wallet.balance == FOUR_EYES
    # The requester cannot approve their own request: the one denial path (403, audited).
    before = _state()
    own = api_client(ops).post(f"/api/v1/ops/reversal-requests/{request_id}/approval/", {}, format="json")
    assert own.status_code == 403 and own.json()["error"]["code"] == "own_account"
    assert _denials(ops) == [(AuditAction.PERMISSION_DENIED, "view")]
    assert _state() == before
    approved = api_client(colleague).post(f"/api/v1/ops/reversal-requests/{request_id}/approval/", {}, format="json")
    assert approved.status_code == 201, approved.content
    assert approved.json()["reverses"] == str(entry.public_id)
    wallet.refresh_from_db()
    assert wallet.balance == 0
    trail = list(
        AuditEvent.objects.filter(
            object_id=str(entry.public_id),
            action__in=[AuditAction.REVERSAL_REQUESTED, AuditAction.REVERSAL_APPROVED],
        )
        .order_by("id")
        .values_list("action", "user")
    )
    assert trail == [(AuditAction.REVERSAL_REQUESTED, ops.pk), (AuditAction.REVERSAL_APPROVED, colleague.pk)]
    assert AuditEvent.objects.filter(action=AuditAction.REVERSAL, user=colleague).count() == 1
    # Approved once: a second approval is refused.
    twice = api_client(colleague).post(f"/api/v1/ops/reversal-requests/{request_id}/approval/", {}, format="json")
    assert twice.status_code == 409 and twice.json()["error"]["code"] == "reversal_request_decided"

"""The loyalty-programme test app is really plugged in, one test per step of the guide in
docs/ARCHITECTURE.md ("Plugging in a new app that holds personal information"), end to end
through the product's public services, task names and URLs — nothing in compliance/, kernel/ or
the other apps names this app.

One thing differs from a real app: the product leaves test-only apps (``tests.*``) out of its
inventory, DSAR export and erasure (``compliance.pi.inventory.is_product_model``), so the DSAR
tests (export, erasure, finding a subject by identifier) run with ``as_product_app``, which gives
the app the name it would have outside tests/.
"""

from __future__ import annotations

import io
import json
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
from auditlog.models import LogEntry
from django.apps import apps
from django.core.checks import Error
from django.core.exceptions import PermissionDenied
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.db import connection
from django.test import Client
from django.utils import timezone
from prometheus_client import REGISTRY, generate_latest

from compliance.audit.models import AuditEvent
from compliance.audit.services import MASK
from compliance.consent.services import consent_record
from compliance.dsar import services as dsar
from compliance.dsar.export import table_name
from compliance.dsar.models import DataSubjectRequest, DsarStatus
from compliance.pi.checks import check_entry
from compliance.pi.registry import ModelEntry, registry
from compliance.pi.selectors import subjects_by_identifier
from compliance.retention.engine import retention_purge
from fintech.celery import app as celery_app
from tests.compliance.consent.consent_helpers import current_version, seed_purposes
from tests.personas import make_api_client, make_customer, make_staff, otp_admin_login
from tests.plugin_app import services
from tests.plugin_app.models import LoyaltyMember
from tests.plugin_app.selectors import member_by_phone, offer_audience

pytestmark = pytest.mark.django_db

LABEL = "plugin_app.loyaltymember"
NICKNAME, PHONE_TYPED, PHONE_E164 = "Sentinelnick", "082 555 0199", "+27825550199"


@pytest.fixture
def as_product_app(monkeypatch):
    """The app as it would be outside tests/: a product app for the inventory's walks."""
    monkeypatch.setattr(apps.get_app_config("plugin_app"), "name", "plugin_app")


@pytest.fixture
def member(customer) -> LoyaltyMember:
    return services.loyalty_join(actor=customer, nickname=NICKNAME, phone=PHONE_TYPED)


def _officers() -> tuple:
    return make_staff("information_officer"), make_staff("information_officer")


def _approved(request: DataSubjectRequest, first, second=None) -> DataSubjectRequest:
    dsar.dsar_verify_identity(actor=first, dsar=request, evidence="MFA step-up at filing")
    dsar.dsar_assign(actor=first, dsar=request)
    if request.type == "deletion":
        dsar.dsar_request_approval(actor=first, dsar=request)
        return dsar.dsar_approve(actor=second, dsar=request)
    return dsar.dsar_approve(actor=first, dsar=request)


def _run_task(name: str, *args) -> None:
    """What the worker does with the task the approval enqueued (by its public name)."""
    result = celery_app.tasks[name].apply(args=args)
    result.get(propagate=True)


def _events(member: LoyaltyMember) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(object_type="loyalty_member", object_id=str(member.public_id)).order_by("id"))


# --- Steps 1-2: the PI inventory and field encryption ------------------------------------------
def test_the_pi_inventory_lists_it_and_its_checks_pass():
    out = io.StringIO()
    call_command("pi_inventory", "--format", "json", "--include-test-apps", stdout=out)
    models = {model["model"]: model for model in json.loads(out.getvalue())["models"]}
    assert LABEL in {label.lower() for label in models}
    listed = next(model for label, model in models.items() if label.lower() == LABEL)
    fields = {row["field"]: row for row in listed["fields"]}
    assert set(fields) == {"nickname", "phone", "phone_index", "points_balance"}
    assert fields["phone"]["purposes"] == ["direct_marketing"]
    assert fields["nickname"]["erasure"] == "pseudonymise"
    # The product's own inventory (docs/POPIA_COMPLIANCE.md) leaves test apps out.
    product = io.StringIO()
    call_command("pi_inventory", "--format", "json", stdout=product)
    assert "plugin_app" not in product.getvalue()
    # Its declaration passes every PI check, and so does the project's check on the app.
    assert check_entry(registry.get(LoyaltyMember)) == []
    call_command("check", "plugin_app")


def test_a_field_left_undeclared_fails_the_system_check():
    declared = registry.get(LoyaltyMember)
    fields = {name: annotation for name, annotation in declared.fields.items() if name != "points_balance"}
    planted = ModelEntry(label=declared.label, fields=fields, not_pi=declared.not_pi, subject=declared.subject)
    errors = check_entry(planted)
    assert [(error.id, "points_balance" in error.msg) for error in errors] == [("compliance.E101", True)]
    assert all(isinstance(error, Error) for error in errors)
    registry.register(planted)
    try:
        with pytest.raises(SystemCheckError, match=r"compliance\.E101"):
            call_command("check", "plugin_app")
    finally:
        registry.register(declared)


def test_the_phone_is_encrypted_at_rest_and_found_through_its_blind_index(as_product_app, customer, member):
    with connection.cursor() as cursor:
        cursor.execute("SELECT phone, phone_index FROM plugin_app_loyaltymember WHERE id = %s", [member.pk])
        stored_phone, stored_index = cursor.fetchone()
    assert PHONE_TYPED not in stored_phone and "825550199" not in stored_phone
    assert stored_index and "825550199" not in stored_index
    assert LoyaltyMember.objects.get(pk=member.pk).phone == PHONE_TYPED
    assert member_by_phone(PHONE_E164) == member
    assert member_by_phone("082 555 0100") is None
    # A DSAR filed by someone who gives only this phone number finds the subject through the index.
    assert list(subjects_by_identifier(kind="phone", value=PHONE_E164)) == [customer]


# --- Step 3: writes through services, audited in the same transaction ---------------------------
def test_its_services_write_their_audit_records_in_the_same_transaction(customer, other_customer, monkeypatch):
    member = services.loyalty_join(actor=customer, nickname=NICKNAME, phone=PHONE_TYPED)
    services.loyalty_nickname_set(actor=customer, member=member, nickname="Othernick")
    services.loyalty_close(actor=customer, member=member)
    events = _events(member)
    assert [event.change_diff["event"] for event in events] == ["joined", "nickname_set", "closed"]
    assert {event.action for event in events} == {"PROFILE_UPDATED"}
    assert {event.user_id for event in events} == {customer.pk}
    assert events[1].change_diff["before"]["nickname"] == MASK == events[1].change_diff["after"]["nickname"]
    stored = json.dumps([event.change_diff for event in events])
    for value in (NICKNAME, "Othernick", PHONE_TYPED, PHONE_E164):
        assert value not in stored
    # Nobody else may change the membership, and a refused change writes nothing.
    with pytest.raises(PermissionDenied):
        services.loyalty_nickname_set(actor=other_customer, member=member, nickname="Hijack")
    assert len(_events(member)) == 3

    # The audit record is part of the write: when it fails, the membership is not created.
    def failing_audit(**kwargs):
        raise RuntimeError("audit store down")

    monkeypatch.setattr(services, "audit_record", failing_audit)
    with pytest.raises(RuntimeError):
        services.loyalty_join(actor=other_customer, nickname="Nobody")
    assert not LoyaltyMember.objects.filter(user=other_customer).exists()


# --- Step 5: processing for a purpose asks may_process ------------------------------------------
def test_the_offer_audience_excludes_whoever_withdrew_or_objected_to_direct_marketing():
    seed_purposes()
    version = current_version("direct_marketing")
    members = {}
    for name in ("stays", "withdraws", "objects", "never"):
        user = make_customer()
        if name != "never":
            consent_record(
                actor=user, subject=user, purpose="direct_marketing", granted=True, notice_version=version,
                channel="api",
            )  # fmt: skip
        members[name] = services.loyalty_join(actor=user, nickname=name)
    assert {m.nickname for m in offer_audience()} == {"stays", "withdraws", "objects"}

    withdrawing = members["withdraws"].user
    consent_record(
        actor=withdrawing, subject=withdrawing, purpose="direct_marketing", granted=False, notice_version=version,
        channel="api",
    )  # fmt: skip
    objecting = members["objects"].user
    officer, _ = _officers()
    objection = dsar.dsar_file(subject=objecting, filed_by=objecting, type="objection", purposes=["direct_marketing"])
    assert _approved(objection, officer).status in (DsarStatus.FULFILLED, DsarStatus.APPROVED)
    assert [m.nickname for m in offer_audience()] == ["stays"]


# --- Step 6: retention ---------------------------------------------------------------------------
def test_the_retention_purge_removes_a_closed_membership_past_its_period_and_keeps_the_others():
    old_closed, recent_closed, old_open = (services.loyalty_join(actor=make_customer()) for _ in range(3))
    for member in (old_closed, recent_closed):
        services.loyalty_close(actor=member.user, member=member)
    long_ago = timezone.now() - timedelta(days=400)
    LoyaltyMember.objects.filter(pk=old_closed.pk).update(closed_at=long_ago)
    LoyaltyMember.objects.filter(pk=old_open.pk).update(joined_at=long_ago)

    assert retention_purge(dry_run=True).counts["account_active_plus_1y"][LABEL] == 1
    report = retention_purge(pause_seconds=0)
    assert report.counts["account_active_plus_1y"][LABEL] == 1
    remaining = set(LoyaltyMember.objects.values_list("pk", flat=True))
    assert old_closed.pk not in remaining
    assert {recent_closed.pk, old_open.pk} <= remaining
    assert retention_purge(pause_seconds=0).counts["account_active_plus_1y"][LABEL] == 0


# --- Step 7: DSARs -------------------------------------------------------------------------------
def test_a_dsar_access_export_includes_its_row(as_product_app, customer, other_customer, member):
    services.loyalty_join(actor=other_customer, nickname="Othermember", phone="082 555 0111")
    officer, _ = _officers()
    request = dsar.dsar_file(subject=customer, filed_by=customer, type="access")
    _approved(request, officer)
    _run_task("compliance.dsar.build_export", request.pk)

    download = make_api_client(customer).get(f"/api/v1/dsar/{request.public_id}/download/")
    assert download.status_code == 200, download.content
    bundle = zipfile.ZipFile(io.BytesIO(download.content))
    document = json.loads(bundle.read("data.json"))
    rows = document["tables"][LABEL]["rows"]
    assert len(rows) == 1
    row = rows[0]
    assert (row["nickname"], row["phone"], row["points_balance"]) == (NICKNAME, PHONE_TYPED, 0)
    assert row["public_id"] == str(member.public_id) and row["user"] == str(customer.public_id)
    assert "phone_index" not in row
    assert f"tables/{LABEL}.csv" in bundle.namelist()
    # The README names the table in words (its verbose name), with the count.
    assert "Loyalty members (1 record(s))" in bundle.read("README.txt").decode()
    everything = b"".join(bundle.read(name) for name in bundle.namelist()).decode()
    assert "Othermember" not in everything and "0825550111" not in everything.replace(" ", "")


def test_an_approved_deletion_erases_its_fields_per_annotation(as_product_app, customer, member):
    services.loyalty_nickname_set(actor=customer, member=member, nickname=NICKNAME)
    LoyaltyMember.objects.filter(pk=member.pk).update(points_balance=250)
    first, second = _officers()
    request = dsar.dsar_file(subject=customer, filed_by=customer, type="deletion", details="Forget me")
    _approved(request, first, second)
    _run_task("compliance.dsar.erase_subject", request.pk)

    request.refresh_from_db()
    assert request.status == DsarStatus.FULFILLED
    erased = LoyaltyMember.objects.get(pk=member.pk)  # no field says delete: the row stays, emptied
    assert erased.nickname.startswith("erased-") and NICKNAME not in erased.nickname  # pseudonymise
    assert erased.phone == "" and erased.phone_index is None  # null (the index follows its source)
    assert erased.points_balance == 0  # null on a non-null column: its default
    assert member_by_phone(PHONE_TYPED) is None
    # The statement names the table in words (its verbose name), as the subject reads it.
    assert f"{table_name(LABEL)}: " in request.outcome_statement and "phone" in request.outcome_statement.lower()


def test_an_approved_correction_changes_the_nickname_through_its_handler(customer, member):
    officer, _ = _officers()
    request = dsar.dsar_file(
        subject=customer, filed_by=customer, type="correction", requested_changes={"loyalty_nickname": "Corrected"}
    )
    request = _approved(request, officer)
    assert request.status == DsarStatus.FULFILLED
    member.refresh_from_db()
    assert member.nickname == "Corrected"
    corrected = _events(member)[-1]
    assert corrected.user_id == officer.pk and corrected.change_diff["reference"] == str(request.public_id)

    # A value the service refuses is refused by the handler, with the rule and not the value.
    too_long = "x" * 31
    refused = dsar.dsar_file(
        subject=customer, filed_by=customer, type="correction", requested_changes={"loyalty_nickname": too_long}
    )
    refused = _approved(refused, officer)
    assert refused.status == DsarStatus.PARTIALLY_FULFILLED
    assert (
        "loyalty nickname (At most 30 characters.)" in refused.outcome_statement
        and too_long not in refused.outcome_statement
    )
    member.refresh_from_db()
    assert member.nickname == "Corrected"


# --- Steps 8-9: the admin, the landing page and the change trail ---------------------------------
def test_the_admin_masks_a_reveal_writes_pi_access_and_the_landing_page_warns(member):
    services.loyalty_close(actor=member.user, member=member)
    staff = make_staff("admin", superuser=True)
    client = Client()
    otp_admin_login(client, staff)
    response = client.get(f"/admin/plugin_app/loyaltymember/{member.pk}/change/")
    assert response.status_code == 200 and NICKNAME not in response.content.decode()
    client.post(f"/admin/plugin_app/loyaltymember/{member.pk}/reveal/", {"reason": "member asked"})
    access = AuditEvent.objects.get(action="PI_ACCESS", object_id=str(member.public_id))
    assert access.user_id == staff.pk and access.object_type == "plugin_app.LoyaltyMember"
    # The points balance is an amount (shown: it identifies nobody); the rest was masked and revealed.
    assert set(access.change_diff["fields"]) == {"nickname", "phone"}
    assert NICKNAME not in json.dumps(access.change_diff)
    index = client.get("/admin/")
    assert "1 closed loyalty membership(s) wait for the retention purge." in index.content.decode()
    # Someone without the permission is not warned.
    officer, _ = _officers()
    otp_admin_login(client, officer)
    assert "loyalty membership" not in client.get("/admin/").content.decode()


def test_the_change_trail_records_its_changes_with_pi_masked(customer, member):
    services.loyalty_nickname_set(actor=customer, member=member, nickname="Trailnick")
    entry = LogEntry.objects.get_for_object(member).latest("timestamp")
    assert entry.changes_dict["nickname"] == [MASK, MASK]
    stored = json.dumps(list(LogEntry.objects.values_list("changes", "changes_text", "object_repr", "serialized_data")))
    assert "Trailnick" not in stored and NICKNAME not in stored and "825550199" not in stored


# --- Step 11: metrics -----------------------------------------------------------------------------
def test_its_gauge_is_on_metrics(member):
    services.loyalty_join(actor=make_customer())
    assert b"fintech_loyalty_members_open 2.0" in generate_latest(REGISTRY)


# --- Step 12: the import rule --------------------------------------------------------------------
def test_nothing_outside_the_app_names_it():
    """Compliance, the kernel and the other apps did not change to take it in."""
    root = Path(__file__).resolve().parents[2]
    installed_by = "fintech/settings/test.py"
    naming = [
        path.relative_to(root).as_posix()
        for package in ("compliance", "kernel", "accounts", "ledger", "fintech")
        for path in (root / package).rglob("*.py")
        if "plugin_app" in path.read_text(encoding="utf-8")
    ]
    assert naming == [installed_by]

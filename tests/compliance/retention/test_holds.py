"""Legal holds placed and released by the information officer: through the service, the admin and
the officer API; honoured by the retention purge (litigation and regulator) and by erasure."""

from __future__ import annotations

import datetime as dt
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from compliance.audit.models import AuditEvent
from compliance.dsar import services as dsar_services
from compliance.dsar.erasure import erase_subject
from compliance.dsar.models import DsarStatus
from compliance.retention.engine import retention_purge
from compliance.retention.models import HoldKind, LegalHold
from compliance.retention.services import HoldError, HoldPermissionDenied, hold_place, hold_release
from tests.personas import make_api_client, make_customer, make_staff, otp_admin_login

pytestmark = pytest.mark.django_db

HOLDS_URL = "/api/v1/officer/holds/"
REASON = "Case 2026/114 (Western Cape High Court): keep all records of the account."


def _audits(action: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action=action).order_by("id"))


def assert_error_shape(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert set(error) <= {"code", "message", "fields"} and error["message"]
    if code:
        assert error["code"] == code
    return error


# --- The service ---------------------------------------------------------------------------------


def test_the_officer_places_and_releases_a_hold_each_audited_without_the_reason(information_officer, customer):
    until = timezone.now() + timedelta(days=400)
    hold = hold_place(actor=information_officer, subject=customer, kind="litigation", reason=REASON, hold_until=until)
    assert (hold.kind, hold.subject, hold.reason, hold.hold_until) == ("litigation", customer, REASON, until)
    assert (hold.model_label, hold.object_id, hold.created_by) == (
        "accounts.user",
        str(customer.pk),
        information_officer,
    )
    assert hold.in_force() and LegalHold.objects.in_force().on_subjects().filter(pk=hold.pk).exists()
    [placed] = _audits("LEGAL_HOLD_PLACED")
    assert placed.object_id == str(hold.public_id) and placed.user_id == information_officer.pk
    assert placed.change_diff["kind"] == "litigation" and placed.change_diff["subject"] == str(customer.public_id)
    assert "Case 2026" not in str(placed.change_diff), "staff free text stays out of the audit trail"

    released = hold_release(actor=information_officer, hold=hold, reason="Settled out of court.")
    assert released.released_by == information_officer and released.release_reason == "Settled out of court."
    assert not released.in_force()
    [audit] = _audits("LEGAL_HOLD_RELEASED")
    assert audit.object_id == str(hold.public_id) and "Settled" not in str(audit.change_diff)
    with pytest.raises(HoldError) as again:
        hold_release(actor=information_officer, hold=hold, reason="twice")
    assert again.value.code == "already_released" and again.value.conflict


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"kind": "retention_duty"}, "invalid_kind"),
        ({"kind": "whim"}, "invalid_kind"),
        ({"reason": "   "}, "reason_required"),
        ({"reason": "x" * 2001}, "reason_too_long"),
        ({"hold_until": "past"}, "invalid_end"),
    ],
)
def test_a_hold_needs_a_subject_kind_a_reason_and_a_future_end(information_officer, customer, changes, code):
    arguments = {"kind": "regulator", "reason": REASON, "hold_until": None, **changes}
    if arguments["hold_until"] == "past":
        arguments["hold_until"] = timezone.now() - timedelta(minutes=1)
    with pytest.raises(HoldError) as refused:
        hold_place(actor=information_officer, subject=customer, **arguments)
    assert refused.value.code == code
    assert not LegalHold.objects.exists() and not _audits("LEGAL_HOLD_PLACED")


def test_only_the_officer_places_or_releases(information_officer, operations, auditor, customer):
    for actor in (operations, auditor, customer, None):
        with pytest.raises(HoldPermissionDenied):
            hold_place(actor=actor, subject=customer, kind="litigation", reason=REASON)
    hold = hold_place(actor=information_officer, subject=customer, kind="litigation", reason=REASON)
    for actor in (operations, auditor, customer):
        with pytest.raises(HoldPermissionDenied):
            hold_release(actor=actor, hold=hold, reason="no")
    assert LegalHold.objects.get().released_at is None


def test_one_hold_in_force_per_kind_and_an_ended_one_is_completed(information_officer, customer):
    first = hold_place(actor=information_officer, subject=customer, kind="litigation", reason=REASON)
    with pytest.raises(HoldError) as twice:
        hold_place(actor=information_officer, subject=customer, kind="litigation", reason="another case")
    assert twice.value.code == "hold_exists" and twice.value.conflict
    # Another kind is a separate hold.
    regulator = hold_place(actor=information_officer, subject=customer, kind="regulator", reason="FIC request 77")
    assert regulator.kind == HoldKind.REGULATOR
    hold_release(actor=information_officer, hold=first, reason="done")
    # A dated hold whose end passed no longer holds anything: a new one replaces it.
    with time_machine.travel(timezone.now() - timedelta(days=30), tick=False):
        dated = hold_place(
            actor=information_officer, subject=customer, kind="litigation", reason=REASON,
            hold_until=timezone.now() + timedelta(days=1),
        )  # fmt: skip
    assert not LegalHold.objects.get(pk=dated.pk).in_force()
    renewed = hold_place(actor=information_officer, subject=customer, kind="litigation", reason=REASON)
    assert renewed.in_force() and LegalHold.objects.get(pk=dated.pk).released_at is not None


def test_a_retention_duty_hold_cannot_be_released_by_hand(information_officer, customer):
    duty = LegalHold.objects.create(
        kind=HoldKind.RETENTION_DUTY, model_label="ledger.kycrecord", object_id="1", subject=customer,
        reason="FICA", hold_until=timezone.now() + timedelta(days=5),
    )  # fmt: skip
    with pytest.raises(HoldError) as refused:
        hold_release(actor=information_officer, hold=duty, reason="no")
    assert refused.value.code == "not_releasable"


# --- Honoured by the purge (litigation and regulator) and by erasure ----------------------------------


@pytest.mark.parametrize("kind", ["litigation", "regulator"])
def test_the_purge_keeps_every_row_of_a_subject_under_a_hold(information_officer, kind):
    t0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    held, free = make_customer(), make_customer()
    for user, jti in ((held, "held-token"), (free, "free-token")):
        OutstandingToken.objects.create(user=user, jti=jti, token="", created_at=t0, expires_at=t0)
    hold = hold_place(actor=information_officer, subject=held, kind=kind, reason=REASON)
    with time_machine.travel(t0 + timedelta(days=3), tick=False):
        retention_purge(pause_seconds=0)
    assert set(OutstandingToken.objects.values_list("jti", flat=True)) == {"held-token"}
    hold_release(actor=information_officer, hold=hold, reason="Matter closed.")
    with time_machine.travel(t0 + timedelta(days=4), tick=False):
        retention_purge(pause_seconds=0)
    assert not OutstandingToken.objects.exists()


def _approved_deletion(subject):
    first, second = make_staff("information_officer"), make_staff("information_officer")
    dsar = dsar_services.dsar_file(subject=subject, filed_by=subject, type="deletion")
    dsar_services.dsar_verify_identity(actor=first, dsar=dsar, evidence="MFA step-up at filing")
    dsar_services.dsar_assign(actor=first, dsar=dsar)
    dsar_services.dsar_request_approval(actor=first, dsar=dsar)
    return dsar_services.dsar_approve(actor=second, dsar=dsar)


def test_erasure_keeps_a_subject_under_a_hold_and_the_statement_lists_reason_and_end(information_officer):
    subject = make_customer()
    subject.first_name = "Keptname"
    subject.save()
    until = dt.datetime(2031, 6, 30, 23, 59, tzinfo=UTC)
    hold_place(actor=information_officer, subject=subject, kind="litigation", reason=REASON, hold_until=until)
    hold_place(actor=information_officer, subject=subject, kind="regulator", reason="Information Regulator ref 9")
    dsar = _approved_deletion(subject)

    statement = erase_subject(dsar=dsar)

    dsar.refresh_from_db()
    subject.refresh_from_db()
    assert dsar.status == DsarStatus.PARTIALLY_FULFILLED and dsar.outcome_statement == statement
    assert subject.is_active and subject.first_name == "Keptname" and subject.has_usable_password()
    assert "has not been carried out" in statement
    assert REASON in statement and "until 2031-06-30" in statement
    assert "Information Regulator ref 9" in statement and "until it is released" in statement
    assert not LegalHold.objects.filter(kind=HoldKind.RETENTION_DUTY).exists()


def test_once_the_hold_is_released_a_new_deletion_request_erases(information_officer):
    subject = make_customer()
    hold = hold_place(actor=information_officer, subject=subject, kind="litigation", reason=REASON)
    erase_subject(dsar=_approved_deletion(subject))
    hold_release(actor=information_officer, hold=hold, reason="Judgment delivered; appeal period over.")
    dsar = _approved_deletion(subject)
    statement = erase_subject(dsar=dsar)
    subject.refresh_from_db()
    assert "has been carried out" in statement
    assert not subject.is_active and not subject.has_usable_password()


# --- The admin screen -----------------------------------------------------------------------------------


def test_the_officer_places_and_releases_a_hold_in_the_admin(client, information_officer, customer):
    otp_admin_login(client, information_officer)
    response = client.post(
        "/admin/compliance/legalhold/add/",
        {"subject_email": customer.email, "kind": "regulator", "reason": REASON, "hold_until": "2031-01-31"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    hold = LegalHold.objects.get()
    assert (hold.kind, hold.subject, hold.reason, hold.created_by) == (
        "regulator",
        customer,
        REASON,
        information_officer,
    )
    assert timezone.localtime(hold.hold_until).date() == dt.date(2031, 1, 31)
    assert _audits("LEGAL_HOLD_PLACED")

    listing = client.get("/admin/compliance/legalhold/")
    assert listing.status_code == 200 and str(hold.public_id)[:8] in listing.content.decode()
    assert customer.email not in listing.content.decode()
    page = client.get(f"/admin/compliance/legalhold/{hold.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Release this hold" in html and 'name="_save"' not in html, "a placed hold is not editable"
    # No edit and no delete, whatever is posted.
    assert client.post(f"/admin/compliance/legalhold/{hold.pk}/change/", {"reason": "edited"}).status_code == 403
    assert client.post(f"/admin/compliance/legalhold/{hold.pk}/delete/", {"post": "yes"}).status_code == 403
    assert LegalHold.objects.get().reason == REASON

    release_url = f"/admin/compliance/legalhold/{hold.pk}/release/"
    assert "required" in client.post(release_url, {"reason": ""}).content.decode()
    assert client.post(release_url, {"reason": "Regulator closed the file."}).status_code == 302
    hold.refresh_from_db()
    assert hold.released_by == information_officer and hold.release_reason == "Regulator closed the file."
    assert client.get(release_url).status_code == 404, "released: nothing left to release"


def test_the_admin_form_reports_a_refusal_and_an_unknown_subject(client, information_officer, customer):
    otp_admin_login(client, information_officer)
    hold_place(actor=information_officer, subject=customer, kind="litigation", reason=REASON)
    response = client.post(
        "/admin/compliance/legalhold/add/", {"subject_email": customer.email, "kind": "litigation", "reason": "x"}
    )
    assert response.status_code == 200 and "already under a litigation" in response.content.decode()
    response = client.post(
        "/admin/compliance/legalhold/add/",
        {"subject_email": "nobody@example.test", "kind": "litigation", "reason": "x"},
    )
    assert response.status_code == 200 and "No customer" in response.content.decode()
    assert LegalHold.objects.count() == 1


def test_operations_cannot_place_and_the_auditor_only_reads(client, operations, auditor, customer, information_officer):
    hold = hold_place(actor=information_officer, subject=customer, kind="litigation", reason=REASON)
    otp_admin_login(client, operations)
    assert client.get("/admin/compliance/legalhold/add/").status_code == 403
    otp_admin_login(client, auditor)
    assert client.get("/admin/compliance/legalhold/").status_code == 200
    assert client.get("/admin/compliance/legalhold/add/").status_code == 403
    assert client.get(f"/admin/compliance/legalhold/{hold.pk}/release/").status_code == 403
    assert "Release this hold" not in client.get(f"/admin/compliance/legalhold/{hold.pk}/change/").content.decode()


# --- The officer API ----------------------------------------------------------------------------------


def test_the_officer_api_lists_places_and_releases(information_officer, customer, other_customer):
    api = make_api_client(information_officer)
    response = api.post(
        HOLDS_URL,
        {"subject": str(customer.public_id), "kind": "litigation", "reason": REASON,
         "hold_until": "2031-01-31T00:00:00Z"},
        format="json",
    )  # fmt: skip
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["kind"], body["subject"], body["reason"], body["in_force"]) == (
        "litigation", str(customer.public_id), REASON, True,
    )  # fmt: skip
    hold_place(actor=information_officer, subject=other_customer, kind="regulator", reason="FIC 12")
    listed = api.get(HOLDS_URL).json()["results"]
    assert {row["subject"] for row in listed} == {str(customer.public_id), str(other_customer.public_id)}

    release = api.post(f"{HOLDS_URL}{body['id']}/release/", {"reason": "Settled."}, format="json")
    assert release.status_code == 200 and release.json()["in_force"] is False
    assert release.json()["release_reason"] == "Settled."
    in_force = api.get(HOLDS_URL, {"in_force": "true"}).json()["results"]
    assert [row["subject"] for row in in_force] == [str(other_customer.public_id)]
    assert [a.action for a in AuditEvent.objects.filter(action__startswith="LEGAL_HOLD").order_by("id")] == [
        "LEGAL_HOLD_PLACED", "LEGAL_HOLD_PLACED", "LEGAL_HOLD_RELEASED",
    ]  # fmt: skip


def test_the_officer_api_answers_errors_in_the_json_shape(information_officer, customer, operations, auditor):
    api = make_api_client(information_officer)
    fields = assert_error_shape(api.post(HOLDS_URL, {"kind": "litigation"}, format="json"), 400)["fields"]
    assert {"subject", "reason"} <= set(fields)
    assert_error_shape(
        api.post(
            HOLDS_URL, {"subject": str(customer.public_id), "kind": "retention_duty", "reason": "x"}, format="json"
        ),
        400,
    )
    past = {"subject": str(customer.public_id), "kind": "litigation", "reason": "x", "hold_until": "2001-01-01T00:00Z"}
    assert "hold_until" in assert_error_shape(api.post(HOLDS_URL, past, format="json"), 400)["fields"]
    unknown = {"subject": "00000000-0000-0000-0000-000000000000", "kind": "litigation", "reason": "x"}
    assert "subject" in assert_error_shape(api.post(HOLDS_URL, unknown, format="json"), 400)["fields"]
    placed = {"subject": str(customer.public_id), "kind": "litigation", "reason": REASON}
    assert api.post(HOLDS_URL, placed, format="json").status_code == 201
    assert_error_shape(api.post(HOLDS_URL, placed, format="json"), 409, "hold_exists")
    hold = LegalHold.objects.get()
    release_url = f"{HOLDS_URL}{hold.public_id}/release/"
    assert "reason" in assert_error_shape(api.post(release_url, {}, format="json"), 400)["fields"]
    assert api.post(release_url, {"reason": "done"}, format="json").status_code == 200
    assert_error_shape(api.post(release_url, {"reason": "again"}, format="json"), 409, "already_released")
    assert_error_shape(api.post(f"{HOLDS_URL}{customer.public_id}/release/", {"reason": "x"}, format="json"), 404)
    # A placement needs a recent MFA, the officer's permission; reading needs view_legalhold.
    assert_error_shape(make_api_client(information_officer, mfa=False).post(HOLDS_URL, placed, format="json"), 403)
    assert_error_shape(make_api_client(operations).get(HOLDS_URL), 403)
    assert_error_shape(make_api_client(auditor).post(HOLDS_URL, placed, format="json"), 403)
    assert make_api_client(auditor).get(HOLDS_URL).status_code == 200
    assert_error_shape(make_api_client(customer).get(HOLDS_URL), 403)
    assert_error_shape(make_api_client(None).get(HOLDS_URL), 401)


def test_the_holds_api_is_in_the_openapi_schema(client):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    assert {"get", "post"} <= set(schema["paths"]["/api/v1/officer/holds/"])
    assert "post" in schema["paths"]["/api/v1/officer/holds/{public_id}/release/"]
    assert schema["paths"]["/api/v1/officer/holds/"]["post"]["operationId"] == "officer_holds_place"

"""The subject is told (issue 16): acknowledgement with the due date, identity verification
needed, extension with its reason (PAIA s57), export ready, outcome with reasons and the right to
complain to the Information Regulator, and the deletion statement — delivered to the contact
captured at filing after the account is erased, which is then erased too.

Driven as the people would: the customer files over the API, officers act through the officer
API and the admin. Tasks run in-process (``eager``) once the transaction commits, so mail lands in
``mail.outbox`` and SMS in ``kernel.messaging.sms_outbox``; every notice is a ``DsarNotice`` row
(what, when, channel, template version) shown on the request's API detail and admin page.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from django.core import mail
from django.db import connection
from django.test import TestCase

from compliance.dsar import services
from compliance.dsar.erasure import erase_subject
from compliance.dsar.export import export_create
from compliance.dsar.models import DataSubjectRequest, DsarNotice, NoticeKind, NoticeStatus
from compliance.dsar.notices import TEMPLATES, notice_queue, template_name
from compliance.dsar.workflow import ACTIONS, FILING_NOTICES, RESTRICTION_LIFTED_NOTICE
from kernel import messaging
from tests.compliance.consent.consent_helpers import seed_purposes
from tests.compliance.dsar.conftest import client_for
from tests.personas import make_staff, otp_admin_login

pytestmark = pytest.mark.django_db

REGULATOR = settings.INFORMATION_REGULATOR_CONTACT["email"]
OFFICER_CONTACT = settings.INFORMATION_OFFICER_CONTACT["email"]


@pytest.fixture(autouse=True)
def eager(monkeypatch):
    from fintech.celery import app

    monkeypatch.setattr(app.conf, "task_always_eager", True)
    mail.outbox.clear()
    messaging.sms_outbox.clear()


def committed():
    """Run what the transaction queued for after commit (the notice deliveries)."""
    return TestCase.captureOnCommitCallbacks(execute=True)


def file_over_api(customer, **body):
    with committed():
        response = client_for(customer).post("/api/v1/dsar/", {"type": "access", **body}, format="json")
    assert response.status_code == 201, response.content
    return DataSubjectRequest.objects.get(public_id=response.json()["id"])


def act(officer, dsar, slug, **body):
    with committed():
        response = client_for(officer).post(f"/api/v1/officer/dsar/{dsar.public_id}/{slug}/", body, format="json")
    assert response.status_code == 200, response.content
    dsar.refresh_from_db()
    return dsar


def only_mail():
    (message,) = mail.outbox
    mail.outbox.clear()
    return message


def test_filing_is_acknowledged_with_the_due_date_and_recorded(customer):
    dsar = file_over_api(customer)
    message = only_mail()
    assert message.to == [customer.email]
    assert "We received your request" in message.subject
    assert dsar.due_at.strftime("%-d %B %Y") in message.body
    assert str(dsar.public_id) in message.body and OFFICER_CONTACT in message.body
    notice = DsarNotice.objects.get(dsar=dsar)
    assert (notice.kind, notice.channel, notice.status) == (NoticeKind.ACKNOWLEDGEMENT, "email", NoticeStatus.SENT)
    assert (notice.template, notice.template_version) == ("dsar/notices/acknowledgement.v1.txt", 1)
    assert notice.sent_at is not None
    # The request's timeline, as the subject reads it.
    detail = client_for(customer).get(f"/api/v1/dsar/{dsar.public_id}/").json()
    assert [(n["kind"], n["channel"], n["template_version"], n["status"]) for n in detail["notices"]] == [
        ("acknowledgement", "email", 1, "sent")
    ]


def test_a_phone_given_at_filing_gets_the_notices_by_sms(customer):
    dsar = file_over_api(customer, notify_contact="+27825550177")
    assert mail.outbox == []
    ((to, body),) = messaging.sms_outbox
    assert to == "+27825550177" and str(dsar.public_id) in body
    assert DsarNotice.objects.get(dsar=dsar).channel == "sms"


def test_a_contact_that_is_neither_address_nor_phone_is_refused(customer):
    response = client_for(customer).post(
        "/api/v1/dsar/", {"type": "access", "notify_contact": "carrier pigeon"}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_notify_contact"
    assert not DataSubjectRequest.objects.exists() and not DsarNotice.objects.exists()


def test_identity_extension_and_rejection_are_each_told_with_their_reasons(customer, officer):
    dsar = file_over_api(customer)
    mail.outbox.clear()
    act(officer, dsar, "request-identity", reason="A certified copy of your ID document.")
    message = only_mail()
    assert "confirm your identity" in message.subject
    assert "A certified copy of your ID document." in message.body

    act(officer, dsar, "verify-identity", evidence="Certified copy received")
    act(officer, dsar, "assign")
    assert mail.outbox == [], "verification and assignment tell the subject nothing"
    dsar = act(officer, dsar, "extend", days=14, reason="Records are in archive storage")
    message = only_mail()
    assert "more time" in message.subject
    assert "Records are in archive storage" in message.body and "PAIA s57" in message.body
    assert dsar.due_at.strftime("%-d %B %Y") in message.body
    assert REGULATOR in message.body

    act(officer, dsar, "reject", reason="We hold no records for the period you named.")
    message = only_mail()
    assert "refused" in message.subject
    assert "We hold no records for the period you named." in message.body
    assert "right to lodge a complaint" in message.body and REGULATOR in message.body
    kinds = list(DsarNotice.objects.filter(dsar=dsar).values_list("kind", flat=True))
    assert kinds == ["acknowledgement", "identity_needed", "extension", "outcome"]


def test_a_refused_transition_sends_nothing(customer, officer):
    dsar = file_over_api(customer)
    mail.outbox.clear()
    with committed():
        response = client_for(officer).post(
            f"/api/v1/officer/dsar/{dsar.public_id}/extend/", {"days": 45, "reason": "x"}, format="json"
        )
    assert response.status_code == 400
    assert mail.outbox == []
    assert list(DsarNotice.objects.filter(dsar=dsar).values_list("kind", flat=True)) == ["acknowledgement"]


def test_a_correction_carried_out_at_approval_sends_the_outcome_with_the_statement(customer, officer):
    dsar = file_over_api(customer, type="correction", requested_changes={"first_name": "Thandi"})
    mail.outbox.clear()
    act(officer, dsar, "verify-identity", evidence="MFA")
    act(officer, dsar, "assign")
    dsar = act(officer, dsar, "approve")
    message = only_mail()
    assert "carried out" in message.subject
    assert dsar.outcome_statement and dsar.outcome_statement in message.body
    assert REGULATOR in message.body


def test_the_export_ready_notice_says_until_when(customer, officer):
    dsar = file_over_api(customer)
    act(officer, dsar, "verify-identity", evidence="MFA")
    act(officer, dsar, "assign")
    services.dsar_approve(actor=officer, dsar=dsar)  # the build task is queued; build it here
    mail.outbox.clear()
    with committed():
        export = export_create(dsar=dsar)
    message = only_mail()
    assert "export is ready" in message.subject
    assert export.expires_at.strftime("%-d %B %Y") in message.body
    assert DsarNotice.objects.filter(dsar=dsar, kind=NoticeKind.EXPORT_READY, status=NoticeStatus.SENT).exists()


def test_the_deletion_statement_reaches_the_contact_given_at_filing_after_erasure(customer, officer, second_officer):
    contact = "thandiwe.private@example.org"
    dsar = file_over_api(customer, type="deletion", notify_contact=contact)
    mail.outbox.clear()
    act(officer, dsar, "verify-identity", evidence="MFA")
    act(officer, dsar, "assign")
    act(officer, dsar, "request-approval")
    with committed():
        services.dsar_approve(actor=second_officer, dsar=dsar)  # the erasure runs after commit
    dsar.refresh_from_db()
    customer.refresh_from_db()
    assert not customer.is_active, "the account was erased"
    message = only_mail()
    assert message.to == [contact]
    assert "what was deleted" in message.subject
    assert dsar.outcome_statement in message.body and REGULATOR in message.body
    # Tables by their names in words, not their labels.
    assert "Users: " in dsar.outcome_statement and "accounts.user" not in dsar.outcome_statement
    notice = DsarNotice.objects.get(dsar=dsar, kind=NoticeKind.DELETION_STATEMENT)
    assert notice.status == NoticeStatus.SENT
    # The contact was kept only for that statement: it is gone now, from every request of the subject.
    assert [row.notify_contact for row in DataSubjectRequest.objects.filter(subject=customer)] == [""]
    with connection.cursor() as cursor:  # and nothing of it in clear anywhere in the row
        cursor.execute("SELECT row_to_json(r)::text FROM compliance_datasubjectrequest r")
        assert all(contact not in row[0] for row in cursor.fetchall())


def test_the_deletion_statement_is_delivered_even_when_the_erasure_ran_in_a_worker(customer, officer, second_officer):
    """The statement is recorded in the erasure's own transaction (it cannot be lost once the
    account is gone); delivering it later still finds the contact."""
    dsar = file_over_api(customer, type="deletion")
    act(officer, dsar, "verify-identity", evidence="MFA")
    act(officer, dsar, "assign")
    act(officer, dsar, "request-approval")
    services.dsar_approve(actor=second_officer, dsar=dsar)  # queued erasure never runs here
    mail.outbox.clear()
    erase_subject(dsar=dsar)  # as the worker would, without delivering
    notice = DsarNotice.objects.get(dsar=dsar, kind=NoticeKind.DELETION_STATEMENT)
    assert notice.status == NoticeStatus.PENDING
    from compliance.dsar.notices import notice_deliver

    assert notice_deliver(notice_id=notice.pk) is True
    assert only_mail().to == ["thandiwe.subject@example.co.za"]
    assert notice_deliver(notice_id=notice.pk) is False, "delivered once"


def test_without_an_sms_provider_the_notice_is_recorded_as_not_delivered(customer, settings):
    settings.SMS_BACKEND = "kernel.messaging.DisabledSmsBackend"
    dsar = file_over_api(customer, notify_contact="0825550177")
    notice = DsarNotice.objects.get(dsar=dsar)
    assert notice.status == NoticeStatus.FAILED and "SMS" in notice.error
    assert "0825550177" not in notice.error


def test_restriction_lifted_is_a_notice_the_lifting_can_send(customer):
    dsar = file_over_api(customer, type="restriction", purposes=["direct_marketing"])
    mail.outbox.clear()
    with committed():
        notice_queue(dsar, RESTRICTION_LIFTED_NOTICE.kind, {"purposes": ["direct_marketing"]})
    message = only_mail()
    assert "lifted" in message.subject and "Direct marketing" in message.body


def test_the_admin_shows_the_notices_on_the_request(client, customer, information_officer):
    dsar = file_over_api(customer)
    otp_admin_login(client, information_officer)
    page = client.get(f"/admin/compliance/datasubjectrequest/{dsar.pk}/change/").content.decode()
    assert "notices to the subject" in page.lower()
    assert "acknowledgement.v1.txt" in page and "Sent" in page


def test_every_notice_the_table_names_has_its_versioned_template():
    root = Path(settings.BASE_DIR) / "templates"
    named = {notice.kind for action in ACTIONS for notice in action.notices} | {n.kind for n in FILING_NOTICES}
    assert named - {"outcome_of_type"} <= set(TEMPLATES)
    for kind, version in TEMPLATES.items():
        assert (root / template_name(kind, version)).is_file(), kind
    assert set(TEMPLATES) == set(NoticeKind.values)


def _walk(dsar, state, officer):
    """Bring a fresh access request to ``state`` through the services (no notice is asserted here)."""
    steps = {
        "identity_verified": [("verify-identity", {"evidence": "MFA"})],
        "in_review": [("verify-identity", {"evidence": "MFA"}), ("assign", {})],
        "approved": [("verify-identity", {"evidence": "MFA"}), ("assign", {}), ("approve", {})],
    }
    for slug, inputs in steps.get(state, []):
        services.dsar_act(slug, actor=officer, dsar=dsar, inputs=inputs)
        dsar.refresh_from_db()
    return dsar


@pytest.mark.parametrize(
    "action",
    # Lifting needs an objection or restriction in force: its own test below.
    [a for a in ACTIONS if a.notices and a.slug != "lift-restriction"],
    ids=lambda action: action.slug,
)
def test_every_action_the_table_says_notifies_does(action, customer, officer):
    """Each row of the table with ``notices`` records (and sends) them when the officer takes it."""
    dsar = _walk(services.dsar_file(subject=customer, filed_by=customer, type="access"), action.from_states[0], officer)
    before = DsarNotice.objects.filter(dsar=dsar).count()
    mail.outbox.clear()
    inputs = {"evidence": "MFA", "reason": "A reason for the subject", "days": 5, "statement": "Done.", "note": ""}
    with committed():
        services.dsar_act(action.slug, actor=officer, dsar=dsar, inputs=inputs)
    dsar.refresh_from_db()
    new = list(DsarNotice.objects.filter(dsar=dsar).order_by("id")[before:])
    assert len(new) == len(action.notices) and all(n.status == NoticeStatus.SENT for n in new), new
    assert len(mail.outbox) == len(new)


def test_lifting_an_objection_tells_the_subject(customer):
    """The lift-restriction row's notice (POPIA s14(6)): recorded, sent, naming the purposes."""
    seed_purposes()
    officer = make_staff("information_officer")  # the role: lifting also needs the consent permission
    dsar = services.dsar_file(subject=customer, filed_by=customer, type="objection", purposes=["direct_marketing"])
    assert dsar.applied_at_filing == ["direct_marketing"]  # in force from filing
    mail.outbox.clear()
    with committed():
        services.dsar_act(
            "lift-restriction", actor=officer, dsar=dsar, inputs={"reason": "The subject withdrew the objection."}
        )
    notice = DsarNotice.objects.get(dsar=dsar, kind=NoticeKind.RESTRICTION_LIFTED)
    assert notice.status == NoticeStatus.SENT
    assert len(mail.outbox) == 1 and "direct_marketing" in mail.outbox[0].body

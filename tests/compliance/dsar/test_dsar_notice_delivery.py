"""A notice that does not reach the subject is retried, then raised (issue 16 review).

Before: the first delivery error marked a notice "failed" for good — a deletion statement could be
lost to one refused connection, and nobody was told. Now:

- the send task retries with exponential backoff; each attempt is recorded on the notice (count,
  time, the error's class — never its message, which may quote the address);
- the beat sweep (``compliance.dsar.resend_notices``) re-sends notices still pending after the
  resend delay, up to ``MAX_ATTEMPTS``; after the last one the notice is "not delivered" and the
  Information Officers are told (an event on the request, an e-mail naming the request only, the
  landing page's warning, ``fintech_dsar_notices_undelivered`` on /metrics);
- the officer resends it from the request's page (audited) once the cause is fixed;
- the contact captured at filing is erased only after the deletion statement was delivered.

In-process tests run the tasks eagerly (retries inline); the last test drives a real worker.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core import mail
from django.urls import reverse

from compliance.audit.models import AuditEvent
from compliance.dsar import services
from compliance.dsar.errors import DsarPermissionError
from compliance.dsar.models import DataSubjectRequest, DsarEvent, DsarEventKind, DsarNotice, NoticeKind, NoticeStatus
from compliance.dsar.notices import (
    MAX_ATTEMPTS,
    TASK_RETRIES,
    Delivery,
    notice_attempt,
    notice_queue,
    notices_resend_due,
)
from compliance.dsar.tasks import resend_dsar_notices
from tests.compliance.dsar.conftest import make_user
from tests.compliance.dsar.flaky_mail import FlakyEmailBackend
from tests.compliance.dsar.test_dsar_notices import act, committed, file_over_api
from tests.conftest import wait_until
from tests.personas import make_api_client, make_staff, otp_admin_login

pytestmark = pytest.mark.django_db

CONTACT = "thandiwe.private@example.org"
FLAKY = "tests.compliance.dsar.flaky_mail.FlakyEmailBackend"


@pytest.fixture
def flaky(monkeypatch, settings):
    from fintech.celery import app

    monkeypatch.setattr(app.conf, "task_always_eager", True)
    settings.EMAIL_BACKEND = FLAKY
    FlakyEmailBackend.failing.clear()
    FlakyEmailBackend.refuse_next = 0
    mail.outbox.clear()
    yield FlakyEmailBackend
    FlakyEmailBackend.failing.clear()
    FlakyEmailBackend.refuse_next = 0


def stored(notice: DsarNotice) -> str:
    return " ".join(str(value) for value in DsarNotice.objects.filter(pk=notice.pk).values().get().values())


def test_a_refused_notice_is_retried_and_delivered_with_each_attempt_recorded(flaky, customer):
    flaky.refuse_next = 2  # the mail server refuses twice, then accepts

    dsar = file_over_api(customer, notify_contact=CONTACT)

    notice = DsarNotice.objects.get(dsar=dsar, kind=NoticeKind.ACKNOWLEDGEMENT)
    assert (notice.status, notice.attempts, notice.last_error_class) == (
        NoticeStatus.SENT, 3, "ConnectionRefusedError"
    )  # fmt: skip
    assert notice.last_attempt_at is not None and notice.error == ""
    assert [message.to for message in mail.outbox] == [[CONTACT]], "delivered once"
    assert CONTACT not in stored(notice), "the refusal quoted the address: only its class is kept"


def test_a_deletion_statement_that_never_arrives_is_raised_kept_with_its_contact_and_resent(  # noqa: PLR0917 - fixtures
    flaky, settings, client, customer, officer, second_officer, information_officer
):
    flaky.failing.add(CONTACT)
    dsar = file_over_api(customer, type="deletion", notify_contact=CONTACT)
    act(officer, dsar, "verify-identity", evidence="MFA")
    act(officer, dsar, "assign")
    act(officer, dsar, "request-approval")
    mail.outbox.clear()
    act(second_officer, dsar, "approve")  # the erasure runs after commit; the statement is refused

    statement = DsarNotice.objects.get(dsar=dsar, kind=NoticeKind.DELETION_STATEMENT)
    # The task's retries are spent; the notice waits for the sweep, with the contact kept for it.
    assert (statement.status, statement.attempts) == (NoticeStatus.PENDING, 1 + TASK_RETRIES)
    assert statement.last_error_class == "ConnectionRefusedError" and CONTACT not in stored(statement)
    dsar.refresh_from_db()
    assert dsar.notify_contact == CONTACT, "not delivered: the contact is not erased"
    assert not DsarEvent.objects.filter(dsar=dsar, kind=DsarEventKind.NOTICE_UNDELIVERED).exists()

    # Not yet due again: the sweep leaves it alone.
    assert notices_resend_due()["retry"] == 0
    settings.DSAR_NOTICE_RESEND_AFTER_SECONDS = 0
    while DsarNotice.objects.get(pk=statement.pk).status == NoticeStatus.PENDING:
        with committed():
            resend_dsar_notices()
    statement.refresh_from_db()
    assert (statement.status, statement.attempts) == (NoticeStatus.FAILED, MAX_ATTEMPTS)
    assert "ConnectionRefusedError" in statement.error and CONTACT not in stored(statement)
    dsar.refresh_from_db()
    assert dsar.notify_contact == CONTACT, "still kept: the officer may resend"

    # The officers are told, by request and notice only.
    [told] = DsarEvent.objects.filter(dsar=dsar, kind=DsarEventKind.NOTICE_UNDELIVERED, note__contains="Deletion")
    assert "Reach the subject another way" in told.note
    [raised] = [m for m in mail.outbox if "Deletion statement" in m.body]
    assert str(dsar.public_id) in raised.body and officer.email in raised.to
    assert CONTACT not in raised.subject + raised.body and customer.email not in raised.subject + raised.body

    # /metrics and the landing page say so (the acknowledgement was refused too: two notices).
    metrics = client.get("/metrics").content.decode()
    assert "fintech_dsar_notices_undelivered 2.0" in metrics.splitlines()
    otp_admin_login(client, information_officer)
    landing = client.get(reverse("admin:index")).content.decode()
    assert "2 notice(s) to data subjects were not delivered" in landing

    # The request page offers "Resend"; the officer resends once the address works again.
    page = client.get(reverse("admin:compliance_datasubjectrequest_change", args=[dsar.pk])).content.decode()
    url = reverse("admin:compliance_datasubjectrequest_resend_notice", args=[dsar.pk, statement.public_id])
    assert "Notices not delivered" in page and url in page
    assert client.get(url).status_code == 404, "a resend is a POST"
    flaky.failing.clear()
    mail.outbox.clear()
    with committed():
        response = client.post(url)
    assert response.status_code == 302
    statement.refresh_from_db()
    assert (statement.status, statement.attempts) == (NoticeStatus.SENT, 1)
    [delivered] = mail.outbox
    assert delivered.to == [CONTACT] and "what was deleted" in delivered.subject
    dsar.refresh_from_db()
    assert dsar.notify_contact == "", "delivered: now the contact is erased"
    audit = AuditEvent.objects.get(action="DSAR_NOTICE_RESENT")
    assert audit.user_id == information_officer.pk and audit.object_id == str(dsar.public_id)
    assert audit.change_diff["previous_attempts"] == MAX_ATTEMPTS and CONTACT not in str(audit.change_diff)
    assert DsarEvent.objects.filter(dsar=dsar, kind=DsarEventKind.NOTICE_RESENT, actor=information_officer).exists()


def test_a_delivered_notice_is_not_resent_and_only_an_officer_can_resend(flaky, client, customer, information_officer):
    dsar = file_over_api(customer)
    notice = DsarNotice.objects.get(dsar=dsar)
    assert notice.status == NoticeStatus.SENT
    url = reverse("admin:compliance_datasubjectrequest_resend_notice", args=[dsar.pk, notice.public_id])
    operations = make_staff("operations")
    otp_admin_login(client, operations)
    assert client.post(url).status_code == 404
    with pytest.raises(DsarPermissionError):  # the service checks it too, whoever calls it
        services.dsar_notice_resend(actor=operations, notice=notice)
    otp_admin_login(client, information_officer)
    mail.outbox.clear()
    with committed():
        page = client.post(url, follow=True).content.decode()
    assert "Only a notice that was not delivered can be sent again." in page
    assert not AuditEvent.objects.filter(action="DSAR_NOTICE_RESENT").exists() and mail.outbox == []
    notice.refresh_from_db()
    assert (notice.status, notice.attempts) == (NoticeStatus.SENT, 1)


def test_without_a_contact_no_attempt_can_succeed_and_the_officer_is_told_at_once(flaky, customer, officer):
    dsar = file_over_api(customer, notify_contact=CONTACT)
    DataSubjectRequest.objects.filter(pk=dsar.pk).update(notify_contact="")
    customer.is_active = False
    customer.save(update_fields=["is_active"])
    notice = DsarNotice.objects.create(
        dsar=dsar, kind=NoticeKind.OUTCOME, template="dsar/notices/outcome.v1.txt", template_version=1
    )
    mail.outbox.clear()
    with committed():
        assert notice_attempt(notice_id=notice.pk) == Delivery.FAILED
    notice.refresh_from_db()
    assert (notice.status, notice.attempts, notice.error) == (NoticeStatus.FAILED, 1, "No contact to send it to.")
    assert DsarEvent.objects.filter(dsar=dsar, kind=DsarEventKind.NOTICE_UNDELIVERED).exists()
    assert [m.to for m in mail.outbox] == [[officer.email]]

    # Recorded with no contact at all: failed at once, and the officers told as well.
    mail.outbox.clear()
    dsar.refresh_from_db()
    with committed():
        queued = notice_queue(dsar, NoticeKind.OUTCOME)
    assert (queued.status, queued.attempts) == (NoticeStatus.FAILED, 0)
    [told] = DsarEvent.objects.filter(dsar=dsar, kind=DsarEventKind.NOTICE_UNDELIVERED, note__contains="no attempt")
    assert "Outcome with reasons" in told.note
    assert [m.to for m in mail.outbox] == [[officer.email]]


@pytest.mark.celery
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_retries_with_backoff_and_the_sweep_sends_it_later(celery_process, tmp_path):
    failures = tmp_path / "refuse"
    failures.write_text("5")  # the first attempt and the task's three retries, then one sweep
    worker = celery_process(
        "worker",
        TEST_EMAIL_BACKEND=FLAKY,
        FLAKY_MAIL_FAILURES=str(failures),
        DSAR_NOTICE_RETRY_SECONDS="1",
        DSAR_NOTICE_RESEND_AFTER_SECONDS="0",
    )
    customer = make_user("thandiwe.worker@example.co.za")
    response = make_api_client(customer).post("/api/v1/dsar/", {"type": "access"}, format="json")
    assert response.status_code == 201, response.content
    notice = DsarNotice.objects.get(dsar__public_id=response.json()["id"])
    try:
        wait_until(lambda: DsarNotice.objects.get(pk=notice.pk).attempts == 1 + TASK_RETRIES, timeout=90)
    except AssertionError as exc:
        raise AssertionError(f"worker log:\n{worker.log()}") from exc
    log = worker.log()
    # Exponential backoff: 1 s, 2 s, 4 s.
    assert all(f"Retry in {seconds}s" in log for seconds in (1, 2, 4)), log
    notice.refresh_from_db()
    assert notice.status == NoticeStatus.PENDING and notice.last_error_class == "ConnectionRefusedError"
    assert not Path(f"{failures}.sent").exists()
    assert "thandiwe.worker@example.co.za" not in stored(notice)

    # Beat's sweep, run by the worker: one more refusal, then delivered.
    assert resend_dsar_notices.delay().get(timeout=60)["retry"] == 1
    assert resend_dsar_notices.delay().get(timeout=60)["sent"] == 1
    notice.refresh_from_db()
    assert (notice.status, notice.attempts) == (NoticeStatus.SENT, 1 + TASK_RETRIES + 2)
    assert Path(f"{failures}.sent").read_text().splitlines() == ["thandiwe.worker@example.co.za"]

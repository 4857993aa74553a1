"""Notices to the data subject about their request (POPIA s18, s23-s25; PAIA s56-s57).

Which transition sends which notice is declared in the workflow table
(``compliance.dsar.workflow``: each ``Action``'s ``notices``, and ``FILING_NOTICES`` for filing);
what an outcome notice is depends on the request type (``DsarKind.outcome_notice``: the export is
ready, the deletion statement, or the outcome with reasons). This module records and delivers them:

- ``notice_queue(dsar, kind)`` records a ``DsarNotice`` (what, when, channel, template and its
  version) *in the caller's transaction* and delivers it after commit through the Celery task
  ``compliance.dsar.send_notice``: a transition that rolls back sends nothing, one that commits
  cannot lose its notice (the row stays ``pending`` until delivered, ``failed`` with the reason).
- The text is the versioned template ``templates/dsar/notices/<kind>.v<N>.txt`` (``TEMPLATES``:
  the version in force per kind, recorded on each notice). Its first line is the subject line.
  Every notice gives the Information Officer's contact and, for outcomes, the right to complain
  to the Information Regulator (``settings.INFORMATION_REGULATOR_CONTACT``).
- The recipient is the contact captured at filing (``DataSubjectRequest.notify_contact``, an
  e-mail address or a phone number: e-mail or SMS through ``kernel.messaging``), so the deletion
  statement reaches a subject whose account the deletion has just erased; once that statement is
  delivered the contact itself is erased — and only then: a statement not delivered keeps it.
- Delivery is retried (issue 16 review): a failed attempt is recorded on the notice (``attempts``,
  ``last_attempt_at``, ``last_error_class``: the error's class, never its message, which may quote
  the address) and the notice stays ``pending``. The send task retries with exponential backoff
  (``TASK_RETRIES`` times from ``settings.DSAR_NOTICE_RETRY_SECONDS``); the beat sweep
  ``compliance.dsar.resend_notices`` re-sends notices still pending ``DSAR_NOTICE_RESEND_AFTER_SECONDS``
  after their last attempt (a lost task too). After ``MAX_ATTEMPTS`` — or at once when no attempt
  can succeed (no contact, no provider for the channel) — the notice is ``failed`` and the
  Information Officers are told (an event on the request, an e-mail naming the request only, the
  landing-page warning and ``fintech_dsar_notices_undelivered``) so they can reach the subject
  another way; ``notice_resend`` (the request page's "resend" button, audited) starts over.

Nothing here logs a recipient or a text.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from enum import StrEnum
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import timezone

from compliance.audit.services import AuditAction, audit_record
from compliance.dsar.errors import DsarError
from compliance.dsar.kinds import kind_for
from compliance.dsar.models import (
    DataSubjectRequest,
    DsarEvent,
    DsarEventKind,
    DsarExport,
    DsarNotice,
    DsarStatus,
    NoticeKind,
    NoticeStatus,
)
from compliance.pi.vocabulary import PURPOSES
from kernel.messaging import ChannelUnavailable, Message, MessageChannel, MessagingError, channel_for, send_message
from kernel.tasks import enqueue_on_commit
from kernel.types import Actor

logger = logging.getLogger(__name__)

SEND_TASK = "compliance.dsar.send_notice"
RESEND_TASK = "compliance.dsar.resend_notices"
# Attempts per notice: the first, the send task's retries, then the beat sweep's re-sends.
TASK_RETRIES = 3
MAX_ATTEMPTS = 6

# The template version in force per notice kind. A new wording is a new file (kind.v2.txt) and a
# new number here; notices already sent keep the version they were sent with.
TEMPLATES: dict[str, int] = {
    NoticeKind.ACKNOWLEDGEMENT: 1,
    NoticeKind.IDENTITY_NEEDED: 1,
    NoticeKind.EXTENSION: 1,
    NoticeKind.EXPORT_READY: 1,
    NoticeKind.OUTCOME: 1,
    NoticeKind.DELETION_STATEMENT: 1,
    NoticeKind.RESTRICTION_LIFTED: 1,
}
# The last notice of a deletion: after it the captured contact is erased too.
FINAL_NOTICES = frozenset({NoticeKind.DELETION_STATEMENT})


def template_name(kind: str, version: int) -> str:
    return f"dsar/notices/{kind}.v{version}.txt"


def contact_for(dsar: DataSubjectRequest) -> str:
    """Where the request's notices go: the contact captured at filing, else the subject's e-mail."""
    if dsar.notify_contact:
        return str(dsar.notify_contact)
    subject = dsar.subject
    return str(subject.email) if subject.is_active else ""


def notice_queue(dsar: DataSubjectRequest, kind: str, context: dict[str, Any] | None = None) -> DsarNotice:
    """Record a notice in the caller's transaction and deliver it once that transaction commits.

    ``context``: what the template needs beyond the request (codes and ids, never PI)."""
    if kind not in TEMPLATES:
        raise ValueError(f"Unknown notice kind {kind!r}")
    channel = channel_for(contact_for(dsar))
    version = TEMPLATES[kind]
    notice = DsarNotice.objects.create(
        dsar=dsar,
        kind=kind,
        channel=channel.value if channel else "",
        template=template_name(kind, version),
        template_version=version,
        context=context or {},
        status=NoticeStatus.PENDING if channel else NoticeStatus.FAILED,
        error="" if channel else "No contact to send it to.",
    )
    if channel:
        enqueue_on_commit(SEND_TASK, notice.pk)
    else:
        _tell_officers(notice)  # no attempt can succeed: the officers reach the subject another way
    return notice


def outcome_kind(dsar: DataSubjectRequest) -> str:
    """The outcome notice of a request: a rejection is always the outcome with reasons; a
    fulfilment is what the request type declares (export ready, deletion statement, outcome)."""
    if dsar.status == DsarStatus.REJECTED:
        return NoticeKind.OUTCOME
    return kind_for(dsar.type).outcome_notice


def _purpose_names(codes: list[str]) -> list[str]:
    return [f"{PURPOSES[code].name} ({code})" if code in PURPOSES else code for code in codes]


def render(notice: DsarNotice) -> tuple[str, str]:
    """(subject line, body) of ``notice`` from its own template version."""
    dsar = notice.dsar
    export = DsarExport.objects.filter(dsar=dsar).first()
    context = {
        "reference": str(dsar.public_id),
        "type": kind_for(dsar.type).label,
        "statute": kind_for(dsar.type).statute,
        "received": dsar.received_at,
        "due": dsar.due_at,
        "original_due": dsar.original_due_at,
        "extension_reason": dsar.extension_reason,
        "extension_days": (dsar.due_at - dsar.original_due_at).days,
        "status": DsarStatus(dsar.status).label,
        "rejected": dsar.status == DsarStatus.REJECTED,
        "partial": dsar.status == DsarStatus.PARTIALLY_FULFILLED,
        "decision_reason": dsar.decision_reason,
        "statement": dsar.outcome_statement,
        "export_expires": export.expires_at if export else None,
        "purposes": _purpose_names(list(notice.context.get("purposes", dsar.purposes or []))),
        "identity_request": _identity_request(notice),
        "officer": settings.INFORMATION_OFFICER_CONTACT,
        "regulator": settings.INFORMATION_REGULATOR_CONTACT,
    }
    text = render_to_string(notice.template, context).strip()
    subject, _, body = text.partition("\n")
    return subject.strip(), body.strip() + "\n"


def _identity_request(notice: DsarNotice) -> str:
    event_id = notice.context.get("event")
    if not event_id:
        return ""
    event = notice.dsar.events.filter(pk=event_id).first()
    return event.note if event else ""


class Delivery(StrEnum):
    SENT = "sent"
    SKIPPED = "skipped"  # not pending: already sent, or failed for good
    RETRY = "retry"  # this attempt failed; another may succeed
    FAILED = "failed"  # no attempt left (or none can succeed): the officers are told


class PermanentDeliveryError(Exception):
    """No attempt can succeed as things are (no contact, no provider for the channel)."""


def notice_deliver(*, notice_id: int) -> bool:
    """Send one recorded notice (the task's body). Idempotent: a sent notice is not sent again.
    Returns whether it was sent now."""
    return notice_attempt(notice_id=notice_id) is Delivery.SENT


def notice_attempt(*, notice_id: int) -> Delivery:
    """One delivery attempt of a pending notice, recorded on it whatever the outcome."""
    with transaction.atomic():
        notice = (
            DsarNotice.objects.select_for_update()
            .select_related("dsar", "dsar__subject")
            .filter(pk=notice_id, status=NoticeStatus.PENDING)
            .first()
        )
        if notice is None:
            return Delivery.SKIPPED
        dsar = notice.dsar
        contact = contact_for(dsar)
        channel = channel_for(contact)
        notice.attempts += 1
        notice.last_attempt_at = timezone.now()
        if channel is None:
            return _attempt_failed(notice, PermanentDeliveryError("No contact to send it to."))
        subject, body = render(notice)
        try:
            send_message(Message(channel=MessageChannel(channel), to=contact, subject=subject, body=body))
        except Exception as error:  # noqa: BLE001 - any provider error is a failed attempt, recorded by class
            return _attempt_failed(notice, error, channel=channel)
        notice.status, notice.sent_at, notice.channel = NoticeStatus.SENT, timezone.now(), channel.value
        notice.error = ""
        notice.save(update_fields=["status", "sent_at", "channel", "error", "attempts", "last_attempt_at"])
        if notice.kind in FINAL_NOTICES:
            _erase_contacts(dsar)
        return Delivery.SENT


def _error_class(error: BaseException) -> str:
    # ``MessagingError`` wraps the provider's error: its class says more (SMTPRecipientsRefused).
    cause = error.__cause__ if isinstance(error, MessagingError) and error.__cause__ else error
    return type(cause).__name__[:100]


def _permanent(error: BaseException) -> bool:
    """Errors no retry can fix until someone acts: no contact, or no provider for the channel."""
    return isinstance(error, PermanentDeliveryError) or bool(getattr(error, "permanent", False))


def _attempt_failed(notice: DsarNotice, error: BaseException, *, channel: MessageChannel | None = None) -> Delivery:
    error_class = _error_class(error)
    final = _permanent(error) or notice.attempts >= MAX_ATTEMPTS
    # Never the error's message: a provider's text may quote the address.
    if isinstance(error, PermanentDeliveryError):
        reason = str(error)
    else:
        how = "by SMS" if channel == MessageChannel.SMS else "by e-mail"
        reason = f"Not delivered {how} ({error_class}), attempt {notice.attempts} of at most {MAX_ATTEMPTS}"
        if isinstance(error, ChannelUnavailable):
            reason = f"Not delivered {how}: no provider is configured for this channel"
    notice.last_error_class = error_class
    notice.error = reason[:200]
    if final:
        notice.status = NoticeStatus.FAILED
    notice.save(update_fields=["status", "error", "attempts", "last_attempt_at", "last_error_class"])
    logger.warning(
        "DSAR notice %s not delivered (attempt %s, final=%s): %s", notice.public_id, notice.attempts, final, error_class
    )
    if final:
        _tell_officers(notice)
        return Delivery.FAILED
    return Delivery.RETRY


def _tell_officers(notice: DsarNotice) -> None:
    """A notice that will not reach the subject: the officers must reach them another way. On the
    request's timeline, and by e-mail naming the request and the notice only (never the subject)."""
    from compliance.dsar.escalation import officer_emails

    label = NoticeKind(notice.kind).label
    why = notice.last_error_class or "no contact"
    tried = f"after {notice.attempts} attempt(s)" if notice.attempts else "(no attempt possible)"
    note = (
        f"Notice not delivered {tried}: {label} ({why}). Reach the subject another way, or resend it once the "
        "cause is fixed."
    )
    DsarEvent.objects.create(dsar=notice.dsar, kind=DsarEventKind.NOTICE_UNDELIVERED, note=note)
    recipients = officer_emails()
    if recipients:
        subject = f"DSAR {str(notice.dsar.public_id)[:8]}: a notice to the subject was not delivered"
        body = (
            f'Request {notice.dsar.public_id}: the notice "{label}" could not be delivered '
            f"({notice.attempts} attempt(s), {why}).\n\n"
            "Reach the subject another way, or resend it from the request's page once the cause is fixed.\n"
        )
        transaction.on_commit(lambda: send_mail(subject, body, None, recipients))


def notices_to_resend(*, now: Any = None) -> list[int]:
    """Pending notices whose last attempt (or creation, when the task was lost) is older than the
    resend delay: what the beat sweep re-sends."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.DSAR_NOTICE_RESEND_AFTER_SECONDS)
    return list(
        DsarNotice.objects.filter(status=NoticeStatus.PENDING)
        .filter(Q(last_attempt_at__lt=cutoff) | Q(last_attempt_at__isnull=True, created_at__lt=cutoff))
        .order_by("pk")
        .values_list("pk", flat=True)[:500]
    )


def notices_resend_due() -> dict[str, int]:
    """The beat sweep: one attempt for each notice due again (idempotent; restartable)."""
    outcomes = {delivery.value: 0 for delivery in Delivery}
    for notice_id in notices_to_resend():
        outcomes[notice_attempt(notice_id=notice_id).value] += 1
    return outcomes


def undelivered_notices(*, now: Any = None) -> int:
    """Notices not delivered: failed for good, or pending past the resend delay (the metric and
    the landing page's warning)."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.DSAR_NOTICE_RESEND_AFTER_SECONDS)
    return DsarNotice.objects.filter(
        Q(status=NoticeStatus.FAILED) | Q(status=NoticeStatus.PENDING, created_at__lt=cutoff)
    ).count()


def notice_resend(*, actor: Actor, notice: DsarNotice) -> DsarNotice:
    """A failed notice sent again (the contact fixed, a provider configured): pending with a fresh
    set of attempts, audited, delivered after commit. Called by ``services.dsar_notice_resend``,
    which checks the officer's permission."""
    with transaction.atomic():
        notice = DsarNotice.objects.select_for_update().select_related("dsar").get(pk=notice.pk)
        if notice.status != NoticeStatus.FAILED:
            raise DsarError("Only a notice that was not delivered can be sent again.", code="notice_not_failed")
        previous = notice.attempts
        notice.status, notice.attempts, notice.error = NoticeStatus.PENDING, 0, ""
        notice.save(update_fields=["status", "attempts", "error"])
        DsarEvent.objects.create(
            dsar=notice.dsar, kind=DsarEventKind.NOTICE_RESENT, actor_id=actor.pk, note=NoticeKind(notice.kind).label
        )
        audit_record(
            action=AuditAction.DSAR_NOTICE_RESENT,
            actor=actor,
            object_type="compliance.DataSubjectRequest",
            object_id=str(notice.dsar.public_id),
            change_diff={"notice": str(notice.public_id), "kind": notice.kind, "previous_attempts": previous},
        )
        enqueue_on_commit(SEND_TASK, notice.pk)
    return notice


def _erase_contacts(dsar: DataSubjectRequest) -> None:
    """The deletion statement was the last thing the captured contact was kept for: erase it, and,
    when the subject was erased, the contacts captured on their other requests too."""
    requests = DataSubjectRequest.objects.filter(pk=dsar.pk)
    if not dsar.subject.is_active:
        requests = DataSubjectRequest.objects.filter(subject_id=dsar.subject_id)
    for row in requests.select_for_update():
        if row.notify_contact:
            row.notify_contact = ""
            row.save(update_fields=["notify_contact", "updated_at"])

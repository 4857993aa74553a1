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
  delivered the contact itself is erased.

Nothing here logs a recipient or a text.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from compliance.dsar.kinds import kind_for
from compliance.dsar.models import (
    DataSubjectRequest,
    DsarExport,
    DsarNotice,
    DsarStatus,
    NoticeKind,
    NoticeStatus,
)
from compliance.pi.vocabulary import PURPOSES
from kernel.messaging import Message, MessageChannel, MessagingError, channel_for, send_message
from kernel.tasks import enqueue_on_commit

logger = logging.getLogger(__name__)

SEND_TASK = "compliance.dsar.send_notice"

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


def notice_deliver(*, notice_id: int) -> bool:
    """Send one recorded notice (the task's body). Idempotent: a sent notice is not sent again.
    Returns whether it was sent now."""
    with transaction.atomic():
        notice = (
            DsarNotice.objects.select_for_update()
            .select_related("dsar", "dsar__subject")
            .filter(pk=notice_id, status=NoticeStatus.PENDING)
            .first()
        )
        if notice is None:
            return False
        dsar = notice.dsar
        contact = contact_for(dsar)
        channel = channel_for(contact)
        if channel is None:
            return _failed(notice, "No contact to send it to.")
        subject, body = render(notice)
        try:
            send_message(Message(channel=MessageChannel(channel), to=contact, subject=subject, body=body))
        except MessagingError as error:
            logger.warning("DSAR notice %s not delivered: %s", notice.public_id, type(error).__name__)
            return _failed(notice, str(error)[:200])
        notice.status, notice.sent_at, notice.channel = NoticeStatus.SENT, timezone.now(), channel.value
        notice.save(update_fields=["status", "sent_at", "channel"])
        if notice.kind in FINAL_NOTICES:
            _erase_contacts(dsar)
        return True


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


def _failed(notice: DsarNotice, reason: str) -> bool:
    notice.status, notice.error = NoticeStatus.FAILED, reason
    notice.save(update_fields=["status", "error"])
    return False

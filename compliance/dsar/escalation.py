"""Deadline escalation: tell the information officers what is due soon and what is overdue.

Runs daily (beat). Idempotent: a request escalated in the last ``ESCALATION_QUIET_HOURS`` is not
escalated again, so a retried or doubly-run task sends nothing twice, whatever the time of day (a
calendar-day rule would escalate twice across midnight), while the next day's run, even a little
early, escalates again. The e-mail names requests by id, type and
deadline only — never the subject or their words.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from compliance.audit.services import AuditAction, audit_record
from compliance.dsar.models import DataSubjectRequest, DsarEvent, DsarEventKind

logger = logging.getLogger(__name__)

DUE_SOON_DAYS = 7
ESCALATION_QUIET_HOURS = 20


def officer_emails() -> list[str]:
    permission = Permission.objects.get(codename="process_dsar", content_type__app_label="compliance")
    users = (
        get_user_model()
        .objects.filter(is_active=True)
        .filter(Q(user_permissions=permission) | Q(groups__permissions=permission) | Q(is_superuser=True))
    )
    return sorted({user.email for user in users.distinct() if user.email})


def dsar_escalate(*, now: datetime | None = None) -> dict[str, int]:
    now = now or timezone.now()
    quiet_since = now - timedelta(hours=ESCALATION_QUIET_HOURS)
    candidates = (
        DataSubjectRequest.objects.open()
        .filter(due_at__lt=now + timedelta(days=DUE_SOON_DAYS))
        .exclude(events__kind=DsarEventKind.ESCALATION, events__created_at__gte=quiet_since)
        .order_by("due_at")
    )
    lines: list[str] = []
    counts = {"overdue": 0, "due_soon": 0}
    with transaction.atomic():
        for dsar in candidates.select_for_update(skip_locked=True, of=("self",)):
            overdue = dsar.due_at < now
            counts["overdue" if overdue else "due_soon"] += 1
            # Stamped with the run's own clock: the quiet period is measured on it.
            DsarEvent.objects.create(
                dsar=dsar, kind=DsarEventKind.ESCALATION, note="overdue" if overdue else "due soon", created_at=now
            )
            state = "OVERDUE" if overdue else "due soon"
            lines.append(f"{dsar.public_id}  {dsar.type:<12} {dsar.status:<20} due {dsar.due_at:%Y-%m-%d}  {state}")
        if lines:
            audit_record(
                action=AuditAction.DSAR_ESCALATED,
                actor=None,
                object_type="compliance.DataSubjectRequest",
                change_diff=counts,
            )
            recipients = officer_emails()
            if recipients:
                body = (
                    "Data-subject requests needing attention (POPIA/PAIA: 30 days, one extension):\n\n"
                    + "\n".join(lines)
                    + "\n\nOpen the DSAR review queue in the admin to act on them.\n"
                )
                subject = f"DSAR deadlines: {counts['overdue']} overdue, {counts['due_soon']} due within 7 days"
                transaction.on_commit(lambda: send_mail(subject, body, None, recipients))
    if lines:
        logger.warning("dsar escalation", extra={"overdue": counts["overdue"], "due_soon": counts["due_soon"]})
    return counts

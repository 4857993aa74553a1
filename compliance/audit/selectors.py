"""Reads of the audit trail, for auditors only (API, reports, the report command).

The actor is exposed by ``public_id`` (an annotation: the user row's PI is never loaded).
"""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from uuid import UUID

from django.contrib.auth import get_user_model
from django.db.models import F, QuerySet

from compliance.audit.models import AuditEvent
from kernel.access import has_permission

AUDIT_VIEW_PERMISSION = "compliance.view_auditevent"

REPORT_COLUMNS = (
    "seq",
    "timestamp",
    "action",
    "actor_type",
    "user_id",
    "source_ip",
    "object_type",
    "object_id",
    "request_id",
    "change_diff",
    "hash",
)


def parse_period_bound(text: str, *, day_end: bool = False) -> datetime:
    """An ISO 8601 date-time (naive means UTC) or a bare date: the start of that UTC day, or with
    ``day_end`` the start of the next one (so ``to=2026-11-22`` includes the whole day).
    Raises ValueError."""
    if len(text) == 10:
        start = datetime.combine(date.fromisoformat(text), time.min, tzinfo=UTC)
        return start + timedelta(days=1) if day_end else start
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def is_auditor(user: Any) -> bool:
    """The auditor role: the view permission on audit events (granted to the "auditor" group)."""
    return has_permission(user, AUDIT_VIEW_PERMISSION)


def audit_events_for_auditor(*, viewer: Any, **filters: Any) -> QuerySet[AuditEvent]:
    """Audit events matching the filters; empty for anyone who is not an auditor."""
    queryset = audit_events(**filters)
    return queryset if is_auditor(viewer) else queryset.none()


def audit_events(
    *,
    action: str | None = None,
    actor: UUID | None = None,
    object_type: str | None = None,
    object_id: str | None = None,
    date_from: datetime | None = None,
    date_to: datetime | None = None,
) -> QuerySet[AuditEvent]:
    """Audit events matching the filters, unscoped: for the auditor views and operator commands."""
    queryset = AuditEvent.objects.annotate(actor_public_id=F("user__public_id"))
    if action:
        queryset = queryset.filter(action=action)
    if actor:
        queryset = queryset.filter(user__in=get_user_model().objects.filter(public_id=actor).values("pk"))
    if object_type:
        queryset = queryset.filter(object_type=object_type)
    if object_id:
        queryset = queryset.filter(object_id=object_id)
    if date_from:
        queryset = queryset.filter(timestamp__gte=date_from)
    if date_to:
        queryset = queryset.filter(timestamp__lt=date_to)
    return queryset


def event_as_dict(event: AuditEvent) -> dict[str, Any]:
    actor = getattr(event, "actor_public_id", None)
    return {
        "id": event.id,
        "seq": event.seq,
        "timestamp": event.timestamp.isoformat(),
        "action": event.action,
        "actor_type": event.actor_type,
        "user_id": str(actor) if actor else None,
        "source_ip": event.source_ip,
        "object_type": event.object_type,
        "object_id": event.object_id,
        "request_id": event.request_id,
        "change_diff": event.change_diff,
        "prev_hash": event.prev_hash,
        "hash": event.hash,
        "sealed_at": event.sealed_at.isoformat() if event.sealed_at else None,
    }


def report_summary(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "count": len(events),
        "by_action": dict(sorted(Counter(event["action"] for event in events).items())),
        "by_actor_type": dict(sorted(Counter(event["actor_type"] for event in events).items())),
    }


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    text = json.dumps(value, sort_keys=True) if isinstance(value, dict | list) else str(value)
    # A spreadsheet would execute a cell starting with a formula character (CSV injection).
    return "'" + text if text.startswith(_FORMULA_START) else text


def events_to_csv(events: Iterable[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(REPORT_COLUMNS)
    for event in events:
        writer.writerow([_csv_cell(event.get(column)) for column in REPORT_COLUMNS])
    return out.getvalue()


# Signing in and out is not work: the landing page's "Your recent actions" leaves these out (the
# trail keeps them, and the auditor sees them in the audit list).
SESSION_ACTIONS = ("LOGIN", "LOGOUT", "TOKEN_REFRESH", "MFA_VERIFIED")
RECENT_ACTIONS_LIMIT = 10


def recent_actions_of(user: Any, *, limit: int = RECENT_ACTIONS_LIMIT) -> list[dict[str, Any]]:
    """What ``user`` did last, from the audit trail (the one record of who did what): the admin's
    "Recent actions" box. One query through ``audit_user_ts_idx``; the client address (PI) and the
    diff are not read. Anyone may see their own actions; nobody sees another's here."""
    if not getattr(user, "is_authenticated", False):
        return []
    rows = (
        AuditEvent.objects.filter(user=user)
        .exclude(action__in=SESSION_ACTIONS)
        .order_by("-timestamp", "-id")
        .values("timestamp", "action", "object_type", "object_id")[:limit]
    )
    return [
        {
            "timestamp": row["timestamp"],
            "action": row["action"].replace("_", " ").capitalize(),
            "object": " ".join(part for part in (row["object_type"].rpartition(".")[2], row["object_id"][:8]) if part),
        }
        for row in rows
    ]

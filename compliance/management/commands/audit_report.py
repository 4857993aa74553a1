"""Export audit events by action/actor/period as CSV or JSON (the operator's side of the report API)."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from compliance.audit.selectors import audit_events, event_as_dict, events_to_csv, parse_period_bound, report_summary
from compliance.audit.services import ActorType, AuditAction, audit_record
from kernel.db_router import reporting_reads


def _bound(value: str | None, *, day_end: bool = False) -> datetime | None:
    if not value:
        return None
    try:
        return parse_period_bound(value, day_end=day_end)
    except ValueError as exc:
        raise CommandError(f"{value!r} is not an ISO 8601 date or date-time.") from exc


class Command(BaseCommand):
    help = "Export audit events (filtered by action, actor public id and period) as CSV or JSON."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--action", choices=AuditAction.values)
        parser.add_argument("--actor", help="Public id (UUID) of the acting user.")
        parser.add_argument("--from", dest="date_from", help="ISO date or date-time (inclusive).")
        parser.add_argument("--to", dest="date_to", help="ISO date (inclusive) or date-time (exclusive).")
        parser.add_argument("--format", choices=("csv", "json"), default="csv")
        parser.add_argument("--output", help="File to write (default: standard output).")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            actor = uuid.UUID(options["actor"]) if options["actor"] else None
        except ValueError as exc:
            raise CommandError("--actor must be a public id (UUID).") from exc
        with reporting_reads():  # on the replica when there is one; the audit record below goes to the primary
            queryset = audit_events(
                action=options["action"],
                actor=actor,
                date_from=_bound(options["date_from"]),
                date_to=_bound(options["date_to"], day_end=True),
            ).order_by("timestamp", "id")
            events = [event_as_dict(event) for event in queryset.iterator(chunk_size=2000)]
        if options["format"] == "csv":
            text = events_to_csv(events)
        else:
            report = {"generated_at": timezone.now().isoformat(), "summary": report_summary(events), "events": events}
            text = json.dumps(report, indent=1)
        if options["output"]:
            Path(options["output"]).write_text(text)
        else:
            self.stdout.write(text, ending="")
        filters = {key: options[key] for key in ("action", "actor", "date_from", "date_to") if options[key]}
        with transaction.atomic():
            audit_record(
                action=AuditAction.AUDIT_EXPORTED,
                actor_type=ActorType.SYSTEM,
                object_type="audit.report",
                object_id=options["format"],
                change_diff={"filters": filters, "count": len(events), "via": "manage.py audit_report"},
            )

"""The admin landing page per role: what needs this person now (issue 17).

One panel per staff role, built from a fixed number of queries whatever the number of rows
(``tests/fintech/test_landing.py`` counts them): the information officer's DSARs by deadline and
the on-time trend, consent trends per purpose, holds ending soon and deletions waiting for a
second officer; operations' KYC queue and refused movements; the auditor's chain status with
"verify now", the report export form, purge and key-rotation history; the administrator's
locked accounts, staff without an authenticator and overdue secrets.

People appear as masked name + short id (``kernel.display.person_label``), never in clear.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Count, F, Max, Q
from django.db.models.functions import TruncMonth, TruncWeek
from django.urls import reverse
from django.utils import timezone

from accounts import roles
from compliance.audit.chain import chain_head, last_status, status_is_stale, unsealed_backlog
from compliance.audit.models import AuditEvent
from compliance.audit.services import AuditAction
from compliance.consent.models import ConsentEvent, ProcessingPurpose
from compliance.crypto.models import KeyRotationRun
from compliance.dsar.models import DataSubjectRequest, DsarStatus
from compliance.retention.models import LegalHold, RetentionRun
from compliance.secret_rotation.models import AlertState, SecretRotation
from fintech.charts import bar_chart, sparkline
from kernel.display import person_label, short_id
from ledger.models import KycRecord, KycStatus

ROLE_LABELS = {
    roles.OPERATIONS: "Operations",
    roles.INFORMATION_OFFICER: "Information officer",
    roles.AUDITOR: "Auditor",
    roles.ADMIN: "Administrator",
}
LIST_LIMIT = 5
TREND_MONTHS = 6
CONSENT_WEEKS = 8
HOLDS_ENDING_DAYS = 30


def staff_role(user: Any) -> str | None:
    """The user's staff role (the group they belong to); a superuser without one is an admin.
    Cached on the user object: one query per request."""
    if hasattr(user, "_staff_role"):
        cached: str | None = user._staff_role
        return cached
    names = set(user.groups.values_list("name", flat=True)) if user.is_authenticated else set()
    role = next((r for r in roles.STAFF_ROLES if r in names), None)
    if role is None and getattr(user, "is_superuser", False):
        role = roles.ADMIN
    user._staff_role = role
    return role


def role_label(user: Any) -> str:
    role = staff_role(user)
    return ROLE_LABELS.get(role or "", "Staff")


PANEL_TEMPLATES = {
    roles.INFORMATION_OFFICER: "admin/landing/officer.html",
    roles.OPERATIONS: "admin/landing/operations.html",
    roles.AUDITOR: "admin/landing/auditor.html",
    roles.ADMIN: "admin/landing/admin.html",
}


@dataclass
class Panel:
    role: str
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def title(self) -> str:
        return ROLE_LABELS[self.role]

    @property
    def template(self) -> str:
        return PANEL_TEMPLATES[self.role]


def _month_starts(now: datetime, months: int) -> list[datetime]:
    first = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    starts = [first]
    for _ in range(months - 1):
        starts.append((starts[-1] - timedelta(days=1)).replace(day=1))
    return list(reversed(starts))


def officer_panel(user: Any, now: datetime) -> Panel:
    requests = DataSubjectRequest.objects.all()
    pressure = requests.open().aggregate(
        open=Count("id"),
        overdue=Count("id", filter=Q(due_at__lt=now)),
        due_week=Count("id", filter=Q(due_at__gte=now, due_at__lt=now + timedelta(days=7))),
        unassigned=Count("id", filter=Q(assigned_to__isnull=True)),
    )
    months = _month_starts(now, TREND_MONTHS)
    finished = (
        requests.filter(fulfilled_at__gte=months[0])
        .annotate(month=TruncMonth("fulfilled_at"))
        .values("month")
        .annotate(n=Count("id"), on_time=Count("id", filter=Q(fulfilled_at__lte=F("due_at"))))
    )
    by_month = {row["month"].date(): row for row in finished}
    rates: list[float | None] = []
    for start in months:
        row = by_month.get(start.date())
        rates.append(round(100 * row["on_time"] / row["n"]) if row and row["n"] else None)
    trend = bar_chart(
        title="On-time rate of fulfilled requests per month",
        labels=[start.strftime("%b") for start in months],
        values=rates,
        unit="%",
    )
    urgent = list(
        requests.open()
        .filter(due_at__lt=now + timedelta(days=7))
        .select_related("subject", "assigned_to")
        .order_by("due_at")[:LIST_LIMIT]
    )
    second_approval = list(
        requests.filter(status=DsarStatus.IN_REVIEW, approval_requested_by__isnull=False)
        .select_related("subject", "approval_requested_by")
        .order_by("due_at")[:LIST_LIMIT]
    )
    # Consent trends: granted / withdrawn per purpose per week, one query.
    this_week = (now - timedelta(days=now.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
    weeks = [this_week - timedelta(weeks=CONSENT_WEEKS - 1 - i) for i in range(CONSENT_WEEKS)]
    rows = (
        ConsentEvent.objects.filter(created_at__gte=weeks[0])
        .annotate(week=TruncWeek("created_at"))
        .values("purpose_id", "week")
        .annotate(yes=Count("id", filter=Q(granted=True)), no=Count("id", filter=Q(granted=False)))
    )
    counts: dict[int, dict[datetime, tuple[int, int]]] = {}
    for row in rows:
        counts.setdefault(row["purpose_id"], {})[row["week"]] = (row["yes"], row["no"])
    consent = []
    for purpose in ProcessingPurpose.objects.filter(pk__in=counts).order_by("code"):
        series = counts[purpose.pk]
        granted = [series.get(week, (0, 0))[0] for week in weeks]
        withdrawn = [series.get(week, (0, 0))[1] for week in weeks]
        consent.append(
            {
                "purpose": purpose.name,
                "granted": sum(granted),
                "withdrawn": sum(withdrawn),
                "granted_chart": sparkline(title=f"{purpose.name}: granted per week", values=granted),
                "withdrawn_chart": sparkline(title=f"{purpose.name}: withdrawn per week", values=withdrawn),
            }
        )
    holds = list(
        LegalHold.objects.on_subjects()
        .in_force(now)
        .filter(hold_until__lt=now + timedelta(days=HOLDS_ENDING_DAYS))
        .select_related("subject")
        .order_by("hold_until")[:LIST_LIMIT]
    )

    def dsar_row(dsar: DataSubjectRequest) -> dict[str, Any]:
        return {
            "url": reverse("admin:compliance_datasubjectrequest_change", args=[dsar.pk]),
            "short_id": short_id(dsar.public_id),
            "type": dsar.get_type_display(),
            "status": dsar.get_status_display(),
            "subject": person_label(dsar.subject),
            "due_at": dsar.due_at,
            "overdue": dsar.due_at < now,
        }

    return Panel(
        role=roles.INFORMATION_OFFICER,
        data={
            **pressure,
            "trend": trend,
            "urgent": [dsar_row(d) for d in urgent],
            "second_approval": [
                {
                    **dsar_row(d),
                    "asked_by": person_label(d.approval_requested_by),
                    "you_may_approve": d.approval_requested_by_id != user.pk,
                }
                for d in second_approval
            ],
            "consent": consent,
            "holds": [
                {"subject": person_label(h.subject), "kind": h.get_kind_display(), "hold_until": h.hold_until}
                for h in holds
            ],
            "holds_days": HOLDS_ENDING_DAYS,
            "queue_url": reverse("admin:compliance_datasubjectrequest_changelist"),
        },
    )


def operations_panel(user: Any, now: datetime) -> Panel:
    pending = KycRecord.objects.filter(status=KycStatus.PENDING)
    stats = pending.aggregate(n=Count("id"), older=Count("id", filter=Q(submitted_at__lt=now - timedelta(days=2))))
    oldest = list(pending.select_related("user").order_by("submitted_at")[:LIST_LIMIT])
    since = now - timedelta(days=7)
    refused_actions = (AuditAction.SETTLEMENT_REFUSED,)
    refused = AuditEvent.objects.filter(action__in=refused_actions, timestamp__gte=since)
    refused_count = refused.count()
    refused_latest = list(refused.order_by("-id").values("timestamp", "action", "object_type", "object_id")[:5])
    return Panel(
        role=roles.OPERATIONS,
        data={
            "kyc_pending": stats["n"],
            "kyc_older": stats["older"],
            "kyc_oldest": [
                {
                    "url": reverse("admin:ledger_kycrecord_change", args=[k.pk]),
                    "short_id": short_id(k.public_id),
                    "person": person_label(k.user),
                    "submitted_at": k.submitted_at,
                }
                for k in oldest
            ],
            "kyc_url": reverse("admin:ledger_kycrecord_changelist") + "?status__exact=pending",
            "refused_count": refused_count,
            "refused_latest": refused_latest,
            "refused_url": reverse("admin:compliance_auditevent_changelist") + "?action=SETTLEMENT_REFUSED",
        },
    )


def chain_status() -> dict[str, Any]:
    status = last_status()
    head_seq, _ = chain_head()
    unsealed, _ = unsealed_backlog()
    return {
        "verified": bool(status),
        "ok": status["ok"] if status else None,
        "verified_at": datetime.fromisoformat(status["verified_at"]) if status else None,
        "verified_seq": status.get("head_seq") if status else None,
        "first_broken_seq": status.get("first_broken_seq") if status else None,
        "reason": status.get("reason", "") if status else "",
        "stale": status_is_stale(status),
        "head_seq": head_seq,
        "unsealed": unsealed,
    }


def auditor_panel(user: Any, now: datetime) -> Panel:
    purges = list(RetentionRun.objects.order_by("-started_at")[:LIST_LIMIT])
    rotations = list(KeyRotationRun.objects.order_by("-started_at")[:LIST_LIMIT])
    secrets = SecretRotation.objects.aggregate(
        n=Count("id"),
        overdue=Count("id", filter=Q(alert_state=AlertState.OVERDUE)),
        last_rotated=Max("rotated_at"),
    )
    return Panel(
        role=roles.AUDITOR,
        data={
            "chain": chain_status(),
            "verify_url": reverse("admin:audit_verify_now"),
            "report_url": reverse("admin:audit_report"),
            "actions": AuditAction.choices,
            "today": now.date().isoformat(),
            "month_ago": (now - timedelta(days=30)).date().isoformat(),
            "purges": [
                {
                    "started_at": run.started_at,
                    "finished_at": run.finished_at,
                    "state": run.get_state_display(),
                    "rows": sum(v for v in (run.counts or {}).values() if isinstance(v, int)),
                }
                for run in purges
            ],
            "rotations": [
                {
                    "purpose": run.get_purpose_display(),
                    "version": run.target_version,
                    "state": run.get_state_display(),
                    "rows": run.rows_rewritten,
                    "started_at": run.started_at,
                }
                for run in rotations
            ],
            "secrets": secrets,
            "trail_url": reverse("admin:compliance_auditevent_changelist"),
        },
    )


def admin_panel(user: Any, now: datetime) -> Panel:
    from axes.models import AccessAttempt
    from django.contrib.auth import get_user_model

    from accounts.models import TOTPDevice

    staff = get_user_model().objects.filter(is_staff=True, is_active=True)
    without_mfa = staff.exclude(pk__in=TOTPDevice.objects.filter(confirmed=True).values("user_id")).count()
    locked = AccessAttempt.objects.filter(attempt_time__gte=now - timedelta(days=1)).count()
    overdue = SecretRotation.objects.filter(alert_state=AlertState.OVERDUE).count()
    return Panel(
        role=roles.ADMIN,
        data={
            "staff_without_mfa": without_mfa,
            "failed_attempts": locked,
            "secrets_overdue": overdue,
            "users_url": reverse("admin:accounts_user_changelist"),
            "attempts_url": reverse("admin:axes_accessattempt_changelist"),
            "secrets_url": reverse("admin:compliance_secretrotation_changelist"),
        },
    )


BUILDERS = {
    roles.INFORMATION_OFFICER: officer_panel,
    roles.OPERATIONS: operations_panel,
    roles.AUDITOR: auditor_panel,
    roles.ADMIN: admin_panel,
}


def landing_panels(user: Any, now: datetime | None = None) -> list[Panel]:
    """The panels of the user's role (none for a user without a staff role)."""
    role = staff_role(user)
    builder = BUILDERS.get(role or "")
    return [builder(user, now or timezone.now())] if builder else []

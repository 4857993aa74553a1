"""Reads of consent state, scoped to the subject asking, and the one processing gate.

``may_process(subject, purpose_code)`` is the only question processing code asks. It answers in
one query, whatever the length of the subject's history: the current state is the latest event
(highest id) per subject × purpose, found through the ``(subject, purpose, -id)`` index.

A subject may be processed for a purpose when all hold:
- the purpose exists and is active;
- if its lawful basis is consent: the latest consent event is a grant, and it was given under a
  notice version at least as new as the latest notice in effect that demanded fresh consent;
- the latest restriction event and the latest objection event (if any) are not active.
``marketing_audience`` applies the same rules in bulk; a test holds the two in agreement.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db.models import Count, IntegerField, Max, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce, TruncWeek
from django.utils import timezone

from compliance.consent.models import (
    ConsentEvent,
    LawfulBasis,
    ProcessingPurpose,
    ProcessingRestrictionEvent,
    PurposeNotice,
    RestrictionKind,
)

DIRECT_MARKETING = "direct_marketing"
THIRD_PARTY_MARKETING_SHARING = "third_party_marketing_sharing"

# The columns of the marketing-audience export, in order: one place, and only fields the user
# model has. Nothing more than a mailing needs (POPIA s10, minimality).
MARKETING_AUDIENCE_COLUMNS: tuple[str, ...] = ("public_id", "email", "first_name")


def _published_in_effect(now: datetime) -> Q:
    return Q(published_at__isnull=False, effective_at__lte=now)


def current_notice_subquery(purpose_ref: Any, now: datetime, field: str = "pk") -> Subquery:
    """The current notice of the purpose ``purpose_ref`` points at: highest version in effect."""
    return Subquery(
        PurposeNotice.objects.filter(_published_in_effect(now), purpose=purpose_ref)
        .order_by("-version")
        .values(field)[:1]
    )


def _reconsent_floor_subquery(purpose_ref: Any, now: datetime) -> Coalesce:
    """The lowest notice version a consent must have been given under to still count (0: any)."""
    return Coalesce(
        Subquery(
            PurposeNotice.objects.filter(_published_in_effect(now), purpose=purpose_ref, requires_reconsent=True)
            .order_by("-version")
            .values("version")[:1]
        ),
        Value(0),
        output_field=IntegerField(),
    )


def _latest_consent(subject_ref: Any, purpose_ref: Any, field: str) -> Subquery:
    return Subquery(
        ConsentEvent.objects.filter(subject=subject_ref, purpose=purpose_ref).order_by("-id").values(field)[:1]
    )


def _flag_active(subject_ref: Any, purpose_ref: Any, kind: str) -> Subquery:
    return Subquery(
        ProcessingRestrictionEvent.objects.filter(subject=subject_ref, purpose=purpose_ref, kind=kind)
        .order_by("-id")
        .values("active")[:1]
    )


def flag_in_force(*, subject: Any, purpose_code: str, kind: str) -> bool:
    """Whether the latest restriction/objection event of ``kind`` for subject × purpose is active."""
    latest = (
        ProcessingRestrictionEvent.objects.filter(subject=subject, purpose__code=purpose_code, kind=kind)
        .order_by("-id")
        .values_list("active", flat=True)
        .first()
    )
    return bool(latest)


def _with_subject_state(purposes: QuerySet[ProcessingPurpose], subject_id: int, now: datetime) -> QuerySet[Any]:
    """The purposes, each annotated with the subject's state (consent, notice, flags)."""
    annotated: QuerySet[Any] = purposes.annotate(
        current_notice_id=current_notice_subquery(OuterRef("pk"), now),
        current_notice_version=current_notice_subquery(OuterRef("pk"), now, "version"),
        reconsent_floor=_reconsent_floor_subquery(OuterRef("pk"), now),
        consent_granted=_latest_consent(subject_id, OuterRef("pk"), "granted"),
        consent_notice_version=_latest_consent(subject_id, OuterRef("pk"), "notice__version"),
        consent_at=_latest_consent(subject_id, OuterRef("pk"), "created_at"),
        restricted=_flag_active(subject_id, OuterRef("pk"), RestrictionKind.RESTRICTION),
        objected=_flag_active(subject_id, OuterRef("pk"), RestrictionKind.OBJECTION),
    )
    return annotated


def _decide(purpose: Any) -> bool:
    """The rule of the module header, applied to a purpose annotated by ``_with_subject_state``."""
    if not purpose.is_active or purpose.restricted or purpose.objected:
        return False
    if purpose.lawful_basis != LawfulBasis.CONSENT:
        return True
    return bool(purpose.consent_granted) and (purpose.consent_notice_version or 0) >= purpose.reconsent_floor


def may_process(subject: Any, purpose_code: str) -> bool:
    """May ``subject`` (a user) be processed for the purpose ``purpose_code`` right now? One query.

    Unknown purposes and anonymous subjects are refused: processing without a defined purpose is
    not allowed (POPIA s13).
    """
    if subject is None or not getattr(subject, "pk", None):
        return False
    purpose = _with_subject_state(
        ProcessingPurpose.objects.filter(code=purpose_code), subject.pk, timezone.now()
    ).first()
    return purpose is not None and _decide(purpose)


@dataclass(frozen=True)
class PurposeState:
    """A subject's current position for one purpose (the API's ``GET /consents/`` row)."""

    purpose: ProcessingPurpose
    consent_required: bool
    granted: bool | None  # None: never asked or never answered
    granted_notice_version: int | None
    decided_at: datetime | None
    current_notice_version: int | None
    reconsent_needed: bool
    restricted: bool
    objected: bool
    processing_allowed: bool


def consent_states_for(*, subject: Any) -> list[PurposeState]:
    """Every active purpose with the subject's current state: one query, however long the history."""
    purposes = _with_subject_state(ProcessingPurpose.objects.filter(is_active=True), subject.pk, timezone.now())
    states = []
    for purpose in purposes.order_by("code"):
        reconsent_needed = (
            purpose.consent_required
            and bool(purpose.consent_granted)
            and (purpose.consent_notice_version or 0) < purpose.reconsent_floor
        )
        states.append(
            PurposeState(
                purpose=purpose,
                consent_required=purpose.consent_required,
                granted=purpose.consent_granted,
                granted_notice_version=purpose.consent_notice_version,
                decided_at=purpose.consent_at,
                current_notice_version=purpose.current_notice_version,
                reconsent_needed=reconsent_needed,
                restricted=bool(purpose.restricted),
                objected=bool(purpose.objected),
                processing_allowed=_decide(purpose),
            )
        )
    return states


def consent_history_for(*, subject: Any) -> QuerySet[ConsentEvent]:
    """The subject's own consent events, newest first (insertion order: ids never go back)."""
    return (
        ConsentEvent.objects.filter(subject_id=subject.pk)
        .select_related("purpose", "notice")
        .only(
            "public_id",
            "granted",
            "channel",
            "created_at",
            "purpose__code",
            "notice__version",
        )
        .order_by("-id")
    )


def purposes_with_current_notice(*, only_active: bool = True) -> list[tuple[ProcessingPurpose, PurposeNotice | None]]:
    """Purposes and their current notices, in two queries."""
    now = timezone.now()
    purposes = ProcessingPurpose.objects.annotate(current_notice_id=current_notice_subquery(OuterRef("pk"), now))
    if only_active:
        purposes = purposes.filter(is_active=True)
    rows = list(purposes.order_by("code"))
    notices = PurposeNotice.objects.in_bulk([p.current_notice_id for p in rows if p.current_notice_id])
    return [(p, notices.get(p.current_notice_id)) for p in rows]


# The public list of purposes and notices (what registration needs, readable before an account
# exists) is the same for everyone and holds no personal information, so it is cached server-side:
# at most PUBLIC_PURPOSES_TTL seconds, never past the moment a published notice takes effect, and
# forgotten when a purpose or notice changes (``public_purposes_forget``, on commit).
PUBLIC_PURPOSES_KEY = "consent:public-purposes:v1"
PUBLIC_PURPOSES_TTL = 60


def public_purposes() -> list[dict[str, Any]]:
    """The active purposes with the notice in effect for each, as the public API answers them."""
    cached = cache.get(PUBLIC_PURPOSES_KEY)
    if cached is not None:
        return list(cached)
    now = timezone.now()
    rows = [
        {
            "code": purpose.code,
            "name": purpose.name,
            "description": purpose.description,
            "lawful_basis": purpose.lawful_basis,
            "consent_required": purpose.consent_required,
            "data_categories": list(purpose.data_categories),
            "current_notice": None
            if notice is None
            else {
                "version": notice.version,
                "text": notice.text,
                "effective_at": notice.effective_at,
                "requires_reconsent": notice.requires_reconsent,
            },
        }
        for purpose, notice in purposes_with_current_notice()
    ]
    next_change = (
        PurposeNotice.objects.filter(published_at__isnull=False, effective_at__gt=now)
        .order_by("effective_at")
        .values_list("effective_at", flat=True)
        .first()
    )
    ttl = PUBLIC_PURPOSES_TTL
    if next_change is not None:
        ttl = max(0, min(ttl, int((next_change - now).total_seconds())))
    if ttl:
        cache.set(PUBLIC_PURPOSES_KEY, rows, ttl)
    return rows


def public_purposes_forget() -> None:
    cache.delete(PUBLIC_PURPOSES_KEY)


def current_notice(purpose: ProcessingPurpose) -> PurposeNotice | None:
    now = timezone.now()
    return (
        PurposeNotice.objects.filter(_published_in_effect(now), purpose=purpose)
        .order_by("-version")
        .select_related("purpose")
        .first()
    )


def processable_subjects(purpose_code: str) -> QuerySet[Any]:
    """Active users who may currently be processed for ``purpose_code``: ``may_process`` in bulk,
    for batch consumers (audience exports, analytics) that would otherwise ask it once per user."""
    return marketing_audience(purpose_code)


def marketing_audience(purpose_code: str = DIRECT_MARKETING) -> QuerySet[Any]:
    """Active users who may currently be processed for ``purpose_code`` (the rule of ``may_process``).

    Returns a user queryset ordered by id, with only the export columns loaded.
    """
    purpose = ProcessingPurpose.objects.filter(code=purpose_code, is_active=True).first()
    user_model = get_user_model()
    if purpose is None:
        return user_model.objects.none()
    now = timezone.now()
    floor = (
        PurposeNotice.objects.filter(_published_in_effect(now), purpose=purpose, requires_reconsent=True).aggregate(
            floor=Max("version")
        )["floor"]
        or 0
    )
    users = user_model.objects.filter(is_active=True)
    if purpose.consent_required:
        latest = ConsentEvent.objects.filter(subject=OuterRef("pk"), purpose=purpose).order_by("-id")
        users = users.annotate(
            consent_granted=Subquery(latest.values("granted")[:1]),
            consent_version=Subquery(latest.values("notice__version")[:1]),
        ).filter(consent_granted=True, consent_version__gte=floor)
    for kind in RestrictionKind.values:
        flag = f"{kind}_active"
        users = users.annotate(**{flag: _flag_active(OuterRef("pk"), purpose, kind)}).filter(
            Q(**{f"{flag}__isnull": True}) | Q(**{flag: False})
        )
    return users.only(*MARKETING_AUDIENCE_COLUMNS).order_by("pk")


@dataclass(frozen=True)
class WeeklyCount:
    week: datetime
    granted: int
    withdrawn: int


def consent_statistics(*, purpose: ProcessingPurpose, weeks: int = 12) -> list[WeeklyCount]:
    """Granted and withdrawn (or refused) events per ISO week for the last ``weeks`` weeks, oldest first.

    Weeks without events are present with zero counts so a chart has no gaps.
    """
    now = timezone.now()
    this_week = (now - timedelta(days=now.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
    first_week = this_week - timedelta(weeks=weeks - 1)
    rows = (
        ConsentEvent.objects.filter(purpose=purpose, created_at__gte=first_week)
        .annotate(week=TruncWeek("created_at"))
        .values("week")
        .annotate(yes=Count("id", filter=Q(granted=True)), no=Count("id", filter=Q(granted=False)))
    )
    by_week = {row["week"]: row for row in rows}
    counts = []
    for index in range(weeks):
        week = first_week + timedelta(weeks=index)
        row = by_week.get(week, {"yes": 0, "no": 0})
        counts.append(WeeklyCount(week=week, granted=row["yes"], withdrawn=row["no"]))
    return counts


def consent_totals() -> dict[int, dict[str, int]]:
    """Per purpose id: subjects whose current state is granted / not granted. One query."""
    latest = ConsentEvent.objects.filter(subject=OuterRef("subject"), purpose=OuterRef("purpose")).order_by("-id")
    rows = (
        ConsentEvent.objects.filter(pk=Subquery(latest.values("pk")[:1]))
        .values("purpose_id")
        .annotate(yes=Count("id", filter=Q(granted=True)), no=Count("id", filter=Q(granted=False)))
    )
    return {row["purpose_id"]: {"granted": row["yes"], "not_granted": row["no"]} for row in rows}

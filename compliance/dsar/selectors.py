"""Reads of data-subject requests, scoped to who is asking."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db.models import Q, QuerySet
from django.http import Http404

from compliance.dsar.models import DataSubjectRequest, DsarEvent, DsarEventKind, DsarNotice
from compliance.dsar.workflow import PROCESS_PERMISSION
from kernel.access import has_permission


def dsars_of_subject(*, subject: Any) -> QuerySet[DataSubjectRequest]:
    return DataSubjectRequest.objects.filter(subject=subject).order_by("-received_at")


def access_dsar_as_subject(*, viewer: Any, public_id: UUID | str) -> DataSubjectRequest:
    """The viewer's own request, or 404 — another subject's request does not exist for them."""
    try:
        return dsars_of_subject(subject=viewer).get(public_id=public_id)
    except (DataSubjectRequest.DoesNotExist, ValueError) as exc:
        raise Http404 from exc


def access_dsar_for_officer(*, viewer: Any, public_id: UUID | str) -> DataSubjectRequest:
    """Any request, for an information officer; 404 for anyone else."""
    if not has_permission(viewer, PROCESS_PERMISSION):
        raise Http404
    try:
        found: DataSubjectRequest = DataSubjectRequest.objects.select_related("subject", "assigned_to").get(
            public_id=public_id
        )
        return found
    except (DataSubjectRequest.DoesNotExist, ValueError) as exc:
        raise Http404 from exc


def status_history_for_subject(*, dsar: DataSubjectRequest) -> QuerySet[DsarEvent]:
    """What the subject may see of the history: status changes and extensions, no internal notes."""
    return dsar.events.filter(kind__in=[DsarEventKind.TRANSITION, DsarEventKind.EXTENSION]).order_by("created_at", "id")


def officers() -> QuerySet[Any]:
    """Active staff who hold the officer permission (directly, through a group, or as superusers)."""
    app_label, codename = PROCESS_PERMISSION.split(".")
    permission = Permission.objects.filter(content_type__app_label=app_label, codename=codename)
    return (
        get_user_model()
        .objects.filter(is_active=True, is_staff=True)
        .filter(Q(is_superuser=True) | Q(user_permissions__in=permission) | Q(groups__permissions__in=permission))
        .distinct()
        .order_by("public_id")
    )


def notices_of_request(*, dsar: DataSubjectRequest) -> QuerySet[DsarNotice]:
    """The notices of a request, oldest first (its timeline for the subject and the officer)."""
    return dsar.notices.order_by("created_at", "id")

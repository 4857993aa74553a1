"""The auditor API: audit events (filtered, cursor-paginated), chain status, report exports.

Only the auditor role (``compliance.view_auditevent``, or the "auditor" group) gets in; every
other authenticated caller gets 403 and the refusal is itself an audit event.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from compliance.audit.chain import chain_head, last_status, status_is_stale, unsealed_backlog, verify_and_alert
from compliance.audit.selectors import (
    audit_events_for_auditor,
    events_to_csv,
    is_auditor,
    parse_period_bound,
)
from compliance.audit.services import AuditAction, ReportTooLarge, audit_report_export
from kernel.errors import JSONErrorsMixin
from kernel.pagination import ValidatedCursorPagination


class IsAuditor(BasePermission):
    """Auditor role only (a refusal is audited by kernel.errors, as every refusal is)."""

    message = "Only auditors may read the audit trail."

    def has_permission(self, request: Request, view: Any) -> bool:
        return is_auditor(request.user)


class PeriodBound(serializers.Field):
    """An ISO 8601 date-time (naive means UTC) or a bare date (the start of that UTC day)."""

    default_error_messages = {"invalid": "Use an ISO 8601 date or date-time."}

    def __init__(self, *, day_end: bool = False, **kwargs: Any) -> None:
        self.day_end = day_end
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> datetime:
        try:
            return parse_period_bound(str(data), day_end=self.day_end)
        except ValueError:
            self.fail("invalid")

    def to_representation(self, value: datetime) -> str:
        return value.isoformat()


class AuditEventFilters(serializers.Serializer):
    action = serializers.ChoiceField(choices=AuditAction.choices, required=False)
    actor = serializers.UUIDField(required=False, help_text="The acting user's public id.")
    object_type = serializers.CharField(required=False, max_length=100)
    object_id = serializers.CharField(required=False, max_length=64)

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        # "from"/"to" are Python keywords, so they cannot be declared as attributes.
        fields["from"] = PeriodBound(required=False)
        fields["to"] = PeriodBound(required=False, day_end=True)
        return fields

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("from") and attrs.get("to") and attrs["from"] >= attrs["to"]:
            raise ValidationError({"to": ["Must be after 'from'."]})
        return attrs


def _filtered(request: Request) -> Any:
    filters = AuditEventFilters(data=request.query_params)
    filters.is_valid(raise_exception=True)
    values = filters.validated_data
    return values, audit_events_for_auditor(
        viewer=request.user,
        action=values.get("action"),
        actor=values.get("actor"),
        object_type=values.get("object_type"),
        object_id=values.get("object_id"),
        date_from=values.get("from"),
        date_to=values.get("to"),
    )


_FILTER_PARAMETERS = [
    OpenApiParameter("action", str, enum=AuditAction.values),
    OpenApiParameter("actor", str, description="Public id (UUID) of the acting user."),
    OpenApiParameter("object_type", str),
    OpenApiParameter("object_id", str),
    OpenApiParameter("from", str, description="ISO 8601 date or date-time (inclusive)."),
    OpenApiParameter("to", str, description="ISO 8601 date (inclusive) or date-time (exclusive)."),
]


class AuditEventPagination(ValidatedCursorPagination):
    ordering = "-id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class AuditEventSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    seq = serializers.IntegerField(allow_null=True)
    timestamp = serializers.DateTimeField()
    action = serializers.CharField()
    actor_type = serializers.CharField()
    user_id = serializers.UUIDField(source="actor_public_id", allow_null=True)
    source_ip = serializers.IPAddressField(allow_null=True)
    object_type = serializers.CharField()
    object_id = serializers.CharField()
    request_id = serializers.CharField()
    change_diff = serializers.JSONField()
    prev_hash = serializers.CharField(allow_null=True)
    hash = serializers.CharField(allow_null=True)
    sealed_at = serializers.DateTimeField(allow_null=True)


class AuditReportSummarySerializer(serializers.Serializer):
    count = serializers.IntegerField()
    by_action = serializers.DictField(child=serializers.IntegerField())
    by_actor_type = serializers.DictField(child=serializers.IntegerField())


class AuditEventReportSerializer(serializers.Serializer):
    """The JSON report (``?format=csv`` gives the events as CSV instead)."""

    generated_at = serializers.DateTimeField()
    filters = serializers.DictField(child=serializers.CharField(), help_text="The filters applied, as given.")
    summary = AuditReportSummarySerializer()
    events = AuditEventSerializer(many=True)


class AuditEventListView(APIView):
    permission_classes = [IsAuthenticated, IsAuditor]
    pagination_class = AuditEventPagination

    @extend_schema(parameters=_FILTER_PARAMETERS, responses=AuditEventSerializer(many=True))
    def get(self, request: Request) -> Response:
        _, queryset = _filtered(request)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(queryset, request, view=self)
        return paginator.get_paginated_response(AuditEventSerializer(page, many=True).data)


class ChainStatusSerializer(serializers.Serializer):
    ok = serializers.BooleanField(allow_null=True)
    stale = serializers.BooleanField()
    first_broken_seq = serializers.IntegerField(allow_null=True)
    reason = serializers.CharField()
    verified_at = serializers.DateTimeField(allow_null=True)
    checked = serializers.IntegerField()
    head_seq = serializers.IntegerField()
    head_hash = serializers.CharField()
    unsealed = serializers.IntegerField()
    oldest_unsealed_seconds = serializers.FloatField()


def _status_payload(status: dict[str, Any] | None) -> dict[str, Any]:
    head_seq, head_hash = chain_head()
    unsealed, oldest_unsealed_seconds = unsealed_backlog()
    return {
        "ok": status["ok"] if status else None,
        "stale": status_is_stale(status),
        "first_broken_seq": status["first_broken_seq"] if status else None,
        "reason": status["reason"] if status else "never verified",
        "verified_at": status["verified_at"] if status else None,
        "checked": status["checked"] if status else 0,
        "head_seq": head_seq,
        "head_hash": head_hash,
        "unsealed": unsealed,
        "oldest_unsealed_seconds": oldest_unsealed_seconds,
    }


class ChainStatusView(APIView):
    """GET: the last verification (hourly) and the live head. POST: verify now."""

    permission_classes = [IsAuthenticated, IsAuditor]

    @extend_schema(responses=ChainStatusSerializer)
    def get(self, request: Request) -> Response:
        return Response(_status_payload(last_status()))

    @extend_schema(request=None, responses=ChainStatusSerializer)
    def post(self, request: Request) -> Response:
        result = verify_and_alert()
        return Response(_status_payload(result.as_dict()))


class CSVRenderer(BaseRenderer):
    """text/csv for the report export only (the API is JSON everywhere else)."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        return events_to_csv(data.get("events", [])).encode()


class AuditEventReportView(JSONErrorsMixin, APIView):
    """Events by action/actor/period as JSON (with counts) or CSV (``?format=csv``)."""

    permission_classes = [IsAuthenticated, IsAuditor]
    renderer_classes = [JSONRenderer, CSVRenderer]

    @extend_schema(
        parameters=_FILTER_PARAMETERS,
        responses={(200, "application/json"): AuditEventReportSerializer, (200, "text/csv"): str},
    )
    def get(self, request: Request) -> Response:
        filters = AuditEventFilters(data=request.query_params)
        filters.is_valid(raise_exception=True)
        try:
            body = audit_report_export(
                actor=request.user,
                filters=filters.validated_data,
                output=request.accepted_renderer.format,
                request=request,
            )
        except ReportTooLarge as exc:
            raise ValidationError(str(exc)) from exc
        response = Response(body)
        if request.accepted_renderer.format == "csv":
            response["Content-Disposition"] = 'attachment; filename="audit-events.csv"'
        return response

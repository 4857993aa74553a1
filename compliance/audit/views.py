"""The auditor API: audit events (filtered, cursor-paginated), chain status, report exports.

Only the auditor role (``compliance.view_auditevent``, or the "auditor" group) gets in; every
other authenticated caller gets 403 and the refusal is itself an audit event.
"""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from compliance.audit.chain import chain_head, last_status, status_is_stale, unsealed_backlog, verify_and_alert
from compliance.audit.models import AuditEvent
from compliance.audit.selectors import (
    AUDIT_VIEW_PERMISSION,
    audit_events_for_auditor,
    events_to_csv,
    is_auditor,
    parse_period_bound,
)
from compliance.audit.services import AuditAction, ReportTooLarge, audit_report_export
from compliance.audit.transparency import (
    ProofUnavailable,
    checkpoint_at,
    consistency_proof,
    inclusion_proof,
    latest_checkpoint,
    published_note,
    root_at,
)
from kernel.access import HasPermission
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


# --- Proofs for auditors (docs/adr/0006): verify them offline with compliance.audit.verify ------
AUDIT_READ = HasPermission(AUDIT_VIEW_PERMISSION, "Only auditors may read the audit trail.")
BIGINT_MAX = 2**63 - 1  # sizes and ids are PostgreSQL bigints: a larger number is a 400, never a 500


class InclusionProofQuery(serializers.Serializer):
    size = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=BIGINT_MAX,
        help_text="A published checkpoint's tree size (default: the latest checkpoint).",
    )


class ConsistencyProofQuery(serializers.Serializer):
    def get_fields(self) -> dict[str, serializers.Field]:
        # "from"/"to" are Python keywords, so they cannot be declared as attributes.
        return {
            "from": serializers.IntegerField(min_value=1, max_value=BIGINT_MAX, help_text="The older tree size."),
            "to": serializers.IntegerField(
                required=False,
                min_value=1,
                max_value=BIGINT_MAX,
                help_text="A published checkpoint's size (default: the latest).",
            ),
        }


class InclusionProofSerializer(serializers.Serializer):
    event_id = serializers.IntegerField()
    seq = serializers.IntegerField(help_text="The record's position; its leaf index is seq - 1.")
    record_hash = serializers.CharField(help_text="The record's chain hash (hex): the Merkle leaf's input.")
    tree_size = serializers.IntegerField()
    root_hash = serializers.CharField(help_text="Base64, as in the checkpoint.")
    proof = serializers.ListField(child=serializers.CharField(), help_text="RFC 9162 audit path, base64, leaf upwards.")
    checkpoint = serializers.CharField(help_text="The signed checkpoint note (C2SP), with any witness cosignatures.")


class ConsistencyProofSerializer(serializers.Serializer):
    from_size = serializers.IntegerField()
    from_root = serializers.CharField(help_text="Base64.")
    to_size = serializers.IntegerField()
    to_root = serializers.CharField(help_text="Base64, as in the checkpoint.")
    proof = serializers.ListField(child=serializers.CharField(), help_text="RFC 9162 consistency proof, base64.")
    checkpoint = serializers.CharField(help_text="The signed checkpoint note of the newer size.")
    from_checkpoint = serializers.CharField(
        allow_null=True, help_text="The older size's checkpoint, if one was published."
    )


def _b64(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def _checkpoint_for(size: int | None, field: str) -> Any:
    checkpoint = latest_checkpoint() if size is None else checkpoint_at(size)
    if checkpoint is None:
        raise ProofUnavailable(
            "No checkpoint of that size has been published." if size else "No checkpoint has been published yet.",
            fields={field: ["No published checkpoint."]} if size else None,
        )
    return checkpoint


class InclusionProofView(APIView):
    """GET: the proof that a sealed record is in the tree a signed checkpoint commits to."""

    permission_classes = [IsAuthenticated, AUDIT_READ]

    @extend_schema(parameters=[InclusionProofQuery], responses=InclusionProofSerializer)
    def get(self, request: Request, pk: int) -> Response:
        query = InclusionProofQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        event = AuditEvent.objects.filter(pk=pk).values("id", "seq", "hash").first() if pk <= BIGINT_MAX else None
        if event is None:
            raise NotFound("No such audit event.")
        if event["seq"] is None:
            raise ProofUnavailable("The record is not sealed yet: ask again in a few seconds.")
        checkpoint = _checkpoint_for(query.validated_data.get("size"), "size")
        if event["seq"] > checkpoint.size:
            raise ProofUnavailable(
                "The record was sealed after that checkpoint.", fields={"size": ["Smaller than the record's seq."]}
            )
        proof = inclusion_proof(event["seq"], checkpoint.size)
        body = {
            "event_id": event["id"],
            "seq": event["seq"],
            "record_hash": event["hash"],
            "tree_size": checkpoint.size,
            "root_hash": _b64(bytes.fromhex(checkpoint.root_hash)),
            "proof": [_b64(h) for h in proof],
            "checkpoint": published_note(checkpoint).text(),
        }
        return Response(InclusionProofSerializer(body).data)


class ConsistencyProofView(APIView):
    """GET: the proof that the tree of size ``from`` is a prefix of a signed checkpoint's tree."""

    permission_classes = [IsAuthenticated, AUDIT_READ]

    @extend_schema(parameters=[ConsistencyProofQuery], responses=ConsistencyProofSerializer)
    def get(self, request: Request) -> Response:
        query = ConsistencyProofQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        first = query.validated_data["from"]
        checkpoint = _checkpoint_for(query.validated_data.get("to"), "to")
        if first > checkpoint.size:
            raise ProofUnavailable("'from' must not exceed 'to'.", fields={"from": ["Larger than 'to'."]})
        proof = consistency_proof(first, checkpoint.size)
        older = checkpoint_at(first)
        body = {
            "from_size": first,
            "from_root": _b64(root_at(first)),
            "to_size": checkpoint.size,
            "to_root": _b64(bytes.fromhex(checkpoint.root_hash)),
            "proof": [_b64(h) for h in proof],
            "checkpoint": published_note(checkpoint).text(),
            "from_checkpoint": published_note(older).text() if older else None,
        }
        return Response(ConsistencyProofSerializer(body).data)

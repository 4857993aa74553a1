"""DSAR API: customers file and follow their own requests; officers act on any request.

Customers need a recent MFA to file (a request can end in an export or an erasure of the
account). Another customer's request answers 404. Officer actions are the workflow table's
(``compliance.dsar.workflow``), the same as the admin queue's: ``POST /api/v1/officer/dsar/{id}/<action>/``.
Request bodies are built from the table and from the request types' declared inputs
(``compliance.dsar.serializers``).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.http import Http404, HttpResponse
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.exceptions import APIException, NotFound, ValidationError
from rest_framework.generics import ListAPIView
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from compliance.dsar import selectors, services
from compliance.dsar.export import export_read
from compliance.dsar.models import DataSubjectRequest, DsarExport
from compliance.dsar.serializers import (
    FileDsarSerializer,
    OfficerActionSerializer,
    OfficerFileSerializer,
    action_serializer,
)
from compliance.dsar.workflow import ACTIONS, action_for
from kernel.access import AuditedRefusal, HasPermission
from kernel.errors import JSONErrorsMixin
from kernel.permissions import HasRecentMFA


class StatusEventSerializer(serializers.Serializer):
    kind = serializers.CharField()
    from_status = serializers.CharField()
    to_status = serializers.CharField()
    at = serializers.DateTimeField(source="created_at")


class DsarSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    # Encrypted at rest and masked here: which fields a correction asks to change, never the values.
    requested_changes = serializers.DictField(
        source="requested_changes_masked", child=serializers.CharField(), read_only=True
    )

    class Meta:
        model = DataSubjectRequest
        fields: tuple[str, ...] = (
            "id",
            "type",
            "status",
            "details",
            "requested_changes",
            "purposes",
            "applied_at_filing",
            "channel",
            "received_at",
            "due_at",
            "extended_at",
            "extension_reason",
            "decision_reason",
            "outcome_statement",
            "fulfilled_at",
            "closed_at",
        )
        read_only_fields = tuple(f for f in fields if f not in ("type", "details", "requested_changes", "purposes"))


class DsarNoticeSerializer(serializers.Serializer):
    """A notice sent (or due) to the subject: what, when, through which channel, which template."""

    id = serializers.UUIDField(source="public_id")
    kind = serializers.CharField()
    channel = serializers.CharField()
    template_version = serializers.IntegerField()
    status = serializers.CharField()
    created_at = serializers.DateTimeField()
    sent_at = serializers.DateTimeField(allow_null=True)


class DsarDetailSerializer(DsarSerializer):
    history = serializers.SerializerMethodField()
    notices = serializers.SerializerMethodField()

    class Meta(DsarSerializer.Meta):
        fields = (*DsarSerializer.Meta.fields, "history", "notices")
        read_only_fields = (*DsarSerializer.Meta.fields, "history", "notices")

    def get_history(self, dsar: DataSubjectRequest) -> Any:
        return StatusEventSerializer(selectors.status_history_for_subject(dsar=dsar), many=True).data

    @extend_schema_field(DsarNoticeSerializer(many=True))
    def get_notices(self, dsar: DataSubjectRequest) -> Any:
        return DsarNoticeSerializer(selectors.notices_of_request(dsar=dsar), many=True).data


class DsarListCreateView(ListAPIView):
    """GET: my requests. POST: file a request (needs a recent MFA)."""

    serializer_class = DsarSerializer

    def get_permissions(self) -> list[BasePermission]:
        if self.request.method == "POST":
            return [IsAuthenticated(), HasRecentMFA()]
        return [IsAuthenticated()]

    def get_queryset(self):
        return selectors.dsars_of_subject(subject=self.request.user)

    @extend_schema(request=FileDsarSerializer, responses={201: DsarSerializer})
    def post(self, request: Request) -> Response:
        payload = FileDsarSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        dsar = services.dsar_file(subject=request.user, filed_by=request.user, **payload.validated_data)
        return Response(DsarSerializer(dsar).data, status=status.HTTP_201_CREATED)


class DsarDetailView(APIView):
    @extend_schema(responses=DsarDetailSerializer)
    def get(self, request: Request, public_id: str) -> Response:
        dsar = selectors.access_dsar_as_subject(viewer=request.user, public_id=public_id)
        return Response(DsarDetailSerializer(dsar).data)


IsDsarOfficer = HasPermission(services.PROCESS_PERMISSION, "Only an information officer may do this.")


class OfficerFileView(APIView):
    """Staff file a request on a subject's behalf, recording how identity was verified."""

    permission_classes = [IsAuthenticated, IsDsarOfficer]

    @extend_schema(operation_id="officer_dsar_file", request=OfficerFileSerializer, responses={201: DsarSerializer})
    def post(self, request: Request) -> Response:
        payload = OfficerFileSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = dict(payload.validated_data)
        try:
            subject = get_user_model().objects.get(public_id=data.pop("subject"), is_staff=False)
        except get_user_model().DoesNotExist as exc:
            raise ValidationError({"subject": ["No such customer."]}) from exc
        dsar = services.dsar_file(subject=subject, filed_by=request.user, **data)
        return Response(DsarSerializer(dsar).data, status=status.HTTP_201_CREATED)


def _actions_description() -> str:
    lines = ["The workflow table's actions (`action` in the path), the states they start from and their inputs:", ""]
    for action in ACTIONS:
        inputs = ", ".join(f"`{spec.name}`{'' if spec.required else ' (optional)'}" for spec in action.inputs)
        lines.append(
            f"- `{action.slug}` ({action.label}): from {', '.join(action.from_states)}; {inputs or 'no input'}."
        )
    return "\n".join(lines)


class OfficerActionView(APIView):
    permission_classes = [IsAuthenticated, IsDsarOfficer]

    @extend_schema(
        operation_id="officer_dsar_action",
        request=OfficerActionSerializer,
        responses=DsarSerializer,
        description=_actions_description(),
    )
    def post(self, request: Request, public_id: str, action: str) -> Response:
        row = action_for(action)
        if row is None:
            raise Http404
        dsar = selectors.access_dsar_for_officer(viewer=request.user, public_id=public_id)
        payload = action_serializer(row.slug)(data=request.data)
        payload.is_valid(raise_exception=True)
        services.dsar_act(row.slug, actor=request.user, dsar=dsar, inputs=payload.validated_data)
        dsar.refresh_from_db()
        return Response(DsarSerializer(dsar).data)


class ZipRenderer(BaseRenderer):
    media_type = "application/zip"
    format = "zip"
    charset = None
    render_style = "binary"

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        return data if isinstance(data, bytes) else b""


class ExportNotFound(AuditedRefusal, NotFound):
    """Another subject's bundle, or none: answered as any unknown id, recorded as a refused download."""


class ExportGone(AuditedRefusal, APIException):
    status_code = status.HTTP_410_GONE
    default_code = "export_expired"
    default_detail = "The download window of this export has closed; file a new access request."


class DsarDownloadView(JSONErrorsMixin, APIView):
    """The subject downloads their export (a recent MFA is required); every download is audited."""

    permission_classes = [IsAuthenticated, HasRecentMFA]
    renderer_classes = [JSONRenderer, ZipRenderer]

    @extend_schema(responses={(200, "application/zip"): bytes})
    def get(self, request: Request, public_id: str) -> HttpResponse:
        # Every refusal is audited (kernel.access.AuditedRefusal): no MFA (403), another customer's
        # bundle or none (404, the same answer), a closed download window (410).
        try:
            dsar = selectors.access_dsar_as_subject(viewer=request.user, public_id=public_id)
            export = dsar.export
        except (Http404, DsarExport.DoesNotExist) as exc:
            raise ExportNotFound from exc
        if not export.is_available:
            raise ExportGone
        content = export_read(export=export)
        services.dsar_export_download(actor=request.user, export=export, request=request)
        response = HttpResponse(content, content_type="application/zip")
        response["Content-Disposition"] = f'attachment; filename="personal-data-{dsar.public_id}.zip"'
        response["Cache-Control"] = "no-store"
        return response

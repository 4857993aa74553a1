"""Officer API for legal holds: list, place and release litigation and regulator holds on a subject.

    GET  /api/v1/officer/holds/                  holds, newest first (``?in_force=true`` narrows)
    POST /api/v1/officer/holds/                  place one (subject, kind, reason, hold_until)
    POST /api/v1/officer/holds/{id}/release/     release one, with a reason

Listing needs ``compliance.view_legalhold``; placing and releasing the information officer's
permissions and a recent MFA. Writes go through ``compliance.retention.services`` (audited).
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.shortcuts import get_object_or_404
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.exceptions import ValidationError
from rest_framework.generics import ListAPIView
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from compliance.retention.models import SUBJECT_HOLD_KINDS, LegalHold
from compliance.retention.serializers import LegalHoldSerializer, PlaceHoldSerializer, ReleaseHoldSerializer
from compliance.retention.services import (
    PLACE_PERMISSION,
    RELEASE_PERMISSION,
    hold_place,
    hold_release,
)
from kernel.access import HasPermission
from kernel.permissions import HasRecentMFA

_OFFICER_ONLY = "Only the information officer may do this."
CanViewHolds = HasPermission("compliance.view_legalhold", _OFFICER_ONLY)
CanPlaceHolds = HasPermission(PLACE_PERMISSION, _OFFICER_ONLY)
CanReleaseHolds = HasPermission(RELEASE_PERMISSION, _OFFICER_ONLY)


class OfficerHoldListView(ListAPIView):
    serializer_class = LegalHoldSerializer

    def get_permissions(self) -> list[BasePermission]:
        if self.request.method == "POST":
            return [IsAuthenticated(), CanPlaceHolds(), HasRecentMFA()]
        return [IsAuthenticated(), CanViewHolds()]

    def get_queryset(self):
        holds = LegalHold.objects.on_subjects().select_related("subject").order_by("-created_at", "-pk")
        if self.request.query_params.get("in_force") == "true":
            holds = holds.in_force(timezone.now())
        return holds

    @extend_schema(
        operation_id="officer_holds_list",
        parameters=[OpenApiParameter("in_force", OpenApiTypes.BOOL, description="Only holds in force.")],
    )
    def get(self, request: Request, *args: object, **kwargs: object) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        operation_id="officer_holds_place", request=PlaceHoldSerializer, responses={201: LegalHoldSerializer}
    )
    def post(self, request: Request) -> Response:
        payload = PlaceHoldSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        subject = get_user_model().objects.filter(public_id=data["subject"], is_staff=False).first()
        if subject is None:
            raise ValidationError({"subject": ["No such customer."]})
        hold = hold_place(
            actor=request.user,
            subject=subject,
            kind=data["kind"],
            reason=data["reason"],
            hold_until=data["hold_until"],
            tables=data["tables"],
            request=request,
        )
        return Response(LegalHoldSerializer(hold).data, status=status.HTTP_201_CREATED)


class OfficerHoldReleaseView(APIView):
    permission_classes = [IsAuthenticated, CanReleaseHolds, HasRecentMFA]

    @extend_schema(operation_id="officer_holds_release", request=ReleaseHoldSerializer, responses=LegalHoldSerializer)
    def post(self, request: Request, public_id: str) -> Response:
        hold = get_object_or_404(LegalHold.objects.filter(kind__in=SUBJECT_HOLD_KINDS), public_id=public_id)
        payload = ReleaseHoldSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        hold = hold_release(actor=request.user, hold=hold, reason=payload.validated_data["reason"], request=request)
        return Response(LegalHoldSerializer(hold).data)

"""Customer API for consent: purposes with their current notices, my consents, my history.

The subject is always ``request.user``: no endpoint takes a subject id, so another customer's
consents cannot even be named. Withdrawing is the same POST as granting, with no extra step.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.generics import GenericAPIView, ListAPIView
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response

from compliance.consent.models import ConsentChannel, ConsentEvent
from compliance.consent.selectors import consent_history_for, consent_states_for, public_purposes
from compliance.consent.services import consent_record


class StrictBooleanField(serializers.BooleanField):
    """Only JSON ``true``/``false``: "on", "1", "yes" or a missing value never become consent."""

    default_error_messages = {"invalid": "Must be true or false."}

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class ConsentChoiceSerializer(serializers.Serializer):
    """One consent choice; registration embeds ``ConsentChoiceSerializer(many=True)``.

    Shape checks only: the service checks the purpose, the lawful basis and that the notice
    version is current, inside the transaction that records the choice.
    """

    purpose = serializers.SlugField(max_length=64)
    granted = StrictBooleanField()
    notice_version = serializers.IntegerField(min_value=1)


class NoticeSerializer(serializers.Serializer):
    version = serializers.IntegerField()
    text = serializers.CharField()
    effective_at = serializers.DateTimeField()
    requires_reconsent = serializers.BooleanField()


class PurposeSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    lawful_basis = serializers.CharField()
    consent_required = serializers.BooleanField()
    data_categories = serializers.ListField(child=serializers.CharField())
    current_notice = NoticeSerializer(allow_null=True)


class ConsentStateSerializer(serializers.Serializer):
    purpose = serializers.CharField(source="purpose.code")
    name = serializers.CharField(source="purpose.name")
    lawful_basis = serializers.CharField(source="purpose.lawful_basis")
    consent_required = serializers.BooleanField()
    granted = serializers.BooleanField(allow_null=True, help_text="null: never answered (not granted).")
    granted_notice_version = serializers.IntegerField(allow_null=True)
    decided_at = serializers.DateTimeField(allow_null=True)
    current_notice_version = serializers.IntegerField(allow_null=True)
    reconsent_needed = serializers.BooleanField()
    restricted = serializers.BooleanField()
    objected = serializers.BooleanField()
    processing_allowed = serializers.BooleanField()


class ConsentEventSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id")
    purpose = serializers.CharField(source="purpose.code")
    notice_version = serializers.IntegerField(source="notice.version")

    class Meta:
        model = ConsentEvent
        fields = ("id", "purpose", "granted", "notice_version", "channel", "created_at")


class PurposeListView(ListAPIView):
    """The processing purposes and the notice currently in effect for each.

    Public (no account, no token: a declared public endpoint, ``fintech.api.PUBLIC_ENDPOINTS``):
    registration asks for the ``notice_version`` of each choice, so the notices must be readable
    before registering (POPIA s18). Read-only, the same for everyone, no personal information;
    cached server-side (``compliance.consent.selectors.public_purposes``)."""

    serializer_class = PurposeSerializer
    authentication_classes: list[type] = []  # a stale token must not turn a public read into a 401
    permission_classes = [AllowAny]
    http_method_names = ["get", "head", "options"]

    def get_queryset(self) -> list[dict[str, Any]]:  # type: ignore[override]  # rows, not a queryset
        return public_purposes()


class ConsentView(GenericAPIView):
    """My current consent state per purpose (GET), or grant / withdraw one (POST)."""

    serializer_class = ConsentChoiceSerializer

    @extend_schema(responses=ConsentStateSerializer(many=True))
    def get(self, request: Request) -> Response:
        states = consent_states_for(subject=request.user)
        page = self.paginate_queryset(states)
        return self.get_paginated_response(ConsentStateSerializer(page, many=True).data)

    @extend_schema(request=ConsentChoiceSerializer, responses={201: ConsentEventSerializer})
    def post(self, request: Request) -> Response:
        serializer = ConsentChoiceSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        # A refusal is a ConsentError (a DomainError): kernel.errors answers it in the error shape.
        event = consent_record(
            actor=request.user,
            subject=request.user,
            channel=ConsentChannel.API,
            request=request,
            **serializer.validated_data,
        )
        return Response(ConsentEventSerializer(event).data, status=status.HTTP_201_CREATED)


class ConsentHistoryView(ListAPIView):
    """My full consent history, newest first."""

    serializer_class = ConsentEventSerializer

    def get_queryset(self):
        return consent_history_for(subject=self.request.user)

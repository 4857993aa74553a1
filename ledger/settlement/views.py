"""Two-phase settlement API (issue 15, ADR 0005): provider webhooks, operations' four-eyes
confirmation, and the listings of pending movements. Thin: each view calls one service or selector.

The webhook endpoints are unauthenticated by design (a provider has no user): what authenticates a
delivery is its Standard Webhooks signature, checked over the raw body before anything is parsed
(ledger/settlement/services.py). Forged, stale and replayed deliveries answer 4xx in the JSON error shape
and change nothing.
"""

from __future__ import annotations

import uuid

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.selectors import acting_user
from kernel.permissions import HasRecentMFA
from ledger import selectors
from ledger.engine import ResolveResult
from ledger.permissions import CanSettle
from ledger.settlement import services as settlement
from ledger.settlement.processors import BANK, CARD_PROCESSOR
from ledger.settlement.serializers import (
    ConfirmationSerializer,
    PendingMovementSerializer,
    SettlementAnswerSerializer,
    StatementLineAnswerSerializer,
    StatementMatchSerializer,
    WebhookEventSerializer,
)

# Standard Webhooks (https://www.standardwebhooks.com/): what a provider signs, and how.
SIGNATURE_HEADERS = (
    ("webhook-id", "The provider's event id: consumed once (a replay answers 409)."),
    ("webhook-timestamp", "Unix seconds; refused outside LEDGER_WEBHOOK_TOLERANCE_SECONDS of now."),
    ("webhook-signature", "v1,<base64 HMAC-SHA256 of 'id.timestamp.body' with the provider's secret>."),
)


def _settled(result: ResolveResult) -> dict:
    return {
        "id": str(result.pending_public_id),
        "status": result.outcome,
        "settled_entry": str(result.posted_public_id) if result.posted_public_id else None,
    }


class _WebhookView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]  # the signature is the authentication (ledger/settlement/services.py)
    provider = ""

    @extend_schema(
        request=WebhookEventSerializer,
        responses={200: SettlementAnswerSerializer},
        auth=[],
        parameters=[
            OpenApiParameter(name, str, OpenApiParameter.HEADER, required=True, description=text)
            for name, text in SIGNATURE_HEADERS
        ],
    )
    def post(self, request: Request) -> Response:
        result = settlement.webhook_receive(
            provider=self.provider, body=request.body, headers=dict(request.headers), request=request
        )
        return Response(_settled(result))


class CardProcessorWebhookView(_WebhookView):
    """The card processor's signed notifications: payment.captured posts a card deposit, payment.failed voids it."""

    provider = CARD_PROCESSOR


class BankWebhookView(_WebhookView):
    """The bank's signed notifications: deposit.received (EFT), payout.paid and payout.failed."""

    provider = BANK


class PendingMovementListView(APIView):
    """The caller's own deposits and withdrawals (newest 200) and where each stands."""

    permission_classes = [IsAuthenticated]

    @extend_schema(responses={200: PendingMovementSerializer(many=True)})
    def get(self, request: Request) -> Response:
        rows = [selectors.movement_row(entry) for entry in selectors.pending_movements_for(viewer=acting_user(request))]
        return Response(PendingMovementSerializer(rows, many=True).data)


class PendingQueueView(APIView):
    """Operations: movements nothing has settled or voided yet (oldest 200 first)."""

    permission_classes = [IsAuthenticated, CanSettle]

    @extend_schema(responses={200: PendingMovementSerializer(many=True)})
    def get(self, request: Request) -> Response:
        rows = [selectors.movement_row(entry) for entry in selectors.pending_queue()]
        return Response(PendingMovementSerializer(rows, many=True).data)


class StatementLineView(APIView):
    """Operations, first person: the bank statement line that shows this EFT deposit or payout."""

    permission_classes = [IsAuthenticated, CanSettle, HasRecentMFA]

    @extend_schema(request=StatementMatchSerializer, responses={201: StatementLineAnswerSerializer})
    def post(self, request: Request, public_id: uuid.UUID) -> Response:
        serializer = StatementMatchSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        settlement.statement_line_record(
            actor=acting_user(request),
            pending=public_id,
            statement_line=serializer.validated_data["statement_line"],
            request=request,
        )
        return Response({"id": str(public_id), "statement_line_recorded": True}, status=status.HTTP_201_CREATED)


class ConfirmationView(APIView):
    """Operations, second person: post (or void) the movement against the recorded statement line."""

    permission_classes = [IsAuthenticated, CanSettle, HasRecentMFA]

    @extend_schema(request=ConfirmationSerializer, responses={200: SettlementAnswerSerializer})
    def post(self, request: Request, public_id: uuid.UUID) -> Response:
        serializer = ConfirmationSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        result = settlement.pending_confirm(
            actor=acting_user(request), pending=public_id, outcome=serializer.validated_data["outcome"], request=request
        )
        return Response(_settled(result))

"""Card endpoints: thin views over ledger/cards/services.py.

Customers add, list, read and remove their own cards (masked number only); operations staff with
the reveal permission and a recent MFA read one full PAN for a stated reason (audited). Nothing a
client submits is echoed back except through the masked representation.
"""

from __future__ import annotations

import uuid
from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, generics, status
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.selectors import acting_user
from kernel.permissions import HasRecentMFA
from ledger.cards import services as cards
from ledger.cards.serializers import (
    CardCreateSerializer,
    CardRevealRequestSerializer,
    CardRevealSerializer,
    CardSerializer,
)

NO_STORE = "no-store"


class CanRevealCardPan(BasePermission):
    message = "Only staff with the card-reveal permission may do this."

    def has_permission(self, request: Request, view: object) -> bool:
        return cards.can_reveal_pan(request.user)


class CardListView(generics.ListAPIView):
    """GET: the caller's own cards. POST: add a card (recent MFA; the CVV is checked once, never kept)."""

    serializer_class = CardSerializer

    def get_permissions(self) -> list[BasePermission]:
        if self.request.method == "POST":
            return [IsAuthenticated(), HasRecentMFA()]
        return [IsAuthenticated()]

    def get_queryset(self):
        return cards.cards_for(viewer=self.request.user)

    @extend_schema(request=CardCreateSerializer, responses={201: CardSerializer})
    def post(self, request: Request) -> Response:
        serializer = CardCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        card = cards.card_add(
            actor=acting_user(request), pan=data["pan"], expiry=data["expiry"], cvv=data["cvv"],
            holder=data.get("holder"), request=request,
        )  # fmt: skip
        response = Response(CardSerializer(card).data, status=status.HTTP_201_CREATED)
        response["Cache-Control"] = NO_STORE
        return response


class CardDetailView(APIView):
    """GET: one of the caller's cards (masked). DELETE: remove it (the PAN is erased)."""

    @extend_schema(responses={200: CardSerializer})
    def get(self, request: Request, public_id: uuid.UUID) -> Response:
        card = cards.card_get(viewer=acting_user(request), public_id=public_id)
        if card is None:
            raise exceptions.NotFound()
        return Response(CardSerializer(card).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, public_id: uuid.UUID) -> Response:
        cards.card_remove(actor=acting_user(request), card=public_id, request=request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class CardRevealView(APIView):
    """Operations: one card's full number, for a reason, after a recent MFA; CARD_DATA_ACCESS audited."""

    permission_classes = [IsAuthenticated, CanRevealCardPan, HasRecentMFA]

    @extend_schema(request=CardRevealRequestSerializer, responses={200: CardRevealSerializer})
    def post(self, request: Request, public_id: uuid.UUID) -> Response:
        serializer = CardRevealRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        card, pan = cards.card_reveal_pan(
            actor=acting_user(request), card=public_id, reason=serializer.validated_data["reason"], request=request
        )
        body: dict[str, Any] = {"id": str(card.public_id), "pan": pan, "expiry": card.expiry}
        response = Response(body)
        # Never cached by a browser or proxy.
        response["Cache-Control"] = NO_STORE
        return response

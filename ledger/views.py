"""Ledger API: thin views that validate input, call one service or selector and shape the answer.

Hot endpoints stay O(1) in queries: money movement is the JWT user lookup plus one ledger_move
call; reads are the user lookup plus one or two scoped queries (asserted in the tests).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any, cast

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, generics, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.selectors import acting_user
from kernel.db_router import reporting_reads
from kernel.errors import JSONErrorsMixin
from kernel.pagination import ValidatedCursorPagination
from kernel.permissions import HasRecentMFA
from ledger import selectors, services
from ledger.engine import MoveResult
from ledger.models import JournalEntry
from ledger.permissions import CanDecideKyc, CanReverseEntries
from ledger.renderers import StatementCSVRenderer
from ledger.serializers import (
    AccountSerializer,
    BankAccountSerializer,
    DepositAnswerSerializer,
    DepositSerializer,
    KycApprovalSerializer,
    KycDecisionSerializer,
    KycDuplicateClearanceSerializer,
    KycStatusSerializer,
    KycSubmitSerializer,
    ReversalAnswerSerializer,
    ReversalRequestAnswerSerializer,
    ReversalSerializer,
    StatementLineSerializer,
    TransferAnswerSerializer,
    TransferBatchAnswerSerializer,
    TransferBatchSerializer,
    TransferSerializer,
    WithdrawalAnswerSerializer,
    WithdrawalSerializer,
)

IDEMPOTENCY_HEADER = "Idempotency-Key"
# Declared on every movement, so the documentation's "Try it out" can send one.
IDEMPOTENCY_PARAMETER = OpenApiParameter(
    IDEMPOTENCY_HEADER,
    str,
    OpenApiParameter.HEADER,
    required=True,
    pattern=r"^[A-Za-z0-9_.:\-]{8,100}$",
    description=(
        "A key you choose per movement (8-100 letters, digits, _ . : -), e.g. a UUID. Sending the same "
        "key with the same body again replays the first answer (header Idempotent-Replayed: true) "
        "instead of moving money twice; the same key with another body is a 409."
    ),
)
STATEMENT_CSV_MAX_ROWS = 10_000


def movement_schema(request: type, answer: type, description: str) -> Any:
    """The documentation of a money movement: its body, its answer, the Idempotency-Key header."""
    return extend_schema(
        request=request,
        responses={201: answer},
        parameters=[IDEMPOTENCY_PARAMETER],
        description=f"{description} Needs a recent second factor (step-up) and an Idempotency-Key.",
    )


def movement_answer(data: dict[str, Any], result: MoveResult, body: dict[str, Any]) -> dict[str, Any]:
    """What every movement answers: the entry, what was asked, and the movement's own part."""
    return {
        "id": str(result.entry_public_id),
        "amount": data["amount"],
        "currency": data["currency"],
        "reference": services.clean_reference(data.get("reference", "")),
        "created_at": result.created_at.isoformat().replace("+00:00", "Z"),
        **body,
    }


class MovementView(APIView):
    """POST with an Idempotency-Key: the same key and body replay the original answer.

    Subclasses define ``perform`` (call one service) and ``body`` (their part of the answer).
    """

    if TYPE_CHECKING:  # what every subclass defines (declared for the type checker only)

        def perform(self, request: Request, data: dict[str, Any], key: str) -> MoveResult: ...

        def body(self, data: dict[str, Any], result: MoveResult) -> dict[str, Any]: ...

    permission_classes = [IsAuthenticated, HasRecentMFA]
    serializer_class: type = DepositSerializer

    def post(self, request: Request) -> Response:
        key = request.headers.get(IDEMPOTENCY_HEADER, "")
        services.validate_idempotency_key(key)
        serializer = self.serializer_class(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        result = self.perform(request, data, key)
        response = Response(movement_answer(data, result, self.body(data, result)), status=status.HTTP_201_CREATED)
        if result.replayed:
            response["Idempotent-Replayed"] = "true"
        return response


class DepositView(MovementView):
    serializer_class = DepositSerializer

    @movement_schema(
        DepositSerializer,
        DepositAnswerSerializer,
        (
            "Deposit into your own wallet (card, EFT or cash); card deposits settle at once, EFT deposits "
            "stay pending until the bank confirms."
        ),
    )
    def post(self, request: Request) -> Response:
        return super().post(request)

    def perform(self, request: Request, data: dict[str, Any], key: str) -> MoveResult:
        return services.deposit_create(
            actor=acting_user(request),
            account=data["account"],
            amount=data["amount"],
            currency=data["currency"],
            channel=data["method"],
            funding_source=data["funding_source"],
            idempotency_key=key,
            reference=data["reference"],
            request=request,
        )

    def body(self, data: dict[str, Any], result: MoveResult) -> dict[str, Any]:
        return {
            "type": "deposit",
            "account": str(result.to_public),
            "balance_after": result.to_balance_after,
            "status": result.extra.get("status", "pending"),
        }


class WithdrawalView(MovementView):
    serializer_class = WithdrawalSerializer

    @movement_schema(
        WithdrawalSerializer,
        WithdrawalAnswerSerializer,
        (
            "Pay out from your wallet to one of your verified bank accounts; the money is held until the bank "
            "confirms the payout."
        ),
    )
    def post(self, request: Request) -> Response:
        return super().post(request)

    def perform(self, request: Request, data: dict[str, Any], key: str) -> MoveResult:
        return services.withdrawal_create(
            actor=acting_user(request),
            account=data["account"],
            bank_account=data["bank_account"],
            amount=data["amount"],
            currency=data["currency"],
            idempotency_key=key,
            reference=data["reference"],
            request=request,
        )

    def body(self, data: dict[str, Any], result: MoveResult) -> dict[str, Any]:
        return {
            "type": "withdrawal",
            "account": str(result.from_public),
            "bank_account": str(data["bank_account"]),
            "balance_after": result.from_balance_after,
            "status": result.extra.get("status", "pending"),
        }


class TransferView(MovementView):
    serializer_class = TransferSerializer

    @movement_schema(
        TransferSerializer,
        TransferAnswerSerializer,
        "Move money from your wallet to another customer's wallet, at once.",
    )
    def post(self, request: Request) -> Response:
        return super().post(request)

    def perform(self, request: Request, data: dict[str, Any], key: str) -> MoveResult:
        return services.transfer_create(
            actor=acting_user(request),
            source_account=data["source_account"],
            destination_account=data["destination_account"],
            amount=data["amount"],
            currency=data["currency"],
            idempotency_key=key,
            reference=data["reference"],
            request=request,
        )

    @staticmethod
    def body(data: dict[str, Any], result: MoveResult) -> dict[str, Any]:
        # Only the sender's balance: the recipient's is none of the sender's business.
        # (Static: the bulk view answers each of its transfers with it too.)
        return {
            "type": "transfer",
            "source_account": str(result.from_public),
            "destination_account": str(result.to_public),
            "balance_after": result.from_balance_after,
        }


class TransferBatchView(APIView):
    """POST a bulk payment: many transfers from the customer's own wallet, all or nothing.

    Every item carries its own ``idempotency_key`` (no header): resubmitting the batch, or part of
    it, replays the items already made (``"replayed": true``) and makes the rest. A refused item
    refuses the batch; the error names it in ``fields`` (``transfers.<index>``).
    """

    permission_classes = [IsAuthenticated, HasRecentMFA]

    @extend_schema(request=TransferBatchSerializer, responses={201: TransferBatchAnswerSerializer})
    def post(self, request: Request) -> Response:
        serializer = TransferBatchSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        items = serializer.validated_data["transfers"]
        results = services.transfer_batch_create(actor=acting_user(request), transfers=items, request=request)
        response = Response(
            {
                "transfers": [
                    {
                        **movement_answer(item, result, TransferView.body(item, result)),
                        "idempotency_key": item["idempotency_key"],
                        "replayed": result.replayed,
                    }
                    for item, result in zip(items, results, strict=True)
                ]
            },
            status=status.HTTP_201_CREATED,
        )
        if all(result.replayed for result in results):
            response["Idempotent-Replayed"] = "true"
        return response


class AccountListView(generics.ListAPIView):
    serializer_class = AccountSerializer

    def get_queryset(self):
        return selectors.wallets_for(viewer=self.request.user)


class AccountDetailView(generics.RetrieveAPIView):
    serializer_class = AccountSerializer

    def get_object(self):
        return selectors.access_wallet(viewer=self.request.user, public_id=self.kwargs["public_id"])


class StatementPagination(ValidatedCursorPagination):
    ordering = ("-created_at", "-pk")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class StatementView(JSONErrorsMixin, generics.ListAPIView):
    """An account's postings, newest first; ``?format=csv`` exports up to 10,000 lines as CSV."""

    serializer_class = StatementLineSerializer
    pagination_class = StatementPagination
    renderer_classes = [JSONRenderer, StatementCSVRenderer]

    @extend_schema(parameters=[OpenApiParameter("format", str, enum=["json", "csv"], required=False)])
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        account = selectors.access_wallet(viewer=self.request.user, public_id=self.kwargs["public_id"])
        return selectors.statement_for(viewer=self.request.user, account=account)

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        if getattr(request.accepted_renderer, "format", None) != "csv":
            return super().list(request, *args, **kwargs)
        with reporting_reads():  # the export reads the replica when there is one
            lines = self.get_queryset()[:STATEMENT_CSV_MAX_ROWS]
            response = Response(self.get_serializer(lines, many=True).data)
        response["Content-Disposition"] = f'attachment; filename="statement-{self.kwargs["public_id"]}.csv"'
        return response


class KycView(APIView):
    """GET: the customer's own KYC status. POST: submit (or resubmit) identity details."""

    @extend_schema(responses={200: KycStatusSerializer})
    def get(self, request: Request) -> Response:
        record = selectors.kyc_for(viewer=acting_user(request))
        if record is None:
            raise exceptions.NotFound()
        return Response(KycStatusSerializer(record).data)

    @extend_schema(request=KycSubmitSerializer, responses={201: KycStatusSerializer})
    def post(self, request: Request) -> Response:
        serializer = KycSubmitSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        record = services.kyc_submit(actor=acting_user(request), request=request, **serializer.validated_data)
        return Response(KycStatusSerializer(record).data, status=status.HTTP_201_CREATED)


class KycDecisionView(APIView):
    """Operations (or a KYC provider integration acting as an operations user) decide a submission."""

    permission_classes = [IsAuthenticated, CanDecideKyc]

    @extend_schema(request=KycDecisionSerializer, responses={200: KycStatusSerializer, 202: KycStatusSerializer})
    def post(self, request: Request, public_id: uuid.UUID) -> Response:
        serializer = KycDecisionSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        record = services.kyc_decide(
            actor=acting_user(request),
            record=public_id,
            verify=data["decision"] == "verify",
            tier=data["tier"],
            reason=data["reason"],
            request=request,
        )
        # Tier 2+ is four eyes: accepted, waiting for a second operations user (KycApprovalView).
        answer = status.HTTP_202_ACCEPTED if record.awaiting_approval else status.HTTP_200_OK
        return Response(KycStatusSerializer(record).data, status=answer)


class KycApprovalView(APIView):
    """The second operations user approves or rejects a tier 2+ verification (four eyes)."""

    permission_classes = [IsAuthenticated, CanDecideKyc]

    @extend_schema(request=KycApprovalSerializer, responses={200: KycStatusSerializer})
    def post(self, request: Request, public_id: uuid.UUID) -> Response:
        serializer = KycApprovalSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        record = services.kyc_approve(
            actor=acting_user(request),
            record=public_id,
            approve=data["decision"] == "approve",
            reason=data["reason"],
            request=request,
        )
        return Response(KycStatusSerializer(record).data)


class KycDuplicateClearanceView(APIView):
    """A reviewer clears the duplicate-identity flag of a pending submission (with a reason)."""

    permission_classes = [IsAuthenticated, CanDecideKyc]

    @extend_schema(request=KycDuplicateClearanceSerializer, responses={200: KycStatusSerializer})
    def post(self, request: Request, public_id: uuid.UUID) -> Response:
        serializer = KycDuplicateClearanceSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        record = services.kyc_duplicate_clear(
            actor=acting_user(request), record=public_id, reason=serializer.validated_data["reason"], request=request
        )
        return Response(KycStatusSerializer(record).data)


class ReversalView(APIView):
    permission_classes = [IsAuthenticated, CanReverseEntries, HasRecentMFA]

    @extend_schema(request=ReversalSerializer, responses={201: ReversalAnswerSerializer})
    def post(self, request: Request, public_id: uuid.UUID) -> Response:
        serializer = ReversalSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        result = services.reversal_create(
            actor=acting_user(request), entry=public_id, reason=serializer.validated_data["reason"], request=request
        )
        return Response(
            {"id": str(result.entry_public_id), "type": "reversal", "reverses": str(public_id)},
            status=status.HTTP_201_CREATED,
        )


class ReversalRequestView(APIView):
    """Four eyes (issue 15): ask for the reversal of a large entry; a colleague approves it."""

    permission_classes = [IsAuthenticated, CanReverseEntries, HasRecentMFA]

    @extend_schema(request=ReversalSerializer, responses={201: ReversalRequestAnswerSerializer})
    def post(self, request: Request, public_id: uuid.UUID) -> Response:
        serializer = ReversalSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        pending = services.reversal_request(
            actor=acting_user(request), entry=public_id, reason=serializer.validated_data["reason"], request=request
        )
        return Response(
            {"id": str(pending.public_id), "entry": str(public_id), "status": "awaiting_approval"},
            status=status.HTTP_201_CREATED,
        )


class ReversalApprovalView(APIView):
    """The second operations user approves a reversal request; the reversal is posted."""

    permission_classes = [IsAuthenticated, CanReverseEntries, HasRecentMFA]

    @extend_schema(request=None, responses={201: ReversalAnswerSerializer})
    def post(self, request: Request, public_id: uuid.UUID) -> Response:
        approved = services.reversal_approve(actor=acting_user(request), reversal_request=public_id, request=request)
        reversal = cast(JournalEntry, approved.reversal)  # approving posts the reversal
        return Response(
            {"id": str(reversal.public_id), "type": "reversal", "reverses": str(approved.entry.public_id)},
            status=status.HTTP_201_CREATED,
        )


class BankAccountListView(generics.ListCreateAPIView):
    serializer_class = BankAccountSerializer

    def get_queryset(self):
        return selectors.bank_accounts_for(viewer=self.request.user)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        bank = services.bank_account_add(actor=acting_user(request), request=request, **serializer.validated_data)
        return Response(self.get_serializer(bank).data, status=status.HTTP_201_CREATED)

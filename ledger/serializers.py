"""API input validation and output shapes for the ledger. Messages describe the rule, never the input."""

from __future__ import annotations

import uuid
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from ledger import limits
from ledger.models import MOVEMENT_STATUSES, BankAccount, KycRecord, LedgerAccount, Posting
from ledger.services import CARD_LIKE, IDEMPOTENCY_KEY


@extend_schema_field(OpenApiTypes.INT64)
class MinorUnitsField(serializers.Field):
    """An amount in integer minor units: a JSON integer, > 0 and <= MAX_AMOUNT_MINOR.

    Stricter than IntegerField on purpose: 10.0, "10", true and 1e3 are refused, so a client
    bug that sends major units or floats fails loudly instead of moving a rounded amount.
    """

    default_error_messages = {
        "invalid": "Must be a whole number of minor units (a JSON integer).",
        "range": f"Must be greater than 0 and at most {limits.MAX_AMOUNT_MINOR}.",
    }

    def to_internal_value(self, data: Any) -> int:
        if type(data) is not int:
            self.fail("invalid")
        if data <= 0 or data > limits.MAX_AMOUNT_MINOR:
            self.fail("range")
        return data

    def to_representation(self, value: int) -> int:
        return int(value)


def currency_field() -> serializers.ChoiceField:
    return serializers.ChoiceField(
        choices=limits.SUPPORTED_CURRENCIES,
        error_messages={"invalid_choice": "Unsupported currency: use one of " + ", ".join(limits.SUPPORTED_CURRENCIES)},
    )


def reference_field() -> serializers.CharField:
    return serializers.CharField(max_length=140, required=False, allow_blank=True, default="")


def _not_card_data(value: str) -> None:
    # The funding source is a card id (UUID) or EFT reference; a card number must never land in
    # the ledger. A canonical UUID is never a PAN, though its digit groups can look like one.
    if len(value) == 36:
        try:
            uuid.UUID(value)
        except ValueError:
            pass
        else:
            return
    if CARD_LIKE.search(value):
        raise serializers.ValidationError("Send a funding token or reference, never card details.")


class DepositSerializer(serializers.Serializer):
    account = serializers.UUIDField()
    amount = MinorUnitsField()
    currency = currency_field()
    method = serializers.ChoiceField(choices=["card", "eft"], error_messages={"invalid_choice": "Use card or eft."})
    funding_source = serializers.CharField(max_length=64, validators=[_not_card_data])
    reference = reference_field()


class WithdrawalSerializer(serializers.Serializer):
    account = serializers.UUIDField()
    bank_account = serializers.UUIDField()
    amount = MinorUnitsField()
    currency = currency_field()
    reference = reference_field()


class TransferSerializer(serializers.Serializer):
    source_account = serializers.UUIDField()
    destination_account = serializers.UUIDField()
    amount = MinorUnitsField()
    currency = currency_field()
    reference = reference_field()


class TransferBatchItemSerializer(TransferSerializer):
    idempotency_key = serializers.RegexField(
        IDEMPOTENCY_KEY,
        error_messages={"invalid": "8 to 100 characters: letters, digits, '_', '.', ':' or '-'."},
    )


class TransferBatchSerializer(serializers.Serializer):
    """A bulk payment: up to LEDGER_TRANSFER_BATCH_MAX transfers, each with its own idempotency key."""

    transfers = serializers.ListField(child=TransferBatchItemSerializer(), min_length=1)

    def validate_transfers(self, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if len(value) > limits.transfer_batch_max():
            raise serializers.ValidationError(f"At most {limits.transfer_batch_max()} transfers per request.")
        keys = [item["idempotency_key"] for item in value]
        if len(set(keys)) != len(keys):
            raise serializers.ValidationError("Each transfer needs a different idempotency key.")
        return value


class AccountSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    available_balance = serializers.IntegerField(
        read_only=True, help_text="Spendable: the posted balance minus pending money out (pending_out)."
    )
    pending_in = serializers.IntegerField(
        source="pending_credits", read_only=True, help_text="Deposits awaiting settlement (not spendable)."
    )
    pending_out = serializers.IntegerField(
        source="pending_debits", read_only=True, help_text="Withdrawals awaiting the bank's confirmation."
    )

    class Meta:
        model = LedgerAccount
        fields = ["id", "kind", "currency", "balance", "available_balance", "pending_in", "pending_out", "created_at"]
        read_only_fields = fields


class StatementLineSerializer(serializers.ModelSerializer):
    entry = serializers.UUIDField(source="entry.public_id", read_only=True)
    type = serializers.CharField(source="entry.entry_type", read_only=True)
    reference = serializers.CharField(source="entry.reference", read_only=True)

    class Meta:
        model = Posting
        fields = ["entry", "type", "amount", "currency", "balance_after", "reference", "created_at"]
        read_only_fields = fields


class KycSubmitSerializer(serializers.Serializer):
    id_number = serializers.RegexField(
        r"^\d{13}$", error_messages={"invalid": "Must be a 13-digit South African ID number."}
    )
    date_of_birth = serializers.DateField()
    document_reference = serializers.CharField(max_length=64)


class KycStatusSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    awaiting_approval = serializers.BooleanField(
        read_only=True, help_text="A tier 2+ verification waits for a second operations user."
    )

    class Meta:
        model = KycRecord
        fields = ["id", "status", "tier", "submitted_at", "decided_at", "awaiting_approval"]
        read_only_fields = fields


class KycDecisionSerializer(serializers.Serializer):
    decision = serializers.ChoiceField(
        choices=["verify", "reject"], error_messages={"invalid_choice": "Use verify or reject."}
    )
    tier = serializers.ChoiceField(choices=list(limits.KYC_TIERS), required=False, default=1)
    reason = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")


class KycApprovalSerializer(serializers.Serializer):
    decision = serializers.ChoiceField(
        choices=["approve", "reject"], error_messages={"invalid_choice": "Use approve or reject."}
    )
    reason = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")


class KycDuplicateClearanceSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=255)


class BankAccountSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    account_number = serializers.RegexField(
        r"^\d{6,16}$", write_only=True, error_messages={"invalid": "Must be 6 to 16 digits."}
    )
    branch_code = serializers.RegexField(r"^\d{6}$", error_messages={"invalid": "Must be 6 digits."})
    account_number_masked = serializers.CharField(source="masked_account_number", read_only=True)

    class Meta:
        model = BankAccount
        fields = ["id", "bank_name", "branch_code", "account_number", "account_number_masked", "verified"]
        read_only_fields = ["id", "verified", "account_number_masked"]


class ReversalSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=140)


# --- What the movement endpoints answer (for the OpenAPI schema; the views build the dicts) -----
# Every field is always present; tests/ledger/test_api_response_schemas.py validates real answers
# against the generated schema, and the API fuzz run checks every answer it provokes.


class _MovementAnswer(serializers.Serializer):
    id = serializers.UUIDField(help_text="The journal entry.")
    amount = serializers.IntegerField(help_text="Minor units.")
    currency = serializers.CharField()
    reference = serializers.CharField(allow_blank=True)
    created_at = serializers.DateTimeField()
    balance_after = serializers.IntegerField(help_text="The caller's account balance after this entry.")


class _PendingMovementAnswer(_MovementAnswer):
    status = serializers.ChoiceField(
        choices=MOVEMENT_STATUSES,
        help_text=(
            "pending: a claim, not spendable, until a verified settlement posts it; posted: settled; "
            "voided: declined, failed or expired (nothing moved)."
        ),
    )
    balance_after = serializers.IntegerField(
        help_text="The account's posted balance after this entry: a pending movement does not change it."
    )


class DepositAnswerSerializer(_PendingMovementAnswer):
    type = serializers.ChoiceField(choices=["deposit"])
    account = serializers.UUIDField()


class WithdrawalAnswerSerializer(_PendingMovementAnswer):
    type = serializers.ChoiceField(choices=["withdrawal"])
    account = serializers.UUIDField()
    bank_account = serializers.UUIDField()


class TransferAnswerSerializer(_MovementAnswer):
    type = serializers.ChoiceField(choices=["transfer"])
    source_account = serializers.UUIDField()
    destination_account = serializers.UUIDField()


class TransferBatchItemAnswerSerializer(TransferAnswerSerializer):
    idempotency_key = serializers.CharField()
    replayed = serializers.BooleanField(help_text="True if this key had already made this transfer.")


class TransferBatchAnswerSerializer(serializers.Serializer):
    transfers = TransferBatchItemAnswerSerializer(many=True, help_text="One answer per item, in item order.")


class ReversalAnswerSerializer(serializers.Serializer):
    id = serializers.UUIDField(help_text="The reversing entry.")
    type = serializers.ChoiceField(choices=["reversal"])
    reverses = serializers.UUIDField()


class ReversalRequestAnswerSerializer(serializers.Serializer):
    id = serializers.UUIDField(help_text="The reversal request, for a second operations user to approve.")
    entry = serializers.UUIDField(help_text="The entry to reverse.")
    status = serializers.ChoiceField(choices=["awaiting_approval"])

"""Card API shapes. Write-only PAN and CVV; every error message names the rule, never the value.

The validators call the same functions as ``ledger.cards.card_add`` (which checks again): a
malformed card is a 400 with per-field messages such as "Invalid security code.".
"""

from __future__ import annotations

from typing import Any, cast

from rest_framework import serializers

from ledger.cards import services as cards
from ledger.cards.models import Card
from ledger.exceptions import LedgerError

# Fixed messages for DRF's own type/blank/null/length failures too: none of them includes the input.
_MESSAGES = {
    "pan": "Invalid card number.",
    "expiry": "Invalid expiry date: use MM/YY.",
    "cvv": "Invalid security code.",
    "holder": "Invalid card holder name.",
}


def _fixed_errors(field: str) -> dict[str, Any]:
    message = _MESSAGES[field]
    return dict.fromkeys(("invalid", "blank", "null", "max_length", "min_length"), message) | {
        "required": "This field is required."
    }


class CardCreateSerializer(serializers.Serializer):
    pan = serializers.CharField(write_only=True, max_length=23, error_messages=_fixed_errors("pan"))
    expiry = serializers.CharField(max_length=5, error_messages=_fixed_errors("expiry"))
    # The security code is only ever written: never rendered, never stored (ledger/cards/services.py).
    cvv = serializers.CharField(
        write_only=True, max_length=4, trim_whitespace=False, error_messages=_fixed_errors("cvv"),
        style={"input_type": "password"},
    )  # fmt: skip
    holder = serializers.CharField(
        max_length=26, required=False, allow_blank=True, allow_null=True, error_messages=_fixed_errors("holder")
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        errors: dict[str, list[str]] = {}
        digits = brand = None
        for field, function in (("pan", cards.normalise_pan), ("expiry", cards.parse_expiry)):
            try:
                result = function(attrs[field])
            except LedgerError as error:
                errors[field] = [error.message]
                continue
            if field == "pan":
                digits = cast(str, result)  # normalise_pan's result
        if digits is not None:
            try:
                brand = cards.card_brand(digits)
            except LedgerError as error:
                errors["pan"] = [error.message]
        if (brand is not None and not cards.security_code_valid_for(brand, attrs["cvv"])) or (
            brand is None and not (attrs["cvv"].isascii() and attrs["cvv"].isdigit() and len(attrs["cvv"]) in (3, 4))
        ):
            errors["cvv"] = [_MESSAGES["cvv"]]
        try:
            cards._clean_holder(attrs.get("holder"))
        except LedgerError as error:
            errors["holder"] = [error.message]
        if errors:
            raise serializers.ValidationError(errors)
        return attrs


class CardSerializer(serializers.ModelSerializer):
    """What a customer sees of a card: the masked number only."""

    id = serializers.UUIDField(source="public_id", read_only=True)
    masked_pan = serializers.CharField(read_only=True)
    expiry = serializers.CharField(read_only=True)

    class Meta:
        model = Card
        fields = ["id", "brand", "masked_pan", "expiry", "holder", "active", "created_at"]
        read_only_fields = fields


class CardRevealRequestSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=140)


class CardRevealSerializer(serializers.Serializer):
    id = serializers.UUIDField(source="public_id")
    pan = serializers.CharField()
    expiry = serializers.CharField()

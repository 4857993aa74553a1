"""The settlement API's serializers (ADR 0005): pending movements, the four-eyes confirmation,
provider notifications."""

from __future__ import annotations

from rest_framework import serializers

from ledger.models import MOVEMENT_STATUSES


class PendingMovementSerializer(serializers.Serializer):
    """A deposit or withdrawal and where it stands (the listing of pending movements)."""

    id = serializers.UUIDField(source="public_id", help_text="The pending entry (the EFT payment reference).")
    type = serializers.CharField(source="entry_type")
    channel = serializers.CharField()
    amount = serializers.IntegerField(help_text="Minor units.")
    currency = serializers.CharField()
    status = serializers.ChoiceField(choices=MOVEMENT_STATUSES)
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField(allow_null=True, help_text="An unsettled deposit voids then.")
    settled_entry = serializers.UUIDField(allow_null=True, help_text="The posted entry, once settled.")
    statement_line_recorded = serializers.BooleanField(help_text="Operations recorded a bank statement line.")


class StatementMatchSerializer(serializers.Serializer):
    statement_line = serializers.CharField(max_length=64, help_text="The bank statement line's reference.")


class ConfirmationSerializer(serializers.Serializer):
    outcome = serializers.ChoiceField(
        choices=["posted", "voided"], required=False, default="posted",
        error_messages={"invalid_choice": "Use posted or voided."},
    )  # fmt: skip


class SettlementAnswerSerializer(serializers.Serializer):
    id = serializers.UUIDField(help_text="The pending entry.")
    status = serializers.ChoiceField(choices=["posted", "voided"])
    settled_entry = serializers.UUIDField(allow_null=True, help_text="The posted entry (null when voided).")


class StatementLineAnswerSerializer(serializers.Serializer):
    id = serializers.UUIDField(help_text="The pending entry.")
    statement_line_recorded = serializers.BooleanField()


class WebhookDataSerializer(serializers.Serializer):
    reference = serializers.UUIDField(help_text="The pending entry's id (our merchant / payment reference).")
    amount = serializers.IntegerField()
    currency = serializers.CharField()
    statement_line = serializers.CharField(required=False)


class WebhookEventSerializer(serializers.Serializer):
    """A provider notification (Standard Webhooks: signed with the webhook-id, -timestamp and
    -signature headers; the raw body is what is verified)."""

    type = serializers.CharField(
        help_text="payment.captured, payment.failed, deposit.received, payout.paid, payout.failed."
    )
    data = WebhookDataSerializer()  # type: ignore[assignment]  # the wire name; DRF moves fields off the class

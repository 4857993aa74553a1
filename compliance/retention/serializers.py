"""The officer API's legal holds: what is shown of a hold, and what placing and releasing take."""

from __future__ import annotations

from rest_framework import serializers

from compliance.retention.models import SUBJECT_HOLD_KINDS, HoldKind, LegalHold


class LegalHoldSerializer(serializers.ModelSerializer):
    id = serializers.UUIDField(source="public_id", read_only=True)
    subject = serializers.UUIDField(source="subject.public_id", read_only=True, allow_null=True)
    kind = serializers.ChoiceField(choices=HoldKind.choices, read_only=True)
    in_force = serializers.SerializerMethodField()

    class Meta:
        model = LegalHold
        fields = (
            "id", "kind", "subject", "reason", "hold_until", "scope", "created_at", "released_at", "release_reason",
            "in_force",
        )  # fmt: skip
        read_only_fields = fields

    def get_in_force(self, hold: LegalHold) -> bool:
        return hold.in_force()


class PlaceHoldSerializer(serializers.Serializer):
    subject = serializers.UUIDField(help_text="The subject's public id.")
    kind = serializers.ChoiceField(choices=[(k.value, k.label) for k in SUBJECT_HOLD_KINDS])
    reason = serializers.CharField(max_length=2000, help_text="Why the data must be kept; shown to the subject.")
    hold_until = serializers.DateTimeField(
        required=False, allow_null=True, default=None, help_text="End of the hold; null: until released."
    )
    tables = serializers.ListField(
        child=serializers.CharField(max_length=100),
        required=False,
        default=list,
        max_length=50,
        help_text="Keep only these tables (model labels, e.g. ledger.journalentry); empty: all the subject's "
        "records. A deletion erases what the hold does not keep.",
    )


class ReleaseHoldSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=2000, help_text="Why the hold ends (audited).")

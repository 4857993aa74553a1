"""Input validation for the accounts API. Secrets are write-only and never trimmed or echoed."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from accounts.models import User
from compliance.consent.views import ConsentChoiceSerializer

PASSWORD_MAX = 128


def _secret(**kwargs: Any) -> serializers.CharField:
    return serializers.CharField(write_only=True, trim_whitespace=False, **kwargs)


class RegisterSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    password = _secret(max_length=PASSWORD_MAX)
    first_name = serializers.CharField(max_length=150, required=False, allow_blank=True, default="")
    last_name = serializers.CharField(max_length=150, required=False, allow_blank=True, default="")
    # The choices the customer made on the form; absent means none (nothing is pre-ticked).
    consents = ConsentChoiceSerializer(many=True, required=False, default=list)


class TokenObtainSerializer(serializers.Serializer):
    email = serializers.CharField(max_length=254)
    password = _secret(max_length=1024)
    otp = serializers.CharField(max_length=32, required=False, allow_blank=True, default="")


class RefreshSerializer(serializers.Serializer):
    refresh = serializers.CharField(max_length=4096)


class PasswordChangeSerializer(serializers.Serializer):
    current_password = _secret(max_length=1024)
    new_password = _secret(max_length=PASSWORD_MAX)


class PasswordResetSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)


class PasswordResetConfirmSerializer(serializers.Serializer):
    uid = serializers.UUIDField()
    token = serializers.CharField(max_length=100)
    new_password = _secret(max_length=PASSWORD_MAX)


class DetailAnswerSerializer(serializers.Serializer):
    """An answer that only says what happened (the same text whatever the account's state)."""

    detail = serializers.CharField()


class OTPSerializer(serializers.Serializer):
    otp = serializers.CharField(max_length=32)


class TOTPEnrolStartSerializer(serializers.Serializer):
    """Re-authentication for enrolment: a bare access token cannot set up a second factor."""

    password = _secret(max_length=1024)


class TOTPRemoveSerializer(serializers.Serializer):
    """Removing the authenticator needs the password and a code of that authenticator."""

    password = _secret(max_length=1024)
    otp = serializers.CharField(max_length=32)


class TokenPairSerializer(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()


class TOTPEnrolmentSerializer(serializers.Serializer):
    otpauth_uri = serializers.CharField()
    secret = serializers.CharField()
    qr_code = serializers.CharField(help_text="data: URI of an SVG QR code of otpauth_uri")


class TOTPConfirmedSerializer(TokenPairSerializer):
    backup_codes = serializers.ListField(child=serializers.CharField())


class ProfileSerializer(serializers.ModelSerializer):
    """The caller's own profile. Only the names and the phone number are writable; anything else
    sent is refused (never silently ignored), so mass assignment of roles, staff flags or ids is
    impossible. The phone number is validated (E.164, South African national numbers accepted) by
    the service, which stores the normalised form; ``""`` or ``null`` removes it."""

    WRITABLE = frozenset({"first_name", "last_name", "phone"})

    first_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    last_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    phone = serializers.CharField(max_length=32, required=False, allow_blank=True, allow_null=True)
    roles = serializers.SerializerMethodField()
    mfa_enrolled = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = ["public_id", "email", "first_name", "last_name", "phone", "roles", "mfa_enrolled", "created_at"]
        read_only_fields = ["public_id", "email", "created_at"]

    def get_roles(self, user: User) -> list[str]:
        if user.pk is None:
            # The look-alike of a registration with a taken address (accounts.services.customer_register).
            return sorted(self.context.get("roles", []))
        return sorted(group.name for group in user.groups.all())

    def get_mfa_enrolled(self, user: User) -> bool:
        return bool(self.context.get("mfa_enrolled"))

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        refused = sorted(set(self.initial_data) - self.WRITABLE) if isinstance(self.initial_data, dict) else []
        if refused:
            raise serializers.ValidationError({name: ["This field cannot be changed here."] for name in refused})
        if "phone" in attrs and attrs["phone"] is None:
            attrs["phone"] = ""  # null and "" both remove the number
        return attrs

"""The accounts API. Thin: validate input, call one service, shape the answer.

Public endpoints (no token needed) are exactly: register, token, token refresh, password reset
and its confirmation. They ignore any Authorization header and are throttled per client address
(DRF ``auth`` scope); everything else needs a valid access token.
"""

from __future__ import annotations

import base64
from typing import Any

import qrcode
import qrcode.image.svg
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors, services
from accounts.roles import CUSTOMER
from accounts.selectors import acting_user
from accounts.serializers import (
    DetailAnswerSerializer,
    OTPSerializer,
    PasswordChangeSerializer,
    PasswordResetConfirmSerializer,
    PasswordResetSerializer,
    ProfileSerializer,
    RefreshSerializer,
    RegisterSerializer,
    TokenObtainSerializer,
    TokenPairSerializer,
    TOTPConfirmedSerializer,
    TOTPEnrolmentSerializer,
    TOTPEnrolStartSerializer,
    TOTPRemoveSerializer,
)
from kernel.permissions import MFA_CLAIM


class PublicAuthView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_scope = "auth"


class PrivateAuthView(APIView):
    permission_classes = [IsAuthenticated]
    throttle_scope = "auth"


def _valid(serializer_class: type, request: Request) -> dict:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


class RegisterView(PublicAuthView):
    @extend_schema(request=RegisterSerializer, responses={201: ProfileSerializer})
    def post(self, request: Request) -> Response:
        data = _valid(RegisterSerializer, request)
        # A ConsentError (a stale notice version, say) rolls the whole registration back: no
        # account is created, and kernel.errors answers it in the error shape.
        user = services.customer_register(request=request._request, **data)
        # The same answer whether or not the address already had an account (see the service).
        return Response(ProfileSerializer(user, context={"roles": [CUSTOMER]}).data, status=status.HTTP_201_CREATED)


class TokenObtainView(PublicAuthView):
    @extend_schema(request=TokenObtainSerializer, responses={200: TokenPairSerializer})
    def post(self, request: Request) -> Response:
        data = _valid(TokenObtainSerializer, request)
        tokens = services.token_obtain(request=request._request, **data)
        return Response(tokens)


class TokenRefreshView(PublicAuthView):
    @extend_schema(request=RefreshSerializer, responses={200: TokenPairSerializer})
    def post(self, request: Request) -> Response:
        data = _valid(RefreshSerializer, request)
        return Response(services.token_refresh(request=request._request, raw_refresh=data["refresh"]))


class LogoutView(PrivateAuthView):
    @extend_schema(request=RefreshSerializer, responses={204: None})
    def post(self, request: Request) -> Response:
        data = _valid(RefreshSerializer, request)
        services.logout(
            actor=acting_user(request), raw_refresh=data["refresh"], access=request.auth, request=request._request
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class PasswordChangeView(PrivateAuthView):
    @extend_schema(request=PasswordChangeSerializer, responses={200: TokenPairSerializer})
    def post(self, request: Request) -> Response:
        data = _valid(PasswordChangeSerializer, request)
        access: Any = request.auth  # the JWT access token (a mapping of its claims)
        tokens = services.password_change(
            actor=acting_user(request),
            current_password=data["current_password"],
            new_password=data["new_password"],
            request=request._request,
            mfa_at=access.get(MFA_CLAIM),
        )
        return Response(tokens)


class PasswordResetView(PublicAuthView):
    @extend_schema(request=PasswordResetSerializer, responses={202: DetailAnswerSerializer})
    def post(self, request: Request) -> Response:
        data = _valid(PasswordResetSerializer, request)
        services.password_reset_request(email=data["email"], request=request._request)
        # The same answer whether or not the address belongs to an account.
        return Response(
            {"detail": "If an account uses this address, a reset link is on its way."},
            status=status.HTTP_202_ACCEPTED,
        )


class PasswordResetConfirmView(PublicAuthView):
    @extend_schema(request=PasswordResetConfirmSerializer, responses={200: DetailAnswerSerializer})
    def post(self, request: Request) -> Response:
        data = _valid(PasswordResetConfirmSerializer, request)
        services.password_reset_confirm(request=request._request, **data)
        return Response({"detail": "Password changed. Log in with the new password and your one-time code."})


def qr_data_uri(text: str) -> str:
    image = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage)
    return "data:image/svg+xml;base64," + base64.b64encode(image.to_string()).decode("ascii")


class TOTPEnrolView(PrivateAuthView):
    """POST starts an enrolment (needs the password: a token alone cannot add a factor); DELETE
    removes the enrolled authenticator (password and one of its codes), e.g. to replace it."""

    @extend_schema(request=TOTPEnrolStartSerializer, responses={201: TOTPEnrolmentSerializer})
    def post(self, request: Request) -> Response:
        data = _valid(TOTPEnrolStartSerializer, request)
        device = services.totp_enrol_start(
            actor=acting_user(request), password=data["password"], request=request._request
        )
        uri = services.otpauth_uri(device)
        return Response(
            {"otpauth_uri": uri, "secret": device.key, "qr_code": qr_data_uri(uri)}, status=status.HTTP_201_CREATED
        )

    @extend_schema(request=TOTPRemoveSerializer, responses={204: None})
    def delete(self, request: Request) -> Response:
        data = _valid(TOTPRemoveSerializer, request)
        services.totp_remove(
            actor=acting_user(request), password=data["password"], code=data["otp"], request=request._request
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


class TOTPConfirmView(PrivateAuthView):
    @extend_schema(request=OTPSerializer, responses={200: TOTPConfirmedSerializer})
    def post(self, request: Request) -> Response:
        data = _valid(OTPSerializer, request)
        _, codes, tokens = services.totp_enrol_confirm(
            actor=acting_user(request), code=data["otp"], request=request._request
        )
        return Response({"backup_codes": codes, **tokens})


class MeView(APIView):
    permission_classes = [IsAuthenticated]

    def _answer(self, request: Request, user) -> Response:
        enrolled = selectors.mfa_enrolled(viewer=acting_user(request))
        return Response(ProfileSerializer(user, context={"mfa_enrolled": enrolled}).data)

    @extend_schema(responses={200: ProfileSerializer})
    def get(self, request: Request) -> Response:
        user = selectors.user_profile(viewer=acting_user(request))
        services.profile_access_record(actor=acting_user(request), request=request._request)
        return self._answer(request, user)

    @extend_schema(request=ProfileSerializer, responses={200: ProfileSerializer})
    def patch(self, request: Request) -> Response:
        serializer = ProfileSerializer(request.user, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        services.user_profile_update(actor=acting_user(request), **serializer.validated_data)
        return self._answer(request, selectors.user_profile(viewer=acting_user(request)))

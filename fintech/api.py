"""The API's index: what a newcomer (or a client) finds at /api/v1/."""

from drf_spectacular.utils import extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.views import APIView


class ApiRootView(APIView):
    """Public by design: lists where the schema and the documentation are."""

    permission_classes = [AllowAny]

    @extend_schema(exclude=True)
    def get(self, request: Request) -> Response:
        return Response(
            {
                "version": "v1",
                "schema": reverse("schema", request=request),
                "docs": reverse("swagger-ui", request=request),
            }
        )


# Every API endpoint that answers without authentication, by URL name, with the reason it may.
# Anything else under /api/ requires a token (REST_FRAMEWORK's default); a view that lets anonymous
# callers in (AllowAny, or no permission classes) without being listed here fails
# tests/fintech/test_public_endpoints.py.
PUBLIC_ENDPOINTS: dict[str, str] = {
    "api-root": "the index of the API: where the schema and the documentation are",
    "auth-register": "opening an account",
    "auth-token": "logging in",
    "auth-token-refresh": "the refresh token is the credential",
    "auth-password-reset": "a forgotten password: answered the same for any address",
    "auth-password-reset-confirm": "the one-time reset token is the credential",
    "ledger-webhook-card": "the provider's signature is the authentication",
    "ledger-webhook-bank": "the bank's signature is the authentication",
    "purpose-list": "registration needs the notices in effect before an account exists (POPIA s18)",
}

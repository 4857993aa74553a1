"""Who may read the OpenAPI schema and its documentation pages.

Open in development and tests (``API_DOCS_PUBLIC``, on in the dev and test profiles); in
production the schema is a map of every endpoint and parameter, so only staff see it: a staff
member signed in to the admin with their second factor (the session django-otp verified), or
calling with a staff access token (staff tokens always come from an MFA login).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from accounts.authentication import PlatformJWTAuthentication
from kernel.errors import JSONErrorsMixin

DOCS_AUTHENTICATION = [PlatformJWTAuthentication, SessionAuthentication]


class DocsAccess(BasePermission):
    message = "The API documentation is for staff: sign in to the admin first."

    def has_permission(self, request: Request, view: Any) -> bool:
        if settings.API_DOCS_PUBLIC:
            return True
        user = request.user
        if not (user and user.is_authenticated and user.is_active and user.is_staff):
            return False
        if isinstance(request.successful_authenticator, SessionAuthentication):
            return bool(getattr(user, "is_verified", lambda: False)())
        return True


class _DocsView(JSONErrorsMixin):
    """A refusal is a JSON error in the one shape, not a YAML or HTML page."""

    permission_classes = [DocsAccess]
    authentication_classes = DOCS_AUTHENTICATION


class SchemaView(_DocsView, SpectacularAPIView):
    pass


class SwaggerView(_DocsView, SpectacularSwaggerSplitView):
    pass

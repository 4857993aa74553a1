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

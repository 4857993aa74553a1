"""Throwaway views whose database connection really dies under them (tests/test_database_failover.py).

Each view terminates its own PostgreSQL backend (``pg_terminate_backend(pg_backend_pid())``), as
a failover does to every session of the old leader, on the first ``FAILURES[name]`` calls, then
queries: the query fails on the dead connection. Later calls succeed.
"""

from django.db import connection
from django.http import JsonResponse
from django.urls import include, path
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from kernel import errors

CALLS: dict[str, int] = {}
FAILURES: dict[str, int] = {}

handler500 = errors.server_error


def _query(name: str) -> int:
    CALLS[name] = CALLS.get(name, 0) + 1
    with connection.cursor() as cursor:
        if CALLS[name] <= FAILURES.get(name, 0):
            cursor.execute("SELECT pg_terminate_backend(pg_backend_pid())")
        cursor.execute("SELECT 1")
        return cursor.fetchone()[0]


class LedgerLikeView(APIView):
    permission_classes = [AllowAny]

    def get(self, request):
        return Response({"value": _query("api")})

    def post(self, request):
        return Response({"value": _query("api"), "echo": request.data.get("amount")}, status=201)


def plain_view(request):
    return JsonResponse({"value": _query("plain")})


urlpatterns = [
    path("api/test/ledger-like/", LedgerLikeView.as_view()),
    path("test/plain/", plain_view),
    path("", include("fintech.urls")),
]

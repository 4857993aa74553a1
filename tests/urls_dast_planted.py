"""A planted app for tests/test_dast.py: one defect per DAST gate, each beside a clean twin.

Served only by the test's live server (``@pytest.mark.urls``); nothing in the product imports it.

- ``/planted/items/<n>/`` crashes (500) when ``n`` is not a number: the 5xx gate.
- ``/planted/shape/`` answers ``{"count": "many"}`` where its schema promises an integer: the
  schema-violation gate. ``/planted/ok/`` keeps its promise.
- ``/planted/search/?q=`` pastes ``q`` into SQL: the injection gate. ``/planted/safe/?q=`` binds it.
- ``/planted/hello/?name=`` reflects ``name`` into HTML unescaped (XSS, high for wapiti).
"""

from __future__ import annotations

from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import path

_INTEGER_BODY = {
    "200": {
        "description": "ok",
        "content": {
            "application/json": {
                "schema": {"type": "object", "properties": {"count": {"type": "integer"}}, "required": ["count"]}
            }
        },
    }
}
OPENAPI = {
    "openapi": "3.0.3",
    "info": {"title": "planted", "version": "1"},
    "paths": {
        "/planted/items/{n}/": {
            "get": {
                "parameters": [{"name": "n", "in": "path", "required": True, "schema": {"type": "integer"}}],
                "responses": {**_INTEGER_BODY, "404": {"description": "no such item"}},
            }
        },
        "/planted/shape/": {"get": {"responses": _INTEGER_BODY}},
        "/planted/ok/": {"get": {"responses": _INTEGER_BODY}},
    },
}


def items(request: HttpRequest, n: str) -> JsonResponse:
    return JsonResponse({"count": int(n)})  # the planted crash: int("abc") is a 500


def shape(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"count": "many"})


def ok(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"count": 1})


def search(request: HttpRequest) -> JsonResponse:
    query = request.GET.get("q", "")
    with connection.cursor() as cursor:
        # The planted injection: the parameter is pasted into the SQL text.
        cursor.execute("SELECT COUNT(*) FROM django_content_type WHERE model = '" + query + "'")  # noqa: S608  # nosec
        return JsonResponse({"count": cursor.fetchone()[0]})


def safe(request: HttpRequest) -> JsonResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM django_content_type WHERE model = %s", [request.GET.get("q", "")])
        return JsonResponse({"count": cursor.fetchone()[0]})


def hello(request: HttpRequest) -> HttpResponse:
    name = request.GET.get("name", "")
    return HttpResponse(f"<html><body><p>Hello {name}</p></body></html>")  # the planted XSS: not escaped


def index(request: HttpRequest) -> HttpResponse:
    return HttpResponse(
        '<html><body><a href="/planted/hello/?name=guest">hello</a> '
        '<form action="/planted/hello/" method="get"><input name="name" value="guest"></form></body></html>'
    )


urlpatterns = [
    path("planted/", index),
    path("planted/items/<str:n>/", items),
    path("planted/shape/", shape),
    path("planted/ok/", ok),
    path("planted/search/", search),
    path("planted/safe/", safe),
    path("planted/hello/", hello),
]

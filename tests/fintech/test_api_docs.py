"""The OpenAPI schema and its documentation are served, without any inline script."""

from __future__ import annotations

import re

import pytest


@pytest.mark.django_db
def test_schema_is_openapi_3(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    assert response.json()["openapi"].startswith("3.")


@pytest.mark.django_db
def test_docs_page_loads_its_scripts_from_our_origin(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "swagger-ui" in html
    inline_scripts = re.findall(r"<script(?![^>]*\bsrc=)[^>]*>(.+?)</script>", html, flags=re.S)
    assert [s for s in inline_scripts if s.strip()] == []
    for src in re.findall(r'<script[^>]*src="([^"]+)"', html):
        assert src.startswith("/"), src


@pytest.mark.django_db
def test_api_root_lists_schema_and_docs(client):
    body = client.get("/api/v1/").json()
    assert body["schema"].endswith("/api/schema/")
    assert body["docs"].endswith("/api/docs/")

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


@pytest.fixture
def production_docs(settings):
    settings.API_DOCS_PUBLIC = False


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/schema/", "/api/docs/"])
def test_in_production_the_schema_and_docs_are_for_staff_only(production_docs, path, customer, operations):
    """Issue 15 (low): the schema and docs were public under production settings."""
    from tests.personas import make_api_client

    anonymous = make_api_client(None).get(path)
    assert anonymous.status_code in (401, 403) and set(anonymous.json()) == {"error"}
    assert make_api_client(customer).get(path).status_code == 403
    assert make_api_client(operations).get(path).status_code == 200


@pytest.mark.django_db
def test_in_production_an_admin_session_needs_its_second_factor(production_docs, operations):
    from django.test import Client

    from tests.personas import otp_admin_login

    password_only = Client()
    password_only.force_login(operations)
    assert password_only.get("/api/schema/").status_code == 403
    verified = Client()
    otp_admin_login(verified, operations)
    assert verified.get("/api/schema/").status_code == 200


def test_the_production_profile_closes_the_docs():
    from tests.fintech.test_settings import GOOD_PROD_ENV, run_django

    code = "import django; django.setup(); from django.conf import settings; print(settings.API_DOCS_PUBLIC)"
    result = run_django(GOOD_PROD_ENV, code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "False"


def _schema(client) -> dict:
    return client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()


MOVEMENTS = ("/api/v1/deposits/", "/api/v1/withdrawals/", "/api/v1/transfers/")


@pytest.mark.django_db
def test_the_docs_are_grouped_by_audience_and_start_with_a_guide(client):
    schema = _schema(client)
    groups = [group["name"] for group in schema["x-tagGroups"]]
    assert groups == ["Customer", "Information officer", "Operations", "Auditor", "Payment providers"]
    tags = {op["tags"][0] for ops in schema["paths"].values() for op in ops.values()}
    assert "Information officer: Data-subject requests" in tags and "Auditor: Audit trail" in tags
    assert "v1" not in tags
    # The tags are listed customer first, each with what its audience is.
    assert schema["tags"][0]["name"].startswith("Customer: ")
    guide = schema["info"]["description"]
    for topic in ("Token with OTP", "Step-up", "Idempotency", "Idempotency-Key", "otp_code"):
        assert topic in guide


@pytest.mark.django_db
def test_every_movement_declares_its_idempotency_key(client):
    schema = _schema(client)
    for path in MOVEMENTS:
        headers = {p["name"]: p for p in schema["paths"][path]["post"]["parameters"] if p["in"] == "header"}
        assert headers["Idempotency-Key"]["required"] is True, path
        assert headers["Idempotency-Key"]["schema"]["pattern"], path


@pytest.mark.django_db
def test_no_description_reads_like_a_code_comment(client):
    schema = _schema(client)
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            text = operation.get("description", "")
            assert "Subclass" not in text and "``" not in text and "(issue" not in text, (method, path)
            assert not re.search(r"\b(GET|POST|DELETE): ", text) or (method == "post" and "enrolment" in text), path


@pytest.mark.django_db
def test_redoc_leads_to_the_docs_that_work_under_the_csp(client):
    response = client.get("/api/redoc/")
    assert response.status_code == 302 and response["Location"] == "/api/docs/"


def test_view_site_in_the_admin_opens_the_api_docs():
    from django.contrib import admin

    assert admin.site.site_url == "/api/docs/"

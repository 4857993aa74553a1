"""Every API error, from DRF or from Django, has the shape {"error": {"code", "message", "fields"?}}."""

from __future__ import annotations

import json

import pytest

from compliance.audit.models import AuditEvent


def assert_error_shape(response, status: int, code: str) -> dict:
    assert response.status_code == status
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) <= {"code", "message", "fields"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    assert "<html" not in response.content.decode().lower()
    assert "Traceback" not in response.content.decode()
    return body["error"]


@pytest.mark.parametrize("path", ["/api/v1/does-not-exist/", "/api/nothing", "/nowhere"])
def test_unknown_routes_answer_json_404(client, path):
    assert_error_shape(client.get(path), 404, "not_found")


@pytest.mark.urls("tests.urls_errors")
class TestApiViewErrors:
    def test_validation_errors_name_the_fields_and_never_echo_input(self, client):
        response = client.post(
            "/api/test/echo/",
            data=json.dumps({"amount": "4111111111111111x", "holder": {"name": "Zanele Dlamini"}}),
            content_type="application/json",
        )
        error = assert_error_shape(response, 400, "validation_error")
        assert set(error["fields"]) == {"amount", "holder.name"}
        assert "4111111111111111" not in response.content.decode()
        assert "Zanele" not in response.content.decode()

    def test_malformed_json_is_a_400(self, client):
        response = client.post("/api/test/echo/", data="{not json", content_type="application/json")
        assert_error_shape(response, 400, "parse_error")

    def test_wrong_content_type_is_a_415(self, client):
        response = client.post("/api/test/echo/", data="amount=1", content_type="application/x-www-form-urlencoded")
        assert_error_shape(response, 415, "unsupported_media_type")

    def test_wrong_method_is_a_405(self, client):
        assert_error_shape(client.delete("/api/test/echo/"), 405, "method_not_allowed")

    def test_django_http404_in_an_api_view_is_a_json_404(self, client):
        assert_error_shape(client.get("/api/test/missing/"), 404, "not_found")

    @pytest.mark.django_db
    def test_django_permission_denied_in_an_api_view_is_a_json_403(self, client):
        assert_error_shape(client.get("/api/test/forbidden/"), 403, "permission_denied")
        # ... and the refusal is audited through the one mechanism (kernel.access.record_denial).
        assert list(AuditEvent.objects.values_list("action", "object_type", "actor_type")) == [
            ("PERMISSION_DENIED", "view", "anonymous")
        ]

    def test_missing_credentials_is_a_401(self, client):
        assert_error_shape(client.get("/api/test/private/"), 401, "not_authenticated")

    def test_garbage_bearer_token_is_a_401(self, client):
        response = client.get("/api/test/private/", HTTP_AUTHORIZATION="Bearer not-a-jwt")
        assert_error_shape(response, 401, "token_not_valid")

    def test_crash_is_a_generic_500_without_internals(self, client):
        client.raise_request_exception = False
        response = client.get("/api/test/crash/")
        error = assert_error_shape(response, 500, "server_error")
        assert "secret internal detail" not in error["message"]
        assert "4111111111111111" not in response.content.decode()

    def test_oversized_body_is_a_413(self, client, settings):
        settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
        response = client.post(
            "/api/test/echo/", data=json.dumps({"amount": 1, "pad": "x" * 500}), content_type="application/json"
        )
        assert_error_shape(response, 413, "request_too_large")


@pytest.mark.django_db
def test_admin_keeps_html_pages(client):
    response = client.get("/admin/login/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        # Endpoints that can answer with a file: their errors are still the JSON shape.
        ("/api/v1/dsar/{id}/download/?format=zip", 404, "not_found"),
        ("/api/v1/accounts/{id}/statement/?format=csv", 404, "not_found"),
        ("/api/v1/audit/reports/events/?format=csv", 403, "permission_denied"),
    ],
)
def test_file_endpoints_answer_errors_in_json_whatever_format_was_asked(path, status, code):
    import uuid

    from tests.personas import make_api_client, make_customer

    client = make_api_client(make_customer(), mfa=True)
    assert_error_shape(client.get(path.format(id=uuid.uuid4())), status, code)

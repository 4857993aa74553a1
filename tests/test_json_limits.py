"""Issue 15, "5xx on input": JSON nested 50k-100k deep on registration answered 500 (the parser
recursed until RecursionError). Depth and size are now checked before parsing: a 400."""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from fintech.parsers import json_depth_exceeds
from tests.kernel.test_errors import assert_error_shape

REGISTER = "/api/v1/auth/register/"
SHALLOW_PASSWORD = "not-common-Pass-2026x"  # pragma: allowlist secret


@pytest.mark.django_db
@pytest.mark.parametrize("depth", [50_000, 100_000])
@pytest.mark.parametrize("opener", ["[", '{"a":'])
def test_deeply_nested_registration_is_a_400_and_creates_nothing(depth, opener):
    closer = "]" if opener == "[" else "}"
    body = (
        '{"email": "deep@example.test", "password": "x", "first_name": ' + opener * depth + "1" + closer * depth + "}"
    )
    response = APIClient().generic("POST", REGISTER, body, content_type="application/json")
    error = assert_error_shape(response, 400, "parse_error")
    assert "nested" in error["message"]
    assert not User.objects.filter_by_email("deep@example.test").exists()


@pytest.mark.django_db
def test_an_oversized_json_body_is_refused_before_parsing(settings):
    settings.API_JSON_MAX_BYTES = 1000
    body = json.dumps({"email": "big@example.test", "password": "p" * 2000})
    response = APIClient().generic("POST", REGISTER, body, content_type="application/json")
    assert_error_shape(response, 400, "parse_error")


def test_the_depth_scan_ignores_brackets_inside_strings():
    assert not json_depth_exceeds(json.dumps({"note": "[" * 500 + "{" * 500}).encode(), 4)
    assert not json_depth_exceeds(json.dumps({"a": [{"b": [1]}]}).encode(), 4)
    assert json_depth_exceeds(json.dumps({"a": [{"b": [[1]]}]}).encode(), 4)
    assert not json_depth_exceeds(b'{"s": "a \\" [[[[[[ quoted"}', 2)


@pytest.mark.django_db
def test_ordinary_nesting_still_parses(db):
    # The consent choices of registration are the deepest ordinary body: a list of objects.
    response = APIClient().post(
        REGISTER,
        {"email": "shallow@example.test", "password": SHALLOW_PASSWORD, "consents": []},
        format="json",
    )
    assert response.status_code == 201, response.content

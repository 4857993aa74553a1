"""API fuzzing (SPEC C10): schemathesis drives every /api/v1/ operation from the OpenAPI schema.

Generated requests — valid and invalid bodies, query strings, path ids, headers — go through the
whole WSGI stack (middleware, JWT authentication, throttles, views, the JSON error handler) as a
signed-in customer, operations staff, an information officer and an auditor, each with a recent
MFA (so every role's endpoints are reached past their permission checks), and anonymously, on
the real PostgreSQL in autocommit (``transactional_db``: each request commits or rolls back on its
own, as in production). The promises checked: whatever
arrives, the answer is never a 5xx, every error is the JSON error shape of SPEC C1, no answer has a status
the operation does not document (status_code_conformance; fintech/openapi.py documents the error statuses),
and every answer matches its documented body (response_schema_conformance; the
money endpoints' 201 bodies, which random input rarely reaches, are validated in
tests/ledger/test_api_response_schemas.py).
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance, status_code_conformance

# Every operation for a persona runs inside one test function: on shared CI cores under load that
# passed the suite-wide 300 s timeout with no failing request at all (only timeouts), so this file
# gets a wider wall-clock budget; what it checks is unchanged.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

# Per operation and role: enough to reach the validation branches without making the suite slow.
EXAMPLES_PER_OPERATION = 10


@pytest.fixture
def api_schema(openapi_document, transactional_db):
    from fintech.wsgi import application

    schema = schemathesis.openapi.from_dict(openapi_document).include(path_regex=r"^/api/v1/")
    schema.app = application
    return schema


def _bearer(role: str) -> dict[str, str]:
    from tests.personas import make_api_client, make_customer, make_staff

    user = make_customer() if role == "customer" else make_staff(role)
    return {"Authorization": f"Bearer {make_api_client(user, mfa=True).tokens['access']}"}


# One fixture per role: schemathesis resolves fixtures itself and does not take parametrized ones.
@pytest.fixture
def customer_headers(transactional_db) -> dict[str, str]:
    return _bearer("customer")


@pytest.fixture
def operations_headers(transactional_db) -> dict[str, str]:
    return _bearer("operations")


@pytest.fixture
def information_officer_headers(transactional_db) -> dict[str, str]:
    return _bearer("information_officer")


@pytest.fixture
def auditor_headers(transactional_db) -> dict[str, str]:
    return _bearer("auditor")


schema = schemathesis.pytest.from_fixture("api_schema")


def _assert_error_shape(response, case) -> None:
    """Every 4xx is JSON carrying {"error": {"code", "message", "fields"?}} and nothing else."""
    if not 400 <= response.status_code < 500:
        return
    where = f"{case.method} {case.formatted_path} {case.query} -> {response.status_code}"
    assert response.headers.get("content-type", [""])[0].startswith("application/json"), (
        where,
        response.headers.get("Content-Type"),
        response.content[:200],
    )
    body = response.json()
    assert set(body) == {"error"}, (where, body)
    assert {"code", "message"} <= set(body["error"]) <= {"code", "message", "fields"}, (where, body)


FUZZ = settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)


def _check(case, headers: dict[str, str]) -> None:
    response = case.call(headers=headers)
    case.validate_response(response, checks=[not_a_server_error, status_code_conformance, response_schema_conformance])
    _assert_error_shape(response, case)


@schema.parametrize()
@FUZZ
def test_a_customer_never_gets_a_server_error(case, customer_headers):
    _check(case, customer_headers)


@schema.parametrize()
@FUZZ
def test_operations_staff_never_get_a_server_error(case, operations_headers):
    _check(case, operations_headers)


@schema.parametrize()
@FUZZ
def test_an_auditor_never_gets_a_server_error(case, auditor_headers):
    _check(case, auditor_headers)


@schema.parametrize()
@FUZZ
def test_an_information_officer_never_gets_a_server_error(case, information_officer_headers):
    _check(case, information_officer_headers)


@schema.parametrize()
@FUZZ
def test_an_anonymous_client_never_gets_a_server_error(case, transactional_db):
    _check(case, {})

"""No personal information, password or token in the logs, along a customer's whole journey.

Recognisable values go in through the API (registration, login, profile, KYC, a data-subject
request, a password reset, and the error paths of each); neither what the JSON handler wrote nor
any raw log record (before the redaction safety net) may contain them.
"""

from __future__ import annotations

import io
import logging

import pytest
from rest_framework.test import APIClient

from kernel.redaction import PIIRedactionFilter
from tests.compliance.consent.consent_helpers import current_version, seed_purposes
from tests.ledger.conftest import sa_id

EMAIL = "zanele.sentinel@example.co.za"
PASSWORD = "Kestrel-Passw0rd-2026"  # pragma: allowlist secret
FIRST, LAST = "Sentinelfirst", "Sentinellast"
PHONE_DIGITS = "825550199"


@pytest.fixture
def written():
    handler = next(h for h in logging.getLogger().handlers if any(isinstance(f, PIIRedactionFilter) for f in h.filters))
    stream = io.StringIO()
    previous = handler.setStream(stream)
    yield stream
    handler.setStream(previous)


@pytest.mark.django_db
def test_a_customer_journey_leaves_no_pi_in_the_logs(written, caplog):
    caplog.set_level(logging.DEBUG)
    seed_purposes()
    id_number = sa_id()
    client = APIClient(REMOTE_ADDR="198.51.100.7")
    register = client.post(
        "/api/v1/auth/register/",
        {
            "email": EMAIL, "password": PASSWORD, "first_name": FIRST, "last_name": LAST,
            "consents": [{"purpose": "direct_marketing", "granted": True,
                          "notice_version": current_version("direct_marketing")}],
        },
        format="json",
    )  # fmt: skip
    assert register.status_code == 201, register.content
    # Error paths: duplicate e-mail (answered like a new account), wrong password, bad phone, bad ID number.
    assert (
        client.post("/api/v1/auth/register/", {"email": EMAIL, "password": PASSWORD}, format="json").status_code == 201
    )
    assert (
        client.post("/api/v1/auth/token/", {"email": EMAIL, "password": PASSWORD + "x"}, format="json").status_code
        == 401
    )
    tokens = client.post("/api/v1/auth/token/", {"email": EMAIL, "password": PASSWORD}, format="json").json()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    assert client.patch("/api/v1/me/", {"phone": "not-a-phone"}, format="json").status_code == 400
    assert client.patch("/api/v1/me/", {"phone": f"0{PHONE_DIGITS}"}, format="json").status_code == 200
    assert client.get("/api/v1/me/").status_code == 200
    kyc = {"id_number": id_number, "date_of_birth": "1990-01-15", "document_reference": "DOC-LOG"}
    assert client.post("/api/v1/kyc/", {**kyc, "id_number": id_number[:-1] + "0"}, format="json").status_code in (
        400,
        201,
    )
    assert client.post("/api/v1/kyc/", kyc, format="json").status_code in (201, 409)
    assert client.post("/api/v1/auth/password/reset/", {"email": EMAIL}, format="json").status_code in (200, 202, 204)
    assert client.post("/api/v1/auth/logout/", {"refresh": tokens["refresh"]}, format="json").status_code in (200, 204)

    output = written.getvalue()
    raw = "\n".join(f"{record.getMessage()} {record.__dict__}" for record in caplog.records)
    assert "/api/v1/auth/register/" in output, "the access log really went through the handler"
    for secret in (
        EMAIL,
        "zanele.sentinel",
        PASSWORD,
        FIRST,
        LAST,
        PHONE_DIGITS,
        id_number,
        tokens["access"],
        tokens["refresh"],
    ):
        assert secret not in output, f"{secret!r} written to the log"
        assert secret not in raw, f"{secret!r} in a raw log record"

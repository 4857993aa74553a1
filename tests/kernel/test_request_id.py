"""X-Request-ID: accepted when well formed, generated otherwise, returned, and logged."""

from __future__ import annotations

import io
import json
import logging
import re

import pytest

from kernel.redaction import PIIRedactionFilter


@pytest.fixture
def log_stream():
    handler = next(
        h for h in logging.getLogger("django").handlers if any(isinstance(f, PIIRedactionFilter) for f in h.filters)
    )
    stream = io.StringIO()
    previous = handler.setStream(stream)
    yield stream
    handler.setStream(previous)


def log_lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_a_request_id_sent_in_comes_back_and_is_in_the_log(client, log_stream):
    response = client.get("/healthz", HTTP_X_REQUEST_ID="abc-123-def-456")
    assert response["X-Request-ID"] == "abc-123-def-456"
    access = [line for line in log_lines(log_stream) if line["logger"] == "fintech.access"]
    assert access and access[-1]["request_id"] == "abc-123-def-456"
    assert access[-1]["status"] == 200
    assert access[-1]["path"] == "/healthz"


def test_a_request_id_is_generated_when_absent(client):
    first = client.get("/healthz")["X-Request-ID"]
    second = client.get("/healthz")["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", first)
    assert first != second


@pytest.mark.parametrize("bad", ["short", "x" * 200, "abc\ndef-ghi-jkl", "<script>alert(1)</script>"])
def test_malformed_request_ids_are_replaced(client, bad):
    response = client.get("/healthz", HTTP_X_REQUEST_ID=bad)
    assert response["X-Request-ID"] != bad
    assert re.fullmatch(r"[0-9a-f]{32}", response["X-Request-ID"])


def test_error_responses_carry_the_request_id_too(client):
    response = client.get("/api/v1/nothing-here/", HTTP_X_REQUEST_ID="trace-404-check")
    assert response.status_code == 404
    assert response["X-Request-ID"] == "trace-404-check"

"""The PII redaction filter masks card numbers, SA ID numbers, e-mails and phone numbers."""

from __future__ import annotations

import io
import json
import logging
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kernel.redaction import PIIRedactionFilter, luhn_valid, redact
from kernel.request_context import reset_request_id, set_request_id


def with_luhn_digit(body: str) -> str:
    for check in "0123456789":
        if luhn_valid(body + check):
            return body + check
    raise AssertionError("unreachable")


@st.composite
def luhn_pans(draw) -> str:
    length = draw(st.integers(min_value=13, max_value=19))
    body = draw(st.text(alphabet="0123456789", min_size=length - 1, max_size=length - 1))
    return with_luhn_digit(body)


def grouped(pan: str, separator: str) -> str:
    return separator.join(pan[i : i + 4] for i in range(0, len(pan), 4))


words = st.text(alphabet=st.characters(whitelist_categories=("Lu", "Ll"), max_codepoint=0x7F), max_size=20)


def record(msg: str, *args) -> logging.LogRecord:
    return logging.LogRecord("test", logging.INFO, __file__, 1, msg, args or None, None)


def filtered_message(msg: str, *args) -> str:
    rec = record(msg, *args)
    PIIRedactionFilter().filter(rec)
    return rec.getMessage()


@settings(max_examples=300, deadline=None)
@given(pan=luhn_pans(), before=words, after=words, separator=st.sampled_from(["", " ", "-"]))
def test_luhn_valid_pans_are_masked_in_message_and_arguments(pan, before, after, separator):
    shown = grouped(pan, separator) if separator else pan
    for output in (
        filtered_message(f"{before} {shown} {after}"),
        filtered_message("card %s charged", shown),
        filtered_message("%(who)s paid with %(card)s", {"who": before, "card": shown}),
    ):
        assert shown not in output
        assert pan not in output.replace(" ", "").replace("-", "")
        assert "[REDACTED:" in output


@settings(max_examples=200, deadline=None)
@given(digits=st.text(alphabet="0123456789", min_size=13, max_size=13))
def test_thirteen_digit_sa_id_numbers_are_masked(digits):
    assert digits not in filtered_message("subject id=%s verified", digits)
    assert digits not in filtered_message(f"ID {digits}.")


@pytest.mark.parametrize("email", ["thandi.mokoena@example.co.za", "A.B+tag@sub.example.com", "x_1@mail.example.org"])
def test_email_addresses_are_masked(email):
    for output in (filtered_message(f"sent to {email}"), filtered_message("sent to %s", email)):
        assert email not in output
        assert "[REDACTED:EMAIL]" in output


@pytest.mark.parametrize(
    "phone", ["+27 82 123 4567", "+27821234567", "082 123 4567", "0821234567", "082-123-4567", "+44 20 7946 0958"]
)
def test_phone_numbers_are_masked(phone):
    for output in (filtered_message(f"call {phone} now"), filtered_message("call %s now", phone)):
        assert phone not in output
        assert "[REDACTED:PHONE]" in output


def test_non_pii_numbers_survive():
    text = "transfer 12500 cents in 3 parts, took 87 ms, order 2026-11-22, luhn-invalid 4111111111111112"
    assert redact(text) == text


def test_extras_and_exception_text_are_masked():
    rec = record("failed")
    rec.customer = {"email": "lerato@example.com", "nested": ["8001015009087"]}
    try:
        raise ValueError("bad card 4111111111111111")
    except ValueError:
        import sys

        rec.exc_info = sys.exc_info()
    PIIRedactionFilter().filter(rec)
    assert rec.customer == {"email": "[REDACTED:EMAIL]", "nested": ["[REDACTED:ID_NUMBER]"]}
    assert "4111111111111111" not in rec.exc_text
    assert "[REDACTED:PAN]" in rec.exc_text


def test_configured_handlers_emit_redacted_json_with_the_request_id():
    """End to end through the real LOGGING configuration, not a test double."""
    handler = next(h for h in logging.getLogger().handlers if any(isinstance(f, PIIRedactionFilter) for f in h.filters))
    stream = io.StringIO()
    previous = handler.setStream(stream)
    token = set_request_id("req-redaction-test-1")
    try:
        pan = with_luhn_digit("".join(random.choice("0123456789") for _ in range(15)))
        logging.getLogger("fintech.test").warning(
            "customer %s with card %s phoned from %s", "naledi@example.co.za", pan, "+27 83 555 0101"
        )
    finally:
        reset_request_id(token)
        handler.setStream(previous)
    line = json.loads(stream.getvalue().strip().splitlines()[-1])
    assert line["request_id"] == "req-redaction-test-1"
    assert line["level"] == "WARNING"
    for secret in ("naledi@example.co.za", pan, "+27 83 555 0101"):
        assert secret not in stream.getvalue()

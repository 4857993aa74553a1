"""Issue 15 (low): the PII redaction filter corrupted request ids and UUIDs in logs (it masked the
digit runs inside them). Identifiers now stay whole; real PI around them is still masked."""

from __future__ import annotations

import logging

import pytest

from kernel.redaction import EMAIL_MASK, ID_MASK, PAN_MASK, PHONE_MASK, PIIRedactionFilter, redact

# Ids with a 13-digit run, and one whose digits form a Luhn-valid 16-digit "card" group.
REQUEST_ID_13 = "a8001015009087b0c1d2e3f4a5b6c7d8"
UUID_13 = "7d1f9a52-0c4e-4c55-9a47-800101500908"
UUID_LUHN = "4111aaaa-1111-1111-1111-111111111111"
UUID_UPPER = "7D1F9A52-0C4E-4C55-9A47-800101500908"
SHA256 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"  # pragma: allowlist secret
SA_ID = "8001015009087"
PAN = "4111 1111 1111 1111"


@pytest.mark.parametrize("identifier", [REQUEST_ID_13, UUID_13, UUID_LUHN, UUID_UPPER, SHA256])
def test_identifiers_are_left_whole(identifier):
    for text in (
        identifier,
        f"request_id={identifier}",
        f"/api/v1/accounts/{identifier}/statement/",
        f"({identifier})",
    ):
        assert redact(text) == text


def test_pi_next_to_identifiers_is_still_masked():
    line = f"req {REQUEST_ID_13} account {UUID_13} id {SA_ID} card {PAN} mail a.b@example.test tel +27 82 555 0100"
    assert redact(line) == (
        f"req {REQUEST_ID_13} account {UUID_13} id {ID_MASK} card {PAN_MASK} mail {EMAIL_MASK} tel {PHONE_MASK}"
    )


@pytest.mark.parametrize(
    "text",
    [
        SA_ID,
        f"x{SA_ID}",  # glued to a letter
        "4111111111111111",
        "a4111111111111111",  # hex with a letter, but not an identifier's length
    ],
)
def test_real_id_and_card_numbers_are_still_masked(text):
    assert SA_ID not in redact(text) and "4111111111111111" not in redact(text)


def test_the_log_filter_keeps_the_request_id_extra_whole():
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "done %s for %s", (UUID_13, SA_ID), None)
    record.request_id = REQUEST_ID_13
    PIIRedactionFilter().filter(record)
    assert record.request_id == REQUEST_ID_13
    assert record.msg == f"done {UUID_13} for {ID_MASK}"

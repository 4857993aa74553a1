"""The one masking helper: one format per PI category and value shape (compliance/pi/masking.py)."""

from __future__ import annotations

import datetime as dt

import pytest

from compliance.pi.masking import DATE_MASK, MASK, mask_pan, mask_value, masked_fields
from compliance.pi.vocabulary import Category


@pytest.mark.parametrize(
    "value,category,field,masked",
    [
        ("jane.doe@example.com", Category.CONTACT, "email", "j***@e***.com"),
        ("jane@localhost", Category.CONTACT, "email", "j***@l***"),
        ("+27821234567", Category.CONTACT, "phone", "***567"),
        ("082 123 4567", Category.CONTACT, "phone", "***567"),
        ("12 Long Street, Cape Town", Category.CONTACT, "address", MASK),
        ("8501015009087", Category.IDENTITY, "id_number", "***087"),
        ("Thandiwe", Category.IDENTITY, "first_name", "T***"),
        ("passport seen at branch", Category.IDENTITY, "identity_evidence", MASK),
        (dt.date(1985, 1, 1), Category.IDENTITY, "date_of_birth", DATE_MASK),
        ("62000000001", Category.FINANCIAL, "account_number", "***0001"),
        ("4111111111111111", Category.CARD, "pan", "***1111"),
        ("FNB", Category.FINANCIAL, "bank_name", MASK),
        ("192.0.2.41", Category.IDENTITY, "source_ip", "192.0.*.*"),
        ("2001:db8::1", Category.IDENTITY, "source_ip", "2001:0db8:0000:*"),
        (
            {"first_name": "New", "phone": "+27821234567"},
            Category.IDENTITY,
            "requested_changes",
            {"first_name": MASK, "phone": MASK},
        ),
        ("anything", None, "unknown", MASK),
        ("", Category.CONTACT, "email", ""),
        (None, Category.IDENTITY, "first_name", None),
    ],
)
def test_each_category_has_its_format(value, category, field, masked):
    assert mask_value(value, category, field) == masked


def test_short_numbers_are_masked_fully_not_shown():
    # Keeping the last digits of a short number would show most of it.
    assert mask_value("1234567", Category.FINANCIAL) == MASK


def test_card_numbers_from_their_stored_truncation():
    assert mask_pan("1111") == "***1111"
    assert mask_pan("1111", first6="411111", length=16) == "411111******1111"


def test_which_fields_are_masked_comes_from_the_inventory():
    from ledger.models import KycRecord, LedgerAccount

    kyc = masked_fields(KycRecord)
    assert {"id_number", "date_of_birth", "document_reference", "reason"} <= set(kyc)
    assert "id_number_index" not in kyc and "user" not in kyc  # blind index and relation: never shown / by str
    assert "balance" not in masked_fields(LedgerAccount)  # an amount identifies nobody

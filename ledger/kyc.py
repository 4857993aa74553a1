"""South African ID number validation for KYC (format YYMMDD SSSS C A Z).

- 13 digits;
- YYMMDD is the holder's date of birth (so it must be a real date and match ``date_of_birth``);
- C, the citizenship digit, is 0 (citizen) or 1 (permanent resident);
- Z is a Luhn check digit over the whole number.
Messages never echo the number (it is PI).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from kernel.redaction import luhn_valid


def sa_id_date(id_number: str) -> tuple[int, int, int] | None:
    """(yy, mm, dd) if the first six digits are a date in some century, else None."""
    yy, mm, dd = int(id_number[0:2]), int(id_number[2:4]), int(id_number[4:6])
    for century in (1900, 2000):
        try:
            dt.date(century + yy, mm, dd)
        except ValueError:
            continue
        return yy, mm, dd
    return None


def is_valid_sa_id(id_number: str, date_of_birth: dt.date) -> bool:
    if len(id_number) != 13 or not id_number.isascii() or not id_number.isdigit():
        return False
    if sa_id_date(id_number) is None:
        return False
    if id_number[0:6] != date_of_birth.strftime("%y%m%d"):
        return False
    if id_number[10] not in "01":
        return False
    return luhn_valid(id_number)


def luhn_check_digit(first_twelve: str) -> str:
    """The digit that makes ``first_twelve + digit`` Luhn-valid (used by demo data and tests)."""
    for digit in "0123456789":
        if luhn_valid(first_twelve + digit):
            return digit
    raise ValueError("no Luhn check digit")  # unreachable for 12 digits


# --- duplicate identity -----------------------------------------------------------------------
# One person, one verified identity: an ID number already verified on another account is a
# fraud signal (mule and synthetic accounts). It is found by the ID number's blind index (no
# decryption), flags the submission for review, and blocks verification until a reviewer clears
# the flag (ledger/services.py). Checks and verification of one ID number are serialised by a
# transaction-scoped advisory lock on the index, so two accounts with the same number cannot be
# verified side by side in concurrent transactions.


def identity_lock(id_number_index: str | None) -> None:
    """Serialise, until the end of the transaction, every check and verification of this ID number."""
    from django.db import connection

    if not id_number_index or connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 15))", [id_number_index])


def verified_elsewhere(record: Any) -> int:
    """How many *other* accounts have this record's ID number verified."""
    from ledger.models import KycRecord, KycStatus

    if not record.id_number_index:
        return 0
    return (
        KycRecord.objects.filter(id_number_index=record.id_number_index, status=KycStatus.VERIFIED)
        .exclude(user_id=record.user_id)
        .count()
    )

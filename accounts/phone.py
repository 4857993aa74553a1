"""Phone numbers: accepted in any common notation, stored in E.164 (``+`` and 8-15 digits).

National numbers (leading 0) are South African, like the blind index's phone normaliser
(``compliance.crypto.blind_index.normalise_phone``), which this module uses so that the stored
value and its index always agree. Error messages never echo the number (it is PI).
"""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError

from compliance.crypto.blind_index import normalise_phone

_E164 = re.compile(r"^\+[1-9][0-9]{7,14}$")
_ALLOWED = re.compile(r"^[0-9+()\-. ]+$")
INVALID_PHONE = "Enter a mobile number such as 082 555 0100 or +27 82 555 0100."


def phone_to_e164(value: str) -> str:
    """The E.164 form of ``value``; ValidationError if it is not a plausible phone number."""
    text = (value or "").strip()
    if not text or len(text) > 32 or not _ALLOWED.match(text):
        raise ValidationError(INVALID_PHONE, code="invalid_phone")
    # Bare digits are ambiguous (national or international?): ask for a 0 or a + in front.
    if not text.startswith(("+", "0")):
        raise ValidationError(INVALID_PHONE, code="invalid_phone")
    normalised = normalise_phone(text)
    if not _E164.match(normalised):
        raise ValidationError(INVALID_PHONE, code="invalid_phone")
    # A South African national number has exactly nine digits after the trunk 0.
    if text.startswith("0") and not text.startswith("00") and len(normalised) != 12:
        raise ValidationError(INVALID_PHONE, code="invalid_phone")
    return normalised

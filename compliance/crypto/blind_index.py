"""Blind indexes: keyed HMAC-SHA256 of a normalised value, for exact lookups of encrypted columns.

Stored format: ``v<blind-index key version>:<64 hex>``. Lookups compute the index under *every*
configured blind-index version (``blind_index_candidates``), so rows keep being found while a
rotation is half-way through recomputing them.

Invariants:
- The HMAC key is a blind-index key, never a field-encryption key (separate ring, separate rotation).
- The message is ``<normaliser name> NUL <normalised value>``: the same phone number gives the
  same index in every model (a DSAR search by ID number finds all of a subject's rows), while an
  e-mail and a phone number that happen to normalise alike never collide.
- An empty or missing value has no index (NULL): there is nothing to look up.
- Normalisers are part of the stored data's meaning: changing one means recomputing every index
  (``rotate_field_keys --keys blind_index`` does exactly that).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from collections.abc import Callable

from compliance.crypto.keys import KeyProvider, get_key_provider

DEFAULT_COUNTRY_CODE = "27"  # South Africa: national numbers such as 082 555 0100 become +27 82 555 0100
_NON_DIGITS = re.compile(r"\D+")


def normalise_email(value: str) -> str:
    # Lower-cased whole address, matching accounts' UserManager.normalize_email.
    return value.strip().lower()


def normalise_phone(value: str) -> str:
    """E.164 (``+`` and digits). National numbers (leading 0) are South African by default."""
    text = value.strip()
    digits = _NON_DIGITS.sub("", text)
    if not digits:
        return ""
    if text.startswith("+"):
        return "+" + digits
    if digits.startswith("00"):
        return "+" + digits[2:]
    if digits.startswith("0"):
        return "+" + DEFAULT_COUNTRY_CODE + digits[1:]
    return "+" + digits


def normalise_digits(value: str) -> str:
    """ID numbers, account numbers: the digits only (spaces and dashes are presentation)."""
    return _NON_DIGITS.sub("", value)


def normalise_exact(value: str) -> str:
    return value.strip()


def normalise_name(value: str) -> str:
    """A person's name: Unicode-compatible form, case folded, inner spaces collapsed.

    ``"  van der  MERWE "`` and ``"Van der Merwe"`` match; spelling, accents and hyphens still count
    (``"Nkosi"`` is not ``"Nkósi"``): an exact lookup, never a fuzzy one."""
    return " ".join(unicodedata.normalize("NFKC", value).casefold().split())


NORMALISERS: dict[str, Callable[[str], str]] = {
    "email": normalise_email,
    "phone": normalise_phone,
    "id_number": normalise_digits,
    "digits": normalise_digits,
    "exact": normalise_exact,
    "name": normalise_name,
}


def normalise(normaliser: str, value: object) -> str:
    try:
        function = NORMALISERS[normaliser]
    except KeyError:
        raise ValueError(f"Unknown blind-index normaliser {normaliser!r}; known: {sorted(NORMALISERS)}.") from None
    return function(str(value))


def _digest(key: bytes, normaliser: str, normalised: str) -> str:
    message = normaliser.encode() + b"\x00" + normalised.encode("utf-8")
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def blind_index(
    normaliser: str, value: object, *, version: int | None = None, provider: KeyProvider | None = None
) -> str | None:
    """The index of ``value`` under the active (or the given) blind-index key version."""
    if value is None:
        return None
    normalised = normalise(normaliser, value)
    if not normalised:
        return None
    used_version, key = (provider or get_key_provider()).blind_index_key(version)
    return f"v{used_version}:{_digest(key, normaliser, normalised)}"


def blind_index_candidates(normaliser: str, value: object, *, provider: KeyProvider | None = None) -> list[str]:
    """The index of ``value`` under every configured version (lookups match any of them)."""
    provider = provider or get_key_provider()
    candidates = []
    for version in provider.versions("blind_index"):
        index = blind_index(normaliser, value, version=version, provider=provider)
        if index is not None:
            candidates.append(index)
    return candidates


def index_version(index: str) -> int | None:
    if not index or not index.startswith("v"):
        return None
    head, _, _ = index.partition(":")
    return int(head[1:]) if head[1:].isdigit() else None

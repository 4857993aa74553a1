"""How staff screens show people and money: one place, so every list says it the same way.

- ``masked_name``: a person as staff lists show them, initials only (``"A*** P***"``); the full
  name is PI and stays on the person's own page behind a deliberate reveal.
- ``person_label``: masked name plus the first 8 characters of the public id, which is what the
  searches and the audit trail use to find the person (``"A*** P*** · 1a2b3c4d"``).
- ``money``: minor units with the currency's symbol and grouping (``"R 1,800.00"``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

CURRENCY_SYMBOLS = {"ZAR": "R", "USD": "$", "EUR": "€", "GBP": "£"}
# ISO 4217 minor-unit exponents that are not 2.
MINOR_UNIT_EXPONENTS = {"JPY": 0, "KWD": 3, "BHD": 3}


MASK = "***"


def mask_name(value: str) -> str:
    """One name as staff see it: its initial (``Thandi`` -> ``T***``). The PI masking table
    (compliance/pi/masking.py) uses this same function for every name field."""
    return f"{value.strip()[:1]}{MASK}"


def masked_name(first_name: str | None, last_name: str | None) -> str:
    parts = [part for part in (first_name or "", last_name or "") if part and part.strip()]
    return " ".join(mask_name(part) for part in parts) or "(no name)"


def short_id(public_id: Any) -> str:
    return str(public_id)[:8] if public_id else "—"


def person_label(user: Any) -> str:
    """``user`` with ``first_name``, ``last_name`` and ``public_id`` (None: "—")."""
    if user is None:
        return "—"
    return f"{masked_name(user.first_name, user.last_name)} · {short_id(user.public_id)}"


def money(minor_units: int | None, currency: str = "ZAR") -> str:
    if minor_units is None:
        return "—"
    exponent = MINOR_UNIT_EXPONENTS.get(currency, 2)
    amount = Decimal(minor_units).scaleb(-exponent)
    sign = "-" if amount < 0 else ""
    symbol = CURRENCY_SYMBOLS.get(currency, currency)
    return f"{sign}{symbol} {abs(amount):,.{exponent}f}"

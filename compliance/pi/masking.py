"""The one masking helper: how personal information looks wherever it is shown without a reveal.

Every screen, diff and answer that shows PI masked calls ``mask_value`` (the admin's masked
columns and fields, the audit trail's field-level change trail, bank account and card numbers).
The format follows the field's PI category (compliance/pi/vocabulary.py) and the value's shape:

============================  ==================  =====================================================
what                          example in clear    masked
============================  ==================  =====================================================
e-mail (contact)              jane@example.com    ``j***@e***.com`` (first letters and the top-level
                                                  domain: enough to tell two addresses apart)
phone (contact)               +27821234567        ``***567`` (last 3 digits)
other contact (address ...)   12 Long St          ``***``
SA ID number (identity)       8501015009087       ``***087`` (last 3 digits: citizenship, a constant
                                                  and the check digit; the first six are the birth
                                                  date and are never shown)
name (identity, ``*name``)    Thandi              ``T***``
date (any category)           1985-01-01          ``****-**-**`` (a date of birth identifies with a
                                                  name; no part of it is shown)
account or card number        62000000001         ``***0001`` (last 4, PCI DSS 3.4 for a PAN;
                                                  ``mask_pan`` from the stored truncation)
free text, structured values  anything            ``***``; a mapping keeps its keys (field names) and
                                                  masks every value
============================  ==================  =====================================================

client address (IP)            192.0.2.41          ``192.0.*.*`` (the network, for investigations; an
                                                  IPv6 address keeps its first three groups)

Which fields are masked (``masked_fields``): every field of the PI inventory (compliance/pi/registry.py)
except related objects, blind indexes (never shown at all) and *amounts*: numbers and dates of the
financial category (balances, amounts, daily totals) identify nobody without their owner, who is
shown by a public id.
Empty values stay empty (``""`` / None): that a field is blank is not personal information.
Related objects (a foreign key annotated as PI) are shown by their ``__str__``, which by project
rule carries no PI (a user is "User <public id>"), so they are not masked here.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from collections.abc import Iterable, Mapping
from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.db import models

from compliance.pi.registry import annotation_for, pi_field_names
from compliance.pi.vocabulary import Category
from kernel.display import MASK, mask_name

DATE_MASK = "****-**-**"

_PHONE = re.compile(r"^\+?[\d\s()-]{7,20}$")
_DIGITS = re.compile(r"\D")


def mask_full(value: Any = None) -> str:
    """Nothing of the value survives (free text, secrets in diffs)."""
    return MASK


def mask_email(value: str) -> str:
    local, _, domain = value.partition("@")
    host, dot, tld = domain.rpartition(".")
    if not dot:  # no top-level domain: keep nothing of the domain
        host, tld = domain, ""
    return f"{local[:1]}{MASK}@{host[:1]}{MASK}{'.' + tld if tld else ''}"


def mask_last(value: str, keep: int) -> str:
    """``***`` and the last ``keep`` digits of the value (nothing when it has too few)."""
    digits = _DIGITS.sub("", value)
    return f"{MASK}{digits[-keep:]}" if len(digits) > keep * 2 else MASK


def mask_pan(last4: str, *, first6: str = "", length: int = 16) -> str:
    """A card number by its stored truncation: ``***1111`` for staff screens; with ``first6``, the
    BIN-and-last-four form PCI DSS 3.4.1 permits (``411111******1111``), shown to the card's owner."""
    if first6:
        return first6 + "*" * (length - 10) + last4
    return f"{MASK}{last4}"


def mask_ip(value: str) -> str | None:
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if address.version == 4:
        return ".".join([*value.split(".")[:2], "*", "*"])
    return ":".join([*address.exploded.split(":")[:3], "*"])


_AMOUNT_FIELDS = (models.IntegerField, models.DecimalField, models.FloatField, models.DateField)


def masked_fields(model: type[models.Model], extra: Iterable[str] = ()) -> dict[str, Category | None]:
    """``model``'s fields shown masked (name -> PI category; None for ``extra`` names unknown to the
    inventory, masked fully): the inventory's fields, less relations and financial amounts."""
    found: dict[str, Category | None] = {}
    for name in sorted(pi_field_names(model) | set(extra)):
        annotation = annotation_for(model, name)
        try:
            field = model._meta.get_field(name)
        except FieldDoesNotExist:
            if name in extra:
                found[name] = None
            continue
        if field.is_relation or (annotation and annotation.derived_from):  # relations; blind indexes (never shown)
            continue
        if annotation and annotation.category == Category.FINANCIAL and isinstance(field, _AMOUNT_FIELDS):
            continue
        found[name] = annotation.category if annotation else None
    return found


def mask_value(value: Any, category: Category | str | None = None, field_name: str = "") -> Any:  # noqa: PLR0911 - one format per line of the table above
    """``value`` as it may be shown without a reveal, by its PI ``category`` and shape."""
    if value is None or value == "":
        return value
    if isinstance(value, (dt.date, dt.datetime)):
        return DATE_MASK
    if isinstance(value, Mapping):
        return {key: mask_full() for key in value}
    if isinstance(value, (list, tuple, set)):
        return [mask_full() for _ in value]
    text = str(value)
    category = Category(category) if category else None
    if (ip := mask_ip(text)) is not None:
        return ip
    if category in (Category.CARD, Category.FINANCIAL) and text.isdigit():
        return mask_last(text, 4)
    if category == Category.CONTACT and "@" in text:
        return mask_email(text)
    if category == Category.CONTACT and _PHONE.match(text):
        return mask_last(text, 3)
    if category == Category.IDENTITY and text.isdigit() and len(text) == 13:
        return mask_last(text, 3)
    if category == Category.IDENTITY and field_name.endswith("name"):
        return mask_name(text)
    return mask_full()

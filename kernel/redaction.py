"""Masking of personal information in free text, and the logging filter that applies it.

POPIA s19 and PCI DSS 3.3/10 forbid personal information and card data in logs. Code should never
log PI in the first place; this filter is the safety net under that rule. It rewrites every log
record *before any handler sees it* (it is installed on every handler, and a system check in
``fintech`` verifies that): the message after %-formatting, the arguments, any ``extra`` fields
and the exception text.

What is masked:
- card numbers: 13–19 digits, optionally grouped by single spaces or dashes, passing Luhn;
- South African ID numbers: exactly 13 digits (YYMMDD SSSS C A Z);
- e-mail addresses;
- phone numbers: South African national form (0xx xxx xxxx) and international form (+ and 8–15
  digits).
Masking errs towards hiding too much: a false positive costs a less useful log line, a false
negative is a reportable compromise. One exception, because the log is useless without them:
identifiers are left whole — UUIDs (``7d1f9a52-0c4e-...``) and hex ids of 32, 40 or 64 characters
with at least one letter (our request ids are ``uuid4().hex``; digests), even when they contain a
13-digit run or a Luhn-valid digit group. Masking digits inside them corrupted the very ids used to follow a request.
"""

from __future__ import annotations

import logging
import re
from typing import Any

PAN_MASK = "[REDACTED:PAN]"
ID_MASK = "[REDACTED:ID_NUMBER]"
EMAIL_MASK = "[REDACTED:EMAIL]"
PHONE_MASK = "[REDACTED:PHONE]"

_EMAIL = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+"
)
_SA_ID = re.compile(r"(?<!\d)\d{13}(?!\d)")
_DIGIT_RUN = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")
_PHONE_INTERNATIONAL = re.compile(r"(?<![\w+])\+\d(?:[ \-()]{0,2}\d){7,14}(?!\d)")
_PHONE_SA_NATIONAL = re.compile(r"(?<![\w+])0\d{2}[ \-]?\d{3}[ \-]?\d{4}(?!\d)")
# Identifiers kept whole (see the module docstring): a UUID, or a hex token with a letter.
_IDENTIFIER = re.compile(
    r"(?<![0-9A-Za-z])(?:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
    r"|(?=[0-9a-fA-F]*[a-fA-F])(?:[0-9a-fA-F]{64}|[0-9a-fA-F]{40}|[0-9a-fA-F]{32}))(?![0-9A-Za-z])"
)


def luhn_valid(digits: str) -> bool:
    if not digits.isdigit():
        return False
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _mask_digit_run(match: re.Match[str]) -> str:
    digits = re.sub(r"[ -]", "", match.group(0))
    if 13 <= len(digits) <= 19 and luhn_valid(digits):
        return PAN_MASK
    return match.group(0)


def redact(text: str) -> str:
    """Return ``text`` with card numbers, SA ID numbers, e-mails and phone numbers masked."""
    if not text:
        return text
    # E-mails first: their local parts may contain digit runs that would otherwise be half-masked.
    text = _EMAIL.sub(EMAIL_MASK, text)
    # Then mask only between identifiers, which are kept whole.
    pieces, start = [], 0
    for match in _IDENTIFIER.finditer(text):
        pieces.append(_redact_numbers(text[start : match.start()]))
        pieces.append(match.group())
        start = match.end()
    pieces.append(_redact_numbers(text[start:]))
    return "".join(pieces)


def _redact_numbers(text: str) -> str:
    if not text:
        return text
    text = _SA_ID.sub(ID_MASK, text)
    text = _DIGIT_RUN.sub(_mask_digit_run, text)
    text = _PHONE_INTERNATIONAL.sub(PHONE_MASK, text)
    return _PHONE_SA_NATIONAL.sub(PHONE_MASK, text)


def redact_value(value: Any) -> Any:
    """Redact strings inside nested JSON-like values; other scalars pass through unchanged."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: redact_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [redact_value(item) for item in value]
    return value


def _safe_extra(value: Any) -> Any:
    """An ``extra`` value as a handler may print it: JSON-like values redacted in place, any other
    object (a request, a model instance) replaced by its redacted text, since formatters print
    ``str()`` of what they cannot serialise."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str | dict | list | tuple):
        return redact_value(value)
    return redact(str(value))


# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class PIIRedactionFilter(logging.Filter):
    """Logging filter that masks PI in the message, arguments, extras and exception text."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken format string must not lose the record or leak args
            message = f"{record.msg} (unformattable arguments)"
        record.msg = redact(str(message))
        record.args = None
        for key, value in list(vars(record).items()):
            if key not in _STANDARD_ATTRS:
                setattr(record, key, _safe_extra(value))
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
            # The formatter would otherwise re-render the traceback from exc_info, unredacted.
            record.exc_info = None
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


# --- Before any handler: the record factory and the request's repr ------------------------------
# A filter runs only on the handlers it is installed on (and a logger's own filters only for
# records logged *to that logger*, not to its children such as ``django.request``). Two things
# therefore act where the data enters a record, so that no handler -- ours, a test's capture, a
# third party's -- ever sees it in clear:
# - the record factory formats and redacts the message as the record is made (``args`` dropped);
# - the request object Django passes as ``extra={"request": ...}`` (``django.request`` 4xx/5xx
#   warnings, ``django.security``) prints without its query string and with its path redacted:
#   ``<WSGIRequest: GET '/admin/accounts/user/' (query omitted)>``.


class RedactedRequestRepr:
    """Mixed into a request's class: its repr never shows the query string or PI in the path."""

    def __repr__(self) -> str:
        method = getattr(self, "method", None)
        path = redact(str(getattr(self, "path", "")))
        query = " (query omitted)" if getattr(self, "META", {}).get("QUERY_STRING") else ""
        return f"<{type(self).__name__}: {method} {path!r}{query}>"


_redacting_classes: dict[type, type] = {}


def _redacting_class(request_class: type) -> type:
    if request_class not in _redacting_classes:
        _redacting_classes[request_class] = type(
            request_class.__name__, (RedactedRequestRepr, request_class), {"__module__": __name__}
        )
    return _redacting_classes[request_class]


def redact_request_repr(request: Any) -> Any:
    """Give ``request`` the redacted repr (a subclass of its own class: ``isinstance`` still holds)."""
    if not isinstance(request, RedactedRequestRepr):
        request.__class__ = _redacting_class(type(request))
    return request


_factory: dict[str, Any] = {}  # the factory in place before ours ("previous")


def _redacting_record_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
    record: logging.LogRecord = _factory["previous"](*args, **kwargs)
    if record.args:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken format string must not lose the record or leak args
            message = f"{record.msg} (unformattable arguments)"
        record.msg, record.args = redact(str(message)), None
    elif isinstance(record.msg, str):
        record.msg = redact(record.msg)
    return record


def install_redacting_record_factory() -> None:
    """Redact every log record's message as it is made, for every logger and handler (idempotent)."""
    if logging.getLogRecordFactory() is _redacting_record_factory:
        return
    _factory["previous"] = logging.getLogRecordFactory()
    logging.setLogRecordFactory(_redacting_record_factory)

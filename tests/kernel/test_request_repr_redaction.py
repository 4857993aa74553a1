"""A refused admin search and a refused API query put no PI into any log output (issue 16).

Django logs every 4xx/5xx on ``django.request`` with the request object as ``extra``; its repr
used to carry the whole query string (``<WSGIRequest: GET '…?q=9004011686089'>``) to every
handler. The sentinel values go in as a staff member or a caller would type them; the test
captures the configured JSON handler *and* raw, filter-less handlers of its own on every logger
involved, and none of them may see a value.
"""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from kernel.redaction import PIIRedactionFilter, redact_request_repr
from tests.ledger.conftest import sa_id
from tests.personas import otp_admin_login

ID_NUMBER = sa_id()
EMAIL = "nomvula.sentinel@example.co.za"
PHONE = "+27825550173"
PAN = "4111111111111111"
SENTINELS = (ID_NUMBER, EMAIL, "nomvula.sentinel", PHONE, "825550173", PAN)
LOGGERS = ("", "django", "django.request", "django.security", "fintech.access")


class RawCapture(logging.Handler):
    """A handler with no filter at all: what any third-party handler would receive."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        extras = {key: repr(value) for key, value in vars(record).items()}
        self.lines.append(f"{record.getMessage()} {extras}")


@contextlib.contextmanager
def every_handler() -> Iterator[tuple[io.StringIO, RawCapture]]:
    """Capture the configured handler's output and a raw handler on every logger involved (entered
    after the log-ins and personas: creating staff re-applies the logging configuration)."""
    configured = next(
        h for h in logging.getLogger().handlers if any(isinstance(f, PIIRedactionFilter) for f in h.filters)
    )
    stream = io.StringIO()
    previous = configured.setStream(stream)
    raw = RawCapture()
    levels = {}
    for name in LOGGERS:
        logger = logging.getLogger(name)
        levels[name] = logger.level
        logger.addHandler(raw)
        logger.setLevel(logging.DEBUG)
    try:
        yield stream, raw
    finally:
        for name in LOGGERS:
            logging.getLogger(name).removeHandler(raw)
            logging.getLogger(name).setLevel(levels[name])
        configured.setStream(previous)


def query() -> str:
    return urlencode({"q": ID_NUMBER, "email": EMAIL, "phone": PHONE, "card": PAN})


def assert_nothing_leaked(stream: io.StringIO, raw: RawCapture) -> None:
    written, captured = stream.getvalue(), "\n".join(raw.lines)
    for value in SENTINELS:
        assert value not in written, f"{value!r} written by the configured handler"
        assert value not in captured, f"{value!r} reached a raw handler"


@pytest.mark.django_db
def test_a_refused_admin_search_logs_no_pi(operations, client):
    otp_admin_login(client, operations)
    with every_handler() as (stream, raw):
        response = client.get(f"{reverse('admin:compliance_auditevent_changelist')}?{query()}")
    assert response.status_code == 403
    assert "Forbidden" in "\n".join(raw.lines), "django.request really logged the refusal"
    assert "query omitted" in "\n".join(raw.lines), "the request object reached the handlers, redacted"
    assert_nothing_leaked(stream, raw)


@pytest.mark.django_db
def test_a_refused_api_query_logs_no_pi():
    with every_handler() as (stream, raw):
        response = APIClient().get(f"/api/v1/dsar/?{query()}")
    assert response.status_code == 401
    assert any("Unauthorized" in line for line in raw.lines)
    assert_nothing_leaked(stream, raw)


@pytest.mark.django_db
def test_pi_in_the_path_itself_is_masked_too():
    with every_handler() as (stream, raw):
        response = APIClient().get(f"/api/v1/no-such-thing/{ID_NUMBER}/{EMAIL}/")
    assert response.status_code in (401, 404)
    assert_nothing_leaked(stream, raw)


def test_the_redacted_repr_keeps_the_method_and_class(rf):
    request = redact_request_repr(rf.get("/admin/accounts/user/", {"q": ID_NUMBER}))
    assert repr(request) == "<WSGIRequest: GET '/admin/accounts/user/' (query omitted)>"
    assert request.GET["q"] == ID_NUMBER  # the request itself is unchanged
    from django.core.handlers.wsgi import WSGIRequest

    assert isinstance(request, WSGIRequest)
    assert redact_request_repr(request) is request


def test_a_message_logged_with_arguments_is_redacted_as_the_record_is_made():
    with every_handler() as (stream, raw):
        logging.getLogger("django.request").warning("lookup %s by %s", ID_NUMBER, EMAIL)
    assert_nothing_leaked(stream, raw)
    assert "[REDACTED:ID_NUMBER]" in "\n".join(raw.lines)

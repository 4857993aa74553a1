"""PCI DSS must-show: a card's full number and its CVV appear nowhere they must not.

One customer journey through the real API (add a card, a refused CVV, a duplicate, list, read, a
card deposit, an operations reveal) with sentinel values, then every place data could leak is
searched: every table (raw SELECT), a ``pg_dump --data-only`` of the test database, every key and
value in the test Redis database, the configured JSON log handler's output and every log record
(caplog sees records *before* the redaction filter, so it proves nothing tried to log them), and
every API response. The PAN may appear in exactly one place: the audited reveal response.
"""

from __future__ import annotations

import io
import logging
import re
import uuid

import pytest
import redis
from django.conf import settings
from django.db import connection

from accounts import roles
from compliance.audit.services import AuditAction
from compliance.models import AuditEvent
from kernel.redaction import PIIRedactionFilter
from ledger.models import Card
from tests.database_dump import pg_dump_data
from tests.ledger.conftest import api_client, card_expiry
from tests.personas import make_staff

pytestmark = pytest.mark.django_db(transaction=True)

PAN = "4012887732091457"  # Luhn-valid Visa, used nowhere else in the test suite
PAN_SPACED = "4012 8877 3209 1457"
CVV = "047"
BAD_CVV = "0947"  # four digits on a Visa: refused, and must not be echoed or logged either
HOLDER = "Sentinel Holdername"


def pan_forms() -> list[str]:
    return [PAN, PAN_SPACED, "4012-8877-3209-1457", PAN[6:12]]  # the middle digits never leave the vault


def cvv_occurs(text: str) -> list[str]:
    """CVV sentinels standing as their own token (not inside base64, hex, a number or a timestamp)."""
    found = []
    for cvv in (CVV, BAD_CVV):
        if re.search(rf"(?<![0-9A-Za-z+/.:\-]){cvv}(?![0-9A-Za-z+/=.:\-])", text):
            found.append(cvv)
    return found


def assert_clean(where: str, text: str, *, pan_allowed: bool = False) -> None:
    assert cvv_occurs(text) == [], f"CVV sentinel found in {where}"
    if not pan_allowed:
        for form in pan_forms():
            assert form not in text, f"PAN sentinel ({form!r}) found in {where}"
    assert HOLDER.lower() not in text.lower() or where.startswith("response"), f"holder name in clear in {where}"


def all_tables_text() -> str:
    tables = connection.introspection.table_names(include_views=False)
    chunks = []
    with connection.cursor() as cursor:
        for table in tables:
            # Names come from the database's own catalogue, quoted; no input reaches this SQL.
            cursor.execute(f"SELECT coalesce(string_agg(t::text, chr(10)), '') FROM \"{table}\" t")  # noqa: S608
            chunks.append(f"== {table}\n{cursor.fetchone()[0]}")
    return "\n".join(chunks)


def redis_text() -> tuple[int, str]:
    client = redis.Redis.from_url(settings.REDIS_URL)
    parts, count = [], 0
    for key in client.scan_iter(count=500):
        count += 1
        kind = client.type(key).decode()
        if kind == "string":
            value = client.get(key)
        elif kind == "hash":
            value = client.hgetall(key)
        elif kind == "list":
            value = client.lrange(key, 0, -1)
        elif kind == "set":
            value = client.smembers(key)
        elif kind == "zset":
            value = client.zrange(key, 0, -1, withscores=True)
        else:
            value = client.dump(key)
        parts.append(f"{key!r} {kind} {value!r}")
    return count, "\n".join(parts)


@pytest.fixture
def json_log():
    handler = next(h for h in logging.getLogger().handlers if any(isinstance(f, PIIRedactionFilter) for f in h.filters))
    stream = io.StringIO()
    previous = handler.setStream(stream)
    yield stream
    handler.setStream(previous)


def test_pan_and_cvv_sentinels_appear_nowhere(transactional_db, make_customer, json_log, caplog):
    caplog.set_level(logging.DEBUG)
    user, wallet = make_customer(balance=0)
    operations = make_staff(roles.OPERATIONS)
    client = api_client(user)
    responses: list[tuple[str, str]] = []

    def record(label, response):
        responses.append((label, response.content.decode()))
        return response

    created = record("add", client.post(
        "/api/v1/cards/", {"pan": PAN_SPACED, "expiry": card_expiry(), "cvv": CVV, "holder": HOLDER}, format="json"
    ))  # fmt: skip
    assert created.status_code == 201, created.content
    card_id = created.json()["id"]
    refused = record("bad cvv", client.post(
        "/api/v1/cards/", {"pan": PAN, "expiry": card_expiry(), "cvv": BAD_CVV}, format="json"
    ))  # fmt: skip
    assert refused.status_code == 400
    assert refused.json()["error"]["fields"] == {"cvv": ["Invalid security code."]}
    duplicate = record("duplicate", client.post(
        "/api/v1/cards/", {"pan": PAN, "expiry": card_expiry(), "cvv": CVV}, format="json"
    ))  # fmt: skip
    assert duplicate.status_code == 409
    assert record("list", client.get("/api/v1/cards/")).status_code == 200
    detail = record("detail", client.get(f"/api/v1/cards/{card_id}/"))
    assert detail.json()["masked_pan"] == "401288******1457"
    deposit = record("deposit", client.post(
        "/api/v1/deposits/",
        {"account": str(wallet.public_id), "amount": 1_000, "currency": "ZAR", "method": "card",
         "funding_source": card_id},
        format="json", HTTP_IDEMPOTENCY_KEY=f"sentinel-{uuid.uuid4()}",
    ))  # fmt: skip
    assert deposit.status_code == 201, deposit.content
    assert record("statement", client.get(f"/api/v1/accounts/{wallet.public_id}/statement/")).status_code == 200
    reveal = api_client(operations).post(
        f"/api/v1/ops/cards/{card_id}/reveal/", {"reason": "chargeback"}, format="json"
    )
    assert reveal.status_code == 200 and reveal.json()["pan"] == PAN
    assert AuditEvent.objects.filter(action=AuditAction.CARD_DATA_ACCESS, object_id=card_id).count() == 1

    # Responses: the PAN only in the audited reveal; the CVV in none.
    for label, text in responses:
        assert_clean(f"response {label}", text)
    assert_clean("response reveal", reveal.content.decode(), pan_allowed=True)

    # The database, table by table and as a dump; the card row is really there (encrypted).
    card = Card.objects.get(public_id=card_id)
    assert card.pan == PAN and card.active
    tables = all_tables_text()
    assert "== ledger_card" in tables and "401288" in tables and "1457" in tables
    assert_clean("database tables", tables)
    dump = pg_dump_data()
    assert "COPY public.ledger_card" in dump and card_id in dump
    assert_clean("pg_dump", dump)

    # Redis (cache, throttles, Celery broker share this test database).
    _, cached = redis_text()
    assert_clean("redis", cached)

    # Logs: what the JSON handler wrote, and every record as emitted (before redaction).
    written = json_log.getvalue()
    assert "/api/v1/cards/" in written  # the access log really went through this handler
    assert_clean("json log", written)
    assert "[REDACTED:PAN]" not in written  # nothing even tried to log the PAN
    raw_records = "\n".join(f"{r.getMessage()} {r.args!r} {vars(r)!r}" for r in caplog.records)
    assert caplog.records
    assert_clean("log records", raw_records)

"""Nothing left behind (issue 16): after a deletion, the subject's recognisable values are nowhere.

A subject is seeded with a recognisable name, e-mail address, phone number and SA ID number, a
correction request carrying a corrected surname, and an export bundle (built and downloaded).
The subject asks for deletion over the API, two officers approve it over the officer API and the
erasure runs (what the worker's task does). Then the test searches, for every sentinel:

- a ``pg_dump --data-only`` of the whole database (every table, audit trail and task results
  included), for the value in clear and for its blind index;
- every value the models still hold about the subject, decrypted, except the fields the law
  makes us keep (FICA: the ID number under a dated retention hold);
- every key and value in Redis (cache, throttles, the Celery broker);
- every file under the media root (the export bundles' directory);
- every log line the project's console handler wrote during the whole journey.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.db import connection

from compliance.crypto.blind_index import blind_index
from compliance.dsar.erasure import erase_subject
from compliance.dsar.export import export_create
from compliance.dsar.models import DataSubjectRequest, DsarExport, DsarStatus
from compliance.retention.seed import seed_retention_policies
from ledger import services as ledger
from tests.compliance.consent.consent_helpers import seed_purposes
from tests.compliance.dsar.deletion_helpers import act
from tests.compliance.dsar.test_dsar_fulfilment import _readable_values
from tests.database_dump import pg_dump_data
from tests.ledger.conftest import sa_id
from tests.personas import make_api_client, make_customer, make_staff, otp_admin_login

pytestmark = [pytest.mark.django_db(transaction=True)]

SENTINELS = {
    "email": "nomvula.sentinel7731@example.co.za",
    "first_name": "Nomvulasentinel",
    "last_name": "Xabasentinel",
    "phone": "+27825557731",
    "corrected_surname": "Correctedsentinelsurname",
}


@pytest.fixture
def console_log() -> Iterator[io.StringIO]:
    """What the project's console handler writes (its formatter and its PII filters), captured."""
    [console] = [h for h in logging.getLogger("django.request").handlers if isinstance(h, logging.StreamHandler)]
    out = io.StringIO()
    capture = logging.StreamHandler(out)
    capture.setFormatter(console.formatter)
    for log_filter in console.filters:
        capture.addFilter(log_filter)
    loggers = [logging.getLogger(), *(logging.getLogger(name) for name in ("django", "django.request", "celery"))]
    for logger in loggers:
        logger.addHandler(capture)
    previous = logging.getLogger().level
    logging.getLogger().setLevel(logging.DEBUG)
    try:
        yield out
    finally:
        logging.getLogger().setLevel(previous)
        for logger in loggers:
            logger.removeHandler(capture)


def redis_dump() -> str:
    client = redis.Redis.from_url(settings.REDIS_URL)
    parts = []
    for key in client.scan_iter(count=500):
        parts.append(repr(key))
        kind = client.type(key).decode()
        if kind == "string":
            parts.append(repr(client.get(key)))
        elif kind == "list":
            parts.append(repr(client.lrange(key, 0, -1)))
        elif kind == "hash":
            parts.append(repr(client.hgetall(key)))
        elif kind == "set":
            parts.append(repr(client.smembers(key)))
        elif kind == "zset":
            parts.append(repr(client.zrange(key, 0, -1)))
    return "\n".join(parts)


def media_dump() -> tuple[list[str], bytes]:
    root = Path(settings.MEDIA_ROOT)
    names, content = [], b""
    for folder, _dirs, files in os.walk(root):
        for name in files:
            path = Path(folder) / name
            names.append(str(path.relative_to(root)))
            content += path.read_bytes()
    return names, content


def test_after_erasure_no_sentinel_is_left_anywhere(console_log):
    seed_purposes()
    seed_retention_policies()
    operations = make_staff("operations")
    first, second = make_staff("information_officer"), make_staff("information_officer")
    subject = make_customer(email=SENTINELS["email"])
    subject.first_name, subject.last_name, subject.phone = (
        SENTINELS["first_name"],
        SENTINELS["last_name"],
        SENTINELS["phone"],
    )
    subject.save()
    id_number = sa_id()
    record = ledger.kyc_submit(
        actor=subject, id_number=id_number, date_of_birth=dt.date(1990, 1, 15), document_reference="DOC-S",
    )  # fmt: skip
    ledger.kyc_decide(actor=operations, record=record.public_id, verify=True, tier=2)
    customer_api = make_api_client(subject)

    # A correction request with a corrected surname, rejected (the values stay on the request).
    correction = customer_api.post(
        "/api/v1/dsar/",
        {"type": "correction", "requested_changes": {"last_name": SENTINELS["corrected_surname"]}},
        format="json",
    )
    assert correction.status_code == 201, correction.content
    assert correction.json()["requested_changes"] == {"last_name": "•••• (masked)"}, "shown masked"
    correction_id = correction.json()["id"]
    act(first, correction_id, "verify-identity", {"evidence": "MFA step-up at filing"})
    act(first, correction_id, "assign")
    act(first, correction_id, "reject", {"reason": "The registry document shows the current surname."})
    stored = DataSubjectRequest.objects.get(public_id=correction_id)
    assert stored.requested_changes == {"last_name": SENTINELS["corrected_surname"]}
    assert SENTINELS["corrected_surname"] not in pg_dump_data(), "encrypted at rest"

    # An export bundle, built and downloaded.
    access_id = customer_api.post("/api/v1/dsar/", {"type": "access"}, format="json").json()["id"]
    act(first, access_id, "verify-identity", {"evidence": "MFA step-up at filing"})
    act(first, access_id, "assign")
    act(first, access_id, "approve")
    bundle = export_create(dsar=DataSubjectRequest.objects.get(public_id=access_id))
    download = customer_api.get(f"/api/v1/dsar/{access_id}/download/")
    assert download.status_code == 200 and len(download.content) > 100
    assert media_dump()[0] == [bundle.storage_name]

    # The searches find what is there: before the deletion, the indexes are in the dump and the
    # values readable through the models.
    indexes = {
        "email index": blind_index("email", SENTINELS["email"]),
        "phone index": blind_index("phone", SENTINELS["phone"]),
    }
    before = pg_dump_data()
    assert all(value in before for value in indexes.values())
    readable_before = _readable_values(subject)
    assert SENTINELS["email"] in readable_before and SENTINELS["corrected_surname"] in readable_before

    # The deletion: filed over the API, approved by two officers, carried out.
    deletion_id = customer_api.post("/api/v1/dsar/", {"type": "deletion"}, format="json").json()["id"]
    act(first, deletion_id, "verify-identity", {"evidence": "MFA step-up at filing"})
    act(first, deletion_id, "assign")
    act(first, deletion_id, "request-approval")
    act(second, deletion_id, "approve")
    statement = erase_subject(dsar=DataSubjectRequest.objects.get(public_id=deletion_id))
    assert statement is not None and "has been carried out" in statement
    assert DataSubjectRequest.objects.get(public_id=deletion_id).status == DsarStatus.FULFILLED

    sentinels = {**SENTINELS, "id_number": id_number}
    dump = pg_dump_data()
    readable = _readable_values(subject)
    keys_and_values = redis_dump()
    files, file_bytes = media_dump()
    logs = console_log.getvalue()
    assert logs, "the journey was logged"
    for name, value in sentinels.items():
        assert value not in dump, f"{name} in the database dump"
        assert value not in keys_and_values, f"{name} in Redis"
        assert value.encode() not in file_bytes, f"{name} in a media file"
        assert value not in logs, f"{name} in the logs"
        if name != "id_number":  # kept under FICA (encrypted, on a dated hold): the law's exception
            assert value not in readable, f"{name} still readable through the models"
    for name, value in indexes.items():
        assert value and value not in dump, f"{name} in the database dump"
    # The bundle is gone, file and row; the correction request keeps which field, not the value.
    assert files == [] and not DsarExport.objects.exists()
    stored.refresh_from_db()
    assert set(stored.requested_changes) == {"last_name"}
    assert SENTINELS["corrected_surname"] not in str(stored.requested_changes)


def test_requested_changes_are_encrypted_at_rest_and_shown_masked_in_the_admin_and_the_api(client):
    seed_purposes()
    officer = make_staff("information_officer")
    subject = make_customer()
    surname = SENTINELS["corrected_surname"]
    filed = make_api_client(subject).post(
        "/api/v1/dsar/", {"type": "correction", "requested_changes": {"last_name": surname}}, format="json"
    )
    assert filed.status_code == 201, filed.content
    dsar = DataSubjectRequest.objects.get(public_id=filed.json()["id"])
    assert dsar.requested_changes == {"last_name": surname}, "the service still reads the value"
    with connection.cursor() as cursor:
        cursor.execute("SELECT requested_changes FROM compliance_datasubjectrequest WHERE id = %s", [dsar.pk])
        [raw] = cursor.fetchone()
    assert raw.startswith("s1:") and surname not in raw, "ciphertext (under the subject's key) in the column"

    detail = make_api_client(subject).get(f"/api/v1/dsar/{dsar.public_id}/")
    acted = make_api_client(officer).post(
        f"/api/v1/officer/dsar/{dsar.public_id}/verify-identity/", {"evidence": "MFA"}, format="json"
    )
    otp_admin_login(client, officer)
    page = client.get(f"/admin/compliance/datasubjectrequest/{dsar.pk}/change/")

    for answer in (detail.json(), acted.json()):
        assert answer["requested_changes"] == {"last_name": "•••• (masked)"}
    # The admin shows it through the masking mixin: field names kept, values masked until a reasoned reveal.
    assert page.status_code == 200 and "last_name" in page.content.decode()
    for shown in (detail.content, acted.content, page.content):
        assert surname.encode() not in shown

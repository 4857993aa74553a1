"""The export's own JSON and CSV encoders (compliance/dsar/export.py) write exactly what the standard
library wrote before them (``json.dumps(..., indent=1, ensure_ascii=False, default=str)`` and
``csv_cell``): the bundle's bytes must not change because the encoding got faster."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import uuid
import zipfile
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from hypothesis import given, settings
from hypothesis import strategies as st

from compliance.dsar import export
from tests.personas import make_customer, make_staff

AWKWARD = [
    "plain", "", "quote \" and back\\slash", "new\nline\ttab\r", "\x00\x01\x1f control", "é ü 日本 \u2028 \U0001f600",
    "50% of 100%s", 0, -7, 2**70, True, False, None, 1.5, float("nan"), Decimal("1.10"), uuid.UUID(int=5),
    dt.datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=dt.UTC), [], {}, [1, "a", None], {"k": {"deep": [1, {"x": "y"}]}},
    {1: "int key"}, (1, 2), {"b": 1, "a": [True, {}]},
]  # fmt: skip


def test_json_text_matches_the_standard_encoder_at_every_depth():
    for level in range(4):
        for value in [*AWKWARD, AWKWARD, dict(enumerate(AWKWARD)), {str(i): v for i, v in enumerate(AWKWARD)}]:
            expected = json.dumps(value, indent=1, ensure_ascii=False, default=str)
            nested = json.dumps([[[value]]], indent=1, ensure_ascii=False, default=str)
            assert export._json_text(value, level) == expected.replace("\n", "\n" + " " * level), (level, value)
            assert export._json_text([[[value]]], 0) == nested


def test_a_table_of_rows_is_written_as_the_list_of_dicts_it_stands_for():
    columns = ["id", "name", "100%", "nested"]
    rows = [tuple(AWKWARD[(i + j) % len(AWKWARD)] for j in range(len(columns))) for i in range(3 * len(AWKWARD))]
    document = {"tables": {"t": {"rows": export._Rows(columns, rows)}, "empty": export._Rows(columns, [])}, "x": []}
    expected = {"tables": {"t": {"rows": [dict(zip(columns, row, strict=True)) for row in rows]}, "empty": []}, "x": []}
    for per_chunk in (1, 7, 2000):
        chunks = export._json_chunks(document)
        text = "".join(chunks) if per_chunk == 2000 else None
        if text is None:
            table = document["tables"]["t"]["rows"]
            text = "".join(export._rows_json(table, 3, rows_per_chunk=per_chunk))
            reference = json.dumps(expected["tables"]["t"]["rows"], indent=1, ensure_ascii=False, default=str)
            assert text == reference.replace("\n", "\n   ")
        else:
            assert text == json.dumps(expected, indent=1, ensure_ascii=False, default=str)
    no_columns = export._Rows([], [(), ()])
    assert "".join(export._json_chunks(no_columns)) == json.dumps([{}, {}], indent=1)


def test_csv_cells_match_csv_cell_and_the_dict_writer():
    plain = [export._plain(value) for value in AWKWARD]  # cells are what _plain makes of the values
    rows = [tuple(plain) for _ in range(3)]
    columns = [f"c{i}" for i in range(len(rows[0]))]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        export._write_csv(bundle, "t.csv", columns, rows, rows_per_chunk=2)
        export._write_csv(bundle, "empty.csv", [], [])
    written = zipfile.ZipFile(buffer).read("t.csv").decode()
    expected = io.StringIO()
    writer = csv.DictWriter(expected, fieldnames=columns)
    writer.writeheader()
    writer.writerows({key: export.csv_cell(value) for key, value in zip(columns, row, strict=True)} for row in rows)
    assert written == expected.getvalue()
    assert zipfile.ZipFile(buffer).read("empty.csv") == b""
    assert export._csv_column(plain) == [export.csv_cell(value) for value in plain]


def _csv_module(rows: list[tuple[str, ...]]) -> str:
    expected = io.StringIO(newline="")
    csv.writer(expected).writerows(rows)
    return expected.getvalue()


_CELLS = st.text(alphabet=st.sampled_from([",", '"', "\r", "\n", "\x00", " ", "a", "é", "\u2028", "'", ";", "\t"]))


@settings(max_examples=300, deadline=None)  # a shared machine's pauses are no failure
@given(st.integers(min_value=2, max_value=5).flatmap(lambda width: st.lists(st.tuples(*[_CELLS] * width), min_size=1)))
def test_csv_lines_are_what_the_csv_module_writes(rows):
    columns = [list(column) for column in zip(*rows, strict=True)]
    assert export._csv_lines(columns) == _csv_module(rows)


def test_csv_entries_quote_as_the_csv_module_does_in_every_shape():
    shapes = {
        "one column": (["only"], [("",), ("x",), ("a,b",), ('"',), ("",)]),  # a lone empty cell is ""
        "two columns": (["a", "b"], [("", ""), ("x,y", 'say "hi"'), ("\r\n", "plain"), ("", "\n")]),
        "nothing to quote": (["a", "b", "c"], [("1", "2", "3"), ("", "", "")]),
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        for name, (columns, rows) in shapes.items():
            export._write_csv(bundle, name, columns, rows, rows_per_chunk=2)
    for name, (columns, rows) in shapes.items():
        assert zipfile.ZipFile(buffer).read(name).decode() == _csv_module([tuple(columns), *rows]), name


# --- Timestamps and UUIDs rendered by PostgreSQL (export._as_text) --------------------------------
# The export reads Django's own timestamp and UUID fields as text PostgreSQL renders in the query
# (cheaper than Python's parsing and formatting them again); the text must be exactly what
# ``isoformat()`` and ``str()`` give for the values Django would have read.
AWKWARD_TIMES = [
    dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC),  # no fraction: isoformat() writes none
    dt.datetime(2026, 1, 2, 3, 4, 5, 1, tzinfo=dt.UTC),
    dt.datetime(2026, 1, 2, 3, 4, 5, 10, tzinfo=dt.UTC),
    dt.datetime(2026, 1, 2, 3, 4, 5, 120000, tzinfo=dt.UTC),  # trailing zeros are kept (.120000)
    dt.datetime(2026, 1, 2, 3, 4, 5, 999999, tzinfo=dt.UTC),
    dt.datetime(2026, 6, 30, 23, 59, 59, 500000, tzinfo=dt.timezone(dt.timedelta(hours=2))),  # stored as UTC
    dt.datetime(2000, 2, 29, tzinfo=dt.UTC),
    dt.datetime(1, 1, 1, tzinfo=dt.UTC),
    dt.datetime(999, 12, 31, 23, 59, 59, tzinfo=dt.UTC),
    dt.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=dt.UTC),
]


@pytest.mark.django_db
def test_the_database_renders_timestamps_and_uuids_as_python_writes_them():
    from django.contrib.auth import get_user_model

    user_model = get_user_model()
    user = make_customer()
    fields = {name: user_model._meta.get_field(name) for name in ("last_login", "public_id", "email")}
    assert export._renders_text(user_model.objects.db), "the tests run on PostgreSQL in UTC"
    # An encrypted field decodes its own values: the database never renders it.
    assert export._as_text("email", fields["email"]) is None
    ids = [uuid.UUID(int=5), uuid.uuid4(), uuid.UUID(int=2**128 - 1)]
    for index, value in enumerate(AWKWARD_TIMES):
        public_id = ids[index % len(ids)]
        user_model.objects.filter(pk=user.pk).update(last_login=value, public_id=public_id)
        read_at, read_id, text_at, text_id = (
            user_model.objects.filter(pk=user.pk)
            .annotate(
                text_at=export._as_text("last_login", fields["last_login"]),
                text_id=export._as_text("public_id", fields["public_id"]),
            )
            .values_list("last_login", "public_id", "text_at", "text_id")
            .get()
        )
        assert read_at == value
        assert (text_at, text_id) == (read_at.isoformat(), str(read_id)), value


@pytest.mark.django_db
def test_a_bundle_read_with_the_database_rendering_is_byte_identical(monkeypatch):
    """The whole access bundle, entry by entry, with the database rendering timestamps and UUIDs and
    with Python converting them: a posting's journal entry (read through its reference columns),
    related records by public id, people, encrypted fields, awkward timestamps."""
    from django.contrib.auth import get_user_model

    from compliance.dsar import services
    from compliance.dsar.models import DataSubjectRequest
    from ledger import services as ledger
    from tests.compliance.dsar.test_dsar_fulfilment import customer_with_history

    operations = make_staff("operations")
    alice, wallet, _ = customer_with_history("alice", operations)
    bob, bob_wallet, _ = customer_with_history("bob", operations)
    ledger.transfer_create(
        actor=bob, source_account=bob_wallet.public_id, destination_account=wallet.public_id,
        amount=1_234, currency="ZAR", idempotency_key=f"tr-{uuid.uuid4()}", reference="rent",
    )  # fmt: skip
    first = services.dsar_file(subject=alice, filed_by=alice, type="access")
    dsar = services.dsar_file(subject=alice, filed_by=alice, type="access")
    DataSubjectRequest.objects.filter(pk=dsar.pk).update(
        duplicate_of=first, identity_verified_at=AWKWARD_TIMES[0], extended_at=AWKWARD_TIMES[3],
        decided_at=AWKWARD_TIMES[7], closed_at=AWKWARD_TIMES[-1],
    )  # fmt: skip
    get_user_model().objects.filter(pk=alice.pk).update(last_login=AWKWARD_TIMES[5])
    generated_at = dt.datetime(2026, 12, 3, 8, 0, 0, 250000, tzinfo=dt.UTC)

    with CaptureQueriesContext(connection) as queries:
        rendered, counts = export.build_bundle(subject=alice, dsar=dsar, generated_at=generated_at)
    assert sum("to_char(" in query["sql"] for query in queries.captured_queries) >= 5, "rendered by the database"
    monkeypatch.setattr(export, "_renders_text", lambda using: False)
    with CaptureQueriesContext(connection) as queries:
        converted, converted_counts = export.build_bundle(subject=alice, dsar=dsar, generated_at=generated_at)
    assert not any("to_char(" in query["sql"] for query in queries.captured_queries), "converted by Python"

    assert counts == converted_counts and counts["ledger.posting"] >= 3
    ours, theirs = zipfile.ZipFile(io.BytesIO(rendered)), zipfile.ZipFile(io.BytesIO(converted))
    assert ours.namelist() == theirs.namelist()
    for name in ours.namelist():
        assert ours.read(name) == theirs.read(name), name
    tables = json.loads(ours.read("data.json"))["tables"]
    (request,) = (
        row for row in tables["compliance.datasubjectrequest"]["rows"] if row["public_id"] == str(dsar.public_id)
    )
    assert (request["identity_verified_at"], request["extended_at"], request["decided_at"], request["closed_at"]) == (
        "2026-01-02T03:04:05+00:00", "2026-01-02T03:04:05.120000+00:00", "0001-01-01T00:00:00+00:00",
        "9999-12-31T23:59:59.999999+00:00",
    )  # fmt: skip
    assert request["duplicate_of"] == str(first.public_id)
    assert tables["accounts.user"]["rows"][0]["last_login"] == "2026-06-30T21:59:59.500000+00:00"
    incoming = [row["entry"] for row in tables["ledger.posting"]["rows"] if row["entry"]["reference"] == "rent"]
    assert len(incoming) == 1 and uuid.UUID(incoming[0]["id"]) and incoming[0]["created_at"].endswith("+00:00")

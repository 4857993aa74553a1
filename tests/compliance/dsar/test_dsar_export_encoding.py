"""The export's own JSON and CSV encoders (compliance/dsar/export.py) write exactly what the standard
library wrote before them (``json.dumps(..., indent=1, ensure_ascii=False, default=str)`` and
``csv_cell``): the bundle's bytes must not change because the encoding got faster."""

from __future__ import annotations

import datetime as dt
import io
import json
import uuid
import zipfile
from decimal import Decimal

from compliance.dsar import export

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
    import csv

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

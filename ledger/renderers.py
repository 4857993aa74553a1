"""CSV rendering of account statements (used by the statement view only)."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from typing import Any

from rest_framework.renderers import BaseRenderer

STATEMENT_COLUMNS = ["created_at", "entry", "type", "amount", "currency", "balance_after", "reference"]
# A cell starting with one of these is run as a formula by spreadsheet programs; references are
# typed by other customers (a transfer's reference shows on the recipient's statement).
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def _safe_cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA_PREFIXES):
        return "'" + value
    return value


class StatementCSVRenderer(BaseRenderer):
    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(
        self, data: Any, accepted_media_type: str | None = None, renderer_context: Mapping[str, Any] | None = None
    ) -> bytes:
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=STATEMENT_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for row in data or []:
            # Amounts stay integers: numeric columns never get the formula guard.
            writer.writerow({key: _safe_cell(value) if key == "reference" else value for key, value in row.items()})
        return buffer.getvalue().encode()

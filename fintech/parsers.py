"""The API's JSON parser, with depth and size limits checked before the document is parsed.

Python's ``json`` recurses once per nesting level: a 100,000-deep ``[[[[...`` body raised
RecursionError inside the parser, i.e. a 500 on any JSON endpoint (registration included). The
body is bounded first (``API_JSON_MAX_BYTES``, on top of Django's DATA_UPLOAD_MAX_MEMORY_SIZE),
then its bracket depth is counted on the raw bytes with string contents blanked out, and only a
document within ``API_JSON_MAX_DEPTH`` is handed to ``json``. Both refusals are a 400
``parse_error`` in the error shape (kernel/errors.py); the scan stops at the first level too deep.
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

# A JSON string (with escapes), replaced by "" so brackets inside strings are not counted.
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(rb"[\[\]{}]")


def json_depth_exceeds(data: bytes, limit: int) -> bool:
    """Whether ``data`` nests arrays/objects deeper than ``limit`` (malformed input may say False:
    the parser refuses it next)."""
    depth = 0
    for match in _BRACKET.finditer(_STRING.sub(b'""', data)):
        if match.group() in (b"[", b"{"):
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


class LimitedJSONParser(JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Mapping[str, Any] | None = None) -> Any:
        limit = settings.API_JSON_MAX_BYTES
        data = stream.read(limit + 1) if stream is not None else b""
        if len(data) > limit:
            raise ParseError("The JSON document is too large.")
        if json_depth_exceeds(data, settings.API_JSON_MAX_DEPTH):
            raise ParseError(f"The JSON document is nested more than {settings.API_JSON_MAX_DEPTH} levels deep.")
        return super().parse(io.BytesIO(data), media_type, parser_context)

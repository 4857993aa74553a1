"""The OpenAPI document states the error shape every operation can answer with (SPEC C1, C10).

A drf-spectacular postprocessing hook adds one ``Error`` component, ``{"error": {"code",
"message", "fields"?}}`` as ``kernel.errors.error_body`` builds it, and documents it on every
``/api/`` operation for the 4xx statuses the platform uses. The API fuzz run then checks that no
operation answers a status its document does not list (status_code_conformance), and that each
answer's body matches (response_schema_conformance).
"""

from __future__ import annotations

from typing import Any

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["error"],
    "additionalProperties": False,
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "additionalProperties": False,
            "properties": {
                "code": {"type": "string", "description": "Stable, machine-readable: e.g. insufficient_funds."},
                "message": {"type": "string", "description": "For people; never echoes submitted values."},
                "fields": {
                    "type": "object",
                    "description": "Per field (or item, e.g. transfers.3): what is wrong with it.",
                    "additionalProperties": {"type": "array", "items": {"type": "string"}},
                },
            },
        }
    },
}

ERROR_STATUSES: dict[str, str] = {
    "400": "Invalid input (the fields say which).",
    "401": "Not authenticated, or the token is invalid, expired or revoked.",
    "403": "Not allowed: the role, a missing recent MFA (step-up), or a refused precondition.",
    "404": "Not found, or not yours.",
    "406": "The requested format is not available.",
    "409": "A conflict: e.g. an Idempotency-Key reused with another body, or a state that changed.",
    "413": "The request body is too large.",
    "414": "The request line (URL and query string) is too long.",
    "415": "The request body's media type is not accepted.",
    "422": "Understood but refused by a business rule (e.g. insufficient funds).",
    "429": "Too many requests: throttled.",
    "431": "The request's header fields are too large.",
}


def document_error_responses(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for path, operations in result.get("paths", {}).items():
        if not path.startswith("/api/"):
            continue
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            for status, description in ERROR_STATUSES.items():
                responses.setdefault(status, {"description": description, "content": error})
    return result

"""The OpenAPI document states the error shape every operation can answer with (SPEC C1, C10).

A drf-spectacular postprocessing hook adds one ``Error`` component, ``{"error": {"code",
"message", "fields"?}}`` as ``kernel.errors.error_body`` builds it, and documents it on every
``/api/`` operation for the 4xx statuses the platform uses. The API fuzz run then checks that no
operation answers a status its document does not list (status_code_conformance), and that each
answer's body matches (response_schema_conformance).
"""

from __future__ import annotations

import re
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


# --- Documentation for people: audiences, tags, descriptions --------------------------------------
# Who calls an operation, by its path; the first match wins. Each audience is a group of tags.
AUDIENCES: tuple[tuple[str, str], ...] = (
    ("/api/v1/officer/", "Information officer"),
    ("/api/v1/ops/", "Operations"),
    ("/api/v1/audit/", "Auditor"),
    ("/api/v1/webhooks/", "Payment providers"),
    ("/api/v1/", "Customer"),
)
AUDIENCE_NOTES = {
    "Customer": "The customer's own account, money and privacy rights. Scoped to the caller.",
    "Information officer": "The DSAR queue and legal holds (role information_officer).",
    "Operations": "KYC decisions, settlement, reversals and card reveals (role operations).",
    "Auditor": "The sealed audit trail, its verification and report exports (role auditor).",
    "Payment providers": "Signed notifications from the card processor and the bank (no token).",
}
# The topic of an operation, by the path segment after the audience's prefix.
TOPICS = {
    "accounts": "Wallets and statements",
    "auth": "Sign-in, tokens and MFA",
    "me": "Profile",
    "bank-accounts": "Bank accounts",
    "cards": "Cards",
    "consents": "Consent",
    "purposes": "Consent",
    "deposits": "Money movements",
    "withdrawals": "Money movements",
    "transfers": "Money movements",
    "pending": "Money movements",
    "dsar": "Data-subject requests",
    "kyc": "KYC",
    "holds": "Legal holds",
    "entries": "Reversals",
    "reversal-requests": "Reversals",
    "events": "Audit trail",
    "verify": "Audit trail",
    "reports": "Audit trail",
    "bank": "Provider webhooks",
    "card-processor": "Provider webhooks",
}
AUDIENCE_ORDER = ["Customer", "Information officer", "Operations", "Auditor", "Payment providers"]
_ONE_METHOD = re.compile(r"\b(GET|POST|PUT|PATCH|DELETE):\s*(.+?)(?=\s+\b(?:GET|POST|PUT|PATCH|DELETE):|\Z)", re.S)
_INTERNAL = (re.compile(r"\s*\((?:issue|ADR) [^)]*\)"), re.compile(r"\s*\(ADR \d+\)"))


def operation_audience(path: str) -> str:
    return next(name for prefix, name in AUDIENCES if path.startswith(prefix))


def operation_tag(path: str) -> str:
    audience = operation_audience(path)
    prefix = next(prefix for prefix, name in AUDIENCES if name == audience)
    rest = path[len(prefix) :] if audience != "Customer" else path[len("/api/v1/") :]
    if audience == "Auditor":
        rest = path[len("/api/v1/audit/") :]
    segment = rest.split("/", 1)[0]
    return f"{audience}: {TOPICS.get(segment, segment.replace('-', ' ').capitalize())}"


def people_description(text: str, method: str) -> str:
    """A view docstring made fit for readers: only this method's sentence of a "GET: … POST: …"
    docstring, no paragraphs about the code (subclasses, internals), no issue or ADR numbers,
    single backticks."""
    if not text:
        return text
    parts = {m: body.strip() for m, body in _ONE_METHOD.findall(text)}
    if parts:
        text = parts.get(method.upper(), text)
        text = text[:1].upper() + text[1:]
    paragraphs = [p for p in re.split(r"\n\s*\n", text) if not re.match(r"\s*(Subclass|Thin|Invariant|Note:)", p)]
    text = "\n\n".join(paragraphs).replace("``", "`")
    for pattern in _INTERNAL:
        text = pattern.sub("", text)
    return text.strip()


def organise_for_people(result: dict[str, Any], generator: Any, request: Any, public: bool) -> dict[str, Any]:
    """Tag each operation "<audience>: <topic>" and order the tags by audience (Swagger UI lists
    them in this order; ReDoc-style ``x-tagGroups`` say the same), clean the descriptions."""
    seen: dict[str, str] = {}
    for path, operations in result.get("paths", {}).items():
        if not path.startswith("/api/v1/"):
            continue
        for method, operation in operations.items():
            tag = operation_tag(path)
            operation["tags"] = [tag]
            seen[tag] = operation_audience(path)
            if operation.get("description"):
                operation["description"] = people_description(operation["description"], method)
    tags = sorted(seen, key=lambda tag: (AUDIENCE_ORDER.index(seen[tag]), tag))
    result["tags"] = [{"name": tag, "description": AUDIENCE_NOTES[seen[tag]]} for tag in tags]
    result["x-tagGroups"] = [
        {"name": audience, "tags": [tag for tag in tags if seen[tag] == audience]}
        for audience in AUDIENCE_ORDER
        if audience in seen.values()
    ]
    return result


GETTING_STARTED = """\
The JSON API of a POPIA-compliant wallet platform, for customers' apps and for staff tools.
Operations are grouped by **who calls them** (Customer, Information officer, Operations, Auditor,
Payment providers) and by topic.

## Getting started

1. **Token with OTP.** `POST /api/v1/auth/token/` with `email`, `password` and, once you have an
   authenticator, `otp_code` (the 6-digit TOTP). The answer holds an `access` token (5 minutes)
   and a one-time `refresh` token. Send `Authorization: Bearer <access>`; renew with
   `POST /api/v1/auth/token/refresh/` (a refresh token works once: a replay ends the session).
   Staff accounts always sign in with the second factor.
2. **Step-up.** Moving money, adding a card, filing a data-subject request and downloading an
   export need a *recent* second factor: a token whose OTP was checked in the last few minutes.
   Get one by signing in again with `otp_code`; without it these answer 403 with code
   `mfa_required`.
3. **Idempotency.** Every money movement (`/deposits/`, `/withdrawals/`, `/transfers/`) needs an
   `Idempotency-Key` header you choose (8-100 of `A-Z a-z 0-9 _ . : -`, e.g. a UUID). Retrying with
   the same key and body replays the first answer (`Idempotent-Replayed: true`) and never moves
   money twice; the same key with another body is a 409. A batch carries one key per item.
4. **Errors** always have the shape `{"error": {"code", "message", "fields"?}}`: `code` is stable
   for programs, `message` is for people and never echoes what you sent.

Amounts are integers in minor units (cents: `180000` is R 1,800.00).
"""

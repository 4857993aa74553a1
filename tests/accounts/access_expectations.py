"""The declared access expectations of every API route (read by test_access_matrix.py).

One entry per URL name under /api/. A route missing here fails the matrix, so a new endpoint
cannot ship without someone deciding who may call it. Each entry:

- ``public``: True only for endpoints anonymous callers may use (also listed in PUBLIC_ROUTES);
  for every other route an anonymous call must answer 401 whatever the method.
- one key per allowed method: an int (the status for every persona that passes the permission
  check) or a dict persona -> status (personas left out get ``DENIED_DEFAULT``). Methods not
  listed must answer 405 (or 401 to anonymous callers of a non-public route).
- ``body``: the JSON body sent with writes (default ``{}``: the call must be refused by
  validation, so nothing is created by accident).
- ``kwargs``: a function ``(personas) -> dict`` giving URL arguments for routes with ids; use an
  object owned by ``customer`` so that ``other_customer`` must get 404.

Personas: anonymous, customer, other_customer, operations, information_officer, auditor,
admin_user (see tests/personas.py).
"""

from __future__ import annotations

from typing import Any

from fintech.api import PUBLIC_ENDPOINTS

DENIED_DEFAULT = 403

# Anonymous callers may use exactly these; everything else answers 401 without a token.
# The declared public endpoints (fintech.api.PUBLIC_ENDPOINTS, each with its reason) and the API
# docs (public in dev and tests, staff only in production: fintech/docs_access.py).
PUBLIC_ROUTES = frozenset(PUBLIC_ENDPOINTS) | {"schema", "swagger-ui", "redoc"}

_AUDIT_READERS = {"information_officer": 200, "auditor": 200, "admin_user": 200}
# A customer's own object: theirs to read, invisible (404) to everyone else, staff included.
_OWNER_ONLY = {
    "customer": 200,
    "other_customer": 404,
    "operations": 404,
    "information_officer": 404,
    "auditor": 404,
    "admin_user": 404,
}


def _verified_customer_wallet(personas: dict):
    """KYC-verify ``customer`` through the services (which opens the wallet) and return it."""
    import datetime as dt

    from ledger import services
    from ledger.models import LedgerAccount
    from tests.ledger.conftest import sa_id

    customer = personas["customer"]
    record = services.kyc_submit(
        actor=customer, id_number=sa_id(), date_of_birth=dt.date(1990, 1, 15), document_reference="DOC-M"
    )
    services.kyc_decide(actor=personas["operations"], record=record.public_id, verify=True, tier=1)
    return LedgerAccount.objects.get(owner=customer)


def _pending_kyc(personas: dict) -> dict:
    import datetime as dt

    from ledger import services
    from tests.ledger.conftest import sa_id

    record = services.kyc_submit(
        actor=personas["customer"], id_number=sa_id(), date_of_birth=dt.date(1990, 1, 15), document_reference="D"
    )
    return {"public_id": record.public_id}


def _customer_dsar(personas: dict) -> dict:
    from compliance.dsar import services

    customer = personas["customer"]
    dsar = services.dsar_file(subject=customer, filed_by=customer, type="access")
    return {"public_id": dsar.public_id}


def _customer_wallet(personas: dict) -> dict:
    return {"public_id": _verified_customer_wallet(personas).public_id}


def _unknown_reversal_request(personas: dict) -> dict:
    import uuid

    return {"public_id": uuid.uuid4()}


def _customer_deposit_entry(personas: dict) -> dict:
    import uuid

    from ledger import services

    wallet = _verified_customer_wallet(personas)
    result = services.deposit_create(
        actor=personas["customer"], account=wallet.public_id, amount=10_000, currency="ZAR", channel="eft",
        funding_source="EFT-M", idempotency_key=f"matrix-{uuid.uuid4()}",
    )  # fmt: skip
    return {"public_id": result.entry_public_id}


def _customer_card(personas: dict) -> dict:
    from ledger.cards import services as cards
    from tests.ledger.conftest import card_expiry

    card = cards.card_add(actor=personas["customer"], pan="4111111111111111", expiry=card_expiry(), cvv="123")
    return {"public_id": card.public_id}


def _customer_hold(personas: dict) -> dict:
    from compliance.retention.services import hold_place

    hold = hold_place(
        actor=personas["information_officer"], subject=personas["customer"], kind="litigation", reason="Case M"
    )
    return {"public_id": hold.public_id}


EXPECTED: dict[str, dict[str, Any]] = {
    # --- foundation ---
    "api-root": {"public": True, "GET": 200},
    "schema": {"public": True, "GET": 200},
    "swagger-ui": {"public": True, "GET": 200},
    "redoc": {"public": True, "GET": 302},  # to the Swagger page (ReDoc cannot run under the CSP)
    # --- accounts: public, refused by validation with an empty body ---
    "auth-register": {"public": True, "POST": 400},
    "auth-token": {"public": True, "POST": 400},
    "auth-token-refresh": {"public": True, "POST": 400},
    "auth-password-reset": {"public": True, "POST": 400},
    "auth-password-reset-confirm": {"public": True, "POST": 400},
    # --- accounts: any signed-in user, about themselves only ---
    "auth-logout": {"POST": 400},
    "auth-password-change": {"POST": 400},
    # Enrolment needs the password, removal the password and a code: an empty body is refused.
    "auth-mfa-totp": {"POST": 400, "DELETE": 400},
    "auth-mfa-totp-confirm": {"POST": 400},
    "me": {"GET": 200, "PATCH": 200},
    # --- consent: any signed-in user, about themselves only (the subject is always the caller) ---
    "purpose-list": {"public": True, "GET": 200},
    "consent-list": {"GET": 200, "POST": 400},
    "consent-history": {"GET": 200},
    # --- audit trail: read by those whose role holds compliance.view_auditevent ---
    "audit-events": {"GET": _AUDIT_READERS},
    "audit-verify": {"GET": _AUDIT_READERS, "POST": _AUDIT_READERS},
    "audit-report-events": {"GET": _AUDIT_READERS},
    # Proofs: no checkpoint is published in the matrix's database, so a reader's request is a 400
    # (an unknown event a 404): what matters here is that only readers get past the permission.
    "audit-event-proof": {
        "GET": {"information_officer": 404, "auditor": 404, "admin_user": 404},
        "kwargs": lambda personas: {"pk": 2**40},
    },
    "audit-consistency": {"GET": {"information_officer": 400, "auditor": 400, "admin_user": 400}},
    # --- ledger: money movement needs a recent MFA, an Idempotency-Key and a valid body (400) ---
    "ledger-deposits": {"POST": 400},
    "ledger-withdrawals": {"POST": 400},
    "ledger-transfers": {"POST": 400},
    "ledger-transfer-batch": {"POST": 400},
    "ledger-accounts": {"GET": 200},
    "ledger-account": {"GET": _OWNER_ONLY, "kwargs": _customer_wallet},
    "ledger-statement": {"GET": _OWNER_ONLY, "kwargs": _customer_wallet},
    "ledger-bank-accounts": {"GET": 200, "POST": 400},
    # The caller's own KYC record: only ``customer`` has submitted one.
    "ledger-kyc": {
        "GET": {**_OWNER_ONLY},
        "POST": 400,
        "kwargs": lambda personas: (_pending_kyc(personas), {})[1],
    },
    # Operations staff only.
    "ledger-kyc-decision": {"POST": {"operations": 400}, "kwargs": _pending_kyc},
    "ledger-kyc-approval": {"POST": {"operations": 400}, "kwargs": _pending_kyc},
    "ledger-kyc-duplicate-clearance": {"POST": {"operations": 400}, "kwargs": _pending_kyc},
    "ledger-reversal": {"POST": {"operations": 400}, "kwargs": _customer_deposit_entry},
    # Four eyes on large reversals: {} fails validation; an unknown request is 404 to operations.
    "ledger-reversal-request": {"POST": {"operations": 400}, "kwargs": _customer_deposit_entry},
    "ledger-reversal-approval": {"POST": {"operations": 404}, "kwargs": _unknown_reversal_request},
    # --- payment cards: a customer's own (adding needs a recent MFA and a valid card: 400 on {}) ---
    "ledger-cards": {"GET": 200, "POST": 400},
    # DELETE removes the card: the owner gets 204, everyone else the same 404 as for a missing card.
    "ledger-card": {"GET": _OWNER_ONLY, "DELETE": {**_OWNER_ONLY, "customer": 204}, "kwargs": _customer_card},
    # Full PAN: only a role holding ledger.reveal_card_pan (operations); superuser status is not enough.
    "ledger-card-reveal": {"POST": {"operations": 400}, "kwargs": _customer_card},
    # --- two-phase settlement (ADR 0005): an unsigned notification is refused (401) for anyone;
    #     operations' two steps need a statement line first (the empty body records none) ---
    "ledger-webhook-card": {"public": True, "POST": 401},
    "ledger-webhook-bank": {"public": True, "POST": 401},
    "ledger-pending": {"GET": 200},
    "ledger-pending-queue": {"GET": {"operations": 200}},
    "ledger-pending-statement-line": {"POST": {"operations": 400}, "kwargs": _customer_deposit_entry},
    "ledger-pending-confirm": {"POST": {"operations": 409}, "kwargs": _customer_deposit_entry},
    # --- data-subject requests: customers file (recent MFA) and follow their own ---
    "dsar-list": {"GET": 200, "POST": 400},
    "dsar-detail": {"GET": _OWNER_ONLY, "kwargs": _customer_dsar},
    # Recent MFA and the subject's own request; no export exists yet, so the owner gets 404 too.
    # No bundle built: 404 for everyone, each one an audited refusal (kernel.access.AuditedRefusal).
    "dsar-download": {"GET": 404, "kwargs": _customer_dsar, "audited_refusals": (404, 410)},
    # --- the information officer's DSAR actions (compliance.process_dsar) ---
    "officer-dsar-file": {"POST": {"information_officer": 400, "admin_user": 400}},
    "officer-dsar-action": {
        "POST": {"information_officer": 400, "admin_user": 400},
        "kwargs": lambda personas: {**_customer_dsar(personas), "action": "reject"},
    },
    # --- legal holds: read with view_legalhold, placed and released by the information officer ---
    "officer-holds": {
        "GET": _AUDIT_READERS,
        "POST": {"information_officer": 400, "admin_user": 400},
    },
    "officer-hold-release": {
        "POST": {"information_officer": 400, "admin_user": 400},
        "kwargs": _customer_hold,
    },
}

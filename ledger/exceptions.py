"""Domain errors of the ledger: a stable ``code`` the API returns and a message that never echoes input."""

from __future__ import annotations

from rest_framework import exceptions

MESSAGES: dict[str, tuple[int, str]] = {
    "invalid_amount": (400, "The amount must be a whole number of minor units, greater than zero and within limits."),
    "invalid_currency": (400, "The currency is not supported."),
    "currency_mismatch": (400, "The currency does not match the account's currency."),
    "same_account": (400, "Source and destination must be different accounts."),
    "invalid_idempotency_key": (400, "The Idempotency-Key header is missing or malformed."),
    "invalid_batch": (400, "Send between 1 and the allowed number of transfers, each with its own idempotency key."),
    "duplicate_idempotency_key": (400, "Each transfer in a batch needs a different idempotency key."),
    "invalid_channel": (400, "The funding channel must be card or eft."),
    "invalid_funding_source": (400, "Send a funding token or reference (at most 64 characters), never card details."),
    "reason_required": (400, "A reason is required."),
    "invalid_tier": (400, "Unknown KYC tier."),
    "not_found": (404, "Not found."),
    "kyc_required": (403, "A verified identity (KYC) is required to move money."),
    "daily_limit_exceeded": (403, "This would exceed the daily limit of your verification tier."),
    "bank_account_not_verified": (403, "The bank account has not been verified yet."),
    "bank_account_duplicate": (409, "This bank account is already registered on your profile."),
    "insufficient_funds": (422, "The account has insufficient funds."),
    "idempotency_key_reused": (409, "This Idempotency-Key was already used with a different request."),
    "already_reversed": (409, "This entry has already been reversed."),
    "not_reversible": (400, "Reversing entries cannot themselves be reversed."),
    "kyc_already_verified": (409, "The identity has already been verified."),
    "kyc_not_pending": (409, "Only pending KYC submissions can be decided."),
    "invalid_id_number": (400, "The ID number is not a valid South African ID number for this date of birth."),
    # Cards: messages name the rule, never the value (a PAN or CVV must not come back in an error).
    "invalid_card_number": (400, "Invalid card number."),
    "unsupported_card_brand": (400, "This card brand is not supported."),
    "invalid_expiry": (400, "Invalid expiry date: use MM/YY."),
    "card_expired": (400, "The card has expired."),
    "invalid_security_code": (400, "Invalid security code."),
    "invalid_card_holder": (400, "Invalid card holder name."),
    "card_verification_failed": (422, "The card could not be verified."),
    "card_already_added": (409, "This card has already been added."),
}


class LedgerError(Exception):
    """A refused ledger operation. Nothing was changed: the transaction is rolled back.

    ``item`` is the 0-based position of the refused transfer in a batch (None otherwise).
    """

    def __init__(self, code: str, item: int | None = None) -> None:
        if code not in MESSAGES:
            raise ValueError(f"Unknown ledger error code {code!r}")
        self.code = code
        self.item = item
        self.status_code, self.message = MESSAGES[code]
        super().__init__(code)


def api_error(error: LedgerError, item_field: str | None = None) -> exceptions.APIException:
    """The error in the API shape; a refused batch item is named in ``fields`` (``transfers.3``)."""
    exc = exceptions.APIException(detail=error.message, code=error.code)
    exc.status_code = error.status_code
    if item_field is not None and error.item is not None:
        exc.error_fields = {f"{item_field}.{error.item}": [error.message]}  # type: ignore[attr-defined]  # read by kernel.errors
    return exc

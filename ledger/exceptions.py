"""Domain errors of the ledger: a stable ``code`` the API returns and a message that never echoes input."""

from __future__ import annotations

from kernel.errors import DomainError

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
    "invalid_date_of_birth": (400, "Not a date of birth that agrees with the ID number on record (YYYY-MM-DD)."),
    "invalid_bank_account": (400, "Bank name up to 80 characters, a 6-digit branch code, a 6- to 20-digit number."),
    "bank_account_ambiguous": (409, "There are several bank accounts: say which one, or remove the wrong one."),
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
    "kyc_awaiting_approval": (
        409,
        "A decision on this submission awaits a second operations user: approve or reject it (kyc approval).",
    ),
    "kyc_no_approval_request": (409, "No decision on this submission awaits a second approval."),
    "kyc_duplicate_identity": (
        409,
        "This ID number is already verified on another account: a reviewer must clear the flag first.",
    ),
    "kyc_not_flagged": (409, "This submission has no duplicate-identity flag to clear."),
    "invalid_id_number": (400, "The ID number is not a valid South African ID number for this date of birth."),
    # Two-phase settlement (ADR 0005): provider notifications and operations confirmations.
    "already_resolved": (409, "This pending movement has already been settled or voided."),
    "pending_not_reversible": (409, "A pending movement is voided, not reversed."),
    "settlement_mismatch": (422, "The settlement does not match the pending movement."),
    "webhook_unverified": (401, "The notification's signature or timestamp could not be verified."),
    "webhook_invalid": (400, "The notification is not a known event with a reference, amount and currency."),
    "webhook_replayed": (409, "This notification was already received."),
    "statement_line_required": (409, "A bank statement line must be recorded before a second person confirms."),
    "statement_line_recorded": (409, "A bank statement line has already been recorded for this movement."),
    "second_person_required": (
        403,
        "A second operations user must confirm: not whoever recorded the statement line or started the movement.",
    ),
    "own_account": (403, "Staff cannot act on their own accounts."),
    "four_eyes_required": (
        409,
        "A reversal of this size needs a second operations user: request it (reversal-request) for a colleague "
        "to approve.",
    ),
    "reversal_already_requested": (409, "A reversal of this entry is already waiting for approval."),
    "reversal_request_decided": (409, "This reversal request has already been approved."),
    "not_confirmable": (409, "Card deposits are settled by the card processor, not by operations."),
    "card_deposits_unavailable": (409, "Card deposits are not available: no card processor is configured."),
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


class LedgerError(DomainError):
    """A refused ledger operation. Nothing was changed: the transaction is rolled back.

    A DomainError: kernel/errors.py answers it in the error shape with its status. ``item`` is the
    0-based position of the refused transfer in a batch (None otherwise), named in ``fields``
    (``transfers.3``).
    """

    def __init__(self, code: str, item: int | None = None) -> None:
        if code not in MESSAGES:
            raise ValueError(f"Unknown ledger error code {code!r}")
        status_code, message = MESSAGES[code]
        fields = {f"transfers.{item}": [message]} if item is not None else None
        super().__init__(message, code=code, status_code=status_code, fields=fields)
        self.item = item

    def __str__(self) -> str:
        return self.code

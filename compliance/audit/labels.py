"""Audit actions in words, as a data subject reads them in "who accessed your data" (POPIA s23(1)(b)).

The codes (``AuditAction``) are the record's vocabulary and stay as they are; a subject reads
"Viewed your personal information", not ``PI_ACCESS`` or its title-cased "Pi Access". Every action
has a label here (tests/compliance/audit/test_action_labels.py checks), so a new code cannot reach
a subject's export as a code.
"""

from __future__ import annotations

from compliance.audit.services import AuditAction

ACTION_LABELS: dict[str, str] = {
    AuditAction.LOGIN: "Signed in",
    AuditAction.LOGIN_FAILED: "Failed sign-in",
    AuditAction.LOCKOUT: "Account locked after failed sign-ins",
    AuditAction.LOGOUT: "Signed out",
    AuditAction.TOKEN_REFRESH: "Session renewed",
    AuditAction.PASSWORD_CHANGED: "Password changed",  # pragma: allowlist secret
    AuditAction.PASSWORD_RESET_REQUESTED: "Password reset requested",  # pragma: allowlist secret
    AuditAction.PASSWORD_RESET: "Password reset",  # pragma: allowlist secret
    AuditAction.REGISTER: "Account registered",
    AuditAction.PROFILE_UPDATED: "Profile updated",
    AuditAction.PI_CORRECTED: "Personal information corrected",
    AuditAction.MFA_ENROLL_STARTED: "Two-factor sign-in setup started",
    AuditAction.MFA_ENROLLED: "Two-factor sign-in set up",
    AuditAction.MFA_VERIFIED: "Two-factor code accepted",
    AuditAction.MFA_FAILED: "Two-factor code refused",
    AuditAction.MFA_REMOVED: "Two-factor sign-in removed",
    AuditAction.LOCKOUT_RELEASED: "Account lock released",
    AuditAction.TOKEN_REUSE_DETECTED: "Reuse of a signed-out session detected",
    AuditAction.REGISTER_DUPLICATE: "Registration with an address already in use",
    AuditAction.KYC_DUPLICATE_FLAGGED: "Identity check: possible duplicate identity flagged",
    AuditAction.KYC_DUPLICATE_CLEARED: "Identity check: duplicate identity flag cleared",
    AuditAction.PERMISSION_DENIED: "Access refused",
    AuditAction.USER_CREATED: "Account created",
    AuditAction.USER_DEACTIVATED: "Account deactivated",
    AuditAction.ROLE_CHANGED: "Role changed",
    AuditAction.DEPOSIT: "Deposit",
    AuditAction.WITHDRAW: "Withdrawal",
    AuditAction.TRANSFER: "Transfer",
    AuditAction.REVERSAL: "Transaction reversed",
    AuditAction.REVERSAL_REQUESTED: "Reversal requested",
    AuditAction.REVERSAL_APPROVED: "Reversal approved",
    AuditAction.SETTLEMENT_POSTED: "Payment settled",
    AuditAction.SETTLEMENT_VOIDED: "Pending payment cancelled",
    AuditAction.SETTLEMENT_REFUSED: "Payment settlement refused",
    AuditAction.STATEMENT_LINE_RECORDED: "Bank statement line recorded",
    AuditAction.KYC_SUBMITTED: "Identity documents submitted (KYC)",
    AuditAction.KYC_VERIFY: "Identity check decided (KYC)",
    AuditAction.BANK_ACCOUNT_ADDED: "Bank account added",
    AuditAction.BANK_ACCOUNT_VERIFIED: "Bank account verified",
    AuditAction.CARD_ADDED: "Card added",
    AuditAction.CARD_DATA_ACCESS: "Viewed your full card number",
    AuditAction.CARD_REMOVED: "Card removed",
    AuditAction.PI_ACCESS: "Viewed your personal information",
    AuditAction.CONSENT_GRANTED: "Consent given",
    AuditAction.CONSENT_WITHDRAWN: "Consent withdrawn",
    AuditAction.PURPOSE_CHANGED: "Processing purpose changed",
    AuditAction.NOTICE_PUBLISHED: "Privacy notice published",
    AuditAction.PROCESSING_RESTRICTED: "Processing restricted",
    AuditAction.PROCESSING_RESTRICTION_LIFTED: "Processing restriction lifted",
    AuditAction.MARKETING_EXPORT: "Included in a direct-marketing list",
    AuditAction.DSAR_FILED: "Data-subject request filed",
    AuditAction.DSAR_TRANSITION: "Data-subject request step",
    AuditAction.DSAR_DOWNLOAD: "Data-subject request download",
    AuditAction.DSAR_ESCALATED: "Data-subject request deadline escalated",
    AuditAction.DSAR_BALANCE_SETTLED: "Balance settled before deletion",
    AuditAction.DSAR_ERASURE_BLOCKED: "Deletion held back until the balance is settled",
    AuditAction.DSAR_EXPORT_DESTROYED: "Copy of your data destroyed",
    AuditAction.DSAR_ERASURE_REAPPLIED: "Deletion applied again after a restore",
    AuditAction.DSAR_RESTRICTION_LIFTED: "Restriction lifted on request",
    AuditAction.DSAR_OBJECTION_APPLIED_AT_FILING: "Objection to direct marketing applied at once",
    AuditAction.DSAR_NOTICE_RESENT: "Notice about your request sent again",
    AuditAction.UNCLAIMED_FUNDS_MOVED: "Balance moved to unclaimed funds",
    AuditAction.RETENTION_PURGE: "Records deleted at the end of their retention period",
    AuditAction.RETENTION_POLICY_CHANGED: "Retention period changed",
    AuditAction.LEGAL_HOLD_PLACED: "Legal hold placed",
    AuditAction.LEGAL_HOLD_RELEASED: "Legal hold released",
    AuditAction.KEY_ROTATED: "Encryption key rotated",
    AuditAction.KEY_DESTROYED: "Encryption key destroyed",
    AuditAction.SECRET_ROTATION_OVERDUE: "Secret rotation overdue",  # pragma: allowlist secret
    AuditAction.AUDIT_EXPORTED: "Audit trail exported",
    AuditAction.AUDIT_ARCHIVED: "Audit trail archived",
    AuditAction.AUDIT_CHAIN_BROKEN: "Audit trail integrity failure",
    AuditAction.AUDIT_VERIFY_REQUESTED: "Audit trail verification requested",
}


def action_label(code: str) -> str:
    """An audit action in words; an unknown code (an old record's) in lower-case words, never title-cased."""
    label = ACTION_LABELS.get(code)
    return label if label is not None else code.replace("_", " ").lower().capitalize()

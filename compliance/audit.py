"""The one function every service calls to record a business or security event.

INTERIM: until the audit-trail issue (#5) lands, ``audit_record`` writes a structured log event
(already redacted by the logging filter). The signature is the contract the other apps code
against; #5 replaces the body with the append-only, hash-chained table and keeps the signature.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import models
from django.http import HttpRequest

from compliance.request_context import client_ip, get_request_id

logger = logging.getLogger("compliance.audit")


class AuditAction(models.TextChoices):
    """The registry of audit action codes (PMLA record ``action``). Add new codes here only."""

    LOGIN = "LOGIN"
    LOGIN_FAILED = "LOGIN_FAILED"
    LOCKOUT = "LOCKOUT"
    LOGOUT = "LOGOUT"
    TOKEN_REFRESH = "TOKEN_REFRESH"
    PASSWORD_CHANGED = "PASSWORD_CHANGED"
    PASSWORD_RESET_REQUESTED = "PASSWORD_RESET_REQUESTED"
    PASSWORD_RESET = "PASSWORD_RESET"
    REGISTER = "REGISTER"
    PROFILE_UPDATED = "PROFILE_UPDATED"
    MFA_ENROLL_STARTED = "MFA_ENROLL_STARTED"
    MFA_ENROLLED = "MFA_ENROLLED"
    MFA_VERIFIED = "MFA_VERIFIED"
    MFA_FAILED = "MFA_FAILED"
    PERMISSION_DENIED = "PERMISSION_DENIED"
    USER_CREATED = "USER_CREATED"
    USER_DEACTIVATED = "USER_DEACTIVATED"
    ROLE_CHANGED = "ROLE_CHANGED"
    DEPOSIT = "DEPOSIT"
    WITHDRAW = "WITHDRAW"
    TRANSFER = "TRANSFER"
    REVERSAL = "REVERSAL"
    KYC_SUBMITTED = "KYC_SUBMITTED"
    KYC_VERIFY = "KYC_VERIFY"
    BANK_ACCOUNT_ADDED = "BANK_ACCOUNT_ADDED"
    BANK_ACCOUNT_VERIFIED = "BANK_ACCOUNT_VERIFIED"
    CARD_ADDED = "CARD_ADDED"
    CARD_DATA_ACCESS = "CARD_DATA_ACCESS"
    PI_ACCESS = "PI_ACCESS"
    CONSENT_GRANTED = "CONSENT_GRANTED"
    CONSENT_WITHDRAWN = "CONSENT_WITHDRAWN"
    DSAR_FILED = "DSAR_FILED"
    DSAR_TRANSITION = "DSAR_TRANSITION"
    DSAR_DOWNLOAD = "DSAR_DOWNLOAD"
    RETENTION_PURGE = "RETENTION_PURGE"
    KEY_ROTATED = "KEY_ROTATED"
    SECRET_ROTATION_OVERDUE = "SECRET_ROTATION_OVERDUE"


class ActorType(models.TextChoices):
    USER = "user"
    SYSTEM = "system"
    ANONYMOUS = "anonymous"


def audit_record(
    *,
    action: str,
    actor: Any = None,
    actor_type: str | None = None,
    object_type: str = "",
    object_id: str = "",
    change_diff: dict[str, Any] | None = None,
    request: HttpRequest | None = None,
    source_ip: str | None = None,
) -> None:
    """Record one audit event in the caller's transaction.

    ``actor`` is a user (or None for the system/anonymous callers, with ``actor_type`` saying
    which); ``change_diff`` must already have PI removed or masked (the audit issue adds the one
    diff builder that does this from the PI inventory); ``request`` supplies the source IP
    (through trusted proxies only); the request id comes from the request context.
    """
    if action not in AuditAction.values:
        raise ValueError(f"Unknown audit action {action!r}: add it to AuditAction.")
    if actor_type is None:
        actor_type = ActorType.USER if actor is not None and getattr(actor, "pk", None) else ActorType.SYSTEM
    logger.info(
        "audit",
        extra={
            "audit_action": action,
            "actor": str(getattr(actor, "public_id", "")) or None,
            "actor_type": actor_type,
            "object_type": object_type,
            "object_id": object_id,
            "change_diff": change_diff or {},
            "source_ip": source_ip or (client_ip(request) if request is not None else None),
            "audit_request_id": get_request_id(),
        },
    )

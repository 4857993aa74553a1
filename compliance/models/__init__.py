"""Compliance models, one module per concern (audit, PI inventory and keys, consent, DSARs,
retention), imported here so Django finds them."""

from compliance.models.audit import AuditEvent  # the immutable audit trail, SPEC C4
from compliance.models.consent import (  # consent management, SPEC C5
    ConsentEvent,
    ProcessingPurpose,
    ProcessingRestrictionEvent,
    PurposeNotice,
)
from compliance.models.keys import FieldKeyVersion, KeyPurpose, KeyRotationRun, PIInventory  # SPEC C3

__all__ = [
    "AuditEvent",
    "ConsentEvent",
    "FieldKeyVersion",
    "KeyPurpose",
    "KeyRotationRun",
    "PIInventory",
    "ProcessingPurpose",
    "ProcessingRestrictionEvent",
    "PurposeNotice",
]

"""Compliance models, one module per concern (audit, PI inventory and keys, consent, DSARs,
retention), imported here so Django finds them."""

from compliance.models.audit import AuditEvent  # the immutable audit trail, SPEC C4
from compliance.models.consent import (  # consent management, SPEC C5
    ConsentEvent,
    ProcessingPurpose,
    ProcessingRestrictionEvent,
    PurposeNotice,
)
from compliance.models.dsar import (
    CorrectionRequestNote,
    DataSubjectRequest,
    DsarEvent,
    DsarExport,
)  # data-subject requests, SPEC C6
from compliance.models.holds import LegalHold  # retention-duty and litigation holds
from compliance.models.keys import FieldKeyVersion, KeyPurpose, KeyRotationRun, PIInventory  # SPEC C3
from compliance.models.retention import RetentionPolicy, RetentionRun  # retention purges, SPEC C8
from compliance.models.secrets import SecretRotation  # secret inventory and rotation checks, SPEC C8

__all__ = [
    "AuditEvent",
    "ConsentEvent",
    "CorrectionRequestNote",
    "DataSubjectRequest",
    "DsarEvent",
    "DsarExport",
    "FieldKeyVersion",
    "KeyPurpose",
    "KeyRotationRun",
    "LegalHold",
    "PIInventory",
    "ProcessingPurpose",
    "ProcessingRestrictionEvent",
    "PurposeNotice",
    "RetentionPolicy",
    "RetentionRun",
    "SecretRotation",
]

"""The facade Django discovers: compliance's models live in their concern packages
(``compliance/<concern>/models.py``) and are imported here so the app registry finds them."""

from compliance.audit.models import (  # the immutable audit trail, SPEC C4
    AuditCheckpoint,
    AuditCheckpointCosignature,
    AuditEvent,
    AuditMerkleNode,
    AuditMerkleState,
)
from compliance.consent.models import (  # consent management, SPEC C5
    ConsentEvent,
    ProcessingPurpose,
    ProcessingRestrictionEvent,
    PurposeNotice,
)
from compliance.crypto.models import FieldKeyVersion, KeyPurpose, KeyRotationRun  # field encryption, SPEC C3
from compliance.dsar.models import (  # data-subject requests, SPEC C6
    CorrectionRequestNote,
    DataSubjectRequest,
    DsarEvent,
    DsarExport,
    DsarNotice,
    ErasureLedgerEntry,
)
from compliance.pi.models import PIInventory  # the PI inventory page's permission, SPEC C3
from compliance.retention.models import LegalHold, RetentionPolicy, RetentionRun  # retention and holds, SPEC C8
from compliance.secret_rotation.models import SecretRotation  # secret inventory and rotation checks, SPEC C8

__all__ = [
    "AuditCheckpoint",
    "AuditCheckpointCosignature",
    "AuditEvent",
    "AuditMerkleNode",
    "AuditMerkleState",
    "ConsentEvent",
    "CorrectionRequestNote",
    "DataSubjectRequest",
    "DsarEvent",
    "DsarExport",
    "DsarNotice",
    "ErasureLedgerEntry",
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

"""Compliance models, one module per concern (audit, PI inventory and keys, consent, DSARs,
retention), imported here so Django finds them."""

from compliance.models.consent import (  # noqa: F401  (consent management, SPEC C5)
    ConsentEvent,
    ProcessingPurpose,
    ProcessingRestrictionEvent,
    PurposeNotice,
)

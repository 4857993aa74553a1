"""Compliance models, one module per concern (audit, PI inventory and keys, consent, DSARs,
retention), imported here so Django finds them."""

from compliance.models.audit import AuditEvent  # noqa: F401

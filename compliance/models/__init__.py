"""Compliance models, one module per concern (audit, PI inventory and keys, consent, DSARs,
retention), imported here so Django finds them."""

from compliance.models.dsar import DataSubjectRequest, DsarEvent, DsarExport
from compliance.models.holds import LegalHold

__all__ = ["DataSubjectRequest", "DsarEvent", "DsarExport", "LegalHold"]

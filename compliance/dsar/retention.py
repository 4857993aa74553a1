"""What the retention purge must know about data-subject requests (SPEC C6, C8), registered from
``ComplianceConfig.ready()`` the way every app registers its retention targets.

- Export bundles (``dsar_export_7d``): the encrypted file is destroyed and the row marked purged
  once the download window's policy has run out; the row stays as evidence of the export.
- Subjects with an open request are left alone by every purge: the request may need their data
  (an access export, a correction) and the purge must not pre-empt the officer.
"""

from __future__ import annotations

from django.core.files.storage import default_storage
from django.db import models
from django.utils import timezone

from compliance.dsar.models import DataSubjectRequest, DsarExport
from compliance.retention.engine import register_retention_target, register_subject_exclusion
from compliance.retention.models import RetentionAction


def _purge_export_bundles(batch: models.QuerySet) -> None:
    # The file goes first: if deleting it fails the batch rolls back and the row still points at
    # it. A file already gone (a crash after the delete, before the commit) is not an error.
    for storage_name in batch.values_list("storage_name", flat=True):
        if storage_name and default_storage.exists(storage_name):
            default_storage.delete(storage_name)
    batch.update(purged_at=timezone.now())


def register_dsar_retention() -> None:
    register_retention_target(
        DsarExport,
        policy="dsar_export_7d",
        date_field="created_at",
        subject_path="dsar__subject",
        action=RetentionAction.ANONYMISE,
        queryset=lambda: DsarExport.objects.filter(purged_at__isnull=True),
        anonymise=_purge_export_bundles,
    )
    register_subject_exclusion(
        "open-data-subject-requests", lambda: DataSubjectRequest.objects.open().values("subject_id")
    )

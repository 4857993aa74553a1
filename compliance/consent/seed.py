"""Seed the processing purposes and their first published notices (POPIA s13, s18) from the one
declaration, ``compliance.pi.vocabulary.PURPOSES``.

Used by tests (a transactional test's flush empties the tables), the demo data and
``manage.py seed_vocabulary``; migrations carry frozen copies of the data instead of importing this.
Idempotent: an existing purpose, or a purpose that already has a published notice, is left as it is
(later changes are the information officer's, in the admin).
"""

from __future__ import annotations

from typing import Any

from django.apps import apps as global_apps
from django.utils import timezone

from compliance.pi.vocabulary import PURPOSES


def seed_processing_purposes(apps: Any = global_apps) -> int:
    """Create missing purposes with a published version-1 notice. Returns how many were created."""
    purpose_model = apps.get_model("compliance", "ProcessingPurpose")
    notice_model = apps.get_model("compliance", "PurposeNotice")
    now = timezone.now()
    created = 0
    for spec in PURPOSES.values():
        purpose, was_created = purpose_model.objects.get_or_create(
            code=spec.code,
            defaults={
                "name": spec.name,
                "description": spec.description,
                "lawful_basis": str(spec.lawful_basis),
                "data_categories": [str(category) for category in spec.data_categories],
            },
        )
        created += int(was_created)
        if not notice_model.objects.filter(purpose=purpose, published_at__isnull=False).exists():
            notice_model.objects.create(
                purpose=purpose, text=spec.notice, version=1, effective_at=now, published_at=now
            )
    return created

"""Two officers publishing notices for one purpose at the same moment get consecutive versions."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from compliance.consent.models import ProcessingPurpose, PurposeNotice
from compliance.consent.services import notice_draft_save, notice_publish
from tests.compliance.consent.consent_helpers import make_staff, seed_purposes


@pytest.mark.django_db(transaction=True)
def test_concurrent_publishing_assigns_distinct_consecutive_versions():
    seed_purposes()
    officer = make_staff("information_officer")
    purpose = ProcessingPurpose.objects.get(code="analytics")
    start = PurposeNotice.objects.filter(purpose=purpose, published_at__isnull=False).count()
    drafts = [notice_draft_save(actor=officer, purpose=purpose, text=f"edition {i}") for i in range(4)]
    barrier = threading.Barrier(len(drafts))
    errors: list[BaseException] = []

    def publish(draft: PurposeNotice) -> None:
        try:
            barrier.wait(timeout=10)
            notice_publish(actor=officer, notice=draft)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=publish, args=(draft,)) for draft in drafts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    versions = sorted(PurposeNotice.objects.filter(pk__in=[d.pk for d in drafts]).values_list("version", flat=True))
    assert versions == list(range(start + 1, start + 5))

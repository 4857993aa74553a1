"""Consent evidence cannot be changed: PostgreSQL triggers refuse UPDATE, DELETE and TRUNCATE of
consent and restriction events and any change to a published notice (tested with raw SQL, the
way a careless script or a compromised app would try it)."""

# ruff: noqa: S608  (raw SQL on constant table names is the point of these tests)
from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction

from compliance.consent.models import ConsentEvent, ProcessingRestrictionEvent, PurposeNotice
from compliance.consent.services import consent_record, notice_draft_save, processing_restriction_set
from tests.compliance.consent.consent_helpers import current_version, make_staff, make_user, seed_purposes

pytestmark = pytest.mark.django_db

CONSENT_TABLE = ConsentEvent._meta.db_table
RESTRICTION_TABLE = ProcessingRestrictionEvent._meta.db_table
NOTICE_TABLE = PurposeNotice._meta.db_table


@pytest.fixture(autouse=True)
def _purposes(db):
    seed_purposes()


@pytest.fixture
def consent_event():
    subject = make_user()
    return consent_record(
        actor=subject,
        subject=subject,
        purpose="direct_marketing",
        granted=False,
        notice_version=current_version("direct_marketing"),
        channel="api",
    )


def refused(sql: str, params: list | None = None) -> str:
    """Run ``sql`` in a savepoint; return PostgreSQL's refusal message (fail if it was accepted)."""
    with pytest.raises(DatabaseError) as caught, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params or [])
    return str(caught.value)


@pytest.mark.parametrize(
    "sql",
    [
        f"UPDATE {CONSENT_TABLE} SET granted = true WHERE id = %s",
        f"UPDATE {CONSENT_TABLE} SET created_at = now() - interval '1 year' WHERE id = %s",
        f"DELETE FROM {CONSENT_TABLE} WHERE id = %s",
    ],
)
def test_consent_events_cannot_be_updated_or_deleted(consent_event, sql):
    message = refused(sql, [consent_event.pk])
    assert "Cannot" in message and CONSENT_TABLE in message
    stored = ConsentEvent.objects.get(pk=consent_event.pk)
    assert (stored.granted, stored.created_at) == (False, consent_event.created_at)


def test_consent_events_cannot_be_truncated(consent_event):
    # The test's own insert leaves deferred FK checks pending, and PostgreSQL refuses TRUNCATE
    # for that reason first: run the checks now so the statement reaches the trigger.
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    message = refused(f"TRUNCATE {CONSENT_TABLE} CASCADE")
    assert "append-only" in message
    assert ConsentEvent.objects.filter(pk=consent_event.pk).exists()


def test_the_orm_cannot_change_consent_events_either(consent_event):
    with pytest.raises(DatabaseError), transaction.atomic():
        ConsentEvent.objects.filter(pk=consent_event.pk).update(granted=True)
    with pytest.raises(DatabaseError), transaction.atomic():
        consent_event.delete()
    assert ConsentEvent.objects.get(pk=consent_event.pk).granted is False


def test_restriction_events_are_append_only():
    officer = make_staff("information_officer")
    event = processing_restriction_set(
        actor=officer, subject=make_user(), purpose="kyc", kind="restriction", active=True, reason="r"
    )
    refused(f"UPDATE {RESTRICTION_TABLE} SET active = false WHERE id = %s", [event.pk])
    refused(f"DELETE FROM {RESTRICTION_TABLE} WHERE id = %s", [event.pk])
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    assert "append-only" in refused(f"TRUNCATE {RESTRICTION_TABLE}")
    assert ProcessingRestrictionEvent.objects.get(pk=event.pk).active is True


def test_published_notices_are_immutable_but_drafts_are_not():
    officer = make_staff("information_officer")
    published = PurposeNotice.objects.filter(purpose__code="analytics", published_at__isnull=False).first()
    original = published.text
    refused(f"UPDATE {NOTICE_TABLE} SET text = 'rewritten history' WHERE id = %s", [published.pk])
    refused(f"DELETE FROM {NOTICE_TABLE} WHERE id = %s", [published.pk])
    refused(
        f"UPDATE {NOTICE_TABLE} SET published_at = NULL, version = NULL, effective_at = NULL WHERE id = %s",
        [published.pk],
    )
    published.refresh_from_db()
    assert (published.text, published.is_published) == (original, True)

    draft = notice_draft_save(actor=officer, purpose=published.purpose, text="draft")
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {NOTICE_TABLE} SET text = 'draft, edited' WHERE id = %s", [draft.pk])
    draft.refresh_from_db()
    assert draft.text == "draft, edited"


def test_a_staff_channel_without_a_note_is_refused_by_the_database(consent_event):
    from django.db import IntegrityError

    with pytest.raises(IntegrityError), transaction.atomic():
        ConsentEvent.objects.create(
            subject=consent_event.subject,
            purpose=consent_event.purpose,
            notice=consent_event.notice,
            granted=True,
            channel="phone",
            note="",
            recorded_by=consent_event.subject,
        )
    assert ConsentEvent.objects.filter(subject=consent_event.subject).count() == 1

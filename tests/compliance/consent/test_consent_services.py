"""The consent services and the one processing gate, may_process (POPIA s11, s18, s69)."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.contrib.auth.models import AnonymousUser
from django.utils import timezone

from compliance.audit.services import AuditAction
from compliance.consent.models import ConsentEvent, ProcessingPurpose, ProcessingRestrictionEvent, PurposeNotice
from compliance.consent.selectors import consent_states_for, marketing_audience, may_process
from compliance.consent.services import (
    ConsentError,
    ConsentPermissionDenied,
    consent_record,
    consent_record_choices,
    marketing_audience_export,
    notice_draft_save,
    notice_publish,
    processing_restriction_set,
)
from tests.compliance.consent.consent_helpers import current_version, make_staff, make_user, seed_purposes, spy_audit

pytestmark = pytest.mark.django_db

DM = "direct_marketing"


@pytest.fixture(autouse=True)
def _purposes(db):
    seed_purposes()


def choose(subject, purpose: str, granted: bool, **kwargs):
    return consent_record(
        actor=subject,
        subject=subject,
        purpose=purpose,
        granted=granted,
        notice_version=current_version(purpose),
        channel="api",
        **kwargs,
    )


def publish(purpose: str, *, requires_reconsent: bool = False, effective_at=None):
    officer = make_staff("information_officer")
    draft = notice_draft_save(
        actor=officer,
        purpose=PurposeNotice.objects.filter(purpose__code=purpose).first().purpose,
        text=f"Revised notice for {purpose}.",
        requires_reconsent=requires_reconsent,
    )
    return notice_publish(actor=officer, notice=draft, effective_at=effective_at)


def export_rows(officer) -> list[str]:
    buffer = io.StringIO()
    marketing_audience_export(actor=officer, out=buffer, via="test")
    return buffer.getvalue().splitlines()


# --- may_process -------------------------------------------------------------------------------


@pytest.mark.parametrize("purpose", ["account_management", "kyc", "payments", "fraud_prevention"])
def test_purposes_not_relying_on_consent_are_allowed_without_any_consent(purpose):
    assert may_process(make_user(), purpose) is True


@pytest.mark.parametrize("purpose", [DM, "analytics", "third_party_marketing_sharing"])
def test_consent_purposes_are_refused_by_default(purpose):
    assert may_process(make_user(), purpose) is False


def test_unknown_purpose_and_anonymous_subjects_are_refused():
    user = make_user()
    assert may_process(user, "selling_data") is False
    assert may_process(AnonymousUser(), "kyc") is False
    assert may_process(None, "kyc") is False


def test_withdrawal_takes_effect_immediately_for_may_process_and_the_export():
    officer = make_staff("information_officer")
    subject = make_user()
    choose(subject, DM, True)
    assert may_process(subject, DM) is True
    assert str(subject.public_id) in "\n".join(export_rows(officer))

    choose(subject, DM, False)

    assert may_process(subject, DM) is False
    assert str(subject.public_id) not in "\n".join(export_rows(officer))


def test_may_process_is_one_query_however_long_the_history(django_assert_num_queries):
    subject = make_user()
    for index in range(40):
        choose(subject, DM, index % 2 == 0)
    with django_assert_num_queries(1):
        assert may_process(subject, DM) is False
    choose(subject, DM, True)
    with django_assert_num_queries(1):
        assert may_process(subject, DM) is True


def test_a_disabled_purpose_is_refused_even_with_consent():
    subject = make_user()
    choose(subject, "analytics", True)
    ProcessingPurpose.objects.filter(code="analytics").update(is_active=False)
    assert may_process(subject, "analytics") is False


# --- Nothing pre-ticked: direct marketing only on an explicit yes ---------------------------------


def test_registration_choices_without_marketing_leave_marketing_not_granted():
    subject = make_user()
    events = consent_record_choices(
        subject=subject,
        choices=[{"purpose": "analytics", "granted": True, "notice_version": current_version("analytics")}],
        channel="api",
    )
    assert [(e.purpose.code, e.granted) for e in events] == [("analytics", True)]
    assert may_process(subject, "analytics") is True
    assert may_process(subject, DM) is False
    assert not ConsentEvent.objects.filter(subject=subject, purpose__code=DM).exists()
    states = {state.purpose.code: state for state in consent_states_for(subject=subject)}
    assert states[DM].granted is None
    assert states[DM].processing_allowed is False


@pytest.mark.parametrize("granted", [None, "true", "yes", "on", 1, "1", "opt-out unticked"])
def test_marketing_consent_is_never_inferred_from_anything_but_an_explicit_true(granted):
    subject = make_user()
    with pytest.raises(ConsentError) as caught:
        consent_record_choices(
            subject=subject,
            choices=[{"purpose": DM, "granted": granted, "notice_version": current_version(DM)}],
        )
    assert caught.value.code == "granted_not_boolean"
    assert not ConsentEvent.objects.filter(subject=subject).exists()
    assert may_process(subject, DM) is False


def test_an_explicit_refusal_is_recorded_and_is_not_consent():
    subject = make_user()
    consent_record_choices(
        subject=subject, choices=[{"purpose": DM, "granted": False, "notice_version": current_version(DM)}]
    )
    event = ConsentEvent.objects.get(subject=subject)
    assert (event.purpose.code, event.granted, event.notice.version) == (DM, False, current_version(DM))
    assert may_process(subject, DM) is False


def test_choices_are_all_or_nothing():
    subject = make_user()
    with pytest.raises(ConsentError) as caught:
        consent_record_choices(
            subject=subject,
            choices=[
                {"purpose": DM, "granted": True, "notice_version": current_version(DM)},
                {"purpose": "analytics", "granted": True, "notice_version": 999},
            ],
        )
    assert caught.value.code == "stale_notice_version"
    assert not ConsentEvent.objects.filter(subject=subject).exists()
    assert may_process(subject, DM) is False


@pytest.mark.parametrize(
    ("choice", "code"),
    [
        ({"purpose": "nonexistent", "granted": True, "notice_version": 1}, "unknown_purpose"),
        ({"purpose": "kyc", "granted": False, "notice_version": 1}, "consent_not_required"),
        ({"purpose": DM, "granted": True, "notice_version": "1"}, "invalid_notice_version"),
        ({"purpose": DM, "granted": True}, "invalid_notice_version"),
    ],
)
def test_invalid_choices_are_refused(choice, code):
    subject = make_user()
    with pytest.raises(ConsentError) as caught:
        consent_record_choices(subject=subject, choices=[choice])
    assert caught.value.code == code
    assert not ConsentEvent.objects.filter(subject=subject).exists()


def test_a_purpose_may_be_answered_once_per_set_of_choices():
    subject = make_user()
    version = current_version(DM)
    with pytest.raises(ConsentError) as caught:
        consent_record_choices(
            subject=subject,
            choices=[
                {"purpose": DM, "granted": False, "notice_version": version},
                {"purpose": DM, "granted": True, "notice_version": version},
            ],
        )
    assert caught.value.code == "duplicate_purpose"
    assert not ConsentEvent.objects.filter(subject=subject).exists()


# --- Versioned notices ----------------------------------------------------------------------------


def test_a_stale_notice_version_is_refused_once_a_new_version_is_in_effect():
    subject = make_user()
    old = current_version(DM)
    new = publish(DM)
    assert new.version == old + 1
    with pytest.raises(ConsentError) as caught:
        consent_record(actor=subject, subject=subject, purpose=DM, granted=True, notice_version=old, channel="api")
    assert (caught.value.code, caught.value.conflict) == ("stale_notice_version", True)
    assert not ConsentEvent.objects.filter(subject=subject).exists()
    event = consent_record(
        actor=subject, subject=subject, purpose=DM, granted=True, notice_version=new.version, channel="api"
    )
    assert event.notice == new


def test_a_future_notice_is_not_current_until_its_effective_date():
    subject = make_user()
    old = current_version(DM)
    future = publish(DM, effective_at=timezone.now() + timedelta(days=7))
    with pytest.raises(ConsentError) as caught:
        consent_record(
            actor=subject, subject=subject, purpose=DM, granted=True, notice_version=future.version, channel="api"
        )
    assert caught.value.code == "stale_notice_version"
    event = consent_record(actor=subject, subject=subject, purpose=DM, granted=True, notice_version=old, channel="api")
    assert event.notice.version == old


def test_a_material_notice_change_requires_fresh_consent():
    subject = make_user()
    keeps = make_user()
    choose(subject, DM, True)
    choose(keeps, "analytics", True)
    publish("analytics")  # not material: existing consents still count
    new = publish(DM, requires_reconsent=True)

    assert may_process(keeps, "analytics") is True
    assert may_process(subject, DM) is False
    state = next(s for s in consent_states_for(subject=subject) if s.purpose.code == DM)
    assert (state.granted, state.reconsent_needed, state.processing_allowed) == (True, True, False)
    assert subject.pk not in set(marketing_audience().values_list("pk", flat=True))

    consent_record(actor=subject, subject=subject, purpose=DM, granted=True, notice_version=new.version, channel="api")
    assert may_process(subject, DM) is True


def test_publishing_assigns_consecutive_versions_and_refuses_republishing():
    officer = make_staff("information_officer")
    purpose = PurposeNotice.objects.filter(purpose__code="analytics").first().purpose
    start = current_version("analytics")
    first = notice_draft_save(actor=officer, purpose=purpose, text="one")
    second = notice_draft_save(actor=officer, purpose=purpose, text="two")
    assert (first.version, first.is_published) == (None, False)
    assert notice_publish(actor=officer, notice=second).version == start + 1
    assert notice_publish(actor=officer, notice=first).version == start + 2
    with pytest.raises(ConsentError) as caught:
        notice_publish(actor=officer, notice=first)
    assert caught.value.code == "notice_published"
    with pytest.raises(ConsentError):
        notice_draft_save(actor=officer, purpose=purpose, text="edited", notice=first)
    first.refresh_from_db()
    assert (first.text, first.version) == ("one", start + 2)


# --- Evidence and audit -----------------------------------------------------------------------------


def test_each_choice_is_audited_with_a_pii_free_diff(monkeypatch):
    calls = spy_audit(monkeypatch)
    subject = make_user(first_name="Zanele")
    granted = choose(subject, DM, True)
    withdrawn = choose(subject, DM, False)
    version = current_version(DM)
    assert [(c["action"], c["object_id"], c["change_diff"]) for c in calls] == [
        (
            AuditAction.CONSENT_GRANTED,
            str(granted.public_id),
            {"purpose": DM, "notice_version": version, "granted": True, "channel": "api"},
        ),
        (
            AuditAction.CONSENT_WITHDRAWN,
            str(withdrawn.public_id),
            {"purpose": DM, "notice_version": version, "granted": False, "channel": "api"},
        ),
    ]
    assert all(c["actor"] == subject for c in calls)
    assert "Zanele" not in repr(calls) and subject.email not in repr(calls)


def test_events_carry_request_id_and_recorder():
    from kernel.request_context import reset_request_id, set_request_id

    subject = make_user()
    token = set_request_id("req-consent-0001")
    try:
        event = choose(subject, "analytics", True)
    finally:
        reset_request_id(token)
    assert (event.request_id, event.recorded_by, event.channel, event.note) == (
        "req-consent-0001",
        subject,
        "api",
        "",
    )


# --- Staff on a subject's behalf ------------------------------------------------------------------


def test_staff_record_a_phone_choice_with_a_note():
    officer = make_staff("information_officer")
    subject = make_user()
    event = consent_record(
        actor=officer,
        subject=subject,
        purpose=DM,
        granted=True,
        notice_version=current_version(DM),
        channel="phone",
        note="Customer called support line, notice v1 read out, said yes.",
    )
    assert (event.subject, event.recorded_by, event.channel) == (subject, officer, "phone")
    assert may_process(subject, DM) is True


@pytest.mark.parametrize(
    ("role", "channel", "note", "code"),
    [
        ("information_officer", "phone", "", "note_required"),
        ("information_officer", "other", "   ", "note_required"),
        ("information_officer", "api", "note", "invalid_channel"),
        ("auditor", "phone", "note", "permission_denied"),
        (None, "phone", "note", "permission_denied"),
    ],
)
def test_staff_recording_is_refused_without_permission_channel_or_note(role, channel, note, code):
    actor = make_staff(role) if role else make_user()
    subject = make_user()
    with pytest.raises(ConsentError) as caught:
        consent_record(
            actor=actor,
            subject=subject,
            purpose=DM,
            granted=True,
            notice_version=current_version(DM),
            channel=channel,
            note=note,
        )
    assert caught.value.code == code
    assert not ConsentEvent.objects.filter(subject=subject).exists()


# --- Restrictions and objections (set by DSARs) -------------------------------------------------------


def test_an_objection_stops_marketing_until_lifted():
    officer = make_staff("information_officer")
    subject = make_user()
    choose(subject, DM, True)
    processing_restriction_set(
        actor=officer, subject=subject, purpose=DM, kind="objection", active=True, reason="s11(3)(b) objection"
    )
    assert may_process(subject, DM) is False
    assert str(subject.public_id) not in "\n".join(export_rows(officer))
    processing_restriction_set(
        actor=officer, subject=subject, purpose=DM, kind="objection", active=False, reason="Objection withdrawn"
    )
    assert may_process(subject, DM) is True
    assert str(subject.public_id) in "\n".join(export_rows(officer))


def test_a_restriction_stops_processing_even_without_consent_basis():
    officer = make_staff("information_officer")
    subject = make_user()
    other = make_user()
    processing_restriction_set(
        actor=officer,
        subject=subject,
        purpose="kyc",
        kind="restriction",
        active=True,
        reason="Accuracy contested (s14(6)(a))",
        reference="dsar-123",
    )
    assert may_process(subject, "kyc") is False
    assert may_process(other, "kyc") is True
    assert may_process(subject, "payments") is True


@pytest.mark.parametrize(
    "purpose", ["account_management", "payments", "fraud_prevention", "legal_compliance", "security"]
)
def test_a_purpose_declared_not_restrictable_is_refused_with_its_legal_reason(purpose):
    from compliance.pi.vocabulary import PURPOSES

    officer = make_staff("information_officer")
    subject = make_user()
    with pytest.raises(ConsentError) as caught:
        processing_restriction_set(
            actor=officer, subject=subject, purpose=purpose, kind="restriction", active=True, reason="r"
        )
    assert caught.value.code == "purpose_not_restrictable"
    assert caught.value.message == PURPOSES[purpose].not_restrictable
    assert not ProcessingRestrictionEvent.objects.filter(subject=subject).exists()
    assert may_process(subject, purpose) is True


@pytest.mark.parametrize("purpose", ["kyc", "payments"])
def test_no_objection_to_contract_or_legal_obligation_processing(purpose):
    officer = make_staff("information_officer")
    subject = make_user()
    with pytest.raises(ConsentError) as caught:
        processing_restriction_set(
            actor=officer, subject=subject, purpose=purpose, kind="objection", active=True, reason="no"
        )
    assert caught.value.code == "objection_not_available"
    assert not ProcessingRestrictionEvent.objects.filter(subject=subject).exists()
    assert may_process(subject, purpose) is True


def test_only_the_officer_restricts_processing():
    auditor = make_staff("auditor")
    subject = make_user()
    with pytest.raises(ConsentPermissionDenied):
        processing_restriction_set(
            actor=auditor, subject=subject, purpose=DM, kind="restriction", active=True, reason="r"
        )
    assert not ProcessingRestrictionEvent.objects.exists()


# --- The bulk rule agrees with may_process ------------------------------------------------------------


def test_marketing_audience_is_exactly_the_subjects_may_process_allows():
    officer = make_staff("information_officer")
    never = make_user()
    refused = make_user()
    granted = make_user()
    withdrawn = make_user()
    regranted = make_user()
    objected = make_user()
    inactive = make_user()
    choose(refused, DM, False)
    choose(granted, DM, True)
    choose(withdrawn, DM, True)
    choose(withdrawn, DM, False)
    for answer in (True, False, True):
        choose(regranted, DM, answer)
    choose(objected, DM, True)
    processing_restriction_set(actor=officer, subject=objected, purpose=DM, kind="objection", active=True, reason="o")
    choose(inactive, DM, True)
    inactive.is_active = False
    inactive.save(update_fields=["is_active"])
    choose(make_user(), "analytics", True)  # consent to something else is not marketing consent

    everyone = [never, refused, granted, withdrawn, regranted, objected]
    assert {u.pk for u in everyone if may_process(u, DM)} == {granted.pk, regranted.pk}
    assert set(marketing_audience().values_list("pk", flat=True)) == {granted.pk, regranted.pk}

"""The state machine's rules: no skipped states, four eyes for deletion, one timely extension."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import time_machine
from django.core import mail
from django.db import connection
from django.test import TestCase
from django.utils import timezone

from compliance.dsar import services
from compliance.dsar.escalation import dsar_escalate
from compliance.dsar.models import DataSubjectRequest, DsarEvent, DsarEventKind, DsarStatus

pytestmark = pytest.mark.django_db


def to_review(dsar, officer):
    services.dsar_verify_identity(actor=officer, dsar=dsar, evidence="ID document seen")
    return services.dsar_assign(actor=officer, dsar=dsar)


@pytest.mark.parametrize(
    "action",
    [
        lambda o, d: services.dsar_assign(actor=o, dsar=d),
        lambda o, d: services.dsar_approve(actor=o, dsar=d),
        lambda o, d: services.dsar_reject(actor=o, dsar=d, reason="no"),
        lambda o, d: services.dsar_fulfil(actor=o, dsar=d, statement="done"),
        lambda o, d: services.dsar_close(actor=o, dsar=d),
    ],
)
def test_no_state_can_be_skipped_from_received(officer, filed, action):
    dsar = filed("access")
    with pytest.raises(services.DsarError) as error:
        action(officer, dsar)
    assert error.value.code == "invalid_transition"
    dsar.refresh_from_db()
    assert dsar.status == DsarStatus.RECEIVED
    assert DsarEvent.objects.filter(dsar=dsar).count() == 1


def test_a_closed_request_cannot_be_reopened(officer, filed):
    dsar = to_review(filed("access"), officer)
    services.dsar_reject(actor=officer, dsar=dsar, reason="Identity could not be confirmed")
    services.dsar_close(actor=officer, dsar=dsar)
    for action in ("verify_identity", "assign", "approve"):
        with pytest.raises(services.DsarError):
            if action == "verify_identity":
                services.dsar_verify_identity(actor=officer, dsar=dsar, evidence="again")
            elif action == "assign":
                services.dsar_assign(actor=officer, dsar=dsar)
            else:
                services.dsar_approve(actor=officer, dsar=dsar)
    dsar.refresh_from_db()
    assert dsar.status == DsarStatus.CLOSED


def test_rejection_needs_a_reason(officer, filed):
    dsar = to_review(filed("access"), officer)
    with pytest.raises(services.DsarError) as error:
        services.dsar_reject(actor=officer, dsar=dsar, reason="   ")
    assert error.value.code == "reason_required"
    dsar = services.dsar_reject(actor=officer, dsar=dsar, reason="Manifestly unfounded")
    assert dsar.status == DsarStatus.REJECTED and dsar.decision_reason == "Manifestly unfounded"


def test_deletion_needs_a_second_officer(officer, second_officer, filed):
    dsar = to_review(filed("deletion"), officer)
    with pytest.raises(services.DsarError) as error:
        services.dsar_approve(actor=officer, dsar=dsar)
    assert error.value.code == "second_approval_required"
    services.dsar_request_approval(actor=officer, dsar=dsar)
    with pytest.raises(services.DsarError) as error:
        services.dsar_approve(actor=officer, dsar=dsar)
    assert error.value.code == "four_eyes"
    dsar.refresh_from_db()
    assert dsar.status == DsarStatus.IN_REVIEW
    dsar = services.dsar_approve(actor=second_officer, dsar=dsar)
    assert dsar.status == DsarStatus.APPROVED
    assert dsar.decided_by == second_officer and dsar.approval_requested_by == officer


def test_only_deletions_ask_for_a_second_approval(officer, filed):
    dsar = to_review(filed("access"), officer)
    with pytest.raises(services.DsarError) as error:
        services.dsar_request_approval(actor=officer, dsar=dsar)
    assert error.value.code == "approval_not_needed"


def test_extension_once_up_to_thirty_days_before_the_deadline(officer, filed):
    dsar = filed("access")
    with pytest.raises(services.DsarError) as error:
        services.dsar_extend(actor=officer, dsar=dsar, days=31, reason="complex")
    assert error.value.code == "invalid_extension"
    with pytest.raises(services.DsarError) as error:
        services.dsar_extend(actor=officer, dsar=dsar, days=10, reason="")
    assert error.value.code == "reason_required"
    dsar = services.dsar_extend(actor=officer, dsar=dsar, days=30, reason="Records in archive storage")
    assert dsar.due_at == dsar.original_due_at + timedelta(days=30)
    with pytest.raises(services.DsarError) as error:
        services.dsar_extend(actor=officer, dsar=dsar, days=5, reason="more")
    assert error.value.code == "already_extended"


def test_extension_is_refused_once_the_deadline_has_passed(officer, filed):
    dsar = filed("access")
    with (
        time_machine.travel(dsar.original_due_at + timedelta(minutes=1)),
        pytest.raises(services.DsarError) as error,
    ):
        services.dsar_extend(actor=officer, dsar=dsar, days=5, reason="late")
    assert error.value.code == "extension_too_late"
    dsar.refresh_from_db()
    assert dsar.due_at == dsar.original_due_at and dsar.extended_at is None


def test_non_officers_cannot_act(operations, customer, filed):
    dsar = filed("access")
    for actor in (operations, customer):
        with pytest.raises(services.DsarPermissionError):
            services.dsar_verify_identity(actor=actor, dsar=dsar, evidence="x")


def test_duplicates_are_flagged_but_still_verified(customer, filed):
    first = filed("access")
    second = filed("access")
    assert second.duplicate_of == first
    assert second.status == DsarStatus.RECEIVED
    assert filed("deletion").duplicate_of is None


def test_every_transition_is_an_event_in_order(officer, filed):
    dsar = to_review(filed("access"), officer)
    services.dsar_extend(actor=officer, dsar=dsar, days=7, reason="volume")
    services.dsar_approve(actor=officer, dsar=dsar)
    services.dsar_fulfil(actor=officer, dsar=dsar, statement="Partial: one record is privileged", partial=True)
    kinds = list(DsarEvent.objects.filter(dsar=dsar).values_list("kind", "to_status"))
    assert kinds == [
        ("transition", "received"),
        ("transition", "identity_verified"),
        ("transition", "in_review"),
        ("extension", ""),
        ("transition", "approved"),
        ("transition", "partially_fulfilled"),
    ]


def test_escalation_lists_due_soon_and_overdue_once_a_day(officer, customer, filed):
    overdue = filed("access")
    soon = filed("objection")
    later = filed("restriction")
    # Mid-morning: "two hours later" must still be the same day (after 22:00 UTC it was not).
    now = timezone.now().replace(hour=10, minute=0)
    DataSubjectRequest.objects.filter(pk=overdue.pk).update(
        due_at=now - timedelta(days=1), original_due_at=now - timedelta(days=1)
    )
    DataSubjectRequest.objects.filter(pk=soon.pk).update(
        due_at=now + timedelta(days=3), original_due_at=now + timedelta(days=3)
    )
    assert later.due_at > now + timedelta(days=7)
    with TestCase.captureOnCommitCallbacks(execute=True):
        counts = dsar_escalate(now=now)
    assert counts == {"overdue": 1, "due_soon": 1}
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert officer.email in message.to
    assert str(overdue.public_id) in message.body and str(soon.public_id) in message.body
    assert str(later.public_id) not in message.body
    assert customer.email not in message.body
    with TestCase.captureOnCommitCallbacks(execute=True):
        again = dsar_escalate(now=now + timedelta(hours=2))
    assert again == {"overdue": 0, "due_soon": 0}
    assert len(mail.outbox) == 1
    assert DsarEvent.objects.filter(kind=DsarEventKind.ESCALATION).count() == 2


@pytest.mark.django_db(transaction=True)
def test_two_officers_acting_at_once_move_the_request_once(officer, second_officer, filed):
    dsar = to_review(filed("access"), officer)
    results: list[str] = []
    barrier = threading.Barrier(2)

    def approve(actor):
        barrier.wait()
        try:
            services.dsar_approve(actor=actor, dsar=dsar)
            results.append("ok")
        except services.DsarError as error:
            results.append(error.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=approve, args=(actor,)) for actor in (officer, second_officer)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == ["invalid_transition", "ok"]
    assert DsarEvent.objects.filter(dsar=dsar, to_status="approved").count() == 1


def test_the_backlog_is_a_prometheus_metric(filed):
    from prometheus_client import REGISTRY, generate_latest

    overdue = filed("access")
    filed("deletion")
    past = timezone.now() - timedelta(days=1)
    DataSubjectRequest.objects.filter(pk=overdue.pk).update(due_at=past, original_due_at=past)
    text = generate_latest(REGISTRY).decode()
    assert 'fintech_dsar_open{type="access"} 1.0' in text
    assert 'fintech_dsar_open{type="deletion"} 1.0' in text
    assert "fintech_dsar_overdue 1.0" in text


def test_every_transition_is_audited(officer, filed):
    from compliance.audit.models import AuditEvent

    dsar = to_review(filed("access"), officer)
    services.dsar_approve(actor=officer, dsar=dsar)
    events = AuditEvent.objects.filter(object_id=str(dsar.public_id)).order_by("id")
    assert [(e.action, e.change_diff.get("after", {}).get("status")) for e in events] == [
        ("DSAR_FILED", "received"),
        ("DSAR_TRANSITION", "identity_verified"),
        ("DSAR_TRANSITION", "in_review"),
        ("DSAR_TRANSITION", "approved"),
    ]
    assert all(e.user == officer for e in events[1:])

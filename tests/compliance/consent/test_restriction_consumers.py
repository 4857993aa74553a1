"""``may_process`` is honoured where it is promised (ADR 0004's decision table): an approved
restriction on each restrictable purpose stops that purpose's consumer, while the processing the law
requires continues and says why; a purpose that cannot be restricted is refused with its reason."""

from __future__ import annotations

import datetime as dt
import io
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from compliance.consent.consumers import purpose_consumers
from compliance.consent.selectors import may_process
from compliance.consent.services import consent_record, marketing_audience_export
from compliance.dsar import services as dsar_services
from compliance.dsar.models import DsarStatus
from compliance.pi.vocabulary import PURPOSES
from ledger import services as ledger
from ledger.analytics import _pseudonym, usage_analytics
from ledger.kyc_recheck import PAUSED_REASON, kyc_rechecks_due
from ledger.models import KycRecord, KycStatus
from tests.compliance.consent.consent_helpers import current_version, seed_purposes
from tests.ledger.conftest import sa_id, verify_kyc
from tests.personas import make_customer, make_staff

pytestmark = pytest.mark.django_db

DOB = dt.date(1991, 7, 9)


@pytest.fixture(autouse=True)
def _purposes():
    seed_purposes()


def restrict(subject, purpose: str, kind: str = "restriction"):
    """File and approve a restriction (or objection) DSAR, as the subject and an officer would."""
    officer = make_staff("information_officer")
    dsar = dsar_services.dsar_file(subject=subject, filed_by=subject, type=kind, purposes=[purpose])
    dsar_services.dsar_verify_identity(actor=officer, dsar=dsar, evidence="MFA at filing")
    dsar_services.dsar_assign(actor=officer, dsar=dsar)
    dsar = dsar_services.dsar_approve(actor=officer, dsar=dsar)
    assert dsar.status == DsarStatus.FULFILLED, dsar.outcome_statement
    assert not may_process(subject, purpose)
    return dsar


def consent(subject, purpose: str) -> None:
    consent_record(
        actor=subject, subject=subject, purpose=purpose, granted=True,
        notice_version=current_version(purpose), channel="api",
    )  # fmt: skip


def exported_ids(purpose: str) -> set[str]:
    out = io.StringIO()
    marketing_audience_export(actor=make_staff("information_officer"), out=out, via="test", purpose=purpose)
    return {line.split(",")[0] for line in out.getvalue().splitlines()[1:]}


TESTED_CONSUMERS = {"direct_marketing", "third_party_marketing_sharing", "analytics", "kyc"}


def test_every_restrictable_purpose_has_a_consumer_and_a_test_here():
    restrictable = {code for code, purpose in PURPOSES.items() if purpose.restrictable}
    assert restrictable == TESTED_CONSUMERS, "a new restrictable purpose needs its consumer proven here"
    assert restrictable <= set(purpose_consumers())


@pytest.mark.parametrize("purpose", ["direct_marketing", "third_party_marketing_sharing"])
@pytest.mark.parametrize("kind", ["restriction", "objection"])
def test_an_audience_export_leaves_out_a_restricted_subject(purpose, kind):
    subject, other = make_customer(), make_customer()
    consent(subject, purpose)
    consent(other, purpose)
    assert {str(subject.public_id), str(other.public_id)} <= exported_ids(purpose)
    restrict(subject, purpose, kind)
    exported = exported_ids(purpose)
    assert str(subject.public_id) not in exported and str(other.public_id) in exported


def _funded(subject, operations):
    record = ledger.kyc_submit(actor=subject, id_number=sa_id(DOB), date_of_birth=DOB, document_reference="DOC")
    verify_kyc(record, operations=operations, tier=2)
    wallet = ledger.wallet_ensure(owner=subject)
    ledger.deposit_create(
        actor=subject, account=wallet.public_id, amount=10_000, currency="ZAR", channel="eft",
        funding_source="EFT-analytics", idempotency_key=f"dep-{uuid.uuid4()}",
    )  # fmt: skip
    return record


def test_usage_analytics_leave_out_a_restricted_subject(operations):
    subject, other = make_customer(), make_customer()
    for user in (subject, other):
        _funded(user, operations)
        consent(user, "analytics")
    since = timezone.now() - timedelta(days=1)
    counted = {row.subject for row in usage_analytics(since=since)}
    assert {_pseudonym(subject.public_id), _pseudonym(other.public_id)} <= counted
    assert str(subject.public_id) not in str(usage_analytics(since=since)), "pseudonymous, never the public id"
    restrict(subject, "analytics")
    counted = {row.subject for row in usage_analytics(since=since)}
    assert _pseudonym(subject.public_id) not in counted and _pseudonym(other.public_id) in counted


def test_a_kyc_restriction_pauses_the_periodic_recheck_but_not_fica_verification(operations):
    subject, other = make_customer(), make_customer()
    records = [_funded(user, operations) for user in (subject, other)]
    KycRecord.objects.filter(pk__in=[r.pk for r in records]).update(decided_at=timezone.now() - timedelta(days=800))
    plan = kyc_rechecks_due()
    assert {r.user_id for r in plan.due} >= {subject.pk, other.pk} and not plan.paused

    restrict(subject, "kyc")
    plan = kyc_rechecks_due()
    assert subject.pk not in {r.user_id for r in plan.due} and other.pk in {r.user_id for r in plan.due}
    assert [r.user_id for r in plan.paused] == [subject.pk]
    assert plan.paused_reason == PAUSED_REASON and "FICA" in PAUSED_REASON, "says why the rest continues"

    # What the law requires continues for the restricted subject: verification before money moves
    # (FICA s21) and the KYC record itself (s22).
    newcomer = make_customer()
    restrict(newcomer, "kyc")
    record = ledger.kyc_submit(actor=newcomer, id_number=sa_id(DOB), date_of_birth=DOB, document_reference="NEW")
    decided = ledger.kyc_decide(actor=operations, record=record.public_id, verify=True, tier=1)
    assert decided.status == KycStatus.VERIFIED
    assert KycRecord.objects.filter(user=subject, status=KycStatus.VERIFIED).exists()


@pytest.mark.parametrize("purpose", sorted(code for code, p in PURPOSES.items() if not p.restrictable))
def test_a_purpose_the_law_keeps_running_cannot_be_restricted_and_keeps_running(purpose):
    subject = make_customer()
    with pytest.raises(dsar_services.DsarError) as refused:
        dsar_services.dsar_file(subject=subject, filed_by=subject, type="restriction", purposes=[purpose])
    assert refused.value.code == "purpose_not_restrictable"
    assert PURPOSES[purpose].not_restrictable in refused.value.message
    assert may_process(subject, purpose)

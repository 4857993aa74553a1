"""Retention purges against PostgreSQL with time travel: what is past retention goes, what is held
or tied to an open DSAR stays, a second run purges nothing more, an interrupted run resumes."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.contrib.sessions.models import Session
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.management import call_command
from django.db import connections, transaction
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from compliance.models import AuditEvent, DataSubjectRequest, DsarExport, LegalHold, RetentionPolicy, RetentionRun
from compliance.retention.engine import retention_purge, retention_targets
from compliance.retention.models import HoldKind
from tests.personas import make_customer

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def _sessions(n: int, *, expire: datetime, prefix: str = "s") -> list[str]:
    keys = [f"{prefix}{i:07d}" for i in range(n)]
    Session.objects.bulk_create([Session(session_key=k, session_data="x", expire_date=expire) for k in keys])
    return keys


def _token(user, *, expires: datetime, jti: str) -> OutstandingToken:
    return OutstandingToken.objects.create(user=user, jti=jti, token="", created_at=expires, expires_at=expires)


def _purge_events() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action="RETENTION_PURGE").order_by("id"))


def test_policies_are_seeded_with_their_legal_reasons():
    fica = RetentionPolicy.objects.get(code="fica_transactions")
    assert fica.period_days == 5 * 365
    assert "FICA" in fica.legal_reason
    assert RetentionPolicy.objects.get(code="dsar_export_7d").period_days == 7
    assert RetentionPolicy.objects.get(code="mfa_secrets").period_days is None
    assert RetentionPolicy.objects.get(code="auth_tokens").period_days == 1
    # Every registered target names a seeded policy.
    codes = set(RetentionPolicy.objects.values_list("code", flat=True))
    assert {t.policy for t in retention_targets()} <= codes
    assert {"sessions.session", "token_blacklist.outstandingtoken"} <= {t.key for t in retention_targets()}


def test_rows_past_retention_go_held_and_open_dsar_rows_stay(customer, other_customer):
    held_subject = make_customer("held@example.test")
    with time_machine.travel(T0, tick=False):
        _sessions(5, expire=T0, prefix="old")
        _sessions(2, expire=T0 + timedelta(days=30), prefix="new")
        expired = _token(customer, expires=T0, jti="expired-free")
        BlacklistedToken.objects.create(token=expired)
        on_dsar = _token(other_customer, expires=T0, jti="expired-open-dsar")
        row_held = _token(customer, expires=T0, jti="expired-row-held")
        subject_held = _token(held_subject, expires=T0, jti="expired-subject-held")
        live = _token(customer, expires=T0 + timedelta(days=30), jti="live")
        DataSubjectRequest.objects.create(subject=other_customer, type="access", channel="api", filed_by=other_customer)
        LegalHold.objects.create(
            kind=HoldKind.RETENTION_DUTY,
            model_label="token_blacklist.outstandingtoken",
            object_id=str(row_held.pk),
            reason="test duty",
            hold_until=T0 + timedelta(days=365),
        )
        LegalHold.objects.create(
            kind=HoldKind.LITIGATION,
            model_label="accounts.user",
            object_id=str(held_subject.pk),
            subject=held_subject,
            reason="test litigation",
        )
        Session.objects.filter(session_key="old0000004").update(expire_date=T0)  # unchanged: still expired

    with time_machine.travel(T0 + timedelta(days=3), tick=False):
        dry = retention_purge(dry_run=True)
        assert dry.per_policy()["session"] == 5
        assert dry.per_policy()["auth_tokens"] == 1
        assert Session.objects.count() == 7  # the dry run changed nothing
        assert _purge_events() == []

        report = retention_purge(batch_size=2, pause_seconds=0)

    assert report.per_policy()["session"] == 5
    assert report.per_policy()["auth_tokens"] == 1
    assert report.batches == 3 + 1  # sessions in batches of at most 2, the token in one
    assert sorted(Session.objects.values_list("session_key", flat=True)) == ["new0000000", "new0000001"]
    assert set(OutstandingToken.objects.values_list("jti", flat=True)) == {
        on_dsar.jti,
        row_held.jti,
        subject_held.jti,
        live.jti,
    }
    assert not BlacklistedToken.objects.exists()
    [event] = _purge_events()
    assert event.actor_type == "system"
    assert event.change_diff["per_policy"]["session"] == 5
    assert event.change_diff["per_policy"]["auth_tokens"] == 1
    assert event.change_diff["total"] == report.total
    assert "expired-free" not in str(event.change_diff)  # counts only, never row contents
    assert RetentionPolicy.objects.get(code="session").last_run_at == T0 + timedelta(days=3)

    # A second run purges nothing more (and still records its run).
    with time_machine.travel(T0 + timedelta(days=3, hours=1), tick=False):
        again = retention_purge(pause_seconds=0)
    assert again.total == 0
    assert Session.objects.count() == 2
    assert OutstandingToken.objects.count() == 4
    assert len(_purge_events()) == 2


def test_a_duty_hold_stops_protecting_once_it_ends(customer):
    with time_machine.travel(T0, tick=False):
        token = _token(customer, expires=T0, jti="held-until-april")
        hold = LegalHold.objects.create(
            kind=HoldKind.RETENTION_DUTY,
            model_label="token_blacklist.outstandingtoken",
            object_id=str(token.pk),
            reason="duty",
            hold_until=T0 + timedelta(days=30),
        )
    with time_machine.travel(T0 + timedelta(days=10), tick=False):
        assert retention_purge(pause_seconds=0).per_policy().get("auth_tokens") == 0
        assert OutstandingToken.objects.filter(pk=token.pk).exists()
    with time_machine.travel(T0 + timedelta(days=31), tick=False):
        report = retention_purge(pause_seconds=0)
    assert report.per_policy()["auth_tokens"] == 1
    assert report.per_policy()["legal_hold_expiry"] == 1
    assert not OutstandingToken.objects.filter(pk=token.pk).exists()
    hold.refresh_from_db()
    assert hold.released_at == T0 + timedelta(days=31)  # completed, not deleted


def test_a_disabled_policy_purges_nothing():
    with time_machine.travel(T0, tick=False):
        _sessions(3, expire=T0)
    RetentionPolicy.objects.filter(code="session").update(enabled=False)
    with time_machine.travel(T0 + timedelta(days=5), tick=False):
        report = retention_purge(pause_seconds=0)
    assert Session.objects.count() == 3
    assert report.skipped["sessions.session"] == "policy disabled"
    assert _purge_events()[0].change_diff["skipped"]["sessions.session"] == "policy disabled"


def test_an_interrupted_run_resumes_to_the_same_final_state():
    with time_machine.travel(T0, tick=False):
        _sessions(10, expire=T0, prefix="old")
        _sessions(3, expire=T0 + timedelta(days=60), prefix="keep")

    class Crash(Exception):
        pass

    batches = []

    def crash_after_two(key: str, rows: int) -> None:
        batches.append(rows)
        if len(batches) == 2:
            raise Crash

    with time_machine.travel(T0 + timedelta(days=2), tick=False), pytest.raises(Crash):
        retention_purge(batch_size=3, pause_seconds=0, on_batch=crash_after_two)
    # Two committed batches, no audit record yet, the run left open with its checkpoint.
    assert Session.objects.filter(session_key__startswith="old").count() == 4
    run = RetentionRun.objects.get()
    assert run.state == "running"
    assert run.checkpoint == {"sessions.session": "old0000005"}
    assert _purge_events() == []

    # Resumed later: the cut-off stays the first attempt's, so rows that expired meanwhile wait.
    with time_machine.travel(T0 + timedelta(days=90), tick=False):
        report = retention_purge(batch_size=3, pause_seconds=0)
    assert report.run_public_id == str(run.public_id)
    assert report.per_policy()["session"] == 10
    assert sorted(Session.objects.values_list("session_key", flat=True)) == [
        "keep0000000",
        "keep0000001",
        "keep0000002",
    ]
    assert RetentionRun.objects.get().state == "completed"
    [event] = _purge_events()
    assert event.change_diff["per_policy"]["session"] == 10
    assert event.change_diff["batches"] == 4


def test_dsar_export_bundles_are_deleted_after_seven_days(customer):
    with time_machine.travel(T0, tick=False):
        dsar = DataSubjectRequest.objects.create(
            subject=customer, type="access", channel="api", filed_by=customer, status="fulfilled"
        )
        name = default_storage.save("dsar-exports/test-bundle.bin", ContentFile(b"ciphertext"))
        export = DsarExport.objects.create(
            dsar=dsar, storage_name=name, sha256="0" * 64, size_bytes=10, expires_at=T0 + timedelta(days=7)
        )
    with time_machine.travel(T0 + timedelta(days=6), tick=False):
        assert retention_purge(pause_seconds=0).per_policy()["dsar_export_7d"] == 0
    assert default_storage.exists(name)
    with time_machine.travel(T0 + timedelta(days=8), tick=False):
        report = retention_purge(pause_seconds=0)
    assert report.per_policy()["dsar_export_7d"] == 1
    export.refresh_from_db()
    assert export.purged_at == T0 + timedelta(days=8)
    assert not default_storage.exists(name)
    with time_machine.travel(T0 + timedelta(days=9), tick=False):
        assert retention_purge(pause_seconds=0).per_policy()["dsar_export_7d"] == 0


def test_mfa_devices_of_closed_accounts_go_after_thirty_days(customer, other_customer):
    from accounts.models import TOTPDevice
    from tests.personas import enrol_totp

    with time_machine.travel(T0, tick=False):
        enrol_totp(customer)
        enrol_totp(other_customer)
        type(customer).objects.filter(pk=customer.pk).update(is_active=False, updated_at=T0)
    with time_machine.travel(T0 + timedelta(days=31), tick=False):
        report = retention_purge(pause_seconds=0)
    assert report.counts["mfa_devices_closed_accounts"]["accounts.totpdevice"] == 1
    assert list(TOTPDevice.objects.values_list("user_id", flat=True)) == [other_customer.pk]


def test_the_command_dry_run_prints_counts_per_policy():
    import io

    with time_machine.travel(T0, tick=False):
        _sessions(4, expire=T0)
    out = io.StringIO()
    with time_machine.travel(T0 + timedelta(days=2), tick=False):
        call_command("purge_retention", "--dry-run", stdout=out)
    assert "session: would purge 4" in out.getvalue()
    assert Session.objects.count() == 4
    assert _purge_events() == []


@pytest.mark.django_db(transaction=True)
def test_batches_skip_rows_a_business_transaction_holds_locked():
    expire = timezone.now() - timedelta(days=5)
    _sessions(6, expire=expire)
    locked = threading.Event()
    release = threading.Event()

    def hold_lock() -> None:
        try:
            with transaction.atomic():
                Session.objects.select_for_update().get(session_key="s0000002")
                locked.set()
                release.wait(30)
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold_lock)
    holder.start()
    try:
        assert locked.wait(10)
        report = retention_purge(batch_size=2, pause_seconds=0)  # must not wait for the lock
    finally:
        release.set()
        holder.join()
    assert report.per_policy()["session"] == 5
    assert list(Session.objects.values_list("session_key", flat=True)) == ["s0000002"]
    assert retention_purge(pause_seconds=0).per_policy()["session"] == 1  # the next run takes it

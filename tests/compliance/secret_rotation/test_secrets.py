"""Secret inventory and rotation: one alert per overdue secret per run (log, metric, audit, admin),
JWT signing-key rotation with a grace window (time travel), Secrets Manager against moto."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import boto3
import jwt
import pytest
import time_machine
from django.conf import settings
from moto import mock_aws
from prometheus_client import REGISTRY
from rest_framework.test import APIClient

from accounts.tokens import (
    RING_SECRET_NAME,
    SETTINGS_KID,
    jwt_key_grace,
    jwt_signing_key_rotate,
    signing_key_ring,
    token_pair_for,
)
from compliance.models import AuditEvent, SecretRotation
from compliance.secret_rotation.inventory import secrets_check
from compliance.secret_rotation.providers import AwsSecretsManagerProvider, FileSecretsProvider, SecretNotFound
from tests.personas import make_api_client, otp_admin_login

pytestmark = pytest.mark.django_db

T0 = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)
ME = "/api/v1/me/"


def _overdue_alerts() -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(action="SECRET_ROTATION_OVERDUE").order_by("id"))


def _alert_count(kind: str) -> float:
    return REGISTRY.get_sample_value("fintech_secret_rotation_alerts_total", {"kind": kind}) or 0.0


def _mark_everything_fresh(at: datetime) -> None:
    SecretRotation.objects.update(rotated_at=at, alert_state="ok", overdue_since=None)


def test_the_inventory_lists_every_secret_the_platform_relies_on():
    with time_machine.travel(T0, tick=False):
        secrets_check(rotate=False)
    names = set(SecretRotation.objects.values_list("name", flat=True))
    assert {"jwt-signing-key", "django-secret-key", "database-credentials", "redis-credentials"} <= names
    assert {"field-key", "blind-index-key"} <= names  # from the key metadata
    jwt_row = SecretRotation.objects.get(name="jwt-signing-key")
    assert jwt_row.platform_rotates
    assert jwt_row.max_age_days == 30
    assert not SecretRotation.objects.get(name="database-credentials").platform_rotates


def test_an_overdue_secret_raises_exactly_one_alert_per_run(caplog):
    with time_machine.travel(T0, tick=False):
        jwt_signing_key_rotate(actor=None)  # the platform-owned keys are fresh
        secrets_check(rotate=False)  # creates the rows
    _mark_everything_fresh(T0)
    SecretRotation.objects.filter(name="database-credentials").update(rotated_at=T0 - timedelta(days=45))
    caplog.clear()
    before_alerts = len(_overdue_alerts())
    before_metric = _alert_count("database")

    with time_machine.travel(T0 + timedelta(days=1), tick=False), caplog.at_level(logging.WARNING):
        result = secrets_check()
    assert result.alerts == ["database-credentials"]
    assert result.still_overdue == ["database-credentials"]
    new = _overdue_alerts()[before_alerts:]
    assert [(e.object_type, e.object_id) for e in new] == [("secret", "database-credentials")]
    assert new[0].change_diff["still_overdue"] is True
    assert new[0].change_diff["rotated_now"] is False
    assert _alert_count("database") == before_metric + 1
    assert REGISTRY.get_sample_value("fintech_secrets_overdue") == 1
    records = [r for r in caplog.records if r.getMessage() == "secret overdue for rotation"]
    assert len(records) == 1
    assert records[0].levelno == logging.ERROR
    assert records[0].secret == "database-credentials"  # pragma: allowlist secret
    row = SecretRotation.objects.get(name="database-credentials")
    assert row.alert_state == "overdue"
    assert row.overdue_since == T0 + timedelta(days=1)

    # The next day's run alerts once more (one per run), not twice, and nothing else.
    with time_machine.travel(T0 + timedelta(days=2), tick=False):
        again = secrets_check()
    assert again.alerts == ["database-credentials"]
    assert len(_overdue_alerts()) == before_alerts + 2
    assert SecretRotation.objects.get(name="database-credentials").overdue_since == T0 + timedelta(days=1)

    # Recording the rotation clears the alert and the gauge.
    with time_machine.travel(T0 + timedelta(days=3), tick=False):
        SecretRotation.objects.filter(name="database-credentials").update(rotated_at=T0 + timedelta(days=3))
        cleared = secrets_check()
    assert cleared.alerts == []
    assert REGISTRY.get_sample_value("fintech_secrets_overdue") == 0
    assert SecretRotation.objects.get(name="database-credentials").alert_state == "ok"


def test_the_check_rotates_an_overdue_jwt_signing_key():
    with time_machine.travel(T0, tick=False):
        secrets_check(rotate=False)
        _mark_everything_fresh(T0)
    assert signing_key_ring().active.kid == SETTINGS_KID
    # The settings key has no recorded rotation date: overdue, and the platform owns it.
    with time_machine.travel(T0 + timedelta(days=1), tick=False):
        result = secrets_check()
    assert result.rotated == ["jwt-signing-key"]
    assert result.still_overdue == []
    active = signing_key_ring().active
    assert active.kid != SETTINGS_KID
    row = SecretRotation.objects.get(name="jwt-signing-key")
    assert row.rotated_at == T0 + timedelta(days=1)
    assert row.alert_state == "ok"
    rotated = AuditEvent.objects.get(action="KEY_ROTATED", object_type="jwt_signing_key")
    assert rotated.object_id == active.kid
    assert active.secret not in str(rotated.change_diff)
    # Within its maximum age the next run leaves it alone.
    with time_machine.travel(T0 + timedelta(days=20), tick=False):
        assert "jwt-signing-key" not in secrets_check().alerts
    assert signing_key_ring().active.kid == active.kid


def _long_lived_token(user, *, secret: str, kid: str) -> str:
    # Signed by hand only to outlive the grace window: a real token would expire first.
    claims = {
        "token_type": "access",
        "exp": int((T0 + timedelta(days=30)).timestamp()),
        "iat": int(T0.timestamp()),
        "jti": "long-lived-probe",
        "sub": str(user.public_id),
        "epoch": user.auth_epoch,
        "aud": settings.SIMPLE_JWT["AUDIENCE"],
        "iss": settings.SIMPLE_JWT["ISSUER"],
    }
    return jwt.encode(claims, secret, algorithm="HS256", headers={"kid": kid})


def _bearer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def test_jwt_rotation_keeps_old_tokens_for_the_grace_window_then_rejects_them(customer):
    grace = jwt_key_grace()
    assert grace == timedelta(minutes=5) + timedelta(hours=12)
    with time_machine.travel(T0, tick=False):
        old_pair = token_pair_for(customer, mfa_at=None)
        assert jwt.get_unverified_header(old_pair["access"])["kid"] == SETTINGS_KID
        probe = _long_lived_token(customer, secret=settings.SIMPLE_JWT["SIGNING_KEY"], kid=SETTINGS_KID)
        assert _bearer(probe).get(ME).status_code == 200
    with time_machine.travel(T0 + timedelta(minutes=1), tick=False):
        new_key = jwt_signing_key_rotate(actor=None)
        # Tokens signed before the rotation still work; new ones carry the new kid.
        assert _bearer(old_pair["access"]).get(ME).status_code == 200
        fresh = make_api_client(customer)
        assert jwt.get_unverified_header(fresh.tokens["access"])["kid"] == new_key.kid
        assert fresh.get(ME).status_code == 200
    with time_machine.travel(T0 + timedelta(hours=6), tick=False):
        # The old refresh token is still accepted and yields tokens under the new key.
        refreshed = APIClient().post("/api/v1/auth/token/refresh/", {"refresh": old_pair["refresh"]}, format="json")
        assert refreshed.status_code == 200
        assert jwt.get_unverified_header(refreshed.json()["access"])["kid"] == new_key.kid
        assert _bearer(probe).get(ME).status_code == 200
    with time_machine.travel(T0 + timedelta(minutes=1) + grace - timedelta(seconds=1), tick=False):
        assert _bearer(probe).get(ME).status_code == 200
    with time_machine.travel(T0 + timedelta(minutes=1) + grace + timedelta(seconds=1), tick=False):
        rejected = _bearer(probe).get(ME)
        assert rejected.status_code == 401
        assert rejected.json()["error"]["code"] == "token_not_valid"
        # A token under the new key is unaffected.
        assert _bearer(_long_lived_token(customer, secret=new_key.secret, kid=new_key.kid)).get(ME).status_code == 200
        # A second rotation prunes the expired key from the ring.
        jwt_signing_key_rotate(actor=None)
    assert SETTINGS_KID not in {key.kid for key in signing_key_ring().keys}


def test_unknown_or_forged_kids_are_refused(customer):
    with time_machine.travel(T0, tick=False):
        new_key = jwt_signing_key_rotate(actor=None)
        assert _bearer(_long_lived_token(customer, secret=new_key.secret, kid="nope")).get(ME).status_code == 401
        forged = _long_lived_token(customer, secret="not-the-key-" * 4, kid=new_key.kid)
        assert _bearer(forged).get(ME).status_code == 401


def test_another_process_rotation_is_picked_up_by_kid(customer, settings):
    with time_machine.travel(T0, tick=False):
        # Simulate another process: write a ring straight to the store, this process's cache stale.
        signing_key_ring()
        other = FileSecretsProvider(settings.SECRETS_PROVIDER["FILE"])
        from accounts.tokens import SigningKey, SigningKeyRing

        ring = SigningKeyRing((SigningKey("k-other", "s" * 64, T0), SigningKey(SETTINGS_KID, "", None, T0)))
        other.put_secret(RING_SECRET_NAME, ring.dumps())
        token = _long_lived_token(customer, secret="s" * 64, kid="k-other")
        assert _bearer(token).get(ME).status_code == 200


def test_the_admin_warns_about_overdue_secrets(client, auditor):
    with time_machine.travel(T0, tick=False):
        secrets_check(rotate=False)
    otp_admin_login(client, auditor)
    response = client.get("/admin/compliance/secretrotation/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "overdue for rotation" in body
    assert "database-credentials" in body


@mock_aws
def test_secrets_manager_provider_reads_rotates_and_describes():
    client = boto3.client("secretsmanager", region_name="af-south-1")
    provider = AwsSecretsManagerProvider(region="af-south-1", prefix="fintech/", client=client)
    with pytest.raises(SecretNotFound):
        provider.get_secret("db")
    first_version = provider.put_secret("db", "initial-value")
    assert provider.get_secret("db") == "initial-value"
    first = provider.describe("db")
    assert first.version_id == first_version

    rotated = provider.rotate_secret("db", lambda current: f"{current}-rotated")
    assert provider.get_secret("db") == "initial-value-rotated"
    assert provider.previous_secret("db") == "initial-value"
    assert rotated.version_id != first_version
    assert rotated.rotated_at is not None
    stages = client.describe_secret(SecretId="fintech/db")["VersionIdsToStages"]
    assert stages[rotated.version_id] == ["AWSCURRENT"]
    assert stages[first_version] == ["AWSPREVIOUS"]


@mock_aws
def test_jwt_keys_rotate_through_secrets_manager(settings, customer):
    settings.SECRETS_PROVIDER = {**settings.SECRETS_PROVIDER, "KIND": "aws", "AWS_REGION": "af-south-1"}
    from accounts.tokens import reset_signing_key_cache

    reset_signing_key_cache()
    new_key = jwt_signing_key_rotate(actor=None)
    stored = boto3.client("secretsmanager", region_name="af-south-1").get_secret_value(
        SecretId=f"{settings.SECRETS_PROVIDER['AWS_PREFIX']}{RING_SECRET_NAME}"
    )["SecretString"]
    assert new_key.kid in stored
    assert settings.SIMPLE_JWT["SIGNING_KEY"] not in stored  # the settings key is never copied out
    assert make_api_client(customer).get(ME).status_code == 200


@mock_aws
def test_an_external_secret_dates_come_from_secrets_manager(settings):
    settings.SECRETS_PROVIDER = {**settings.SECRETS_PROVIDER, "KIND": "aws", "AWS_REGION": "af-south-1"}
    settings.SECRETS_INVENTORY_SM_NAMES = {"database-credentials": "db"}
    AwsSecretsManagerProvider(region="af-south-1", prefix=settings.SECRETS_PROVIDER["AWS_PREFIX"]).put_secret(
        "db", "dsn-password"
    )
    secrets_check(rotate=False)
    row = SecretRotation.objects.get(name="database-credentials")
    assert row.rotated_at is not None
    assert row.alert_state == "ok"
    assert row.provider == "aws"


def test_the_check_rotates_overdue_field_keys_held_in_a_key_ring_file(settings, tmp_path):
    from compliance.crypto.keys import get_key_provider
    from compliance.models import KeyRotationRun
    from compliance.secret_rotation.tasks import continue_key_rotation

    settings.FIELD_KEYS = {"PROVIDER": "file", "KEY_RING_FILE": str(tmp_path / "keys.json"), "CREATE_IF_MISSING": True}
    with time_machine.travel(T0, tick=False):
        jwt_signing_key_rotate(actor=None)
        secrets_check(rotate=False)
    _mark_everything_fresh(T0)
    with time_machine.travel(T0 + timedelta(days=31), tick=False):
        result = secrets_check()
    assert sorted(result.rotated) == ["blind-index-key", "field-key", "jwt-signing-key"]
    assert result.still_overdue == ["database-credentials", "django-secret-key", "redis-credentials"]
    provider = get_key_provider()
    assert provider.active_version("field") == 2
    assert provider.active_version("blind_index") == 2
    runs = {run.purpose: run for run in KeyRotationRun.objects.all()}
    assert {purpose: run.target_version for purpose, run in runs.items()} == {"field": 2, "blind_index": 2}
    field_row = SecretRotation.objects.get(name="field-key")
    assert field_row.rotated_at == T0 + timedelta(days=31)
    assert field_row.alert_state == "ok"
    assert "re-encryption started" in field_row.last_outcome
    # The re-encryption the check enqueued completes through its task (idempotent on repeat).
    assert continue_key_rotation.apply(args=[runs["field"].pk]).get()["state"] == "completed"
    assert continue_key_rotation.apply(args=[runs["field"].pk]).get()["state"] == "completed"


def test_keys_from_the_environment_are_only_alerted_on():
    from compliance.crypto.keys import get_key_provider
    from compliance.models import FieldKeyVersion

    assert get_key_provider().name == "env"
    secrets_check(rotate=False)
    FieldKeyVersion.objects.update(created_at=T0, rotated_at=None)
    before = get_key_provider().active_version("field")
    with time_machine.travel(T0 + timedelta(days=40), tick=False):
        result = secrets_check()
    assert {"field-key", "blind-index-key"} <= set(result.still_overdue)
    assert "field-key" not in result.rotated
    assert get_key_provider().active_version("field") == before
    row = SecretRotation.objects.get(name="field-key")
    assert not row.platform_rotates
    assert row.last_outcome.startswith("alert only")

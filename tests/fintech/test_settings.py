"""Settings: env helpers fail loudly; prod refuses unsafe configuration; safe defaults hold."""

from __future__ import annotations

import base64
import os
import secrets
import subprocess
import sys

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from fintech.settings.base import DEFAULT_SECRET_KEY
from kernel import env
from tests.conftest import ROOT

GOOD_PROD_ENV = {
    "DJANGO_SETTINGS_MODULE": "fintech.settings.prod",
    "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
    "DJANGO_ALLOWED_HOSTS": "fintech.example",
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/fintech",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "FIELD_ENCRYPTION_KEYS": "1:" + base64.b64encode(secrets.token_bytes(32)).decode(),
    "BLIND_INDEX_KEYS": "1:" + base64.b64encode(secrets.token_bytes(32)).decode(),
    "AUDIT_SIGNING_KEYS": "1:" + base64.b64encode(secrets.token_bytes(32)).decode(),
}


def run_django(extra_env: dict[str, str], code: str = "import django; django.setup(); print('started')"):
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "DATABASE_URL", "REDIS_URL", "FIELD_", "BLIND_INDEX_", "AUDIT_SIGNING_"))
    }
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**clean, **extra_env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_prod_starts_with_real_settings():
    result = run_django(GOOD_PROD_ENV)
    assert result.returncode == 0, result.stderr
    assert "started" in result.stdout


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"DJANGO_DEBUG": "1"}, "DEBUG must be off"),
        ({"DJANGO_SECRET_KEY": DEFAULT_SECRET_KEY}, "DJANGO_SECRET_KEY"),
        ({"DJANGO_SECRET_KEY": "django-insecure-abc"}, "DJANGO_SECRET_KEY"),  # pragma: allowlist secret
        ({"DJANGO_SECRET_KEY": "short"}, "at least 50"),  # pragma: allowlist secret
        ({"DATABASE_URL": ""}, "PostgreSQL"),
        ({"REDIS_URL": ""}, "REDIS_URL"),
        ({"DJANGO_DEBUG": "maybe"}, "DJANGO_DEBUG must be a boolean"),
        ({"LEDGER_CARD_PROCESSOR": "ledger.settlement.sandbox.SandboxCardProcessor"}, "must not be the sandbox"),
    ],
)
def test_prod_refuses_unsafe_settings(override, message):
    result = run_django({**GOOD_PROD_ENV, **override})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert message in result.stderr


def test_prod_refuses_to_start_without_an_audit_signing_key():
    # Checkpoints would go unsigned (docs/adr/0006): a rewrite of the whole chain undetectable.
    result = run_django({k: v for k, v in GOOD_PROD_ENV.items() if k != "AUDIT_SIGNING_KEYS"})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and "AUDIT_SIGNING_KEYS" in result.stderr
    malformed = run_django({**GOOD_PROD_ENV, "AUDIT_SIGNING_KEYS": "1:not-base64!"})
    assert malformed.returncode != 0 and "AUDIT_SIGNING_KEYS" in malformed.stderr


def test_prod_refuses_a_missing_secret_key():
    env_without_key = {k: v for k, v in GOOD_PROD_ENV.items() if k != "DJANGO_SECRET_KEY"}
    result = run_django(env_without_key)
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY" in result.stderr


def test_prod_sets_hsts_and_other_headers_on_responses():
    code = (
        "import django; django.setup();"
        "from django.test import Client;"
        "r = Client().get('/healthz', secure=True, HTTP_HOST='fintech.example');"
        "print(r.status_code, r.headers['Strict-Transport-Security'], r.headers['X-Content-Type-Options'])"
    )
    result = run_django(GOOD_PROD_ENV, code)
    assert result.returncode == 0, result.stderr
    assert "200 max-age=63072000; includeSubDomains; preload nosniff" in result.stdout


def test_secrets_can_come_from_files(tmp_path, monkeypatch):
    secret_file = tmp_path / "key"
    secret_file.write_text("from-a-file\n")
    monkeypatch.setenv("SOME_SECRET_FILE", str(secret_file))
    assert env.env_str("SOME_SECRET") == "from-a-file"


def test_env_helpers_fail_loudly(monkeypatch):
    monkeypatch.delenv("MISSING_THING", raising=False)
    with pytest.raises(ImproperlyConfigured, match="MISSING_THING"):
        env.env_str("MISSING_THING")
    monkeypatch.setenv("NOT_A_NUMBER", "ten")
    with pytest.raises(ImproperlyConfigured, match="NOT_A_NUMBER"):
        env.env_int("NOT_A_NUMBER")
    monkeypatch.setenv("A_LIST", "a, b,,c")
    assert env.env_list("A_LIST") == ["a", "b", "c"]


def test_safe_defaults_hold_in_every_profile():
    from fintech.settings import base

    assert base.PASSWORD_HASHERS[0].endswith("Argon2PasswordHasher")
    assert base.DEBUG is False
    assert base.ADMIN_IDLE_TIMEOUT_SECONDS == 15 * 60
    # The store outlives the idle timeout (so a late POST is recognised and kept), the cookie does not.
    assert base.SESSION_COOKIE_AGE > base.ADMIN_IDLE_TIMEOUT_SECONDS and base.SESSION_EXPIRE_AT_BROWSER_CLOSE
    assert base.REST_FRAMEWORK["DEFAULT_PERMISSION_CLASSES"] == ["rest_framework.permissions.IsAuthenticated"]
    assert base.REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"] == ["rest_framework.renderers.JSONRenderer"]
    assert settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"


def test_the_logging_check_flags_a_handler_without_redaction(settings):
    from fintech.checks import check_logging_redacts_pii

    assert check_logging_redacts_pii(None) == []
    settings.LOGGING = {**settings.LOGGING, "handlers": {"leaky": {"class": "logging.StreamHandler"}}}
    errors = check_logging_redacts_pii(None)
    assert [error.id for error in errors] == ["fintech.E001"]


def test_a_multi_host_database_url_lists_every_host_for_psycopg():
    from kernel.env import database_config

    config = database_config(
        "postgres://app@db-a:5432,db-b:5433,db-c/fintech?target_session_attrs=read-write",
        conn_max_age=60,
    )
    assert (config["HOST"], config["PORT"], config["NAME"], config["USER"]) == (
        "db-a,db-b,db-c", "5432,5433,5432", "fintech", "app",
    )  # fmt: skip
    assert config["OPTIONS"]["target_session_attrs"] == "read-write"
    assert config["CONN_MAX_AGE"] == 60
    single = database_config("postgres://app@db-a:5432/fintech")
    assert (single["HOST"], single["PORT"]) == ("db-a", 5432)


def test_a_malformed_multi_host_database_url_fails_loudly():
    from django.core.exceptions import ImproperlyConfigured

    from kernel.env import database_config

    with pytest.raises(ImproperlyConfigured, match="host\\[:port\\]"):
        database_config("postgres://app@db-a:5432,:5433/fintech")


def test_the_subject_key_store_is_a_second_database_with_the_main_ones_connection_options():
    code = (
        "import django, json; django.setup(); from django.conf import settings; d = settings.DATABASES; "
        "print(json.dumps([d['keys']['NAME'], d['keys']['OPTIONS'] == d['default']['OPTIONS'], "
        "d['keys']['CONN_MAX_AGE'] == d['default']['CONN_MAX_AGE'], settings.DATABASE_ROUTERS[0]]))"
    )
    result = run_django(
        {**GOOD_PROD_ENV, "SUBJECT_KEYS_DATABASE_URL": "postgres://k@keys.internal:5432/fintech_keys"}, code
    )
    assert result.returncode == 0, result.stderr
    assert (
        result.stdout.strip().splitlines()[-1] == '["fintech_keys", true, true, "kernel.db_router.SubjectKeysRouter"]'
    )
    without = run_django(
        GOOD_PROD_ENV,
        "import django; django.setup(); from django.conf import settings; print(sorted(settings.DATABASES))",
    )
    assert without.stdout.strip().splitlines()[-1] == "['default']"

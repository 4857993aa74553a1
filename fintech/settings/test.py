"""Test profile: always real PostgreSQL and Redis (never SQLite, never mocks).

``make test`` exports DATABASE_URL / REDIS_URL (starting throwaway servers when nothing answers
on the default ports). Each pytest-xdist worker gets its own Redis database number so caches,
throttles and Celery queues never bleed between workers.
"""

import os

from fintech.settings.base import *  # noqa: F403
from kernel.env import database_config

_worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
_worker_index = int(_worker[2:]) if _worker.startswith("gw") and _worker[2:].isdigit() else 0

DATABASE_URL = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/fintech")
if not DATABASE_URL.startswith(("postgres://", "postgresql://")):
    raise RuntimeError("Tests run against PostgreSQL only: DATABASE_URL must be a postgres:// URL.")
DATABASES = {
    "default": database_config(
        DATABASE_URL, conn_max_age=0,
        connect_timeout=DATABASE_CONNECT_TIMEOUT, statement_timeout_ms=DATABASE_STATEMENT_TIMEOUT_MS,
    )
}  # fmt: skip
# The audit table refuses TRUNCATE; Django empties all tables with one TRUNCATE between
# transactional tests, so test sessions (superuser only) opt in (see compliance/audit/models.py).
DATABASES["default"]["OPTIONS"]["options"] += " -c fintech.audit_truncate=allow"

_redis_base = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0").rsplit("/", 1)[0]
# Several checkouts may test at once on one Redis: TEST_REDIS_DB_OFFSET keeps them apart.
REDIS_URL = f"{_redis_base}/{int(os.environ.get('TEST_REDIS_DB_OFFSET', '10')) + _worker_index}"
CACHES = {
    "default": {
        "BACKEND": "kernel.redis_cache.ReusedClientRedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "fintech-test",
    }
}
CELERY_BROKER_URL = REDIS_URL
CELERY_BROKER_TRANSPORT_OPTIONS = {}

DEBUG = False
# Hashing strength is not under test here (a test asserts base settings use Argon2 first).
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_THROTTLE_RATES": {"anon": "10000/min", "user": "10000/min", "auth": "10000/min"},
}
# A test may start a real worker with another backend (tests/compliance/dsar/flaky_mail.py).
EMAIL_BACKEND = os.environ.get("TEST_EMAIL_BACKEND", "django.core.mail.backends.locmem.EmailBackend")
SMS_BACKEND = "kernel.messaging.LocmemSmsBackend"
# Open in tests, as in dev (tests/fintech/test_api_docs.py checks the production rule explicitly).
API_DOCS_PUBLIC = True
# Serve static files from the apps' folders: tests never run collectstatic.
STATIC_ROOT = None  # type: ignore[assignment]  # base sets a Path; None = serve from the apps
WHITENOISE_USE_FINDERS = True
STORAGES = {
    **STORAGES,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# Fixed, public test keys (never valid anywhere else). Tests that rotate keys switch to a
# temporary key-ring file (tests/compliance/conftest.py).
FIELD_KEYS = {
    **FIELD_KEYS,
    "PROVIDER": "env",
    "FIELD_ENCRYPTION_KEYS": "1:VEVTVC1PTkxZIGZpZWxkIGtleSB2MSBub3QgcmVhbCE=",  # pragma: allowlist secret
    "BLIND_INDEX_KEYS": "1:VEVTVC1PTkxZIGJsaW5kIGlkeCB2MSBub3QgcmVhbCE=",  # pragma: allowlist secret
    "AUDIT_SIGNING_KEYS": "1:VEVTVC1PTkxZIGF1ZGl0IHNpZ25pbmcga2V5IHYxISE=",  # pragma: allowlist secret
}
# Throwaway apps: pi_testapp exercises the PI annotations and encrypted fields; plugin_app plugs
# into the platform through exactly the steps of docs/ARCHITECTURE.md ("Plugging in a new app").
INSTALLED_APPS = [*INSTALLED_APPS, "tests.pi_testapp", "tests.plugin_app"]

# Webhook signing secrets for the provider notifications (public test values, never valid elsewhere);
# sandbox callbacks wait in an outbox so a test delivers them (or not) over HTTP.
LEDGER_WEBHOOK_SECRETS = {
    "card_processor": ["whsec_VEVTVC1PTkxZIGNhcmQgcHJvY2Vzc29yIHNlY3JldA=="],  # pragma: allowlist secret
    "bank": ["whsec_VEVTVC1PTkxZIGJhbmsgbm90aWZpY2F0aW9uIHNlY3JldA=="],  # pragma: allowlist secret
}
LEDGER_SANDBOX_CALLBACKS = "outbox"
LEDGER_CARD_PROCESSOR = "ledger.settlement.sandbox.SandboxCardProcessor"

"""Development and demo profile: embedded SQLite and a file-system Celery broker by default.

With DATABASE_URL / REDIS_URL set it uses PostgreSQL and Redis instead (see base).
"""

from fintech.settings.base import *  # noqa: F403
from fintech.settings.base import CACHES, DATABASES, FIELD_KEYS, REDIS_URL, VAR_DIR
from kernel.env import env_bool

DEBUG = env_bool("DJANGO_DEBUG", False)
# `make run` serves plain HTTP on 127.0.0.1; Secure cookies would never be sent back.
SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", False)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
# Password-reset and other mails are printed, not sent.
EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
SMS_BACKEND = "kernel.messaging.ConsoleSmsBackend"
# The schema and docs are open while developing (staff only in production).
API_DOCS_PUBLIC = env_bool("API_DOCS_PUBLIC", True)

if not DATABASES:
    VAR_DIR.mkdir(parents=True, exist_ok=True)

    def _sqlite(name: str) -> dict:
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / name,
            # Web server, worker and beat share the file: WAL lets readers run beside one writer,
            # IMMEDIATE transactions take the write lock up front instead of failing mid-way.
            "OPTIONS": {
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            },
        }

    # The subject keys in their own file, as production keeps them in their own database
    # (docs/adr/0007): `make run` migrates it with `migrate --database keys`.
    DATABASES = {"default": _sqlite("dev.sqlite3"), "keys": _sqlite("keys.sqlite3")}

if not REDIS_URL:
    for folder in ("queue", "processed", "control"):
        (VAR_DIR / "celery-broker" / folder).mkdir(parents=True, exist_ok=True)
    # Web server, worker and beat are separate processes: they share a file cache, not memory.
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }

if FIELD_KEYS["PROVIDER"] == "env" and not FIELD_KEYS["FIELD_ENCRYPTION_KEYS"]:
    # Stable development keys, generated on first use into a git-ignored, 0600 key-ring file.
    FIELD_KEYS = {**FIELD_KEYS, "PROVIDER": "file", "KEY_RING_FILE": str(VAR_DIR / "field-keys.json")}
    FIELD_KEYS["CREATE_IF_MISSING"] = True

# Provider notifications (ledger, ADR 0005): fixed demo secrets unless the environment sets real ones,
# so `make run` shows sandbox card deposits and bank notifications settling through signed webhooks.
LEDGER_WEBHOOK_SECRETS = {
    "card_processor": LEDGER_WEBHOOK_SECRETS["card_processor"]
    or ["whsec_REVWLU9OTFkgY2FyZCBwcm9jZXNzb3Igc2VjcmV0"],  # pragma: allowlist secret
    "bank": LEDGER_WEBHOOK_SECRETS["bank"]
    or ["whsec_REVWLU9OTFkgYmFuayBub3RpZmljYXRpb24gc2VjcmV0"],  # pragma: allowlist secret
}
LEDGER_CARD_PROCESSOR = env_str("LEDGER_CARD_PROCESSOR", "ledger.settlement.sandbox.SandboxCardProcessor")

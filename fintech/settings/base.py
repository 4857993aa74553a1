"""Everything the platform needs, read from the environment.

The profiles (dev, test, prod) import this module and change only what differs between them.
Defaults here are the safe ones: DEBUG off, strict cookies, API closed by default.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from csp.constants import NONE, SELF

from fintech.openapi import GETTING_STARTED
from kernel.env import database_config, env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(env_str("FINTECH_VAR_DIR", str(BASE_DIR / "var")))

# The development key is public (it is in this file); prod refuses it (see fintech/checks.py).
DEFAULT_SECRET_KEY = "dev-only-insecure-key-never-use-in-production-0000000000000000"  # noqa: S105  # pragma: allowlist secret
SECRET_KEY = env_str("DJANGO_SECRET_KEY", DEFAULT_SECRET_KEY)
DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])
# Addresses of our load balancers/proxies; only they may set X-Forwarded-For (see request_context).
TRUSTED_PROXIES = env_list("TRUSTED_PROXIES", [])

INSTALLED_APPS = [
    # The admin's default site is the OTP-enforcing PlatformAdminSite (fintech/admin_site.py).
    "fintech.admin_config.PlatformAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt",
    "rest_framework_simplejwt.token_blacklist",
    "django_otp",
    "axes",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "django_celery_results",
    "csp",
    "pgtrigger",
    "auditlog",
    "compliance",
    "accounts",
    "ledger",
    "fintech.apps.FintechConfig",
]

MIDDLEWARE = [
    # Request count and latency for /metrics (labelled by view name and method, never by path:
    # no ids or other request data end up in a label). Its pair sits just before axes.
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "fintech.middleware.RequestIdMiddleware",
    # Cache-Control: no-store on API answers and on anything answered to a signed-in caller.
    "fintech.cache_control.NoStoreMiddleware",
    # Inside the request id (one id for both runs): replays an idempotent request once when the
    # database connection broke under it during a failover.
    "fintech.middleware.DatabaseFailoverRetryMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    # Before the idle timeout: a form posted after it is kept, and a message says so.
    "django.contrib.messages.middleware.MessageMiddleware",
    "accounts.middleware.IdleSessionTimeoutMiddleware",
    "compliance.audit.middleware.AuditlogContextMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
    # Last, as django-axes requires: turns a locked-out login into the lockout answer.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "fintech.urls"
WSGI_APPLICATION = "fintech.wsgi.application"
AUTH_USER_MODEL = "accounts.User"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
# PostgreSQL is the system of record. DATABASE_URL may name several hosts
# (postgres://u@h1:5432,h2:5432/db?target_session_attrs=read-write) so the app follows a
# promoted standby. Without DATABASE_URL the dev profile uses embedded SQLite.
DATABASE_URL = env_str("DATABASE_URL", "")
# A failover must not hang requests (docs/ARCHITECTURE.md, "Availability"): new connections give up
# after DATABASE_CONNECT_TIMEOUT seconds, statements after DATABASE_STATEMENT_TIMEOUT_MS (below
# gunicorn's 30 s), idle connections to a vanished host are found by TCP keepalives.
DATABASE_CONNECT_TIMEOUT = env_int("DATABASE_CONNECT_TIMEOUT", 3)
DATABASE_STATEMENT_TIMEOUT_MS = env_int("DATABASE_STATEMENT_TIMEOUT_MS", 25_000)
_CONNECTIONS = {
    "conn_max_age": 60, "conn_health_checks": True,
    "connect_timeout": DATABASE_CONNECT_TIMEOUT, "statement_timeout_ms": DATABASE_STATEMENT_TIMEOUT_MS,
}  # fmt: skip
DATABASES = {"default": database_config(DATABASE_URL, **_CONNECTIONS)} if DATABASE_URL else {}
# Optional read replica for reports and exports (kernel/db_router.py): a hot standby's URL.
DATABASE_REPLICA_URL = env_str("DATABASE_REPLICA_URL", "")
if DATABASE_URL and DATABASE_REPLICA_URL:
    DATABASES["replica"] = {**database_config(DATABASE_REPLICA_URL, **_CONNECTIONS), "TEST": {"MIRROR": "default"}}
# The key store (docs/adr/0007, "A key store outside the main backups"): the per-subject data keys
# (compliance.SubjectKey) live in their own database, whose backups are short (1 day) and which the
# main database's backups never contain; production requires it (check compliance.E125). Without
# it the keys stay in the main database ("single-database mode": the test suite).
SUBJECT_KEYS_DATABASE_URL = env_str("SUBJECT_KEYS_DATABASE_URL", "")
if DATABASE_URL and SUBJECT_KEYS_DATABASE_URL:
    DATABASES["keys"] = database_config(SUBJECT_KEYS_DATABASE_URL, **_CONNECTIONS)
# The key-store router first: the replica router must never send a subject key to the replica.
DATABASE_ROUTERS = ["kernel.db_router.SubjectKeysRouter", "kernel.db_router.ReportReadsRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: cache and Celery broker -----------------------------------------------------------
REDIS_URL = env_str("REDIS_URL", "")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "kernel.redis_cache.ReusedClientRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "fintech",
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Authentication, lockout, MFA --------------------------------------------------------------
# Axes first: it refuses a locked-out account before any password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# 10 failures (password or one-time code) within 30 minutes lock for 30 minutes, counted per
# (account, address) and per account; the account-wide lock spares the owner coming back from a
# known address with the second factor, and a reset link lifts it (accounts/lockout.py). The same
# counters serve the admin login, the token endpoint and the OTP step.
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 10)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", 30))
AXES_LOCKOUT_PARAMETERS = "accounts.lockout.lockout_parameters"
# A login address counts as "known" for this long after a successful login from it.
LOCKOUT_KNOWN_ADDRESS_DAYS = env_int("LOCKOUT_KNOWN_ADDRESS_DAYS", 90)
# Per-address progressive delay: free failures, then 1, 2, 4 ... seconds up to the cap.
LOGIN_ADDRESS_FREE_FAILURES = env_int("LOGIN_ADDRESS_FREE_FAILURES", 20)
LOGIN_ADDRESS_MAX_DELAY_SECONDS = env_int("LOGIN_ADDRESS_MAX_DELAY_SECONDS", 15 * 60)
# axes.W006 warns that User-Agent rotation bypasses an IP+UA lock; ours are per account and per
# (account, address), and the per-address brake is our own back-off, so the warning does not apply.
# auth.W004: User.email is encrypted (every ciphertext differs), so uniqueness is enforced by the
# unique blind index `email_index`, and login looks the address up through it (UserManager).
SILENCED_SYSTEM_CHECKS = ["axes.W006", "auth.W004"]
AXES_USERNAME_CALLABLE = "accounts.lockout.lockout_username"
AXES_CLIENT_IP_CALLABLE = "accounts.lockout.lockout_client_ip"
AXES_LOCKOUT_CALLABLE = "accounts.lockout.lockout_response"
# A fixed window: attempts during a lockout neither extend it nor are stored.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
# Only the lockout is needed; per-login access rows would duplicate the audit trail.
AXES_DISABLE_ACCESS_LOG = True
# The username (an e-mail address) is masked too: the lockout rows must not hold it in clear.
AXES_SENSITIVE_PARAMETERS = [
    "password",
    "new_password",
    "current_password",
    "otp",
    "otp_token",
    "token",
    "username",
    "email",
]
# TOTP: exponential back-off after failed codes (1, 2, 4 … seconds), on top of the lockout.
OTP_TOTP_THROTTLE_FACTOR = env_int("OTP_TOTP_THROTTLE_FACTOR", 1)
OTP_TOTP_ISSUER = env_str("OTP_TOTP_ISSUER", "Fintech")
# Password-reset links live one hour and die once the password changes (Django's token).
PASSWORD_RESET_TIMEOUT = env_int("PASSWORD_RESET_TIMEOUT", 60 * 60)
# Where the e-mailed reset link points; uid and token go in the fragment, never to a server log.
PASSWORD_RESET_URL = env_str("PASSWORD_RESET_URL", "http://127.0.0.1:8000/reset-password")

EMAIL_BACKEND = env_str("DJANGO_EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "no-reply@fintech.example")
# SMS behind the same interface as e-mail (kernel.messaging): refused until a provider is configured.
SMS_BACKEND = env_str("SMS_BACKEND", "kernel.messaging.DisabledSmsBackend")

# --- Data-subject notices (POPIA s18, s23-s25; compliance/dsar/notices.py) --------------------
# Who the subject writes to, and where they may complain; printed in every DSAR notice, the
# export README and the deletion statement.
INFORMATION_OFFICER_CONTACT = {
    "name": env_str("INFORMATION_OFFICER_NAME", "The Information Officer, Fintech Platform"),
    "email": env_str("INFORMATION_OFFICER_EMAIL", "privacy@fintech.example"),
    "postal": env_str("INFORMATION_OFFICER_POSTAL", "PO Box 1, Johannesburg, 2000"),
}
INFORMATION_REGULATOR_CONTACT = {
    "name": "The Information Regulator (South Africa)",
    "email": env_str("INFORMATION_REGULATOR_EMAIL", "POPIAComplaints@inforegulator.org.za"),
    "website": env_str("INFORMATION_REGULATOR_WEBSITE", "https://inforegulator.org.za"),
    "postal": env_str("INFORMATION_REGULATOR_POSTAL", "JD House, 27 Stiemens Street, Braamfontein, Johannesburg, 2001"),
}

# --- Passwords ------------------------------------------------------------------------------
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {
        "NAME": "django.contrib.auth.password_validation.CommonPasswordValidator",
        "OPTIONS": {"password_list_path": str(BASE_DIR / "accounts" / "data" / "common-passwords.txt.gz")},
    },
    # Breached/common words however decorated, e-mail-like passwords, the user's own details.
    {"NAME": "accounts.passwords.GuessablePasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
    {"NAME": "accounts.passwords.LettersAndDigitsValidator"},
    {"NAME": "accounts.passwords.MaximumLengthValidator", "OPTIONS": {"max_length": 128}},
]

# --- Internationalisation: UTC everywhere, aware datetimes only ------------------------------
LANGUAGE_CODE = "en-za"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# Uploaded and generated files (DSAR export bundles, encrypted). Never served by the web server:
# bundles are streamed by the download endpoint after its checks.
MEDIA_ROOT = Path(env_str("DJANGO_MEDIA_ROOT", str(VAR_DIR / "media")))

STATIC_URL = "/static/"
STATIC_ROOT = Path(env_str("DJANGO_STATIC_ROOT", str(VAR_DIR / "static")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# --- Sessions, cookies, security headers ------------------------------------------------------
SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"
# Staff sessions end after 15 idle minutes (accounts/middleware.py; every request slides the window).
ADMIN_IDLE_TIMEOUT_SECONDS = env_int("ADMIN_IDLE_TIMEOUT_SECONDS", 15 * 60)
# The stored session outlives the idle timeout by an hour, so that a form posted after the timeout
# still finds it: the middleware then ends it (logged out, row flushed) and keeps what was typed.
# The cookie itself lasts until the browser closes (SESSION_EXPIRE_AT_BROWSER_CLOSE).
SESSION_COOKIE_AGE = ADMIN_IDLE_TIMEOUT_SECONDS + 60 * 60
SESSION_SAVE_EVERY_REQUEST = True
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
# PI is masked in the admin; a deliberate, audited reveal shows one record's fields to the staff
# member who asked for this long (compliance/audit/admin.py PIMaskedAdmin).
PI_REVEAL_SECONDS = env_int("PI_REVEAL_SECONDS", 5 * 60)
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Strict"
SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", True)
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Strict"
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
CSRF_FAILURE_VIEW = "kernel.errors.csrf_failure"

SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_SSL_REDIRECT = env_bool("DJANGO_SSL_REDIRECT", False)
# Load-balancer probes speak plain HTTP inside the cluster.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
if env_bool("DJANGO_BEHIND_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# Everything from our own origin only; no inline script anywhere (the API docs use the split
# Swagger view, which serves its initialiser as a file). Framing is refused outright.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

# Request-size limits stand in for a WAF body limit (SPEC C10).
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DJANGO_MAX_BODY_BYTES", 1024 * 1024)
DATA_UPLOAD_MAX_NUMBER_FIELDS = 1000
# JSON bodies: at most this many bytes and this many levels of nesting (fintech/parsers.py).
API_JSON_MAX_BYTES = env_int("API_JSON_MAX_BYTES", 1024 * 1024)
API_JSON_MAX_DEPTH = env_int("API_JSON_MAX_DEPTH", 32)

# --- Django REST framework: closed by default -------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["accounts.authentication.PlatformJWTAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # JSON with depth and size limits checked before parsing (fintech/parsers.py).
    "DEFAULT_PARSER_CLASSES": ["fintech.parsers.LimitedJSONParser"],
    "DEFAULT_PAGINATION_CLASS": "kernel.pagination.DefaultPagination",
    "PAGE_SIZE": 50,
    # DRF's throttles with the client address taken through trusted proxies only.
    "DEFAULT_THROTTLE_CLASSES": [
        "accounts.throttling.AnonRateThrottle",
        "accounts.throttling.UserRateThrottle",
        "accounts.throttling.ScopedRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env_str("API_THROTTLE_ANON", "60/min"),
        "user": env_str("API_THROTTLE_USER", "600/min"),
        "auth": env_str("API_THROTTLE_AUTH", "10/min"),
    },
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "kernel.errors.api_exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env_int("JWT_ACCESS_MINUTES", 5)),
    "REFRESH_TOKEN_LIFETIME": timedelta(hours=env_int("JWT_REFRESH_HOURS", 12)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": False,
    "ALGORITHM": "HS256",
    "SIGNING_KEY": env_str("JWT_SIGNING_KEY", SECRET_KEY),
    "AUDIENCE": env_str("JWT_AUDIENCE", "fintech-api"),
    "ISSUER": env_str("JWT_ISSUER", "fintech"),
    "USER_ID_FIELD": "public_id",
    "USER_ID_CLAIM": "sub",
}

# /metrics answers only these networks (the scraper's) or a bearer METRICS_TOKEN.
METRICS_ALLOWED_NETWORKS = env_list(
    "METRICS_ALLOWED_NETWORKS", ["127.0.0.0/8", "::1/128", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"]
)
METRICS_TOKEN = env_str("METRICS_TOKEN", "")

# Two-phase deposits and withdrawals (ledger, ADR 0005). Providers sign their notifications with the
# Standard Webhooks scheme; each secret is "whsec_<base64>", several comma-separated during a rotation
# (the first signs sandbox callbacks). *_FILE supported. Empty: that provider's notifications are refused.
LEDGER_WEBHOOK_SECRETS = {
    "card_processor": env_list("LEDGER_CARD_PROCESSOR_WEBHOOK_SECRETS", []),
    "bank": env_list("LEDGER_BANK_WEBHOOK_SECRETS", []),
}
# How far a notification's signed timestamp may be from now (at most 300: the scheme's own bound).
LEDGER_WEBHOOK_TOLERANCE_SECONDS = env_int("LEDGER_WEBHOOK_TOLERANCE_SECONDS", 300)
# An unsettled deposit voids after this many hours (the beat task ledger.tasks.expire_pending_deposits).
LEDGER_PENDING_DEPOSIT_HOURS = env_int("LEDGER_PENDING_DEPOSIT_HOURS", 72)
# Segregation of duties (issue 15): reversing an entry of at least this amount (minor units;
# default R10,000.00) needs four eyes: one operations user requests it, a different one approves.
LEDGER_REVERSAL_FOUR_EYES_MINOR_UNITS = env_int("LEDGER_REVERSAL_FOUR_EYES_MINOR_UNITS", 1_000_000)
# The card processor (ledger.settlement.processors), a dotted path. None by default: card deposits are refused
# until a real one is configured. The dev and test profiles use the sandbox, which approves cards and
# signs its own captures, so it must never be what production runs.
LEDGER_CARD_PROCESSOR = env_str("LEDGER_CARD_PROCESSOR", "")
# Sandbox callbacks: "inline" delivers them at once through the webhook intake (dev, demo);
# "outbox" keeps them in ledger.settlement.sandbox.OUTBOX for a test to deliver over HTTP.
LEDGER_SANDBOX_CALLBACKS = env_str("LEDGER_SANDBOX_CALLBACKS", "inline")

# Money movement and DSAR downloads need an MFA check at most this many seconds old.
MFA_STEP_UP_SECONDS = env_int("MFA_STEP_UP_SECONDS", 15 * 60)
# Enrolling an authenticator needs the password proved at most this many seconds earlier.
MFA_ENROL_REAUTH_SECONDS = env_int("MFA_ENROL_REAUTH_SECONDS", 10 * 60)

# The OpenAPI schema and docs: public only where a profile says so (dev, test); staff otherwise.
API_DOCS_PUBLIC = env_bool("API_DOCS_PUBLIC", False)

SPECTACULAR_SETTINGS = {
    "TITLE": "Fintech platform API",
    # The getting-started guide (token with OTP, step-up, idempotency, errors): fintech/openapi.py.
    "DESCRIPTION": GETTING_STARTED,
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Every /api/ operation documents the one error shape for its 4xx answers (fintech/openapi.py).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "fintech.openapi.document_error_responses",
        # Grouped by audience and topic, descriptions written for readers (fintech/openapi.py).
        "fintech.openapi.organise_for_people",
    ],
    # Several apps have a "status"/"channel" choice set: name the DSAR ones explicitly.
    "ENUM_NAME_OVERRIDES": {
        "DsarStatusEnum": "compliance.dsar.models.DsarStatus",
        "DsarChannelEnum": "compliance.dsar.models.DsarChannel",
        "DsarTypeEnum": "compliance.dsar.models.DsarType",
        # The one-value "type" of each movement answer (ledger/serializers.py).
        "DepositTypeEnum": ["deposit"],
        "WithdrawalTypeEnum": ["withdrawal"],
        "TransferTypeEnum": ["transfer"],
        "ReversalTypeEnum": ["reversal"],
        # Where a deposit or withdrawal stands, and how a settlement ended (ADR 0005).
        "MovementStatusEnum": ["pending", "posted", "voided"],
        "SettlementOutcomeEnum": ["posted", "voided"],
    },
}

# --- Field encryption and blind-index keys (compliance/crypto/keys.py) -------------------------
# Keys never live in the database. FIELD_KEY_PROVIDER: "env" (FIELD_ENCRYPTION_KEYS and
# BLIND_INDEX_KEYS as "version:base64key,..." with the active version first; *_FILE supported),
# "file" (a JSON key ring at FIELD_KEY_RING_FILE, mode 0600) or "kms" (the same ring holding data
# keys wrapped by the AWS KMS key FIELD_KEY_KMS_KEY_ID). Production refuses to start without them.
FIELD_KEYS = {
    "PROVIDER": env_str("FIELD_KEY_PROVIDER", "env"),
    "FIELD_ENCRYPTION_KEYS": env_str("FIELD_ENCRYPTION_KEYS", ""),
    "BLIND_INDEX_KEYS": env_str("BLIND_INDEX_KEYS", ""),
    # The Ed25519 seeds that sign audit checkpoints (optional ring; same "version:base64" form).
    "AUDIT_SIGNING_KEYS": env_str("AUDIT_SIGNING_KEYS", ""),
    "KEY_RING_FILE": env_str("FIELD_KEY_RING_FILE", ""),
    "KMS_KEY_ID": env_str("FIELD_KEY_KMS_KEY_ID", ""),
    "CREATE_IF_MISSING": False,
}
# --- Audit trail (SPEC C4): sealing, verification, archive, field-level change trail ----------
# Archive of sealed segments: "local" (a directory) or "s3" (Object Lock, COMPLIANCE mode).
AUDIT_ARCHIVE_BACKEND = env_str("AUDIT_ARCHIVE_BACKEND", "local")
AUDIT_ARCHIVE_DIR = env_str("AUDIT_ARCHIVE_DIR", str(VAR_DIR / "audit-archive"))
AUDIT_ARCHIVE_S3_BUCKET = env_str("AUDIT_ARCHIVE_S3_BUCKET", "")
# Signed checkpoints of the audit Merkle tree (docs/adr/0006): the log's name (the checkpoint
# origin and the signing key's name), the shortest interval between two checkpoints of a growing
# tree (the seal interval), and the longest between two checkpoints at all (at least hourly).
AUDIT_LOG_ORIGIN = env_str("AUDIT_LOG_ORIGIN", "fintech.example/audit")
AUDIT_CHECKPOINT_MIN_SECONDS = env_int("AUDIT_CHECKPOINT_MIN_SECONDS", 5)
AUDIT_CHECKPOINT_MAX_SECONDS = env_int("AUDIT_CHECKPOINT_MAX_SECONDS", 3600)
AUDIT_ARCHIVE_S3_PREFIX = env_str("AUDIT_ARCHIVE_S3_PREFIX", "audit/")
# Five years (PMLA/FICA), counting the leap days.
AUDIT_ARCHIVE_RETENTION_DAYS = env_int("AUDIT_ARCHIVE_RETENTION_DAYS", 5 * 365 + 2)
AUDIT_ARCHIVE_SEGMENT_RECORDS = env_int("AUDIT_ARCHIVE_SEGMENT_RECORDS", 100_000)
# How often the sealer refreshes head.json outside the database (the truncation tripwire).
AUDIT_HEAD_EXPORT_SECONDS = env_int("AUDIT_HEAD_EXPORT_SECONDS", 60)
# The erasure ledger (compliance.dsar.erasure_ledger) lives in the same archive store. An erasure
# not recorded in it this long after its commit is counted by fintech_dsar_erasures_unrecorded.
ERASURE_LEDGER_GRACE_SECONDS = env_int("ERASURE_LEDGER_GRACE_SECONDS", 300)
# DSAR notices (compliance.dsar.notices): the send task's first retry delay (doubled at each of
# its retries), and how long a notice stays pending before the beat sweep sends it again.
DSAR_NOTICE_RETRY_SECONDS = env_int("DSAR_NOTICE_RETRY_SECONDS", 60)
DSAR_NOTICE_RESEND_AFTER_SECONDS = env_int("DSAR_NOTICE_RESEND_AFTER_SECONDS", 30 * 60)
# Verification alerts when a committed record has waited longer than this to be sealed.
AUDIT_SEAL_MAX_LAG_SECONDS = env_int("AUDIT_SEAL_MAX_LAG_SECONDS", 5 * 60)
# The admin warns when the last successful verification is older than this.
AUDIT_VERIFY_MAX_AGE_SECONDS = env_int("AUDIT_VERIFY_MAX_AGE_SECONDS", 2 * 60 * 60)
# A report export larger than this must be narrowed (it is built in memory).
AUDIT_REPORT_MAX_ROWS = env_int("AUDIT_REPORT_MAX_ROWS", 50_000)
# The least-privilege role the application connects as (see compliance/db_roles.py).
AUDIT_DB_APP_ROLE = env_str("AUDIT_DB_APP_ROLE", "fintech_app")
# django-auditlog: models are registered explicitly (never all models: TOTP secrets), PI values
# masked fully, the request id as correlation id; actor and address come from our middleware.
AUDITLOG_INCLUDE_ALL_MODELS = False
AUDITLOG_MASK_CALLABLE = "compliance.audit.change_trail.mask_fully"
AUDITLOG_CID_GETTER = "kernel.request_context.get_request_id"
AUDITLOG_DISABLE_REMOTE_ADDR = False

# --- Celery ---------------------------------------------------------------------------------
# Retention purges (SPEC C8): rows per batch transaction (sized so that each batch works about
# BATCH_MS, between 500 and BATCH_SIZE rows), and the throttle between batches, driven
# by each batch's measured impact (compliance/retention/engine.py, Throttle): the purge works at
# most DUTY_PERCENT of the time (a pause in proportion to the batch's own duration, so a slow,
# contended database gets longer pauses), backs off further while a batch made other sessions wait
# on its locks, and waits while a streaming replica's replay lag exceeds MAX_REPLICA_LAG_MS.
# The defaults (4 ms batches, 40%) are the frontier measured by bench/bench_retention.py on this
# project's 2-core machines (docs/BENCHMARKS.md, "Session 8"): which goal binds, the purge's rate
# or the transfers' p99, follows the database's CPU and storage, so a deployment tunes DUTY_PERCENT.
RETENTION_PURGE_BATCH_SIZE = env_int("RETENTION_PURGE_BATCH_SIZE", 2000)  # the most rows in one batch
RETENTION_PURGE_BATCH_MS = env_int("RETENTION_PURGE_BATCH_MS", 4)  # each batch's work, sizing it
RETENTION_PURGE_DUTY_CYCLE = env_int("RETENTION_PURGE_DUTY_PERCENT", 40) / 100
RETENTION_PURGE_PAUSE_SECONDS = env_int("RETENTION_PURGE_PAUSE_MS", 0) / 1000  # the least pause
RETENTION_PURGE_MAX_PAUSE_SECONDS = env_int("RETENTION_PURGE_MAX_PAUSE_MS", 5000) / 1000
RETENTION_PURGE_MAX_REPLICA_LAG_SECONDS = env_int("RETENTION_PURGE_MAX_REPLICA_LAG_MS", 2000) / 1000
# Where platform-owned secrets (the JWT signing-key ring) are kept: "file" (a JSON file, mode
# 0600: one host only, since every web process and the worker must read the same ring) or "aws"
# (AWS Secrets Manager: any number of hosts).
SECRETS_PROVIDER = {
    "KIND": env_str("SECRETS_PROVIDER", "file"),
    "FILE": env_str("SECRETS_FILE", str(VAR_DIR / "secrets.json")),
    "AWS_REGION": env_str("SECRETS_AWS_REGION", env_str("AWS_DEFAULT_REGION", "af-south-1")),
    "AWS_PREFIX": env_str("SECRETS_AWS_PREFIX", "fintech/"),
}
# Externally held secrets kept in the secrets provider, whose rotation date the daily check reads:
# "inventory-name=provider-name,..." (e.g. "database-credentials=db").
SECRETS_INVENTORY_SM_NAMES = dict(
    item.split("=", 1) for item in env_str("SECRETS_INVENTORY_SM_NAMES", "").split(",") if "=" in item
)

CELERY_BROKER_URL = REDIS_URL or "filesystem://"
CELERY_RESULT_BACKEND = "django-db"
CELERY_RESULT_EXTENDED = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 15 * 60)
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 14 * 60)
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULER = "fintech.beat:SingleLeaderScheduler"
# Save last_run_at after every job so a standby taking over never re-sends a job just sent.
CELERY_BEAT_SYNC_EVERY = 1
BEAT_LOCK_TTL = env_int("BEAT_LOCK_TTL", 30)
# Touched on every scheduler tick; the beat pods' probes check its age (deploy/k8s).
BEAT_HEARTBEAT_FILE = env_str("BEAT_HEARTBEAT_PATH", str(VAR_DIR / "beat-heartbeat"))
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
if not REDIS_URL:
    # Embedded broker for the dev profile: messages are files, so no server has to run.
    _broker_dir = VAR_DIR / "celery-broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        # Kombu otherwise writes its control exchange files into the working directory.
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }

# --- Logging: JSON lines, request id on every line, PI masked before any handler ---------------
LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "fintech.logging.RequestIdFilter"},
        "redact_pii": {"()": "kernel.redaction.PIIRedactionFilter"},
    },
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
            "rename_fields": {"asctime": "timestamp", "levelname": "level", "name": "logger"},
            "datefmt": "%Y-%m-%dT%H:%M:%S%z",
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "filters": ["request_id", "redact_pii"],
        },
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
        # Django logs 4xx/5xx with the request path; the handler above still redacts it.
        "django.request": {"handlers": ["console"], "level": "WARNING", "propagate": False},
        "celery": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
    },
}

"""Start-up refusals for production: the prod settings call ``production_refusals``, and the process
refuses to start on unsafe configuration."""

from __future__ import annotations

from django.core.exceptions import ImproperlyConfigured

from fintech.settings.base import DEFAULT_SECRET_KEY


def production_refusals(*, debug: bool, secret_key: str, databases: dict, redis_url: str) -> None:
    """Raise ImproperlyConfigured when production settings are unsafe. Called by prod settings."""
    if debug:
        raise ImproperlyConfigured("DEBUG must be off in production (unset DJANGO_DEBUG).")
    if not secret_key or secret_key == DEFAULT_SECRET_KEY or secret_key.startswith("django-insecure"):
        raise ImproperlyConfigured("Set DJANGO_SECRET_KEY (or DJANGO_SECRET_KEY_FILE) to a real secret.")
    if len(secret_key) < 50 or len(set(secret_key)) < 5:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be at least 50 characters of real entropy.")
    if not databases or databases["default"].get("ENGINE") != "django.db.backends.postgresql":
        raise ImproperlyConfigured("Production runs on PostgreSQL: set DATABASE_URL=postgres://...")
    if not redis_url:
        raise ImproperlyConfigured("Production needs Redis (cache and Celery broker): set REDIS_URL.")

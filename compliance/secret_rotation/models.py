"""The secret inventory: every secret and key the platform relies on, when it was last rotated
and how old it may get. NEVER secret material: names, owners and dates only.

Rows are kept in step with the platform by ``compliance.secret_rotation.inventory.secrets_sync`` (key
versions come from the key metadata, the JWT ring from its own store); operators record
rotations of externally held secrets (database, Redis, S3 credentials) in the admin.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import models
from django.utils import timezone

DEFAULT_MAX_AGE_DAYS = 30


class SecretKind(models.TextChoices):
    FIELD_KEY = "field_key", "Field-encryption key"
    BLIND_INDEX_KEY = "blind_index_key", "Blind-index key"
    JWT_SIGNING_KEY = "jwt_signing_key", "JWT signing key"
    DJANGO_SECRET_KEY = "django_secret_key", "Django SECRET_KEY"  # pragma: allowlist secret
    DATABASE = "database", "Database credentials"
    REDIS = "redis", "Redis credentials"
    OBJECT_STORAGE = "object_storage", "Object-storage (audit archive) credentials"
    OTHER = "other", "Other"


class AlertState(models.TextChoices):
    OK = "ok", "Within its maximum age"
    OVERDUE = "overdue", "Overdue for rotation"


class SecretRotation(models.Model):
    name = models.SlugField(max_length=100, unique=True)
    kind = models.CharField(max_length=20, choices=SecretKind.choices)
    owner = models.CharField(max_length=100, help_text="Who holds and rotates it (platform, operator, AWS, ...).")
    provider = models.CharField(max_length=40, blank=True, help_text="Where it is stored (env, file, KMS, AWS SM).")
    platform_rotates = models.BooleanField(default=False, help_text="The daily check rotates it itself.")
    rotated_at = models.DateTimeField(null=True, blank=True, help_text="Empty: never recorded (counts as overdue).")
    max_age_days = models.PositiveIntegerField(default=DEFAULT_MAX_AGE_DAYS)
    last_checked_at = models.DateTimeField(null=True, blank=True, editable=False)
    alert_state = models.CharField(max_length=10, choices=AlertState.choices, default=AlertState.OK, editable=False)
    overdue_since = models.DateTimeField(null=True, blank=True, editable=False)
    last_alerted_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_outcome = models.CharField(max_length=200, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("name",)
        verbose_name = "secret (rotation status)"
        verbose_name_plural = "secrets (rotation status)"
        permissions = [("record_secret_rotation", "Can record that an external secret was rotated")]
        indexes = [models.Index(fields=["alert_state"], name="secret_alert_state")]

    def __str__(self) -> str:
        return self.name

    def due_at(self) -> datetime | None:
        return None if self.rotated_at is None else self.rotated_at + timedelta(days=self.max_age_days)

    def is_overdue(self, now=None) -> bool:
        due = self.due_at()
        return due is None or due <= (now or timezone.now())

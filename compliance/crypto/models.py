"""Key-version metadata and rotation checkpoints. NEVER key material.

The keys themselves stay with the key provider (environment, key-ring file, KMS). These rows
let the secret-rotation checks see when each key was put into service and retired, let the admin
and auditors see the key history, and let an interrupted ``rotate_field_keys`` resume.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone


class KeyPurpose(models.TextChoices):
    FIELD = "field", "field encryption (AES-256-GCM)"
    BLIND_INDEX = "blind_index", "blind index (HMAC-SHA256)"


class FieldKeyVersion(models.Model):
    class State(models.TextChoices):
        ACTIVE = "active", "active (encrypts and decrypts)"
        DECRYPT_ONLY = "decrypt_only", "decrypt only (superseded, rows may remain)"
        RETIRED = "retired", "retired (removed from the key provider)"

    purpose = models.CharField(max_length=20, choices=KeyPurpose.choices)
    version = models.PositiveIntegerField()
    state = models.CharField(max_length=20, choices=State.choices, default=State.ACTIVE)
    provider = models.CharField(max_length=20, help_text="Which key provider holds the key.")
    created_at = models.DateTimeField(default=timezone.now)
    # When every row had been re-encrypted under this version (the rotation completed).
    rotated_at = models.DateTimeField(null=True, blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["purpose", "version"], name="field_key_version_unique"),
        ]
        ordering = ["purpose", "-version"]

    def __str__(self) -> str:
        return f"{self.purpose} key v{self.version} ({self.state})"


class KeyRotationRun(models.Model):
    """One re-encryption pass towards ``target_version``; its checkpoint makes it resumable."""

    class State(models.TextChoices):
        RUNNING = "running"
        COMPLETED = "completed"

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    purpose = models.CharField(max_length=20, choices=KeyPurpose.choices)
    target_version = models.PositiveIntegerField()
    state = models.CharField(max_length=20, choices=State.choices, default=State.RUNNING)
    # {"app_label.model": last primary key done}; models listed in `models_done` are finished.
    checkpoint = models.JSONField(default=dict, blank=True)
    models_done = models.JSONField(default=list, blank=True)
    rows_rewritten = models.BigIntegerField(default=0)
    batches = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # At most one unfinished run per purpose: two rotations must not race.
            models.UniqueConstraint(
                fields=["purpose"], condition=models.Q(state="running"), name="key_rotation_one_running"
            ),
        ]
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"{self.purpose} rotation to v{self.target_version} ({self.state})"


class SubjectKey(models.Model):
    """One data subject's data key (crypto-shredding, docs/adr/0007-crypto-shredding.md).

    The 256-bit key itself is never stored in clear: ``wrapped_key`` is the field-key ring's
    AES-256-GCM token of it (``v<field key version>:<base64>``, bound to this subject by its
    associated data), so reading it needs the key provider (env, file ring or KMS). Erasure
    destroys the key: ``wrapped_key`` is emptied and ``destroyed_at`` set, in the erasure's
    transaction; every ``s1:<id>:...`` token under it is then unreadable wherever it is copied
    (replicas, backups restored through ``reapply_erasures``, audit records, archive segments).
    The row stays (no PI: a model label and a primary key) so a token names a *destroyed* key
    rather than an unknown one, and so the shredded subjects can be listed.
    """

    FORMAT = 1

    subject_type = models.CharField(max_length=100, help_text="The subject's model, e.g. accounts.user.")
    subject_id = models.CharField(max_length=64, help_text="The subject's primary key (no PI).")
    version = models.PositiveSmallIntegerField(default=FORMAT, help_text="Token format version.")
    wrapped_key = models.TextField(
        blank=True, help_text="The data key wrapped by the field-key ring; empty once destroyed."
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    destroyed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["subject_type", "subject_id"], name="crypto_subject_key_one_per_subject"),
            models.CheckConstraint(
                condition=(models.Q(destroyed_at__isnull=True) & ~models.Q(wrapped_key=""))
                | (models.Q(destroyed_at__isnull=False) & models.Q(wrapped_key="")),
                name="crypto_subject_key_live_xor_destroyed",
            ),
        ]

    def __str__(self) -> str:
        state = "destroyed" if self.destroyed_at else "live"
        return f"Subject key {self.pk} of {self.subject_type} {self.subject_id} ({state})"

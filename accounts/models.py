"""The platform's user, their TOTP device and their one-time backup codes.

Internal integer keys never leave the database; anything that appears in a URL, a token or an
export uses ``public_id`` (a random UUID), so ids cannot be enumerated.

Invariants:
- ``auth_epoch`` is copied into every JWT; bumping it (password change or reset, deactivation,
  revocation) makes every token issued before unusable at once (accounts/authentication.py).
- A TOTP code is accepted at most once: ``last_t`` remembers the newest time step used, and a
  verification runs on a row locked with SELECT … FOR UPDATE (accounts/services.py).
- Backup codes are stored only as keyed hashes and consumed with one conditional UPDATE.
- The e-mail address, names, phone number and TOTP key are encrypted at rest
  (compliance.crypto). The e-mail and phone are found only through their blind indexes:
  ``User.objects.get_by_email(...)`` / ``by_blind_index(User, "email", ...)``; a
  ``filter(email=...)`` raises instead of silently matching nothing.
"""

from __future__ import annotations

import base64
import hmac
import time
import uuid
from functools import partial
from hashlib import sha256
from typing import Any, ClassVar

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.utils import timezone
from django_otp.models import Device, ThrottlingMixin
from django_otp.oath import TOTP

from accounts import auth_snapshot
from compliance.crypto.fields import (
    BlindIndexedModelMixin,
    BlindIndexField,
    EncryptedCharField,
    EncryptedEmailField,
    by_blind_index,
)
from compliance.pi.registry import PI, pi_model
from compliance.pi.vocabulary import Category, Erasure, LawfulBasis

_ACCOUNT = partial(PI, lawful_basis=LawfulBasis.CONTRACT, retention="account_active_plus_1y")
_MFA = partial(
    PI,
    category=Category.IDENTITY,
    purposes=["security"],
    lawful_basis=LawfulBasis.LEGITIMATE_INTEREST,
    retention="mfa_secrets",
    export=False,
    erasure=Erasure.DELETE,
)


class UserQuerySet(models.QuerySet["User"]):
    def update(self, **kwargs: Any) -> int:
        # Every process's authentication snapshot of these users is invalidated after the commit
        # (accounts/auth_snapshot.py): an ``update(is_active=False)`` refuses the next request.
        affected = list(self.values_list("public_id", flat=True))
        count = super().update(**kwargs)
        auth_snapshot.forget(affected, using=self.db)
        return count

    def delete(self) -> tuple[int, dict[str, int]]:
        affected = list(self.values_list("public_id", flat=True))
        deleted = super().delete()
        auth_snapshot.forget(affected, using=self.db)
        return deleted


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def get_queryset(self) -> UserQuerySet:
        return UserQuerySet(self.model, using=self._db)

    @classmethod
    def normalize_email(cls, email: str | None) -> str:
        # The whole address is lower-cased: mailbox names are case-insensitive at every provider
        # we deal with, and two accounts differing only in case would be a support and fraud risk.
        return (email or "").strip().lower()

    def _create_user(self, email: str, password: str | None, **extra_fields) -> User:
        if not email:
            raise ValueError("An e-mail address is required.")
        user = self.model(email=self.normalize_email(email), **extra_fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra_fields) -> User:
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra_fields)

    def create_superuser(self, email: str, password: str | None = None, **extra_fields) -> User:
        extra_fields["is_staff"] = True
        extra_fields["is_superuser"] = True
        return self._create_user(email, password, **extra_fields)

    def get_by_natural_key(self, username: str | None) -> User:
        # Login (ModelBackend, the admin form, the token endpoint) comes through here: the e-mail
        # column is encrypted, so the account is found by the blind index of the address.
        return self.get_by_email(username)

    def get_by_email(self, email: str | None) -> User:
        """The user with this address (case and surrounding spaces ignored); DoesNotExist if none."""
        return self.filter_by_email(email).get()

    def filter_by_email(self, email: str | None) -> models.QuerySet[User]:
        return by_blind_index(self.get_queryset(), "email", self.normalize_email(email))


@pi_model(
    subject="self",
    description=(
        "The account of a customer or staff member. Erasure (POPIA s24) never deletes the row (audit "
        "records and ledger entries refer to it): the e-mail is replaced by a pseudonym, names and "
        "phone are cleared, the password made unusable and the account deactivated."
    ),
    fields={
        "email": _ACCOUNT(
            Category.CONTACT,
            purposes=["account_management", "security"],
            erasure=Erasure.PSEUDONYMISE,
            sensitive=True,
            correctable="email",
            description="Login name and contact address; encrypted, found by its blind index.",
        ),
        "first_name": _ACCOUNT(
            Category.IDENTITY,
            purposes=["account_management"],
            erasure=Erasure.NULL,
            sensitive=True,
            correctable="first_name",
        ),
        "last_name": _ACCOUNT(
            Category.IDENTITY,
            purposes=["account_management"],
            erasure=Erasure.NULL,
            sensitive=True,
            correctable="last_name",
        ),
        "phone": _ACCOUNT(
            Category.CONTACT,
            purposes=["account_management", "security"],
            erasure=Erasure.NULL,
            sensitive=True,
            correctable="phone",
            description="Optional mobile number in E.164; encrypted, found by its blind index.",
        ),
    },
    not_pi=[
        "password",  # a salted hash: a secret, never exported
        "last_login",
        "is_superuser",
        "public_id",
        "is_active",
        "is_staff",
        "auth_epoch",
        "created_at",
        "updated_at",
        "groups",
        "user_permissions",
    ],
)
# django_otp ships no type information: the plugin cannot resolve the reverse manager of TOTPDevice.user.
class User(BlindIndexedModelMixin, AbstractBaseUser, PermissionsMixin):  # type: ignore[django-manager-missing]
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    email = EncryptedEmailField()
    # Uniqueness of the address lives here: every ciphertext differs, the keyed HMAC does not.
    email_index = BlindIndexField(source_field="email", normaliser="email", unique=True)
    first_name = EncryptedCharField(max_length=150, blank=True)
    last_name = EncryptedCharField(max_length=150, blank=True)
    # The surname, found exactly (case and spacing ignored) by the staff searches (the DSAR queue).
    last_name_index = BlindIndexField(source_field="last_name", normaliser="name")
    phone = EncryptedCharField(max_length=20, null=True, blank=True, help_text="E.164, e.g. +27825550100.")
    phone_index = BlindIndexField(source_field="phone", normaliser="phone")
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False, help_text="May log in to the admin (with MFA).")
    # Copied into every JWT; bumped to revoke all tokens issued before (see module docstring).
    auth_epoch = models.PositiveIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []
    # Set per request by django-otp (OTPMiddleware, the admin login form): the verified device, if any.
    otp_device: Device | None

    class Meta:
        verbose_name = "user"
        verbose_name_plural = "users"

    def __str__(self) -> str:
        # Never the e-mail: __str__ ends up in logs, admin messages and audit object labels.
        return f"User {self.public_id}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        super().save(*args, **kwargs)
        # Deactivation, erasure, a password or role flag change: no process may keep
        # authenticating this user from its snapshot (accounts/auth_snapshot.py).
        auth_snapshot.forget([self.public_id], using=kwargs.get("using") or self._state.db)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        deleted = super().delete(*args, **kwargs)
        auth_snapshot.forget([self.public_id], using=kwargs.get("using") or self._state.db)
        return deleted

    def get_full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    def get_short_name(self) -> str:
        return self.first_name


@pi_model(
    subject="user",
    description="The customer's authenticator. The shared secret is encrypted and never exported.",
    fields={"key": _MFA(sensitive=True, description="TOTP shared secret (RFC 6238).")},
    not_pi=[
        "user",
        "name",
        "confirmed",
        "throttling_failure_timestamp",
        "throttling_failure_count",
        "last_t",
        "created_at",
        "confirmed_at",
    ],
)
class TOTPDevice(ThrottlingMixin, Device):
    """An RFC 6238 authenticator (30-second steps, 6 digits), one per user.

    Subclasses django-otp's ``Device`` so ``user.is_verified()`` and the OTP admin site accept it;
    django-otp's own TOTP plugin is not used because it keeps keys in clear.
    """

    STEP = 30
    DIGITS = 6
    # One step either side absorbs clock drift and the time it takes to type the code.
    TOLERANCE = 1

    key = EncryptedCharField(max_length=128)
    # django_otp ships no type information, so the plugin does not see this class as a model and
    # cannot infer its fields' value types.
    last_t = models.BigIntegerField(default=-1, help_text="Newest time step accepted; older or equal ones are replays.")  # type: ignore[var-annotated]
    created_at = models.DateTimeField(default=timezone.now, editable=False)  # type: ignore[var-annotated]
    confirmed_at = models.DateTimeField(null=True, blank=True)  # type: ignore[var-annotated]

    class Meta:
        verbose_name = "TOTP device"
        constraints = [models.UniqueConstraint(fields=["user"], name="accounts_one_totp_device_per_user")]

    def __str__(self) -> str:
        return f"TOTP device of user {self.user_id}"

    def get_throttle_factor(self) -> int:
        return settings.OTP_TOTP_THROTTLE_FACTOR

    def _totp(self) -> TOTP:
        return TOTP(base64.b32decode(self.key), step=self.STEP, digits=self.DIGITS)

    def current_code(self, at: float | None = None) -> str:
        """The code an authenticator shows at ``at`` (for tests and demo output only)."""
        totp = self._totp()
        totp.time = at if at is not None else time.time()
        return f"{totp.token():0{self.DIGITS}d}"

    def verify_token(self, token: str) -> bool:
        """Accept ``token`` once. The caller must hold this row locked (SELECT … FOR UPDATE)."""
        allowed, _ = self.verify_is_allowed()
        if not allowed:
            return False
        token = (token or "").strip()
        if not (token.isdigit() and len(token) == self.DIGITS):
            self.throttle_increment(commit=True)
            return False
        totp = self._totp()
        totp.time = time.time()
        now_t = totp.t()
        for t in range(now_t - self.TOLERANCE, now_t + self.TOLERANCE + 1):
            if t <= self.last_t:
                continue
            totp.drift = t - now_t
            if hmac.compare_digest(f"{totp.token():0{self.DIGITS}d}", token):
                self.last_t = t
                self.throttling_failure_timestamp = None
                self.throttling_failure_count = 0
                self.save(update_fields=["last_t", "throttling_failure_timestamp", "throttling_failure_count"])
                return True
        self.throttle_increment(commit=False)
        self.save(update_fields=["throttling_failure_timestamp", "throttling_failure_count"])
        return False


def backup_code_digest(code: str) -> str:
    """Keyed hash of a backup code: the codes are random (50 bits), so HMAC-SHA256 suffices and
    allows the lookup that makes consumption one atomic UPDATE."""
    normalised = "".join(code.split()).replace("-", "").upper()
    key = sha256(b"accounts.backup-code|" + settings.SECRET_KEY.encode()).digest()
    return hmac.new(key, normalised.encode(), sha256).hexdigest()


@pi_model(
    subject="user",
    description="One-time recovery codes, kept only as keyed hashes; deleted with the account's MFA.",
    fields={"digest": _MFA(description="Keyed hash of a one-time recovery code.")},
    not_pi=["user", "created_at", "used_at"],
)
class BackupCode(models.Model):
    """A one-time recovery code, stored only as its keyed hash."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="backup_codes")
    digest = models.CharField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "digest"], name="accounts_backup_code_unique")]

    def __str__(self) -> str:
        return f"Backup code {self.pk}"

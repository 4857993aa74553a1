"""Every write of the accounts app: registration, staff creation, roles, login, tokens, MFA,
passwords, profile. Each function takes the acting user (or the request, for anonymous steps)
and records its audit event through ``compliance.audit.audit_record`` in the same transaction.

Invariants:
- Failure paths (wrong password, wrong code, replayed or revoked token) commit their audit event
  and counters *before* raising, so a rollback never erases the evidence of an attack.
- Revocation bumps ``User.auth_epoch`` (kills access tokens at once) and blacklists every
  outstanding refresh token of the user (kills refresh tokens).
- A refresh token is exchanged at most once: its blacklist row is created under a row lock on
  the outstanding token, and a second exchange finds the row and is refused.
- Nothing here ever puts an e-mail address, password, code or token into an audit diff.
"""

from __future__ import annotations

import base64
import secrets
import time
from collections.abc import Iterable, Mapping
from typing import Any, cast
from urllib.parse import quote, urlencode

from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.models import Group, Permission
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.core.validators import EmailValidator
from django.db import IntegrityError, transaction
from django.db.models import F
from django.http import HttpRequest
from django.utils import timezone
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

from accounts import roles
from accounts.lockout import (
    LOCKED_MESSAGE,
    SLOW_DOWN_MESSAGE,
    AddressBackoff,
    is_locked_out,
    lockout_key,
    record_failed_attempt,
)
from accounts.models import BackupCode, TOTPDevice, User, backup_code_digest
from accounts.phone import phone_to_e164
from accounts.tokens import (
    EPOCH_CLAIM,
    SESSION_CLAIM,
    SESSION_MARKER,
    revoke_access,
    revoke_session,
    token_pair_for,
)
from compliance.audit.services import ActorType, AuditAction, audit_record, build_change_diff
from kernel.access import require_not_own, require_permission
from kernel.errors import DomainError
from kernel.permissions import MFA_CLAIM
from kernel.request_context import client_ip
from kernel.tasks import enqueue_on_commit
from kernel.types import Actor

BACKUP_CODE_COUNT = 10
USER_OBJECT = "accounts.User"


class AuthError(DomainError):
    """A refused authentication step; ``code`` is the API error code, ``status`` the HTTP status
    (401, 403 for a missing re-authentication, 429 for a lock or back-off with ``retry_after``,
    which the API sends as Retry-After)."""

    def __init__(self, code: str, message: str, status: int = 401, retry_after: int | None = None) -> None:
        super().__init__(message, code=code, status_code=status, retry_after=retry_after)
        self.status = status


class ConflictError(DomainError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message, code=code, status_code=409)


INVALID_CREDENTIALS = "The e-mail address, password or one-time code is not correct."


# --- helpers ---------------------------------------------------------------------------------


def _audit(action: str, *, actor: User | None = None, request: HttpRequest | None = None, **diff: Any) -> None:
    audit_record(
        action=action,
        actor=actor,
        actor_type=None if actor is not None else ActorType.ANONYMOUS,
        object_type=USER_OBJECT if actor is not None else "",
        object_id=str(actor.public_id) if actor is not None else "",
        change_diff=diff or None,
        request=request,
    )


def _password_errors(password: str, user: User, field: str) -> None:
    try:
        validate_password(password, user=user)
    except ValidationError as exc:
        raise ValidationError({field: exc.messages}) from exc


def _revoke_all_tokens(user: User) -> None:
    """Make every token of ``user`` unusable: access tokens via the epoch, refresh via blacklist."""
    User.objects.filter(pk=user.pk).update(auth_epoch=F("auth_epoch") + 1)
    user.refresh_from_db(fields=["auth_epoch"])
    outstanding = OutstandingToken.objects.filter(user=user, blacklistedtoken__isnull=True)
    BlacklistedToken.objects.bulk_create(
        [BlacklistedToken(token=token) for token in outstanding], ignore_conflicts=True
    )


def _user_by_public_id(public_id: Any) -> User | None:
    try:
        return User.objects.filter(public_id=public_id).first()
    except (ValidationError, ValueError):
        return None


# --- roles -----------------------------------------------------------------------------------


class RoleConfigurationError(Exception):
    """A role names a permission the database does not hold: the declaration or a migration is wrong."""


def roles_sync(*, actor: User | None = None) -> dict[str, int]:
    """Create the role groups and set each one's permissions to exactly the declared set.

    Idempotent. A declared permission missing from the database is refused, never skipped (a
    role silently losing a permission is how the KYC queue became unreachable): nothing changes
    and ``RoleConfigurationError`` names the missing ones. Returns the number of permissions each
    group now holds.
    """
    wanted_by_role = {role: set(wanted) for role, wanted in roles.ROLE_PERMISSIONS.items()}
    everything = set().union(*wanted_by_role.values())
    existing = {
        f"{app_label}.{codename}": pk
        for pk, app_label, codename in Permission.objects.filter(
            codename__in={dotted.split(".", 1)[-1] for dotted in everything}
        ).values_list("pk", "content_type__app_label", "codename")
    }
    missing = sorted(everything - set(existing))
    if missing:
        raise RoleConfigurationError(f"Roles name permissions that do not exist: {', '.join(missing)}.")
    counts: dict[str, int] = {}
    with transaction.atomic():
        for role, wanted in wanted_by_role.items():
            group, _ = Group.objects.get_or_create(name=role)
            permission_ids = {existing[dotted] for dotted in wanted}
            current = set(group.permissions.values_list("pk", flat=True))
            if current != permission_ids:
                group.permissions.set(permission_ids)
                audit_record(
                    action=AuditAction.ROLE_CHANGED,
                    actor=actor,
                    object_type="auth.Group",
                    object_id=role,
                    change_diff={"added": len(permission_ids - current), "removed": len(current - permission_ids)},
                )
            counts[role] = len(permission_ids)
    return counts


def user_roles_set(*, actor: User, user: User, role_names: list[str]) -> None:
    """Give ``user`` exactly these roles; a change revokes their tokens (privileges changed).

    Segregation of duties (issue 15): nobody changes their own roles; another administrator does."""
    unknown = set(role_names) - set(roles.ALL_ROLES)
    if unknown:
        raise ValidationError({"groups": ["Unknown role."]})
    with transaction.atomic():
        before = sorted(user.groups.values_list("name", flat=True))
        if before == sorted(role_names):
            return
        require_not_own(actor, user.pk, "change the roles")
        user.groups.set(Group.objects.filter(name__in=role_names))
        _revoke_all_tokens(user)
        audit_record(
            action=AuditAction.ROLE_CHANGED,
            actor=actor,
            object_type=USER_OBJECT,
            object_id=str(user.public_id),
            change_diff={"before": before, "after": sorted(role_names)},
        )


# --- registration and staff ------------------------------------------------------------------


def customer_register(
    *,
    email: str,
    password: str,
    first_name: str = "",
    last_name: str = "",
    consents: Iterable[Mapping[str, Any]] = (),
    request: HttpRequest | None = None,
) -> User:
    """Self-registration of a customer (role ``customer``; never staff), with their consent choices.

    ``consents`` are the choices the customer actively made (``[{purpose, granted,
    notice_version}]``); nothing is pre-ticked, so purposes not listed are simply not granted.
    They are recorded in the transaction that creates the user: a refused choice (e.g. a stale
    notice version) raises ``compliance.consent.services.ConsentError`` and no user is created.

    Registration does not reveal whether an address has an account: for a taken address the
    same work is done (password rules, hashing, the insert the unique index refuses, the consent
    checks) and an *unsaved* look-alike user is returned (``pk`` is None), so the caller answers
    exactly as for a new account; the address's owner is told by e-mail instead.
    """
    from compliance.consent.services import consent_choices_validate, consent_record_choices

    candidate = User(email=User.objects.normalize_email(email), first_name=first_name, last_name=last_name)
    _password_errors(password, candidate, "password")
    try:
        with transaction.atomic():
            user = User.objects.create_user(email=email, password=password, first_name=first_name, last_name=last_name)
            user.groups.add(Group.objects.get_or_create(name=roles.CUSTOMER)[0])
            _audit(AuditAction.REGISTER, actor=user, request=request, role=roles.CUSTOMER)
            consent_record_choices(subject=user, choices=list(consents), channel="api", request=request)
    except IntegrityError:
        # The unique blind index of the address decides (no check-then-act).
        consent_choices_validate(list(consents))
        return _registration_taken(candidate=candidate, request=request)
    return user


def _registration_taken(*, candidate: User, request: HttpRequest | None) -> User:
    owner = User.objects.filter_by_email(candidate.email).first()
    with transaction.atomic():
        audit_record(
            action=AuditAction.REGISTER_DUPLICATE,
            actor=None,
            actor_type=ActorType.ANONYMOUS,
            object_type=USER_OBJECT,
            object_id=str(owner.public_id) if owner is not None else "",
            request=request,
        )
        if owner is not None and owner.is_active:
            security_notice_send(user=owner, kind="registration_attempt")
    # What a new account would look like; never saved (pk stays None).
    candidate.created_at = timezone.now()
    return candidate


def staff_user_create(
    *,
    actor: User | None,
    email: str,
    password: str | None,
    role: str,
    first_name: str = "",
    last_name: str = "",
    is_superuser: bool = False,
) -> User:
    """Create a staff account. Only admins (or the system, for demo data) may; never the API."""
    if actor is not None and not (actor.is_superuser or actor.has_perm("accounts.add_user")):
        raise PermissionDenied("Only administrators create staff accounts.")
    if not roles.is_staff_role(role):
        raise ValidationError({"role": ["Choose a staff role."]})
    if is_superuser and actor is not None and not actor.is_superuser:
        raise PermissionDenied("Only superusers create superusers.")
    candidate = User(email=User.objects.normalize_email(email), first_name=first_name, last_name=last_name)
    if password is not None:
        _password_errors(password, candidate, "password")
    try:
        with transaction.atomic():
            user = User.objects.create_user(
                email=email,
                password=password,
                first_name=first_name,
                last_name=last_name,
                is_staff=True,
                is_superuser=is_superuser,
            )
            user.groups.add(Group.objects.get_or_create(name=role)[0])
            audit_record(
                action=AuditAction.USER_CREATED,
                actor=actor,
                object_type=USER_OBJECT,
                object_id=str(user.public_id),
                change_diff={"role": role, "is_staff": True, "is_superuser": is_superuser},
            )
    except IntegrityError as exc:
        raise ValidationError({"email": ["A user with this e-mail address already exists."]}) from exc
    return user


def user_admin_update(*, actor: User, user: User, changed_fields: list[str]) -> None:
    """Persist an admin edit of ``user`` (already applied to the instance) and audit it.

    Deactivation and loss of staff status revoke every token of the user.
    """
    safe = [name for name in changed_fields if name not in {"password"}]
    with transaction.atomic():
        user.save()
        if {"is_active", "is_staff", "is_superuser"} & set(changed_fields):
            _revoke_all_tokens(user)
        action = AuditAction.USER_DEACTIVATED if "is_active" in changed_fields and not user.is_active else None
        audit_record(
            action=action or AuditAction.PROFILE_UPDATED,
            actor=actor,
            object_type=USER_OBJECT,
            object_id=str(user.public_id),
            change_diff={"changed": sorted(safe)},
        )


def user_deactivate(*, actor: User | None, user: User) -> None:
    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(is_active=False)
        user.is_active = False
        _revoke_all_tokens(user)
        audit_record(
            action=AuditAction.USER_DEACTIVATED, actor=actor, object_type=USER_OBJECT, object_id=str(user.public_id)
        )


def user_profile_update(
    *, actor: User, first_name: str | None = None, last_name: str | None = None, phone: str | None = None
) -> User:
    """A user edits their own names and phone number. Nothing else of the account is writable this way.

    ``None`` leaves a field as it is; ``phone=""`` removes the number. A phone number is stored in
    E.164 (``accounts.phone``); an invalid one raises ValidationError without echoing it.
    """
    return _profile_change(actor=actor, user=actor, first_name=first_name, last_name=last_name, phone=phone)


def user_profile_correct(
    *,
    actor: User,
    user: User,
    reference: str,
    first_name: str | None = None,
    last_name: str | None = None,
    phone: str | None = None,
) -> User:
    """The information officer applies a verified correction (POPIA s24) to a subject's profile.

    Same rules as the subject's own edit; the audit record names the officer as actor, the subject
    as object, the DSAR as reference, and carries the before/after with every PI value masked.
    """
    if not actor.has_perm("compliance.process_dsar"):
        raise PermissionDenied("Only an information officer may correct a subject's profile.")
    require_not_own(actor, user.pk, "apply a correction")
    return _profile_change(
        actor=actor, user=user, first_name=first_name, last_name=last_name, phone=phone, reference=reference
    )


def user_email_correct(*, actor: User, user: User, email: str, reference: str) -> User:
    """The information officer applies a verified correction of the login e-mail (POPIA s24).

    Re-verification: every session and token of the account is revoked, and a password-reset link
    goes to the *new* address (whoever logs in next proves they read it); the old address is told
    that the login address changed. The audit record masks both addresses."""
    if not actor.has_perm("compliance.process_dsar"):
        raise PermissionDenied("Only an information officer may correct a subject's e-mail address.")
    require_not_own(actor, user.pk, "apply a correction")
    new = User.objects.normalize_email(email)
    EmailValidator(message="Enter a valid e-mail address.")(new)
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        old = str(user.email)
        if old == new:
            return user
        if User.objects.filter_by_email(new).exclude(pk=user.pk).exists():
            raise ValidationError({"email": ["This address belongs to another account."]})
        user.email = new  # the blind index follows its source (BlindIndexedModelMixin)
        user.save(update_fields=["email", "updated_at"])
        _revoke_all_tokens(user)  # every session and token of the account stops working
        audit_record(
            action=AuditAction.PROFILE_UPDATED,
            actor=actor,
            object_type=USER_OBJECT,
            object_id=str(user.public_id),
            change_diff={
                **build_change_diff(model=User, before={"email": old}, after={"email": new}, subject=user),
                "changed": ["email"],
                "correction_request": reference,
                "reverification": "password reset link sent to the new address",
            },
        )
        transaction.on_commit(
            lambda: send_mail(
                subject="The login e-mail of your account was changed",
                message=(
                    "At your request (a correction of your personal information) the e-mail address you log in "
                    "with was changed to a new address. This address will no longer receive messages about "
                    "the account. If you did not ask for this, contact our Information Officer at once."
                ),
                from_email=None,
                recipient_list=[old],
            )
        )
        enqueue_on_commit("accounts.tasks.send_password_reset_email", str(user.public_id))
    return user


def _profile_change(
    *,
    actor: User,
    user: User,
    first_name: str | None,
    last_name: str | None,
    phone: str | None,
    reference: str = "",
) -> User:
    new_phone: str | None = None
    if phone is not None:
        try:
            new_phone = phone_to_e164(phone) if phone.strip() else None
        except ValidationError as exc:
            raise ValidationError({"phone": exc.messages}) from exc
    changed = []
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user.pk)
        before = {"first_name": user.first_name, "last_name": user.last_name, "phone": user.phone}
        for field, value in (("first_name", first_name), ("last_name", last_name)):
            if value is not None and getattr(user, field) != value:
                setattr(user, field, value)
                changed.append(field)
        if phone is not None and user.phone != new_phone:
            user.phone = new_phone
            changed.append("phone")
        if changed:
            # The blind indexes of the surname and phone follow their sources (BlindIndexedModelMixin).
            user.save(update_fields=[*changed, "updated_at"])
            if not reference:
                # Names and phone are PI: the diff says which fields changed, never their values.
                _audit(AuditAction.PROFILE_UPDATED, actor=user, changed=changed)
            else:
                after = {"first_name": user.first_name, "last_name": user.last_name, "phone": user.phone}
                audit_record(
                    action=AuditAction.PROFILE_UPDATED,
                    actor=actor,
                    object_type=USER_OBJECT,
                    object_id=str(user.public_id),
                    change_diff={
                        **build_change_diff(model=User, before=before, after=after, subject=user),
                        "changed": changed,
                        "correction_request": reference,
                    },
                )
    return user


def profile_access_record(*, actor: User, request: HttpRequest | None = None) -> None:
    """A subject read their own profile (PI_ACCESS: "log all data access")."""
    with transaction.atomic():
        _audit(AuditAction.PI_ACCESS, actor=actor, request=request, view="me")


# --- login, MFA, tokens ----------------------------------------------------------------------


def confirmed_device(user: User) -> TOTPDevice | None:
    device: TOTPDevice | None = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    return device


def mfa_verify(*, user: User, code: str, request: HttpRequest | None, channel: str) -> TOTPDevice | None:
    """Check a TOTP code or a backup code for ``user``; return the device on success.

    The device row is locked for the check, so two requests with the same code cannot both win;
    a backup code is consumed by one conditional UPDATE. Commits before returning either way.
    """
    code = (code or "").strip()
    with transaction.atomic():
        device = TOTPDevice.objects.select_for_update().filter(user=user, confirmed=True).first()
        if device is None:
            return None
        allowed, _ = device.verify_is_allowed()
        method = "totp" if code.isdigit() and len(code) == TOTPDevice.DIGITS else "backup_code"
        if not allowed:
            ok = False
        elif method == "totp":
            ok = device.verify_token(code)
        else:
            ok = (
                BackupCode.objects.filter(user=user, digest=backup_code_digest(code), used_at__isnull=True).update(
                    used_at=timezone.now()
                )
                == 1
            )
            if not ok:
                device.throttle_increment(commit=True)
        _audit(
            AuditAction.MFA_VERIFIED if ok else AuditAction.MFA_FAILED,
            actor=user,
            request=request,
            channel=channel,
            method=method,
            **({} if allowed else {"reason": "throttled"}),
        )
    return device if ok else None


def login_failure_record(
    *, request: HttpRequest, channel: str, reason: str, user: User | None = None, email: str | None = None
) -> None:
    """Audit a failed login, feed the per-address back-off, and when this failure reached a lock
    limit audit the lockout and tell the account holder (e-mail after commit, accounts/tasks.py)."""
    AddressBackoff.record_failure(client_ip(request))
    with transaction.atomic():
        _audit(AuditAction.LOGIN_FAILED, actor=user, request=request, channel=channel, reason=reason)
        if is_locked_out(request):
            holder = user if user is not None else _active_user_by_email(email)
            _audit(AuditAction.LOCKOUT, actor=holder, request=request, channel=channel)
            if holder is not None:
                security_notice_send(user=holder, kind="account_locked")


def _active_user_by_email(email: str | None) -> User | None:
    if not email:
        return None
    return User.objects.filter_by_email(email).filter(is_active=True).first()


def login_locked_check(*, request: HttpRequest, email: str, channel: str) -> AuthError | None:
    """The refusal (audited; a lock is also flagged for the axes middleware) when this attempt may
    not even be checked: the address is in its back-off delay, or the account (or this address's
    pair with it) is locked. ``None``: go ahead.

    Checked before the password so an attempt during a lockout is refused without touching the
    password and without auditing the lockout again.
    """
    from axes.handlers.proxy import AxesProxyHandler

    wait = AddressBackoff.wait_seconds(client_ip(request))
    if wait:
        with transaction.atomic():
            _audit(AuditAction.LOGIN_FAILED, request=request, channel=channel, reason="address_backoff")
        return AuthError("too_many_attempts", SLOW_DOWN_MESSAGE, 429, retry_after=wait)
    if not AxesProxyHandler.is_locked(request, {"username": email}):
        return None
    with transaction.atomic():
        _audit(AuditAction.LOGIN_FAILED, request=request, channel=channel, reason="locked")
    request.axes_locked_out = True  # type: ignore[attr-defined]  # django-axes reads this flag
    return AuthError("account_locked", LOCKED_MESSAGE, 429)


def login_success_record(*, user: User, request: HttpRequest, channel: str, mfa: bool) -> None:
    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(last_login=timezone.now())
        _audit(AuditAction.LOGIN, actor=user, request=request, channel=channel, mfa=mfa)


def token_obtain(*, request: HttpRequest, email: str, password: str, otp: str = "") -> dict[str, str]:
    """API login: password, then (when enrolled, and always for staff) a one-time code.

    Every refusal counts towards the account lockout, including a wrong one-time code.
    """
    from axes.handlers.proxy import AxesProxyHandler

    refusal = login_locked_check(request=request, email=email, channel="api")
    if refusal is not None:
        raise refusal
    user = authenticate(request, username=email, password=password)
    if user is None:
        login_failure_record(request=request, channel="api", reason="invalid_credentials", email=email)
        if is_locked_out(request):
            raise AuthError("account_locked", LOCKED_MESSAGE, 429)
        raise AuthError("invalid_credentials", INVALID_CREDENTIALS)
    device = confirmed_device(user)
    mfa_at: int | None = None
    if device is not None or user.is_staff:
        if not otp:
            raise AuthError("mfa_required", "Enter the one-time code from your authenticator app (field 'otp').")
        if device is None or mfa_verify(user=user, code=otp, request=request, channel="api") is None:
            record_failed_attempt(request, email)
            login_failure_record(request=request, channel="api", reason="invalid_otp", user=user)
            if is_locked_out(request):
                raise AuthError("account_locked", LOCKED_MESSAGE, 429)
            raise AuthError("invalid_credentials", INVALID_CREDENTIALS)
        mfa_at = int(timezone.now().timestamp())
    with transaction.atomic():
        login_success_record(user=user, request=request, channel="api", mfa=mfa_at is not None)
        tokens = token_pair_for(user, mfa_at=mfa_at)
    # A complete login (password and, where required, a code) clears this address's failures
    # against the account; failures from other addresses still count towards the account-wide
    # lock (they may be an attack in progress).
    AxesProxyHandler.reset_attempts(username=lockout_key(email), ip_address=client_ip(request) or "")
    return tokens


def token_refresh(*, request: HttpRequest, raw_refresh: str) -> dict[str, str]:
    """Exchange a refresh token once for a new pair of the same session (rotation; the old one is
    blacklisted). Presenting an already-exchanged refresh token again means that two parties hold
    the session (one of them stole it): the whole session is revoked, its refresh tokens and its
    access tokens, and the reuse is audited. A client that loses a race with itself (two exchanges
    of one token at once) is logged out too: the price of detecting theft."""
    invalid = AuthError("token_not_valid", "The refresh token is not valid or has been used.")
    try:
        refresh = _RefreshForRotation(raw_refresh)  # type: ignore[arg-type]  # the stubs omit str
    except TokenError as exc:
        raise invalid from exc
    user = _user_by_public_id(refresh.get(jwt_settings.USER_ID_CLAIM))
    if user is None or not user.is_active or refresh.get(EPOCH_CLAIM) != user.auth_epoch:
        raise invalid
    with transaction.atomic():
        outstanding = (
            OutstandingToken.objects.select_for_update().filter(jti=refresh[jwt_settings.JTI_CLAIM], user=user).first()
        )
        if outstanding is None:
            raise invalid
        _, created = BlacklistedToken.objects.get_or_create(token=outstanding)
        if created:
            tokens = token_pair_for(user, mfa_at=refresh.get(MFA_CLAIM), sid=refresh.get(SESSION_CLAIM))
            _audit(AuditAction.TOKEN_REFRESH, actor=user, request=request)
    if not created:
        sid = refresh.get(SESSION_CLAIM)
        with transaction.atomic():
            revoked = session_tokens_revoke(user=user, sid=sid)
            _audit(AuditAction.TOKEN_REUSE_DETECTED, actor=user, request=request, refresh_tokens_revoked=revoked)
        raise invalid
    return tokens


class _RefreshForRotation(RefreshToken):
    """A refresh token checked for signature, expiry and type, but not against the blacklist:
    ``token_refresh`` consults the blacklist itself, because a blacklisted token presented again is
    the reuse signal (simplejwt would only say "invalid")."""

    def check_blacklist(self) -> None:
        return None


def session_tokens_revoke(*, user: User, sid: str | None) -> int:
    """Blacklist every outstanding refresh token of the login session ``sid`` and, after commit,
    deny its access tokens until they expire. Returns how many refresh tokens were revoked."""
    if not sid:
        return 0
    family = OutstandingToken.objects.filter(
        user=user, token=SESSION_MARKER.format(sid=sid), blacklistedtoken__isnull=True
    )
    revoked = BlacklistedToken.objects.bulk_create(
        [BlacklistedToken(token=token) for token in family], ignore_conflicts=True
    )
    transaction.on_commit(lambda: revoke_session(sid))
    return len(revoked)


def logout(*, actor: User, raw_refresh: str, access: Any = None, request: HttpRequest | None = None) -> None:
    """End the caller's login session: its refresh tokens are blacklisted and, once that commits,
    every access token of the session (the one called with, and those minted earlier by refreshes)
    is refused through the deny list keyed by session (``accounts.tokens.revoke_session``).
    Other sessions of the same user are untouched."""
    invalid = ValidationError({"refresh": ["The refresh token is not valid."]})
    try:
        refresh = RefreshToken(raw_refresh)  # type: ignore[arg-type]  # the stubs omit str
    except TokenError as exc:
        raise invalid from exc
    if refresh.get(jwt_settings.USER_ID_CLAIM) != str(actor.public_id):
        raise invalid
    with transaction.atomic():
        outstanding = OutstandingToken.objects.filter(jti=refresh[jwt_settings.JTI_CLAIM], user=actor).first()
        if outstanding is None:
            raise invalid
        BlacklistedToken.objects.get_or_create(token=outstanding)
        session_tokens_revoke(user=actor, sid=refresh.get(SESSION_CLAIM))
        _audit(AuditAction.LOGOUT, actor=actor, request=request, channel="api")
        if access is not None:
            transaction.on_commit(lambda: revoke_access(access))


def session_expire(*, request: HttpRequest) -> None:
    """An admin session ended by the idle timeout."""
    user = getattr(request, "user", None)
    with transaction.atomic():
        _audit(
            AuditAction.LOGOUT,
            actor=user if user is not None and user.is_authenticated else None,
            request=request,
            channel="admin",
            reason="idle_timeout",
        )


def admin_logout_record(*, actor: User, request: HttpRequest) -> None:
    with transaction.atomic():
        _audit(AuditAction.LOGOUT, actor=actor, request=request, channel="admin")


def permission_denied_record(
    *, actor: Actor | None, request: HttpRequest, view: str, code: str = "permission_denied"
) -> None:
    """The PERMISSION_DENIED record of one refused API call or admin view (kernel.access calls it):
    who (the actor), what they were refused (the view, by name: never the path, which carries ids),
    how (the method) and why (the error code)."""
    identified = actor is not None and actor.is_authenticated
    with transaction.atomic():
        audit_record(
            action=AuditAction.PERMISSION_DENIED,
            actor=actor if identified else None,
            actor_type=None if identified else ActorType.ANONYMOUS,
            object_type="view",
            object_id=view,
            change_diff={"method": request.method, "code": code},
            request=request,
        )


# --- MFA enrolment ---------------------------------------------------------------------------


def otpauth_uri(device: TOTPDevice) -> str:
    issuer = settings.OTP_TOTP_ISSUER
    label = quote(f"{issuer}:{device.user.email}")
    query = urlencode(
        {"secret": device.key, "issuer": issuer, "algorithm": "SHA1", "digits": device.DIGITS, "period": device.STEP}
    )
    return f"otpauth://totp/{label}?{query}"


# A bare access token is not enough to change the second factor: whoever holds one (stolen from a
# browser, a log, a proxy) could otherwise enrol their own authenticator and lock the owner out.
# Enrolment needs a fresh proof of the password, remembered for MFA_ENROL_REAUTH_SECONDS; removal
# (the first step of replacing a factor) needs the password and a code of the existing factor.
_ENROL_PROOF = "mfa-enrol-proof:{user}"
REAUTH_REQUIRED = "Enter your password to set up an authenticator (field 'password')."


def _wrong_password(*, request: HttpRequest | None, user: User, channel: str, field: str = "password") -> None:
    """A failed re-authentication counts towards the lockout like a failed login, then refuses."""
    if request is not None:
        record_failed_attempt(request, user.email)
        login_failure_record(request=request, channel=channel, reason="invalid_credentials", user=user)
    raise ValidationError({field: ["The password is not correct."]})


def mfa_enrol_proof_record(*, actor: User, request: HttpRequest | None = None, password: str | None = None) -> None:
    """Remember that ``actor`` proved their password just now (the API's ``password`` field, or a
    password-only admin login when ``password`` is None), for MFA_ENROL_REAUTH_SECONDS."""
    from django.core.cache import cache

    if password is not None and not actor.check_password(password):
        _wrong_password(request=request, user=actor, channel="mfa_enrol")
    cache.set(_ENROL_PROOF.format(user=actor.public_id), time.time(), timeout=settings.MFA_ENROL_REAUTH_SECONDS + 5)


def _enrol_proof_fresh(user: User) -> bool:
    from django.core.cache import cache

    proved_at = cache.get(_ENROL_PROOF.format(user=user.public_id))
    return proved_at is not None and time.time() - float(proved_at) <= settings.MFA_ENROL_REAUTH_SECONDS


def _enrol_proof_forget(user: User) -> None:
    from django.core.cache import cache

    cache.delete(_ENROL_PROOF.format(user=user.public_id))


def totp_enrol_start(
    *, actor: User, password: str | None = None, request: HttpRequest | None = None, reuse_pending: bool = False
) -> TOTPDevice:
    """Create (or re-key) the user's pending TOTP device. Refused once a device is confirmed, and
    without a fresh proof of the password (``password`` here, or one recorded minutes ago)."""
    if password is not None:
        mfa_enrol_proof_record(actor=actor, request=request, password=password)
    if not _enrol_proof_fresh(actor):
        raise AuthError("reauthentication_required", REAUTH_REQUIRED, 403)
    with transaction.atomic():
        device, created = TOTPDevice.objects.select_for_update().get_or_create(
            user=actor,
            defaults={"name": "Authenticator", "confirmed": False, "key": _new_totp_key()},
        )
        if device.confirmed:
            raise ConflictError("mfa_already_enrolled", "An authenticator is already enrolled for this account.")
        if not created and not reuse_pending:
            device.key = _new_totp_key()
            device.last_t = -1
            device.save(update_fields=["key", "last_t"])
        _audit(AuditAction.MFA_ENROLL_STARTED, actor=actor, request=request)
    return cast(TOTPDevice, device)


def _new_totp_key() -> str:
    return base64.b32encode(secrets.token_bytes(20)).decode("ascii")


def totp_enrol_confirm(
    *, actor: User, code: str, request: HttpRequest | None = None, issue_tokens: bool = True
) -> tuple[TOTPDevice, list[str], dict[str, str]]:
    """Activate the pending device with a first valid code; return it, fresh one-time backup
    codes, and a token pair whose ``mfa_at`` records this check (password proved minutes ago, and
    the code proved the factor).

    Every token minted before the enrolment is revoked (``auth_epoch`` bump, refresh tokens
    blacklisted), so no earlier session can ever be refreshed or stepped up into an MFA-stamped
    one; the owner is told by e-mail after commit.
    """
    if not _enrol_proof_fresh(actor):
        raise AuthError("reauthentication_required", REAUTH_REQUIRED, 403)
    with transaction.atomic():
        device = TOTPDevice.objects.select_for_update().filter(user=actor).first()
        if device is None:
            raise ConflictError("mfa_not_started", "Start the enrolment first.")
        if device.confirmed:
            raise ConflictError("mfa_already_enrolled", "An authenticator is already enrolled for this account.")
        ok = device.verify_token(code)
        codes: list[str] = []
        tokens: dict[str, str] = {}
        if ok:
            device.confirmed = True
            device.confirmed_at = timezone.now()
            device.save(update_fields=["confirmed", "confirmed_at"])
            codes = _backup_codes_regenerate(actor)
            _revoke_all_tokens(actor)
            _audit(AuditAction.MFA_ENROLLED, actor=actor, request=request, backup_codes=len(codes))
            security_notice_send(user=actor, kind="mfa_enrolled")
            transaction.on_commit(lambda: _enrol_proof_forget(actor))
            if issue_tokens:
                tokens = token_pair_for(actor, mfa_at=int(timezone.now().timestamp()))
        else:
            _audit(AuditAction.MFA_FAILED, actor=actor, request=request, channel="enrolment", method="totp")
    if not ok:
        raise ValidationError({"otp": ["The code is not correct. Check the time on your device and try again."]})
    return device, codes, tokens


def totp_remove(*, actor: User, password: str, code: str, request: HttpRequest | None = None) -> None:
    """Remove the confirmed authenticator (the first step of replacing it): needs the password and
    a code of that authenticator (or a backup code). Revokes every token of the user (the MFA
    stamp of existing sessions no longer stands for a factor) and tells the owner by e-mail."""
    if not actor.check_password(password):
        _wrong_password(request=request, user=actor, channel="mfa_remove")
    if confirmed_device(actor) is None:
        raise ConflictError("mfa_not_enrolled", "No authenticator is enrolled for this account.")
    if mfa_verify(user=actor, code=code, request=request, channel="mfa_remove") is None:
        if request is not None:
            record_failed_attempt(request, actor.email)
            login_failure_record(request=request, channel="mfa_remove", reason="invalid_otp", user=actor)
        raise ValidationError({"otp": ["The code is not correct."]})
    with transaction.atomic():
        _factors_remove(actor)
        _audit(AuditAction.MFA_REMOVED, actor=actor, request=request)
        security_notice_send(user=actor, kind="mfa_removed")


def totp_reset_by_admin(*, actor: User, device: TOTPDevice) -> None:
    """An administrator removes a user's authenticator so they can enrol again (a lost phone).

    Like the owner's own removal: the backup codes go too, every token of the user is revoked
    (no session keeps an MFA stamp for a factor that is gone), the owner is e-mailed and
    MFA_REMOVED is audited (the administrator as actor, the user as object). Segregation of
    duties: never one's own authenticator (that would downgrade one's own second factor)."""
    require_permission(actor, "accounts.delete_totpdevice")
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=device.user_id)
        require_not_own(actor, user.pk, "remove the authenticator")
        _factors_remove(user)
        _by_admin_recorded(AuditAction.MFA_REMOVED, actor=actor, user=user)
        security_notice_send(user=user, kind="mfa_removed")


def _factors_remove(user: User) -> None:
    """The user's authenticator and backup codes gone, every token revoked (no session keeps an
    MFA stamp for a factor that is gone)."""
    TOTPDevice.objects.filter(user=user).delete()
    BackupCode.objects.filter(user=user).delete()
    _revoke_all_tokens(user)


def _by_admin_recorded(action: str, *, actor: User, user: User) -> None:
    """An administrator's change to ``user`` in the admin: ``action`` audited with the
    administrator as actor and the user as object (``{"by": "admin"}``)."""
    audit_record(
        action=action, actor=actor, object_type=USER_OBJECT, object_id=str(user.public_id), change_diff={"by": "admin"}
    )


def security_notice_send(*, user: User, kind: str) -> None:
    """Queue a security notice e-mail to ``user`` once the current transaction commits (the task
    takes the user's id and the kind only; accounts/tasks.py holds the texts)."""
    from accounts.notices import SECURITY_NOTICES

    if kind not in SECURITY_NOTICES:
        raise ValueError(f"Unknown security notice {kind!r}.")
    enqueue_on_commit("accounts.tasks.send_security_notice", str(user.public_id), kind)


def _backup_codes_regenerate(user: User) -> list[str]:
    alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # pragma: allowlist secret
    codes = []
    for _ in range(BACKUP_CODE_COUNT):
        raw = "".join(secrets.choice(alphabet) for _ in range(10))
        codes.append(f"{raw[:5]}-{raw[5:]}")
    BackupCode.objects.filter(user=user).delete()
    BackupCode.objects.bulk_create([BackupCode(user=user, digest=backup_code_digest(code)) for code in codes])
    return codes


# --- passwords -------------------------------------------------------------------------------


def password_change(
    *, actor: User, current_password: str, new_password: str, request: HttpRequest, mfa_at: int | None
) -> dict[str, str]:
    """Change the password and revoke every other token; return a new pair for this client."""
    if not actor.check_password(current_password):
        # A stolen access token must not become a password-guessing oracle.
        record_failed_attempt(request, actor.email)
        login_failure_record(request=request, channel="password_change", reason="invalid_credentials", user=actor)
        raise ValidationError({"current_password": ["The current password is not correct."]})
    _password_errors(new_password, actor, "new_password")
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=actor.pk)
        user.set_password(new_password)
        user.save(update_fields=["password", "updated_at"])
        _revoke_all_tokens(user)
        _audit(AuditAction.PASSWORD_CHANGED, actor=user, request=request)
        return token_pair_for(user, mfa_at=mfa_at)


def password_set_by_admin_record(*, actor: User, user: User) -> None:
    """An admin set ``user``'s password in the admin form: revoke the user's tokens and audit."""
    with transaction.atomic():
        _revoke_all_tokens(user)
        _by_admin_recorded(AuditAction.PASSWORD_RESET, actor=actor, user=user)


def password_reset_request(*, email: str, request: HttpRequest | None = None) -> None:
    """Mail a reset link if an active account has this address. The caller answers the same
    either way; the mail is sent by a task after commit, so timing does not tell either."""

    user = User.objects.filter_by_email(email).filter(is_active=True).first()
    with transaction.atomic():
        _audit(AuditAction.PASSWORD_RESET_REQUESTED, actor=user, request=request, known=user is not None)
        if user is not None:
            enqueue_on_commit("accounts.tasks.send_password_reset_email", str(user.public_id))


def password_reset_link(user: User) -> str:
    token = default_token_generator.make_token(user)
    # uid and token in the fragment: browsers never send it, so no server or proxy logs it.
    return f"{settings.PASSWORD_RESET_URL}#{urlencode({'uid': str(user.public_id), 'token': token})}"


def password_reset_confirm(*, uid: Any, token: str, new_password: str, request: HttpRequest | None = None) -> None:
    """Set a new password from a reset link. Does not log in: the next login still needs the
    password and, where enrolled, the one-time code. The token dies with the password change."""
    invalid = ValidationError({"token": ["The reset link is invalid or has expired."]})
    user = _user_by_public_id(uid)
    if user is None or not user.is_active or not default_token_generator.check_token(user, token):
        raise invalid
    _password_errors(new_password, user, "new_password")
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        # Re-check under the lock: two confirmations of one link must not both succeed.
        if not default_token_generator.check_token(locked, token):
            raise invalid
        locked.set_password(new_password)
        locked.save(update_fields=["password", "updated_at"])
        _revoke_all_tokens(locked)
        _audit(AuditAction.PASSWORD_RESET, actor=locked, request=request)
        # The reset link proves the mailbox: it lifts the account's lockout (accounts/lockout.py).
        released = _lockout_release(locked)
        if released:
            _audit(AuditAction.LOCKOUT_RELEASED, actor=locked, request=request, by="reset_link", attempts=released)


def lockout_release_by_admin(*, actor: User, attempt: Any) -> None:
    """An administrator lifts a lockout from the lockout screen: the django-axes ``AccessAttempt``
    row (the failed sign-ins against one account from one address) goes.

    LOCKOUT_RELEASED is audited with the administrator as actor and the account as object, as the
    owner's own release by reset link is (``{"by": "admin", "attempts": n}``); the row names the
    account only by its pseudonymous lockout key, so a key that names no account (a mistyped
    address) is recorded under that key's row id. Segregation of duties: never one's own lockout."""
    from axes.models import AccessAttempt

    require_permission(actor, "axes.delete_accessattempt")
    with transaction.atomic():
        locked = AccessAttempt.objects.select_for_update().filter(pk=attempt.pk).first()
        if locked is None:  # already lifted (a second click, or the cool-off's own cleanup)
            return
        user = User.objects.filter(email_index=locked.username).first() if locked.username else None
        require_not_own(actor, user.pk if user else None, "lift the lockout")
        locked.delete()
        audit_record(
            action=AuditAction.LOCKOUT_RELEASED,
            actor=actor,
            object_type=USER_OBJECT if user else "axes.AccessAttempt",
            object_id=str(user.public_id) if user else str(attempt.pk),
            change_diff={"by": "admin", "attempts": locked.failures_since_start},
        )


def _lockout_release(user: User) -> int:
    """Forget every failed attempt against ``user``'s account; returns how many rows went."""
    from axes.handlers.proxy import AxesProxyHandler

    return AxesProxyHandler.reset_attempts(username=lockout_key(user.email)) or 0

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
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, urlencode

from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.models import Group, Permission
from django.contrib.auth.password_validation import validate_password
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.http import HttpRequest
from django.utils import timezone
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings as jwt_settings
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken

from accounts import roles
from accounts.lockout import is_locked_out, lockout_key, record_failed_attempt
from accounts.models import BackupCode, TOTPDevice, User, backup_code_digest
from accounts.phone import phone_to_e164
from accounts.tokens import EPOCH_CLAIM, revoke_access, token_pair_for
from compliance.audit.services import ActorType, AuditAction, audit_record, build_change_diff
from kernel.errors import DomainError
from kernel.permissions import MFA_CLAIM
from kernel.tasks import enqueue_on_commit
from kernel.types import Actor

BACKUP_CODE_COUNT = 10
USER_OBJECT = "accounts.User"


class AuthError(DomainError):
    """A refused authentication step; ``code`` is the API error code, ``status`` the HTTP status."""

    def __init__(self, code: str, message: str, status: int = 401) -> None:
        super().__init__(message, code=code, status_code=status)
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


def roles_sync(*, actor: User | None = None) -> dict[str, int]:
    """Create the role groups and set each one's permissions to exactly the declared set.

    Idempotent. Codenames whose model does not exist yet are skipped (see accounts/roles.py).
    Returns the number of permissions each group now holds.
    """
    counts: dict[str, int] = {}
    with transaction.atomic():
        for role, wanted in roles.ROLE_PERMISSIONS.items():
            group, _ = Group.objects.get_or_create(name=role)
            permission_ids: set[int] = set()
            for dotted in wanted:
                app_label, codename = dotted.split(".", 1)
                permission_ids.update(
                    Permission.objects.filter(content_type__app_label=app_label, codename=codename).values_list(
                        "pk", flat=True
                    )
                )
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
    """Give ``user`` exactly these roles; a change revokes their tokens (privileges changed)."""
    unknown = set(role_names) - set(roles.ALL_ROLES)
    if unknown:
        raise ValidationError({"groups": ["Unknown role."]})
    with transaction.atomic():
        before = sorted(user.groups.values_list("name", flat=True))
        if before == sorted(role_names):
            return
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
    """
    from compliance.consent.services import consent_record_choices

    candidate = User(email=User.objects.normalize_email(email), first_name=first_name, last_name=last_name)
    _password_errors(password, candidate, "password")
    try:
        with transaction.atomic():
            user = User.objects.create_user(email=email, password=password, first_name=first_name, last_name=last_name)
            user.groups.add(Group.objects.get_or_create(name=roles.CUSTOMER)[0])
            _audit(AuditAction.REGISTER, actor=user, request=request, role=roles.CUSTOMER)
            consent_record_choices(subject=user, choices=list(consents), channel="api", request=request)
    except IntegrityError as exc:
        # The unique blind index of the address decides (no check-then-act). The message neither
        # confirms nor denies more than that this address cannot be used; throttling limits probing.
        raise ValidationError(
            {"email": ["This e-mail address cannot be used to register. If it is yours, log in or reset the password."]}
        ) from exc
    return user


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
    return _profile_change(
        actor=actor, user=user, first_name=first_name, last_name=last_name, phone=phone, reference=reference
    )


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
            # The blind index of the phone follows its source (BlindIndexedModelMixin).
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
                        **build_change_diff(model=User, before=before, after=after),
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
    return TOTPDevice.objects.filter(user=user, confirmed=True).first()


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


def login_failure_record(*, request: HttpRequest, channel: str, reason: str, user: User | None = None) -> None:
    """Audit a failed login, and a lockout when this failure reached the limit."""
    with transaction.atomic():
        _audit(AuditAction.LOGIN_FAILED, actor=user, request=request, channel=channel, reason=reason)
        if is_locked_out(request):
            _audit(AuditAction.LOCKOUT, actor=user, request=request, channel=channel)


def login_locked_check(*, request: HttpRequest, email: str, channel: str) -> bool:
    """True (and audited, and flagged for the axes middleware) when the account is locked.

    Checked before the password so an attempt during a lockout is refused without touching the
    password and without auditing the lockout again.
    """
    from axes.handlers.proxy import AxesProxyHandler

    if not AxesProxyHandler.is_locked(request, {"username": email}):
        return False
    with transaction.atomic():
        _audit(AuditAction.LOGIN_FAILED, request=request, channel=channel, reason="locked")
    request.axes_locked_out = True
    return True


def login_success_record(*, user: User, request: HttpRequest, channel: str, mfa: bool) -> None:
    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(last_login=timezone.now())
        _audit(AuditAction.LOGIN, actor=user, request=request, channel=channel, mfa=mfa)


def token_obtain(*, request: HttpRequest, email: str, password: str, otp: str = "") -> dict[str, str]:
    """API login: password, then (when enrolled, and always for staff) a one-time code.

    Every refusal counts towards the account lockout, including a wrong one-time code.
    """
    from axes.handlers.proxy import AxesProxyHandler

    if login_locked_check(request=request, email=email, channel="api"):
        raise AuthError("account_locked", "Too many failed attempts: this account is locked for 30 minutes.", 429)
    user = authenticate(request, username=email, password=password)
    if user is None:
        login_failure_record(request=request, channel="api", reason="invalid_credentials")
        if is_locked_out(request):
            raise AuthError("account_locked", "Too many failed attempts: this account is locked for 30 minutes.", 429)
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
                raise AuthError(
                    "account_locked", "Too many failed attempts: this account is locked for 30 minutes.", 429
                )
            raise AuthError("invalid_credentials", INVALID_CREDENTIALS)
        mfa_at = int(timezone.now().timestamp())
    with transaction.atomic():
        login_success_record(user=user, request=request, channel="api", mfa=mfa_at is not None)
        tokens = token_pair_for(user, mfa_at=mfa_at)
    # A complete login (password and, where required, a code) clears the failure counter.
    AxesProxyHandler.reset_attempts(username=lockout_key(email))
    return tokens


def token_refresh(*, request: HttpRequest, raw_refresh: str) -> dict[str, str]:
    """Exchange a refresh token once for a new pair (rotation; the old one is blacklisted)."""
    invalid = AuthError("token_not_valid", "The refresh token is not valid or has been used.")
    try:
        refresh = RefreshToken(raw_refresh)
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
            tokens = token_pair_for(user, mfa_at=refresh.get(MFA_CLAIM))
            _audit(AuditAction.TOKEN_REFRESH, actor=user, request=request)
    if not created:
        # Lost a race with a concurrent exchange of the same token.
        raise invalid
    return tokens


def logout(*, actor: User, raw_refresh: str, access: Any = None, request: HttpRequest | None = None) -> None:
    """Revoke the caller's refresh token and, once that commits, the access token they called with.

    Access tokens minted earlier by refreshes of the same session are not known here; they expire
    within their short lifetime (``ACCESS_TOKEN_LIFETIME``, 5 minutes).
    """
    invalid = ValidationError({"refresh": ["The refresh token is not valid."]})
    try:
        refresh = RefreshToken(raw_refresh)
    except TokenError as exc:
        raise invalid from exc
    if refresh.get(jwt_settings.USER_ID_CLAIM) != str(actor.public_id):
        raise invalid
    with transaction.atomic():
        outstanding = OutstandingToken.objects.filter(jti=refresh[jwt_settings.JTI_CLAIM], user=actor).first()
        if outstanding is None:
            raise invalid
        BlacklistedToken.objects.get_or_create(token=outstanding)
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


def totp_enrol_start(*, actor: User, request: HttpRequest | None = None, reuse_pending: bool = False) -> TOTPDevice:
    """Create (or re-key) the user's pending TOTP device. Refused once a device is confirmed."""
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
    return device


def _new_totp_key() -> str:
    return base64.b32encode(secrets.token_bytes(20)).decode("ascii")


def totp_enrol_confirm(
    *, actor: User, code: str, request: HttpRequest | None = None, issue_tokens: bool = True
) -> tuple[TOTPDevice, list[str], dict[str, str]]:
    """Activate the pending device with a first valid code; return it, fresh one-time backup
    codes, and a token pair whose ``mfa_at`` records this check (the code proved the factor)."""
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
            _audit(AuditAction.MFA_ENROLLED, actor=actor, request=request, backup_codes=len(codes))
            if issue_tokens:
                tokens = token_pair_for(actor, mfa_at=int(timezone.now().timestamp()))
        else:
            _audit(AuditAction.MFA_FAILED, actor=actor, request=request, channel="enrolment", method="totp")
    if not ok:
        raise ValidationError({"otp": ["The code is not correct. Check the time on your device and try again."]})
    return device, codes, tokens


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
        audit_record(
            action=AuditAction.PASSWORD_RESET,
            actor=actor,
            object_type=USER_OBJECT,
            object_id=str(user.public_id),
            change_diff={"by": "admin"},
        )


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

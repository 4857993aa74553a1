"""JWT issue and rotation on top of simplejwt.

Claims: ``sub`` (public_id), ``aud``/``iss`` (checked on decode), ``epoch`` (the user's
``auth_epoch``: a bump revokes every older token), ``mfa_at`` (Unix seconds of the last OTP check;
absent when the login had none). A refresh copies ``epoch`` and ``mfa_at`` into the new tokens,
so refreshing never makes an MFA check look more recent than it was.

Refresh tokens are recorded in simplejwt's OutstandingToken table by jti only: the token text
column is left empty so a database reader cannot replay refresh tokens.

Signing keys rotate (SPEC C8). Every token names its key in the ``kid`` header; the key ring holds
one active key (signs) and the keys it replaced, which still verify for a grace window of one
access plus one refresh lifetime after they were superseded, so no token issued before a
rotation stops working early, and none signed by an old key outlives the window.
Invariants:
- The ring lives with the secrets provider (a 0600 file, or AWS Secrets Manager), never in the
  database or logs. Until the first rotation it is the settings key (``JWT_SIGNING_KEY``) under
  the kid ``settings``; a token without a ``kid`` is treated as signed by that key.
- A kid not in the ring makes the process re-read the ring once (another process may have
  rotated), then the token is refused; an expired-grace key refuses its tokens even though the
  signature is good.
- Rotating prunes keys whose grace has ended and records one KEY_ROTATED audit event (kid only).
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import jwt
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from rest_framework_simplejwt.backends import TokenBackend
from rest_framework_simplejwt.exceptions import TokenBackendError, TokenBackendExpiredToken
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken
from rest_framework_simplejwt.tokens import RefreshToken, Token
from rest_framework_simplejwt.utils import datetime_from_epoch

from accounts.auth_snapshot import generation_key
from compliance.audit.services import ActorType, AuditAction, audit_record
from compliance.secret_rotation.providers import SecretNotFound, get_secrets_provider
from kernel.permissions import MFA_CLAIM
from kernel.types import Actor

EPOCH_CLAIM = "epoch"
# The login session a token belongs to: minted at login, copied by every refresh, so the tokens
# of one session form a family (revoked together on logout or on reuse of a rotated refresh).
SESSION_CLAIM = "sid"
_REVOKED_ACCESS = "jwt:revoked-access:{jti}"
_REVOKED_SESSION = "jwt:revoked-session:{sid}"
# OutstandingToken.token holds this marker instead of the token text (never replayable), so the
# refresh tokens of one session can be found and blacklisted together.
SESSION_MARKER = "sid:{sid}"


def _jwt_setting(name: str) -> Any:
    """One SIMPLE_JWT setting (a dict of mixed types: lifetimes are timedeltas, the key a string)."""
    return settings.SIMPLE_JWT[name]


def revoke_access(token: Any) -> None:
    """Refuse this access token from now until it expires (logout): its jti goes on a denylist
    in the shared cache, kept exactly as long as the token could still be presented."""
    from django.core.cache import cache

    if token.get(api_settings.TOKEN_TYPE_CLAIM) != "access":
        return
    remaining = int(token["exp"] - time.time())
    if remaining > 0:
        cache.set(_REVOKED_ACCESS.format(jti=token[api_settings.JTI_CLAIM]), 1, timeout=remaining + 1)


def revoke_session(sid: str | None) -> None:
    """Refuse every access token of the login session ``sid`` from now until the last one could
    expire: a short-lived deny list keyed by session (its refresh tokens are blacklisted by the
    caller, accounts.services.session_tokens_revoke)."""
    from django.core.cache import cache

    if not sid:
        return
    lifetime = int(_jwt_setting("ACCESS_TOKEN_LIFETIME").total_seconds())
    cache.set(_REVOKED_SESSION.format(sid=sid), 1, timeout=lifetime + 5)


def access_revoked(token: Any) -> bool:
    return revocation_state(token)[0]


def revocation_state(token: Any, public_id: Any = None) -> tuple[bool, str | None]:
    """Whether this access token (its jti) or its login session is on a deny list, and, with
    ``public_id``, the user's authentication-snapshot generation (``accounts.auth_snapshot``):
    one cache round trip for all three."""
    from django.core.cache import cache

    jti = token.get(api_settings.JTI_CLAIM)
    sid = token.get(SESSION_CLAIM)
    denials = [_REVOKED_ACCESS.format(jti=jti)] if jti is not None else []
    if sid:
        denials.append(_REVOKED_SESSION.format(sid=sid))
    generation = generation_key(public_id) if public_id is not None else None
    keys = denials + ([generation] if generation is not None else [])
    found = cache.get_many(keys) if keys else {}
    return any(key in found for key in denials), found.get(generation) if generation is not None else None


def token_pair_for(user: Any, *, mfa_at: int | None, sid: str | None = None) -> dict[str, str]:
    """A fresh refresh/access pair for ``user``; the refresh is registered as outstanding.

    ``sid`` names the login session: a new one for a login, the refreshed token's for a refresh.
    """
    refresh = RefreshToken()
    refresh[api_settings.USER_ID_CLAIM] = str(getattr(user, api_settings.USER_ID_FIELD))
    refresh[EPOCH_CLAIM] = user.auth_epoch
    refresh[SESSION_CLAIM] = sid or secrets.token_hex(16)
    if mfa_at:
        refresh[MFA_CLAIM] = int(mfa_at)
    OutstandingToken.objects.create(
        user=user,
        jti=refresh[api_settings.JTI_CLAIM],
        token=SESSION_MARKER.format(sid=refresh[SESSION_CLAIM]),
        created_at=refresh.current_time,
        expires_at=datetime_from_epoch(refresh["exp"]),
    )
    return {"access": str(refresh.access_token), "refresh": str(refresh)}


# --- signing-key ring ---------------------------------------------------------------------

RING_SECRET_NAME = "jwt-signing-keys"  # noqa: S105 - the name the ring is stored under, not a secret  # pragma: allowlist secret
SETTINGS_KID = "settings"
_RING_CACHE_SECONDS = 30.0


@dataclass(frozen=True)
class SigningKey:
    kid: str
    secret: str
    created_at: datetime | None  # None: the settings key, in service since deployment
    superseded_at: datetime | None = None


def jwt_key_grace() -> timedelta:
    """How long a superseded key still verifies: one access plus one refresh lifetime."""
    return _jwt_setting("ACCESS_TOKEN_LIFETIME") + _jwt_setting("REFRESH_TOKEN_LIFETIME")


@dataclass(frozen=True)
class SigningKeyRing:
    keys: tuple[SigningKey, ...]  # newest first; the first one not superseded signs

    @property
    def active(self) -> SigningKey:
        return next(key for key in self.keys if key.superseded_at is None)

    def verifying_key(self, kid: str, now: datetime) -> SigningKey | None:
        for key in self.keys:
            if key.kid == kid:
                if key.superseded_at is None or now < key.superseded_at + jwt_key_grace():
                    return key
                return None
        return None

    def dumps(self) -> str:
        # The settings key is listed without its value: it stays in the settings.
        return json.dumps(
            {
                "keys": [
                    {
                        "kid": key.kid,
                        "secret": None if key.kid == SETTINGS_KID else key.secret,
                        "created_at": key.created_at.isoformat() if key.created_at else None,
                        "superseded_at": key.superseded_at.isoformat() if key.superseded_at else None,
                    }
                    for key in self.keys
                ]
            }
        )

    @classmethod
    def loads(cls, text: str) -> SigningKeyRing:
        def when(value: str | None) -> datetime | None:
            return datetime.fromisoformat(value) if value else None

        keys = tuple(
            SigningKey(
                kid=entry["kid"],
                secret=_jwt_setting("SIGNING_KEY") if entry["kid"] == SETTINGS_KID else entry["secret"],
                created_at=when(entry["created_at"]),
                superseded_at=when(entry["superseded_at"]),
            )
            for entry in json.loads(text)["keys"]
        )
        return cls(keys)


def _bootstrap_ring() -> SigningKeyRing:
    return SigningKeyRing((SigningKey(SETTINGS_KID, _jwt_setting("SIGNING_KEY"), None),))


_ring_cache: dict[str, tuple[float, SigningKeyRing]] = {}


def signing_key_ring(*, refresh: bool = False) -> SigningKeyRing:
    """The current ring, re-read from the secrets provider at most every 30 s (or on demand)."""
    provider = get_secrets_provider()
    # The bootstrap ring embeds the settings key: a settings change (tests) must not reuse it.
    cache_key = f"{id(provider)}:{hash(_jwt_setting('SIGNING_KEY'))}"
    cached = _ring_cache.get(cache_key)
    if cached is not None and not refresh and time.monotonic() - cached[0] < _RING_CACHE_SECONDS:
        return cached[1]
    try:
        ring = SigningKeyRing.loads(provider.get_secret(RING_SECRET_NAME))
    except SecretNotFound:
        ring = _bootstrap_ring()
    _ring_cache[cache_key] = (time.monotonic(), ring)
    return ring


def reset_signing_key_cache() -> None:
    _ring_cache.clear()


def jwt_signing_key_rotate(*, actor: Actor | None = None) -> SigningKey:
    """Put a new signing key in service; the previous one keeps verifying for the grace window."""
    now = timezone.now()
    ring = signing_key_ring(refresh=True)
    grace = jwt_key_grace()
    new_key = SigningKey(f"k{now:%Y%m%d%H%M%S}-{secrets.token_hex(4)}", secrets.token_urlsafe(48), now)
    kept = []
    for key in ring.keys:
        superseded = key if key.superseded_at is not None else SigningKey(key.kid, key.secret, key.created_at, now)
        if now < superseded.superseded_at + grace:  # type: ignore[operator]
            kept.append(superseded)
    new_ring = SigningKeyRing((new_key, *kept))
    with transaction.atomic():
        # The audit record commits only if the new ring was stored (the provider write raises).
        get_secrets_provider().put_secret(RING_SECRET_NAME, new_ring.dumps())
        audit_record(
            action=AuditAction.KEY_ROTATED,
            actor=actor,
            actor_type=None if actor is not None else ActorType.SYSTEM,
            object_type="jwt_signing_key",
            object_id=new_key.kid,
            change_diff={
                "stage": "rotated",
                "previous_kid": ring.active.kid,
                "grace_seconds": int(grace.total_seconds()),
                "keys_in_ring": len(new_ring.keys),
            },
        )
    reset_signing_key_cache()
    return new_key


def jwt_signing_key_rotated_at() -> datetime | None:
    """When the active key was put in service (None: the settings key, date unknown)."""
    return signing_key_ring().active.created_at


class KeyRingTokenBackend(TokenBackend):
    """simplejwt's backend, signing with the ring's active key and verifying by ``kid``."""

    def encode(self, payload: dict[str, Any]) -> str:
        key = signing_key_ring().active
        jwt_payload = payload.copy()
        if self.audience is not None:
            jwt_payload["aud"] = self.audience
        if self.issuer is not None:
            jwt_payload["iss"] = self.issuer
        return jwt.encode(
            jwt_payload, key.secret, algorithm=self.algorithm, headers={"kid": key.kid}, json_encoder=self.json_encoder
        )

    def decode(self, token: Any, verify: bool = True) -> dict[str, Any]:
        if not verify:
            return super().decode(token, verify=False)
        try:
            kid = jwt.get_unverified_header(token).get("kid") or SETTINGS_KID
        except jwt.InvalidTokenError as exc:
            raise TokenBackendError("Token is invalid") from exc
        if not isinstance(kid, str):
            raise TokenBackendError("Token is invalid")
        now = timezone.now()
        key = signing_key_ring().verifying_key(kid, now)
        if key is None:
            # Another process may have rotated since this one last read the ring.
            key = signing_key_ring(refresh=True).verifying_key(kid, now)
        if key is None:
            raise TokenBackendError("Token is invalid")
        try:
            return jwt.decode(
                token,
                key.secret,
                algorithms=[self.algorithm],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.get_leeway(),
                options={"verify_aud": self.audience is not None, "verify_signature": True},
            )
        except jwt.InvalidAlgorithmError as exc:
            raise TokenBackendError("Invalid algorithm specified") from exc
        except jwt.ExpiredSignatureError as exc:
            raise TokenBackendExpiredToken("Token is expired") from exc
        except jwt.InvalidTokenError as exc:
            raise TokenBackendError("Token is invalid") from exc


def install_key_ring_backend() -> None:
    """Make every simplejwt token class sign and verify through the ring (``Token`` reads the
    backend from this class attribute before falling back to simplejwt's module-level one)."""
    Token._token_backend = KeyRingTokenBackend(
        api_settings.ALGORITHM,
        None,
        "",
        api_settings.AUDIENCE,
        api_settings.ISSUER,
        None,
        api_settings.LEEWAY,
        api_settings.JSON_ENCODER,
    )

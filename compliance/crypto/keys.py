"""Key providers: the only place field-encryption and blind-index keys come from.

Invariants:
- Keys never live in the database and never appear in logs, exceptions, reprs or audit diffs.
  The database holds only key-version *metadata* (compliance.models.keys).
- Two independent key rings: ``field`` (AES-256-GCM, 32-byte keys) and ``blind_index`` (HMAC-SHA256,
  32-byte keys). A blind-index key is never an encryption key and vice versa.
- Each ring has exactly one active version (used for new writes) and any number of older versions
  that still decrypt / still match lookups until they are retired.
- A missing or malformed key configuration raises ``ImproperlyConfigured`` when the provider is
  built, never later with a half-working process.

Providers:
A third, optional ring, ``audit_signing``, holds the 32-byte Ed25519 seeds that sign the audit
trail's checkpoints (``compliance.audit.transparency``; docs/adr/0006): same versions, same
storage, same rotation (``add_version``: the new key signs, older ones stay listed so their public
keys keep verifying old checkpoints). It is optional so existing key rings and deployments start
without it; checkpoint signing then reports the missing ring instead of signing.

- ``EnvKeyProvider``: ``FIELD_ENCRYPTION_KEYS="3:<base64>,2:<base64>"`` (first = active) and
  ``BLIND_INDEX_KEYS`` the same way; ``*_FILE`` variants via kernel.env. Adding or retiring a
  version is a deployment (change the variable), so ``add_version``/``retire_version`` refuse.
- ``FileKeyProvider``: a JSON key ring (mode 0600) the provider owns: dev profile and
  ``rotate_field_keys`` add versions to it.
- ``KmsKeyProvider``: the same ring file, but holding only data keys *wrapped* by an AWS KMS key
  (envelope encryption). Data keys come from KMS ``GenerateDataKey``, are unwrapped with KMS
  ``Decrypt`` when the provider is built and are cached in memory only.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import fcntl
import json
import os
import secrets
import tempfile
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.core.exceptions import ImproperlyConfigured

FIELD = "field"
BLIND_INDEX = "blind_index"
AUDIT_SIGNING = "audit_signing"
PURPOSES = (FIELD, BLIND_INDEX)
OPTIONAL_PURPOSES = (AUDIT_SIGNING,)
KEY_BYTES = 32
_ENV_NAMES = {FIELD: "FIELD_ENCRYPTION_KEYS", BLIND_INDEX: "BLIND_INDEX_KEYS", AUDIT_SIGNING: "AUDIT_SIGNING_KEYS"}


class KeyProviderError(Exception):
    """A key operation the provider cannot perform (never carries key material)."""


class NoKeyRing(KeyProviderError):
    def __init__(self, purpose: str) -> None:
        super().__init__(f"No {purpose} keys are configured ({_ENV_NAMES.get(purpose, purpose)} or the key-ring file).")
        self.purpose = purpose


class UnknownKeyVersion(KeyProviderError):
    def __init__(self, purpose: str, version: int) -> None:
        super().__init__(f"No {purpose} key with version {version} is configured (retired or never added).")
        self.purpose = purpose
        self.version = version


@dataclass
class KeyRing:
    """One purpose's keys: version -> 32 raw bytes, plus which version encrypts."""

    purpose: str
    active: int
    keys: dict[int, bytes] = field(repr=False)
    retired: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.active not in self.keys:
            raise ImproperlyConfigured(f"The active {self.purpose} key version {self.active} has no key.")
        for version, key in self.keys.items():
            if version < 1:
                raise ImproperlyConfigured(f"{self.purpose} key versions are positive integers (got {version}).")
            if len(key) != KEY_BYTES:
                raise ImproperlyConfigured(
                    f"{self.purpose} key version {version} must be {KEY_BYTES} bytes (base64 of 32 random bytes)."
                )

    def __repr__(self) -> str:
        return f"KeyRing(purpose={self.purpose!r}, active={self.active}, versions={sorted(self.keys)})"

    def versions(self) -> list[int]:
        """Every version that still decrypts/matches, active first, then newest to oldest."""
        return [self.active, *sorted((v for v in self.keys if v != self.active), reverse=True)]


class KeyProvider(ABC):
    """The interface the crypto layer uses. Subclasses own where keys are stored."""

    name: str = "abstract"

    @abstractmethod
    def ring(self, purpose: str) -> KeyRing: ...

    def encryption_key(self) -> tuple[int, bytes]:
        ring = self.ring(FIELD)
        return ring.active, ring.keys[ring.active]

    def decryption_key(self, version: int) -> bytes:
        return self._key(FIELD, version)

    def blind_index_key(self, version: int | None = None) -> tuple[int, bytes]:
        ring = self.ring(BLIND_INDEX)
        chosen = ring.active if version is None else version
        return chosen, self._key(BLIND_INDEX, chosen)

    def active_version(self, purpose: str) -> int:
        return self.ring(purpose).active

    def versions(self, purpose: str) -> list[int]:
        return self.ring(purpose).versions()

    def _key(self, purpose: str, version: int) -> bytes:
        try:
            return self.ring(purpose).keys[version]
        except KeyError:
            raise UnknownKeyVersion(purpose, version) from None

    def add_version(self, purpose: str) -> int:
        """Create a new key version, make it active and return its number."""
        raise KeyProviderError(f"The {self.name} key provider cannot add key versions: {self._how_to_change()}")

    def retire_version(self, purpose: str, version: int) -> None:
        """Forget an old (non-active) version: values still under it become unreadable."""
        raise KeyProviderError(f"The {self.name} key provider cannot retire key versions: {self._how_to_change()}")

    def _how_to_change(self) -> str:
        return "change its configuration and redeploy."

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"


def _decode_key(text: str, what: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise ImproperlyConfigured(f"{what} is not valid base64.") from None
    if len(key) != KEY_BYTES:
        raise ImproperlyConfigured(f"{what} must decode to {KEY_BYTES} bytes.")
    return key


def parse_key_list(text: str, purpose: str) -> KeyRing:
    """Parse ``"3:<base64>,2:<base64>"``; the first entry is the active version."""
    name = _ENV_NAMES[purpose]
    entries = [item.strip() for item in (text or "").split(",") if item.strip()]
    if not entries:
        raise ImproperlyConfigured(f"Set {name} (or {name}_FILE): 'version:base64key[,version:base64key...]'.")
    keys: dict[int, bytes] = {}
    order: list[int] = []
    for entry in entries:
        version_text, sep, key_text = entry.partition(":")
        if not sep or not version_text.strip().isdigit():
            raise ImproperlyConfigured(f"{name} entries look like '3:base64key' (version, colon, key).")
        version = int(version_text)
        if version in keys:
            raise ImproperlyConfigured(f"{name} lists version {version} twice.")
        keys[version] = _decode_key(key_text, f"{name} version {version}")
        order.append(version)
    return KeyRing(purpose=purpose, active=order[0], keys=keys)


def generate_key() -> bytes:
    return secrets.token_bytes(KEY_BYTES)


def encode_key(key: bytes) -> str:
    return base64.b64encode(key).decode("ascii")


class EnvKeyProvider(KeyProvider):
    """Keys from settings that came from the environment (or ``*_FILE``)."""

    name = "env"

    def __init__(self, *, field_keys: str, blind_index_keys: str, audit_signing_keys: str = "") -> None:
        self._rings = {
            FIELD: parse_key_list(field_keys, FIELD),
            BLIND_INDEX: parse_key_list(blind_index_keys, BLIND_INDEX),
        }
        if audit_signing_keys.strip():
            self._rings[AUDIT_SIGNING] = parse_key_list(audit_signing_keys, AUDIT_SIGNING)

    def ring(self, purpose: str) -> KeyRing:
        try:
            return self._rings[purpose]
        except KeyError:
            raise NoKeyRing(purpose) from None

    def _how_to_change(self) -> str:
        return (
            "put the new key first in FIELD_ENCRYPTION_KEYS / BLIND_INDEX_KEYS (or remove the retired one), "
            "redeploy, then run rotate_field_keys --reencrypt-only."
        )


class FileKeyProvider(KeyProvider):
    """A JSON key ring on disk that this provider reads and writes.

    Layout: ``{"format": 1, "field": {"active": 2, "keys": {"1": "...", "2": "..."}, "retired": [..]},
    "blind_index": {...}}``. The file is written atomically (temporary file + rename) with mode 0600,
    under an exclusive ``flock`` so two rotations cannot both add "version 3".
    """

    name = "file"

    # How often (seconds) ring() looks at the file's mtime: a version added by a rotation in another
    # process becomes the active key here within this delay, without a restart.
    RECHECK_SECONDS = 5.0

    def __init__(self, path: str | os.PathLike, *, create: bool = False) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._rings: dict[str, KeyRing] = {}
        self._mtime_ns = 0
        self._checked_at = 0.0
        if create and not self.path.exists():
            self._create()
        self._load()

    # --- storage hooks (KmsKeyProvider wraps/unwraps here) ---------------------------------
    def _new_key(self, purpose: str, version: int) -> tuple[bytes, str]:
        """Return (raw key, what to store in the file)."""
        key = generate_key()
        return key, encode_key(key)

    def _open_key(self, purpose: str, version: int, stored: str) -> bytes:
        return _decode_key(stored, f"{self.path.name} {purpose} version {version}")

    def _header(self) -> dict[str, Any]:
        return {"format": 1, "provider": self.name}

    # --- file handling --------------------------------------------------------------------
    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        lock_path = self.path.with_name(self.path.name + ".lock")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock, os.fdopen(os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600), "r+") as lock_file:
            fcntl.flock(lock_file, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock_file, fcntl.LOCK_UN)

    def _read(self) -> dict[str, Any]:
        try:
            return json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ImproperlyConfigured(f"The key-ring file {self.path} does not exist.") from None
        except (OSError, ValueError):
            raise ImproperlyConfigured(f"The key-ring file {self.path} is unreadable or not JSON.") from None

    def _write(self, data: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, tmp_name = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.")
        try:
            os.fchmod(handle, 0o600)
            with os.fdopen(handle, "w", encoding="utf-8") as tmp:
                json.dump(data, tmp, indent=2, sort_keys=True)
                tmp.flush()
                os.fsync(tmp.fileno())
            os.replace(tmp_name, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp_name)
            raise

    def _create(self) -> None:
        with self._locked():
            if self.path.exists():
                return
            data = self._header()
            for purpose in (*PURPOSES, *OPTIONAL_PURPOSES):
                _, stored = self._new_key(purpose, 1)
                data[purpose] = {"active": 1, "keys": {"1": stored}, "retired": []}
            self._write(data)

    def _load(self) -> None:
        with contextlib.suppress(OSError):
            self._mtime_ns = self.path.stat().st_mtime_ns
        self._checked_at = time.monotonic()
        data = self._read()
        rings = {}
        for purpose in (*PURPOSES, *OPTIONAL_PURPOSES):
            section = data.get(purpose)
            if purpose in OPTIONAL_PURPOSES and section is None:
                continue
            if not isinstance(section, dict) or not section.get("keys"):
                raise ImproperlyConfigured(f"The key-ring file {self.path} has no '{purpose}' keys.")
            keys = {int(v): self._open_key(purpose, int(v), stored) for v, stored in section["keys"].items()}
            rings[purpose] = KeyRing(
                purpose=purpose,
                active=int(section["active"]),
                keys=keys,
                retired=tuple(int(v) for v in section.get("retired", [])),
            )
        self._rings = rings

    def ring(self, purpose: str) -> KeyRing:
        if time.monotonic() - self._checked_at > self.RECHECK_SECONDS:
            self._checked_at = time.monotonic()
            with contextlib.suppress(OSError):
                if self.path.stat().st_mtime_ns != self._mtime_ns:
                    self._load()
        try:
            return self._rings[purpose]
        except KeyError:
            raise NoKeyRing(purpose) from None

    def _key(self, purpose: str, version: int) -> bytes:
        try:
            return super()._key(purpose, version)
        except UnknownKeyVersion:
            # Another process (a rotation) may have added the version since we loaded the ring.
            self._load()
            return super()._key(purpose, version)

    def reload(self) -> None:
        self._load()

    def add_version(self, purpose: str) -> int:
        with self._locked():
            data = self._read()
            if purpose in OPTIONAL_PURPOSES and purpose not in data:
                data[purpose] = {"active": 0, "keys": {}, "retired": []}
            section = data[purpose]
            used = {0} | {int(v) for v in section["keys"]} | {int(v) for v in section.get("retired", [])}
            version = max(used) + 1
            _, stored = self._new_key(purpose, version)
            section["keys"][str(version)] = stored
            section["active"] = version
            self._write(data)
            self._load()
        return version

    def retire_version(self, purpose: str, version: int) -> None:
        with self._locked():
            data = self._read()
            section = data[purpose]
            if int(section["active"]) == version:
                raise KeyProviderError(f"Version {version} is the active {purpose} key and cannot be retired.")
            if str(version) not in section["keys"]:
                raise UnknownKeyVersion(purpose, version)
            del section["keys"][str(version)]
            section.setdefault("retired", []).append(version)
            self._write(data)
            self._load()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.path}>"


class KmsKeyProvider(FileKeyProvider):
    """Envelope encryption: the ring file stores data keys wrapped by an AWS KMS key.

    Stealing the file (or a backup of it) yields nothing without ``kms:Decrypt`` on the KMS key.
    The encryption context names the purpose and version, so a wrapped key cannot be swapped
    between slots unnoticed.
    """

    name = "kms"

    def __init__(self, path: str | os.PathLike, *, kms_key_id: str, client: Any = None, create: bool = False) -> None:
        if not kms_key_id:
            raise ImproperlyConfigured("The KMS key provider needs FIELD_KEY_KMS_KEY_ID (a key id, ARN or alias).")
        self.kms_key_id = kms_key_id
        if client is None:
            import boto3

            client = boto3.client("kms")
        self._kms = client
        super().__init__(path, create=create)

    def _context(self, purpose: str, version: int) -> dict[str, str]:
        return {"fintech:purpose": purpose, "fintech:version": str(version)}

    def _new_key(self, purpose: str, version: int) -> tuple[bytes, str]:
        answer = self._kms.generate_data_key(
            KeyId=self.kms_key_id, KeySpec="AES_256", EncryptionContext=self._context(purpose, version)
        )
        return answer["Plaintext"], encode_key(answer["CiphertextBlob"])

    def _open_key(self, purpose: str, version: int, stored: str) -> bytes:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            answer = self._kms.decrypt(
                CiphertextBlob=base64.b64decode(stored),
                EncryptionContext=self._context(purpose, version),
                KeyId=self.kms_key_id,
            )
        except (ClientError, BotoCoreError) as exc:
            code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
            raise ImproperlyConfigured(
                f"KMS could not unwrap the {purpose} data key version {version} ({code})."
            ) from None
        return answer["Plaintext"]

    def _header(self) -> dict[str, Any]:
        return {**super()._header(), "kms_key_id": self.kms_key_id}


# --- The process-wide provider ---------------------------------------------------------------
_provider: KeyProvider | None = None
_provider_lock = threading.Lock()


def build_key_provider(config: dict[str, Any]) -> KeyProvider:
    """Build a provider from the ``FIELD_KEYS`` settings dict; raises ImproperlyConfigured."""
    kind = config.get("PROVIDER", "env")
    if kind == "env":
        return EnvKeyProvider(
            field_keys=config.get("FIELD_ENCRYPTION_KEYS", ""),
            blind_index_keys=config.get("BLIND_INDEX_KEYS", ""),
            audit_signing_keys=config.get("AUDIT_SIGNING_KEYS", ""),
        )
    if kind in ("file", "kms"):
        path = config.get("KEY_RING_FILE")
        if not path:
            raise ImproperlyConfigured(f"The {kind} key provider needs FIELD_KEY_RING_FILE.")
        if kind == "file":
            return FileKeyProvider(path, create=bool(config.get("CREATE_IF_MISSING")))
        return KmsKeyProvider(
            path,
            kms_key_id=config.get("KMS_KEY_ID", ""),
            client=config.get("KMS_CLIENT"),
            create=bool(config.get("CREATE_IF_MISSING")),
        )
    raise ImproperlyConfigured("FIELD_KEY_PROVIDER must be one of: env, file, kms.")


def get_key_provider() -> KeyProvider:
    """The provider configured by ``settings.FIELD_KEYS``, built once per process."""
    global _provider  # noqa: PLW0603 - one provider (and one unwrapped key cache) per process
    if _provider is None:
        with _provider_lock:
            if _provider is None:
                from django.conf import settings

                _provider = build_key_provider(settings.FIELD_KEYS)
    return _provider


def reset_key_provider() -> None:
    """Forget the cached provider (tests; after changing settings.FIELD_KEYS)."""
    global _provider  # noqa: PLW0603
    with _provider_lock:
        _provider = None
    for hook in _reset_hooks:
        hook()  # e.g. subject keys unwrapped by the forgotten provider's ring


_reset_hooks: list[Any] = []


def on_provider_reset(hook: Any) -> None:
    """Call ``hook()`` whenever the provider is forgotten (caches of keys it unwrapped)."""
    if hook not in _reset_hooks:
        _reset_hooks.append(hook)


def _on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    if setting == "FIELD_KEYS":
        reset_key_provider()


def connect_setting_changed() -> None:
    from django.test.signals import setting_changed

    setting_changed.connect(_on_setting_changed, dispatch_uid="compliance.crypto.keys.reset")


def require_field_keys(config: dict[str, Any]) -> None:
    """Production start-up refusal: the key configuration must be complete and well-formed,
    the audit signing ring included.

    Env and file providers are built (so malformed keys stop the process); the KMS provider is
    only checked for its settings here, because unwrapping needs the network and happens when
    the provider is first used.
    """
    if config.get("CREATE_IF_MISSING"):
        raise ImproperlyConfigured("Production never generates field keys: provide them (FIELD_KEY_PROVIDER).")
    if config.get("PROVIDER", "env") == "kms":
        if not config.get("KMS_KEY_ID") or not config.get("KEY_RING_FILE"):
            raise ImproperlyConfigured("The KMS key provider needs FIELD_KEY_KMS_KEY_ID and FIELD_KEY_RING_FILE.")
        return  # the audit signing ring is checked when the ring is unwrapped (check compliance.E124)
    provider = build_key_provider(config)
    # Unsigned checkpoints would leave a consistent rewrite of the whole audit chain undetectable
    # (docs/adr/0006): production needs the audit signing ring too.
    try:
        provider.ring(AUDIT_SIGNING)
    except NoKeyRing:
        raise ImproperlyConfigured(
            "Production needs the audit signing keys: set AUDIT_SIGNING_KEYS (or AUDIT_SIGNING_KEYS_FILE), "
            "or add an 'audit_signing' ring to the key-ring file."
        ) from None

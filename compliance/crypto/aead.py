"""AES-256-GCM encryption of single values, with the key version in the stored text.

Stored format (text, so a database dump shows at a glance what is encrypted and under which key):

    v<version>:<base64(nonce[12] || ciphertext || tag[16])>

Invariants:
- A fresh 96-bit random nonce per encryption (never reused under one key: 2^32 values per key
  version keep the collision risk negligible, and rotation adds versions long before that).
- The associated data names the column (``app_label.model.field``), so a ciphertext copied into
  another column or another table does not decrypt.
- Decryption either returns the plaintext or raises ``FieldDecryptionError``: it never returns the
  ciphertext, and its messages never contain key material or plaintext.
"""

from __future__ import annotations

import base64
import binascii
import os
import re

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from compliance.crypto.keys import KeyProvider, UnknownKeyVersion, get_key_provider

NONCE_BYTES = 12
TAG_BYTES = 16
_TOKEN = re.compile(r"^v([1-9][0-9]{0,8}):([A-Za-z0-9+/]+={0,2})$")


class FieldDecryptionError(Exception):
    """A stored value could not be decrypted: wrong/retired key, tampering, or the wrong column."""


def version_prefix(version: int) -> str:
    return f"v{version}:"


def token_version(token: str) -> int:
    """The key version a stored token was encrypted under (raises on a malformed token)."""
    match = _TOKEN.match(token or "")
    if not match:
        raise FieldDecryptionError("The stored value is not an encrypted token (expected 'v<version>:<base64>').")
    return int(match.group(1))


def encrypt(plaintext: bytes, *, associated_data: bytes, provider: KeyProvider | None = None) -> str:
    version, key = (provider or get_key_provider()).encryption_key()
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(key).encrypt(nonce, plaintext, associated_data)
    return version_prefix(version) + base64.b64encode(nonce + sealed).decode("ascii")


def decrypt(token: str, *, associated_data: bytes, provider: KeyProvider | None = None) -> bytes:
    match = _TOKEN.match(token or "")
    if not match:
        raise FieldDecryptionError(
            f"The value stored for {associated_data.decode()} is not an encrypted token "
            "(was it written around the encrypted field?)."
        )
    version = int(match.group(1))
    try:
        key = (provider or get_key_provider()).decryption_key(version)
    except UnknownKeyVersion:
        raise FieldDecryptionError(
            f"No key version {version} is configured to decrypt {associated_data.decode()} "
            "(retired too early, or the key configuration is incomplete)."
        ) from None
    try:
        blob = base64.b64decode(match.group(2), validate=True)
    except (binascii.Error, ValueError):
        raise FieldDecryptionError(f"The token stored for {associated_data.decode()} is damaged.") from None
    if len(blob) < NONCE_BYTES + TAG_BYTES:
        raise FieldDecryptionError(f"The token stored for {associated_data.decode()} is truncated.")
    try:
        return AESGCM(key).decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], associated_data)
    except InvalidTag:
        raise FieldDecryptionError(
            f"Authentication failed decrypting {associated_data.decode()} with key version {version}: "
            "wrong key, tampered value, or a value copied from another column."
        ) from None

"""Signed checkpoints in the C2SP formats, pure (standard library + ``cryptography``, no Django).

Formats (https://c2sp.org/signed-note, /tlog-checkpoint, /tlog-cosignature):

- A **checkpoint** is a note whose body is three lines, the origin (the log's name, e.g.
  ``fintech.example/audit``), the tree size in decimal and the base64 root hash, followed by one
  extension line ``time <unix seconds>``, the moment the log signed it::

      fintech.example/audit
      1024
      kT0y...=
      time 1764720000

- A **signature line** follows the body after a blank line: ``— <name> <base64(key id || sig)>``
  (U+2014 EM DASH). The log signs with Ed25519 (signature type 0x01): the key id is the first four
  bytes of ``SHA-256(name || "\\n" || 0x01 || public key)`` and the signature is over the body.
  The log's key name is the origin.
- A **witness cosignature** is a line of the same shape by the witness's own name and key
  (type 0x04, tlog-cosignature/v1): its value is ``key id || timestamp (8 bytes, big-endian) ||
  Ed25519 signature`` over ``"cosignature/v1\\ntime <timestamp>\\n" || body``. A witness signs
  only a checkpoint whose log signature it checked and which is consistent with the last one it
  cosigned (``manage.py cosign_audit_checkpoint``).
- **Verifier keys** (the public keys an auditor trusts, one a line in the ``--keys`` file):
  ``<name>+<key id, 8 hex>+<base64(type || public key)>``. **Signer keys** (the witness's private
  key file): ``PRIVATE+KEY+<name>+<key id>+<base64(type || 32-byte seed)>``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

ED25519 = 0x01
COSIGNATURE_V1 = 0x04
DASH = "\u2014"


class NoteError(ValueError):
    """A malformed note, key or signature line (the message names what, never key material)."""


def public_bytes(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_id(name: str, alg: int, public: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([alg]) + public).digest()[:4]


def _check_name(name: str) -> None:
    if not name or any(c.isspace() or c == "+" for c in name):
        raise NoteError("a key name is non-empty, without spaces or '+'")


@dataclass(frozen=True)
class VerifierKey:
    name: str
    alg: int
    public: bytes

    @property
    def id(self) -> bytes:
        return key_id(self.name, self.alg, self.public)

    def encode(self) -> str:
        return f"{self.name}+{self.id.hex()}+{base64.b64encode(bytes([self.alg]) + self.public).decode()}"

    @classmethod
    def parse(cls, text: str) -> VerifierKey:
        try:
            name, hex_id, b64 = text.strip().split("+", 2)
            raw = base64.b64decode(b64, validate=True)
        except (ValueError, binascii.Error):
            raise NoteError("a verifier key is <name>+<key id>+<base64 key>") from None
        _check_name(name)
        if len(raw) != 33 or raw[0] not in (ED25519, COSIGNATURE_V1):
            raise NoteError(f"verifier key {name}: not an Ed25519 (0x01) or cosignature/v1 (0x04) key")
        key = cls(name, raw[0], raw[1:])
        if key.id.hex() != hex_id.lower():
            raise NoteError(f"verifier key {name}: the key id does not match the key")
        return key

    def verify(self, message: bytes, signature: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.public).verify(signature, message)
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True)
class SignerKey:
    name: str
    alg: int
    seed: bytes = field(repr=False)

    @property
    def private(self) -> Ed25519PrivateKey:
        return Ed25519PrivateKey.from_private_bytes(self.seed)

    @property
    def verifier(self) -> VerifierKey:
        return VerifierKey(self.name, self.alg, public_bytes(self.private))

    @classmethod
    def generate(cls, name: str, alg: int = ED25519) -> SignerKey:
        _check_name(name)
        from cryptography.hazmat.primitives.serialization import NoEncryption, PrivateFormat

        seed = Ed25519PrivateKey.generate().private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        return cls(name, alg, seed)

    def encode(self) -> str:
        encoded = base64.b64encode(bytes([self.alg]) + self.seed).decode()
        return f"PRIVATE+KEY+{self.name}+{self.verifier.id.hex()}+{encoded}"

    @classmethod
    def parse(cls, text: str) -> SignerKey:
        parts = text.strip().split("+", 4)
        if len(parts) != 5 or parts[:2] != ["PRIVATE", "KEY"]:
            raise NoteError("a signer key is PRIVATE+KEY+<name>+<key id>+<base64 seed>")
        try:
            raw = base64.b64decode(parts[4], validate=True)
        except binascii.Error:
            raise NoteError("a signer key's seed is base64") from None
        if len(raw) != 33 or raw[0] not in (ED25519, COSIGNATURE_V1):
            raise NoteError("a signer key holds a type byte and a 32-byte Ed25519 seed")
        key = cls(parts[2], raw[0], raw[1:])
        if key.verifier.id.hex() != parts[3].lower():
            raise NoteError("the signer key's id does not match its seed")
        return key

    def sign(self, message: bytes) -> bytes:
        return self.private.sign(message)


# --- Checkpoints --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes
    time: int  # Unix seconds when the log signed it

    def body(self) -> str:
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\ntime {self.time}\n"

    @classmethod
    def parse_body(cls, body: str) -> Checkpoint:
        lines = body.split("\n")
        if len(lines) < 4 or lines[-1] != "":
            raise NoteError("a checkpoint body is origin, size and root hash lines, each ending in a newline")
        origin, size_text, root_text, *extensions = lines[:-1]
        if not origin or not size_text.isdigit() or (size_text != "0" and size_text.startswith("0")):
            raise NoteError("a checkpoint names its origin and a decimal tree size")
        try:
            root = base64.b64decode(root_text, validate=True)
        except binascii.Error:
            raise NoteError("a checkpoint's root hash is base64") from None
        if len(root) != 32:
            raise NoteError("a checkpoint's root hash is 32 bytes")
        when = [line[5:] for line in extensions if line.startswith("time ")]
        if len(when) != 1 or not when[0].isdigit():
            raise NoteError("this log's checkpoints carry one 'time <unix seconds>' line")
        return cls(origin, int(size_text), root, int(when[0]))


@dataclass(frozen=True)
class Signature:
    name: str
    id: bytes
    value: bytes  # after the key id: the signature (0x01) or timestamp || signature (0x04)

    def line(self) -> str:
        return f"{DASH} {self.name} {base64.b64encode(self.id + self.value).decode()}\n"


@dataclass(frozen=True)
class SignedNote:
    body: str
    signatures: tuple[Signature, ...]

    def text(self) -> str:
        return self.body + "\n" + "".join(signature.line() for signature in self.signatures)

    @classmethod
    def parse(cls, text: str) -> SignedNote:
        body, separator, tail = text.rpartition("\n\n")
        if not separator:
            raise NoteError("a signed note is a body, a blank line and signature lines")
        signatures = []
        for line in tail.split("\n"):
            if not line:
                continue
            parts = line.split(" ")
            if len(parts) != 3 or parts[0] != DASH:
                raise NoteError("a signature line is '\u2014 <name> <base64>'")
            try:
                raw = base64.b64decode(parts[2], validate=True)
            except binascii.Error:
                raise NoteError("a signature is base64") from None
            if len(raw) < 5:
                raise NoteError("a signature is a key id and a signature")
            signatures.append(Signature(parts[1], raw[:4], raw[4:]))
        if not text.endswith("\n"):
            raise NoteError("a signed note ends with a newline")
        return cls(body + "\n", tuple(signatures))

    def with_signature(self, signature: Signature) -> SignedNote:
        kept = tuple(s for s in self.signatures if (s.name, s.id) != (signature.name, signature.id))
        return SignedNote(self.body, (*kept, signature))


def sign_checkpoint(checkpoint: Checkpoint, key: SignerKey) -> SignedNote:
    if key.alg != ED25519 or key.name != checkpoint.origin:
        raise NoteError("the log signs its checkpoints with an Ed25519 key named after its origin")
    body = checkpoint.body()
    return SignedNote(body, (Signature(key.name, key.verifier.id, key.sign(body.encode())),))


def _cosigned_message(body: str, timestamp: int) -> bytes:
    return f"cosignature/v1\ntime {timestamp}\n".encode() + body.encode()


def cosign(note: SignedNote, key: SignerKey, timestamp: int) -> SignedNote:
    if key.alg != COSIGNATURE_V1:
        raise NoteError("a witness cosigns with a cosignature/v1 key")
    value = struct.pack(">Q", timestamp) + key.sign(_cosigned_message(note.body, timestamp))
    return note.with_signature(Signature(key.name, key.verifier.id, value))


def signature_is_valid(note: SignedNote, signature: Signature, key: VerifierKey) -> bool:
    if signature.name != key.name or signature.id != key.id:
        return False
    if key.alg == ED25519:
        return len(signature.value) == 64 and key.verify(note.body.encode(), signature.value)
    if len(signature.value) != 72:
        return False
    (timestamp,) = struct.unpack(">Q", signature.value[:8])
    return key.verify(_cosigned_message(note.body, timestamp), signature.value[8:])


def verified_by(note: SignedNote, keys: list[VerifierKey], alg: int) -> list[VerifierKey]:
    """The keys of type ``alg`` whose valid signature the note carries."""
    found = []
    for key in keys:
        if key.alg == alg and any(signature_is_valid(note, signature, key) for signature in note.signatures):
            found.append(key)
    return found

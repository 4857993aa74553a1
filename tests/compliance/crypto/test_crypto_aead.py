"""AES-256-GCM tokens: format, associated-data binding, and loud failures."""

from __future__ import annotations

import base64
import re

import pytest

from compliance.crypto import aead
from compliance.crypto.aead import FieldDecryptionError
from compliance.crypto.keys import EnvKeyProvider, KeyRing
from tests.compliance.conftest import make_key_list

K1 = b"\x01" * 32
K2 = b"\x02" * 32
BI = b"\x03" * 32
AD = b"pi_testapp.subject.phone"


def provider(*pairs: tuple[int, bytes]) -> EnvKeyProvider:
    return EnvKeyProvider(field_keys=make_key_list(*pairs), blind_index_keys=make_key_list((1, BI)))


def test_token_is_version_prefixed_base64_of_nonce_ciphertext_and_tag():
    token = aead.encrypt(b"0825550142", associated_data=AD, provider=provider((2, K2), (1, K1)))
    assert re.fullmatch(r"v2:[A-Za-z0-9+/]+=*", token)
    blob = base64.b64decode(token[3:])
    assert len(blob) == aead.NONCE_BYTES + len(b"0825550142") + aead.TAG_BYTES
    assert aead.token_version(token) == 2
    assert aead.decrypt(token, associated_data=AD, provider=provider((2, K2), (1, K1))) == b"0825550142"


def test_each_encryption_uses_a_fresh_nonce():
    keys = provider((1, K1))
    tokens = {aead.encrypt(b"same", associated_data=AD, provider=keys) for _ in range(20)}
    assert len(tokens) == 20


def test_older_versions_decrypt_and_the_first_encrypts():
    old = aead.encrypt(b"old", associated_data=AD, provider=provider((1, K1)))
    both = provider((2, K2), (1, K1))
    assert aead.decrypt(old, associated_data=AD, provider=both) == b"old"
    assert aead.encrypt(b"new", associated_data=AD, provider=both).startswith("v2:")


def test_empty_plaintext_round_trips():
    keys = provider((1, K1))
    assert aead.decrypt(aead.encrypt(b"", associated_data=AD, provider=keys), associated_data=AD, provider=keys) == b""


def test_a_ciphertext_moved_to_another_column_does_not_decrypt():
    keys = provider((1, K1))
    token = aead.encrypt(b"0825550142", associated_data=AD, provider=keys)
    with pytest.raises(FieldDecryptionError, match=r"pi_testapp\.subject\.address"):
        aead.decrypt(token, associated_data=b"pi_testapp.subject.address", provider=keys)


def test_wrong_key_raises_and_never_returns_ciphertext_or_plaintext():
    token = aead.encrypt(b"SENTINEL-SECRET", associated_data=AD, provider=provider((1, K1)))
    with pytest.raises(FieldDecryptionError) as excinfo:
        aead.decrypt(token, associated_data=AD, provider=provider((1, K2)))
    assert "Authentication failed" in str(excinfo.value)
    assert "SENTINEL" not in str(excinfo.value)
    assert token not in str(excinfo.value)


def test_unknown_version_raises_a_clear_error():
    token = aead.encrypt(b"x", associated_data=AD, provider=provider((3, K1)))
    with pytest.raises(FieldDecryptionError, match="No key version 3"):
        aead.decrypt(token, associated_data=AD, provider=provider((1, K1)))


@pytest.mark.parametrize("damage", ["flip", "truncate", "garbage", "plain"])
def test_damaged_tokens_raise(damage):
    keys = provider((1, K1))
    token = aead.encrypt(b"value", associated_data=AD, provider=keys)
    if damage == "flip":
        blob = bytearray(base64.b64decode(token[3:]))
        blob[-1] ^= 1
        token = "v1:" + base64.b64encode(bytes(blob)).decode()
    elif damage == "truncate":
        token = "v1:" + base64.b64encode(base64.b64decode(token[3:])[:20]).decode()
    elif damage == "garbage":
        token = "v1:!!!not-base64!!!"
    else:
        token = "0825550142"
    with pytest.raises(FieldDecryptionError):
        aead.decrypt(token, associated_data=AD, provider=keys)


def test_reprs_never_show_key_material():
    keys = provider((2, K2), (1, K1))
    ring = keys.ring("field")
    for text in (repr(keys), repr(ring), str(ring)):
        assert base64.b64encode(K1).decode() not in text
        assert "\\x01" not in text and "\\x02" not in text
    assert repr(ring) == "KeyRing(purpose='field', active=2, versions=[1, 2])"
    assert isinstance(ring, KeyRing)

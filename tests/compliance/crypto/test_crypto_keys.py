"""Key providers: env parsing, the key-ring file, KMS envelope encryption (moto), prod refusal."""

from __future__ import annotations

import base64
import json
import stat

import boto3
import pytest
from django.core.exceptions import ImproperlyConfigured
from moto import mock_aws

from compliance.crypto import aead
from compliance.crypto.keys import (
    BLIND_INDEX,
    FIELD,
    EnvKeyProvider,
    FileKeyProvider,
    KeyProviderError,
    KmsKeyProvider,
    UnknownKeyVersion,
    parse_key_list,
    require_field_keys,
)
from tests.compliance.conftest import make_key_list
from tests.fintech.test_settings import GOOD_PROD_ENV, run_django

K1, K2 = b"\x11" * 32, b"\x22" * 32
AD = b"app.model.field"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "Set FIELD_ENCRYPTION_KEYS"),
        ("abc", "look like '3:base64key'"),
        ("x:" + base64.b64encode(K1).decode(), "look like"),
        ("1:not base64!", "not valid base64"),
        ("1:" + base64.b64encode(b"short").decode(), "32 bytes"),
        (make_key_list((1, K1), (1, K2)), "twice"),
        (make_key_list((0, K1)), "positive"),
    ],
)
def test_malformed_key_lists_are_refused_without_echoing_keys(text, message):
    with pytest.raises(ImproperlyConfigured, match=message) as excinfo:
        parse_key_list(text, FIELD)
    assert base64.b64encode(K1).decode() not in str(excinfo.value)


def test_env_provider_first_version_encrypts_all_decrypt():
    provider = EnvKeyProvider(field_keys=make_key_list((3, K2), (1, K1)), blind_index_keys=make_key_list((5, K1)))
    assert provider.encryption_key() == (3, K2)
    assert provider.decryption_key(1) == K1
    assert provider.versions(FIELD) == [3, 1]
    assert provider.blind_index_key() == (5, K1)
    with pytest.raises(UnknownKeyVersion):
        provider.decryption_key(2)
    with pytest.raises(KeyProviderError, match="redeploy"):
        provider.add_version(FIELD)
    with pytest.raises(KeyProviderError):
        provider.retire_version(FIELD, 1)


def test_file_provider_creates_a_private_ring_adds_and_retires_versions(tmp_path):
    path = tmp_path / "ring" / "keys.json"
    provider = FileKeyProvider(path, create=True)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.with_name("keys.json.lock").stat().st_mode) == 0o600
    assert provider.versions(FIELD) == [1] and provider.versions(BLIND_INDEX) == [1]
    old_token = aead.encrypt(b"value", associated_data=AD, provider=provider)

    # A second process holding the ring sees a version added by the first (reload on unknown version).
    other = FileKeyProvider(path)
    assert provider.add_version(FIELD) == 2
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    new_token = aead.encrypt(b"value", associated_data=AD, provider=provider)
    assert new_token.startswith("v2:")
    assert aead.decrypt(new_token, associated_data=AD, provider=other) == b"value"
    assert aead.decrypt(old_token, associated_data=AD, provider=provider) == b"value"

    with pytest.raises(KeyProviderError, match="active"):
        provider.retire_version(FIELD, 2)
    provider.retire_version(FIELD, 1)
    assert provider.versions(FIELD) == [2]
    with pytest.raises(aead.FieldDecryptionError, match="No key version 1"):
        aead.decrypt(old_token, associated_data=AD, provider=provider)
    # Retired numbers are never reused.
    assert provider.add_version(FIELD) == 3
    assert json.loads(path.read_text())["field"]["retired"] == [1]


def test_file_provider_picks_up_a_new_active_version_from_another_process(tmp_path, monkeypatch):
    path = tmp_path / "keys.json"
    web_process = FileKeyProvider(path, create=True)
    FileKeyProvider(path).add_version(FIELD)  # the rotation, elsewhere
    assert web_process.encryption_key()[0] == 1  # within the re-check delay: unchanged
    monkeypatch.setattr(FileKeyProvider, "RECHECK_SECONDS", 0.0)
    assert web_process.encryption_key()[0] == 2


def test_file_provider_refuses_a_missing_ring_unless_told_to_create(tmp_path):
    with pytest.raises(ImproperlyConfigured, match="does not exist"):
        FileKeyProvider(tmp_path / "absent.json")


@mock_aws
def test_kms_provider_stores_only_wrapped_data_keys(tmp_path):
    client = boto3.client("kms", region_name="af-south-1")
    key_id = client.create_key(Description="field keys")["KeyMetadata"]["KeyId"]
    path = tmp_path / "kms-ring.json"
    provider = KmsKeyProvider(path, kms_key_id=key_id, client=client, create=True)
    token = aead.encrypt(b"SENTINEL", associated_data=AD, provider=provider)
    _, key = provider.encryption_key()
    stored = json.loads(path.read_text())
    assert stored["provider"] == "kms" and stored["kms_key_id"] == key_id
    assert base64.b64encode(key).decode() not in path.read_text()
    assert len(base64.b64decode(stored["field"]["keys"]["1"])) > 32  # a KMS ciphertext blob, not a key

    # A fresh process unwraps the same data key through KMS Decrypt.
    again = KmsKeyProvider(path, kms_key_id=key_id, client=client)
    assert aead.decrypt(token, associated_data=AD, provider=again) == b"SENTINEL"
    assert again.add_version(FIELD) == 2
    assert aead.encrypt(b"x", associated_data=AD, provider=again).startswith("v2:")


@mock_aws
def test_kms_provider_fails_clearly_when_kms_refuses(tmp_path):
    client = boto3.client("kms", region_name="af-south-1")
    key_id = client.create_key()["KeyMetadata"]["KeyId"]
    other_key_id = client.create_key()["KeyMetadata"]["KeyId"]
    path = tmp_path / "kms-ring.json"
    KmsKeyProvider(path, kms_key_id=key_id, client=client, create=True)
    with pytest.raises(ImproperlyConfigured, match=r"KMS could not unwrap the field data key version 1 \(AccessDenied"):
        KmsKeyProvider(path, kms_key_id=other_key_id, client=client)

    # A wrapped key moved to another slot fails: the encryption context names purpose and version.
    ring = json.loads(path.read_text())
    ring["field"]["keys"]["1"], ring["blind_index"]["keys"]["1"] = (
        ring["blind_index"]["keys"]["1"],
        ring["field"]["keys"]["1"],
    )
    path.write_text(json.dumps(ring))
    with pytest.raises(ImproperlyConfigured, match="InvalidCiphertext"):
        KmsKeyProvider(path, kms_key_id=key_id, client=client)


def test_production_requires_complete_key_configuration(tmp_path):
    with pytest.raises(ImproperlyConfigured, match="FIELD_ENCRYPTION_KEYS"):
        require_field_keys({"PROVIDER": "env", "FIELD_ENCRYPTION_KEYS": "", "BLIND_INDEX_KEYS": ""})
    with pytest.raises(ImproperlyConfigured, match="never generates"):
        require_field_keys({"PROVIDER": "file", "KEY_RING_FILE": str(tmp_path / "k.json"), "CREATE_IF_MISSING": True})
    with pytest.raises(ImproperlyConfigured, match="FIELD_KEY_KMS_KEY_ID"):
        require_field_keys({"PROVIDER": "kms", "KEY_RING_FILE": str(tmp_path / "k.json")})


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"FIELD_ENCRYPTION_KEYS": ""}, "FIELD_ENCRYPTION_KEYS"),
        ({"BLIND_INDEX_KEYS": ""}, "BLIND_INDEX_KEYS"),
        ({"FIELD_ENCRYPTION_KEYS": "1:short"}, "FIELD_ENCRYPTION_KEYS version 1"),
    ],
)
def test_prod_profile_refuses_to_start_without_field_keys(override, message):
    result = run_django({**GOOD_PROD_ENV, **override})
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert message in result.stderr


def test_prod_profile_reads_keys_from_files(tmp_path):
    field_file = tmp_path / "field"
    field_file.write_text(GOOD_PROD_ENV["FIELD_ENCRYPTION_KEYS"])
    env = {k: v for k, v in GOOD_PROD_ENV.items() if k != "FIELD_ENCRYPTION_KEYS"}
    code = (
        "import django; django.setup();"
        "from compliance.crypto.keys import get_key_provider;"
        "print(get_key_provider().encryption_key()[0])"
    )
    result = run_django({**env, "FIELD_ENCRYPTION_KEYS_FILE": str(field_file)}, code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "1"

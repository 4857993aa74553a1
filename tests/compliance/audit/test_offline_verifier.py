"""The offline verifier, as an auditor runs it: a subprocess on the archive, no database, no Django.

The tamper suite alters, deletes, reorders, inserts and truncates archived records, and rewrites
the whole chain consistently in the database as a superuser would (every hash recomputed); each
case asserts the exact first bad position the verifier names. The last is invisible to the hash
chain and caught only by the signed checkpoints.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from compliance.audit.archive import export_segments
from compliance.audit.chain import GENESIS_HASH, compute_hash
from compliance.audit.merkle import canonical_bytes, chain_hash
from compliance.audit.note import ED25519, Checkpoint, SignerKey, sign_checkpoint
from compliance.audit.storage import LocalDirectoryStorage
from compliance.audit.verify import EXIT_FAILED, EXIT_NOT_COSIGNED, EXIT_OK, EXIT_USAGE
from compliance.models import AuditEvent
from tests.compliance.audit.conftest import grow_and_checkpoint, trusted_keys_file

pytestmark = pytest.mark.django_db

ROOT = Path(django_settings.BASE_DIR)


def run_verifier(archive: Path, keys: str, *extra: str) -> tuple[int, dict]:
    """``python -m compliance.audit.verify`` in a fresh interpreter with no Django settings."""
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "DATABASE_URL")}
    done = subprocess.run(
        [sys.executable, "-m", "compliance.audit.verify", str(archive), "--keys", keys, "--json", *extra],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    report = json.loads(done.stdout) if done.stdout.strip().startswith("{") else {"stderr": done.stderr}
    return done.returncode, report


@pytest.fixture
def archive(settings) -> Path:
    return Path(settings.AUDIT_ARCHIVE_DIR)


@pytest.fixture
def log_of_twelve(settings, archive, tmp_path) -> str:
    """12 sealed records, signed checkpoints at sizes 4, 8 and 12, all archived in one segment."""
    settings.AUDIT_ARCHIVE_SEGMENT_RECORDS = 100
    grow_and_checkpoint(4, 8, 12)
    export_segments(max_records=12)
    return trusted_keys_file(tmp_path / "trusted.vkeys")


def _segment(archive: Path) -> Path:
    (segment,) = sorted((archive / "segments").glob("*.jsonl"))
    return segment


def _rewrite_lines(archive: Path, edit) -> None:
    segment = _segment(archive)
    lines = segment.read_bytes().splitlines(keepends=True)
    segment.chmod(0o644)
    segment.write_bytes(b"".join(edit(lines)))


def test_the_verifier_imports_no_django():
    code = (
        "import sys, compliance.audit.verify as v; "
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('django', 'rest_framework', 'kernel', 'fintech')"
        " or m.startswith('compliance.') and m not in ('compliance.audit', 'compliance.audit.verify',"
        " 'compliance.audit.merkle', 'compliance.audit.note')); print(bad); sys.exit(1 if bad else 0)"
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_an_intact_archive_verifies(archive, log_of_twelve):
    code, report = run_verifier(archive, log_of_twelve)
    assert code == EXIT_OK, report
    assert report["ok"] and report["records"] == 12
    assert report["checkpoints"] == 3 and report["consistency_checks"] == 2
    assert report["latest_checkpoint"]["size"] == 12
    assert report["latest_checkpoint"]["cosigned_by"] == []


def test_exit_codes_for_unusable_input(archive, log_of_twelve, tmp_path):
    assert run_verifier(tmp_path / "nowhere", log_of_twelve)[0] == EXIT_USAGE
    (tmp_path / "empty.vkeys").write_text("")
    assert run_verifier(archive, str(tmp_path / "empty.vkeys"))[0] == EXIT_USAGE
    (tmp_path / "bad.vkeys").write_text("not a key\n")
    assert run_verifier(archive, str(tmp_path / "bad.vkeys"))[0] == EXIT_USAGE


def test_require_cosigned_exits_3_until_a_trusted_witness_cosigns(archive, log_of_twelve, tmp_path):
    from django.core.management import call_command

    assert run_verifier(archive, log_of_twelve, "--require-cosigned")[0] == EXIT_NOT_COSIGNED
    key_file, state = tmp_path / "w.key", tmp_path / "w.state"
    call_command("cosign_audit_checkpoint", "--generate-key", "io.example/witness", "--key", str(key_file))
    call_command("cosign_audit_checkpoint", "--key", str(key_file), "--log-key", log_of_twelve, "--state", str(state))
    # The witness is trusted only once the auditor lists its key.
    assert run_verifier(archive, log_of_twelve, "--require-cosigned")[0] == EXIT_NOT_COSIGNED
    witness = SignerKey.parse(key_file.read_text())
    keys = trusted_keys_file(tmp_path / "with-witness.vkeys", witness.verifier)
    code, report = run_verifier(archive, keys, "--require-cosigned")
    assert code == EXIT_OK, report
    assert report["latest_checkpoint"]["cosigned_by"] == ["io.example/witness"]


# --- The tamper suite ------------------------------------------------------------------------------
def _alter(lines):
    record = json.loads(lines[5])  # seq 6
    record["object_id"] = "t-999"
    lines[5] = canonical_bytes(record) + b"\n"
    return lines


def _delete(lines):
    del lines[5]  # seq 6
    return lines


def _reorder(lines):
    lines[5], lines[6] = lines[6], lines[5]  # seq 6 and 7 swap places
    return lines


def _insert(lines):
    # A forged record after seq 5, well formed and linked to seq 5; the rest renumbered after it.
    previous = json.loads(lines[4])
    forged = {k: v for k, v in json.loads(lines[5]).items() if k not in ("hash", "prev_hash")}
    forged["object_id"] = "forged"
    forged["id"] = 10_000
    digest = chain_hash(forged, previous["hash"])
    forged_line = canonical_bytes(forged | {"prev_hash": previous["hash"], "hash": digest}) + b"\n"
    renumbered = []
    for line in lines[5:]:
        record = json.loads(line)
        record["seq"] += 1
        renumbered.append(canonical_bytes(record) + b"\n")
    return [*lines[:5], forged_line, *renumbered]


def _truncate(lines):
    return lines[:10]  # seq 11 and 12 gone


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [
        (_alter, (6, None, "record content does not match its hash")),
        (_delete, (6, None, "record seq 6 is missing or out of place (found seq 7)")),
        (_reorder, (6, None, "record seq 6 is missing or out of place (found seq 7)")),
        # The forged record links correctly to seq 5; the first link that breaks is the next one.
        (_insert, (7, None, "prev_hash does not match the previous record's hash")),
        (_truncate, (11, 12, "records 11..12 are missing: a checkpoint of size 12 was signed")),
    ],
    ids=["alter", "delete", "reorder", "insert", "truncate-tail"],
)
def test_tampered_segments_are_named_at_their_first_bad_position(archive, log_of_twelve, tamper, expected):
    _rewrite_lines(archive, tamper)
    code, report = run_verifier(archive, log_of_twelve)
    assert code == EXIT_FAILED
    failure = report["failure"]
    assert (failure["seq"], failure["checkpoint_size"], failure["reason"]) == expected


def _values(event: AuditEvent) -> dict:
    return {field.attname: getattr(event, field.attname) for field in event._meta.fields}


def _rewrite_consistently_from(seq: int, behind_the_triggers) -> None:
    """As a database superuser: change a record, then recompute every hash after it."""
    behind_the_triggers("UPDATE compliance_auditevent SET object_id = 't-999' WHERE seq = %s", [seq])
    prev = AuditEvent.objects.get(seq=seq - 1).hash if seq > 1 else GENESIS_HASH
    for event in AuditEvent.objects.filter(seq__gte=seq).order_by("seq"):
        digest = compute_hash(_values(event), prev)
        behind_the_triggers(
            "UPDATE compliance_auditevent SET prev_hash = %s, hash = %s WHERE seq = %s", [prev, digest, event.seq]
        )
        prev = digest


def test_a_chain_rewritten_consistently_is_caught_by_the_signed_checkpoints(
    archive, log_of_twelve, behind_the_triggers, tmp_path
):
    _rewrite_consistently_from(6, behind_the_triggers)
    # Every link of the hash chain holds: that is the attack.
    prev = GENESIS_HASH
    for event in AuditEvent.objects.filter(seq__isnull=False).order_by("seq"):
        assert (event.prev_hash, event.hash) == (prev, compute_hash(_values(event), prev))
        prev = event.hash
    # The superuser exports the rewritten chain; the auditor holds the published checkpoints.
    forged = tmp_path / "forged-archive"
    export_segments(storage=LocalDirectoryStorage(forged), max_records=12)
    shutil.copytree(archive / "checkpoints", forged / "checkpoints")
    code, report = run_verifier(forged, log_of_twelve)
    assert code == EXIT_FAILED
    # Records 1..4 still re-derive checkpoint 4; checkpoint 8 is the first the rewrite breaks.
    assert report["failure"]["seq"] == 5
    assert report["failure"]["checkpoint_size"] == 8
    assert "do not re-derive the signed root" in report["failure"]["reason"]


def test_a_rewriter_who_re_signs_with_their_own_key_is_not_trusted(
    archive, log_of_twelve, behind_the_triggers, tmp_path
):
    _rewrite_consistently_from(6, behind_the_triggers)
    forged = tmp_path / "forged-archive"
    export_segments(storage=LocalDirectoryStorage(forged), max_records=12)
    from compliance.audit import merkle

    hashes = [
        bytes.fromhex(h) for h in AuditEvent.objects.order_by("seq").filter(seq__lte=12).values_list("hash", flat=True)
    ]
    their_key = SignerKey.generate(django_settings.AUDIT_LOG_ORIGIN, ED25519)
    note = sign_checkpoint(Checkpoint(django_settings.AUDIT_LOG_ORIGIN, 12, merkle.root_of(hashes), 1), their_key)
    (forged / "checkpoints").mkdir()
    (forged / "checkpoints" / "000000000012-1.note").write_text(note.text())
    code, report = run_verifier(forged, log_of_twelve)
    assert code == EXIT_FAILED
    assert report["failure"]["checkpoint_size"] == 12
    assert report["failure"]["reason"] == "checkpoint not signed by a trusted log key"


def test_two_signed_checkpoints_of_one_size_that_disagree_are_equivocation(archive, log_of_twelve):
    from compliance.audit.transparency import signing_key

    forked = sign_checkpoint(Checkpoint(django_settings.AUDIT_LOG_ORIGIN, 8, b"\x01" * 32, 2), signing_key())
    (archive / "checkpoints" / "000000000008-2.note").write_text(forked.text())
    code, report = run_verifier(archive, log_of_twelve)
    assert code == EXIT_FAILED
    assert report["failure"]["checkpoint_size"] == 8
    assert "equivocation" in report["failure"]["reason"]


def test_checkpoints_newer_than_the_archive_are_checked_by_their_consistency_proofs(archive, log_of_twelve):
    grow_and_checkpoint(15)
    assert run_verifier(archive, log_of_twelve)[1]["failure"]["seq"] == 13  # strict: records missing
    code, report = run_verifier(archive, log_of_twelve, "--partial")
    assert code == EXIT_OK, report
    assert report["unarchived_checkpoints"] == 1 and report["consistency_checks"] == 3
    # A forged proof for the unarchived checkpoint is a failure even with --partial.
    # (export_segments audited itself, so the tree is one record larger than asked: the newest proof)
    sidecar = max((archive / "checkpoints").glob("*.consistency.json"))
    data = json.loads(sidecar.read_text())
    data["proof"] = list(reversed(data["proof"]))
    sidecar.chmod(0o644)
    sidecar.write_text(json.dumps(data))
    code, report = run_verifier(archive, log_of_twelve, "--partial")
    assert code == EXIT_FAILED and report["failure"]["checkpoint_size"] == json.loads(sidecar.read_text())["to_size"]


# --- Through the API -------------------------------------------------------------------------------
def test_an_inclusion_proof_fetched_through_the_api_verifies_offline(
    archive, log_of_twelve, auditor, api_client, tmp_path
):
    event = AuditEvent.objects.get(seq=7)
    api_client.force_authenticate(auditor)
    response = api_client.get(f"/api/v1/audit/events/{event.pk}/proof/")
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["seq"], body["tree_size"]) == (7, 12)
    proof = tmp_path / "proof.json"
    proof.write_text(json.dumps(body))
    code, report = run_verifier(archive, log_of_twelve, "--proof", str(proof))
    assert code == EXIT_OK, report
    assert report["proofs"] == 1
    # Against the older checkpoint of size 8 too.
    response = api_client.get(f"/api/v1/audit/events/{event.pk}/proof/", {"size": 8})
    proof.write_text(json.dumps(response.json()))
    assert run_verifier(archive, log_of_twelve, "--proof", str(proof))[0] == EXIT_OK
    # A proof for another record's hash does not verify.
    forged = response.json() | {"record_hash": AuditEvent.objects.get(seq=6).hash}
    proof.write_text(json.dumps(forged))
    code, report = run_verifier(archive, log_of_twelve, "--proof", str(proof))
    assert code == EXIT_FAILED and report["failure"]["seq"] == 7


def test_the_hourly_verification_also_catches_the_consistent_rewrite(log_of_twelve, behind_the_triggers):
    from compliance.audit.chain import verify_and_alert

    assert verify_and_alert().ok
    _rewrite_consistently_from(6, behind_the_triggers)
    result = verify_and_alert()
    assert (result.ok, result.first_broken_seq) == (False, 5)
    assert "signed checkpoint of size 8 differs" in result.reason

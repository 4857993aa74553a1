"""The offline verifier an auditor runs on their own machine: no database, no Django.

    python -m compliance.audit.verify <archive dir> --keys <trusted keys file> [--proof p.json ...]
                                      [--partial] [--strict] [--require-cosigned] [--json]

It imports only the standard library, ``cryptography`` and the two pure modules beside it
(``merkle``, ``note``); ``tests/compliance/audit/test_offline_verifier.py`` runs it in a fresh
interpreter and checks that no Django module was imported. Copy these three files anywhere.

What it checks, in order, stopping at the first failure (which it names):
1. every checkpoint note in ``checkpoints/`` carries a valid signature by a trusted log key (one
   ``0x01`` key in ``--keys`` whose name is the checkpoint's origin), and no two signed
   checkpoints of the same size disagree on the root (equivocation);
2. every archived record, in ``seq`` order across ``segments/*.jsonl``: no seq missing, repeated
   or out of order, its ``prev_hash`` is the previous record's hash, and its hash re-derives from
   its content (``SHA-256(canonical JSON || prev_hash)``); position = that record's seq;
3. the RFC 9162 root re-derived from the archived records equals each signed checkpoint's root at
   its size (this is what catches a chain rewritten consistently from end to end: the rewriter
   cannot sign); position = the first seq after the last checkpoint that still matched;
4. consecutive checkpoints are consistent: the published consistency proof
   (``*.consistency.json``) verifies against both signed roots (for checkpoints beyond the
   archived records this is the only evidence; within them the re-derived roots are too);
5. the archived records reach the latest checkpoint (a truncated tail is named by its first
   missing seq) unless ``--partial`` (checkpoints newer than the last exported segment: checked by
   their consistency proofs only);
6. each ``--proof`` (an inclusion proof as the API answers it) verifies against its signed
   checkpoint and names the archived record's hash.
It then reports whether the latest checkpoint is cosigned by a trusted witness (``0x04`` keys).

Exit codes: 0 verified; 1 a verification failure (the first is named: seq or checkpoint size);
2 unusable input (no such directory, no trusted log key, an unreadable keys or proof file);
3 verified, but ``--require-cosigned`` and the latest checkpoint has no trusted witness cosignature.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import itertools
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

try:  # run as ``python -m compliance.audit.verify`` or as a script copied beside merkle.py/note.py
    from compliance.audit import merkle, note
except ImportError:  # pragma: no cover - the standalone copy
    import merkle  # type: ignore[no-redef]
    import note  # type: ignore[no-redef]

GENESIS_HASH = "0" * 64
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_NOT_COSIGNED = 0, 1, 2, 3


class UsageError(Exception):
    pass


@dataclass
class Failure:
    reason: str
    seq: int | None = None  # the first bad record position
    checkpoint_size: int | None = None  # the checkpoint that exposed it
    where: str = ""  # a file, when the failure is in one

    def as_dict(self) -> dict[str, Any]:
        return {"reason": self.reason, "seq": self.seq, "checkpoint_size": self.checkpoint_size, "where": self.where}

    def message(self) -> str:
        position = []
        if self.seq is not None:
            position.append(f"seq {self.seq}")
        if self.checkpoint_size is not None:
            position.append(f"checkpoint size {self.checkpoint_size}")
        if self.where:
            position.append(self.where)
        return f"FAILED at {', '.join(position) or 'input'}: {self.reason}"


@dataclass
class PublishedCheckpoint:
    checkpoint: note.Checkpoint
    note: note.SignedNote
    files: list[str]
    cosigners: set[str] = field(default_factory=set)


@dataclass
class Report:
    ok: bool = True
    failure: Failure | None = None
    records: int = 0
    checkpoints: int = 0
    consistency_checks: int = 0
    proofs: int = 0
    latest_size: int | None = None
    latest_root: str | None = None
    latest_cosigned_by: list[str] = field(default_factory=list)
    unarchived_checkpoints: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "failure": self.failure.as_dict() if self.failure else None,
            "records": self.records,
            "checkpoints": self.checkpoints,
            "consistency_checks": self.consistency_checks,
            "proofs": self.proofs,
            "latest_checkpoint": {
                "size": self.latest_size,
                "root": self.latest_root,
                "cosigned_by": self.latest_cosigned_by,
            },
            "unarchived_checkpoints": self.unarchived_checkpoints,
        }


class Failed(Exception):
    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.reason)
        self.failure = failure


# --- Inputs -------------------------------------------------------------------------------------
def load_keys(path: Path) -> list[note.VerifierKey]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        raise UsageError(f"cannot read the keys file {path}") from None
    keys = []
    for number, line in enumerate(lines, 1):
        if line.strip() and not line.lstrip().startswith("#"):
            try:
                keys.append(note.VerifierKey.parse(line))
            except note.NoteError as exc:
                raise UsageError(f"{path}:{number}: {exc}") from None
    if not any(key.alg == note.ED25519 for key in keys):
        raise UsageError(f"{path} holds no log key (an Ed25519 0x01 verifier key)")
    return keys


def load_checkpoints(root: Path, keys: list[note.VerifierKey]) -> list[PublishedCheckpoint]:
    """Every signed checkpoint, one per distinct body, sorted by size then time."""
    log_keys = [key for key in keys if key.alg == note.ED25519]
    witness_keys = [key for key in keys if key.alg == note.COSIGNATURE_V1]
    by_body: dict[str, PublishedCheckpoint] = {}
    for path in sorted((root / "checkpoints").glob("*.note")):
        name = str(path.relative_to(root))
        try:
            signed = note.SignedNote.parse(path.read_text(encoding="utf-8"))
            checkpoint = note.Checkpoint.parse_body(signed.body)
        except (note.NoteError, UnicodeDecodeError) as exc:
            raise Failed(Failure(f"malformed checkpoint note ({exc})", where=name)) from None
        trusted = [key for key in log_keys if key.name == checkpoint.origin]
        if not note.verified_by(signed, trusted, note.ED25519):
            raise Failed(
                Failure("checkpoint not signed by a trusted log key", checkpoint_size=checkpoint.size, where=name)
            )
        entry = by_body.setdefault(signed.body, PublishedCheckpoint(checkpoint, signed, []))
        entry.files.append(name)
        entry.cosigners.update(key.name for key in note.verified_by(signed, witness_keys, note.COSIGNATURE_V1))
    ordered = sorted(by_body.values(), key=lambda e: (e.checkpoint.size, e.checkpoint.time))
    for before, after in itertools.pairwise(ordered):
        if before.checkpoint.size == after.checkpoint.size and before.checkpoint.root != after.checkpoint.root:
            raise Failed(
                Failure(
                    "two signed checkpoints of the same size disagree (equivocation)",
                    checkpoint_size=after.checkpoint.size,
                    where=after.files[0],
                )
            )
    return ordered


def load_consistency(root: Path) -> dict[tuple[int, int], list[bytes]]:
    proofs: dict[tuple[int, int], list[bytes]] = {}
    for path in sorted((root / "checkpoints").glob("*.consistency.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            proofs[(int(data["from_size"]), int(data["to_size"]))] = [base64.b64decode(h) for h in data["proof"]]
        except (ValueError, KeyError, TypeError):
            raise Failed(Failure("malformed consistency proof", where=str(path.relative_to(root)))) from None
    return proofs


def _segment_files(root: Path) -> list[Path]:
    # Names are <first seq, 12 digits>-<last seq>.jsonl: name order is seq order.
    return sorted((root / "segments").glob("*.jsonl"))


# --- The walk -----------------------------------------------------------------------------------
def verify_archive(
    root: Path,
    keys: list[note.VerifierKey],
    *,
    proofs: Sequence[Path] = (),
    partial: bool = False,
    strict: bool = False,
) -> Report:
    report = Report()
    try:
        _verify(root, keys, list(proofs), report, partial=partial, strict=strict)
    except Failed as failed:
        report.ok = False
        report.failure = failed.failure
    return report


def _verify(
    root: Path, keys: list[note.VerifierKey], proofs: list[Path], report: Report, *, partial: bool, strict: bool
) -> None:
    checkpoints = load_checkpoints(root, keys)
    consistency = load_consistency(root)
    report.checkpoints = len(checkpoints)
    sizes: dict[int, PublishedCheckpoint] = {}
    for entry in checkpoints:
        sizes.setdefault(entry.checkpoint.size, entry)
    wanted = _wanted_record_hashes(proofs)

    tree, record_hashes = _walk_records(root, sizes, wanted, strict=strict)
    report.records = tree.size
    _check_consistency(checkpoints, consistency, tree.size, report)
    beyond = [entry for entry in checkpoints if entry.checkpoint.size > tree.size]
    report.unarchived_checkpoints = len(beyond)
    if beyond and not partial:
        latest = beyond[-1].checkpoint.size
        raise Failed(
            Failure(
                f"records {tree.size + 1}..{latest} are missing: a checkpoint of size {latest} was signed",
                seq=tree.size + 1,
                checkpoint_size=latest,
                where=beyond[-1].files[0],
            )
        )
    for path in proofs:
        _check_inclusion_proof(path, keys, sizes, record_hashes)
        report.proofs += 1
    if checkpoints:
        latest_entry = checkpoints[-1]
        report.latest_size = latest_entry.checkpoint.size
        report.latest_root = base64.b64encode(latest_entry.checkpoint.root).decode()
        report.latest_cosigned_by = sorted(latest_entry.cosigners)


def split_line(line: bytes, *, strict: bool = False) -> tuple[int, str, str, bytes]:
    """(seq, prev_hash, hash, the record's canonical bytes) of an archived line; ValueError if malformed.

    A line is the canonical JSON of the record plus its two links (sorted keys, no whitespace),
    so the canonical bytes the chain hash covers are the line minus ``,"hash":"…"`` and
    ``,"prev_hash":"…"``. Keys sort as ``…change_diff, hash, id, …, prev_hash, request_id,
    sealed_at, seq, …``: the last occurrence of each is the top-level one (a nested key comes
    earlier, inside ``change_diff``; a string value cannot hold an unescaped quote). Cutting bytes
    instead of re-serialising is what makes verification fast; ``strict`` also parses the line
    and checks that it is canonical JSON whose fields are the ones cut.
    """
    body = line.rstrip(b"\n")
    i, j, k = body.rfind(b',"prev_hash":"'), body.rfind(b',"hash":"'), body.rfind(b',"seq":')
    if not (0 < j < i < k) or body[:1] != b"{" or body[-1:] != b"}" or body[i + 78 : i + 79] != b'"':
        raise ValueError("not an archived record line")
    if body[j + 73 : j + 74] != b'"':
        raise ValueError("not an archived record line")
    prev, digest = body[i + 14 : i + 78].decode("ascii"), body[j + 9 : j + 73].decode("ascii")
    bytes.fromhex(prev + digest)  # both hex, or ValueError
    end = body.find(b",", k + 7)
    seq = int(body[k + 7 : end if end > 0 else len(body) - 1])
    content = body[:j] + body[j + 74 : i] + body[i + 79 :]
    if strict:
        record = json.loads(body)
        links = (record.get("seq"), record.pop("prev_hash", None), record.pop("hash", None))
        if links != (seq, prev, digest) or merkle.canonical_bytes(record) != content:
            raise ValueError("not canonical JSON")
    return seq, prev, digest, content


def _check_line(line: bytes, expected: int, prev: str, *, strict: bool, where: str) -> tuple[int, str]:
    """Step 2 for one line, by the book: (seq, hash) or the Failed that names it."""
    try:
        seq, stored_prev, stored_hash, content = split_line(line, strict=strict)
    except ValueError:
        raise Failed(Failure("unreadable record line", seq=expected, where=where)) from None
    if seq != expected:
        # A removed record and a record moved later look alike here: name the position.
        if seq > expected:
            reason = f"record seq {expected} is missing or out of place (found seq {seq})"
        else:
            reason = f"record seq {seq} is repeated or out of place (expected seq {expected})"
        raise Failed(Failure(reason, seq=expected, where=where))
    if stored_prev != prev:
        raise Failed(Failure("prev_hash does not match the previous record's hash", seq=seq, where=where))
    digest = hashlib.sha256(content + prev.encode("ascii")).hexdigest()
    if digest != stored_hash:
        raise Failed(Failure("record content does not match its hash", seq=seq, where=where))
    return seq, digest


def _walk_records(
    root: Path, sizes: dict[int, PublishedCheckpoint], wanted: set[int], *, strict: bool = False
) -> tuple[merkle.CompactRange, dict[int, str]]:
    """Steps 2 and 3: the chain of every archived record, and the re-derived root at each checkpoint.

    The inner loop takes a line that is exactly what a sound archive holds (its links where
    ``split_line`` finds them, its seq the expected one in plain digits, its prev_hash the previous
    hash) straight to the hash check, comparing bytes; any other line goes through ``_check_line``,
    so what is reported, and in which order, is the same as checking every line by the book.
    """
    record_hashes: dict[int, str] = {}
    tree = merkle.CompactRange()
    push = tree.push
    sha256 = hashlib.sha256
    expected, prev = 1, GENESIS_HASH.encode("ascii")
    last_good = 0  # the largest checkpoint size whose root the archive re-derived
    for path in _segment_files(root):
        where = str(path.relative_to(root))
        with path.open("rb") as handle:
            for line in handle:
                body = line[:-1] if line[-1:] == b"\n" else line
                i, j, k = body.rfind(b',"prev_hash":"'), body.rfind(b',"hash":"'), body.rfind(b',"seq":')
                stored_hash = body[j + 9 : j + 73]
                end = body.find(b",", k + 7)
                digest = b""
                if (
                    not strict
                    and 0 < j < i < k
                    and body[i + 14 : i + 78] == prev
                    and body[i + 78 : i + 79] == b'"'
                    and body[j + 73 : j + 74] == b'"'
                    and body[:1] == b"{"
                    and body[-1:] == b"}"
                    and body[k + 7 : end if end > 0 else len(body) - 1] == b"%d" % expected
                ):
                    digest = sha256(body[:j] + body[j + 74 : i] + body[i + 79 :] + prev).digest()
                if digest and digest.hex().encode("ascii") == stored_hash:
                    seq = expected
                else:
                    seq, hex_digest = _check_line(line, expected, prev.decode("ascii"), strict=strict, where=where)
                    stored_hash, digest = hex_digest.encode("ascii"), bytes.fromhex(hex_digest)
                push(digest)
                if seq in wanted:
                    record_hashes[seq] = stored_hash.decode("ascii")
                entry = sizes.get(seq)
                if entry is not None:
                    if tree.root() != entry.checkpoint.root:
                        raise Failed(
                            Failure(
                                f"the records {last_good + 1}..{seq} do not re-derive the signed root: "
                                "rewritten after the last matching checkpoint",
                                seq=last_good + 1,
                                checkpoint_size=seq,
                                where=entry.files[0],
                            )
                        )
                    last_good = seq
                prev = stored_hash
                expected += 1
    return tree, record_hashes


def _check_consistency(
    checkpoints: list[PublishedCheckpoint], proofs: dict[tuple[int, int], list[bytes]], archived: int, report: Report
) -> None:
    for before, after in itertools.pairwise(checkpoints):
        first, second = before.checkpoint.size, after.checkpoint.size
        if first in (second, 0):
            continue
        proof = proofs.get((first, second))
        if proof is None:
            if second <= archived:
                report.consistency_checks += 1  # both roots re-derived from the same records
                continue
            raise Failed(
                Failure(
                    f"no consistency proof from size {first} to the unarchived checkpoint",
                    checkpoint_size=second,
                    where=after.files[0],
                )
            )
        if not merkle.verify_consistency(first, second, before.checkpoint.root, after.checkpoint.root, proof):
            raise Failed(
                Failure(
                    f"the checkpoint is not consistent with the checkpoint of size {first} (a forked history)",
                    seq=first + 1,
                    checkpoint_size=second,
                    where=after.files[0],
                )
            )
        report.consistency_checks += 1


def _wanted_record_hashes(proofs: list[Path]) -> set[int]:
    wanted = set()
    for path in proofs:
        data = _read_proof(path)
        wanted.add(int(data["seq"]))
    return wanted


def _read_proof(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        int(data["seq"]), int(data["tree_size"]), str(data["record_hash"]), list(data["proof"]), str(data["checkpoint"])
    except (OSError, ValueError, KeyError, TypeError):
        raise UsageError(f"{path} is not an inclusion proof as the API answers it") from None
    return data


def _check_inclusion_proof(
    path: Path, keys: list[note.VerifierKey], sizes: dict[int, PublishedCheckpoint], record_hashes: dict[int, str]
) -> None:
    data = _read_proof(path)
    seq, size, where = int(data["seq"]), int(data["tree_size"]), str(path)
    try:
        signed = note.SignedNote.parse(data["checkpoint"])
        checkpoint = note.Checkpoint.parse_body(signed.body)
        proof = [base64.b64decode(h, validate=True) for h in data["proof"]]
        record_hash = bytes.fromhex(data["record_hash"])
    except (note.NoteError, ValueError):
        raise Failed(Failure("malformed inclusion proof", seq=seq, where=where)) from None
    trusted = [key for key in keys if key.alg == note.ED25519 and key.name == checkpoint.origin]
    if not note.verified_by(signed, trusted, note.ED25519):
        raise Failed(Failure("the proof's checkpoint is not signed by a trusted log key", seq=seq, where=where))
    if checkpoint.size != size:
        raise Failed(Failure("the proof's tree size is not its checkpoint's", seq=seq, where=where))
    published = sizes.get(size)
    if published is not None and published.checkpoint.root != checkpoint.root:
        raise Failed(
            Failure(
                "the proof's checkpoint disagrees with the archived one", seq=seq, checkpoint_size=size, where=where
            )
        )
    if not merkle.verify_inclusion(seq - 1, size, merkle.leaf_hash(record_hash), proof, checkpoint.root):
        raise Failed(
            Failure("the inclusion proof does not lead to the signed root", seq=seq, checkpoint_size=size, where=where)
        )
    archived = record_hashes.get(seq)
    if archived is not None and archived != data["record_hash"]:
        raise Failed(Failure("the proven record is not the archived record", seq=seq, where=where))


# --- Command line -------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m compliance.audit.verify",
        description="Verify an audit archive offline: records, Merkle roots, signed and cosigned checkpoints.",
        epilog="Exit codes: 0 verified; 1 verification failed (first failure named); 2 unusable input; "
        "3 verified but the latest checkpoint is not cosigned (--require-cosigned).",
    )
    parser.add_argument("archive", type=Path, help="the archive directory (segments/, checkpoints/)")
    parser.add_argument("--keys", type=Path, required=True, help="trusted verifier keys, one a line")
    parser.add_argument("--proof", type=Path, action="append", default=[], help="an inclusion proof (API JSON)")
    parser.add_argument("--partial", action="store_true", help="checkpoints may be newer than the last archived record")
    parser.add_argument("--strict", action="store_true", help="also check every line is canonical JSON (slower)")
    parser.add_argument("--require-cosigned", action="store_true", help="exit 3 unless a witness cosigned the latest")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    try:
        if not (args.archive / "segments").is_dir() and not (args.archive / "checkpoints").is_dir():
            raise UsageError(f"{args.archive} holds no segments/ or checkpoints/ directory")
        keys = load_keys(args.keys)
        report = verify_archive(args.archive, keys, proofs=args.proof, partial=args.partial, strict=args.strict)
    except UsageError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return EXIT_USAGE
    if args.json:
        sys.stdout.write(json.dumps(report.as_dict(), indent=1, sort_keys=True) + "\n")
    elif report.failure:
        sys.stdout.write(report.failure.message() + "\n")
    else:
        cosigned = ", ".join(report.latest_cosigned_by) or "NOT cosigned by a trusted witness"
        sys.stdout.write(
            f"verified: {report.records} records, {report.checkpoints} signed checkpoints, "
            f"{report.consistency_checks} consistency checks, {report.proofs} inclusion proofs; "
            f"latest checkpoint size {report.latest_size}: {cosigned}\n"
        )
    if not report.ok:
        return EXIT_FAILED
    if args.require_cosigned and not report.latest_cosigned_by:
        return EXIT_NOT_COSIGNED
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())

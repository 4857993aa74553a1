"""A witness cosigns the latest audit checkpoint (C2SP tlog-cosignature/v1; docs/adr/0006).

The witness key is held by someone other than the platform's operators (the Information Officer,
or another account): it is read from a file the witness brings, never from the key provider. The
witness also brings its own copy of the log's public key and keeps its own state file (the last
size and root it cosigned), so a database that was rewritten, rolled back or forked cannot get a
cosignature.

    manage.py cosign_audit_checkpoint --generate-key io.example/witness --key witness.key
    manage.py cosign_audit_checkpoint --key witness.key --log-key log.vkeys --state witness.state
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from compliance.audit.note import COSIGNATURE_V1, NoteError, SignerKey, VerifierKey
from compliance.audit.transparency import CosignRefused, cosign_latest


class Command(BaseCommand):
    help = "Cosign the latest audit checkpoint as an independent witness (or generate a witness key)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--key", type=Path, required=True, help="The witness's private key file (PRIVATE+KEY+...).")
        parser.add_argument("--generate-key", metavar="NAME", help="Create a new witness key named NAME at --key.")
        parser.add_argument("--log-key", type=Path, help="The log's verifier keys, as the witness holds them.")
        parser.add_argument("--state", type=Path, help="The witness's state file (last cosigned size and root).")

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["key"]
        if options["generate_key"]:
            self._generate(path, options["generate_key"])
            return
        if not options["log_key"] or not options["state"]:
            raise CommandError("Cosigning needs --log-key and --state.")
        try:
            witness = SignerKey.parse(path.read_text(encoding="utf-8"))
            log_keys = [
                VerifierKey.parse(line)
                for line in options["log_key"].read_text(encoding="utf-8").splitlines()
                if line.strip()
            ]
        except OSError as exc:
            raise CommandError(f"Cannot read a key file ({exc.strerror}).") from None
        except NoteError as exc:
            raise CommandError(str(exc)) from None
        if witness.alg != COSIGNATURE_V1:
            raise CommandError("The witness key must be a cosignature/v1 key (generate one with --generate-key).")
        try:
            cosignature = cosign_latest(witness_key=witness, log_keys=log_keys, state_path=options["state"])
        except CosignRefused as exc:
            raise CommandError(f"Refused: {exc.message}") from None
        checkpoint = cosignature.checkpoint
        self.stdout.write(f"cosigned checkpoint size {checkpoint.size} as {witness.name}")

    def _generate(self, path: Path, name: str) -> None:
        if path.exists():
            raise CommandError(f"{path} exists: a witness key is never overwritten.")
        try:
            key = SignerKey.generate(name, COSIGNATURE_V1)
        except NoteError as exc:
            raise CommandError(str(exc)) from None
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(key.encode() + "\n")
        self.stdout.write("witness key written; give auditors this verifier key:\n" + key.verifier.encode())

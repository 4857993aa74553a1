"""Print the audit log's checkpoint verifier keys (C2SP vkey lines) for auditors and witnesses.

Every key version still in the key provider's ``audit_signing`` ring is listed (old versions keep
verifying the checkpoints they signed). Auditors should get these lines out of band (not only
from the archive's ``keys/log.vkeys``) and pass them to ``python -m compliance.audit.verify --keys``.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from compliance.audit.transparency import log_verifier_keys
from compliance.crypto.keys import KeyProviderError


class Command(BaseCommand):
    help = "Print the audit log's verifier keys (one C2SP vkey a line)."

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            keys = log_verifier_keys()
        except KeyProviderError as exc:
            raise CommandError(str(exc)) from None
        for key in keys:
            self.stdout.write(key.encode())

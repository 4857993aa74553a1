"""Write a marketing audience (subjects who currently consent and have not objected or been
restricted) as CSV: ours (``direct_marketing``, the default) or the partners' (``--purpose
third_party_marketing_sharing``).

The file holds personal information: it is created with mode 0600 and never overwritten. The
export is recorded in the audit trail against the staff member named by ``--actor``.
"""

from __future__ import annotations

import os
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from compliance.consent.services import AUDIENCE_PURPOSES, ConsentError, marketing_audience_export
from compliance.crypto.fields import by_blind_index


class Command(BaseCommand):
    help = "Export the current direct-marketing audience as CSV (audited)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--out", required=True, help="Path of the CSV file to create (must not exist).")
        parser.add_argument(
            "--actor", required=True, help="E-mail of the staff member responsible for this export (audited)."
        )
        parser.add_argument("--purpose", choices=AUDIENCE_PURPOSES, default=AUDIENCE_PURPOSES[0])

    def handle(self, *args, out: str, actor: str, purpose: str, **options) -> None:
        user = by_blind_index(get_user_model(), "email", get_user_model().objects.normalize_email(actor)).first()
        if user is None:
            raise CommandError("No user with that e-mail address.")
        path = Path(out)
        try:
            # O_EXCL: an existing file (perhaps an older export) is never overwritten or widened.
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError as exc:
            raise CommandError(f"{path} already exists.") from exc
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
                rows = marketing_audience_export(actor=user, out=handle, via="command", purpose=purpose)
        except ConsentError as exc:
            path.unlink(missing_ok=True)
            raise CommandError(exc.message) from exc
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        self.stdout.write(self.style.SUCCESS(f"Wrote {rows} subject(s) to {path}."))

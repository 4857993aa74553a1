"""Rotate field-encryption and/or blind-index keys and re-encrypt every row, resumably.

    manage.py rotate_field_keys                        # new versions for both rings, re-encrypt all
    manage.py rotate_field_keys --keys field           # only the encryption keys
    manage.py rotate_field_keys --reencrypt-only       # the provider already has the new active key (env)
    manage.py rotate_field_keys --retire-old           # afterwards, remove old versions (verified first)
    manage.py rotate_field_keys --status               # versions, runs and rows still under old keys

Run it again after an interruption: an unfinished rotation resumes from its checkpoint instead of
adding another version. The logic is in compliance/secret_rotation/rotation.py.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from compliance.crypto.keys import PURPOSES, get_key_provider
from compliance.crypto.models import FieldKeyVersion, KeyRotationRun
from compliance.secret_rotation import rotation

BAR_WIDTH = 30


class Command(BaseCommand):
    help = "Add a key version, re-encrypt every encrypted column / blind index in batches, optionally retire old keys."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--keys", default="field,blind_index", help="Comma list: field, blind_index.")
        parser.add_argument("--reencrypt-only", action="store_true", help="Do not add a version; use the active one.")
        parser.add_argument("--batch-size", type=int, default=500)
        parser.add_argument("--max-batches", type=int, default=None, help="Stop after this many batches (resumable).")
        parser.add_argument("--pause", type=float, default=0.0, help="Seconds to sleep between batches (throttle).")
        parser.add_argument("--retire-old", action="store_true", help="Retire older versions once no row needs them.")
        parser.add_argument("--status", action="store_true", help="Show versions and progress; change nothing.")

    def handle(self, *args, **options) -> None:
        purposes = [p.strip() for p in options["keys"].split(",") if p.strip()]
        unknown = set(purposes) - set(PURPOSES)
        if unknown or not purposes:
            raise CommandError(f"--keys takes {', '.join(PURPOSES)}.")
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be positive.")
        if options["status"]:
            self._status(purposes)
            return
        for purpose in purposes:
            try:
                self._rotate(purpose, options)
            except rotation.RotationError as exc:
                raise CommandError(str(exc)) from None

    def _rotate(self, purpose: str, options: dict) -> None:
        resuming = KeyRotationRun.objects.filter(purpose=purpose, state=KeyRotationRun.State.RUNNING).exists()
        run = rotation.key_rotation_start(purpose=purpose, add_version=not options["reencrypt_only"])
        verb = "Resuming" if resuming else "Started"
        self.stdout.write(f"{verb} {purpose} rotation to v{run.target_version} (run {run.public_id}).")
        run = rotation.key_rotation_run(
            run=run,
            batch_size=options["batch_size"],
            max_batches=options["max_batches"],
            pause_seconds=options["pause"],
            progress=self._progress,
        )
        if run.state != KeyRotationRun.State.COMPLETED:
            self.stdout.write(
                f"Stopped after the batch limit: {run.rows_rewritten} rows rewritten so far. "
                "Run the command again to resume."
                + (" Old keys were not retired: the rotation is unfinished." if options["retire_old"] else "")
            )
            return
        self.stdout.write(
            self.style.SUCCESS(
                f"{purpose}: every row is under v{run.target_version} ({run.rows_rewritten} rows rewritten)."
            )
        )
        if options["retire_old"]:
            retired = rotation.key_versions_retire(purpose=purpose)
            self.stdout.write(f"{purpose}: retired versions {retired or 'none'}.")

    def _progress(self, label: str, done: int, total: int) -> None:
        filled = int(BAR_WIDTH * done / total) if total else BAR_WIDTH
        self.stdout.write(f"  [{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {label} {done}/{total}")

    def _status(self, purposes: list[str]) -> None:
        provider = get_key_provider()
        rotation.key_versions_sync(provider=provider)
        for purpose in purposes:
            active = provider.active_version(purpose)
            self.stdout.write(
                f"{purpose}: provider {provider.name}, active v{active}, usable {provider.versions(purpose)}"
            )
            for row in FieldKeyVersion.objects.filter(purpose=purpose):
                self.stdout.write(
                    f"  v{row.version} {row.state} created {row.created_at:%Y-%m-%d} "
                    f"rotated {row.rotated_at or '—'} retired {row.retired_at or '—'}"
                )
            for column, count in sorted(rotation.stale_counts(purpose, active).items()):
                self.stdout.write(f"  {column}: {count} rows not under v{active}")

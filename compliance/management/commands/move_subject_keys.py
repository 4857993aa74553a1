"""Move the subject keys from the main database into the key store (docs/adr/0007).

    manage.py migrate --database keys     # the key store's table (SUBJECT_KEYS_DATABASE_URL)
    manage.py migrate                     # the main database
    manage.py move_subject_keys           # copy every key, reset the key store's sequence, delete from main
    manage.py move_subject_keys --status  # keys in each database; changes nothing

Run it once when the key store is configured (check compliance.E126 fails until it has run), before
the application serves with SUBJECT_KEYS_DATABASE_URL: until then the keys it needs are still in
the main database.

The move itself, and why it is safe, is compliance/crypto/key_store.py. Exits 1 on a conflict
(a key left in the main database: resolve by hand).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS, connections

from compliance.crypto.key_store import key_counts, move_subject_keys
from compliance.crypto.models import SubjectKey
from kernel.db_router import KEYS

MAIN = DEFAULT_DB_ALIAS


class Command(BaseCommand):
    help = "Move the per-subject data keys from the main database into the key store (SUBJECT_KEYS_DATABASE_URL)."
    # compliance.E126 (keys left in the main database) must not stop the command that fixes it.
    requires_system_checks: Any = []

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--batch-size", type=int, default=500)
        parser.add_argument("--status", action="store_true", help="Show the keys in each database; change nothing.")

    def handle(self, *args: Any, **options: Any) -> None:
        if KEYS not in settings.DATABASES:
            raise CommandError("No key store is configured: set SUBJECT_KEYS_DATABASE_URL (docs/adr/0007).")
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be positive.")
        if options["status"]:
            for alias, label in ((MAIN, "main database"), (KEYS, "key store")):
                if SubjectKey._meta.db_table not in connections[alias].introspection.table_names():
                    self.stdout.write(f"{label}: not migrated")
                    continue
                counts = key_counts(alias)
                self.stdout.write(f"{label}: {counts['live']} live, {counts['destroyed']} destroyed subject key(s)")
            return
        moved, conflicts = move_subject_keys(batch_size=options["batch_size"])
        self.stdout.write(f"{moved} subject key(s) moved to the key store.")
        if conflicts:
            ids = ", ".join(str(pk) for pk in conflicts[:20])
            raise CommandError(
                f"{len(conflicts)} key(s) left in the main database: the key store holds another key with the "
                f"same id or for the same subject (ids {ids}). Resolve by hand before serving (docs/adr/0007)."
            )

"""Move encrypted PI under its data subjects' keys (docs/adr/0007-crypto-shredding.md).

    manage.py seal_subject_keys                 # every subject-owned row still under the field ring
    manage.py seal_subject_keys --model accounts.user
    manage.py seal_subject_keys --status        # subject keys live/destroyed, columns still on the ring
    manage.py seal_subject_keys --to-field-ring # the reverse (before reversing migration 0020_subject_keys)

The data migration ``compliance.0020_subject_keys`` runs the same backfill once; run this after loading
data written around the ORM (raw SQL, ``QuerySet.update``), which goes under the field ring.
Idempotent and resumable: a row already under its subject's key is skipped.
"""

from __future__ import annotations

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.db.models import Q

from compliance.crypto import subject_rows
from compliance.crypto.fields import encrypted_fields
from compliance.crypto.models import SubjectKey


class Command(BaseCommand):
    help = "Re-encrypt subject-owned PI under per-subject data keys (crypto-shredding), or show the status."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--model", default="", help="Only this model (app_label.Model).")
        parser.add_argument("--batch-size", type=int, default=500)
        parser.add_argument("--status", action="store_true", help="Show counts; change nothing.")
        parser.add_argument("--to-field-ring", action="store_true", help="Move values back under the field ring.")

    def handle(self, *args, **options) -> None:
        targets = subject_rows.subject_models()
        if options["model"]:
            try:
                chosen = apps.get_model(options["model"])
            except (LookupError, ValueError):
                raise CommandError(f"Unknown model {options['model']!r}.") from None
            if chosen not in targets:
                raise CommandError(f"{chosen._meta.label} has no encrypted fields owned by a data subject.")
            targets = [chosen]
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be positive.")
        if options["status"]:
            self._status(targets)
            return
        for model in targets:
            if options["to_field_ring"]:
                with transaction.atomic():
                    count = subject_rows.seal_rows(model, model._base_manager.all(), to_hold=True)
            else:
                count = subject_rows.backfill_subject_keys(model, batch_size=options["batch_size"])[
                    model._meta.label_lower
                ]
            self.stdout.write(f"{model._meta.label_lower}: {count} value(s) re-encrypted.")

    def _status(self, targets) -> None:
        live = SubjectKey.objects.filter(destroyed_at__isnull=True).count()
        destroyed = SubjectKey.objects.filter(destroyed_at__isnull=False).count()
        self.stdout.write(f"subject keys: {live} live, {destroyed} destroyed")
        for model in targets:
            for column in encrypted_fields(model):
                ring = model._base_manager.filter(Q(**{f"{column.name}__ciphertext_startswith": "v"})).count()
                self.stdout.write(f"  {model._meta.label_lower}.{column.name}: {ring} value(s) under the field ring")

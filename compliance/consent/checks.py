"""System checks of the processing purposes (errors: ``manage.py check`` fails).

compliance.E112  a purpose is referenced (a may_process consumer, a seed row) but not declared in
                 compliance.pi.vocabulary.PURPOSES (PI annotations: compliance.E102)
compliance.E113  a purpose that can be restricted has no consumer asking may_process
compliance.E114  a declared purpose has no ProcessingPurpose row (checked when the database is
                 reachable and migrated): may_process would refuse every subject for it
"""

from __future__ import annotations

from typing import Any

from django.core.checks import Error, register

from compliance.consent.consumers import purpose_consumers
from compliance.pi.vocabulary import PURPOSES
from kernel.db_checks import database_migrated


def check_purposes(consumers: dict[str, list[str]], *, rows: set[str] | None) -> list[Error]:
    """``rows``: the purpose codes that have a row, or None when the database cannot be asked."""
    errors: list[Error] = []
    for code, names in sorted(consumers.items()):
        if code not in PURPOSES:
            errors.append(
                Error(
                    f"{', '.join(names)} asks may_process for the undeclared purpose {code!r}.",
                    hint=f"Declared purposes: {', '.join(sorted(PURPOSES))}.",
                    obj=code,
                    id="compliance.E112",
                )
            )
    for code, purpose in sorted(PURPOSES.items()):
        if purpose.restrictable and not consumers.get(code):
            errors.append(
                Error(
                    f"Purpose {code!r} can be restricted, but no processing path asks may_process for it: a "
                    "restriction would be recorded and then consulted by nothing.",
                    hint="Make its processing ask may_process and register_purpose_consumer(), or declare it "
                    "not_restrictable with the legal reason (compliance.pi.vocabulary).",
                    obj=code,
                    id="compliance.E113",
                )
            )
        if rows is not None and code not in rows:
            errors.append(
                Error(
                    f"Purpose {code!r} is declared but has no ProcessingPurpose row.",
                    hint="Run manage.py seed_vocabulary (creates the declared rows; edits are kept).",
                    obj=code,
                    id="compliance.E114",
                )
            )
    return errors


def _purpose_rows() -> set[str] | None:
    if not database_migrated():
        return None
    from compliance.consent.models import ProcessingPurpose

    return set(ProcessingPurpose.objects.values_list("code", flat=True))


@register("compliance")
def check_processing_purposes(app_configs: Any, **kwargs: Any) -> list[Error]:
    return check_purposes(purpose_consumers(), rows=_purpose_rows())

"""System checks of the processing purposes (errors: ``manage.py check`` fails).

compliance.E112  a purpose is referenced but not declared in compliance.pi.vocabulary.PURPOSES: by a
                 registered may_process consumer, or as a literal in a call of may_process /
                 processable_subjects / marketing_audience in the project's code (PI annotations:
                 compliance.E102; DSAR and restriction inputs are refused at run time)
compliance.E113  a purpose that can be restricted has no consumer asking may_process
compliance.E114  a declared purpose has no ProcessingPurpose row (checked when the database is
                 reachable and migrated): may_process would refuse every subject for it
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

from django.apps import apps
from django.conf import settings
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


GATE_FUNCTIONS = ("may_process", "processable_subjects", "marketing_audience")


def literal_purposes(source: str) -> list[tuple[int, str]]:
    """(line, code) of every purpose passed to a gate function in ``source`` as a string literal or
    as a module-level constant of the same file (``ANALYTICS = "analytics"``)."""
    tree = ast.parse(source)
    constants = {
        target.id: node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)
        for target in node.targets
        if isinstance(target, ast.Name)
    }
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
        if name not in GATE_FUNCTIONS:
            continue
        position = 1 if name == "may_process" else 0
        candidates = [*node.args[position : position + 1], *(k.value for k in node.keywords if k.arg == "purpose_code")]
        for candidate in candidates:
            if isinstance(candidate, ast.Constant) and isinstance(candidate.value, str):
                found.append((node.lineno, candidate.value))
            elif isinstance(candidate, ast.Name) and candidate.id in constants:
                found.append((node.lineno, constants[candidate.id]))
    return found


def _project_sources() -> list[Path]:
    """The Python files of the project's own apps (not third-party packages, not tests)."""
    base = Path(settings.BASE_DIR).resolve()
    paths = []
    for config in apps.get_app_configs():
        root = Path(config.path).resolve()
        if root.is_relative_to(base) and not config.name.startswith("tests"):
            paths += [p for p in root.rglob("*.py") if "migrations" not in p.parts]
    return paths


def check_literal_purposes(paths: list[Path]) -> list[Error]:
    errors = []
    for path in paths:
        source = path.read_text(encoding="utf-8")
        if not any(f"{name}(" in source for name in GATE_FUNCTIONS):
            continue
        for line, code in sorted(literal_purposes(source)):
            if code not in PURPOSES:
                errors.append(
                    Error(
                        f"{path.name}:{line} asks about the undeclared purpose {code!r}.",
                        hint=f"Declared purposes: {', '.join(sorted(PURPOSES))}.",
                        obj=str(path),
                        id="compliance.E112",
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
    return [*check_purposes(purpose_consumers(), rows=_purpose_rows()), *check_literal_purposes(_project_sources())]

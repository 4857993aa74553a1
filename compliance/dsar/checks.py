"""System checks for the DSAR workflow table and the request-type registry (errors).

compliance.E601  the request-type registry and ``DsarType`` differ (a value or its label)
compliance.E602  a workflow action names a service that does not exist or does not take its inputs
compliance.E603  a field the PI inventory marks correctable has no correction handler, or a handler
                 corrects a field the inventory does not mark correctable
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from typing import Any

from django.core.checks import Error, register

from compliance.dsar import services
from compliance.dsar.kinds import KindRegistry, kinds
from compliance.dsar.models import DsarType
from compliance.dsar.workflow import ACTIONS, Action


def registry_problems(registry: KindRegistry) -> list[Error]:
    registered = {kind.slug: kind.label for kind in registry}
    declared = dict(DsarType.choices)
    problems = [
        Error(
            f"DsarType {value!r} has no request-type handler registered in compliance.dsar.kinds.",
            hint="Write a DsarKind subclass for it and decorate it with @kinds.register.",
            id="compliance.E601",
        )
        for value in declared
        if value not in registered
    ]
    problems += [
        Error(
            f"The registered request type {slug!r} is not a DsarType value (stored data and the API enum).",
            hint="Add it to DsarType (and its migration), or unregister it.",
            id="compliance.E601",
        )
        for slug in registered
        if slug not in declared
    ]
    problems += [
        Error(
            f"The request type {slug!r} is labelled {registered[slug]!r} but DsarType says {declared[slug]!r}.",
            id="compliance.E601",
        )
        for slug in registered
        if slug in declared and registered[slug] != declared[slug]
    ]
    return problems


def action_problems(actions: Iterable[Action]) -> list[Error]:
    problems = []
    for action in actions:
        service = getattr(services, action.service, None)
        if not callable(service):
            problems.append(
                Error(f"The DSAR action {action.slug!r} names no service {action.service!r}.", id="compliance.E602")
            )
            continue
        parameters = inspect.signature(service).parameters
        missing = [spec.name for spec in action.inputs if spec.name not in parameters]
        if missing or "actor" not in parameters or "dsar" not in parameters:
            problems.append(
                Error(
                    f"The service {action.service!r} of the DSAR action {action.slug!r} does not take "
                    f"actor, dsar and the inputs {missing or ''}.".rstrip(),
                    id="compliance.E602",
                )
            )
    return problems


@register()
def check_dsar_workflow(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    return [*registry_problems(kinds), *action_problems(ACTIONS)]


def correction_problems(marked: Iterable[str], handled: Iterable[str]) -> list[Error]:
    marked, handled = set(marked), set(handled)
    return [
        Error(
            f"The PI inventory marks {name!r} correctable but no app registered a correction handler for it.",
            hint="register_correction_handler(fields={...}, apply=...) in the owning app's ready().",
            id="compliance.E603",
        )
        for name in sorted(marked - handled)
    ] + [
        Error(
            f"A correction handler corrects {name!r}, which the PI inventory does not mark correctable.",
            hint="Set correctable= on the field's PI annotation (its name in a correction request).",
            id="compliance.E603",
        )
        for name in sorted(handled - marked)
    ]


@register()
def check_correctable_fields(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    from compliance.dsar.corrections import correctable_fields as handled
    from compliance.pi.registry import correctable_fields as marked

    return correction_problems(marked(), handled())

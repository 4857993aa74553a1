"""Correction requests (POPIA s24): the officer's decision is carried out by the owning app's service.

compliance cannot import the apps that hold the data, so each app registers which fields of the
subject it can correct and the service function that does it (in its ``AppConfig.ready()``). An
approved correction applies every requested field that has a handler, through that handler —
the normal service, with its validation and its own audit record (before/after, PI masked) — and
says in the statement which fields were corrected and which could not be.

A refused correction leaves the data as it was but, as s24(3) requires, a note that a correction
was requested is attached to the subject's record (``CorrectionRequestNote``), kept with the data
and included in the subject's access exports.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from compliance.dsar.models import CorrectionRequestNote, DataSubjectRequest
from kernel.types import Actor


class CorrectionRefused(Exception):
    """Raised by a handler when a value fails validation; the message must not contain the value."""


@dataclass(frozen=True)
class CorrectionHandler:
    fields: frozenset[str]
    apply: Callable[..., None]  # apply(*, actor, subject, changes: dict[str, str], reference: str)


_handlers: list[CorrectionHandler] = []


def register_correction_handler(*, fields: set[str] | frozenset[str], apply: Callable[..., None]) -> None:
    _handlers.append(CorrectionHandler(frozenset(fields), apply))


def correctable_fields() -> frozenset[str]:
    return frozenset().union(*(handler.fields for handler in _handlers)) if _handlers else frozenset()


def field_in_words(field: str) -> str:
    """A correction's field as the subject reads it in the statement ("date of birth", not
    ``date_of_birth``): the request's names are the inventory's ``correctable`` names, already words."""
    return field.replace("_", " ")


def correction_apply(*, actor: Actor, dsar: DataSubjectRequest) -> tuple[list[str], list[str]]:
    """Apply an approved correction; returns (corrected fields, refused "field (why)"), in words."""
    changes = {str(key): str(value) for key, value in (dsar.requested_changes or {}).items()}
    corrected: list[str] = []
    refused: list[str] = []
    for handler in _handlers:
        # One field at a time, so an invalid value refuses that field and not its neighbours.
        for field in sorted(set(changes) & handler.fields):
            try:
                handler.apply(
                    actor=actor, subject=dsar.subject, changes={field: changes[field]}, reference=str(dsar.public_id)
                )
            except CorrectionRefused as error:
                refused.append(f"{field_in_words(field)} ({error})")
            else:
                corrected.append(field_in_words(field))
    handled = correctable_fields()
    refused += [
        f"{field_in_words(field)} (cannot be corrected this way)" for field in sorted(changes) if field not in handled
    ]
    return corrected, refused


def correction_note_attach(*, dsar: DataSubjectRequest, reason: str) -> CorrectionRequestNote:
    """s24(3): the data stays, but the record says a correction was requested and not made."""
    return CorrectionRequestNote.objects.create(
        subject=dsar.subject,
        dsar=dsar,
        fields=sorted(str(key) for key in (dsar.requested_changes or {})),
        outcome=reason,
    )

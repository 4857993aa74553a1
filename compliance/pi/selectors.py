"""Find data subjects by an identifier they give us (e-mail, phone, ID number, surname), for DSARs.

Encrypted columns cannot be searched; their blind indexes can. This walks the PI inventory: every
registered model with a blind index of the requested kind (its normaliser) and a ``subject`` path
contributes the subjects of its matching rows. A subject who quotes their ID number is thus found
through ``ledger.KycRecord`` without compliance importing the ledger, and a new app's identifiers
are searchable as soon as they are annotated and indexed.

Exact, normalised matches only (the point of a blind index); no partial or fuzzy search.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db.models import QuerySet

from compliance.crypto.fields import blind_index_fields
from compliance.pi.inventory import is_product_model
from compliance.pi.registry import registry

IDENTIFIER_KINDS = ("email", "phone", "id_number", "name")


def _subject_pk_path(subject: str) -> str:
    return "pk" if subject == "self" else subject


def subjects_by_identifier(*, kind: str, value: str) -> QuerySet[Any]:
    """Users whose rows hold ``value`` in a blind-indexed field of ``kind`` (normaliser name)."""
    if kind not in IDENTIFIER_KINDS:
        raise ValueError(f"Unknown identifier kind {kind!r}; known: {', '.join(IDENTIFIER_KINDS)}.")
    user_model = get_user_model()
    subject_ids: set[int] = set()
    for entry in registry:
        if not entry.subject or not is_product_model(entry):
            continue
        for index in blind_index_fields(entry.model):
            if index.normaliser != kind:
                continue
            matches = entry.model._default_manager.filter(**{f"{index.name}__matches": value})
            subject_ids.update(
                pk for pk in matches.values_list(_subject_pk_path(entry.subject), flat=True) if pk is not None
            )
    return user_model._default_manager.filter(pk__in=subject_ids)


def subject_by_email(email: str) -> object | None:
    """The customer (never staff) with this e-mail address, or None."""
    return subjects_by_identifier(kind="email", value=email).filter(is_staff=False).first()


def subject_by_id_number(id_number: str) -> object | None:
    """The customer whose KYC (or any other indexed) ID number is ``id_number``, or None."""
    return subjects_by_identifier(kind="id_number", value=id_number).filter(is_staff=False).first()

"""Steps of the key-store proof (test_key_store_backups.py), each run in a fresh process.

    DATABASE_URL=... SUBJECT_KEYS_DATABASE_URL=... python tests/compliance/crypto/key_store_steps.py <step> [json]

Prints one JSON object. A fresh process per step is what a restored database is served by: no
key cached from before.
"""

from __future__ import annotations

import json
import secrets
import sys
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

SENTINELS = {
    "email": "lerato.keyproofsentinel4412@example.co.za",
    "first_name": "Leratokeyproofsentinel",
    "last_name": "Nkosikeyproofsentinel",
    "phone": "+27825554412",
}
OTHER = {
    "email": "sipho.keyproofother@example.co.za",
    "first_name": "Siphokeyproofother",
    "last_name": "Zulukeyproofother",
    "phone": "+27825554413",
}


def _customer(values: dict[str, str]) -> Any:
    from accounts import services as accounts

    user = accounts.customer_register(
        email=values["email"], password=secrets.token_urlsafe(24), first_name=values["first_name"]
    )
    user.last_name, user.phone = values["last_name"], values["phone"]
    user.save()
    return user


def _officers() -> tuple[Any, Any]:
    from accounts import services as accounts

    suffix = uuid.uuid4().hex[:8]
    return tuple(  # type: ignore[return-value]
        accounts.staff_user_create(
            actor=None, email=f"officer-{n}-{suffix}@keyproof.example", password=secrets.token_urlsafe(24),
            role="information_officer", first_name="Officer",
        )
        for n in (1, 2)
    )  # fmt: skip


def _awaiting_approval(subject: Any, first: Any) -> Any:
    from compliance.dsar import services as dsar

    request = dsar.dsar_file(subject=subject, filed_by=subject, type="deletion")
    request = dsar.dsar_verify_identity(actor=first, dsar=request, evidence="Call-back on the number on file")
    request = dsar.dsar_assign(actor=first, dsar=request)
    return dsar.dsar_request_approval(actor=first, dsar=request)


def _erase(request: Any, second: Any) -> str | None:
    from compliance.dsar import services as dsar
    from compliance.dsar.erasure import erase_subject

    return erase_subject(dsar=dsar.dsar_approve(actor=second, dsar=request))


def field_ring_values(subject: Any) -> list[str]:
    """Encrypted columns of the subject's rows stored under the field ring (``v…``)."""
    from django.db import connection

    from compliance.crypto import subject_keys
    from compliance.crypto.fields import encrypted_fields
    from compliance.crypto.subject_rows import _rows_of, subject_models

    ref = subject_keys.ref_for(subject)
    found = []
    for model in subject_models(ref.subject_type):
        pks = list(_rows_of(model, ref).values_list("pk", flat=True))
        for column in encrypted_fields(model):
            if not pks:
                continue
            with connection.cursor() as cursor:
                cursor.execute(
                    f'SELECT id, "{column.column}"::text FROM "{model._meta.db_table}" WHERE id = ANY(%s)',  # noqa: S608
                    [pks],
                )
                found += [
                    f"{model._meta.db_table}.{column.column}#{pk}"
                    for pk, value in cursor.fetchall()
                    if (value or "").startswith("v")
                ]
    return sorted(found)


def _values(subject_id: int) -> dict[str, str]:
    from django.contrib.auth import get_user_model

    user = get_user_model()._default_manager.get(pk=subject_id)
    return {name: str(getattr(user, name)) for name in SENTINELS}


def _key_state(subject_id: int) -> str:
    from compliance.crypto.models import SubjectKey

    key = SubjectKey.objects.filter(subject_type="accounts.user", subject_id=str(subject_id)).first()
    return "none" if key is None else ("destroyed" if key.destroyed_at else "live")


def seed(_: dict) -> dict:
    first, second = _officers()
    subject, other = _customer(SENTINELS), _customer(OTHER)
    request = _awaiting_approval(subject, first)
    return {
        "subject": subject.pk,
        "other": other.pk,
        "request": str(request.public_id),
        "second_officer": second.pk,
        "field_ring_values": field_ring_values(subject) + field_ring_values(other),
        "keys": [_key_state(subject.pk), _key_state(other.pk)],
    }


def erase(state: dict) -> dict:
    from django.contrib.auth import get_user_model

    from compliance.dsar.models import DataSubjectRequest

    second = get_user_model()._default_manager.get(pk=state["second_officer"])
    statement = _erase(DataSubjectRequest.objects.get(public_id=state["request"]), second)
    # Registered after the backup: a restored copy does not know this id, the key store does.
    late = _customer({**OTHER, "email": "late.keyproof@example.co.za"})
    return {"erased": statement is not None, "key": _key_state(state["subject"]), "late": late.pk}


def read(state: dict) -> dict:
    return {
        "subject": _values(state["subject"]),
        "other": _values(state["other"]),
        "keys": [_key_state(state["subject"]), _key_state(state["other"])],
    }


def crash(_: dict) -> dict:
    """The destruction runs after the erasure's commit: a rollback keeps the key, and a crash
    between the commit and the destruction is repaired by the erasure ledger's task."""
    from django.db import transaction

    from compliance.crypto import subject_keys
    from compliance.dsar.tasks import record_erasures

    first, second = _officers()
    kept, crashed = (
        _customer({**OTHER, "email": "kept.keyproof@example.co.za"}),
        _customer({**SENTINELS, "email": "crashed.keyproof@example.co.za"}),
    )
    out: dict[str, Any] = {}
    # A main transaction that shreds and then rolls back: the key store was never touched.
    with transaction.atomic():
        out["rollback_scheduled"] = subject_keys.shred_subject_key(kept.pk)
        out["rollback_scheduled_again"] = subject_keys.shred_subject_key(kept.pk)  # already scheduled
        out["rollback_pending_key_before_commit"] = _key_state(kept.pk)
        transaction.set_rollback(True)
    out["rollback_key"] = _key_state(kept.pk)
    subject_keys.clear_cache()
    out["rollback_values"] = _values(kept.pk)
    # The process dies after the erasure commits, before the key store is written.
    request = _awaiting_approval(crashed, first)
    original = subject_keys._Destruction.__call__
    subject_keys._Destruction.__call__ = lambda self: None  # type: ignore[method-assign]
    try:
        out["crash_erased"] = _erase(request, second) is not None
    finally:
        subject_keys._Destruction.__call__ = original  # type: ignore[method-assign]
    out["crash_key_after_commit"] = _key_state(crashed.pk)
    record_erasures()  # beat's sweep, every 5 minutes
    out["crash_key_after_task"] = _key_state(crashed.pk)
    subject_keys.clear_cache()
    out["crash_values_after_task"] = _values(crashed.pk)
    out["crash_field_ring_values"] = field_ring_values(crashed)
    return out


def single_seed(_: dict) -> dict:
    """Single-database mode (no key store yet): a subject whose key is in the main database."""
    subject = _customer(OTHER)
    return {"subject": subject.pk, "key": _key_state(subject.pk)}


def after_move(state: dict) -> dict:
    from compliance.crypto.checks import check_subject_keys_moved
    from compliance.crypto.models import SubjectKey

    newcomer = _customer({**SENTINELS, "email": "newcomer.keyproof@example.co.za"})
    return {
        "values": _values(state["subject"]),
        "old_key_id": SubjectKey.objects.get(subject_id=str(state["subject"])).pk,
        "new_key_id": SubjectKey.objects.get(subject_id=str(newcomer.pk)).pk,
        "e126": [error.id for error in check_subject_keys_moved(None)],
    }


def e126(_: dict) -> dict:
    from compliance.crypto.checks import check_subject_keys_moved

    return {"e126": [error.id for error in check_subject_keys_moved(None)]}


STEPS = {f.__name__: f for f in (seed, erase, read, crash, single_seed, after_move, e126)}

if __name__ == "__main__":
    import django

    django.setup()
    result = STEPS[sys.argv[1]](json.loads(sys.argv[2]) if len(sys.argv) > 2 else {})
    sys.stdout.write("RESULT " + json.dumps(result) + "\n")

"""Deletion requests (POPIA s24): erase what may be erased, keep what the law says must be kept.

Driven by the PI inventory: each annotated field says what deletion does to it —
``delete`` (the row goes), ``null`` (the value is cleared), ``pseudonymise`` (replaced by a token
that identifies no one) or ``retain_under_legal_duty`` (kept, and the row is put on a dated
retention hold that the retention purge honours and then executes).

Invariants:
- Runs only for an approved deletion (four eyes happened in the workflow) and only once: the
  request is locked and must still be ``approved``.
- One transaction: the subject is erased entirely or not at all.
- The user row is never deleted (audit records reference it): it is pseudonymised and made unable
  to log in.
- Rows a retained field keeps are held until ``retention end`` = the later of now and the row's
  own date, plus the period of the policy's ``RetentionPolicy`` row (the one the officer edits and
  the purge reads: one source). A policy without a row, or without a period, refuses the erasure
  (nothing changes) rather than guess an end date.
- A subject under a litigation or regulator hold in force is not erased at all: the held data is
  kept, and the request is partially fulfilled with a statement listing each hold's kind, reason
  and end. A later deletion request, once the holds are released, erases as usual.
- The statement tells the subject what was deleted, what is retained, why and until when; it
  names tables and fields, never values.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import models, transaction
from django.db.models.deletion import ProtectedError
from django.utils import timezone

from compliance.crypto.fields import EncryptedEmailField
from compliance.dsar.export import subject_rows, table_name
from compliance.dsar.kinds import Fulfilment, fulfilled_by
from compliance.dsar.models import DataSubjectRequest, DsarStatus
from compliance.pi.inventory import is_product_model
from compliance.pi.registry import PI, ModelEntry, registry
from compliance.pi.vocabulary import Erasure
from compliance.retention.models import HoldKind, LegalHold, RetentionPolicy


class ErasureError(Exception):
    """The erasure cannot be carried out as configured (e.g. a retention policy has no row)."""


_DATE_FIELDS = ("created_at", "occurred_at", "timestamp")


def pseudonym(*, label: str, field: str, pk: Any) -> str:
    """A stable token for one erased value: unique per row and field, meaningless without our key."""
    digest = hmac.new(settings.SECRET_KEY.encode(), f"{label}|{field}|{pk}".encode(), hashlib.sha256).hexdigest()
    return f"erased-{digest[:20]}"


def _pseudonymous_value(model_field: models.Field, token: str) -> Any:
    # Encrypted e-mail columns too: the pseudonym stays a syntactically valid, undeliverable address.
    if isinstance(model_field, models.EmailField | EncryptedEmailField):
        return f"{token}@erased.invalid"
    if model_field.get_internal_type() in ("CharField", "TextField", "EmailField"):
        max_length = getattr(model_field, "max_length", None)
        return token[:max_length] if max_length else token
    return None if model_field.null else model_field.get_default()


def _cleared_value(model_field: models.Field) -> Any:
    if model_field.null:
        return None
    if model_field.get_internal_type() in ("CharField", "TextField", "EmailField"):
        return ""
    return model_field.get_default()


def _row_date(row: models.Model, now: dt.datetime) -> dt.datetime:
    for name in _DATE_FIELDS:
        value = getattr(row, name, None)
        if isinstance(value, dt.datetime):
            return value
    return now


def _hold_until(policy: RetentionPolicy, row: models.Model, now: dt.datetime) -> dt.datetime:
    if policy.period is None:
        raise ErasureError(f"Retention policy {policy.code!r} has no period, so records kept under it cannot be dated.")
    # The relationship ends now; per-transaction policies run from the transaction's own date.
    anchor = _row_date(row, now) if policy.code == "fica_transactions" else now
    return max(anchor + policy.period, now)


@dataclass
class _Outcome:
    deleted: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    cleared: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    retained: dict[str, dict[str, Any]] = field(default_factory=dict)
    holds: list[LegalHold] = field(default_factory=list)
    policies: dict[str, RetentionPolicy] = field(default_factory=dict)

    def policy(self, code: str) -> RetentionPolicy:
        if code not in self.policies:
            raise ErasureError(f"Retention policy {code!r} has no row: seed it before erasing (manage.py check).")
        return self.policies[code]


def _erasable(entry: ModelEntry) -> dict[str, PI]:
    concrete = {f.name for f in entry.model._meta.concrete_fields}
    return {name: a for name, a in entry.annotations().items() if name in concrete}


def _try_delete_rows(entry: ModelEntry, subject: Any, count: int, outcome: _Outcome) -> bool:
    try:
        with transaction.atomic():
            subject_rows(entry, subject).delete()
    except ProtectedError:
        return False  # referenced by records we must keep: clear its PI instead
    outcome.deleted[entry.label.lower()] += count
    return True


def _erase_row(entry: ModelEntry, row: models.Model, annotations: dict[str, PI], outcome: _Outcome) -> None:
    label = entry.label.lower()
    fields = {f.name: f for f in entry.model._meta.concrete_fields}
    changed = False
    for name, annotation in annotations.items():
        # Kept values stay; blind indexes are recomputed from their (now erased) source on save.
        if annotation.erasure == Erasure.RETAIN_UNDER_LEGAL_DUTY or annotation.derived_from:
            continue
        if annotation.erasure == Erasure.PSEUDONYMISE:
            value = _pseudonymous_value(fields[name], pseudonym(label=label, field=name, pk=row.pk))
        else:
            value = _cleared_value(fields[name])
        setattr(row, name, value)
        outcome.cleared[label].add(name)
        changed = True
    if entry.subject == "self":
        row.is_active = False
        row.set_unusable_password()
        changed = True
    if changed:
        # save(), not update(): encrypted fields re-encrypt and blind indexes recompute.
        row.save()


def _hold_row(
    entry: ModelEntry, row: models.Model, keep: dict[str, PI], *, dsar: DataSubjectRequest, now, outcome: _Outcome
) -> None:
    label = entry.label.lower()
    policy = next(iter(keep.values())).retention
    until = _hold_until(outcome.policy(policy), row, now)
    outcome.holds.append(
        LegalHold(
            kind=HoldKind.RETENTION_DUTY,
            model_label=label,
            object_id=str(row.pk),
            subject=dsar.subject,
            retention_policy=policy,
            hold_until=until,
            reason=f"Deletion request {dsar.public_id}: kept under {policy}.",
        )
    )
    info = outcome.retained.setdefault(label, {"fields": sorted(keep), "policy": policy, "until": until, "rows": 0})
    info["rows"] += 1
    info["until"] = max(info["until"], until)


def erase_subject(*, dsar: DataSubjectRequest) -> str | None:
    """Carry out an approved deletion request; returns the statement sent to the subject."""
    from compliance.dsar.services import dsar_fulfil

    with transaction.atomic():
        dsar = DataSubjectRequest.objects.select_for_update().select_related("subject").get(pk=dsar.pk)
        if dsar.status != DsarStatus.APPROVED or not fulfilled_by(dsar.type, Fulfilment.ERASURE):
            return None
        subject, now = dsar.subject, timezone.now()
        holds = list(LegalHold.objects.in_force(now).on_subjects().filter(subject=subject).order_by("created_at"))
        if holds:
            statement = _held_statement(holds)
            dsar_fulfil(actor=None, dsar=dsar, statement=statement, partial=True)
            return statement
        outcome = _Outcome(policies={policy.code: policy for policy in RetentionPolicy.objects.all()})
        for entry in registry:
            if not is_product_model(entry) or not entry.subject:
                continue
            rows = list(subject_rows(entry, subject).order_by("pk"))
            if not rows:
                continue
            annotations = _erasable(entry)
            keep = {n: a for n, a in annotations.items() if a.erasure == Erasure.RETAIN_UNDER_LEGAL_DUTY}
            wants_delete = any(a.erasure == Erasure.DELETE for a in annotations.values())
            if (
                wants_delete
                and not keep
                and entry.subject != "self"
                and _try_delete_rows(entry, subject, len(rows), outcome)
            ):
                continue
            for row in rows:
                _erase_row(entry, row, annotations, outcome)
                if keep:
                    _hold_row(entry, row, keep, dsar=dsar, now=now, outcome=outcome)
        LegalHold.objects.bulk_create(outcome.holds, ignore_conflicts=True)
        statement = _statement(
            deleted=outcome.deleted, cleared=outcome.cleared, retained=outcome.retained, policies=outcome.policies
        )
        dsar_fulfil(actor=None, dsar=dsar, statement=statement)
    return statement


def _held_statement(holds: list[LegalHold]) -> str:
    lines = [
        "Your deletion request has not been carried out: your information is under a legal hold and must be "
        "kept while the hold is in force. Nothing has been deleted and you can still log in.",
        "",
        "Holds in force:",
    ]
    for hold in holds:
        until = f"until {hold.hold_until:%Y-%m-%d}" if hold.hold_until else "until it is released"
        lines.append(f"  - {hold.get_kind_display()}, {until}: {hold.reason}")
    lines += ["", "You may ask again once the hold has ended; we will then delete what the law allows."]
    return "\n".join(lines)


def _statement(
    *,
    deleted: dict[str, int],
    cleared: dict[str, set[str]],
    retained: dict[str, dict[str, Any]],
    policies: dict[str, RetentionPolicy],
) -> str:
    lines = ["Your deletion request has been carried out. You can no longer log in.", ""]
    if deleted:
        lines.append("Deleted entirely:")
        lines += [f"  - {table_name(label)}: {count} record(s)" for label, count in sorted(deleted.items())]
    if cleared:
        lines.append("Erased or replaced by an anonymous token:")
        lines += [f"  - {table_name(label)}: {', '.join(sorted(names))}" for label, names in sorted(cleared.items())]
    if retained:
        lines.append("Kept because the law requires it, then deleted:")
        for label, info in sorted(retained.items()):
            policy = policies.get(info["policy"])
            reason = policy.legal_reason if policy else info["policy"]
            lines.append(
                f"  - {table_name(label)}: {', '.join(info['fields'])} in {info['rows']} record(s), until "
                f"{info['until']:%Y-%m-%d} ({reason})"
            )
    lines += [
        "",
        "The audit trail of actions on your account is kept for 5 years (FICA, POPIA s19); it refers to you "
        "only by an identifier that no longer leads to your name or contact details.",
    ]
    return "\n".join(lines)

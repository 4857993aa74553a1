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
- Every hold over the subject is honoured (issue 16). A litigation or regulator hold on the
  subject (the officer's, ``compliance.retention.services.hold_place``) keeps all of the subject's
  data: nothing is erased and the subject can still log in. A hold scoped to some tables
  (``LegalHold.scope``), or on particular rows (model label and primary key, with the subject),
  keeps those rows untouched and the rest is erased. Either way
  the request is partially fulfilled and the statement lists each hold's kind, reason and end; a
  later deletion request, once the holds are released, erases the rest. FICA retention periods
  (the ``retain_under_legal_duty`` annotations, dated from the ``RetentionPolicy`` rows) are holds
  too: those rows are pseudonymised, kept under a dated retention-duty hold, and said so.
- Money is never stranded: while a registered balance holder (``compliance.dsar.balances``; the
  ledger) reports money for the subject, nothing is erased (the officer settles it first); the
  statement says how the money was settled and how much.
- Nothing is left behind: earlier export bundles of the subject (files and rows) are destroyed,
  held or not (they are copies); PI inside the DSAR records themselves (``requested_changes``) is
  pseudonymised by its annotation like any other field.
- Crypto-shredding (docs/adr/0007): once the rows are erased, what the database keeps of the
  subject (retained, held and pseudonymised values) is re-encrypted under the field ring (the
  hold key) and the subject's data key is destroyed (``subject_keys.shred_subject_key``), so the
  erased values are unreadable in every backup, replica, audit diff and archive segment too. A
  subject-wide litigation or regulator hold keeps the key (nothing is erased). With a separate
  key store (kernel.db_router) the key is destroyed right after this transaction commits; a
  crash in between is caught by ``destroy_keys_of_erased`` (the erasure ledger's task, every
  5 minutes).
- The statement tells the subject what was deleted, what is retained, why and until when; it
  names tables and fields, never values.
- Every completed erasure is appended to the erasure ledger outside the database
  (``compliance.dsar.erasure_ledger``: an outbox row here, the signed entry in the archive store
  once this transaction commits), so that a restore of an earlier backup cannot bring the subject
  back: ``manage.py reapply_erasures`` runs ``reapply_erasure`` for every subject the ledger lists.
- ``reapply_erasure`` is the same wipe without the request: it needs only the subject, the
  request's reference and the rows the erasure kept, and is idempotent (a row already erased is
  not written again, so a second run changes nothing and says so).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.files.storage import default_storage
from django.db import models, transaction
from django.db.models.deletion import ProtectedError
from django.utils import timezone

from compliance.audit.services import AuditAction, audit_record
from compliance.crypto import subject_keys
from compliance.crypto.fields import EncryptedEmailField, EncryptedJSONField
from compliance.crypto.subject_rows import rekey_subject_rows
from compliance.dsar.balances import SETTLEMENT_LABELS, SettlementMethod, subject_balances
from compliance.dsar.erasure_ledger import ledger_append
from compliance.dsar.export import field_name, subject_rows, table_name
from compliance.dsar.kinds import Fulfilment, fulfilled_by
from compliance.dsar.models import DataSubjectRequest, DsarExport, DsarStatus
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


def _pseudonymous_value(model_field: models.Field, token: str, current: Any = None) -> Any:
    if isinstance(model_field, EncryptedJSONField):
        # Which fields a correction asked for stays (proof of the request); every value goes.
        if isinstance(current, dict):
            return {str(key): token for key in current}
        return None if model_field.null else model_field.get_default()
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
    # Rows kept untouched under a litigation or regulator hold: table -> count, and which rows.
    held: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    held_rows: list[tuple[str, str]] = field(default_factory=list)
    # Rows written, deleted or put on a hold by this run (0: the subject was already erased).
    changed: int = 0
    holds_created: int = 0
    # The fields whose stored value this run actually replaced: table -> names.
    rewritten: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))

    def policy(self, code: str) -> RetentionPolicy:
        if code not in self.policies:
            raise ErasureError(f"Retention policy {code!r} has no row: seed it before erasing (manage.py check).")
        return self.policies[code]


def _erasable(entry: ModelEntry) -> dict[str, PI]:
    concrete = {f.name for f in entry.model._meta.concrete_fields}
    return {name: a for name, a in entry.annotations().items() if name in concrete}


def _try_delete_rows(entry: ModelEntry, rows: list[models.Model], outcome: _Outcome) -> bool:
    count = len(rows)
    try:
        with transaction.atomic():
            entry.model._default_manager.filter(pk__in=[row.pk for row in rows]).delete()
    except ProtectedError:
        return False  # referenced by records we must keep: clear its PI instead
    outcome.deleted[entry.label.lower()] += count
    outcome.changed += count
    return True


def _erase_row(entry: ModelEntry, row: models.Model, annotations: dict[str, PI], outcome: _Outcome) -> None:
    label = entry.label.lower()
    fields = {f.name: f for f in entry.model._meta.concrete_fields}
    changed = False
    for name, annotation in annotations.items():
        # Kept values stay; blind indexes are recomputed from their (now erased) source on save.
        if annotation.erasure == Erasure.RETAIN_UNDER_LEGAL_DUTY or annotation.derived_from:
            continue
        current = getattr(row, name)
        if annotation.erasure == Erasure.PSEUDONYMISE:
            token = pseudonym(label=label, field=name, pk=row.pk)
            value = _pseudonymous_value(fields[name], token, current)
        else:
            value = _cleared_value(fields[name])
        outcome.cleared[label].add(name)
        # Pseudonyms are stable (keyed by row and field), so an erased value compares equal and
        # a re-erasure after a restore writes only the rows the restore brought back.
        if value != current:
            setattr(row, name, value)
            outcome.rewritten[label].add(name)
            changed = True
    if entry.subject == "self":
        account: Any = row  # the subject's own user row
        if account.is_active or account.has_usable_password():
            account.is_active = False
            account.set_unusable_password()
            changed = True
    if changed:
        # save(), not update(): encrypted fields re-encrypt and blind indexes recompute.
        row.save()
        outcome.changed += 1


def _hold_row(
    entry: ModelEntry, row: models.Model, keep: dict[str, PI], *, subject: Any, reference: str, now, outcome: _Outcome
) -> None:
    label = entry.label.lower()
    policy = next(iter(keep.values())).retention
    until = _hold_until(outcome.policy(policy), row, now)
    outcome.holds.append(
        LegalHold(
            kind=HoldKind.RETENTION_DUTY,
            model_label=label,
            object_id=str(row.pk),
            subject=subject,
            retention_policy=policy,
            hold_until=until,
            reason=f"Deletion request {reference}: kept under {policy}.",
        )
    )
    info = outcome.retained.setdefault(label, {"fields": sorted(keep), "policy": policy, "until": until, "rows": 0})
    info["rows"] += 1
    info["until"] = max(info["until"], until)


@dataclass(frozen=True)
class _Holds:
    """The litigation and regulator holds in force over a subject: on all of the subject's records,
    on some of its tables (``LegalHold.scope``), or on particular rows."""

    on_subject: list[LegalHold]
    on_tables: list[LegalHold]
    on_rows: dict[tuple[str, str], LegalHold]

    @property
    def all(self) -> list[LegalHold]:
        return [*self.on_subject, *self.on_tables, *dict.fromkeys(self.on_rows.values())]

    def row(self, label: str, pk: Any) -> LegalHold | None:
        held = next((hold for hold in self.on_tables if hold.keeps_table(label)), None)
        return held or self.on_rows.get((label, str(pk)))


def _holds_over(subject: Any, now: dt.datetime) -> _Holds:
    user_label = get_user_model()._meta.label_lower
    holds = list(
        LegalHold.objects.in_force(now)
        .filter(subject=subject)
        .exclude(kind=HoldKind.RETENTION_DUTY)  # the law's periods: applied through the annotations
        .order_by("created_at", "pk")
    )
    subject_wide = [h for h in holds if h.model_label == user_label and h.object_id == str(subject.pk)]
    on_rows = {(h.model_label, h.object_id): h for h in holds if h not in subject_wide}
    return _Holds(
        on_subject=[h for h in subject_wide if not h.scope],
        on_tables=[h for h in subject_wide if h.scope],
        on_rows=on_rows,
    )


def _destroy_exports(*, reference: str, subject: Any) -> int:
    """Earlier export bundles of the subject: rows deleted now, files once the erasure commits.

    The rows go in the erasure's transaction (a rollback keeps them and their files); the files
    are deleted after the commit, and a file already gone is not an error."""
    exports = list(DsarExport.objects.select_for_update().filter(dsar__subject=subject).order_by("pk"))
    names = [export.storage_name for export in exports if export.purged_at is None and export.storage_name]
    for export in exports:
        audit_record(
            action=AuditAction.DSAR_EXPORT_DESTROYED,
            actor=None,
            object_type="compliance.DsarExport",
            object_id=str(export.public_id),
            change_diff={"request": reference, "export_of": str(export.dsar.public_id)},
        )
    DsarExport.objects.filter(pk__in=[export.pk for export in exports]).delete()

    def delete_files() -> None:
        for name in names:
            if default_storage.exists(name):
                default_storage.delete(name)

    transaction.on_commit(delete_files)
    return len(exports)


def erase_subject(*, dsar: DataSubjectRequest) -> str | None:
    """Carry out an approved deletion request; returns the statement sent to the subject."""
    from compliance.dsar.services import dsar_erasure_blocked, dsar_fulfil

    with transaction.atomic():
        dsar = DataSubjectRequest.objects.select_for_update().select_related("subject").get(pk=dsar.pk)
        if dsar.status != DsarStatus.APPROVED or not fulfilled_by(dsar.type, Fulfilment.ERASURE):
            return None
        subject, now = dsar.subject, timezone.now()
        balances = subject_balances(subject)
        if balances:
            # Money arrived (or a payout is still in flight) since the approval: nothing is erased;
            # the request stays approved and the officer settles it (``settle-balance``).
            dsar_erasure_blocked(dsar=dsar, balances=balances)
            return None
        holds = _holds_over(subject, now)
        reference = str(dsar.public_id)
        exports = _destroy_exports(reference=reference, subject=subject)
        settled = _settlement_lines(dsar)
        if holds.on_subject:
            statement = _held_statement(holds.all, exports=exports, settled=settled)
            dsar_fulfil(actor=None, dsar=dsar, statement=statement, partial=True)
            return statement
        outcome = _erase_rows(subject, reference=reference, now=now, holds=holds)
        shredded = _shred_subject(subject)
        # On commit, the erasure goes into the ledger outside the database (survives a restore).
        ledger_append(dsar=dsar, erased_at=now, kept_rows=outcome.held_rows)
        statement = _statement(
            deleted=outcome.deleted,
            cleared=outcome.cleared,
            retained=outcome.retained,
            policies=outcome.policies,
            held=outcome.held,
            holds=holds.all,
            exports=exports,
            settled=settled,
            shredded=shredded,
        )
        dsar_fulfil(actor=None, dsar=dsar, statement=statement, partial=bool(holds.all))
    return statement


def _erase_rows(
    subject: Any, *, reference: str, now: dt.datetime, holds: _Holds, kept: frozenset[tuple[str, str]] = frozenset()
) -> _Outcome:
    """Erase every row of the subject the inventory reaches, except the rows a hold (or ``kept``)
    keeps untouched; put the rows a retention duty keeps on dated holds. In the caller's transaction."""
    outcome = _Outcome(policies={policy.code: policy for policy in RetentionPolicy.objects.all()})
    for entry in registry:
        if not is_product_model(entry) or not entry.subject:
            continue
        label = entry.label.lower()
        rows = []
        for row in subject_rows(entry, subject).order_by("pk"):
            if holds.row(label, row.pk) is None and (label, str(row.pk)) not in kept:
                rows.append(row)
            else:
                outcome.held[label] += 1  # kept untouched under the hold
                outcome.held_rows.append((label, str(row.pk)))
        if not rows:
            continue
        annotations = _erasable(entry)
        keep = {n: a for n, a in annotations.items() if a.erasure == Erasure.RETAIN_UNDER_LEGAL_DUTY}
        wants_delete = any(a.erasure == Erasure.DELETE for a in annotations.values())
        if wants_delete and not keep and entry.subject != "self" and _try_delete_rows(entry, rows, outcome):
            continue
        for row in rows:
            _erase_row(entry, row, annotations, outcome)
            if keep:
                _hold_row(entry, row, keep, subject=subject, reference=reference, now=now, outcome=outcome)
    # A row already on an open retention-duty hold keeps it (a re-erasure adds none twice).
    open_holds = set(
        LegalHold.objects.filter(
            kind=HoldKind.RETENTION_DUTY,
            released_at__isnull=True,
            object_id__in=[hold.object_id for hold in outcome.holds],
        ).values_list("model_label", "object_id")
    )
    new_holds = [hold for hold in outcome.holds if (hold.model_label, hold.object_id) not in open_holds]
    LegalHold.objects.bulk_create(new_holds, ignore_conflicts=True)
    outcome.holds_created = len(new_holds)
    outcome.changed += len(new_holds)
    return outcome


@dataclass(frozen=True)
class Reapplied:
    """What a re-erasure changed (all zero / empty: the subject was already erased)."""

    deleted: dict[str, int]
    cleared: dict[str, list[str]]
    rows_changed: int
    holds_created: int
    exports_destroyed: int
    contacts_erased: int
    kept_under_hold: dict[str, int]
    # A litigation or regulator hold over the whole subject in the copy: nothing was erased.
    held_whole_subject: bool
    # The subject's data key was destroyed by this run (False: none was left, or a dry run).
    key_shredded: bool

    @property
    def changed(self) -> bool:
        return bool(self.rows_changed or self.exports_destroyed or self.contacts_erased)

    def counts(self) -> dict[str, Any]:
        """What it changed, for the run's report and its audit record (tables, fields, counts; no PI)."""
        return {
            "deleted": self.deleted,
            "cleared": self.cleared,
            "rows_changed": self.rows_changed,
            "holds_created": self.holds_created,
            "exports_destroyed": self.exports_destroyed,
            "contacts_erased": self.contacts_erased,
            "kept_under_hold": self.kept_under_hold,
        }


def _shred_subject(subject: Any) -> bool:
    """Crypto-shredding (docs/adr/0007): what the erasure kept (retained, held, pseudonymised)
    moves to the field ring (the hold key); then the subject's own key is destroyed, so every other
    copy of its values (backups, replicas, audit diffs, archive segments) becomes unreadable.
    True when a live key was destroyed."""
    ref = subject_keys.ref_for(subject)
    rekey_subject_rows(ref)
    return subject_keys.shred_subject_key(ref.subject_id, subject_type=ref.subject_type)


def destroy_keys_of_erased(*, batch_size: int = 1000) -> int:
    """Destroy any data key still live for a subject whose erasure committed. Returns keys destroyed.

    Backstop for a separate key store: there the key is destroyed after the erasure's commit
    (``subject_keys.shred_subject_key``), so a crash (or the key store unreachable) between the two
    leaves it live. Re-keys what was written about the subject since (the erasure's own
    ``_shred_subject``), then destroys the key. Run by ``compliance.dsar.record_erasures`` (beat,
    every 5 minutes). In single-database mode the erasure destroyed the key in its transaction."""
    from compliance.dsar.models import ErasureLedgerEntry
    from kernel.db_router import separate_key_store

    if not separate_key_store():
        return 0
    users = get_user_model()
    subject_ids = sorted({str(pk) for pk in ErasureLedgerEntry.objects.values_list("subject_id", flat=True)})
    destroyed = 0
    for start in range(0, len(subject_ids), batch_size):
        live = subject_keys.live_subject_keys(users._meta.label_lower, subject_ids[start : start + batch_size])
        for subject in users._default_manager.filter(pk__in=live).order_by("pk"):
            with transaction.atomic():
                destroyed += _shred_subject(subject)
    return destroyed


def reapply_erasure(
    *, subject: Any, reference: str, kept_rows: list[list[str]] | None = None, shred: bool = True
) -> Reapplied:
    """Erase a subject again after a restore, from the erasure ledger's entry (no request needed).

    The restored copy may hold the deletion request in any state (still awaiting approval, or not
    at all): the ledger says the erasure happened, so the wipe runs whatever the request says.
    ``kept_rows`` are the rows the original erasure kept under a hold ([model label, pk]); they,
    and anything under a hold in force in the copy, stay untouched. Idempotent: a second call
    changes nothing and reports nothing changed. Money is not checked (it was settled before the
    erasure; the restored ledger is reconciled from the payment rails). The caller audits.
    ``shred``: destroy the subject's data key as the erasure did (after re-keying what is kept);
    a dry run passes False, because a destroyed key is also forgotten by this process's key cache.
    """
    kept = frozenset((str(label), str(pk)) for label, pk in (kept_rows or []))
    with transaction.atomic():
        now = timezone.now()
        holds = _holds_over(subject, now)
        exports = _destroy_exports(reference=reference, subject=subject)
        if holds.on_subject:
            return Reapplied({}, {}, 0, 0, exports, 0, {}, held_whole_subject=True, key_shredded=False)
        outcome = _erase_rows(subject, reference=reference, now=now, holds=holds, kept=kept)
        shredded = _shred_subject(subject) if shred else False
        # The deletion statement went to the contact captured at filing before the restore (the
        # notice after the erasure's commit); the copy still holds that contact: erase it.
        contacts = 0
        for row in DataSubjectRequest.objects.select_for_update().filter(subject=subject).order_by("pk"):
            if row.notify_contact:  # encrypted: compared once decrypted, never filtered in SQL
                row.notify_contact = ""
                row.save(update_fields=["notify_contact", "updated_at"])
                contacts += 1
        return Reapplied(
            deleted=dict(outcome.deleted),
            cleared={label: sorted(names) for label, names in outcome.rewritten.items()},
            rows_changed=outcome.changed,
            holds_created=outcome.holds_created,
            exports_destroyed=exports,
            contacts_erased=contacts,
            kept_under_hold=dict(outcome.held),
            held_whole_subject=False,
            key_shredded=shredded,
        )


def _money(amount: int, currency: str) -> str:
    return f"{currency} {amount / 100:,.2f}"


def _settlement_lines(dsar: DataSubjectRequest) -> list[str]:
    """What happened to the subject's money before the deletion (from ``balance_settlements``)."""
    lines = []
    for record in dsar.balance_settlements or []:
        method = SettlementMethod(record["method"])
        lines.append(f"  - {_money(record['amount'], record['currency'])} {SETTLEMENT_LABELS[method]}.")
    return lines


def _fields_in_words(label: str, fields: Iterable[str]) -> str:
    return ", ".join(field_name(label, name) for name in sorted(fields))


# The contact captured at filing is kept only until the deletion statement is delivered to it
# (``notices._erase_contacts``): the statement says so instead of listing it as kept for years.
_ERASED_ON_DELIVERY = (DataSubjectRequest._meta.label_lower, "notify_contact")


def _hold_line(hold: LegalHold) -> str:
    until = f"until {hold.hold_until:%Y-%m-%d}" if hold.hold_until else "until it is released"
    keeps = f" (keeps: {', '.join(table_name(label) for label in hold.scope)})" if hold.scope else ""
    return f"  - {hold.get_kind_display()}, {until}: {hold.reason}{keeps}"


def _common_lines(*, exports: int, settled: list[str]) -> list[str]:
    lines = []
    if settled:
        lines += ["", "Your money:", *settled]
    if exports:
        lines += ["", f"Earlier copies of your data prepared for download: {exports} destroyed."]
    return lines


def _held_statement(holds: list[LegalHold], *, exports: int, settled: list[str]) -> str:
    lines = [
        "Your deletion request has not been carried out: your information is under a legal hold and must be "
        "kept while the hold is in force. Nothing has been deleted and you can still log in.",
        "",
        "Holds in force:",
        *[_hold_line(hold) for hold in holds],
        *_common_lines(exports=exports, settled=settled),
        "",
        "You may ask again once the hold has ended; we will then delete what the law allows.",
    ]
    return "\n".join(lines)


def _statement(
    *,
    deleted: dict[str, int],
    cleared: dict[str, set[str]],
    retained: dict[str, dict[str, Any]],
    policies: dict[str, RetentionPolicy],
    held: dict[str, int],
    holds: list[LegalHold],
    exports: int,
    settled: list[str],
    shredded: bool = False,
) -> str:
    lines = ["Your deletion request has been carried out. You can no longer log in.", ""]
    if held:
        lines.append("Kept untouched because of a legal hold, while the hold is in force:")
        lines += [f"  - {table_name(label)}: {count} record(s)" for label, count in sorted(held.items())]
        lines.append("Holds in force:")
        lines += [_hold_line(hold) for hold in holds]
    if deleted:
        lines.append("Deleted entirely:")
        lines += [f"  - {table_name(label)}: {count} record(s)" for label, count in sorted(deleted.items())]
    if cleared:
        lines.append("Erased or replaced by an anonymous token:")
        lines += [
            f"  - {table_name(label)}: {_fields_in_words(label, names)}" for label, names in sorted(cleared.items())
        ]
    if retained:
        lines.append("Kept because the law requires it, then deleted:")
        for label, info in sorted(retained.items()):
            policy = policies.get(info["policy"])
            reason = policy.legal_reason if policy else info["policy"]
            fields = [name for name in info["fields"] if (label, name) != _ERASED_ON_DELIVERY]
            if fields:
                lines.append(
                    f"  - {table_name(label)}: {_fields_in_words(label, fields)} in {info['rows']} record(s), until "
                    f"{info['until']:%Y-%m-%d} ({reason})"
                )
    lines.append("The contact you gave us for this request is erased once this statement has been delivered to it.")
    lines += [
        "",
        "The audit trail of actions on your account is kept for 5 years (FICA, POPIA s19); it refers to you "
        "only by an identifier that no longer leads to your name or contact details.",
        *(
            [
                "The key that encrypted your personal information has been destroyed: copies in our backups "
                "and in the audit trail can no longer be read."
            ]
            if shredded
            else []
        ),
        *_common_lines(exports=exports, settled=settled),
    ]
    return "\n".join(lines)

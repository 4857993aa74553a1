"""The one function every service calls to record a business or security event.

``audit_record`` inserts one *unsealed* row into the append-only ``AuditEvent`` table inside the
caller's transaction: the event exists if and only if the business change commits. It takes no
lock and reads nothing, so concurrent business transactions never wait on each other because of
the audit trail; the sealer (``compliance/audit/chain.py``) chains rows shortly after commit.

PI never reaches a record in clear: ``change_diff`` passes through ``scrub_change_diff`` (keys that
name PI are replaced by ``"***"`` at any depth, and free text is run through the log redactor as a
safety net). PI that must appear (a correction's before/after) is stored only encrypted under its
data subject's key (``build_change_diff(subject=...)``: ``{"enc": "s1:…"}``), which erasure destroys.
Services build their diffs with ``build_change_diff``, which also drops unchanged fields.
Which fields are PI is decided in one place, ``pi_fields_for``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any, cast

from django.core.exceptions import FieldDoesNotExist, PermissionDenied
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.http import HttpRequest

from compliance.pi.masking import MASK
from compliance.pi.vocabulary import REVEAL_PERMISSIONS, Category
from kernel.access import has_permission
from kernel.redaction import redact
from kernel.request_context import client_ip, get_request_id
from kernel.types import Actor


class AuditAction(models.TextChoices):
    """The registry of audit action codes (PMLA record ``action``). Add new codes here only."""

    LOGIN = "LOGIN"
    LOGIN_FAILED = "LOGIN_FAILED"
    LOCKOUT = "LOCKOUT"
    LOGOUT = "LOGOUT"
    TOKEN_REFRESH = "TOKEN_REFRESH"
    PASSWORD_CHANGED = "PASSWORD_CHANGED"
    PASSWORD_RESET_REQUESTED = "PASSWORD_RESET_REQUESTED"
    PASSWORD_RESET = "PASSWORD_RESET"
    REGISTER = "REGISTER"
    PROFILE_UPDATED = "PROFILE_UPDATED"
    PI_CORRECTED = "PI_CORRECTED"  # a DSAR correction (POPIA s24) applied by the owning app's handler
    MFA_ENROLL_STARTED = "MFA_ENROLL_STARTED"
    MFA_ENROLLED = "MFA_ENROLLED"
    MFA_VERIFIED = "MFA_VERIFIED"
    MFA_FAILED = "MFA_FAILED"
    # Security hardening (issue 15): factor removal, lock release, refresh-token reuse, a
    # registration refused for a taken address, duplicate identity in KYC.
    MFA_REMOVED = "MFA_REMOVED"
    LOCKOUT_RELEASED = "LOCKOUT_RELEASED"
    TOKEN_REUSE_DETECTED = "TOKEN_REUSE_DETECTED"
    REGISTER_DUPLICATE = "REGISTER_DUPLICATE"
    KYC_DUPLICATE_FLAGGED = "KYC_DUPLICATE_FLAGGED"
    KYC_DUPLICATE_CLEARED = "KYC_DUPLICATE_CLEARED"
    PERMISSION_DENIED = "PERMISSION_DENIED"
    USER_CREATED = "USER_CREATED"
    USER_DEACTIVATED = "USER_DEACTIVATED"
    ROLE_CHANGED = "ROLE_CHANGED"
    DEPOSIT = "DEPOSIT"
    WITHDRAW = "WITHDRAW"
    TRANSFER = "TRANSFER"
    REVERSAL = "REVERSAL"
    REVERSAL_REQUESTED = "REVERSAL_REQUESTED"
    REVERSAL_APPROVED = "REVERSAL_APPROVED"
    SETTLEMENT_POSTED = "SETTLEMENT_POSTED"
    SETTLEMENT_VOIDED = "SETTLEMENT_VOIDED"
    SETTLEMENT_REFUSED = "SETTLEMENT_REFUSED"
    STATEMENT_LINE_RECORDED = "STATEMENT_LINE_RECORDED"
    KYC_SUBMITTED = "KYC_SUBMITTED"
    KYC_VERIFY = "KYC_VERIFY"
    BANK_ACCOUNT_ADDED = "BANK_ACCOUNT_ADDED"
    BANK_ACCOUNT_VERIFIED = "BANK_ACCOUNT_VERIFIED"
    CARD_ADDED = "CARD_ADDED"
    CARD_DATA_ACCESS = "CARD_DATA_ACCESS"
    CARD_REMOVED = "CARD_REMOVED"
    PI_ACCESS = "PI_ACCESS"
    CONSENT_GRANTED = "CONSENT_GRANTED"
    CONSENT_WITHDRAWN = "CONSENT_WITHDRAWN"
    PURPOSE_CHANGED = "PURPOSE_CHANGED"
    NOTICE_PUBLISHED = "NOTICE_PUBLISHED"
    PROCESSING_RESTRICTED = "PROCESSING_RESTRICTED"
    PROCESSING_RESTRICTION_LIFTED = "PROCESSING_RESTRICTION_LIFTED"
    MARKETING_EXPORT = "MARKETING_EXPORT"
    DSAR_FILED = "DSAR_FILED"
    DSAR_TRANSITION = "DSAR_TRANSITION"
    DSAR_DOWNLOAD = "DSAR_DOWNLOAD"
    DSAR_ESCALATED = "DSAR_ESCALATED"
    # Deletion and its preconditions (issue 16).
    DSAR_BALANCE_SETTLED = "DSAR_BALANCE_SETTLED"
    DSAR_ERASURE_BLOCKED = "DSAR_ERASURE_BLOCKED"
    DSAR_EXPORT_DESTROYED = "DSAR_EXPORT_DESTROYED"
    DSAR_ERASURE_REAPPLIED = "DSAR_ERASURE_REAPPLIED"  # after a restore, from the erasure ledger
    DSAR_RESTRICTION_LIFTED = "DSAR_RESTRICTION_LIFTED"
    DSAR_OBJECTION_APPLIED_AT_FILING = "DSAR_OBJECTION_APPLIED_AT_FILING"
    DSAR_NOTICE_RESENT = "DSAR_NOTICE_RESENT"  # an officer sent an undelivered notice again
    UNCLAIMED_FUNDS_MOVED = "UNCLAIMED_FUNDS_MOVED"
    RETENTION_PURGE = "RETENTION_PURGE"
    RETENTION_POLICY_CHANGED = "RETENTION_POLICY_CHANGED"
    LEGAL_HOLD_PLACED = "LEGAL_HOLD_PLACED"
    LEGAL_HOLD_RELEASED = "LEGAL_HOLD_RELEASED"
    KEY_ROTATED = "KEY_ROTATED"
    KEY_DESTROYED = "KEY_DESTROYED"  # a data subject's key shredded (docs/adr/0007)
    SECRET_ROTATION_OVERDUE = "SECRET_ROTATION_OVERDUE"
    AUDIT_EXPORTED = "AUDIT_EXPORTED"
    AUDIT_ARCHIVED = "AUDIT_ARCHIVED"
    AUDIT_CHAIN_BROKEN = "AUDIT_CHAIN_BROKEN"
    AUDIT_VERIFY_REQUESTED = "AUDIT_VERIFY_REQUESTED"


class ActorType(models.TextChoices):
    USER = "user"
    SYSTEM = "system"
    ANONYMOUS = "anonymous"


# Checked on every write (a choices class's .values rebuilds its list on each access).
KNOWN_ACTIONS = frozenset(AuditAction.values)
KNOWN_ACTOR_TYPES = frozenset(ActorType.values)


# --- What counts as personal information --------------------------------------------------------
# Masked values in diffs carry the one masking helper's mask (``MASK``, compliance/pi/masking.py).

# Conservative built-in rule, used until (and alongside) the PI inventory: a key is PI when one
# of its ``_``-separated words is below, or it contains one of the longer phrases. False positives
# cost a less useful diff; a false negative puts PI into a record that can never be erased.
_PI_WORDS = frozenset(
    {
        "email",
        "username",
        "phone",
        "mobile",
        "msisdn",
        "dob",
        "birthday",
        "address",
        "street",
        "postcode",
        "name",
        "surname",
        "pan",
        "card",
        "cvv",
        "cvc",
        "pin",
        "password",
        "passcode",
        "otp",
        "totp",
        "token",
        "secret",
        "key",
        "ip",
        "passport",
        "iban",
        "signature",
    }
)
_PI_PHRASES = ("id_number", "idnumber", "date_of_birth", "birth", "bank_account", "account_number", "ip_address")
_WORD_SPLIT = re.compile(r"[^a-z0-9]+")


def is_pi_name(name: str) -> bool:
    lowered = name.lower()
    if any(phrase in lowered for phrase in _PI_PHRASES):
        return True
    return any(word in _PI_WORDS for word in _WORD_SPLIT.split(lowered) if word)


def pi_fields_for(model: type[models.Model] | None) -> frozenset[str]:
    """The names of ``model``'s fields that hold PI.

    The PI inventory (``compliance.pi``) is the authority: every annotated field (blind indexes
    included) is PI. The name rule stays as a safety net for models or fields not (yet)
    annotated; callers can still add ``pi_fields`` explicitly.
    """
    if model is None:
        return frozenset()
    from compliance.pi.registry import pi_field_names

    names = set(pi_field_names(model))
    for name in list(names):
        # Diffs may be keyed by the column name of a foreign key ("user_id") as well as the field.
        try:
            names.add(cast("models.Field[Any, Any]", model._meta.get_field(name)).attname)  # PI names are concrete
        except FieldDoesNotExist:  # a declared name that is not a field (the checks report it)
            continue
    for field in model._meta.get_fields():
        for name in {field.name, getattr(field, "attname", field.name)}:
            if is_pi_name(name):
                names.add(name)
    return frozenset(names)


def _json_safe(value: Any) -> Any:
    # Dates, decimals and UUIDs become strings exactly as DRF would render them; anything that
    # cannot be encoded fails here, in the caller's transaction, not later in the sealer.
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


ENCRYPTED_VALUE_KEY = "enc"


def is_encrypted_value(item: Any) -> bool:
    """``{"enc": "s1:<subject key id>:<base64>"}``: a PI value encrypted under its subject's key."""
    from compliance.crypto.subject_keys import is_subject_token

    return isinstance(item, dict) and len(item) == 1 and is_subject_token(item.get(ENCRYPTED_VALUE_KEY))


def scrub_change_diff(value: Any, pi_fields: Iterable[str] = ()) -> Any:
    """Replace every PI-named key's value by ``MASK`` at any depth; redact PI patterns in text.

    A value already encrypted under its data subject's key (``{"enc": "s1:…"}``, from
    ``build_change_diff(subject=...)``) is kept as is: it is ciphertext, unreadable once the
    subject is erased (docs/adr/0007), and the record's hash covers the ciphertext."""
    explicit = frozenset(pi_fields)

    def scrub(item: Any) -> Any:
        if is_encrypted_value(item):
            return item
        if isinstance(item, dict):
            return {
                str(key): (
                    inner
                    if is_encrypted_value(inner)
                    else MASK
                    if (str(key) in explicit or is_pi_name(str(key)))
                    else scrub(inner)
                )
                for key, inner in item.items()
            }
        if isinstance(item, list):
            return [scrub(inner) for inner in item]
        if isinstance(item, str):
            return redact(item)
        return item

    return scrub(_json_safe(value))


def build_change_diff(
    *,
    model: type[models.Model] | None,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    pi_fields: Iterable[str] = (),
    subject: models.Model | None = None,
) -> dict[str, Any]:
    """The before/after of the fields that changed, with every PI field fully masked.

    A PI field that changed still appears (as ``"***"`` on both sides) so the record shows *that*
    it changed, never *what* it was or became. Creation: ``before=None``; deletion: ``after=None``.

    With ``subject`` (the data subject the values belong to, e.g. the user a correction is about)
    PI values are kept, but only encrypted under that subject's key: ``{"enc": "s1:…"}``. The admin
    reveals them with a reason; erasing the subject destroys the key, and the record, its hash and
    the chain stay intact (docs/adr/0007). A subject already erased gets the mask.
    """
    before = _json_safe(before or {})
    after = _json_safe(after or {})
    masked = pi_fields_for(model) | frozenset(pi_fields)
    changed = sorted(key for key in set(before) | set(after) if before.get(key) != after.get(key))
    diff: dict[str, Any] = {"before": {}, "after": {}}
    for key in changed:
        for side, values in (("before", before), ("after", after)):
            if key in values:
                if key not in masked:
                    diff[side][key] = values[key]
                elif subject is not None and values[key] not in (None, ""):
                    diff[side][key] = encrypt_diff_value(subject, values[key])
                else:
                    diff[side][key] = MASK
    scrubbed: dict[str, Any] = scrub_change_diff(diff, masked)
    return scrubbed


def encrypt_diff_value(subject: models.Model, value: Any) -> Any:
    """``{"enc": token}`` of a JSON value under ``subject``'s key; the mask if that key is destroyed."""
    from compliance.crypto import subject_keys

    token = subject_keys.encrypt(
        subject_keys.ref_for(subject),
        json.dumps(value, sort_keys=True, ensure_ascii=False).encode("utf-8"),
        associated_data=subject_keys.AUDIT_DIFF_AAD,
    )
    # Never a field-ring token in a record: it would outlive the subject's erasure.
    return {ENCRYPTED_VALUE_KEY: token} if subject_keys.is_subject_token(token) else MASK


def reveal_change_diff(value: Any) -> Any:
    """``value`` with every encrypted diff value decrypted (``"[shredded]"`` once its key is gone).

    Callers are the reveal-with-reason screens only (PI_ACCESS recorded there)."""
    from compliance.crypto import aead, subject_keys

    if is_encrypted_value(value):
        try:
            raw = subject_keys.decrypt(value[ENCRYPTED_VALUE_KEY], associated_data=subject_keys.AUDIT_DIFF_AAD)
        except subject_keys.SubjectKeyDestroyed:
            return subject_keys.SHREDDED
        except aead.FieldDecryptionError:
            return MASK
        return json.loads(raw)
    if isinstance(value, dict):
        return {key: reveal_change_diff(inner) for key, inner in value.items()}
    if isinstance(value, list):
        return [reveal_change_diff(inner) for inner in value]
    return value


def has_encrypted_values(value: Any) -> bool:
    if is_encrypted_value(value):
        return True
    if isinstance(value, dict):
        return any(has_encrypted_values(inner) for inner in value.values())
    if isinstance(value, list):
        return any(has_encrypted_values(inner) for inner in value)
    return False


def mask_change_diff(value: Any) -> Any:
    """``value`` with every encrypted diff value shown as the mask (or ``"[shredded]"``)."""
    from compliance.crypto import subject_keys

    if is_encrypted_value(value):
        token = value[ENCRYPTED_VALUE_KEY]
        return subject_keys.SHREDDED if subject_keys.token_destroyed(token) else MASK
    if isinstance(value, dict):
        return {key: mask_change_diff(inner) for key, inner in value.items()}
    if isinstance(value, list):
        return [mask_change_diff(inner) for inner in value]
    return value


# --- Writing records ----------------------------------------------------------------------------
def _object_type_of(value: Any) -> str:
    return value._meta.label if hasattr(value, "_meta") else str(value)


def audit_record(
    *,
    action: str,
    actor: Actor | None = None,
    actor_type: str | None = None,
    object_type: str = "",
    object_id: str = "",
    change_diff: dict[str, Any] | None = None,
    request: HttpRequest | None = None,
    source_ip: str | None = None,
    pi_fields: Iterable[str] = (),
) -> Any:
    """Record one audit event in the caller's transaction and return the (unsealed) row.

    ``actor`` is a user (or None for the system/anonymous callers, with ``actor_type`` saying
    which); ``change_diff`` should come from ``build_change_diff`` and is scrubbed again here
    (``pi_fields`` names extra keys to mask); ``request`` supplies the source IP (through trusted
    proxies only); the request id comes from the request context.
    """
    from compliance.audit.models import AuditEvent

    if action not in KNOWN_ACTIONS:
        raise ValueError(f"Unknown audit action {action!r}: add it to AuditAction.")
    user_pk = getattr(actor, "pk", None) if getattr(actor, "is_authenticated", False) else None
    if actor_type is None:
        actor_type = ActorType.USER if user_pk else ActorType.SYSTEM
    if actor_type not in KNOWN_ACTOR_TYPES:
        raise ValueError(f"Unknown actor type {actor_type!r}.")
    if source_ip is None and request is not None:
        source_ip = client_ip(request)
    return AuditEvent.objects.create(
        action=action,
        user_id=user_pk if actor_type == ActorType.USER else None,
        actor_type=actor_type,
        source_ip=source_ip or None,
        change_diff=scrub_change_diff(change_diff or {}, pi_fields),
        request_id=(get_request_id() or "")[:128],
        object_type=_object_type_of(object_type)[:100],
        object_id=str(object_id)[:64],
    )


def audit_key_destroyed(key_id: int, ref: Any, format_version: int) -> Any:
    """KEY_DESTROYED for a shredded subject key (``compliance.crypto.subject_keys``): ids only, no PI."""
    return audit_record(
        action=AuditAction.KEY_DESTROYED,
        actor=None,
        actor_type=ActorType.SYSTEM,
        object_type="compliance.SubjectKey",
        object_id=str(key_id),
        change_diff={"subject_type": ref.subject_type, "subject": ref.subject_id, "format": format_version},
    )


REVEAL_REASON_MAX = 140


def revealable(actor: Actor, fields: Mapping[str, Category | None]) -> list[str]:
    """Which of ``fields`` (name -> PI category) ``actor`` may reveal: each category needs its
    permission (``REVEAL_PERMISSIONS``); a field of no known category needs them all."""

    def may(category: Category | None) -> bool:
        needed = [REVEAL_PERMISSIONS[category]] if category else list(REVEAL_PERMISSIONS.values())
        return all(has_permission(actor, permission) for permission in needed)

    return sorted(name for name, category in fields.items() if may(category))


def pi_reveal(
    *,
    actor: Actor,
    subject_type: str,
    subject_id: str,
    fields: Mapping[str, Category | None],
    reason: str,
    request: HttpRequest | None = None,
) -> list[str]:
    """A deliberate reveal of masked PI: which of ``fields`` (name -> PI category) ``actor`` may see.

    Each category needs its reveal permission (``revealable``). Fields outside the actor's
    permissions stay masked; when none is allowed the reveal is refused (``PermissionDenied``, audited once as
    PERMISSION_DENIED by the one denial path). Otherwise one PI_ACCESS record (CARD_DATA_ACCESS when
    card data is among them) names the fields revealed and the stated reason (PI patterns in the
    reason redacted), never the values. Returns the revealed field names.
    """
    allowed = revealable(actor, fields)
    if not allowed:
        raise PermissionDenied("You may not reveal this personal information.")
    reason = " ".join(redact(reason or "").split())[:REVEAL_REASON_MAX]
    if not reason:
        from kernel.errors import DomainError  # kernel.errors imports DRF, whose settings import this module

        raise DomainError("Say why you need to see this personal information.", code="reason_required")
    card = any(fields[name] == Category.CARD for name in allowed)
    audit_pi_access(
        actor=actor,
        subject_type=subject_type,
        subject_id=subject_id,
        fields=allowed,
        request=request,
        card_data=card,
        purpose=reason,
    )
    return allowed


def audit_pi_access(
    *,
    actor: Actor,
    subject_type: str,
    subject_id: str,
    fields: Iterable[str],
    request: HttpRequest | None = None,
    card_data: bool = False,
    purpose: str = "",
) -> Any:
    """Record that ``actor`` read PI of one subject: which fields (names only), never the values.

    ``card_data=True`` records a CARD_DATA_ACCESS (a PAN reveal) instead of a PI_ACCESS.
    """
    diff: dict[str, Any] = {"fields": sorted(set(fields))}
    if purpose:
        diff["purpose"] = purpose
    return audit_record(
        action=AuditAction.CARD_DATA_ACCESS if card_data else AuditAction.PI_ACCESS,
        actor=actor,
        actor_type=None if getattr(actor, "is_authenticated", False) else ActorType.ANONYMOUS,
        object_type=subject_type,
        object_id=subject_id,
        change_diff=diff,
        request=request,
    )


# --- The auditor's jobs, shared by the API (compliance/audit/views.py) and the admin landing page --
VERIFY_TASK = "compliance.tasks.verify_audit_chain"
AUDIT_VIEW_PERMISSION = "compliance.view_auditevent"
# The report's filters as callers name them -> the selector's keywords.
REPORT_FILTERS = {
    "action": "action",
    "actor": "actor",
    "object_type": "object_type",
    "object_id": "object_id",
    "from": "date_from",
    "to": "date_to",
}


def audit_verify_request(*, actor: Actor, request: HttpRequest | None = None) -> None:
    """An auditor asks for a verification of the whole chain now: recorded, and the verification
    task enqueued once this transaction commits (the worker runs it; the page shows the result)."""
    from django.db import transaction

    from kernel.access import require_permission
    from kernel.tasks import enqueue_on_commit

    require_permission(actor, AUDIT_VIEW_PERMISSION, "Only auditors may verify the audit chain.")
    with transaction.atomic():
        audit_record(
            action=AuditAction.AUDIT_VERIFY_REQUESTED,
            actor=actor,
            object_type="audit.chain",
            object_id="verify",
            request=request,
        )
        enqueue_on_commit(VERIFY_TASK)


class ReportTooLarge(Exception):
    """More events match than ``AUDIT_REPORT_MAX_ROWS``: the caller narrows the filters."""


def audit_report_export(
    *, actor: Actor, filters: dict[str, Any], output: str, request: HttpRequest | None = None
) -> dict[str, Any]:
    """The audit report (events matching ``filters`` with counts), recorded as AUDIT_EXPORTED.

    ``filters``: validated values keyed as ``REPORT_FILTERS`` (``from``/``to`` are datetimes,
    ``actor`` a public id). Auditors only; read on the reporting replica when there is one."""
    from django.conf import settings
    from django.db import transaction
    from django.utils import timezone

    from compliance.audit.selectors import audit_events_for_auditor, event_as_dict, report_summary
    from kernel.access import require_permission
    from kernel.db_router import reporting_reads

    require_permission(actor, AUDIT_VIEW_PERMISSION, "Only auditors may export the audit trail.")
    limit = settings.AUDIT_REPORT_MAX_ROWS
    with reporting_reads():
        keywords = {REPORT_FILTERS[key]: value for key, value in filters.items() if key in REPORT_FILTERS}
        queryset = audit_events_for_auditor(viewer=actor, **keywords)
        events = [event_as_dict(event) for event in queryset.order_by("timestamp", "id")[: limit + 1]]
    if len(events) > limit:
        raise ReportTooLarge(f"More than {limit} events match: narrow the period or the filters.")
    shown = {key: str(value) for key, value in filters.items() if value not in (None, "")}
    with transaction.atomic():
        audit_record(
            action=AuditAction.AUDIT_EXPORTED,
            actor=actor,
            object_type="audit.report",
            object_id=output,
            change_diff={"filters": shown, "count": len(events)},
            request=request,
        )
    return {
        "generated_at": timezone.now().isoformat(),
        "filters": shown,
        "summary": report_summary(events),
        "events": events,
    }

"""Request types: one handler class per type, one registry (POPIA s23, s24, s11(3), s14).

Everything that differs between an access request and a deletion lives on the type's class, so
the workflow (``compliance.dsar.services``), the admin and the API never ask "which type is this?":

- ``inputs`` — what the subject gives at filing beyond the free-text ``details``:
  ``requested_changes`` (one value per correctable field) and/or ``purposes`` (declared processing
  purposes). The on-behalf admin form and the filing serializers are built from these.
- ``validate()`` — the filing's rules (an input the type does not take is refused, a declared
  input is required; subclasses add their own through ``clean()``).
- ``four_eyes`` — approval needs a first officer's request and a different second officer.
- ``fulfilment`` — how an approved request is carried out: by a task after commit (``EXPORT``,
  ``ERASURE``), or at once in the approval's transaction (``AT_APPROVAL``: ``approved()`` returns the
  outcome the request is fulfilled with).
- ``rejected()`` — what a rejection does beyond recording it (a correction leaves the s24(3) note).
- ``label`` (the ``DsarType`` label shown everywhere) and ``statute`` (the right it exercises).

A new type is one subclass and one ``@kinds.register``; the type's value must also be a
``DsarType`` member (stored data and the API enum), which the ``compliance.E601`` system check and
a test enforce in both directions.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, ClassVar

from django.core.exceptions import ImproperlyConfigured

from compliance.consent.models import ProcessingPurpose
from compliance.consent.selectors import flag_in_force
from compliance.consent.services import (
    ConsentError,
    direct_marketing_objection_apply,
    processing_restriction_set,
)
from compliance.dsar.balances import describe_balances, subject_balances
from compliance.dsar.corrections import correctable_fields, correction_apply, correction_note_attach
from compliance.dsar.errors import DsarError
from compliance.dsar.models import DataSubjectRequest, NoticeKind
from compliance.pi.registry import correctable_fields as registry_correctable
from compliance.pi.vocabulary import DIRECT_MARKETING_PURPOSES, PURPOSES, purpose_refusal
from kernel.tasks import enqueue_on_commit
from kernel.types import Actor


class FilingInput(StrEnum):
    DETAILS = "details"
    REQUESTED_CHANGES = "requested_changes"
    PURPOSES = "purposes"


FILING_INPUT_HELP: dict[FilingInput, str] = {
    FilingInput.DETAILS: "The subject's own words about the request (optional).",
    FilingInput.REQUESTED_CHANGES: "The corrected value of each field to correct (leave the others empty).",
    FilingInput.PURPOSES: "The processing purposes the request is about.",
}


class Fulfilment(StrEnum):
    EXPORT = "export"  # the export task builds the bundle after the approval commits
    ERASURE = "erasure"  # the erasure task erases the subject after the approval commits
    AT_APPROVAL = "at_approval"  # carried out inside the approval's transaction


# The Celery task (by its registered name: an interface) that carries out each deferred fulfilment.
FULFILMENT_TASKS: dict[Fulfilment, str] = {
    Fulfilment.EXPORT: "compliance.dsar.build_export",
    Fulfilment.ERASURE: "compliance.dsar.erase_subject",
}


@dataclass(frozen=True)
class Filing:
    """What the subject asked for, as the type will store it."""

    details: str = ""
    requested_changes: dict[str, str] | None = None
    purposes: list[str] | None = None


@dataclass(frozen=True)
class Outcome:
    """The statement sent to the subject; ``partial`` when part of the request could not be done."""

    statement: str
    partial: bool = False


def declared_purposes() -> list[tuple[str, str]]:
    """(code, name) of the processing purposes a subject may name: the published, active ones."""
    return list(ProcessingPurpose.objects.filter(is_active=True).order_by("code").values_list("code", "name"))


class DsarKind:
    """Base class of a request type. Subclasses set the class attributes and override the hooks."""

    slug: ClassVar[str]  # the DsarType value: stored in DataSubjectRequest.type and used by the API
    label: ClassVar[str]  # the DsarType label
    statute: ClassVar[str]  # the right the request exercises
    inputs: ClassVar[frozenset[FilingInput]] = frozenset({FilingInput.DETAILS})
    four_eyes: ClassVar[bool] = False
    fulfilment: ClassVar[Fulfilment]
    # Issue 16: a deletion settles the subject's money first; a flag (objection, restriction) can be lifted.
    settles_balance: ClassVar[bool] = False
    liftable: ClassVar[bool] = False
    # The notice the subject receives when the request is fulfilled (compliance.dsar.notices).
    outcome_notice: ClassVar[str] = NoticeKind.OUTCOME
    # EXPORT types: the bundle's layout (compliance.dsar.export): "access" (the human-readable copy
    # with README, who accessed the data and a data dictionary) or "portability" (the documented
    # machine-readable schema, portability.schema.json).
    export_format: ClassVar[str] = "access"

    def __str__(self) -> str:
        return self.slug

    def takes(self, name: FilingInput) -> bool:
        return name in self.inputs

    # --- filing -------------------------------------------------------------------------------
    def validate(self, filing: Filing) -> Filing:
        """Refuse inputs the type does not take, require the ones it declares, then ``clean()``."""
        changes = {str(key): str(value) for key, value in (filing.requested_changes or {}).items()}
        purposes = sorted(set(filing.purposes or []))
        if changes and not self.takes(FilingInput.REQUESTED_CHANGES):
            raise DsarError("Only a correction request says what should be corrected.", code="changes_not_applicable")
        if purposes and not self.takes(FilingInput.PURPOSES):
            raise DsarError("Purposes apply only to objections and restrictions.", code="purposes_not_applicable")
        if self.takes(FilingInput.REQUESTED_CHANGES) and not changes:
            raise DsarError("A correction request must say what should be corrected.", code="changes_required")
        if self.takes(FilingInput.PURPOSES):
            if not purposes:
                raise DsarError("Say which processing purposes the request is about.", code="purposes_required")
            known = set(ProcessingPurpose.objects.filter(code__in=purposes).values_list("code", flat=True))
            if known != set(purposes):
                raise DsarError("Unknown processing purpose.", code="unknown_purpose")
        return self.clean(Filing(details=filing.details or "", requested_changes=changes, purposes=purposes))

    def clean(self, filing: Filing) -> Filing:
        """A type's own filing rules (raise ``DsarError``); the default accepts."""
        return filing

    def filed(self, *, filed_by: Any, dsar: DataSubjectRequest) -> list[str]:
        """Called in the filing's transaction: what takes effect at once, before any review (the
        purposes stopped, recorded on the request); the default: nothing."""
        return []

    # --- decisions ----------------------------------------------------------------------------
    def approved(self, *, actor: Actor, dsar: DataSubjectRequest) -> Outcome | None:
        """Called in the approval's transaction. Return the outcome to fulfil with at once, or None
        when a task carries the request out after commit (scheduled here)."""
        task = FULFILMENT_TASKS.get(self.fulfilment)
        if task is None:
            # A declaration error (AT_APPROVAL without its own approved()), not a missing feature.
            raise ImproperlyConfigured(f"{type(self).__name__} is fulfilled at approval but has no approved().")
        enqueue_on_commit(task, dsar.pk)
        return None

    def rejected(self, *, actor: Actor, dsar: DataSubjectRequest, reason: str) -> None:
        """Called in the rejection's transaction, before the request moves to rejected."""

    def lift(self, *, actor: Actor, dsar: DataSubjectRequest, reason: str) -> list[str]:
        """Undo what the request put in force (types that are ``liftable``); returns what was lifted."""
        return []


class KindRegistry:
    """The request types, by slug. ``register`` is a class decorator."""

    def __init__(self) -> None:
        self._kinds: dict[str, DsarKind] = {}

    def register(self, kind_class: type[DsarKind]) -> type[DsarKind]:
        slug = kind_class.slug
        if slug in self._kinds:
            raise ValueError(f"A request type {slug!r} is already registered.")
        self._kinds[slug] = kind_class()
        return kind_class

    def unregister(self, slug: str) -> None:
        self._kinds.pop(slug)

    def get(self, slug: str) -> DsarKind:
        try:
            return self._kinds[slug]
        except KeyError:
            raise DsarError("Unknown request type.", code="invalid_type") from None

    def __contains__(self, slug: object) -> bool:
        return slug in self._kinds

    def __iter__(self) -> Iterator[DsarKind]:
        return iter(list(self._kinds.values()))

    def slugs(self) -> list[str]:
        return list(self._kinds)

    def choices(self) -> list[tuple[str, str]]:
        return [(kind.slug, kind.label) for kind in self]

    def taking(self, name: FilingInput) -> list[DsarKind]:
        return [kind for kind in self if kind.takes(name)]

    def filing_inputs(self) -> list[FilingInput]:
        """Every input some registered type takes, in declaration order."""
        return [name for name in FilingInput if self.taking(name)]


kinds = KindRegistry()


def kind_for(slug: str) -> DsarKind:
    return kinds.get(slug)


def fulfilled_by(slug: str, fulfilment: Fulfilment) -> bool:
    """Whether requests of type ``slug`` are carried out by ``fulfilment`` (the tasks' guard)."""
    return slug in kinds and kinds.get(slug).fulfilment == fulfilment


def correctable() -> list[str]:
    """The fields a correction may change: those the PI inventory marks correctable (each with its
    owning app's registered handler: compliance.E603)."""
    return sorted(set(registry_correctable()) & set(correctable_fields()))


@kinds.register
class AccessKind(DsarKind):
    slug = "access"
    label = "Access (s23)"
    statute = "POPIA s23: confirmation and a copy of the personal information held"
    fulfilment = Fulfilment.EXPORT
    outcome_notice = NoticeKind.EXPORT_READY


@kinds.register
class CorrectionKind(DsarKind):
    slug = "correction"
    label = "Correction (s24)"
    statute = "POPIA s24(1)(a): correction of inaccurate, out-of-date or misleading information"
    inputs = frozenset({FilingInput.DETAILS, FilingInput.REQUESTED_CHANGES})
    fulfilment = Fulfilment.AT_APPROVAL

    def approved(self, *, actor: Actor, dsar: DataSubjectRequest) -> Outcome:
        """The officer's verified correction, carried out by the owning apps' services."""
        corrected, refused = correction_apply(actor=actor, dsar=dsar)
        lines = []
        if corrected:
            lines.append(f"Corrected: {', '.join(corrected)}.")
        if refused:
            lines.append(f"Not corrected: {'; '.join(refused)}.")
        return Outcome(" ".join(lines), partial=bool(refused))

    def rejected(self, *, actor: Actor, dsar: DataSubjectRequest, reason: str) -> None:
        # s24(3): the data stays as it is, with a note that a correction was requested.
        correction_note_attach(dsar=dsar, reason=reason)


@kinds.register
class DeletionKind(DsarKind):
    slug = "deletion"
    label = "Deletion (s24)"
    statute = "POPIA s24(1)(b): deletion of information the platform is no longer authorised to keep"
    four_eyes = True
    fulfilment = Fulfilment.ERASURE
    outcome_notice = NoticeKind.DELETION_STATEMENT
    settles_balance = True

    def approved(self, *, actor: Actor, dsar: DataSubjectRequest) -> Outcome | None:
        # Money is never stranded by a deletion: refused (the approval rolls back) while the subject
        # holds any, available or pending; the officer settles it first (``settle-balance``).
        refuse_while_balance(dsar)
        return super().approved(actor=actor, dsar=dsar)


def purpose_name(code: str) -> str:
    """A purpose as the subject reads it in the notices ("Direct marketing by us")."""
    return PURPOSES[code].name if code in PURPOSES else code


def purpose_names(codes: list[str]) -> str:
    return ", ".join(purpose_name(code) for code in codes)


def refuse_while_balance(dsar: DataSubjectRequest) -> None:
    """Raise ``balance_outstanding`` while a registered holder keeps money for the subject."""
    balances = subject_balances(dsar.subject)
    if balances:
        in_flight = all(balance.available == 0 for balance in balances)
        raise DsarError(
            (
                f"The subject still holds money ({describe_balances(balances)}). "
                + (
                    "A payout or deposit is still in flight: wait until it settles."
                    if in_flight
                    else "Settle it first (settle-balance: payout to a verified bank account, or unclaimed funds)."
                )
            ),
            code="balance_pending" if in_flight else "balance_outstanding",
        )


@kinds.register
class PortabilityKind(DsarKind):
    slug = "portability"
    label = "Portability"
    statute = "POPIA s23(1)(b): the information in a structured, machine-readable form"
    fulfilment = Fulfilment.EXPORT
    outcome_notice = NoticeKind.EXPORT_READY
    export_format = "portability"


class ProcessingFlagKind(DsarKind):
    """Objection / restriction: set the flags ``may_process`` honours, in the approval's transaction.

    Each purpose goes through the consent service (which refuses objections where POPIA s11(3)
    gives no right to object); what was refused is said in the statement and makes the outcome
    partial. Lifting the flags later is the ``lift-restriction`` workflow action (``lift()``), audited.
    An objection to direct marketing takes effect when filed (``ObjectionKind.filed``).
    """

    inputs = frozenset({FilingInput.DETAILS, FilingInput.PURPOSES})
    fulfilment = Fulfilment.AT_APPROVAL
    liftable = True
    flag: ClassVar[str]  # the ProcessingRestrictionEvent kind

    def clean(self, filing: Filing) -> Filing:
        # A purpose the law does not let a restriction or objection stop is refused at filing,
        # with the legal reason (shown to the subject and the officer), never recorded to be
        # consulted by nothing (compliance.pi.vocabulary: each purpose says what a restriction does).
        refusals = [
            f"{code}: {reason}" for code in filing.purposes or () if (reason := purpose_refusal(code, self.flag))
        ]
        if refusals:
            raise DsarError(" ".join(refusals), code="purpose_not_restrictable")
        return filing

    def approved(self, *, actor: Actor, dsar: DataSubjectRequest) -> Outcome:
        applied, refused = [], []
        at_filing = [code for code in dsar.purposes if code in dsar.applied_at_filing]
        for code in dsar.purposes:
            if code in at_filing:
                continue  # in force since the filing (s11(3)(b)); approving does not apply it twice
            try:
                processing_restriction_set(
                    actor=actor, subject=dsar.subject, purpose=code, kind=self.flag, active=True,
                    reason=f"Data-subject request {dsar.public_id}", reference=str(dsar.public_id),
                )  # fmt: skip
                applied.append(code)
            except ConsentError as error:
                refused.append(f"{purpose_name(code)} ({error})")
        # The statement is the subject's: purposes by the names the notices use, never their codes.
        lines = []
        if at_filing:
            lines.append(f"Stopped when you filed the request (direct marketing): {purpose_names(at_filing)}.")
        if applied:
            lines.append(f"We no longer process your information for: {purpose_names(applied)} ({self.flag}).")
        if refused:
            lines.append(f"Not applied, because the law requires or allows this processing: {'; '.join(refused)}.")
        return Outcome(" ".join(lines), partial=bool(refused))

    def lift(self, *, actor: Actor, dsar: DataSubjectRequest, reason: str) -> list[str]:
        """Lift the flags this request put in force (those still in force); returns the purposes lifted."""
        lifted = []
        for code in sorted({*dsar.purposes, *dsar.applied_at_filing}):
            if flag_in_force(subject=dsar.subject, purpose_code=code, kind=self.flag):
                processing_restriction_set(
                    actor=actor, subject=dsar.subject, purpose=code, kind=self.flag, active=False,
                    reason=reason, reference=str(dsar.public_id),
                )  # fmt: skip
                lifted.append(code)
        return lifted


@kinds.register
class ObjectionKind(ProcessingFlagKind):
    slug = "objection"
    label = "Objection (s11(3))"
    statute = "POPIA s11(3): objection to processing on legitimate-interest grounds or for direct marketing"
    flag = "objection"

    def filed(self, *, filed_by: Any, dsar: DataSubjectRequest) -> list[str]:
        # POPIA s11(3)(b), s69: direct marketing stops when the objection is filed, not when reviewed.
        applied = []
        for code in dsar.purposes:
            if code in DIRECT_MARKETING_PURPOSES:
                direct_marketing_objection_apply(
                    subject=dsar.subject, filed_by=filed_by, purpose=code, reference=str(dsar.public_id)
                )
                applied.append(code)
        return applied


@kinds.register
class RestrictionKind(ProcessingFlagKind):
    slug = "restriction"
    label = "Restriction (s14)"
    statute = "POPIA s14(6): restriction of processing while accuracy or lawfulness is in question"
    flag = "restriction"

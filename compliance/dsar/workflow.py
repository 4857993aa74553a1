"""The DSAR workflow table: every action an officer can take on a request, defined once.

    received -> identity_verified -> in_review -> approved | rejected
    approved -> fulfilled | partially_fulfilled;  rejected | fulfilled | partially_fulfilled -> closed

Each ``Action`` says its URL slug (admin ``…/act/<slug>/``, API ``/api/v1/officer/dsar/{id}/<slug>/``),
its button label, the states it may start from and lead to, its inputs (from which the admin's
form and the API's serializer are built, and whose required-ness the services check), the
permission it needs, the rule that may still refuse it (four eyes, the one extension) and the
function of ``compliance.dsar.services`` that carries it out (called with the inputs as keyword
arguments). The services check ``from_states`` on the row locked ``FOR UPDATE``; the admin shows
exactly the actions ``next_actions`` returns for the officer looking at the request.

Four eyes is data: ``FOUR_EYES`` names the action that asks for a second approval, the action
that gives it and the field recording the first officer; it binds for the request types whose
handler says ``four_eyes`` (``compliance.dsar.kinds``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from django.utils import timezone

from compliance.dsar.balances import SETTLEMENT_LABELS
from compliance.dsar.errors import DsarError
from compliance.dsar.kinds import kind_for
from compliance.dsar.models import DSAR_MAX_EXTENSION_DAYS, OPEN_STATUSES, DataSubjectRequest, DsarStatus, NoticeKind
from kernel.types import Actor

PROCESS_PERMISSION = "compliance.process_dsar"


class InputType(StrEnum):
    TEXT = "text"  # free text (textarea in the admin, string in the API)
    DAYS = "days"  # a whole number of days, 1..DSAR_MAX_EXTENSION_DAYS
    FLAG = "flag"  # yes/no, default no
    OFFICER = "officer"  # another information officer (by public id); empty means the actor
    CHOICE = "choice"  # one of ``Input.choices``


@dataclass(frozen=True)
class Input:
    name: str
    input_type: InputType
    required: bool = False
    help: str = ""
    # When a required input is missing: the refusal's message (shown to the officer) and code.
    missing: str = ""
    missing_code: str = ""
    max_length: int = 5000
    choices: tuple[tuple[str, str], ...] = ()  # CHOICE: (value, label)

    def is_missing(self, value: Any) -> bool:
        if self.input_type == InputType.TEXT:
            return not str(value or "").strip()
        return value in (None, "")


@dataclass(frozen=True)
class FourEyes:
    """A second officer must approve what a first officer asked to be approved."""

    request: str  # the action slug that asks for the second approval
    approve: str  # the action slug that gives it
    recorded_in: str  # the request's field naming the first officer

    def applies(self, dsar: DataSubjectRequest) -> bool:
        return kind_for(dsar.type).four_eyes

    def first_officer_id(self, dsar: DataSubjectRequest) -> Any:
        return getattr(dsar, f"{self.recorded_in}_id")


# Taking a request for review ("assign to me"); also a list action in the admin.
ASSIGN = "assign"

FOUR_EYES = FourEyes(request="request-approval", approve="approve", recorded_in="approval_requested_by")

# A rule that may refuse an action the state allows: returns the refusal, or None.
Refusal = Callable[[DataSubjectRequest, Actor | None, datetime], DsarError | None]


def _second_approval_refusal(dsar: DataSubjectRequest, actor: Actor | None, now: datetime) -> DsarError | None:
    if not FOUR_EYES.applies(dsar):
        return None
    first = FOUR_EYES.first_officer_id(dsar)
    if first is None:
        return DsarError(
            "This request needs a second officer: request approval first.", code="second_approval_required"
        )
    if actor is not None and first == actor.pk:
        return DsarError("The officer who requested approval cannot also give it (four eyes).", code="four_eyes")
    return None


def _approval_request_refusal(dsar: DataSubjectRequest, actor: Actor | None, now: datetime) -> DsarError | None:
    if not FOUR_EYES.applies(dsar):
        return DsarError("Only requests that need four eyes ask for a second approval.", code="approval_not_needed")
    if FOUR_EYES.first_officer_id(dsar) is not None:
        return DsarError("A second approval has already been requested.", code="approval_already_requested")
    return None


def _assign_refusal(dsar: DataSubjectRequest, actor: Actor | None, now: datetime) -> DsarError | None:
    # Taking a request one already holds is no step: not offered, refused if posted.
    if actor is not None and dsar.assigned_to_id is not None and dsar.assigned_to_id == actor.pk:
        return DsarError("This request is already assigned to you.", code="already_assigned")
    return None


def _extension_refusal(dsar: DataSubjectRequest, actor: Actor | None, now: datetime) -> DsarError | None:
    # PAIA s57: once, and only before the original deadline passes.
    if dsar.extended_at is not None:
        return DsarError("The deadline has already been extended once.", code="already_extended")
    if now >= dsar.original_due_at:
        return DsarError("The deadline can only be extended before it has passed.", code="extension_too_late")
    return None


# --- Erasure's preconditions and undoing a processing flag (issue 16) ---------------------------


def _settle_refusal(dsar: DataSubjectRequest, actor: Actor | None, now: datetime) -> DsarError | None:
    if not kind_for(dsar.type).settles_balance:
        return DsarError("Only a deletion request settles the subject's balance.", code="settlement_not_applicable")
    return None


def _lift_refusal(dsar: DataSubjectRequest, actor: Actor | None, now: datetime) -> DsarError | None:
    if not kind_for(dsar.type).liftable:
        return DsarError("Only an objection or a restriction can be lifted.", code="lift_not_applicable")
    if dsar.status not in _LIFTABLE_STATES and not dsar.applied_at_filing:
        return DsarError("Nothing of this request is in force yet.", code="nothing_to_lift")
    return None


_LIFTABLE_STATES = (DsarStatus.FULFILLED, DsarStatus.PARTIALLY_FULFILLED, DsarStatus.CLOSED)


@dataclass(frozen=True)
class Notice:
    """A notice the subject receives when an action is taken (compliance.dsar.notices).

    ``kind``: a ``NoticeKind``, or ``OUTCOME_OF_TYPE`` — the request type's own outcome notice
    (export ready, deletion statement, outcome with reasons; ``DsarKind.outcome_notice``).
    ``when``: the statuses after the action that send it (empty: always)."""

    kind: str
    when: tuple[str, ...] = ()

    def due(self, dsar: DataSubjectRequest) -> bool:
        return not self.when or dsar.status in self.when


OUTCOME_OF_TYPE = "outcome_of_type"

# Filing is not an officer action: the acknowledgement (with the due date) goes out at once.
FILING_NOTICES: tuple[Notice, ...] = (Notice(NoticeKind.ACKNOWLEDGEMENT),)
# Lifting a restriction (consent admin / officer API) tells the subject (POPIA s14(6)); the lifting
# service passes this to compliance.dsar.notices.notice_queue with the purposes lifted.
RESTRICTION_LIFTED_NOTICE = Notice(NoticeKind.RESTRICTION_LIFTED)


@dataclass(frozen=True)
class Action:
    slug: str
    label: str
    from_states: tuple[str, ...]
    to_states: tuple[str, ...]  # empty: the status does not change
    service: str  # the function in compliance.dsar.services, called with the inputs as keywords
    inputs: tuple[Input, ...] = ()
    permission: str = PROCESS_PERMISSION
    refusal: Refusal | None = None
    notices: tuple[Notice, ...] = ()  # what the subject is told once the action is taken

    def refused(self, dsar: DataSubjectRequest, actor: Actor | None, now: datetime | None = None) -> DsarError | None:
        """Why the action cannot be taken on ``dsar`` now (state first, then its rule), or None."""
        if dsar.status not in self.from_states:
            status = DsarStatus(dsar.status).label.lower()
            return DsarError(f"{self.label}: not possible for a request that is {status}.", code="invalid_transition")
        return self.refusal(dsar, actor, now or timezone.now()) if self.refusal else None

    def missing_input(self, values: dict[str, Any]) -> DsarError | None:
        for spec in self.inputs:
            if spec.required and spec.is_missing(values.get(spec.name)):
                return DsarError(spec.missing, code=spec.missing_code)
        return None


_ALL_STATES = tuple(DsarStatus.values)
_NOTE_HELP = "Internal: never shown to the subject."

ACTIONS: tuple[Action, ...] = (
    Action(
        slug="verify-identity",
        label="Verify identity",
        from_states=(DsarStatus.RECEIVED,),
        to_states=(DsarStatus.IDENTITY_VERIFIED,),
        service="dsar_verify_identity",
        inputs=(
            Input(
                "evidence",
                InputType.TEXT,
                required=True,
                help="How the identity was verified (document seen, call-back, MFA).",
                missing="Say how the identity was verified.",
                missing_code="identity_evidence_required",
            ),
        ),
    ),
    Action(
        slug="request-identity",
        label="Ask the subject to verify identity",
        from_states=(DsarStatus.RECEIVED,),
        to_states=(),
        service="dsar_request_identity",
        inputs=(
            Input(
                "reason",
                InputType.TEXT,
                required=True,
                help="What the subject must provide (sent to the subject).",
                missing="Say what the subject must provide to prove their identity.",
                missing_code="identity_request_required",
            ),
        ),
        notices=(Notice(NoticeKind.IDENTITY_NEEDED),),
    ),
    Action(
        slug=ASSIGN,
        label="Assign (to me unless another officer is chosen)",
        from_states=(DsarStatus.IDENTITY_VERIFIED, DsarStatus.IN_REVIEW),
        to_states=(DsarStatus.IN_REVIEW,),
        service="dsar_assign",
        inputs=(Input("assignee", InputType.OFFICER, help="The officer to assign; empty: yourself."),),
        refusal=_assign_refusal,
    ),
    Action(
        slug=FOUR_EYES.request,
        label="Request second approval",
        from_states=(DsarStatus.IN_REVIEW,),
        to_states=(),
        service="dsar_request_approval",
        inputs=(Input("note", InputType.TEXT, help=_NOTE_HELP),),
        refusal=_approval_request_refusal,
    ),
    Action(
        slug=FOUR_EYES.approve,
        label="Approve",
        from_states=(DsarStatus.IN_REVIEW,),
        # Types carried out at approval (correction, objection, restriction) move on at once.
        to_states=(DsarStatus.APPROVED, DsarStatus.FULFILLED, DsarStatus.PARTIALLY_FULFILLED),
        service="dsar_approve",
        inputs=(Input("note", InputType.TEXT, help=_NOTE_HELP),),
        refusal=_second_approval_refusal,
    ),
    Action(
        slug="reject",
        label="Reject",
        from_states=(DsarStatus.IN_REVIEW,),
        to_states=(DsarStatus.REJECTED,),
        service="dsar_reject",
        inputs=(
            Input(
                "reason",
                InputType.TEXT,
                required=True,
                help="Sent to the subject.",
                missing="A rejection needs a reason (it is sent to the subject).",
                missing_code="reason_required",
            ),
        ),
        notices=(Notice(NoticeKind.OUTCOME),),
    ),
    Action(
        slug="extend",
        label="Extend deadline",
        from_states=tuple(OPEN_STATUSES),
        to_states=(),
        service="dsar_extend",
        inputs=(
            Input(
                "days",
                InputType.DAYS,
                required=True,
                help=f"1 to {DSAR_MAX_EXTENSION_DAYS} days (PAIA s57).",
                missing=f"An extension is 1 to {DSAR_MAX_EXTENSION_DAYS} days.",
                missing_code="invalid_extension",
            ),
            Input(
                "reason",
                InputType.TEXT,
                required=True,
                help="Sent to the subject.",
                missing="An extension needs a reason (it is sent to the subject).",
                missing_code="reason_required",
            ),
        ),
        refusal=_extension_refusal,
        notices=(Notice(NoticeKind.EXTENSION),),
    ),
    Action(
        slug="fulfil",
        label="Record fulfilment",
        from_states=(DsarStatus.APPROVED,),
        to_states=(DsarStatus.FULFILLED, DsarStatus.PARTIALLY_FULFILLED),
        service="dsar_fulfil",
        inputs=(
            Input(
                "statement",
                InputType.TEXT,
                required=True,
                max_length=10000,
                help="What was done, what was not and why (sent to the subject).",
                missing="Say what was done (the statement is sent to the subject).",
                missing_code="statement_required",
            ),
            Input("partial", InputType.FLAG, help="Only part of the request could be fulfilled."),
        ),
        # Also reached from "approve" for types carried out at approval (it calls the fulfilment).
        notices=(Notice(OUTCOME_OF_TYPE),),
    ),
    Action(
        slug="close",
        label="Close",
        from_states=(DsarStatus.REJECTED, DsarStatus.FULFILLED, DsarStatus.PARTIALLY_FULFILLED),
        to_states=(DsarStatus.CLOSED,),
        service="dsar_close",
    ),
    Action(
        slug="note",
        label="Add internal note",
        from_states=_ALL_STATES,
        to_states=(),
        service="dsar_add_note",
        inputs=(
            Input(
                "note",
                InputType.TEXT,
                required=True,
                help=_NOTE_HELP,
                missing="The note is empty.",
                missing_code="note_required",
            ),
        ),
    ),
    Action(
        slug="evidence",
        label="Add evidence",
        from_states=_ALL_STATES,
        to_states=(),
        service="dsar_add_evidence",
        inputs=(
            Input(
                "note",
                InputType.TEXT,
                required=True,
                help="The evidence (kept on the request, never audited).",
                missing="The note is empty.",
                missing_code="note_required",
            ),
        ),
    ),
)

# Erasure's preconditions and undoing a processing flag (issue 16).
ACTIONS += (
    Action(
        slug="settle-balance",
        label="Settle the balance (payout or unclaimed funds)",
        from_states=(DsarStatus.IN_REVIEW, DsarStatus.APPROVED),
        to_states=(),
        service="dsar_settle_balance",
        inputs=(
            Input(
                "method",
                InputType.CHOICE,
                required=True,
                choices=tuple((str(method), label) for method, label in SETTLEMENT_LABELS.items()),
                help="A deletion is blocked while the subject holds money: pay it out to their verified bank "
                "account (the deletion waits until the bank confirms) or move it to the unclaimed-funds account "
                "(the subject can still claim it). The statement says which.",
                missing="Choose how the balance is settled: payout or unclaimed.",
                missing_code="settlement_method_required",
            ),
        ),
        refusal=_settle_refusal,
    ),
    Action(
        slug="lift-restriction",
        label="Lift the restriction or objection",
        # Any state: what a flag request put in force (at filing, or at approval) stays until lifted.
        from_states=_ALL_STATES,
        to_states=(),
        service="dsar_lift_restriction",
        notices=(Notice(NoticeKind.RESTRICTION_LIFTED),),
        inputs=(
            Input(
                "reason",
                InputType.TEXT,
                required=True,
                help="Why processing may resume (POPIA s14(6): the subject is told before it is lifted).",
                missing="Lifting needs a reason (the subject is told).",
                missing_code="reason_required",
            ),
        ),
        refusal=_lift_refusal,
    ),
)

ACTIONS_BY_SLUG: dict[str, Action] = {action.slug: action for action in ACTIONS}
# The service function name -> its action, so each service finds its own row.
ACTIONS_BY_SERVICE: dict[str, Action] = {action.service: action for action in ACTIONS}


def action_for(slug: str) -> Action | None:
    return ACTIONS_BY_SLUG.get(slug)


def next_actions(dsar: DataSubjectRequest, *, actor: Actor | None, now: datetime | None = None) -> list[Action]:
    """The valid next steps for ``actor`` on ``dsar``: allowed by its state and not refused by a rule."""
    now = now or timezone.now()
    if actor is None or not actor.is_active:
        return []
    return [
        action for action in ACTIONS if actor.has_perm(action.permission) and action.refused(dsar, actor, now) is None
    ]


def all_inputs() -> dict[str, tuple[Input, list[Action]]]:
    """Every input name in the table with its first declaration and the actions that take it."""
    found: dict[str, tuple[Input, list[Action]]] = {}
    for action in ACTIONS:
        for spec in action.inputs:
            found.setdefault(spec.name, (spec, []))[1].append(action)
    return found

"""Request bodies of the DSAR API, built from the two declarations they serve.

- Filing (customer and on-behalf): the request types' declared inputs (``compliance.dsar.kinds``):
  ``type`` from the registry, ``details``, ``requested_changes`` with one property per correctable
  field (the fields an owning app registered a correction handler for), ``purposes``.
- Officer actions: the workflow table's inputs (``compliance.dsar.workflow``). The one operation
  ``officer_dsar_action`` documents every input with the actions that take it; each call is then
  validated against its own action's inputs (required ones with the table's message).
"""

from __future__ import annotations

from functools import cache
from typing import Any

from rest_framework import serializers

from compliance.dsar import selectors
from compliance.dsar.kinds import FILING_INPUT_HELP, FilingInput, correctable, kinds
from compliance.dsar.models import DSAR_MAX_EXTENSION_DAYS
from compliance.dsar.workflow import ACTIONS, Action, Input, InputType, all_inputs


def _for_kinds(name: FilingInput) -> str:
    return f"{FILING_INPUT_HELP[name]} For: {', '.join(kind.slug for kind in kinds.taking(name))}."


class RequestedChangesSerializer(serializers.Serializer):
    """One optional property per correctable field; any other field is refused."""

    def get_fields(self) -> dict[str, serializers.Field]:
        return {
            name: serializers.CharField(
                max_length=500, required=False, help_text=f"The correct {name.replace('_', ' ')}."
            )
            for name in correctable()
        }

    def to_internal_value(self, data: Any) -> dict[str, str]:
        if isinstance(data, dict) and set(data) - set(self.fields):
            # The field names are the caller's input: the message names the allowed ones instead.
            raise serializers.ValidationError(f"Only these fields can be corrected: {', '.join(correctable())}.")
        return dict(super().to_internal_value(data))


def _filing_field(name: FilingInput) -> serializers.Field:
    if name == FilingInput.DETAILS:
        return serializers.CharField(
            max_length=5000, required=False, allow_blank=True, default="", help_text=FILING_INPUT_HELP[name]
        )
    if name == FilingInput.REQUESTED_CHANGES:
        return RequestedChangesSerializer(required=False, help_text=_for_kinds(name))
    return serializers.ListField(
        child=serializers.SlugField(max_length=64),
        required=False,
        default=list,
        max_length=20,
        help_text=f"{_for_kinds(name)} Purpose codes as listed by /api/v1/purposes/.",
    )


class FileDsarSerializer(serializers.Serializer):
    """``type`` and the inputs the registered request types declare."""

    def get_fields(self) -> dict[str, serializers.Field]:
        fields: dict[str, serializers.Field] = {
            "type": serializers.ChoiceField(
                choices=kinds.choices(),
                help_text="; ".join(f"{kind.slug}: {kind.statute}" for kind in kinds),
            )
        }
        for name in kinds.filing_inputs():
            fields[name.value] = _filing_field(name)
        fields["notify_contact"] = serializers.CharField(
            max_length=254,
            required=False,
            allow_blank=True,
            default="",
            help_text=(
                "Where the notices about this request go: an e-mail address or a phone number (SMS). "
                "Default: the account's e-mail address. The deletion statement is sent here after the "
                "account is erased."
            ),
        )
        return fields


class OfficerFileSerializer(FileDsarSerializer):
    def get_fields(self) -> dict[str, serializers.Field]:
        return {
            "subject": serializers.UUIDField(help_text="The subject's public id."),
            **super().get_fields(),
            "identity_evidence": serializers.CharField(
                max_length=2000, help_text="How the subject's identity was verified."
            ),
        }


class OfficerField(serializers.UUIDField):
    """An information officer, by public id (resolved to the user)."""

    default_error_messages = {"no_officer": "No such officer."}

    def to_internal_value(self, data: Any) -> Any:
        officer = selectors.officers().filter(public_id=super().to_internal_value(data)).first()
        if officer is None:
            self.fail("no_officer")
        return officer


def _action_field(spec: Input, *, help_text: str, enforce: bool) -> serializers.Field:
    required = enforce and spec.required
    messages: dict[str, Any] = (
        {"required": spec.missing, "blank": spec.missing, "null": spec.missing} if required else {}
    )
    match spec.input_type:
        case InputType.TEXT:
            return serializers.CharField(
                max_length=spec.max_length,
                required=required,
                allow_blank=not required,
                default=serializers.empty if required else "",
                help_text=help_text,
                error_messages=messages,
            )
        case InputType.DAYS:
            return serializers.IntegerField(
                min_value=1,
                max_value=DSAR_MAX_EXTENSION_DAYS,
                required=required,
                help_text=help_text,
                error_messages=messages,
            )
        case InputType.FLAG:
            return serializers.BooleanField(required=False, default=False, help_text=help_text)
        case InputType.CHOICE:
            # The refusal names the choices, never echoes what was sent.
            choice_message = f"Choose one of: {', '.join(value for value, _ in spec.choices)}."
            return serializers.ChoiceField(
                choices=spec.choices,
                required=required,
                help_text=help_text,
                error_messages={**messages, "invalid_choice": choice_message},
            )
        case InputType.OFFICER:
            return OfficerField(required=False, allow_null=True, help_text=help_text)
    raise ValueError(f"No API field for input type {spec.input_type!r}")


def _usage(actions: list[Action], name: str) -> str:
    parts = []
    for action in actions:
        spec = next(s for s in action.inputs if s.name == name)
        parts.append(f"{action.slug} ({'required' if spec.required else 'optional'})")
    return ", ".join(parts)


def _build(name: str, fields: dict[str, serializers.Field]) -> type[serializers.Serializer]:
    return type(name, (serializers.Serializer,), {**fields, "__module__": __name__})


# Every input of the workflow table, documented with the actions that take it (the OpenAPI request body).
OfficerActionSerializer = _build(
    "OfficerActionSerializer",
    {
        name: _action_field(spec, help_text=f"{spec.help} Used by: {_usage(actions, name)}.", enforce=False)
        for name, (spec, actions) in all_inputs().items()
    },
)


@cache
def action_serializer(slug: str) -> type[serializers.Serializer]:
    """The body of one action: exactly its inputs, required ones enforced with the table's message."""
    action = next(action for action in ACTIONS if action.slug == slug)
    fields = {spec.name: _action_field(spec, help_text=spec.help, enforce=True) for spec in action.inputs}
    return _build(f"Officer{slug.title().replace('-', '')}Serializer", fields)

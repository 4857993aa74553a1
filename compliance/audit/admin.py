"""Admin for the audit trail (read-only for everyone) and the PI masking mixin for other admins.

The mixin lives here rather than in compliance/pi because a reveal writes an audit record and the
audit concern sits above pi (``crypto < pi < audit``); it reads the PI inventory and the one
masking helper from compliance/pi."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.options import BaseModelAdmin
from django.contrib.admin.utils import quote, unquote
from django.core.exceptions import FieldDoesNotExist, PermissionDenied
from django.db.models import F, Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from compliance.audit.chain import last_status, sealer_is_lagging, status_is_stale
from compliance.audit.models import AuditCheckpoint, AuditEvent
from compliance.audit.services import (
    REVEAL_REASON_MAX,
    ActorType,
    AuditAction,
    has_encrypted_values,
    mask_change_diff,
    pi_reveal,
    reveal_change_diff,
    revealable,
)
from compliance.pi.masking import mask_value, masked_fields
from compliance.pi.vocabulary import Category
from kernel.admin import CappedCountPaginator, ReadOnlyAdminMixin, register_index_warning
from kernel.display import person_label

MASKED_PREFIX = "pi_masked__"
REVEAL_SESSION_KEY = "pi_reveals"


class RevealForm(forms.Form):
    reason = forms.CharField(
        max_length=REVEAL_REASON_MAX,
        widget=forms.TextInput(attrs={"size": 70, "autofocus": True}),
        help_text="Why you need the values in clear (recorded in the audit trail; no personal information here).",
    )


class PIMasking(BaseModelAdmin):
    """The masking half of ``PIMaskedAdmin``, for a ModelAdmin or an inline (see there)."""

    pi_extra_fields: Iterable[str] = ()

    # --- which fields ---------------------------------------------------------------------------
    def pi_categories(self) -> dict[str, Category | None]:
        """The model's masked PI fields and their categories (compliance/pi/masking.py)."""
        cached = self.__dict__.get("_pi_categories")
        if cached is None:  # the inventory is complete once the apps are ready: computed once per screen
            cached = self.__dict__["_pi_categories"] = masked_fields(self.model, self.pi_extra_fields)
        return cached

    def _masked(self, request: HttpRequest, obj: Any = None) -> set[str]:
        return set(self.pi_categories()) - self.revealed_fields(request, obj)

    # --- the reveal window ------------------------------------------------------------------------
    # One reveal per record shown: an inline's fields are revealed with its parent record, named
    # "<app_label.model>.<field>" in the reveal (and its audit record).
    def _reveal_key(self, obj: Any) -> str:
        return f"{getattr(self, 'parent_model', self.model)._meta.label_lower}:{obj.pk}"

    def _field_prefix(self) -> str:
        return f"{self.model._meta.label_lower}." if hasattr(self, "parent_model") else ""

    def revealed_fields(self, request: HttpRequest, obj: Any) -> set[str]:
        if obj is None:
            return set()
        entry = request.session.get(REVEAL_SESSION_KEY, {}).get(self._reveal_key(obj))
        if not entry or entry["until"] < time.time():
            return set()
        prefix = self._field_prefix()
        names = (name.removeprefix(prefix) for name in entry["fields"] if name.startswith(prefix))
        return {name for name in names if "." not in name}

    # --- masked display -----------------------------------------------------------------------------
    def __getattr__(self, name: str) -> Any:
        # ``pi_masked__<field>``: the masked display of one field, for list_display and readonly fields.
        if name.startswith(MASKED_PREFIX):
            return self._masked_display(name[len(MASKED_PREFIX) :])
        raise AttributeError(name)

    def _masked_display(self, field_name: str) -> Any:
        category = self.pi_categories().get(field_name)
        try:
            label = str(self.model._meta.get_field(field_name).verbose_name)
        except FieldDoesNotExist:
            label = field_name.replace("_", " ")

        def display(obj: Any) -> Any:
            value = mask_value(getattr(obj, field_name, None), category, field_name)
            return value if value not in (None, "") else self.get_empty_value_display()

        display.short_description = label  # type: ignore[attr-defined]  # Django admin's column label
        return display

    def _substitute(self, names: Iterable[Any], masked: set[str]) -> list[Any]:
        out: list[Any] = []
        for name in names:
            if isinstance(name, (list, tuple)):  # a row of fields in a fieldset
                out.append(tuple(self._substitute(name, masked)))
                continue
            item = f"{MASKED_PREFIX}{name}" if isinstance(name, str) and name in masked else name
            if item not in out:
                out.append(item)
        return out

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        readonly = list(super().get_readonly_fields(request, obj))
        if obj is None:
            return readonly
        return readonly + [f"{MASKED_PREFIX}{name}" for name in sorted(self._masked(request, obj))]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # Django's default lists the readonly fields too: the masked names come back in get_fieldsets.
        return [f for f in super().get_fields(request, obj) if not str(f).startswith(MASKED_PREFIX)]

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None:
            return fieldsets
        masked = self._masked(request, obj)
        return [
            (title, {**options, "fields": self._substitute(options.get("fields", ()), masked)})
            for title, options in fieldsets
        ]


class PIMaskedAdmin(PIMasking, admin.ModelAdmin):
    """The admin of every model that holds PI: masked by default, revealed deliberately.

    Change lists and change views show every PI field of the model (the PI inventory,
    compliance/pi/registry.py, through ``masked_fields``, plus ``pi_extra_fields``) masked by the
    one masking helper (compliance/pi/masking.py), read-only, for every role and the superuser;
    showing a list or a masked record is not a PI read and writes no audit record.

    "Reveal" on the change view (``<id>/reveal/``) asks for a reason, needs the reveal permission
    of each field's PI category (``REVEAL_PERMISSIONS``, granted by accounts/roles.py), writes one
    PI_ACCESS (CARD_DATA_ACCESS for card data) record with the reason and the field names, and opens
    a short window (``PI_REVEAL_SECONDS``, default 5 minutes) in which that user sees, and where the
    admin lets them edit, those fields of that record. An edit posted after the window closed is
    refused with a message and nothing is saved (never a silent loss). A refusal is a
    ``PermissionDenied``: the one denial path audits it.

    Put it first in the bases: ``class CustomerAdmin(PIMaskedAdmin, admin.ModelAdmin)``. A subclass
    overriding ``get_readonly_fields`` must extend ``super()``'s answer. Related objects (foreign
    keys) are shown by their ``__str__``, which carries no PI, and are not masked. Inlines that show
    PI use ``PIMasking`` (``class NoteInline(PIMasking, admin.TabularInline)``): their fields are
    masked on the parent's page and revealed with the parent's reveal.
    """

    def get_list_display(self, request: HttpRequest) -> Any:
        return self._substitute(super().get_list_display(request), set(self.pi_categories()))

    def get_list_display_links(self, request: HttpRequest, list_display: Any) -> Any:
        links = super().get_list_display_links(request, list_display)
        return self._substitute(links, set(self.pi_categories())) if links else links

    def _remember_reveal(self, request: HttpRequest, obj: Any, fields: Iterable[str]) -> float:
        until = time.time() + settings.PI_REVEAL_SECONDS
        reveals = {k: v for k, v in request.session.get(REVEAL_SESSION_KEY, {}).items() if v["until"] >= time.time()}
        reveals[self._reveal_key(obj)] = {"until": until, "fields": sorted(fields)}
        request.session[REVEAL_SESSION_KEY] = reveals
        return until

    def _masked_on_page(self, request: HttpRequest, obj: Any) -> dict[str, Category | None]:
        """What the change page shows masked, the record's and its masking inlines' (prefixed)."""
        masked = {
            name: category for name, category in self.pi_categories().items() if name in self._masked(request, obj)
        }
        for inline in self.get_inline_instances(request, obj):
            if isinstance(inline, PIMasking):
                categories, prefix = inline.pi_categories(), inline._field_prefix()
                masked |= {prefix + name: categories[name] for name in inline._masked(request, obj)}
        return masked

    # --- views ------------------------------------------------------------------------------------------
    def get_urls(self) -> list[Any]:
        info = self.model._meta.app_label, self.model._meta.model_name
        reveal = path(
            "<path:object_id>/reveal/", self.admin_site.admin_view(self.reveal_view), name="{}_{}_reveal".format(*info)
        )
        return [reveal, *super().get_urls()]

    def changeform_view(
        self, request: HttpRequest, object_id: str | None = None, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        if request.method == "POST" and object_id is not None:
            obj = self.get_object(request, unquote(object_id))
            stale = sorted(self._masked(request, obj) & set(request.POST)) if obj is not None else []
            if stale:
                # Typed while revealed, posted after the window closed: say so, save nothing.
                self.message_user(
                    request,
                    "Nothing was saved: the reveal of this record's personal information ended before you saved "
                    f"({len(stale)} field(s)). Reveal again and re-enter your changes.",
                    level=messages.ERROR,
                )
                return HttpResponseRedirect(request.path)
        return super().changeform_view(request, object_id, form_url, extra_context)

    def render_change_form(  # noqa: PLR0917 - Django's signature
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Any = None,
    ) -> HttpResponse:
        if obj is not None and not add:
            masked, revealed = self._masked_on_page(request, obj), self.revealed_fields(request, obj)
            # Offered only to who may reveal something here; the view itself still refuses the others.
            if revealable(request.user, masked):
                context["pi_reveal_url"] = reverse(
                    f"{self.admin_site.name}:{self.model._meta.app_label}_{self.model._meta.model_name}_reveal",
                    args=[quote(obj.pk)],
                )
            if revealed:
                context["pi_revealed"] = sorted(revealed)
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)

    def reveal_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        obj = self.get_object(request, unquote(object_id))
        if obj is None or not self.has_view_or_change_permission(request, obj):
            raise PermissionDenied("You may not open this record.")
        change_url = reverse(
            f"{self.admin_site.name}:{self.model._meta.app_label}_{self.model._meta.model_name}_change",
            args=[quote(obj.pk)],
        )
        masked = self._masked_on_page(request, obj)
        if not masked:  # nothing (left) to reveal: back to the record
            return HttpResponseRedirect(change_url)
        if not revealable(request.user, masked):
            raise PermissionDenied("You may not reveal this personal information.")
        form = RevealForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            revealed = pi_reveal(
                actor=request.user,
                subject_type=obj._meta.label,
                subject_id=str(getattr(obj, "public_id", obj.pk)),
                fields=masked,
                reason=form.cleaned_data["reason"],
                request=request,
            )
            until = self._remember_reveal(request, obj, revealed)
            still = len(masked) - len(revealed)
            self.message_user(
                request,
                f"Revealed {len(revealed)} field(s) for {settings.PI_REVEAL_SECONDS // 60} minute(s) "
                f"(until {time.strftime('%H:%M', time.localtime(until))}); this reveal is in the audit trail."
                + (f" {still} field(s) stay masked: your role may not reveal them." if still else ""),
                level=messages.WARNING,
            )
            return HttpResponseRedirect(change_url)
        context = {
            **self.admin_site.each_context(request),
            "title": "Reveal personal information",
            "opts": self.model._meta,
            "original": obj,
            "form": form,
            "fields": [self._masked_display(name).short_description for name in masked],
            "change_url": change_url,
        }
        return TemplateResponse(request, "admin/pi_reveal.html", context)


class _ChoicesFilter(admin.SimpleListFilter):
    # The columns carry no choices (see the model); listing the registry avoids a DISTINCT scan.
    options: list[tuple[str, str]] = []
    parameter_name: str

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return self.options

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        return queryset.filter(**{self.parameter_name: value}) if value else queryset


class ActionFilter(_ChoicesFilter):
    title = "action"
    parameter_name = "action"
    options = AuditAction.choices


class ActorTypeFilter(_ChoicesFilter):
    title = "actor type"
    parameter_name = "actor_type"
    options = ActorType.choices


@admin.register(AuditEvent)
class AuditEventAdmin(PIMaskedAdmin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """Read-only to everyone, superusers included: no add, change, delete or actions."""

    list_display = ("seq", "timestamp", "action", "actor_type", "actor", "object_type", "object_id", "source_ip")
    list_filter = (ActionFilter, ActorTypeFilter, ("timestamp", admin.DateFieldListFilter))
    list_select_related = ("user",)
    # Exact matches (get_search_results), each served by its index: the table has millions of rows.
    search_fields = ("=request_id", "=object_id")
    search_help_text = "A request id or an object id, exactly as recorded."
    ordering = ("-id",)
    show_full_result_count = False
    # No COUNT(*) of the trail per page view: counted up to 10,000, then the planner's estimate.
    paginator = CappedCountPaginator
    actions = None
    list_per_page = 50
    fieldsets = (
        ("Event", {"fields": ("timestamp", "action", "actor_type", "actor", "source_ip", "request_id")}),
        ("Object", {"fields": ("object_type", "object_id", "change_diff")}),
        ("Chain", {"fields": ("seq", "prev_hash", "hash", "sealed_at")}),
    )
    readonly_fields = (
        "timestamp",
        "action",
        "actor_type",
        "actor",
        "source_ip",
        "request_id",
        "object_type",
        "object_id",
        "change_diff",
        "seq",
        "prev_hash",
        "hash",
        "sealed_at",
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).annotate(actor_public_id=F("user__public_id"))

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str) -> tuple[QuerySet, bool]:
        # Django's "=field" is a case-insensitive match (UPPER(col) = UPPER(term)), which no plain
        # index serves: over a million rows that is a full scan. Ids are recorded as they are, so
        # the match is exact, through audit_request_id_idx and audit_object_id_idx.
        term = search_term.strip()
        if not term:
            return queryset, False
        return queryset.filter(Q(request_id=term) | Q(object_id=term)), False

    # --- PI kept encrypted in the diff (docs/adr/0007) ---------------------------------------------
    # A correction's before/after is stored as {"enc": "s1:…"} under the subject's key: shown as the
    # mask (or "[shredded]" once the subject was erased) until revealed with a reason, like any PI.
    def _diff_revealed(self, request: HttpRequest, obj: Any) -> bool:
        return obj is not None and "change_diff" in self.revealed_fields(request, obj)

    def _masked_on_page(self, request: HttpRequest, obj: Any) -> dict[str, Category | None]:
        masked = super()._masked_on_page(request, obj)
        if has_encrypted_values(obj.change_diff) and not self._diff_revealed(request, obj):
            masked["change_diff"] = None  # of no single category: every reveal permission needed
        return masked

    def _diff_field(self, request: HttpRequest, obj: Any) -> str:
        return "change_diff_revealed" if self._diff_revealed(request, obj) else "change_diff_masked"

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        shown = self._diff_field(request, obj)
        return [shown if name == "change_diff" else name for name in super().get_readonly_fields(request, obj)]

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        shown = self._diff_field(request, obj)
        return [
            (title, {**options, "fields": [shown if f == "change_diff" else f for f in options.get("fields", ())]})
            for title, options in super().get_fieldsets(request, obj)
        ]

    @admin.display(description="change diff")
    def change_diff_masked(self, obj: AuditEvent) -> str:
        return json.dumps(mask_change_diff(obj.change_diff), sort_keys=True, ensure_ascii=False)

    @admin.display(description="change diff (revealed)")
    def change_diff_revealed(self, obj: AuditEvent) -> str:
        return json.dumps(reveal_change_diff(obj.change_diff), sort_keys=True, ensure_ascii=False)

    @admin.display(description="actor")
    def actor(self, obj: AuditEvent) -> str:
        # Masked name + short id, never the e-mail (that would put PI on every audit screen).
        return person_label(obj.user) if obj.user_id else "—"

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        warn_about_chain(request)
        return super().changelist_view(request, extra_context)


def warn_about_chain(request: HttpRequest) -> None:
    """The admin warning: a broken chain is an error banner; no recent verification a warning."""
    status = last_status()
    if status and not status["ok"]:
        messages.error(
            request,
            f"Audit chain verification FAILED at seq {status['first_broken_seq']}: {status['reason']} "
            f"(verified {status['verified_at']}). Treat the audit trail as compromised and escalate.",
        )
    elif status_is_stale(status):
        messages.warning(request, "The audit chain has not been verified recently: check the Celery beat schedule.")
    if sealer_is_lagging(status):
        messages.error(
            request,
            f"{status['unsealed']} audit records have waited up to {round(status['oldest_unsealed_seconds'])} s "
            "to be sealed: the sealer task is not running.",
        )


register_index_warning("audit-chain", permission="compliance.view_auditevent", show=warn_about_chain)


@admin.register(AuditCheckpoint)
class AuditCheckpointAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The signed checkpoints (ADR 0006), read-only: the note as published and who cosigned it."""

    list_display = ("size", "signed_at", "key_id", "cosigned_by")
    ordering = ("-size", "-id")
    actions = None
    show_full_result_count = False
    fields = (
        "size",
        "root_hash",
        "signed_at",
        "origin",
        "key_id",
        "note",
        "previous_size",
        "archive_key",
        "cosigned_by",
    )
    readonly_fields = fields

    @admin.display(description="cosigned by")
    def cosigned_by(self, obj: AuditCheckpoint) -> str:
        return ", ".join(obj.cosignatures.values_list("witness", flat=True)) or "not cosigned"

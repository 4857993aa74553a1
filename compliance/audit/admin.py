"""Admin for the audit trail (read-only for everyone) and the PI-access mixin for other admins."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib import admin, messages
from django.db.models import F, QuerySet
from django.http import HttpRequest, HttpResponse

from compliance.audit.chain import last_status, sealer_is_lagging, status_is_stale
from compliance.audit.models import AuditEvent
from compliance.audit.services import ActorType, AuditAction, audit_pi_access, pi_fields_for
from kernel.admin import ReadOnlyAdminMixin, register_index_warning
from kernel.display import person_label


class PIAccessAuditedAdmin(admin.ModelAdmin):
    """Mixin for admins of PI-holding models: every change-view render is a PI_ACCESS event.

    Records which PI fields were on screen (names only) for which subject; the subject is named by
    its ``public_id`` when the model has one. Use it first in the bases:
    ``class CustomerAdmin(PIAccessAuditedAdmin, admin.ModelAdmin)``. ``pi_access_fields`` adds
    fields the name rule / PI inventory does not know about.
    """

    pi_access_fields: Iterable[str] = ()

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
            shown: set[Any] = set(
                self.get_fields(request, obj)
            )  # names (and any grouping tuples) | set(self.get_readonly_fields(request, obj))
            pi_shown = shown & (pi_fields_for(type(obj)) | set(self.pi_access_fields))
            if pi_shown:
                # changeform_view runs inside transaction.atomic: the record commits with the view.
                audit_pi_access(
                    actor=request.user,
                    subject_type=obj._meta.label,
                    subject_id=str(getattr(obj, "public_id", obj.pk)),
                    fields=pi_shown,
                    request=request,
                    purpose="admin change view",
                )
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)


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
class AuditEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Read-only to everyone, superusers included: no add, change, delete or actions."""

    list_display = ("seq", "timestamp", "action", "actor_type", "actor", "object_type", "object_id", "source_ip")
    list_filter = (ActionFilter, ActorTypeFilter, ("timestamp", admin.DateFieldListFilter))
    list_select_related = ("user",)
    search_fields = ("=request_id", "=object_id")
    ordering = ("-id",)
    show_full_result_count = False
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

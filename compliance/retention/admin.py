"""Admin screens for retention policies, purge runs and the secret inventory (SPEC C8).

- Policies: the information officer edits periods, action and enabled (saves go through
  ``retention_policy_save``, audited); nobody deletes one (purge targets name them by code).
- Purge runs: read-only history with counts per policy.
- Legal holds: the information officer places a litigation or regulator hold on a data subject
  (kind, reason, optional end date; the subject found by e-mail or ID number through the blind
  indexes) and releases one with a reason. Both go through ``hold_place`` / ``hold_release``
  (audited). A placed hold is never edited and no hold is ever deleted; retention-duty holds
  (placed by erasure) are listed read-only.
"""

from __future__ import annotations

from datetime import datetime, time
from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone

from compliance.pi.selectors import subject_by_email, subject_by_id_number
from compliance.retention.models import SUBJECT_HOLD_KINDS, HoldKind, LegalHold, RetentionPolicy, RetentionRun
from compliance.retention.services import (
    PLACE_PERMISSION,
    RELEASE_PERMISSION,
    HoldError,
    hold_place,
    hold_release,
    holdable_tables,
    retention_policy_save,
)
from kernel.admin import ReadOnlyAdminMixin


@admin.register(RetentionPolicy)
class RetentionPolicyAdmin(admin.ModelAdmin):
    list_display = ("code", "period_days", "trigger", "action", "enabled", "last_run_at")
    list_filter = ("enabled", "action")
    search_fields = ("code", "legal_reason")
    fieldsets = (
        (None, {"fields": ("code", "enabled")}),
        ("Period", {"fields": ("period_days", "trigger", "action")}),
        ("Why", {"fields": ("legal_reason",)}),
        ("Runs", {"fields": ("last_run_at", "updated_at")}),
    )

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        base = ("last_run_at", "updated_at")
        return (*base, "code") if obj is not None else base

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: RetentionPolicy, form: Any, change: bool) -> None:
        retention_policy_save(actor=request.user, policy=obj, changed=list(form.changed_data))


@admin.register(RetentionRun)
class RetentionRunAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("public_id", "state", "as_of", "batches", "rows", "started_at", "finished_at")
    list_filter = ("state",)
    readonly_fields = ("public_id", "state", "as_of", "checkpoint", "targets_done", "counts", "batches", "finished_at")
    show_full_result_count = False

    @admin.display(description="rows purged")
    def rows(self, obj: RetentionRun) -> int:
        return obj.total

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Runs are part of the retention screens: whoever may see policies may see their runs.
        return request.user.has_perm("compliance.view_retentionpolicy")


class PlaceHoldForm(forms.Form):
    # The subject is identified by what the officer holds: an e-mail address or an ID number. Both
    # columns are encrypted, so the lookup goes through the blind indexes (compliance.pi.selectors).
    subject_email = forms.EmailField(required=False, help_text="The customer's registered e-mail address.")
    subject_id_number = forms.RegexField(
        r"^[0-9 -]{6,20}$",
        required=False,
        help_text="Or the ID number the customer gave for KYC.",
        error_messages={"invalid": "Enter the digits of an ID number."},
    )
    kind = forms.ChoiceField(choices=[(k.value, k.label) for k in SUBJECT_HOLD_KINDS])
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Why the data must be kept (e.g. the case or the regulator's request number). The subject "
        "is shown this reason if they ask for deletion: name the matter, not other people.",
    )
    hold_until = forms.DateField(
        required=False, help_text="Last day of the hold (optional): empty keeps it until released."
    )
    tables = forms.MultipleChoiceField(
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Keep only these records (optional): none ticked keeps all the subject's records. A deletion "
        "request erases what the hold does not keep.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.MultipleChoiceField, self.fields["tables"]).choices = [(label, label) for label in holdable_tables()]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        neither_or_both = bool(cleaned.get("subject_email")) == bool(cleaned.get("subject_id_number"))
        if neither_or_both and not (self.errors.get("subject_email") or self.errors.get("subject_id_number")):
            raise forms.ValidationError("Give either the customer's e-mail address or their ID number.")
        return cleaned


class ReleaseHoldForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), help_text="Why the hold ends (audited).")


def _end_of_day(day: Any) -> datetime | None:
    if day is None:
        return None
    return timezone.make_aware(datetime.combine(day, time.max.replace(microsecond=0)))


@admin.register(LegalHold)
class LegalHoldAdmin(admin.ModelAdmin):
    list_display = ("short_id", "kind", "subject_ref", "hold_until", "created_by", "created_at", "state")
    list_filter = ("kind", ("released_at", admin.EmptyFieldListFilter))
    readonly_fields = (
        "public_id", "kind", "subject_ref", "model_label", "object_id", "scope", "retention_policy", "reason",
        "hold_until", "created_by", "created_at", "released_at", "released_by", "release_reason",
    )  # fmt: skip
    fields = readonly_fields
    change_form_template = "admin/compliance/legalhold/change_form.html"
    show_full_result_count = False

    def get_queryset(self, request: HttpRequest) -> Any:
        return super().get_queryset(request).select_related("subject", "created_by")

    @admin.display(description="hold")
    def short_id(self, hold: LegalHold) -> str:
        return str(hold.public_id)[:8]

    @admin.display(description="subject")
    def subject_ref(self, hold: LegalHold) -> str:
        # The subject's random public id, never a name or an e-mail address.
        return str(hold.subject.public_id) if hold.subject else f"{hold.model_label}:{hold.object_id}"

    @admin.display(description="state")
    def state(self, hold: LegalHold) -> str:
        if hold.released_at is not None:
            return "released"
        return "in force" if hold.in_force() else "ended"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(PLACE_PERMISSION)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a placed hold is never edited: release it and place another

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # the hold row is the record of what was kept and why

    def get_urls(self) -> list[Any]:
        return [
            path(
                "<path:object_id>/release/",
                self.admin_site.admin_view(self.release_view),
                name="compliance_legalhold_release",
            ),
            *super().get_urls(),
        ]

    def _form_page(self, request: HttpRequest, *, title: str, form: forms.Form, label: str) -> HttpResponse:
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "form": form,
            "opts": self.opts,
            "label": label,
            "change_url": reverse("admin:compliance_legalhold_changelist"),
        }
        return TemplateResponse(request, "admin/compliance/legalhold/form.html", context)

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context: Any = None) -> HttpResponse:
        """Place a litigation or regulator hold on a subject (through ``hold_place``)."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = PlaceHoldForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            if data["subject_email"]:
                subject, field = subject_by_email(data["subject_email"]), "subject_email"
            else:
                subject, field = subject_by_id_number(data["subject_id_number"]), "subject_id_number"
            if subject is None:
                form.add_error(field, "No customer with this e-mail address or ID number.")
            else:
                try:
                    hold = hold_place(
                        actor=request.user,
                        subject=subject,
                        kind=data["kind"],
                        reason=data["reason"],
                        hold_until=_end_of_day(data["hold_until"]),
                        tables=list(data["tables"]),
                        request=request,
                    )
                except HoldError as error:
                    form.add_error(error.field if error.field in form.fields else None, error.message)
                else:
                    self.message_user(request, f"Hold {str(hold.public_id)[:8]} placed.", messages.SUCCESS)
                    return HttpResponseRedirect(reverse("admin:compliance_legalhold_change", args=[hold.pk]))
        return self._form_page(request, title="Place a legal hold on a subject", form=form, label="Place hold")

    def release_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if not request.user.has_perm(RELEASE_PERMISSION):
            raise PermissionDenied
        hold = self.get_object(request, object_id)
        if hold is None or hold.kind == HoldKind.RETENTION_DUTY or hold.released_at is not None:
            raise Http404
        form = ReleaseHoldForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                hold_release(actor=request.user, hold=hold, reason=form.cleaned_data["reason"], request=request)
            except HoldError as error:
                form.add_error(None, error.message)
            else:
                self.message_user(request, f"Hold {str(hold.public_id)[:8]} released.", messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:compliance_legalhold_change", args=[hold.pk]))
        return self._form_page(
            request, title=f"Release hold {str(hold.public_id)[:8]}", form=form, label="Release hold"
        )

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        hold = self.get_object(request, object_id)
        extra_context = extra_context or {}
        if (
            hold is not None
            and hold.kind in SUBJECT_HOLD_KINDS
            and hold.released_at is None
            and request.user.has_perm(RELEASE_PERMISSION)
        ):
            extra_context["release_url"] = reverse("admin:compliance_legalhold_release", args=[hold.pk])
        return super().change_view(request, object_id, form_url, extra_context)

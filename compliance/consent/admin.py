"""Admin screens for consent management (imported from ``ComplianceConfig.ready``).

- Purposes: the information officer creates and describes them; code and lawful basis are fixed
  once created. Notices are drafted, then published; a published notice is read-only.
- Consent and restriction events: read-only for everyone (officer and auditor view them); the
  history of one customer is the change list filtered by their public id.
- Staff record a choice made by phone or otherwise through a form that calls the service.
- Consent statistics per purpose: weekly grants and withdrawals as a server-rendered SVG chart
  (the CSP allows no inline script and no inline style, so bars are SVG attributes).
- The direct-marketing audience export is an action on the purposes list.
"""

from __future__ import annotations

import io
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db.models import OuterRef, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from compliance.audit.admin import PIMaskedAdmin
from compliance.consent.models import (
    CHANNELS_NEEDING_NOTE,
    ConsentChannel,
    ConsentEvent,
    LawfulBasis,
    ProcessingPurpose,
    ProcessingRestrictionEvent,
    PurposeNotice,
)
from compliance.consent.selectors import (
    DIRECT_MARKETING,
    consent_statistics,
    consent_totals,
    current_notice_subquery,
    purposes_with_current_notice,
)
from compliance.consent.services import (
    PURPOSE_EDITABLE_FIELDS,
    ConsentError,
    consent_record,
    marketing_audience_export,
    notice_draft_save,
    notice_publish,
    purpose_create,
    purpose_update,
)
from kernel.admin import ReadOnlyAdminMixin
from kernel.db_router import reporting_reads


class ReadOnlyEvidenceAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Evidence rows: nobody adds, changes or deletes them through the admin."""

    show_full_result_count = False
    list_per_page = 50


class PurposeNoticeInline(admin.TabularInline):
    model = PurposeNotice
    fields = ("version", "effective_at", "published_at", "requires_reconsent", "notice_link")
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ("-published_at", "-id")
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="notice")
    def notice_link(self, notice: PurposeNotice) -> str:
        url = reverse("admin:compliance_purposenotice_change", args=[notice.pk])
        return format_html('<a href="{}">{}</a>', url, "published" if notice.is_published else "draft")


@admin.register(ProcessingPurpose)
class ProcessingPurposeAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "lawful_basis", "consent_required", "current_version", "is_active")
    list_filter = ("lawful_basis", "is_active")
    search_fields = ("code", "name")
    inlines = (PurposeNoticeInline,)
    actions = ("export_marketing_audience",)
    fieldsets = (
        (None, {"fields": ("code", "name", "description")}),
        ("Lawfulness", {"fields": ("lawful_basis", "data_categories", "is_active")}),
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return (
            super()
            .get_queryset(request)
            .annotate(current_version=current_notice_subquery(OuterRef("pk"), timezone.now(), "version"))
        )

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        # A different lawful basis is a different purpose: the code and basis never change.
        return ("code", "lawful_basis") if obj is not None else ()

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(boolean=True, description="consent required")
    def consent_required(self, purpose: ProcessingPurpose) -> bool:
        return purpose.consent_required

    @admin.display(description="current notice", ordering="current_version")
    def current_version(self, purpose: Any) -> str:  # annotated by get_queryset
        return f"v{purpose.current_version}" if purpose.current_version else "—"

    def save_model(self, request: HttpRequest, obj: ProcessingPurpose, form: forms.ModelForm, change: bool) -> None:
        if change:
            changes = {name: form.cleaned_data[name] for name in form.changed_data if name in PURPOSE_EDITABLE_FIELDS}
            if changes:
                purpose_update(actor=request.user, purpose=obj, changes=changes, request=request)
            return
        created = purpose_create(
            actor=request.user,
            code=obj.code,
            name=obj.name,
            description=obj.description,
            lawful_basis=obj.lawful_basis,
            data_categories=obj.data_categories,
            request=request,
        )
        obj.pk = created.pk

    @admin.action(description="Export the direct-marketing audience (CSV)", permissions=["export"])
    def export_marketing_audience(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        if list(queryset.values_list("code", flat=True)) != [DIRECT_MARKETING]:
            self.message_user(request, f"Select only the '{DIRECT_MARKETING}' purpose.", messages.ERROR)
            return None
        buffer = io.StringIO()
        try:
            marketing_audience_export(actor=request.user, out=buffer, via="admin", request=request)
        except ConsentError as exc:
            raise PermissionDenied(exc.message) from exc
        response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
        stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
        response["Content-Disposition"] = f'attachment; filename="marketing-audience-{stamp}.csv"'
        response["Cache-Control"] = "no-store"
        return response

    def has_export_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("compliance.export_marketing_audience")


@admin.register(PurposeNotice)
class PurposeNoticeAdmin(admin.ModelAdmin):
    list_display = ("purpose", "version", "status", "effective_at", "requires_reconsent", "published_at")
    list_filter = ("purpose", "requires_reconsent")
    list_select_related = ("purpose",)
    ordering = ("purpose__code", "-version")
    actions = ("publish_notices",)
    fields = (
        "purpose",
        "text",
        "requires_reconsent",
        "version",
        "effective_at",
        "published_at",
        "published_by_id_display",
        "created_at",
    )
    readonly_fields = ("version", "effective_at", "published_at", "published_by_id_display", "created_at")

    @admin.display(description="status")
    def status(self, notice: PurposeNotice) -> str:
        return "published" if notice.is_published else "draft"

    @admin.display(description="published by")
    def published_by_id_display(self, notice: PurposeNotice) -> str:
        return str(notice.published_by.public_id) if notice.published_by else "—"

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        if obj is not None:
            return (*self.readonly_fields, "purpose")
        return self.readonly_fields

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Published versions are immutable: the change view becomes a read-only view.
        if obj is not None and obj.is_published:
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: PurposeNotice, form: forms.ModelForm, change: bool) -> None:
        saved = notice_draft_save(
            actor=request.user,
            purpose=obj.purpose,
            text=obj.text,
            requires_reconsent=obj.requires_reconsent,
            notice=obj if change else None,
        )
        obj.pk = saved.pk
        obj.created_at = saved.created_at

    @admin.action(description="Publish the selected drafts as new versions", permissions=["change"])
    def publish_notices(self, request: HttpRequest, queryset: QuerySet) -> None:
        published = 0
        for notice in queryset.order_by("pk"):
            try:
                notice_publish(actor=request.user, notice=notice, request=request)
                published += 1
            except ConsentError as exc:
                self.message_user(request, f"Notice {notice.pk}: {exc.message}", messages.ERROR)
        if published:
            self.message_user(request, f"Published {published} notice(s).", messages.SUCCESS)


class StaffConsentForm(forms.Form):
    """A choice the customer made by phone or otherwise, recorded by staff."""

    subject = forms.UUIDField(label="Customer public id")
    purpose = forms.ModelChoiceField(
        queryset=ProcessingPurpose.objects.filter(is_active=True, lawful_basis=LawfulBasis.CONSENT),
        to_field_name="code",
    )
    # No default: staff must say which way the customer decided.
    decision = forms.ChoiceField(choices=[("", "—"), ("grant", "Granted"), ("withdraw", "Withdrawn / refused")])
    notice_version = forms.IntegerField(min_value=1, help_text="The notice version read to the customer.")
    channel = forms.ChoiceField(choices=[(c.value, c.label) for c in ConsentChannel if c in CHANNELS_NEEDING_NOTE])
    note = forms.CharField(widget=forms.Textarea, help_text="How and when the customer made this choice.")


@admin.register(ConsentEvent)
class ConsentEventAdmin(PIMaskedAdmin, ReadOnlyEvidenceAdmin):
    list_display = ("created_at", "subject_id_display", "purpose", "granted", "version", "channel", "history")
    list_filter = ("purpose", "granted", "channel")
    list_select_related = ("subject", "purpose", "notice")
    search_fields = ("=subject__public_id", "=public_id")
    ordering = ("-id",)
    change_list_template = "admin/compliance/consentevent/change_list.html"
    fields = (
        "public_id",
        "subject_id_display",
        "purpose",
        "granted",
        "version",
        "channel",
        "note",
        "recorded_by_display",
        "source_ip",
        "request_id",
        "created_at",
    )
    readonly_fields = fields

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest | None = None) -> bool:
        # The history of one customer: ?subject__public_id=<uuid>.
        return lookup == "subject__public_id" or super().lookup_allowed(lookup, value, request)

    @admin.display(description="subject")
    def subject_id_display(self, event: ConsentEvent) -> str:
        return str(event.subject.public_id)

    @admin.display(description="recorded by")
    def recorded_by_display(self, event: ConsentEvent) -> str:
        return str(event.recorded_by.public_id)

    @admin.display(description="notice")
    def version(self, event: ConsentEvent) -> str:
        return f"v{event.notice.version}"

    @admin.display(description="history")
    def history(self, event: ConsentEvent) -> str:
        url = reverse("admin:compliance_consentevent_changelist")
        return format_html('<a href="{}?subject__public_id={}">all choices</a>', url, event.subject.public_id)

    def get_urls(self) -> list:
        return [
            path(
                "statistics/",
                self.admin_site.admin_view(self.statistics_view),
                name="compliance_consentevent_statistics",
            ),
            path("record/", self.admin_site.admin_view(self.record_view), name="compliance_consentevent_record"),
            *super().get_urls(),
        ]

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        extra_context = {
            **(extra_context or {}),
            "can_view_statistics": request.user.has_perm("compliance.view_consent_statistics"),
            "can_record_consent": request.user.has_perm("compliance.record_consent_on_behalf"),
        }
        return super().changelist_view(request, extra_context)

    def statistics_view(self, request: HttpRequest) -> HttpResponse:
        if not request.user.has_perm("compliance.view_consent_statistics"):
            raise PermissionDenied
        charts = []
        with reporting_reads():  # aggregates over the whole event stream: on the replica if there is one
            totals = consent_totals()
            for purpose in ProcessingPurpose.objects.filter(lawful_basis=LawfulBasis.CONSENT).order_by("code"):
                weeks = consent_statistics(purpose=purpose)
                charts.append(
                    {
                        "purpose": purpose,
                        "totals": totals.get(purpose.pk, {"granted": 0, "not_granted": 0}),
                        "chart": _bar_chart(weeks),
                        "weeks": weeks,
                    }
                )
        context = {
            **self.admin_site.each_context(request),
            "title": "Consent statistics",
            "opts": self.model._meta,
            "charts": charts,
        }
        return TemplateResponse(request, "admin/compliance/consent_statistics.html", context)

    def record_view(self, request: HttpRequest) -> HttpResponse:
        if not request.user.has_perm("compliance.record_consent_on_behalf"):
            raise PermissionDenied
        form = StaffConsentForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            subject = get_user_model().objects.filter(public_id=form.cleaned_data["subject"]).first()
            if subject is None:
                form.add_error("subject", "No customer has this public id.")
            else:
                try:
                    consent_record(
                        actor=request.user,
                        subject=subject,
                        purpose=form.cleaned_data["purpose"].code,
                        granted=form.cleaned_data["decision"] == "grant",
                        notice_version=form.cleaned_data["notice_version"],
                        channel=form.cleaned_data["channel"],
                        note=form.cleaned_data["note"],
                        request=request,
                    )
                except ConsentError as exc:
                    form.add_error(exc.field if exc.field in form.fields else None, exc.message)
                else:
                    self.message_user(request, "The customer's choice was recorded.", messages.SUCCESS)
                    url = reverse("admin:compliance_consentevent_changelist")
                    return redirect(f"{url}?subject__public_id={subject.public_id}")
        context = {
            **self.admin_site.each_context(request),
            "title": "Record a consent choice on a customer's behalf",
            "opts": self.model._meta,
            "form": form,
            "notices": [
                (purpose, notice) for purpose, notice in purposes_with_current_notice() if purpose.consent_required
            ],
        }
        return TemplateResponse(request, "admin/compliance/consent_record.html", context)


CHART_HEIGHT = 120
CHART_BAR_WIDTH = 14
CHART_GROUP_WIDTH = 40


def _bar_chart(weeks: list) -> dict[str, Any]:
    """Bar geometry for the SVG chart: per week a granted bar and a withdrawn bar, to scale."""
    peak = max([1, *(max(week.granted, week.withdrawn) for week in weeks)])
    bars = []
    for index, week in enumerate(weeks):
        x = 30 + index * CHART_GROUP_WIDTH
        granted_h = round(week.granted / peak * CHART_HEIGHT)
        withdrawn_h = round(week.withdrawn / peak * CHART_HEIGHT)
        bars.append(
            {
                "week": week.week,
                "granted": week.granted,
                "withdrawn": week.withdrawn,
                "granted_x": x,
                "granted_y": 10 + CHART_HEIGHT - granted_h,
                "granted_h": granted_h,
                "withdrawn_x": x + CHART_BAR_WIDTH + 2,
                "withdrawn_y": 10 + CHART_HEIGHT - withdrawn_h,
                "withdrawn_h": withdrawn_h,
                "label_x": x + CHART_BAR_WIDTH,
            }
        )
    return {
        "bars": bars,
        "peak": peak,
        "width": 40 + len(weeks) * CHART_GROUP_WIDTH,
        "height": CHART_HEIGHT + 40,
        "baseline": 10 + CHART_HEIGHT,
        "label_y": CHART_HEIGHT + 28,
        "bar_width": CHART_BAR_WIDTH,
    }


@admin.register(ProcessingRestrictionEvent)
class ProcessingRestrictionEventAdmin(PIMaskedAdmin, ReadOnlyEvidenceAdmin):
    list_display = ("created_at", "subject_id_display", "purpose", "kind", "active", "reference")
    list_filter = ("purpose", "kind", "active")
    list_select_related = ("subject", "purpose")
    search_fields = ("=subject__public_id", "=reference")
    ordering = ("-id",)
    fields = ("public_id", "purpose", "kind", "active", "reason", "reference", "source_ip", "request_id", "created_at")
    readonly_fields = fields

    @admin.display(description="subject")
    def subject_id_display(self, event: ProcessingRestrictionEvent) -> str:
        return str(event.subject.public_id)

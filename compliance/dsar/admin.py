"""The information officer's DSAR review queue.

Requests are never edited in place: every next step is a row of the workflow table
(``compliance.dsar.workflow``) shown inline on the request page as a small form built from that
row's inputs (a confirmation is one button), which calls the row's service in
``compliance.dsar.services`` (so the admin enforces exactly the rules the API does, and every action
is an event and an audit record; the landing page's "Recent actions" reads the audit trail). Only
the valid next steps for the officer looking at the request are shown (``next_actions``); the
four-eyes step says who may give it; the subject's outcome notice is previewed from its template;
"History" shows the request's events and notices. From the list: assign to me, approve (through
the same services). Search: the short id, or the subject's e-mail or exact surname through their
blind indexes. Filing on a subject's behalf uses a form built from the request types' declared
inputs (``compliance.dsar.kinds``). The list highlights what is overdue or due this week; the
header shows the open workload by type and status and the on-time rate.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, F, Q
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from compliance.audit.admin import PIMaskedAdmin, PIMasking
from compliance.dsar import notices, selectors, services
from compliance.dsar.erasure_ledger import unrecorded_erasures
from compliance.dsar.kinds import FILING_INPUT_HELP, FilingInput, correctable, declared_purposes, kind_for, kinds
from compliance.dsar.models import (
    DSAR_MAX_EXTENSION_DAYS,
    OPEN_STATUSES,
    DataSubjectRequest,
    DsarEvent,
    DsarNotice,
    DsarStatus,
    NoticeStatus,
)
from compliance.dsar.workflow import ASSIGN, FOUR_EYES, Action, Input, InputType, action_for, next_actions
from compliance.pi.selectors import subject_by_email, subject_by_id_number, subjects_by_identifier
from kernel.access import has_permission
from kernel.admin import ReadOnlyAdminMixin, register_index_warning
from kernel.display import person_label


def _is_officer(request: HttpRequest) -> bool:
    return has_permission(request.user, services.PROCESS_PERMISSION)


class DueFilter(admin.SimpleListFilter):
    title = "deadline"
    parameter_name = "due"

    def lookups(self, request, model_admin):
        return (("overdue", "Overdue"), ("week", "Due within 7 days"), ("later", "Due later"), ("done", "Finished"))

    def queryset(self, request, queryset):
        now = timezone.now()
        match self.value():
            case "overdue":
                return queryset.overdue(now)
            case "week":
                return queryset.due_within(7, now)
            case "later":
                return queryset.open().filter(due_at__gte=now + timedelta(days=7))
            case "done":
                return queryset.exclude(status__in=OPEN_STATUSES)
        return queryset


class AssigneeFilter(admin.SimpleListFilter):
    title = "assignee"
    parameter_name = "assignee"

    def lookups(self, request, model_admin):
        return (("me", "Assigned to me"), ("none", "Unassigned"))

    def queryset(self, request, queryset):
        if self.value() == "me":
            return queryset.filter(assigned_to=request.user)
        if self.value() == "none":
            return queryset.filter(assigned_to__isnull=True)
        return queryset


class DsarEventInline(PIMasking, ReadOnlyAdminMixin, admin.TabularInline):
    model = DsarEvent
    extra = 0
    can_delete = False
    fields = ("created_at", "kind", "from_status", "to_status", "actor", "note")
    readonly_fields = fields
    ordering = ("created_at", "id")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("actor")


class DsarNoticeInline(ReadOnlyAdminMixin, admin.TabularInline):
    """The notices sent to the subject: what, when, channel, template version, delivered or not."""

    model = DsarNotice
    extra = 0
    can_delete = False
    verbose_name_plural = "notices to the subject"
    fields = (
        "created_at", "kind", "channel", "template", "template_version", "status", "sent_at", "attempts",
        "last_error_class", "error",
    )  # fmt: skip
    readonly_fields = fields
    ordering = ("created_at", "id")

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return _is_officer(request) or super().has_view_permission(request, obj)


class OfficerChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        # Staff are named by a short id, as everywhere PI is not needed to do the work.
        return str(obj.public_id)[:8]


def _form_field(spec: Input) -> forms.Field:
    messages = {"required": spec.missing} if spec.required else {}
    match spec.input_type:
        case InputType.TEXT:
            return forms.CharField(
                widget=forms.Textarea(attrs={"rows": 3}),
                max_length=spec.max_length,
                required=spec.required,
                help_text=spec.help,
                error_messages=messages,
            )
        case InputType.DAYS:
            return forms.IntegerField(
                min_value=1,
                max_value=DSAR_MAX_EXTENSION_DAYS,
                required=spec.required,
                help_text=spec.help,
                error_messages=messages,
            )
        case InputType.FLAG:
            return forms.BooleanField(required=False, help_text=spec.help)
        case InputType.CHOICE:
            choice_message = f"Choose one of: {', '.join(value for value, _ in spec.choices)}."
            return forms.ChoiceField(
                choices=spec.choices,
                required=spec.required,
                help_text=spec.help,
                error_messages={**messages, "invalid_choice": choice_message},
            )
        case InputType.OFFICER:
            return OfficerChoiceField(
                queryset=selectors.officers(),
                to_field_name="public_id",
                required=False,
                empty_label="Me",
                help_text=spec.help,
            )
    raise ValueError(f"No form field for input type {spec.input_type!r}")


def action_form(action: Action, data: Any = None, *, auto_id: str = "id_%s") -> forms.Form:
    """The form of one workflow action: exactly its inputs, as the table declares them.

    ``auto_id``: several actions' forms share one page, so their element ids carry the action."""
    form_class = type(f"{action.service}_form", (forms.Form,), {s.name: _form_field(s) for s in action.inputs})
    return form_class(data, auto_id=auto_id)


def _change_field(name: str) -> str:
    return f"change_{name}"


class FileOnBehalfForm(forms.Form):
    """Built from the request types' declared inputs (``compliance.dsar.kinds``).

    Purposes are a multiple choice of the declared (active) processing purposes; requested changes
    are one input per correctable field (the fields an owning app registered a handler for).
    """

    # The subject is identified by what they quote: their e-mail or their ID number. Both columns
    # are encrypted, so the lookup goes through the blind indexes (compliance.pi.selectors).
    subject_email = forms.EmailField(required=False, help_text="The customer's registered e-mail address.")
    subject_id_number = forms.RegexField(
        r"^[0-9 -]{6,20}$",
        required=False,
        help_text="Or the ID number the customer gave for KYC.",
        error_messages={"invalid": "Enter the digits of an ID number."},
    )
    type = forms.ChoiceField(choices=())
    identity_evidence = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), help_text="How you verified the subject's identity."
    )
    notify_contact = forms.CharField(
        max_length=254,
        required=False,
        label="Send the notices to",
        help_text="An e-mail address or a phone number (SMS); empty: the customer's registered e-mail.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["type"]).choices = kinds.choices()
        self.fields["type"].help_text = " ".join(f"{kind.label}: {kind.statute}." for kind in kinds)
        order = ["subject_email", "subject_id_number", "type"]
        for name in kinds.filing_inputs():
            for field_name, field in self._filing_fields(name).items():
                self.fields[field_name] = field
                order.append(field_name)
        self.order_fields([*order, "notify_contact", "identity_evidence"])

    @staticmethod
    def _filing_fields(name: FilingInput) -> dict[str, forms.Field]:
        used_by = f"For: {', '.join(kind.label for kind in kinds.taking(name))}."
        if name == FilingInput.DETAILS:
            return {
                "details": forms.CharField(
                    widget=forms.Textarea(attrs={"rows": 4}), required=False, help_text=FILING_INPUT_HELP[name]
                )
            }
        if name == FilingInput.PURPOSES:
            return {
                "purposes": forms.MultipleChoiceField(
                    choices=declared_purposes(),
                    widget=forms.CheckboxSelectMultiple,
                    required=False,
                    help_text=f"{FILING_INPUT_HELP[name]} {used_by}",
                )
            }
        return {
            _change_field(field): forms.CharField(
                max_length=500,
                required=False,
                label=f"Correct {field.replace('_', ' ')} to",
                help_text=f"Leave empty to keep it. {used_by}",
            )
            for field in correctable()
        }

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        neither_or_both = bool(cleaned.get("subject_email")) == bool(cleaned.get("subject_id_number"))
        if neither_or_both and not (self.errors.get("subject_email") or self.errors.get("subject_id_number")):
            raise forms.ValidationError("Give either the customer's e-mail address or their ID number.")
        return cleaned

    def filing(self) -> dict[str, Any]:
        """The service's filing arguments from the cleaned inputs."""
        data = self.cleaned_data
        changes = {field: data[_change_field(field)] for field in correctable() if data.get(_change_field(field))}
        return {
            "type": data["type"],
            "details": data.get("details", ""),
            "requested_changes": changes,
            "purposes": list(data.get("purposes") or []),
            "notify_contact": data.get("notify_contact", ""),
        }


# Which on-behalf form input a filing refusal is about (the others are shown above the form).
_FILING_ERROR_FIELDS = {
    "purposes_required": "purposes",
    "unknown_purpose": "purposes",
    "purposes_not_applicable": "purposes",
    "invalid_type": "type",
    "invalid_notify_contact": "notify_contact",
}


@admin.register(DataSubjectRequest)
class DataSubjectRequestAdmin(PIMaskedAdmin, admin.ModelAdmin):
    list_display = (
        "short_id",
        "type",
        "status_badge",
        "deadline",
        "subject_person",
        "assignee",
        "flags",
        "received_at",
    )
    list_filter = (DueFilter, "status", "type", AssigneeFilter)
    list_select_related = ("assigned_to", "subject")
    # Search: the short id the list shows (or the full id), or the subject's e-mail or surname
    # through their blind indexes (the columns are encrypted: exact values, normalised). See
    # get_search_results.
    search_fields = ("=public_id",)
    search_help_text = (
        "The request's short id, or the subject's e-mail address or surname. E-mail and surname must be "
        "exact (case and spacing ignored; no partial names, no first names)."
    )
    ordering = ("due_at",)
    show_full_result_count = False
    list_per_page = 50
    actions = ["assign_to_me", "approve_selected"]
    inlines = [DsarEventInline, DsarNoticeInline]
    change_list_template = "admin/compliance/datasubjectrequest/change_list.html"
    change_form_template = "admin/compliance/datasubjectrequest/change_form.html"
    fieldsets = (
        (
            "Request",
            {
                "fields": (
                    "public_id",
                    "type",
                    "status",
                    "channel",
                    "subject_link",
                    "filed_by",
                    "details",
                    "requested_changes",  # masked (field names kept) until a reasoned reveal
                    "applied_at_filing",
                    "duplicate_of",
                )
            },
        ),
        ("Identity", {"fields": ("identity_evidence", "identity_verified_by", "identity_verified_at")}),
        (
            "Deadline",
            {"fields": ("received_at", "original_due_at", "due_at", "extended_at", "extended_by", "extension_reason")},
        ),
        (
            "Review",
            {
                "fields": (
                    "assigned_to",
                    "approval_requested_by",
                    "approval_requested_at",
                    "decided_by",
                    "decided_at",
                    "decision_reason",
                )
            },
        ),
        ("Outcome", {"fields": ("balance_settlements", "outcome_statement", "fulfilled_at", "closed_at")}),
    )

    class Media:
        css = {"all": ("compliance/admin.css",)}

    def get_readonly_fields(self, request, obj=None):
        # super(): PIMaskedAdmin adds the masked displays of the PI fields.
        return [
            *super().get_readonly_fields(request, obj),
            *(f for fieldset in self.fieldsets for f in fieldset[1]["fields"]),
        ]

    def has_add_permission(self, request) -> bool:
        return _is_officer(request)

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_view_permission(self, request, obj=None) -> bool:
        return _is_officer(request) or super().has_view_permission(request, obj)

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not _is_officer(request):
            actions.pop("assign_to_me", None)
            actions.pop("approve_selected", None)
        return actions

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        if "@" in term:
            subject = subject_by_email(term)
            return (queryset.filter(subject=subject) if subject else queryset.none()), False
        # The subject's surname, exactly (case and spacing ignored), through its blind index.
        by_surname = queryset.filter(subject__in=subjects_by_identifier(kind="name", value=term))
        if SHORT_ID.fullmatch(term.lower()):
            return queryset.filter(public_id__startswith=term.lower()) | by_surname, False
        results, duplicates = super().get_search_results(request, queryset, search_term)
        return results | by_surname, duplicates

    @admin.display(description="request", ordering="public_id")
    def short_id(self, dsar: DataSubjectRequest) -> str:
        return str(dsar.public_id)[:8]

    @admin.display(description="assigned to", ordering="assigned_to")
    def assignee(self, dsar: DataSubjectRequest) -> str:
        # People by masked name + short id, as everywhere PI is not needed to do the work.
        return person_label(dsar.assigned_to) if dsar.assigned_to_id else "—"

    @admin.display(description="subject")
    def subject_person(self, dsar: DataSubjectRequest) -> str:
        return person_label(dsar.subject)

    @admin.display(description="subject")
    def subject_link(self, dsar: DataSubjectRequest) -> str:
        url = reverse("admin:accounts_user_change", args=[dsar.subject_id])
        return format_html('<a href="{}">{}</a>', url, dsar.subject.public_id)

    @admin.display(description="status", ordering="status")
    def status_badge(self, dsar: DataSubjectRequest) -> str:
        return format_html('<span class="dsar-badge dsar-status-{}">{}</span>', dsar.status, dsar.get_status_display())

    @admin.display(description="due", ordering="due_at")
    def deadline(self, dsar: DataSubjectRequest) -> str:
        if not dsar.is_open:
            return format_html('<span class="dsar-due dsar-due-done">{}</span>', dsar.due_at.date())
        days = (dsar.due_at - timezone.now()).total_seconds() / 86400
        if days < 0:
            css, text = "overdue", f"{-days:.0f} days overdue" if days <= -1 else "overdue today"
        elif days < 7:
            css, text = "soon", f"due in {days:.1f} days"
        else:
            css, text = "ok", f"due in {days:.0f} days"
        return format_html('<span class="dsar-due dsar-due-{}">{} ({})</span>', css, text, dsar.due_at.date())

    @admin.display(description="flags")
    def flags(self, dsar: DataSubjectRequest) -> str:
        parts = []
        if dsar.extended_at:
            parts.append("extended")
        if dsar.duplicate_of_id:
            parts.append("possible duplicate")
        if dsar.approval_requested_by_id and dsar.status == DsarStatus.IN_REVIEW:
            parts.append("awaiting second approval")
        return ", ".join(parts)

    def _act_on_selected(self, request, queryset, slug: str, done_text: str) -> None:
        """A list action: the workflow row's service on each selected request (its rules apply)."""
        row = action_for(slug)
        if row is None:
            raise ValueError(f"No workflow action {slug!r}")
        done, refused = 0, []
        for dsar in queryset:
            try:
                services.dsar_act(slug, actor=request.user, dsar=dsar, inputs={})
            except services.DsarError as error:
                refused.append(f"{str(dsar.public_id)[:8]}: {error.message}")
            else:
                done += 1
        if done:
            self.message_user(request, done_text.format(done), messages.SUCCESS)
        if refused:
            self.message_user(request, "Not done: " + "; ".join(refused), messages.WARNING)

    @admin.action(description="Assign to me (and start review)")
    def assign_to_me(self, request, queryset) -> None:
        self._act_on_selected(request, queryset, ASSIGN, "Assigned {} request(s) to you.")

    @admin.action(description="Approve (second officer)")
    def approve_selected(self, request, queryset) -> None:
        self._act_on_selected(request, queryset, FOUR_EYES.approve, "Approved {} request(s).")

    def get_urls(self):
        return [
            path(
                "<path:object_id>/act/<slug:action>/",
                self.admin_site.admin_view(self.action_view),
                name="compliance_datasubjectrequest_act",
            ),
            path(
                "<path:object_id>/notices/<uuid:notice_id>/resend/",
                self.admin_site.admin_view(self.resend_notice_view),
                name="compliance_datasubjectrequest_resend_notice",
            ),
            *super().get_urls(),
        ]

    def action_view(self, request: HttpRequest, object_id: str, action: str) -> HttpResponse:
        row = action_for(action)
        if row is None or not _is_officer(request):
            raise Http404
        dsar = self.get_object(request, object_id)
        if dsar is None:
            raise Http404
        form = action_form(row, request.POST if request.method == "POST" else None)
        change_url = reverse("admin:compliance_datasubjectrequest_change", args=[dsar.pk])
        if request.method == "POST" and form.is_valid():
            try:
                services.dsar_act(row.slug, actor=request.user, dsar=dsar, inputs=form.cleaned_data)
            except services.DsarError as error:
                form.add_error(None, error.message)
            else:
                # No LogEntry: "Recent actions" reads the audit record the service wrote, and
                # "History" the request's events (one record of the step, not two).
                self.message_user(request, f"{row.label}: done.", messages.SUCCESS)
                return HttpResponseRedirect(change_url)
        context = {
            **self.admin_site.each_context(request),
            "title": f"{row.label} — request {str(dsar.public_id)[:8]}",
            "form": form,
            "dsar": dsar,
            "opts": self.opts,
            "change_url": change_url,
            "label": row.label,
        }
        return TemplateResponse(request, "admin/compliance/datasubjectrequest/action.html", context)

    def resend_notice_view(self, request: HttpRequest, object_id: str, notice_id: Any) -> HttpResponse:
        """The officer sends an undelivered notice again (POST only; audited by the service)."""
        if request.method != "POST" or not _is_officer(request):
            raise Http404
        dsar = self.get_object(request, object_id)
        notice = DsarNotice.objects.filter(dsar=dsar, public_id=notice_id).first() if dsar else None
        if dsar is None or notice is None:
            raise Http404
        try:
            services.dsar_notice_resend(actor=request.user, notice=notice)
        except services.DsarError as error:
            self.message_user(request, error.message, messages.ERROR)
        else:
            self.message_user(request, f"{notice.get_kind_display()}: sent again.", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:compliance_datasubjectrequest_change", args=[dsar.pk]))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        dsar = self.get_object(request, object_id)
        extra_context = extra_context or {}
        if dsar is not None and _is_officer(request):
            # The valid next steps for this officer (state, four eyes, the one extension).
            # Each shown inline on the page with its (small) form; a confirmation is one button.
            extra_context["dsar_actions"] = [
                {
                    "url": reverse("admin:compliance_datasubjectrequest_act", args=[dsar.pk, action.slug]),
                    "label": action.label,
                    "slug": action.slug,
                    "form": action_form(action, auto_id=f"id_{action.slug}_%s"),
                }
                for action in next_actions(dsar, actor=request.user)
            ]
            extra_context["dsar_four_eyes"] = four_eyes_status(dsar)
            extra_context["dsar_statement_preview"] = statement_preview(dsar)
            extra_context["dsar_undelivered_notices"] = [
                {
                    "label": notice.get_kind_display(),
                    "error": notice.error,
                    "attempts": notice.attempts,
                    "url": reverse(
                        "admin:compliance_datasubjectrequest_resend_notice", args=[dsar.pk, notice.public_id]
                    ),
                }
                for notice in dsar.notices.filter(status=NoticeStatus.FAILED).order_by("created_at", "id")
            ]
        return super().change_view(request, object_id, form_url, extra_context)

    def history_view(self, request, object_id, extra_context=None):
        """History: the request's own timeline (its events and the notices sent), then the log."""
        dsar = self.get_object(request, object_id)
        extra_context = extra_context or {}
        if dsar is not None:
            extra_context["dsar_timeline"] = timeline(dsar)
        return super().history_view(request, object_id, extra_context)

    def add_view(self, request, form_url="", extra_context=None):
        """Staff file on a subject's behalf, any request type; identity evidence is required."""
        if not _is_officer(request):
            raise Http404
        form = FileOnBehalfForm(request.POST or None)
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
                    dsar = services.dsar_file(
                        subject=subject,
                        filed_by=request.user,
                        identity_evidence=data["identity_evidence"],
                        **form.filing(),
                    )
                except services.DsarError as error:
                    form.add_error(_FILING_ERROR_FIELDS.get(error.code), error.message)
                else:
                    self.message_user(request, "Request filed.", messages.SUCCESS)
                    return HttpResponseRedirect(reverse("admin:compliance_datasubjectrequest_change", args=[dsar.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": "File a request on a subject's behalf",
            "form": form,
            "opts": self.opts,
            "label": "File request",
            "change_url": reverse("admin:compliance_datasubjectrequest_changelist"),
        }
        return TemplateResponse(request, "admin/compliance/datasubjectrequest/action.html", context)

    def changelist_view(self, request, extra_context=None):
        dashboard = dsar_dashboard()
        if dashboard["overdue"] and request.method == "GET":
            self.message_user(
                request,
                f"{dashboard['overdue']} request(s) are past their statutory deadline: filter by deadline → Overdue.",
                messages.ERROR,
            )
        extra_context = {**(extra_context or {}), "dsar_dashboard": dashboard}
        return super().changelist_view(request, extra_context)


SHORT_ID = re.compile(r"[0-9a-f]{8}")


def four_eyes_status(dsar: DataSubjectRequest) -> dict[str, Any] | None:
    """Who asked for the second approval and which officers may give it (anyone else)."""
    if not FOUR_EYES.applies(dsar) or dsar.status not in (DsarStatus.IN_REVIEW, DsarStatus.IDENTITY_VERIFIED):
        return None
    first = dsar.approval_requested_by
    others = [person_label(officer) for officer in selectors.officers() if first is None or officer.pk != first.pk]
    return {"requested_by": person_label(first) if first else None, "may_approve": others}


def statement_preview(dsar: DataSubjectRequest) -> dict[str, str] | None:
    """What the subject will receive as the outcome notice, rendered now from its template (unsaved)."""
    if dsar.status not in (DsarStatus.IN_REVIEW, DsarStatus.APPROVED):
        return None
    kind = kind_for(dsar.type).outcome_notice
    if kind not in notices.TEMPLATES:
        return None
    version = notices.TEMPLATES[kind]
    preview = DsarNotice(dsar=dsar, kind=kind, template=notices.template_name(kind, version), context={})
    subject, body = notices.render(preview)
    return {"subject": subject, "body": body}


def timeline(dsar: DataSubjectRequest) -> list[dict[str, Any]]:
    """The request's events and notices, oldest first (no PI: kinds, states, people masked)."""
    rows: list[dict[str, Any]] = [
        {
            "at": event.created_at,
            "what": event.get_kind_display(),
            "detail": f"{event.from_status or '—'} → {event.to_status}" if event.to_status else "",
            "who": person_label(event.actor) if event.actor_id else "system",
        }
        for event in dsar.events.select_related("actor").order_by("created_at", "id")
    ]
    rows += [
        {
            "at": notice.created_at,
            "what": f"Notice to the subject: {notice.get_kind_display()}",
            "detail": f"{notice.channel or 'no channel'}, {notice.get_status_display()}",
            "who": "system",
        }
        for notice in dsar.notices.order_by("created_at", "id")
    ]
    return sorted(rows, key=lambda row: row["at"])


def dsar_dashboard(now=None) -> dict[str, Any]:
    """Open workload by type and status, deadline pressure, and the on-time rate (two queries)."""
    now = now or timezone.now()
    open_qs = DataSubjectRequest.objects.open()
    by_type_status = list(open_qs.values("type", "status").annotate(n=Count("id")).order_by("type", "status"))
    finished = DataSubjectRequest.objects.exclude(status__in=OPEN_STATUSES).exclude(status=DsarStatus.REJECTED)
    totals = finished.aggregate(
        finished=Count("id"),
        on_time=Count("id", filter=Q(fulfilled_at__lte=F("due_at"))),
    )
    pressure = open_qs.aggregate(
        open=Count("id"),
        overdue=Count("id", filter=Q(due_at__lt=now)),
        due_week=Count("id", filter=Q(due_at__gte=now, due_at__lt=now + timedelta(days=7))),
    )
    rate = round(100 * totals["on_time"] / totals["finished"], 1) if totals["finished"] else None
    types = {kind.slug: kind.label for kind in kinds}
    statuses = dict(DsarStatus.choices)
    rows = [
        {"type": types.get(r["type"], r["type"]), "status": statuses[r["status"]], "n": r["n"]} for r in by_type_status
    ]
    return {**pressure, **totals, "on_time_rate": rate, "by_type_status": rows}


def warn_about_overdue_requests(request: HttpRequest) -> None:
    overdue = DataSubjectRequest.objects.overdue().count()
    if overdue:
        messages.error(request, f"{overdue} data-subject request(s) are past their statutory deadline.")


register_index_warning("dsar-overdue", permission="compliance.process_dsar", show=warn_about_overdue_requests)


def warn_about_unrecorded_erasures(request: HttpRequest) -> None:
    unrecorded = unrecorded_erasures()
    if unrecorded:
        messages.error(
            request,
            f"{unrecorded} completed erasure(s) are not yet in the erasure ledger outside the database: a restore "
            "would bring those subjects back. Check the archive store and the compliance.dsar.record_erasures task.",
        )


register_index_warning(
    "dsar-erasures-unrecorded", permission="compliance.process_dsar", show=warn_about_unrecorded_erasures
)


def warn_about_undelivered_notices(request: HttpRequest) -> None:
    undelivered = notices.undelivered_notices()
    if undelivered:
        messages.error(
            request,
            f"{undelivered} notice(s) to data subjects were not delivered (a deletion statement among them, "
            "perhaps): reach the subjects another way, or resend from the request's page once the cause is fixed.",
        )


register_index_warning(
    "dsar-notices-undelivered", permission="compliance.process_dsar", show=warn_about_undelivered_notices
)

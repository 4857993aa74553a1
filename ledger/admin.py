"""Ledger admin: read-only journal, postings and balances; the KYC queue and payout-account checks.

Nothing here writes ledger rows: add/change/delete are off, bulk delete is gone, and the only
actions call services (KYC decisions, bank account verification), which audit.
"""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import path, reverse

from accounts.models import User
from compliance.audit.admin import PIMaskedAdmin
from compliance.crypto.admin import BlindIndexSearchMixin
from kernel.access import has_permission
from kernel.admin import ReadOnlyAdminMixin, ReadOnlyModelAdmin, money_column, person_column
from ledger import limits, services
from ledger.exceptions import LedgerError
from ledger.models import BankAccount, JournalEntry, KycRecord, KycStatus, LedgerAccount, Posting


class PostingInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Posting
    fields = ("account", "amount", "currency", "balance_after", "created_at")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).select_related("account")


@admin.register(LedgerAccount)
class LedgerAccountAdmin(ReadOnlyModelAdmin):
    # Amounts with their currency, people by masked name + short id: the key columns fit 1440 px.
    list_display = (
        "public_id", "kind", money_column("balance"), person_column("owner"), "shard", "allow_negative", "created_at",
    )  # fmt: skip
    list_filter = ("kind", "currency")
    list_select_related = ("owner",)
    search_fields = ("public_id",)
    readonly_fields = (
        "public_id", "owner", "kind", "currency", "shard", "allow_negative", "balance",
        "daily_debit_day", "daily_debit_total", "created_at",
    )  # fmt: skip
    ordering = ("kind", "currency", "shard", "pk")


@admin.register(JournalEntry)
class JournalEntryAdmin(PIMaskedAdmin, ReadOnlyModelAdmin):
    list_display = (
        "public_id", "entry_type", "channel", money_column("amount"), person_column("created_by", description="by"),
        "created_at",
    )  # fmt: skip
    list_filter = ("entry_type", "channel", "currency")
    list_select_related = ("created_by",)
    search_fields = ("public_id",)
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    inlines = [PostingInline]
    readonly_fields = (
        "public_id", "entry_type", "channel", "amount", "currency", "reference", "external_reference",
        "reverses", "idempotency_key", "request_id", "created_by", "created_at",
    )  # fmt: skip
    exclude = ("request_fingerprint",)


@admin.register(Posting)
class PostingAdmin(ReadOnlyModelAdmin):
    list_display = (
        "pk", "entry", "account", money_column("amount"), money_column("balance_after", description="balance after"),
        "created_at",
    )  # fmt: skip
    list_filter = ("currency",)
    list_select_related = ("entry", "account")
    ordering = ("-created_at",)
    readonly_fields = ("entry", "account", "amount", "currency", "balance_after", "created_at")


@admin.action(description="Verify selected submissions (tier 1)")
def verify_tier_1(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> None:
    _decide(modeladmin, request, queryset, verify=True)


@admin.action(description="Reject selected submissions")
def reject(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> None:
    _decide(modeladmin, request, queryset, verify=False)


def _decide(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet, *, verify: bool) -> None:
    done, refused = 0, 0
    # A refusal by permission or segregation of duties (own account) propagates: Django's handler403
    # records it as PERMISSION_DENIED (kernel/errors.py), the one denial path. Only users who may
    # decide are offered the actions at all (KycRecordAdmin.get_actions).
    for public_id in queryset.values_list("public_id", flat=True):
        try:
            services.kyc_decide(
                actor=cast(User, request.user),
                record=public_id,
                verify=verify,
                tier=1,
                reason="decided in admin (bulk)",
                request=request,
            )
            done += 1
        except LedgerError as error:
            refused += 1
            modeladmin.message_user(request, f"KYC {str(public_id)[:8]}: {error}", level=messages.ERROR)
    # Say what happened, in the colour it deserves: nothing done is never a success.
    if done:
        modeladmin.message_user(
            request, f"{done} submission(s) {'verified at tier 1' if verify else 'rejected'}.", level=messages.SUCCESS
        )
    if refused and not done:
        modeladmin.message_user(request, "No submission was decided.", level=messages.WARNING)


class KycDecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=[("verify", "Verify"), ("reject", "Reject")], widget=forms.RadioSelect)
    tier = forms.TypedChoiceField(
        choices=[(tier, f"Tier {tier}") for tier in sorted(limits.KYC_TIERS)],
        coerce=int,
        initial=1,
        help_text=f"Tier {services.KYC_FOUR_EYES_TIER} and above need a second operations user's approval.",
    )
    reason = forms.CharField(max_length=255, widget=forms.TextInput(attrs={"size": 60}))


class KycApprovalForm(forms.Form):
    decision = forms.ChoiceField(choices=[("approve", "Approve"), ("reject", "Reject")], widget=forms.RadioSelect)
    reason = forms.CharField(max_length=255, required=False, widget=forms.TextInput(attrs={"size": 60}))


@admin.register(KycRecord)
class KycRecordAdmin(PIMaskedAdmin, BlindIndexSearchMixin, ReadOnlyModelAdmin):
    """The KYC queue: pending first, oldest first; identity masked (reveal with a reason).

    The detail page decides a submission (verify with a tier, or reject, with a reason) through the
    same service as the ops API (``ledger.services.kyc_decide``); tier 2+ becomes a request that a
    different operations user approves or rejects there (``kyc_approve``). Each step is a KYC_VERIFY
    audit record. Search finds a record by the exact ID number (spaces and dashes ignored) through
    its blind index, or by the record's public id; the encrypted column itself is never searched."""

    blind_index_search_fields = ("id_number",)
    search_fields = ("=public_id",)

    list_display = ("public_id", "status", "awaiting", "tier", "submitted_at", "decided_by", "decided_at")
    list_filter = ("status", "tier")
    list_select_related = ("user", "decided_by")
    # "pending" sorts first alphabetically: the queue is the top of the list, oldest first.
    ordering = ("status", "submitted_at")
    actions = [verify_tier_1, reject]
    change_form_template = "admin/ledger/kycrecord/change_form.html"
    readonly_fields = (
        "public_id", "user", "status", "tier", "id_number", "date_of_birth", "document_reference",
        "submitted_at", "approval_requested_by", "approval_requested_at", "requested_tier",
        "decided_by", "decided_at", "reason",
    )  # fmt: skip

    @admin.display(description="awaiting second approval", boolean=True)
    def awaiting(self, record: KycRecord) -> bool:
        return record.awaiting_approval

    def may_decide(self, request: HttpRequest) -> bool:
        return has_permission(request.user, "ledger.decide_kyc", through_role=True)

    def get_actions(self, request: HttpRequest) -> dict:
        return super().get_actions(request) if self.may_decide(request) else {}

    def get_urls(self) -> list:
        view = self.admin_site.admin_view
        return [
            path("<path:object_id>/decide/", view(self.decide_view), name="ledger_kycrecord_decide"),
            path("<path:object_id>/approve/", view(self.approve_view), name="ledger_kycrecord_approve"),
            *super().get_urls(),
        ]

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: dict | None = None
    ) -> HttpResponse:
        record = self.get_object(request, unquote(object_id))
        extra = dict(extra_context or {})
        if record is not None and record.status == KycStatus.PENDING and self.may_decide(request):
            if record.awaiting_approval:
                extra["kyc_approval_form"] = KycApprovalForm()
                extra["kyc_approval_url"] = reverse("admin:ledger_kycrecord_approve", args=[record.pk])
                requested_by = record.approval_requested_by
                extra["kyc_requested"] = (
                    str(requested_by.public_id)[:8] if requested_by else "",
                    record.requested_tier,
                    requested_by is not None and requested_by.pk == request.user.pk,
                )
            else:
                extra["kyc_decision_form"] = KycDecisionForm()
                extra["kyc_decision_url"] = reverse("admin:ledger_kycrecord_decide", args=[record.pk])
        return super().change_view(request, object_id, form_url, extra)

    def _decision_post(self, request: HttpRequest, object_id: str, form_class: type[forms.Form], act: Any) -> Any:
        if request.method != "POST":
            raise PermissionDenied("Decide a submission from its page.")
        record = self.get_object(request, unquote(object_id))
        if record is None:
            raise Http404
        back = reverse("admin:ledger_kycrecord_change", args=[record.pk])
        form = form_class(request.POST)
        if not form.is_valid():
            self.message_user(request, "Nothing was decided: choose a decision and give a reason.", messages.ERROR)
            return HttpResponseRedirect(back)
        try:
            done = act(record, form.cleaned_data)
        except LedgerError as error:
            self.message_user(request, f"Nothing was decided: {error}", messages.ERROR)
            return HttpResponseRedirect(back)
        if done.awaiting_approval:
            self.message_user(
                request,
                f"Tier {done.requested_tier} requested: a second operations user must approve it.",
                messages.INFO,
            )
        else:
            self.message_user(request, f"Submission {done.status} (tier {done.tier}).", messages.SUCCESS)
        return HttpResponseRedirect(back)

    def decide_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self._decision_post(
            request,
            object_id,
            KycDecisionForm,
            lambda record, data: services.kyc_decide(
                actor=cast(User, request.user),
                record=record.public_id,
                verify=data["decision"] == "verify",
                tier=data["tier"],
                reason=data["reason"],
                request=request,
            ),
        )

    def approve_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return self._decision_post(
            request,
            object_id,
            KycApprovalForm,
            lambda record, data: services.kyc_approve(
                actor=cast(User, request.user),
                record=record.public_id,
                approve=data["decision"] == "approve",
                reason=data["reason"],
                request=request,
            ),
        )


@admin.action(description="Mark selected bank accounts verified")
def verify_bank_accounts(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> None:
    for public_id in queryset.values_list("public_id", flat=True):
        try:
            services.bank_account_verify(actor=cast(User, request.user), bank_account=public_id, request=request)
        except (LedgerError, PermissionDenied) as error:
            modeladmin.message_user(request, f"Bank account {public_id}: {error}", level=messages.ERROR)


@admin.register(BankAccount)
class BankAccountAdmin(PIMaskedAdmin, BlindIndexSearchMixin, ReadOnlyModelAdmin):
    # Exact account-number search through the blind index (who else registered this account?).
    blind_index_search_fields = ("account_number",)
    search_fields = ("=public_id",)
    list_display = ("public_id", "bank_name", "branch_code", "masked_account_number", "verified", "created_at")
    list_filter = ("verified",)
    list_select_related = ("owner",)
    actions = [verify_bank_accounts]
    readonly_fields = ("public_id", "owner", "bank_name", "branch_code", "masked_account_number", "verified")
    exclude = ("account_number",)

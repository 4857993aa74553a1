"""Ledger admin: read-only journal, postings and balances; the KYC queue and payout-account checks.

Nothing here writes ledger rows: add/change/delete are off, bulk delete is gone, and the only
actions call services (KYC decisions, bank account verification), which audit.
"""

from __future__ import annotations

from typing import cast

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.models import User
from compliance.audit.admin import PIAccessAuditedAdmin
from compliance.crypto.admin import BlindIndexSearchMixin
from kernel.admin import ReadOnlyAdminMixin, ReadOnlyModelAdmin, money_column, person_column
from ledger import services
from ledger.exceptions import LedgerError
from ledger.models import BankAccount, JournalEntry, KycRecord, LedgerAccount, Posting


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
class JournalEntryAdmin(ReadOnlyModelAdmin):
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
    done = 0
    # A refusal by permission or segregation of duties (own account) propagates: Django's handler403
    # records it as PERMISSION_DENIED (kernel/errors.py), the one denial path.
    for public_id in queryset.values_list("public_id", flat=True):
        try:
            services.kyc_decide(
                actor=cast(User, request.user),
                record=public_id,
                verify=verify,
                tier=1,
                reason="decided in admin",
                request=request,
            )
            done += 1
        except LedgerError as error:
            modeladmin.message_user(request, f"KYC {public_id}: {error}", level=messages.ERROR)
    modeladmin.message_user(request, f"{done} submission(s) {'verified' if verify else 'rejected'}.")


@admin.register(KycRecord)
class KycRecordAdmin(PIAccessAuditedAdmin, BlindIndexSearchMixin, ReadOnlyModelAdmin):
    """The KYC queue: pending first, oldest first. The ID number is shown only on the detail page.

    Search finds a record by the exact ID number (spaces and dashes ignored) through its blind
    index, or by the record's public id; the encrypted column itself is never searched."""

    blind_index_search_fields = ("id_number",)
    search_fields = ("=public_id",)

    list_display = ("public_id", "status", "tier", "submitted_at", "decided_by", "decided_at")
    list_filter = ("status", "tier")
    list_select_related = ("user", "decided_by")
    # "pending" sorts first alphabetically: the queue is the top of the list, oldest first.
    ordering = ("status", "submitted_at")
    actions = [verify_tier_1, reject]
    readonly_fields = (
        "public_id", "user", "status", "tier", "id_number", "date_of_birth", "document_reference",
        "submitted_at", "decided_by", "decided_at", "reason",
    )  # fmt: skip


@admin.action(description="Mark selected bank accounts verified")
def verify_bank_accounts(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet) -> None:
    for public_id in queryset.values_list("public_id", flat=True):
        try:
            services.bank_account_verify(actor=cast(User, request.user), bank_account=public_id, request=request)
        except (LedgerError, PermissionDenied) as error:
            modeladmin.message_user(request, f"Bank account {public_id}: {error}", level=messages.ERROR)


@admin.register(BankAccount)
class BankAccountAdmin(PIAccessAuditedAdmin, BlindIndexSearchMixin, ReadOnlyModelAdmin):
    # Exact account-number search through the blind index (who else registered this account?).
    blind_index_search_fields = ("account_number",)
    search_fields = ("=public_id",)
    list_display = ("public_id", "bank_name", "branch_code", "masked_account_number", "verified", "created_at")
    list_filter = ("verified",)
    list_select_related = ("owner",)
    actions = [verify_bank_accounts]
    readonly_fields = ("public_id", "owner", "bank_name", "branch_code", "masked_account_number", "verified")
    exclude = ("account_number",)

"""Card admin: read-only and masked. The full PAN, the holder's name and the blind index are not
fields of this screen at all; revealing a PAN is an audited API action (ledger/cards/views.py)."""

from __future__ import annotations

from django.contrib import admin

from compliance.audit.admin import PIMaskedAdmin
from kernel.admin import ReadOnlyModelAdmin
from ledger.cards.models import Card

MASKED_FIELDS = ("public_id", "owner", "brand", "pan_last4", "expiry", "active", "verified_at", "created_at",
                 "deactivated_at")  # fmt: skip


@admin.register(Card)
class CardAdmin(PIMaskedAdmin, ReadOnlyModelAdmin):
    list_display = ("public_id", "brand", "pan_last4", "expiry", "active", "owner", "created_at")
    list_filter = ("brand", "active")
    list_select_related = ("owner",)
    search_fields = ("public_id",)
    ordering = ("-created_at",)
    fields = MASKED_FIELDS
    readonly_fields = MASKED_FIELDS

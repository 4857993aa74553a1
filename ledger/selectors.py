"""Ledger reads, scoped to the viewer: a customer sees only their own wallets, postings, KYC and
bank accounts; anything else is indistinguishable from a missing object (404)."""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import QuerySet

from ledger.models import AccountKind, BankAccount, KycRecord, LedgerAccount, Posting


def wallets_for(*, viewer: Any) -> QuerySet[LedgerAccount]:
    return LedgerAccount.objects.filter(owner=viewer, kind=AccountKind.CUSTOMER_WALLET).order_by("created_at", "pk")


def wallet_get(*, viewer: Any, public_id: uuid.UUID) -> LedgerAccount | None:
    return wallets_for(viewer=viewer).filter(public_id=public_id).first()


def statement_for(*, viewer: Any, account: LedgerAccount) -> QuerySet[Posting]:
    """Postings of one of the viewer's wallets, newest first, with their entries (one query)."""
    if account.owner_id != getattr(viewer, "pk", None):
        return Posting.objects.none()
    return (
        Posting.objects.filter(account=account)
        .select_related("entry")
        .only(
            "amount",
            "currency",
            "balance_after",
            "created_at",
            "entry__public_id",
            "entry__entry_type",
            "entry__reference",
        )
        .order_by("-created_at", "-pk")
    )


def kyc_for(*, viewer: Any) -> KycRecord | None:
    return KycRecord.objects.filter(user=viewer).first()


def bank_accounts_for(*, viewer: Any) -> QuerySet[BankAccount]:
    return BankAccount.objects.filter(owner=viewer).order_by("created_at", "pk")


def kyc_queue() -> QuerySet[KycRecord]:
    """Pending submissions, oldest first: the operations work list."""
    return KycRecord.objects.filter(status="pending").select_related("user").order_by("submitted_at")

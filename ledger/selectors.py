"""Ledger reads, scoped to the viewer: a customer sees only their own wallets, postings, KYC and
bank accounts; anything else is indistinguishable from a missing object (404)."""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import QuerySet
from django.http import Http404

from ledger.models import AccountKind, BankAccount, JournalEntry, KycRecord, LedgerAccount, Posting


def wallets_for(*, viewer: Any) -> QuerySet[LedgerAccount]:
    return LedgerAccount.objects.filter(owner=viewer, kind=AccountKind.CUSTOMER_WALLET).order_by("created_at", "pk")


def access_wallet(*, viewer: Any, public_id: uuid.UUID) -> LedgerAccount:
    """One of the viewer's wallets, or 404 — another customer's wallet does not exist for them."""
    account = wallets_for(viewer=viewer).filter(public_id=public_id).first()
    if account is None:
        raise Http404
    return account


def statement_for(*, viewer: Any, account: LedgerAccount) -> QuerySet[Posting]:
    """Posted postings of one of the viewer's wallets, newest first, with their entries (one query).

    Pending claims are not statement lines (they move no balance): GET /api/v1/pending/ lists them.
    """
    if account.owner_id != getattr(viewer, "pk", None):
        return Posting.objects.none()
    return (
        Posting.objects.filter(account=account, pending=False)
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


# --- Two-phase movements (ADR 0005) -------------------------------------------------------------------

PENDING_LIST_MAX = 200


def _two_phase() -> QuerySet[JournalEntry]:
    from django.db.models import Exists, OuterRef

    from ledger.models import StatementMatch

    return (
        JournalEntry.objects.filter(pending=True)
        .select_related("resolution__posted_entry")
        .annotate(has_match=Exists(StatementMatch.objects.filter(pending_entry=OuterRef("pk"))))
    )


def pending_movements_for(*, viewer: Any) -> list[JournalEntry]:
    """The viewer's own deposits and withdrawals (newest first) with where each stands."""
    return list(_two_phase().filter(created_by=viewer).order_by("-created_at", "-pk")[:PENDING_LIST_MAX])


def pending_queue() -> list[JournalEntry]:
    """Operations' work list: movements nothing has settled or voided yet, oldest first."""
    return list(_two_phase().filter(resolution__isnull=True).order_by("created_at", "pk")[:PENDING_LIST_MAX])


def movement_row(entry: Any) -> dict[str, Any]:
    resolution = getattr(entry, "resolution", None)
    posted = resolution.posted_entry if resolution is not None else None
    return {
        "public_id": entry.public_id,
        "entry_type": entry.entry_type,
        "channel": entry.channel,
        "amount": entry.amount,
        "currency": entry.currency,
        "status": resolution.outcome if resolution is not None else "pending",
        "created_at": entry.created_at,
        "expires_at": entry.expires_at if resolution is None else None,
        "settled_entry": posted.public_id if posted is not None else None,
        "statement_line_recorded": entry.has_match,
    }

"""Ledger's retention targets (SPEC C8), registered from ``LedgerConfig.ready()``.

Journal entries and postings are insert-only and kept under FICA: they are never purged by age.
A deletion request pseudonymises what identifies the person and places a retention-duty hold;
when that hold ends compliance completes it (``legal_hold_expiry``), and the rows stay without
personal information so every balance still equals the sum of its postings.
What the ledger can drop: bank accounts never verified (so never paid out to, hence in no
transaction record) of closed customer accounts, a year after the account was closed.
"""

from __future__ import annotations

from compliance.retention.engine import register_retention_target


def register_ledger_targets() -> None:
    from ledger.models import BankAccount

    register_retention_target(
        BankAccount,
        policy="account_active_plus_1y",
        date_field="owner__updated_at",
        subject_path="owner",
        queryset=lambda: BankAccount.objects.filter(verified=False, owner__is_active=False),
    )

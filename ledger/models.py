"""Double-entry ledger: accounts, journal entries, postings; KYC records and payout bank accounts.

Invariants (enforced by ledger/services.py and, on PostgreSQL, by the database itself):
- Every JournalEntry has at least two Postings and its postings sum to zero per currency
  (deferred constraint triggers, checked at commit).
- JournalEntry and Posting rows are insert-only: UPDATE, DELETE and TRUNCATE of a non-empty table
  are rejected by triggers. Corrections are reversing entries (``JournalEntry.reverses``).
- ``LedgerAccount.balance`` equals the sum of the account's postings at every commit: it is
  changed only in the transaction that inserts the postings, under the account's row lock, and
  each posting stores the resulting ``balance_after`` (statements need no sums).
- Accounts that may not go negative (every customer wallet) are protected by a CHECK constraint.
- Busy system accounts (settlement, fees, suspense) are split into shards (one row per
  kind/currency/shard); a system account's balance is the sum of its shards. See
  docs/adr/0001-ledger-concurrency-and-hot-accounts.md.

Amounts are signed integers in minor units: a positive posting increases the account's balance,
a negative one decreases it. Summed over every account in a currency, balances are always zero.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

currency_validator = RegexValidator(r"^[A-Z]{3}$", "Use an ISO 4217 alphabetic code such as ZAR.")


class AccountKind(models.TextChoices):
    CUSTOMER_WALLET = "customer_wallet", "Customer wallet"
    SETTLEMENT = "settlement", "Settlement"
    FEES = "fees", "Fees"
    SUSPENSE = "suspense", "Suspense"


SYSTEM_KINDS = (AccountKind.SETTLEMENT, AccountKind.FEES, AccountKind.SUSPENSE)


class LedgerAccount(models.Model):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="ledger_accounts",
        help_text="Empty for system accounts.",
    )
    kind = models.CharField(max_length=20, choices=AccountKind.choices)
    currency = models.CharField(max_length=3, default="ZAR", validators=[currency_validator])
    # System accounts are split into shards so no single row serialises every deposit (ADR 0001).
    shard = models.PositiveSmallIntegerField(default=0)
    allow_negative = models.BooleanField(default=False)
    balance = models.BigIntegerField(default=0, help_text="Posted balance in minor units.")
    # Outflow counter for the KYC daily limit: kept on the wallet row, which the transfer already
    # holds locked, so enforcing the limit costs no extra query and cannot race.
    daily_debit_day = models.DateField(null=True, blank=True)
    daily_debit_total = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(allow_negative=True) | Q(balance__gte=0), name="ledger_account_not_negative"
            ),
            models.CheckConstraint(
                condition=(Q(kind="customer_wallet") & Q(owner__isnull=False) & Q(allow_negative=False))
                | (~Q(kind="customer_wallet") & Q(owner__isnull=True)),
                name="ledger_account_owner_matches_kind",
            ),
            models.UniqueConstraint(
                fields=["owner", "currency"],
                condition=Q(kind="customer_wallet"),
                name="ledger_one_wallet_per_owner_currency",
            ),
            models.UniqueConstraint(
                fields=["kind", "currency", "shard"],
                condition=Q(owner__isnull=True),
                name="ledger_system_account_shard_unique",
            ),
        ]

    def __str__(self) -> str:
        if self.owner_id is None:
            return f"{self.get_kind_display()} {self.currency} #{self.shard}"
        return f"Wallet {self.public_id} ({self.currency})"

    @property
    def available_balance(self) -> int:
        # No authorisation holds exist yet (card authorisations arrive with the cards phase), so
        # everything posted is available.
        return self.balance


class EntryType(models.TextChoices):
    DEPOSIT = "deposit", "Deposit"
    WITHDRAWAL = "withdrawal", "Withdrawal"
    TRANSFER = "transfer", "Transfer"
    REVERSAL = "reversal", "Reversal"


class Channel(models.TextChoices):
    CARD = "card", "Card"
    EFT = "eft", "EFT"
    INTERNAL = "internal", "Internal"
    BANK_PAYOUT = "bank_payout", "Bank payout"


class JournalEntry(models.Model):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    entry_type = models.CharField(max_length=12, choices=EntryType.choices)
    channel = models.CharField(max_length=12, choices=Channel.choices, default=Channel.INTERNAL)
    amount = models.BigIntegerField(help_text="The amount moved, in minor units (> 0).")
    currency = models.CharField(max_length=3, validators=[currency_validator])
    reference = models.CharField(max_length=140, blank=True)
    # Card/EFT funding reference or payout bank account id: an opaque token, never card data.
    external_reference = models.CharField(max_length=64, blank=True)
    reverses = models.ForeignKey("self", on_delete=models.PROTECT, null=True, blank=True, related_name="reversals")
    # NULL, not "", means "no key": the partial unique index then ignores keyless entries.
    idempotency_key = models.CharField(max_length=100, null=True, blank=True)  # noqa: DJ001
    request_fingerprint = models.CharField(max_length=64, blank=True)
    request_id = models.CharField(max_length=128, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name_plural = "journal entries"
        constraints = [
            models.UniqueConstraint(
                fields=["created_by", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="ledger_entry_idempotency_key_unique",
            ),
            # An entry is reversed at most once (a second reversal would move the money twice).
            models.UniqueConstraint(
                fields=["reverses"], condition=Q(reverses__isnull=False), name="ledger_entry_reversed_once"
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="ledger_entry_amount_positive"),
        ]
        indexes = [models.Index(fields=["-created_at"], name="ledger_entry_created_idx")]

    def __str__(self) -> str:
        return f"{self.get_entry_type_display()} {self.public_id}"


class Posting(models.Model):
    entry = models.ForeignKey(JournalEntry, on_delete=models.PROTECT, related_name="postings")
    # Indexed together with created_at below (statements); no separate single-column index.
    account = models.ForeignKey(LedgerAccount, on_delete=models.PROTECT, related_name="postings", db_index=False)
    amount = models.BigIntegerField(help_text="Signed minor units: positive increases the balance.")
    currency = models.CharField(max_length=3, validators=[currency_validator])
    balance_after = models.BigIntegerField()
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        indexes = [models.Index(fields=["account", "-created_at"], name="ledger_posting_statement_idx")]
        constraints = [models.CheckConstraint(condition=~Q(amount=0), name="ledger_posting_amount_nonzero")]

    def __str__(self) -> str:
        return f"Posting {self.pk} ({self.amount} {self.currency})"


class KycStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    VERIFIED = "verified", "Verified"
    REJECTED = "rejected", "Rejected"


class KycRecord(models.Model):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="kyc_record")
    status = models.CharField(max_length=10, choices=KycStatus.choices, default=KycStatus.PENDING)
    tier = models.PositiveSmallIntegerField(default=0, help_text="0 until verified; limits per tier.")
    id_number = models.CharField(
        max_length=13
    )  # encrypted at rest + blind index once compliance field encryption lands (issue 4)
    date_of_birth = (
        models.DateField()
    )  # encrypted at rest + blind index once compliance field encryption lands (issue 4)
    document_reference = models.CharField(max_length=64)
    submitted_at = models.DateTimeField(default=timezone.now)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    reason = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "KYC record"
        indexes = [models.Index(fields=["status", "submitted_at"], name="ledger_kyc_queue_idx")]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="verified") | Q(tier__gte=1), name="ledger_kyc_verified_has_tier"
            ),
        ]

    def __str__(self) -> str:
        return f"KYC {self.public_id} ({self.status})"


class BankAccount(models.Model):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="bank_accounts")
    bank_name = models.CharField(max_length=80)
    branch_code = models.CharField(max_length=6)
    account_number = models.CharField(
        max_length=20
    )  # encrypted at rest + blind index once compliance field encryption lands (issue 4)
    verified = models.BooleanField(default=False)
    verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    verified_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    def __str__(self) -> str:
        return f"Bank account {self.public_id}"

    @property
    def masked_account_number(self) -> str:
        return f"****{self.account_number[-4:]}"


# --- Payment cards (issue 7, PCI DSS): their own module, imported so Django registers them ----
from ledger.models_cards import Card, CardBrand  # noqa: E402, F401

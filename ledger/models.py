"""Double-entry ledger: accounts, journal entries, postings; KYC records and payout bank accounts.

Invariants (enforced by ledger/services.py and, on PostgreSQL, by the database itself):
- Every JournalEntry has at least two Postings and its postings sum to zero per currency
  (deferred constraint triggers, checked at commit).
- JournalEntry and Posting rows are insert-only: UPDATE, DELETE and TRUNCATE of a non-empty table
  are rejected by triggers. Corrections are reversing entries (``JournalEntry.reverses``).
- ``LedgerAccount.balance`` equals the sum of the account's postings at every commit: it is
  changed only in the transaction that inserts the postings, under the account's row lock, and
  each posting stores the resulting ``balance_after`` (statements need no sums).
- Accounts that may not go negative (every customer wallet) are protected by a CHECK constraint,
  on the *available* balance (posted balance minus pending debits).
- Money crossing the platform boundary (deposits, withdrawals) is two-phase (ADR 0005): a pending
  entry's postings are flagged ``pending`` and change only the accounts' ``pending_debits`` /
  ``pending_credits``; it is resolved exactly once by a ``PendingResolution`` row (posted: a new
  entry with posted postings moves the balances; voided: nothing moves). ``balance`` = Σ posted
  postings; pending totals = Σ unresolved pending postings (``check_ledger`` proves both).
- Busy system accounts (settlement, fees, suspense) are split into shards (one row per
  kind/currency/shard); a system account's balance is the sum of its shards. See
  docs/adr/0003-ledger-concurrency-and-hot-accounts.md.

Amounts are signed integers in minor units: a positive posting increases the account's balance,
a negative one decreases it. Summed over every account in a currency, balances are always zero.

Personal information: every model here is in the PI inventory (``compliance.pi``). ID numbers,
dates of birth and bank account numbers are encrypted at rest; ID and account numbers are found
only through their blind indexes (``id_number_index__matches`` / ``account_number_index__matches``).
A customer's money history (balances, postings, entries) is FICA transaction evidence: a deletion
request keeps it, under a dated retention hold, until five years after the transaction.
"""

from __future__ import annotations

import datetime
import uuid
from functools import cache, partial
from typing import Any, cast

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django.utils.encoding import force_str
from django.utils.hashable import make_hashable

from compliance.crypto.fields import BlindIndexedModelMixin, BlindIndexField, EncryptedCharField, EncryptedDateField
from compliance.pi.masking import mask_value
from compliance.pi.registry import PI, pi_model
from compliance.pi.vocabulary import Category, Erasure, LawfulBasis

currency_validator = RegexValidator(r"^[A-Z]{3}$", "Use an ISO 4217 alphabetic code such as ZAR.")


class AccountKind(models.TextChoices):
    CUSTOMER_WALLET = "customer_wallet", "Customer wallet"
    SETTLEMENT = "settlement", "Settlement"
    FEES = "fees", "Fees"
    SUSPENSE = "suspense", "Suspense"
    # A liability: money of customers who asked to be deleted, kept until claimed (issue 16).
    UNCLAIMED = "unclaimed_funds", "Unclaimed funds"


SYSTEM_KINDS = (AccountKind.SETTLEMENT, AccountKind.FEES, AccountKind.SUSPENSE, AccountKind.UNCLAIMED)


# A customer's financial history: kept under FICA whatever a deletion request asks.
_FICA_TRANSACTIONS = partial(
    PI,
    category=Category.FINANCIAL,
    purposes=["payments", "legal_compliance"],
    lawful_basis=LawfulBasis.LEGAL_OBLIGATION,
    retention="fica_transactions",
    erasure=Erasure.RETAIN_UNDER_LEGAL_DUTY,
)
# Customer due diligence (FICA s21): kept five years after the relationship ends.
_FICA_CDD = partial(
    PI,
    category=Category.IDENTITY,
    purposes=["kyc", "legal_compliance"],
    lawful_basis=LawfulBasis.LEGAL_OBLIGATION,
    retention="fica_customer_due_diligence",
    erasure=Erasure.RETAIN_UNDER_LEGAL_DUTY,
)


@pi_model(
    subject="owner",
    description=(
        "A customer's wallet (system accounts have no owner and hold no PI). Its balance and daily "
        "outflow are the customer's financial position: FICA records, retained after a deletion request."
    ),
    fields={
        "balance": _FICA_TRANSACTIONS(description="Posted balance in minor units."),
        "daily_debit_day": _FICA_TRANSACTIONS(description="Day of the outflow counter (KYC limit)."),
        "daily_debit_total": _FICA_TRANSACTIONS(description="Today's outflow (KYC limit)."),
        "daily_credit_day": _FICA_TRANSACTIONS(description="Day of the inflow counter (KYC limit)."),
        "daily_credit_total": _FICA_TRANSACTIONS(description="Today's inflow (KYC limit)."),
        "pending_debits": _FICA_TRANSACTIONS(description="Money out awaiting settlement, minor units."),
        "pending_credits": _FICA_TRANSACTIONS(description="Money in awaiting settlement, minor units."),
    },
    not_pi=["public_id", "owner", "kind", "currency", "shard", "allow_negative", "created_at"],
)
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
    # System accounts are split into shards so no single row serialises every deposit (ADR 0003).
    shard = models.PositiveSmallIntegerField(default=0)
    allow_negative = models.BooleanField(default=False)
    balance = models.BigIntegerField(default=0, help_text="Posted balance in minor units.")
    # Outflow counter for the KYC daily limit: kept on the wallet row, which the transfer already
    # holds locked, so enforcing the limit costs no extra query and cannot race.
    daily_debit_day = models.DateField(null=True, blank=True)
    daily_debit_total = models.BigIntegerField(default=0)
    # Inflow counter: KYC tier limits apply to money in as well (counted when a deposit is claimed).
    # Database defaults: ledger_system_account() inserts rows without naming these columns.
    daily_credit_day = models.DateField(null=True, blank=True)
    daily_credit_total = models.BigIntegerField(default=0, db_default=0)
    # Two-phase movements (ADR 0005): Σ of the account's unresolved pending postings, by sign.
    pending_debits = models.BigIntegerField(default=0, db_default=0, help_text="Unsettled money out, minor units.")
    pending_credits = models.BigIntegerField(default=0, db_default=0, help_text="Unsettled money in, minor units.")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(allow_negative=True) | Q(balance__gte=0), name="ledger_account_not_negative"
            ),
            # A pending credit is never spendable and a pending debit is already spent.
            models.CheckConstraint(
                condition=Q(allow_negative=True) | Q(balance__gte=F("pending_debits")),
                name="ledger_account_available_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(pending_debits__gte=0) & Q(pending_credits__gte=0),
                name="ledger_account_pending_not_negative",
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
        """What may be spent: posted money minus money already promised out (pending withdrawals).

        Pending deposits are not included: a claim is not money until it settles.
        """
        return self.balance - self.pending_debits


class EntryType(models.TextChoices):
    DEPOSIT = "deposit", "Deposit"
    WITHDRAWAL = "withdrawal", "Withdrawal"
    TRANSFER = "transfer", "Transfer"
    REVERSAL = "reversal", "Reversal"


@cache
def _choices(model: type[models.Model], name: str) -> dict[Any, Any]:
    field = cast("models.Field[Any, Any]", model._meta.get_field(name))  # a concrete field with choices
    return dict(make_hashable(field.flatchoices))


def _choice_label(model: type[models.Model], name: str, value: Any) -> Any:
    """What ``get_<name>_display()`` shows for ``value``, without an instance."""
    return force_str(_choices(model, name).get(make_hashable(value), value), strings_only=True)


class Channel(models.TextChoices):
    CARD = "card", "Card"
    EFT = "eft", "EFT"
    INTERNAL = "internal", "Internal"
    BANK_PAYOUT = "bank_payout", "Bank payout"


@pi_model(
    subject="created_by",
    description=(
        "A money movement the customer (or staff) initiated. Amount and references describe the customer's "
        "transactions: FICA records, insert-only, retained after a deletion request. The counterparty's "
        "side is reached through their postings."
    ),
    fields={
        "amount": _FICA_TRANSACTIONS(description="Amount moved, minor units."),
        "reference": _FICA_TRANSACTIONS(description="The customer's own reference text."),
        "external_reference": _FICA_TRANSACTIONS(
            description="Funding reference or payout bank account id (never card data)."
        ),
    },
    not_pi=[
        "public_id",
        "entry_type",
        "channel",
        "currency",
        "reverses",
        "idempotency_key",  # a client-chosen retry key, not about the person
        "request_fingerprint",
        "request_id",
        "created_by",
        "created_at",
        "pending",
        "expires_at",
    ],
)
class JournalEntry(models.Model):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    entry_type = models.CharField(max_length=12, choices=EntryType.choices)
    channel = models.CharField(max_length=12, choices=Channel.choices, default=Channel.INTERNAL)
    amount = models.BigIntegerField(help_text="The amount moved, in minor units (> 0).")
    currency = models.CharField(max_length=3, validators=[currency_validator])
    reference = models.CharField(max_length=140, blank=True)
    # Card/EFT funding reference or payout bank account id: an opaque token, never card data.
    external_reference = models.CharField(max_length=64, blank=True)
    # No index of its own: ledger_entry_reversed_once (below) serves every lookup by reverses_id.
    reverses = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="reversals", db_index=False
    )
    # NULL, not "", means "no key": NULLs never conflict in the unique index below.
    idempotency_key = models.CharField(max_length=100, null=True, blank=True)  # noqa: DJ001
    request_fingerprint = models.CharField(max_length=64, blank=True)
    request_id = models.CharField(max_length=128, blank=True)
    # No index of its own: ledger_entry_idempotency_key_unique (below) leads with created_by.
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    # Two-phase (ADR 0005): a pending entry's postings are claims; its PendingResolution says
    # whether it was posted (by a new entry) or voided. Set at insert, never changed.
    pending = models.BooleanField(default=False, db_default=False)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="A pending deposit voids after this.")

    class Meta:
        verbose_name_plural = "journal entries"
        permissions = [("reverse_entry", "Can reverse a journal entry (operations)")]
        constraints = [
            models.UniqueConstraint(
                fields=["created_by", "idempotency_key"], name="ledger_entry_idempotency_key_unique"
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

    # The columns export_reference() is made of: a subject's export reads them with the postings
    # in one query (compliance.dsar.export) and names each entry through export_reference_of.
    export_reference_fields = ("public_id", "entry_type", "channel", "reference", "created_at")

    def export_reference(self) -> dict[str, object]:
        """How a subject's export names the entry behind one of their postings (an incoming transfer
        was created by someone else): its id, type, channel, reference and date, never its creator."""
        return self.export_reference_of(*(getattr(self, name) for name in self.export_reference_fields))

    @classmethod
    def export_reference_of(
        cls,
        public_id: uuid.UUID | str,
        entry_type: str,
        channel: str,
        reference: str,
        created_at: datetime.datetime | str,
    ) -> dict[str, object]:
        """export_reference() from the values of ``export_reference_fields``, without an instance. The
        export reads the id and the date as the text PostgreSQL renders for them (the same text
        ``str()`` and ``isoformat()`` give), so either form is taken."""
        return {
            "id": str(public_id),
            "type": _choice_label(cls, "entry_type", entry_type),
            "channel": _choice_label(cls, "channel", channel),
            "reference": reference,
            "created_at": created_at if isinstance(created_at, str) else created_at.isoformat(),
        }


@pi_model(
    subject="account__owner",
    description=(
        "One line of a customer's statement: the amount and resulting balance are the customer's financial "
        "history (FICA), insert-only and retained after a deletion request."
    ),
    fields={
        "amount": _FICA_TRANSACTIONS(description="Signed amount, minor units."),
        "balance_after": _FICA_TRANSACTIONS(description="The wallet balance after this posting."),
    },
    not_pi=["entry", "account", "currency", "created_at", "pending"],
)
class Posting(models.Model):
    entry = models.ForeignKey(JournalEntry, on_delete=models.PROTECT, related_name="postings")
    # Indexed together with created_at below (statements); no separate single-column index.
    account = models.ForeignKey(LedgerAccount, on_delete=models.PROTECT, related_name="postings", db_index=False)
    amount = models.BigIntegerField(help_text="Signed minor units: positive increases the balance.")
    currency = models.CharField(max_length=3, validators=[currency_validator])
    balance_after = models.BigIntegerField(help_text="The posted balance after this posting (unchanged if pending).")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    # A pending posting changes the account's pending totals, not its balance (ADR 0005). The
    # database default keeps ledger_move / ledger_transfer_batch (posted only) untouched.
    pending = models.BooleanField(default=False, db_default=False)

    class Meta:
        indexes = [models.Index(fields=["account", "-created_at"], name="ledger_posting_statement_idx")]
        constraints = [models.CheckConstraint(condition=~Q(amount=0), name="ledger_posting_amount_nonzero")]

    def __str__(self) -> str:
        return f"Posting {self.pk} ({self.amount} {self.currency})"


class KycStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    VERIFIED = "verified", "Verified"
    REJECTED = "rejected", "Rejected"


@pi_model(
    subject="user",
    description=(
        "Customer due diligence (FICA s21). The ID number and date of birth are encrypted; the ID number "
        "has a blind index for the KYC queue search and DSAR lookups. Everything is kept under FICA for five "
        "years after the relationship ends, then purged."
    ),
    fields={
        "id_number": _FICA_CDD(
            sensitive=True,
            description="South African ID number; encrypted, found by its blind index.",
        ),
        # Correctable within the ID number's rule (an SA ID number encodes the date of birth).
        "date_of_birth": _FICA_CDD(sensitive=True, correctable="date_of_birth"),
        "document_reference": _FICA_CDD(description="Reference of the document seen."),
        "reason": _FICA_CDD(description="Operations' reason for the decision."),
        "duplicate_cleared_reason": _FICA_CDD(description="Why a reviewer cleared a duplicate-identity flag."),
    },
    not_pi=[
        "public_id",
        "user",
        "status",
        "tier",
        "submitted_at",
        "decided_by",
        "decided_at",
        "duplicate_flagged_at",
        "duplicate_cleared_by",
        "duplicate_cleared_at",
        "approval_requested_by",
        "approval_requested_at",
        "requested_tier",
        "created_at",
        "updated_at",
    ],
)
class KycRecord(BlindIndexedModelMixin, models.Model):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="kyc_record")
    status = models.CharField(max_length=10, choices=KycStatus.choices, default=KycStatus.PENDING)
    tier = models.PositiveSmallIntegerField(default=0, help_text="0 until verified; limits per tier.")
    id_number = EncryptedCharField("ID number", max_length=13)
    id_number_index = BlindIndexField("ID number index", source_field="id_number", normaliser="id_number")
    date_of_birth = EncryptedDateField()
    document_reference = models.CharField(max_length=64)
    submitted_at = models.DateTimeField(default=timezone.now)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    reason = models.CharField(max_length=255, blank=True)
    # Duplicate identity (ledger/services.py kyc_submit): the ID number's blind index is already
    # verified on another account. Set by the submission, cleared only by a named reviewer; a
    # flagged submission cannot be verified until then.
    duplicate_flagged_at = models.DateTimeField(null=True, blank=True)
    duplicate_cleared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    duplicate_cleared_at = models.DateTimeField(null=True, blank=True)
    duplicate_cleared_reason = models.CharField(max_length=255, blank=True)
    # Four eyes at tier >= 2 (issue 15, ledger/services.py kyc_decide / kyc_approve): the first
    # operations user's decision is recorded here; a different one approves or rejects it.
    approval_requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    approval_requested_at = models.DateTimeField(null=True, blank=True)
    requested_tier = models.PositiveSmallIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "KYC record"
        permissions = [("decide_kyc", "Can verify or reject a KYC submission (operations)")]
        indexes = [models.Index(fields=["status", "submitted_at"], name="ledger_kyc_queue_idx")]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="verified") | Q(tier__gte=1), name="ledger_kyc_verified_has_tier"
            ),
        ]

    def __str__(self) -> str:
        return f"KYC {self.public_id} ({self.status})"

    @property
    def duplicate_blocks_approval(self) -> bool:
        return self.duplicate_flagged_at is not None and self.duplicate_cleared_at is None

    @property
    def awaiting_approval(self) -> bool:
        """A tier >= 2 verification asked for by one operations user, waiting for a second."""
        return self.status == KycStatus.PENDING and self.approval_requested_at is not None


@pi_model(
    subject="owner",
    description=(
        "A customer's payout account. The account number is encrypted, with a blind index that detects the "
        "same account registered twice. Payouts to it are FICA transaction records, so its details are kept "
        "after a deletion request for as long as those are."
    ),
    fields={
        "account_number": PI(
            Category.FINANCIAL,
            purposes=["payments", "legal_compliance"],
            lawful_basis=LawfulBasis.LEGAL_OBLIGATION,
            retention="fica_transactions",
            erasure=Erasure.RETAIN_UNDER_LEGAL_DUTY,
            sensitive=True,
            correctable="bank_account_number",
            description="Bank account number; encrypted, found by its blind index.",
        ),
        # A corrected account must be verified again by operations before it is paid out to.
        "bank_name": _FICA_TRANSACTIONS(correctable="bank_name"),
        "branch_code": _FICA_TRANSACTIONS(correctable="bank_branch_code"),
    },
    not_pi=["public_id", "owner", "verified", "verified_by", "verified_at", "created_at"],
)
class BankAccount(BlindIndexedModelMixin, models.Model):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="bank_accounts")
    bank_name = models.CharField(max_length=80)
    branch_code = models.CharField(max_length=6)
    account_number = EncryptedCharField(max_length=20)
    account_number_index = BlindIndexField(source_field="account_number", normaliser="digits")
    verified = models.BooleanField(default=False)
    verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    verified_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        permissions = [("verify_bankaccount", "Can verify a customer's payout bank account (operations)")]
        constraints = [
            # The same account twice for one customer is a mistake (or a replay): the blind index
            # detects it without decrypting anything.
            models.UniqueConstraint(
                fields=["owner", "account_number_index"], name="ledger_bank_account_unique_per_owner"
            ),
        ]

    def __str__(self) -> str:
        return f"Bank account {self.public_id}"

    @property
    def masked_account_number(self) -> str:
        return mask_value(self.account_number, Category.FINANCIAL)


# --- Payment cards (issue 7, PCI DSS): their own module, imported so Django registers them ----
from ledger.cards.models import Card, CardBrand  # noqa: E402, F401

# --- Two-phase settlement (issue 15, ADR 0005) ---------------------------------------------------
# What a deposit or withdrawal answers: pending until settled, then posted or voided.
MOVEMENT_STATUSES = ["pending", "posted", "voided"]
# Two-phase settlement of money crossing the platform boundary (issue 15, ADR 0005).
#
# - ``PendingResolution``: how a pending journal entry ended, exactly once (unique on the pending
#   entry): *posted* (``posted_entry`` is the new entry whose posted postings moved the balances)
#   or *voided* (nothing moved; the pending totals were released). Insert-only, like the journal.
# - ``StatementMatch``: the first half of an operations confirmation: one operations user records
#   the bank statement line that shows the money; a *second* one confirms it (ledger/settlement/services.py).
# - ``WebhookEvent``: every verified provider notification, unique on (provider, event id): a
#   replayed delivery cannot settle anything twice. Insert-only.


_FICA = partial(
    PI,
    category=Category.FINANCIAL,
    purposes=["payments", "legal_compliance"],
    lawful_basis=LawfulBasis.LEGAL_OBLIGATION,
    retention="fica_transactions",
    erasure=Erasure.RETAIN_UNDER_LEGAL_DUTY,
)


class ResolutionOutcome(models.TextChoices):
    POSTED = "posted", "Posted"
    VOIDED = "voided", "Voided"


class ResolutionSource(models.TextChoices):
    CARD_PROCESSOR = "card_processor", "Card processor notification"
    BANK = "bank", "Bank notification"
    OPERATIONS = "operations", "Operations (second person, statement line)"
    EXPIRY = "expiry", "Expired unsettled"
    DECLINED = "declined", "Declined by the processor"


@pi_model(
    subject="pending_entry__created_by",
    description=(
        "How a customer's pending deposit or withdrawal ended (posted or voided) and on what evidence: "
        "FICA transaction records, insert-only, retained after a deletion request."
    ),
    fields={"evidence": _FICA(description="Provider event id or bank statement line reference.")},
    not_pi=[
        "pending_entry",
        "posted_entry",
        "outcome",
        "source",
        "recorded_by",
        "decided_by",
        "created_at",
    ],
)
class PendingResolution(models.Model):
    pending_entry = models.OneToOneField(
        "ledger.JournalEntry", on_delete=models.PROTECT, related_name="resolution", help_text="Resolved once."
    )
    outcome = models.CharField(max_length=8, choices=ResolutionOutcome.choices)
    posted_entry = models.OneToOneField(
        "ledger.JournalEntry", on_delete=models.PROTECT, null=True, blank=True, related_name="settles"
    )
    source = models.CharField(max_length=16, choices=ResolutionSource.choices)
    evidence = models.CharField(max_length=128, blank=True)
    # Operations confirmations: who recorded the statement line and who (a second person) confirmed.
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        permissions = [
            ("confirm_settlement", "Can record and confirm the bank settlement of a pending movement (operations)")
        ]
        constraints = [
            models.CheckConstraint(
                condition=(Q(outcome="posted") & Q(posted_entry__isnull=False))
                | (Q(outcome="voided") & Q(posted_entry__isnull=True)),
                name="ledger_resolution_posted_has_entry",
            ),
            models.CheckConstraint(
                condition=Q(decided_by__isnull=True)
                | Q(recorded_by__isnull=True)
                | ~Q(decided_by=models.F("recorded_by")),
                name="ledger_resolution_four_eyes",
            ),
        ]

    def __str__(self) -> str:
        return f"Resolution {self.pk} ({self.outcome})"


@pi_model(
    subject="pending_entry__created_by",
    description="The bank statement line operations matched to a customer's pending movement (FICA evidence).",
    fields={"statement_line": _FICA(description="Bank statement line reference.")},
    not_pi=["pending_entry", "recorded_by", "created_at"],
)
class StatementMatch(models.Model):
    pending_entry = models.OneToOneField("ledger.JournalEntry", on_delete=models.PROTECT, related_name="match")
    statement_line = models.CharField(max_length=64)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    def __str__(self) -> str:
        return f"Statement match {self.pk}"


class WebhookEvent(models.Model):
    """A verified provider notification (its id and type; the body is not kept: nothing of a person)."""

    provider = models.CharField(max_length=16)
    event_id = models.CharField(max_length=128)
    event_type = models.CharField(max_length=32)
    pending_entry = models.ForeignKey(
        "ledger.JournalEntry", on_delete=models.PROTECT, null=True, blank=True, related_name="+", db_index=False
    )
    received_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["provider", "event_id"], name="ledger_webhook_event_once"),
        ]

    def __str__(self) -> str:
        return f"{self.provider} event {self.event_id}"


class ReversalRequest(models.Model):
    """Four eyes on a large reversal (issue 15, PCI DSS 6.5.4): one operations user asks, a different
    one approves; the approval carries the reversal out. Both steps are audited."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    entry = models.ForeignKey("ledger.JournalEntry", on_delete=models.PROTECT, related_name="+")
    reason = models.CharField(max_length=255)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(default=timezone.now, editable=False)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    reversal = models.OneToOneField(
        "ledger.JournalEntry", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        constraints = [
            # One open request per entry (an approved one has done its work: the entry is reversed).
            models.UniqueConstraint(
                fields=["entry"], condition=models.Q(approved_at__isnull=True), name="ledger_reversal_request_open_once"
            ),
        ]

    def __str__(self) -> str:
        return f"Reversal request {self.public_id}"

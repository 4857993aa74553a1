"""Payment cards (PCI DSS): the PAN only encrypted, never the CVV.

Invariants:
- ``pan`` is an AES-256-GCM ``EncryptedCharField``; the only other forms of the number kept are
  ``pan_index`` (keyed HMAC, for duplicate detection; useless without the blind-index key) and the
  truncation PCI DSS allows for display, ``first6`` + ``last4``.
- The CVV/CVC has no column anywhere: it is checked once while the card is added
  (ledger/cards/services.py) and dropped. PCI DSS 3.3.1.2 forbids storing it after authorisation, even
  encrypted.
- Removing a card erases the PAN and the holder's name at once (NULL, so the blind index goes
  too; a DSAR erasure does the same to every card of the subject); the truncated number, brand
  and expiry stay because journal entries funded by the card name it (FICA transaction records).
- A customer has at most one active card per PAN (unique on owner + blind index).
- Reading the full PAN happens only in ``ledger.cards.card_reveal_pan``, which writes a
  CARD_DATA_ACCESS audit record first.
"""

from __future__ import annotations

import uuid
from functools import partial

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from compliance.crypto.fields import BlindIndexedModelMixin, BlindIndexField, EncryptedCharField
from compliance.pi.masking import mask_pan
from compliance.pi.registry import PI, pi_model
from compliance.pi.vocabulary import Category, Erasure, LawfulBasis

_CARD_USE = partial(PI, purposes=["payments", "fraud_prevention"], lawful_basis=LawfulBasis.CONTRACT)


class CardBrand(models.TextChoices):
    VISA = "visa", "Visa"
    MASTERCARD = "mastercard", "Mastercard"
    AMEX = "amex", "American Express"
    DISCOVER = "discover", "Discover"
    DINERS = "diners", "Diners Club"
    JCB = "jcb", "JCB"
    UNIONPAY = "unionpay", "UnionPay"


@pi_model(
    subject="owner",
    description="Payment cards a customer registered for deposits. The CVV is never stored.",
    fields={
        "owner": _CARD_USE(
            Category.IDENTITY,
            retention="fica_transactions",
            export=False,
            erasure=Erasure.RETAIN_UNDER_LEGAL_DUTY,
            description="Links the card to its holder; kept while transactions funded by it are.",
        ),
        "pan": _CARD_USE(
            Category.CARD,
            retention="account_active_plus_1y",
            export=False,
            erasure=Erasure.NULL,
            sensitive=True,
            description=(
                "Full card number, encrypted. Erased as soon as the card is removed; a DSAR export "
                "shows the masked number only (PCI DSS 3.4: never display the full PAN)."
            ),
        ),
        "holder": _CARD_USE(
            Category.IDENTITY,
            retention="account_active_plus_1y",
            erasure=Erasure.NULL,
            sensitive=True,
            description="Name on the card, encrypted; erased with the PAN when the card is removed.",
        ),
        "first6": _CARD_USE(
            Category.CARD,
            retention="fica_transactions",
            erasure=Erasure.RETAIN_UNDER_LEGAL_DUTY,
            sensitive=False,
            description="Issuer identification number: the truncation PCI DSS 3.4.1 permits in clear.",
        ),
        "last4": _CARD_USE(
            Category.CARD,
            retention="fica_transactions",
            erasure=Erasure.RETAIN_UNDER_LEGAL_DUTY,
            sensitive=False,
            description="Last four digits, kept in clear for display (PCI DSS 3.4.1).",
        ),
        "expiry_month": _CARD_USE(
            Category.CARD,
            retention="fica_transactions",
            erasure=Erasure.RETAIN_UNDER_LEGAL_DUTY,
            sensitive=False,
        ),
        "expiry_year": _CARD_USE(
            Category.CARD,
            retention="fica_transactions",
            erasure=Erasure.RETAIN_UNDER_LEGAL_DUTY,
            sensitive=False,
        ),
    },
    not_pi=["public_id", "brand", "pan_length", "active", "verified_at", "created_at", "deactivated_at"],
)
class Card(BlindIndexedModelMixin, models.Model):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="cards")
    pan = EncryptedCharField(max_length=19, null=True, blank=True)
    # unique=False: uniqueness is per owner and active card (constraint below).
    pan_index = BlindIndexField(source_field="pan", normaliser="digits")
    brand = models.CharField(max_length=12, choices=CardBrand.choices)
    first6 = models.CharField(max_length=6)
    last4 = models.CharField(max_length=4)
    pan_length = models.PositiveSmallIntegerField(help_text="13 to 19 digits.")
    expiry_month = models.PositiveSmallIntegerField()
    expiry_year = models.PositiveSmallIntegerField(help_text="Four digits.")
    holder = EncryptedCharField(max_length=26, null=True, blank=True)
    active = models.BooleanField(default=True)
    verified_at = models.DateTimeField(help_text="When the one-time security-code check passed.")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    deactivated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        permissions = [("reveal_card_pan", "Can reveal a card's full number (audited)")]
        indexes = [models.Index(fields=["owner", "created_at"], name="ledger_card_owner_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "pan_index"], condition=Q(active=True), name="ledger_card_one_active_per_pan"
            ),
            models.CheckConstraint(
                condition=Q(expiry_month__gte=1) & Q(expiry_month__lte=12), name="ledger_card_expiry_month_valid"
            ),
            # A removed card has no PAN. (An active one may have lost it too: a DSAR erasure clears
            # the PAN of every card the subject holds; such a card can no longer be used.)
            models.CheckConstraint(
                condition=Q(active=True) | Q(pan__isnull=True), name="ledger_card_pan_only_while_active"
            ),
        ]

    def __str__(self) -> str:
        return f"Card {self.public_id} ({self.masked_pan})"

    @property
    def masked_pan(self) -> str:
        return mask_pan(self.last4, first6=self.first6, length=self.pan_length)

    @property
    def pan_last4(self) -> str:
        """The staff screens' form: the last four digits only (least privilege)."""
        return mask_pan(self.last4)

    @property
    def expiry(self) -> str:
        return f"{self.expiry_month:02d}/{self.expiry_year % 100:02d}"

"""The loyalty programme's one model, declared in the PI inventory beside its fields (guide steps 1-2)."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from compliance.crypto.fields import BlindIndexedModelMixin, BlindIndexField, EncryptedCharField
from compliance.pi.registry import PI, pi_model
from compliance.pi.vocabulary import Category, Erasure, LawfulBasis

NICKNAME_MAX_LENGTH = 30


@pi_model(
    subject="user",
    description="Your membership of the loyalty programme: the nickname shown on offers, the phone "
    "number offers are sent to and your points.",
    fields={
        "nickname": PI(
            Category.IDENTITY,
            purposes=["account_management", "direct_marketing"],
            lawful_basis=LawfulBasis.CONSENT,
            retention="account_active_plus_1y",
            erasure=Erasure.PSEUDONYMISE,
            correctable="loyalty_nickname",  # guide step 7: the name a correction request uses
        ),
        "phone": PI(
            Category.CONTACT,
            purposes=["direct_marketing"],
            lawful_basis=LawfulBasis.CONSENT,
            retention="account_active_plus_1y",
            erasure=Erasure.NULL,
            sensitive=True,
        ),
        "points_balance": PI(
            Category.FINANCIAL,
            purposes=["account_management"],
            lawful_basis=LawfulBasis.CONTRACT,
            retention="account_active_plus_1y",
            erasure=Erasure.NULL,
        ),
    },
    not_pi=["public_id", "user", "joined_at", "closed_at"],
)
class LoyaltyMember(BlindIndexedModelMixin, models.Model):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="loyalty_member")
    nickname = models.CharField(max_length=NICKNAME_MAX_LENGTH, blank=True)
    phone = EncryptedCharField(max_length=20, blank=True)
    # Looked up exactly ("which member is +27 82 ...?"), never searched in clear.
    phone_index = BlindIndexField(source_field="phone", normaliser="phone")
    points_balance = models.PositiveIntegerField(default=0)
    joined_at = models.DateTimeField(default=timezone.now)
    closed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"Loyalty member {self.public_id}"

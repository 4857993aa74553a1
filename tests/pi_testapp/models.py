"""Throwaway models annotated exactly as a product model would be."""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone

from compliance.crypto.fields import (
    BlindIndexedModelMixin,
    BlindIndexField,
    EncryptedCharField,
    EncryptedDateField,
    EncryptedEmailField,
    EncryptedTextField,
)
from compliance.pi.registry import PI, pi_model
from compliance.pi.vocabulary import Category, Erasure, LawfulBasis

KYC = {"purposes": ["kyc", "account_management"], "lawful_basis": LawfulBasis.LEGAL_OBLIGATION}


@pi_model(
    subject="self",
    description="A data subject with every kind of sensitive field.",
    fields={
        "email": PI(
            Category.CONTACT,
            purposes=["account_management", "security"],
            lawful_basis=LawfulBasis.CONTRACT,
            retention="account_active_plus_1y",
            erasure=Erasure.PSEUDONYMISE,
            sensitive=True,
        ),
        "id_number": PI(
            Category.IDENTITY,
            **KYC,
            retention="fica_customer_due_diligence",
            erasure=Erasure.RETAIN_UNDER_LEGAL_DUTY,
            sensitive=True,
        ),
        "phone": PI(
            Category.CONTACT,
            purposes=["account_management"],
            lawful_basis=LawfulBasis.CONTRACT,
            retention="account_active_plus_1y",
            sensitive=True,
        ),
        "date_of_birth": PI(
            Category.IDENTITY, **KYC, retention="fica_customer_due_diligence", erasure=Erasure.RETAIN_UNDER_LEGAL_DUTY
        ),
        "address": PI(Category.CONTACT, **KYC, retention="fica_customer_due_diligence", sensitive=True),
        "bank_account": PI(
            Category.FINANCIAL,
            purposes=["payments"],
            lawful_basis=LawfulBasis.CONTRACT,
            retention="fica_transactions",
            sensitive=True,
        ),
        "nickname": PI(
            Category.IDENTITY,
            purposes=["account_management"],
            lawful_basis=LawfulBasis.CONSENT,
            retention="account_active_plus_1y",
            export=True,
            erasure=Erasure.NULL,
        ),
    },
    not_pi=["public_id", "status", "created_at", "updated_at"],
)
class Subject(BlindIndexedModelMixin, models.Model):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    email = EncryptedEmailField()
    email_index = BlindIndexField(source_field="email", normaliser="email", unique=True)
    id_number = EncryptedCharField(max_length=13, blank=True)
    id_number_index = BlindIndexField(source_field="id_number", normaliser="id_number")
    phone = EncryptedCharField(max_length=20, blank=True)
    phone_index = BlindIndexField(source_field="phone", normaliser="phone")
    date_of_birth = EncryptedDateField(null=True, blank=True)
    address = EncryptedTextField(blank=True)
    bank_account = EncryptedCharField(max_length=34, blank=True, null=True)
    nickname = models.CharField(max_length=50, blank=True)
    status = models.CharField(max_length=20, default="active")
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Subject {self.public_id}"


@pi_model(
    subject="subject",
    fields={
        "subject": PI(
            Category.IDENTITY,
            purposes=["account_management"],
            lawful_basis=LawfulBasis.CONTRACT,
            retention="account_active_plus_1y",
            export=False,
            erasure=Erasure.DELETE,
        ),
        "note": PI(
            Category.SPECIAL,
            purposes=["fraud_prevention"],
            lawful_basis=LawfulBasis.LEGAL_OBLIGATION,
            retention="fica_customer_due_diligence",
            erasure=Erasure.RETAIN_UNDER_LEGAL_DUTY,
        ),
    },
    not_pi=["created_at"],
)
class CaseNote(models.Model):
    """A related record: sensitive by category (special), so encrypted."""

    subject = models.ForeignKey(Subject, on_delete=models.CASCADE, related_name="notes")
    note = EncryptedTextField()
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"CaseNote {self.pk}"

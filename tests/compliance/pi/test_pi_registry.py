"""The annotation API other parts call: pi_field_names, annotation_for, exportable_fields, registry."""

from __future__ import annotations

import pytest

from compliance.pi.registry import PI, annotation_for, exportable_fields, pi_field_names, registry
from compliance.pi.vocabulary import PURPOSES, RETENTION_POLICIES, Category, Erasure, LawfulBasis
from tests.pi_testapp.models import CaseNote, Subject


def test_pi_field_names_lists_annotated_fields_and_their_blind_indexes():
    assert pi_field_names(Subject) == frozenset(
        {
            "email",
            "email_index",
            "id_number",
            "id_number_index",
            "phone",
            "phone_index",
            "date_of_birth",
            "address",
            "bank_account",
            "nickname",
        }
    )
    assert pi_field_names("pi_testapp.CaseNote") == frozenset({"subject", "note"})
    assert pi_field_names("auth.Group") == frozenset()


def test_annotation_for_returns_the_declaration_or_none():
    annotation = annotation_for(Subject, "id_number")
    assert annotation == PI(
        Category.IDENTITY,
        purposes=("kyc", "account_management"),
        lawful_basis=LawfulBasis.LEGAL_OBLIGATION,
        retention="fica_customer_due_diligence",
        erasure=Erasure.RETAIN_UNDER_LEGAL_DUTY,
        sensitive=True,
    )
    assert annotation_for(Subject, "status") is None  # declared not PI
    assert annotation_for("auth.Group", "name") is None  # model holds no PI


def test_blind_indexes_inherit_their_source_annotation_but_are_never_exported():
    index = annotation_for(Subject, "phone_index")
    source = annotation_for(Subject, "phone")
    assert (index.category, index.purposes, index.retention, index.erasure) == (
        source.category,
        source.purposes,
        source.retention,
        source.erasure,
    )
    assert index.derived_from == "phone" and index.export is False and index.sensitive is False


def test_exportable_fields_in_model_order():
    assert exportable_fields(Subject) == (
        "email",
        "id_number",
        "phone",
        "date_of_birth",
        "address",
        "bank_account",
        "nickname",
    )
    assert exportable_fields(CaseNote) == ("note",)
    assert exportable_fields("auth.Group") == ()


def test_registry_iterates_registered_models_in_label_order():
    labels = [entry.label for entry in registry]
    assert labels == sorted(labels, key=str.lower)
    assert {"pi_testapp.Subject", "pi_testapp.CaseNote"} <= set(labels)
    entry = registry.get(Subject)
    assert entry.model is Subject and entry.subject == "self"
    assert entry.not_pi == frozenset({"public_id", "status", "created_at", "updated_at"})


def test_sensitivity_defaults_by_category_and_values_are_validated():
    special = PI("special", purposes=["fraud_prevention"], lawful_basis="legal_obligation", retention="audit_trail")
    assert special.sensitive is True and special.category is Category.SPECIAL
    contact = PI(Category.CONTACT, purposes=["security"], lawful_basis="contract", retention="session")
    assert contact.sensitive is False and contact.erasure is Erasure.NULL
    with pytest.raises(ValueError, match="'gossip' is not a valid Category"):
        PI("gossip", purposes=["security"], lawful_basis="contract", retention="session")
    with pytest.raises(ValueError, match="not a valid LawfulBasis"):
        PI(Category.CONTACT, purposes=["security"], lawful_basis="because", retention="session")


def test_every_retention_policy_and_purpose_is_explained():
    for code, policy in RETENTION_POLICIES.items():
        assert policy.code == code and policy.reason and policy.describe_period()
    assert RETENTION_POLICIES["fica_customer_due_diligence"].describe_period() == (
        "5 years after the business relationship ends"
    )
    assert RETENTION_POLICIES["dsar_export_7d"].describe_period() == "7 days after the export is produced"
    consent_based = {code for code, p in PURPOSES.items() if p.consent_required}
    assert consent_based == {"direct_marketing", "analytics", "third_party_marketing_sharing"}
    for code, purpose in PURPOSES.items():
        assert purpose.code == code and purpose.name and purpose.description and purpose.notice
        assert purpose.consent_required == (purpose.lawful_basis == LawfulBasis.CONSENT)
        assert purpose.data_categories and purpose.when_restricted

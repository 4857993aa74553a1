"""The system checks refuse unannotated PI, unknown purposes/policies and unencrypted sensitive data."""

from __future__ import annotations

import pytest
from django.core import checks
from django.db import models
from django.test.utils import isolate_apps

from compliance.crypto.fields import BlindIndexedModelMixin, BlindIndexField, EncryptedCharField
from compliance.pi.registry import PI, register_pi_model, registry
from compliance.pi.vocabulary import Category, LawfulBasis

PHONE = PI(Category.CONTACT, purposes=["account_management"], lawful_basis=LawfulBasis.CONTRACT, retention="session")


@pytest.fixture
def registered():
    """Register throwaway models for the duration of a test only."""
    labels = []

    def register(model, **kwargs):
        labels.append(model._meta.label)
        register_pi_model(model, **kwargs)

    yield register
    for label in labels:
        registry.unregister(label)


def compliance_errors() -> list[checks.CheckMessage]:
    return [m for m in checks.run_checks() if m.id.startswith("compliance.")]


def test_the_real_and_test_models_pass_the_checks():
    assert compliance_errors() == []


@isolate_apps("tests.pi_testapp")
def test_an_unannotated_field_fails_the_check(registered):
    class Throwaway(models.Model):  # noqa: DJ008 - throwaway model
        phone = EncryptedCharField(max_length=20)
        favourite_colour = models.CharField(max_length=20)

        class Meta:
            app_label = "pi_testapp"

    registered(Throwaway, fields={"phone": PHONE})
    errors = compliance_errors()
    assert [(e.id, e.msg.split(":")[0]) for e in errors] == [
        ("compliance.E101", "pi_testapp.Throwaway.favourite_colour is not annotated")
    ]
    assert errors[0].level == checks.ERROR
    assert errors[0].obj is Throwaway


@isolate_apps("tests.pi_testapp")
def test_unknown_purpose_policy_and_field_names_fail_the_check(registered):
    class Throwaway(models.Model):  # noqa: DJ008 - throwaway model
        phone = EncryptedCharField(max_length=20)
        nickname = models.CharField(max_length=20)

        class Meta:
            app_label = "pi_testapp"

    registered(
        Throwaway,
        fields={
            "phone": PI(Category.CONTACT, purposes=["profiling"], lawful_basis="consent", retention="forever"),
            "nickname": PI(Category.IDENTITY, purposes=[], lawful_basis="consent", retention="session"),
            "shoe_size": PHONE,
        },
        not_pi=["nickname"],
    )
    found = sorted((e.id, e.msg) for e in compliance_errors())
    assert found == [
        ("compliance.E102", "pi_testapp.Throwaway.phone names the unknown purpose 'profiling'."),
        ("compliance.E103", "pi_testapp.Throwaway.phone names the unknown retention policy 'forever'."),
        ("compliance.E104", "pi_testapp.Throwaway declares 'shoe_size', which is not a field."),
        ("compliance.E106", "pi_testapp.Throwaway.nickname is both annotated as PI and listed in not_pi."),
        ("compliance.E108", "pi_testapp.Throwaway.nickname names no processing purpose."),
    ]


@isolate_apps("tests.pi_testapp")
def test_sensitive_data_in_clear_and_unregistered_encrypted_models_fail(registered):
    class InClear(models.Model):  # noqa: DJ008 - throwaway model
        card_number = models.CharField(max_length=19)

        class Meta:
            app_label = "pi_testapp"

    class Unregistered(models.Model):  # noqa: DJ008 - throwaway model
        id_number = EncryptedCharField(max_length=13)

        class Meta:
            app_label = "pi_testapp"

    registered(
        InClear,
        fields={"card_number": PI(Category.CARD, purposes=["payments"], lawful_basis="contract", retention="session")},
    )
    from compliance.pi.checks import check_unregistered_encrypted_models

    assert [e.id for e in compliance_errors()] == ["compliance.E105"]
    assert [(e.id, e.obj) for e in check_unregistered_encrypted_models([InClear, Unregistered])] == [
        ("compliance.E107", Unregistered)
    ]


@isolate_apps("tests.pi_testapp")
def test_field_level_checks_for_encrypted_and_blind_index_fields():
    class Broken(models.Model):  # noqa: DJ008 - throwaway model
        phone = EncryptedCharField(max_length=20, unique=True)
        phone_index = BlindIndexField(source_field="phone", normaliser="phone")
        email_index = BlindIndexField(source_field="email", normaliser="email")

        class Meta:
            app_label = "pi_testapp"

    class Fine(BlindIndexedModelMixin, models.Model):  # noqa: DJ008 - throwaway model
        phone = EncryptedCharField(max_length=20)
        phone_index = BlindIndexField(source_field="phone", normaliser="phone")

        class Meta:
            app_label = "pi_testapp"

    assert sorted(e.id for e in Broken.check()) == [
        "compliance.E120",
        "compliance.E121",
        "compliance.E122",
        "compliance.E122",
    ]
    assert Fine.check() == []
    with pytest.raises(ValueError, match="Unknown blind-index normaliser"):
        BlindIndexField(source_field="phone", normaliser="soundex")

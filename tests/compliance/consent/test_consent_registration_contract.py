"""The interface registration (accounts) uses: ConsentChoiceSerializer(many=True) embedded in its
serializer, and consent_record_choices(...) in the transaction that creates the user."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import transaction
from rest_framework import serializers

from compliance.consent.models import ConsentEvent
from compliance.consent.selectors import may_process
from compliance.consent.services import ConsentError, consent_record_choices
from compliance.consent.views import ConsentChoiceSerializer
from tests.compliance.consent.consent_helpers import PASSWORD, current_version, seed_purposes

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _purposes(db):
    seed_purposes()


class RegistrationLikeSerializer(serializers.Serializer):
    email = serializers.EmailField()
    consents = ConsentChoiceSerializer(many=True, required=False, default=list)


def register(payload: dict):
    """What the registration view does, in the shape the lead wires into accounts."""
    serializer = RegistrationLikeSerializer(data=payload)
    serializer.is_valid(raise_exception=True)
    # A refusal is a ConsentError (a DomainError the API's one handler renders): the whole
    # transaction, the new user included, rolls back.
    with transaction.atomic():
        user = get_user_model().objects.create_user(email=serializer.validated_data["email"], password=PASSWORD)
        consent_record_choices(subject=user, choices=serializer.validated_data["consents"], channel="api", request=None)
    return user


def test_registration_without_choices_grants_nothing():
    user = register({"email": "new1@example.test"})
    assert not ConsentEvent.objects.filter(subject=user).exists()
    for purpose in ("direct_marketing", "analytics", "third_party_marketing_sharing"):
        assert may_process(user, purpose) is False
    assert may_process(user, "account_management") is True


def test_registration_records_the_explicit_choices():
    user = register(
        {
            "email": "new2@example.test",
            "consents": [
                {"purpose": "direct_marketing", "granted": True, "notice_version": current_version("direct_marketing")},
                {"purpose": "analytics", "granted": False, "notice_version": current_version("analytics")},
            ],
        }
    )
    assert sorted(ConsentEvent.objects.filter(subject=user).values_list("purpose__code", "granted", "channel")) == [
        ("analytics", False, "api"),
        ("direct_marketing", True, "api"),
    ]
    assert may_process(user, "direct_marketing") is True
    assert may_process(user, "analytics") is False


@pytest.mark.parametrize("granted", ["true", "on", 1, None])
def test_the_serializer_accepts_only_json_booleans(granted):
    serializer = RegistrationLikeSerializer(
        data={
            "email": "new3@example.test",
            "consents": [{"purpose": "direct_marketing", "granted": granted, "notice_version": 1}],
        }
    )
    assert not serializer.is_valid()
    assert "granted" in serializer.errors["consents"][0]


def test_a_stale_notice_at_registration_rolls_back_the_whole_registration():
    with pytest.raises(ConsentError) as caught:
        register(
            {
                "email": "new4@example.test",
                "consents": [
                    {"purpose": "direct_marketing", "granted": True, "notice_version": 99},
                ],
            }
        )
    assert (caught.value.status_code, caught.value.code) == (409, "stale_notice_version")
    assert not get_user_model().objects.filter_by_email("new4@example.test").exists()
    assert not ConsentEvent.objects.filter(subject__email_index__matches="new4@example.test").exists()

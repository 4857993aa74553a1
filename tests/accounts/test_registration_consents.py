"""Registration records the consent choices the customer made, in the transaction that creates
the account (issue 6): nothing pre-ticked, a stale notice refuses the whole registration."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from accounts.models import User
from compliance.audit.models import AuditEvent
from compliance.consent.models import ConsentEvent
from compliance.consent.selectors import may_process
from tests.accounts.helpers import assert_error
from tests.compliance.consent.consent_helpers import current_version, seed_purposes
from tests.personas import PASSWORD

REGISTER = "/api/v1/auth/register/"
EMAIL = "consenting.customer@example.test"

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _purposes(db):
    seed_purposes()


def register(consents=None, **extra):
    body = {"email": EMAIL, "password": PASSWORD, **extra}
    if consents is not None:
        body["consents"] = consents
    return APIClient(REMOTE_ADDR="198.51.100.23").post(REGISTER, body, format="json")


def choice(purpose: str, granted: bool, version: int | None = None) -> dict:
    return {"purpose": purpose, "granted": granted, "notice_version": version or current_version(purpose)}


def nothing_created() -> None:
    assert not User.objects.filter_by_email(EMAIL).exists()
    assert ConsentEvent.objects.count() == 0
    assert not AuditEvent.objects.filter(action="REGISTER").exists()


def test_without_consents_nothing_is_granted():
    response = register()
    assert response.status_code == 201
    user = User.objects.get_by_email(EMAIL)
    assert not ConsentEvent.objects.filter(subject=user).exists()
    assert may_process(user, "direct_marketing") is False
    assert may_process(user, "account_management") is True


def test_the_choices_made_are_recorded_with_their_evidence():
    response = register([choice("direct_marketing", True), choice("analytics", False)])
    assert response.status_code == 201, response.content
    user = User.objects.get_by_email(EMAIL)
    events = ConsentEvent.objects.filter(subject=user).order_by("purpose__code")
    assert [(e.purpose.code, e.granted, e.channel, e.recorded_by_id, e.source_ip) for e in events] == [
        ("analytics", False, "api", user.pk, "198.51.100.23"),
        ("direct_marketing", True, "api", user.pk, "198.51.100.23"),
    ]
    assert may_process(user, "direct_marketing") is True
    assert may_process(user, "analytics") is False
    assert sorted(AuditEvent.objects.values_list("action", flat=True)) == [
        "CONSENT_GRANTED",
        "CONSENT_WITHDRAWN",
        "REGISTER",
    ]


def test_a_stale_notice_version_refuses_the_registration_and_creates_no_user():
    response = register([choice("direct_marketing", True, version=current_version("direct_marketing") + 7)])
    error = assert_error(response, 409, "stale_notice_version")
    assert EMAIL not in response.content.decode()
    assert error["message"]
    nothing_created()


def test_an_unknown_purpose_refuses_the_registration():
    assert_error(
        register([{"purpose": "selling_your_data", "granted": True, "notice_version": 1}]), 400, "unknown_purpose"
    )
    nothing_created()


@pytest.mark.parametrize("granted", ["true", "on", 1, None])
def test_only_a_json_boolean_is_a_choice(granted):
    error = assert_error(
        register([{"purpose": "direct_marketing", "granted": granted, "notice_version": 1}]), 400, "validation_error"
    )
    assert [name.split(".")[0] for name in error["fields"]] == ["consents"]
    nothing_created()


def test_the_same_purpose_twice_is_refused():
    response = register([choice("direct_marketing", True), choice("direct_marketing", False)])
    assert_error(response, 400, "duplicate_purpose")
    nothing_created()

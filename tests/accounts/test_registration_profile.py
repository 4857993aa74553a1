"""Registration input validation and the caller's own profile (no mass assignment)."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.db import connection
from rest_framework.test import APIClient

from accounts.models import User
from tests.accounts.helpers import assert_error, audit_actions, audit_events, audit_mark_now
from tests.personas import PASSWORD, make_api_client

REGISTER = "/api/v1/auth/register/"
ME = "/api/v1/me/"


def register(**body):
    return APIClient().post(REGISTER, {"email": "new.customer@example.test", "password": PASSWORD, **body})


@pytest.mark.django_db
def test_registration_creates_a_customer_and_nothing_more(caplog):
    response = register(first_name="Lerato", is_staff=True, is_superuser=True, groups=["admin"], auth_epoch=9)
    assert response.status_code == 201
    body = response.json()
    assert body["email"] == "new.customer@example.test"
    assert body["roles"] == ["customer"]
    assert "password" not in body
    user = User.objects.get_by_email("new.customer@example.test")
    assert (user.is_staff, user.is_superuser, user.auth_epoch) == (False, False, 0)
    assert list(user.groups.values_list("name", flat=True)) == ["customer"]
    assert user.password.startswith(
        settings.PASSWORD_HASHERS[0].rsplit(".", 1)[1].replace("PasswordHasher", "").lower()
    )
    assert audit_actions() == ["REGISTER"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("password", "fragment"),
    [
        ("short1a", "at least 12"),
        ("onlyletterspassword", "letters and digits"),
        ("123456789012345", "letters and digits"),
        ("password1234", "too common"),
        ("new.customer1", "too similar"),
        ("a1" * 64 + "b", "128 characters"),
    ],
)
def test_weak_passwords_are_refused_with_field_messages(password, fragment):
    response = register(password=password)
    error = assert_error(response, 400, "validation_error")
    assert list(error["fields"]) == ["password"]
    assert any(fragment in message for message in error["fields"]["password"]), error
    assert password not in response.content.decode()
    assert not User.objects.exists()


@pytest.mark.django_db
def test_a_128_character_password_is_accepted():
    assert register(password="a1" * 64).status_code == 201  # pragma: allowlist secret


@pytest.mark.django_db
@pytest.mark.parametrize("email", ["not-an-email", "a@", "@example.test", "a b@example.test", "", "x" * 250 + "@e.io"])
def test_malformed_emails_are_refused(email):
    error = assert_error(register(email=email), 400, "validation_error")
    assert "email" in error["fields"]
    assert not User.objects.exists()


@pytest.mark.django_db
def test_missing_fields_and_wrong_types_are_400_not_500():
    assert_error(APIClient().post(REGISTER, {}), 400, "validation_error")
    assert_error(APIClient().post(REGISTER, {"email": ["x"], "password": {"a": 1}}), 400, "validation_error")
    assert_error(APIClient().post(REGISTER, "[1, 2]", content_type="application/json"), 400, "validation_error")
    assert not User.objects.exists()


@pytest.mark.django_db
def test_a_duplicate_email_creates_nothing_and_answers_like_a_new_account(customer):
    # (tests/accounts/test_registration_enumeration.py shows the two answers side by side.)
    response = register(email=customer.email.upper())
    assert response.status_code == 201
    assert response.json()["public_id"] != str(customer.public_id)
    assert User.objects.filter_by_email(customer.email).count() == 1


@pytest.mark.django_db
def test_me_shows_only_the_callers_profile(customer, other_customer, caplog):
    body = make_api_client(customer).get(ME).json()
    assert body == {
        "public_id": str(customer.public_id),
        "email": customer.email,
        "first_name": "Thandi",
        "last_name": "",
        "phone": None,
        "roles": ["customer"],
        "mfa_enrolled": False,
        "created_at": body["created_at"],
    }
    assert audit_actions() == ["PI_ACCESS"]


@pytest.mark.django_db
def test_me_patch_changes_names_only(customer, caplog):
    response = make_api_client(customer).patch(ME, {"first_name": "Naledi", "last_name": "Mokoena"})
    assert response.status_code == 200
    customer.refresh_from_db()
    assert (customer.first_name, customer.last_name) == ("Naledi", "Mokoena")
    events = audit_events()
    assert events[0]["action"] == "PROFILE_UPDATED"
    assert events[0]["diff"] == {"changed": ["first_name", "last_name"]}
    assert "Naledi" not in caplog.text
    assert "Naledi" not in str(events)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("typed", "stored"),
    [("082 555 0100", "+27825550100"), ("+27 (82) 555-0100", "+27825550100"), ("+44 20 7946 0958", "+442079460958")],
)
def test_me_patch_sets_the_phone_in_e164_encrypted_and_indexed(customer, caplog, typed, stored):
    response = make_api_client(customer).patch(ME, {"phone": typed}, format="json")
    assert response.status_code == 200, response.content
    assert response.json()["phone"] == stored
    customer.refresh_from_db()
    assert customer.phone == stored
    assert User.objects.get(phone_index__matches="0825550100" if stored.startswith("+27") else typed) == customer
    with connection.cursor() as cursor:
        cursor.execute("SELECT phone FROM accounts_user WHERE id = %s", [customer.pk])
        assert cursor.fetchone()[0].startswith("s1:")
    events = audit_events()
    assert events[0]["diff"] == {"changed": ["phone"]}
    assert stored not in str(events) and stored not in caplog.text


@pytest.mark.django_db
@pytest.mark.parametrize("typed", ["12345", "083 123 45", "call me maybe", "+0 82 555 0100", "0" * 40, 825550100])
def test_me_patch_refuses_an_invalid_phone_without_echoing_it(customer, typed):
    response = make_api_client(customer).patch(ME, {"phone": typed}, format="json")
    error = assert_error(response, 400, "validation_error")
    assert list(error["fields"]) == ["phone"]
    assert str(typed) not in response.content.decode()
    customer.refresh_from_db()
    assert customer.phone is None
    assert audit_events() == []


@pytest.mark.django_db
@pytest.mark.parametrize("cleared", ["", None])
def test_me_patch_removes_the_phone(customer, cleared):
    client = make_api_client(customer)
    assert client.patch(ME, {"phone": "082 555 0100"}, format="json").status_code == 200
    response = client.patch(ME, {"phone": cleared}, format="json")
    assert response.status_code == 200 and response.json()["phone"] is None
    customer.refresh_from_db()
    assert (customer.phone, customer.phone_index) == (None, None)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "field",
    [
        {"is_staff": True},
        {"is_superuser": True},
        {"groups": [1]},
        {"roles": ["admin"]},
        {"email": "takeover@example.test"},
        {"public_id": "5b0f6a4e-1b7f-4e43-9a55-0a8b1f0e7d11"},
        {"id": 1},
        {"password": "another-pass-1234"},  # pragma: allowlist secret
        {"auth_epoch": 0},
        {"is_active": False},
    ],
)
def test_me_patch_refuses_mass_assignment(customer, field):
    before = User.objects.filter(pk=customer.pk).values().get()
    response = make_api_client(customer).patch(ME, {"first_name": "Changed", **field})
    error = assert_error(response, 400, "validation_error")
    assert list(error["fields"]) == list(field)
    assert User.objects.filter(pk=customer.pk).values().get() == before


@pytest.mark.django_db
def test_me_query_count(customer, django_assert_max_num_queries):
    client = make_api_client(customer)
    # user (token), profile, its groups, MFA flag; the PI_ACCESS audit row with its savepoint.
    with django_assert_max_num_queries(7):
        assert client.get(ME).status_code == 200


@pytest.mark.django_db
def test_api_permission_denials_are_audited(customer, caplog):
    """A step-up-protected view refuses a token without recent MFA, and the refusal is audited
    through the one mechanism (kernel.errors / kernel.access): a plain APIView, nothing opted in."""
    from rest_framework.permissions import IsAuthenticated
    from rest_framework.response import Response
    from rest_framework.test import APIRequestFactory
    from rest_framework.views import APIView

    from kernel.permissions import HasRecentMFA

    class StepUpView(APIView):
        permission_classes = [IsAuthenticated, HasRecentMFA]

        def get(self, request):
            return Response({"ok": True})

    def call(mfa: bool):
        token = make_api_client(customer, mfa=mfa).tokens["access"]
        request = APIRequestFactory().get("/api/v1/step-up/", HTTP_AUTHORIZATION=f"Bearer {token}")
        return StepUpView.as_view()(request)

    audit_mark_now()
    assert call(mfa=True).status_code == 200
    denied = call(mfa=False)
    assert denied.status_code == 403
    assert denied.data["error"]["code"] == "mfa_step_up_required"
    assert audit_actions() == ["PERMISSION_DENIED"]

"""Issue 15 (low): guessable passwords were accepted (e-mail-like, ``Summer2024!!Summer``). Now a
bundled breached-password list and the user's own details are checked (PCI DSS 8.3.6, NIST
SP 800-63B §5.1.1.2), on registration, password change and reset alike."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from rest_framework.test import APIClient

from accounts.models import User
from accounts.passwords import DEFAULT_PASSWORD_LIST, GuessablePasswordValidator, _common_words
from tests.accounts.helpers import assert_error
from tests.personas import PASSWORD, make_api_client

REGISTER = "/api/v1/auth/register/"
WEAK = [
    "Summer2024!!Summer",
    "P@ssw0rd2024!",
    "Football!2023",
    "Winter2025Winter2025",
    "somebody.else@example.org",
]


def test_the_bundled_list_is_shipped_and_reasonably_sized():
    assert DEFAULT_PASSWORD_LIST.is_file()
    words = _common_words(str(DEFAULT_PASSWORD_LIST))
    assert 10_000 < len(words) < 1_000_000
    assert {"password", "summer", "football"} <= words


@pytest.mark.django_db
@pytest.mark.parametrize("password", WEAK)
def test_registration_refuses_guessable_passwords_and_creates_nothing(password):
    response = APIClient().post(
        REGISTER, {"email": "new.person@example.test", "password": password, "first_name": "Lindiwe"}, format="json"
    )
    error = assert_error(response, 400, "validation_error")
    assert list(error["fields"]) == ["password"]
    assert password not in response.content.decode()
    assert not User.objects.filter_by_email("new.person@example.test").exists()


@pytest.mark.django_db
@pytest.mark.parametrize("password", ["new.person@example.test", "NewPerson2026!!", "Lindiwe-Dlamini-1990"])
def test_registration_refuses_the_users_own_details(password):
    response = APIClient().post(
        REGISTER,
        {"email": "new.person@example.test", "password": password, "first_name": "Lindiwe", "last_name": "Dlamini"},
        format="json",
    )
    assert_error(response, 400, "validation_error")
    assert not User.objects.filter_by_email("new.person@example.test").exists()


@pytest.mark.django_db
def test_password_change_refuses_a_guessable_new_password(customer):
    client = make_api_client(customer)
    response = client.post("/api/v1/auth/password/change/", {"current_password": PASSWORD, "new_password": WEAK[0]})
    assert list(assert_error(response, 400, "validation_error")["fields"]) == ["new_password"]
    customer.refresh_from_db()
    assert customer.check_password(PASSWORD)


@pytest.mark.parametrize(
    "password",
    ["correct-horse-battery-staple-42", "persona-pass-2026-ok", "Sentinel-Passw0rd-2026", "Zebracorn-quantum-17"],
)
def test_passphrases_of_several_words_pass(password):
    GuessablePasswordValidator().validate(password, User(email="someone@example.test", first_name="Sipho"))


def test_the_messages_never_echo_the_password():
    with pytest.raises(ValidationError) as refused:
        GuessablePasswordValidator().validate("Summer2024!!Summer", None)
    assert "Summer" not in " ".join(refused.value.messages)


@pytest.mark.parametrize(
    "password",
    [
        # A uuid4().hex a test used (its only word is "fff": flaky in CI), and two more generated ones.
        "e2021d61a03345688ff6e136a32fff2b",  # pragma: allowlist secret
        "9f3c0a7e5b1d2f8e6a4c0b9d7e5f3a1c",  # pragma: allowlist secret
        "x7Kq2mVb9Lp4Rt8Wz3Nc",  # pragma: allowlist secret
    ],
)
def test_generated_random_passwords_with_a_short_common_word_inside_pass(password):
    GuessablePasswordValidator().validate(password, User(email="someone@example.test", first_name="Sipho"))

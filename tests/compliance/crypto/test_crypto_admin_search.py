"""Admin search over encrypted columns goes through the blind indexes."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from tests.personas import otp_admin_login
from tests.pi_testapp.models import Subject

URL = "/admin/pi_testapp/subject/"


@pytest.fixture
def admin_client_(client):
    user = get_user_model().objects.create_user(
        email="admin@example.com", password="x" * 16, is_staff=True, is_superuser=True
    )
    otp_admin_login(client, user)
    return client


def found(response) -> set[str]:
    return {str(obj.public_id) for obj in response.context["cl"].result_list}


@pytest.mark.django_db
def test_search_matches_exact_normalised_values_of_encrypted_fields(admin_client_):
    alice = Subject.objects.create(email="Alice@Example.com", phone="082 555 0101", id_number="8001015009087")
    bob = Subject.objects.create(email="bob@example.com", phone="082 555 0202", nickname="Bobby")
    for term, expected in [
        ("alice@example.COM", {alice}),
        ("+27 82 555 0202", {bob}),
        ("800101 5009 087", {alice}),
        ("Bobby", {bob}),  # a plain search field still works
        ("082 555", set()),  # no partial matches on encrypted data
        ("", {alice, bob}),
    ]:
        response = admin_client_.get(URL, {"q": term})
        assert response.status_code == 200
        assert found(response) == {str(s.public_id) for s in expected}, term

"""Issue 15 (low): authenticated API answers carrying PI had no ``Cache-Control: no-store``."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.personas import make_api_client, otp_admin_login


def _no_store(response) -> bool:
    return "no-store" in response.get("Cache-Control", "")


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/v1/me/", "/api/v1/accounts/", "/api/v1/consents/", "/api/v1/dsar/"])
def test_every_authenticated_api_answer_is_no_store(customer, path):
    response = make_api_client(customer).get(path)
    assert response.status_code < 500
    assert _no_store(response), (path, response.get("Cache-Control"))


@pytest.mark.django_db
def test_errors_and_downloads_are_no_store_too(customer):
    client = make_api_client(customer)
    assert _no_store(client.get("/api/v1/accounts/7d1f9a52-0c4e-4c55-9a47-3f5d2b8c1e90/statement/?format=csv"))
    assert _no_store(make_api_client(None).get("/api/v1/me/"))  # the 401


@pytest.mark.django_db
def test_admin_pages_for_a_signed_in_user_are_no_store(operations):
    browser = Client()
    otp_admin_login(browser, operations)
    assert _no_store(browser.get("/admin/"))

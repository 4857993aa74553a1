"""Issue 15, "5xx on input": every change-list search of every registered ModelAdmin, fed hostile
strings by a superuser, answers without a server error (the auditlog search with an e-mail
address used to answer 500)."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.urls import reverse

from tests.personas import make_staff, otp_admin_login

HOSTILE = [
    "someone@example.test",
    "' OR 1=1 --",
    '"; DROP TABLE accounts_user; --',
    "%",
    "_",
    "\\",
    "\x00",
    "nul\x00inside",
    "a" * 5000,
    "99999999999999999999999999",
    "-1",
    "1e999",
    "NaN",
    "2026-13-45",
    "7d1f9a52-0c4e-4c55-9a47-3f5d2b8c1e90",
    "7d1f9a52-0c4e",
    "4111 1111 1111 1111",
    "+27 82 555 0100",
    "8001015009087",
    "<script>alert(1)</script>",
    "ñ漢字🙂",
    "\ud800".encode("utf-8", "surrogatepass").decode("utf-8", "replace"),
    "a__b",
    "   ",
    "{}[]()",
    "::1",
    "10.0.0.1",
]


def _searchable_admins() -> list[tuple[str, str]]:
    found = []
    for model, model_admin in admin.site._registry.items():
        if model_admin.get_search_fields(None):
            found.append((model._meta.app_label, model._meta.model_name))
    return sorted(found)


def test_there_are_searchable_admins_to_fuzz():
    assert len(_searchable_admins()) >= 5
    assert ("auditlog", "logentry") in _searchable_admins()


@pytest.mark.django_db
@pytest.mark.parametrize(("app_label", "model_name"), _searchable_admins())
def test_every_admin_search_survives_hostile_strings(client, app_label, model_name):
    superuser = make_staff("admin", superuser=True)
    otp_admin_login(client, superuser)
    client.raise_request_exception = False
    url = reverse(f"admin:{app_label}_{model_name}_changelist")
    failures = []
    for needle in HOSTILE:
        response = client.get(url, {"q": needle})
        if response.status_code >= 500:
            failures.append((repr(needle[:40]), response.status_code))
    assert failures == []


# Values a list filter's query cannot take (wapiti's SSRF and redirect probes sent the first two).
HOSTILE_FILTER_VALUES = [
    "https://openbugbounty.org/",
    "//openbugbounty.org/",
    "' OR 1=1 --",
    "-1",
    "9" * 30,
    "\x00",
    "a" * 500,
]


def _filter_parameters() -> list[tuple[str, str, str]]:
    """(app_label, model_name, query parameter) for every list filter of every registered admin."""
    from django.contrib.admin import SimpleListFilter
    from django.test import RequestFactory

    request = RequestFactory().get("/")
    found = []
    for model, model_admin in admin.site._registry.items():
        for spec in model_admin.get_list_filter(request):
            if isinstance(spec, type) and issubclass(spec, SimpleListFilter):
                parameter = spec.parameter_name
            else:
                name = spec[0] if isinstance(spec, tuple) else spec
                if not isinstance(name, str):
                    continue
                parameter = f"{name}__exact"
            found.append((model._meta.app_label, model._meta.model_name, parameter))
    return sorted(set(found))


def test_there_are_list_filters_to_fuzz():
    assert ("auditlog", "logentry", "resource_type") in _filter_parameters()


@pytest.mark.django_db
def test_every_admin_list_filter_survives_values_its_query_cannot_take(client):
    """Found by wapiti in `make dast`: GET /admin/auditlog/logentry/?resource_type=https://... was a
    500 (django-auditlog's filter passed the string to an integer column). A bad filter value is
    a bad lookup: the change list redirects to its "?e=1" page, as for any other bad lookup."""
    superuser = make_staff("admin", superuser=True)
    otp_admin_login(client, superuser)
    client.raise_request_exception = False
    failures = []
    for app_label, model_name, parameter in _filter_parameters():
        url = reverse(f"admin:{app_label}_{model_name}_changelist")
        for value in HOSTILE_FILTER_VALUES:
            response = client.get(url, {parameter: value})
            if response.status_code >= 500:
                failures.append((app_label, model_name, parameter, repr(value[:30]), response.status_code))
    assert failures == [], "\n".join(map(str, failures))
    response = client.get(
        reverse("admin:auditlog_logentry_changelist"), {"resource_type": "https://openbugbounty.org/"}
    )
    assert response.status_code == 302 and response.url.endswith("?e=1")

"""The access matrix, generated from the URL configuration (SPEC C2, issue 3 "must show").

Every /api/ route x persona x method gets the declared status (access_expectations.py); every
refused call (any 4xx) leaves the database byte-for-byte unchanged; a route without a declared
expectation fails; and a route that lets an anonymous caller through fails unless it is on the
explicit public list.
"""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.urls import URLPattern, URLResolver, get_resolver

from compliance.audit.models import AuditEvent
from compliance.audit.services import AuditAction
from tests.accounts.access_expectations import DENIED_DEFAULT, EXPECTED, PUBLIC_ROUTES
from tests.personas import PERSONAS, make_api_client, make_customer, make_staff

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
AUDIT_TABLES = {"compliance_auditevent"}


def api_routes() -> dict[str, str]:
    """URL name -> route template for every pattern under api/."""
    found: dict[str, str] = {}

    def walk(patterns: list, prefix: str, namespaces: list[str]) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                spaces = [*namespaces, pattern.namespace] if pattern.namespace else namespaces
                walk(pattern.url_patterns, prefix + str(pattern.pattern), spaces)
            elif isinstance(pattern, URLPattern):
                route = prefix + str(pattern.pattern)
                if route.startswith("api/"):
                    name = ":".join([*namespaces, pattern.name]) if pattern.name else route
                    found[name] = route

    walk(get_resolver().url_patterns, "", [])
    return found


ROUTES = api_routes()


def db_fingerprint() -> str:
    """One hash over the content of every table: equal fingerprints mean nothing changed."""
    # The audit trail is left out: recording the refusal there is the one change a refusal makes.
    tables = sorted(
        table
        for table in connection.introspection.django_table_names(only_existing=True, include_views=False)
        if table not in AUDIT_TABLES
    )
    # Table names come from Django's own introspection, quoted; no user input reaches this SQL.
    select = (
        "SELECT '{0}' AS t, coalesce(md5(string_agg(md5(x::text), '' ORDER BY md5(x::text))), '') AS h FROM \"{0}\" x"
    )
    parts = [select.format(table) for table in tables]
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(parts))
        return "|".join(f"{t}:{h}" for t, h in sorted(cursor.fetchall()))


def denial_count() -> int:
    return AuditEvent.objects.filter(action=AuditAction.PERMISSION_DENIED).count()


def make_personas() -> dict:
    return {
        "anonymous": None,
        "customer": make_customer(),
        "other_customer": make_customer(),
        "operations": make_staff("operations"),
        "information_officer": make_staff("information_officer"),
        "auditor": make_staff("auditor"),
        "admin_user": make_staff("admin", superuser=True),
    }


def expected_status(spec: dict, method: str, persona: str) -> int:
    if persona == "anonymous" and not spec.get("public"):
        return 401
    if method not in spec:
        # DRF checks permissions before it looks for the method's handler: a persona refused on
        # every declared method is refused (not told "method not allowed") on the others too.
        listed = [expected_status(spec, listed, persona) for listed in METHODS if listed in spec]
        return DENIED_DEFAULT if all(status == DENIED_DEFAULT for status in listed) else 405
    declared = spec[method]
    if isinstance(declared, int):
        return declared
    return declared.get(persona, DENIED_DEFAULT)


def url_for(route: str, kwargs: dict) -> str:
    url = "/" + route
    for key, value in kwargs.items():
        url = url.replace(f"<{key}>", str(value))
        for converter in ("uuid", "int", "str", "slug", "path"):
            url = url.replace(f"<{converter}:{key}>", str(value))
    assert "<" not in url, f"URL arguments missing for {route}"
    return url


def test_every_api_route_has_a_declared_expectation():
    undeclared = sorted(set(ROUTES) - set(EXPECTED))
    stale = sorted(set(EXPECTED) - set(ROUTES))
    assert undeclared == [], f"Declare who may call these routes in access_expectations.py: {undeclared}"
    assert stale == [], f"Declared routes that no longer exist: {stale}"


def test_public_list_and_declarations_agree():
    declared_public = {name for name, spec in EXPECTED.items() if spec.get("public")}
    assert declared_public == set(PUBLIC_ROUTES)


@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted(set(ROUTES) - PUBLIC_ROUTES))
def test_no_route_lets_anonymous_callers_in_unless_public(name):
    spec = EXPECTED.get(name, {})
    personas = make_personas()
    url = url_for(ROUTES[name], spec["kwargs"](personas) if "kwargs" in spec else {})
    client = make_api_client(None)
    for method in METHODS:
        before = db_fingerprint()
        response = client.generic(method, url, data="{}", content_type="application/json")
        assert response.status_code == 401, f"{method} {url} answered {response.status_code} to an anonymous caller"
        assert response.json()["error"]["code"] == "not_authenticated"
        assert db_fingerprint() == before


@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_access_matrix(name):
    spec = EXPECTED[name]
    assert name in ROUTES, f"{name} is declared but not routed"
    personas = make_personas()
    url = url_for(ROUTES[name], spec["kwargs"](personas) if "kwargs" in spec else {})
    body = spec.get("body", {})
    mismatches = []
    for persona in PERSONAS:
        client = make_api_client(personas[persona])
        for method in METHODS:
            want = expected_status(spec, method, persona)
            before = db_fingerprint()
            denials_before = denial_count()
            data = body if method in {"POST", "PUT", "PATCH"} else None
            payload = "" if data is None else json.dumps(data)
            response = client.generic(method, url, data=payload, content_type="application/json")
            if response.status_code != want:
                mismatches.append(f"{persona} {method} {url}: {response.status_code} != {want}")
            if 400 <= response.status_code < 500:
                if db_fingerprint() != before:
                    mismatches.append(
                        f"{persona} {method} {url}: refused with {response.status_code} but changed the DB"
                    )
                if response["Content-Type"].startswith("application/json"):
                    assert set(response.json()) == {"error"}
            # Every refusal of an identified caller is one PERMISSION_DENIED record, and only a refusal.
            denials = denial_count() - denials_before
            # A route may declare refusals that are not 403 but are audited all the same (kernel.access
            # AuditedRefusal: the 404 hiding another person's download, the 410 of a closed window).
            audited = response.status_code == 403 or (
                response.status_code in spec.get("audited_refusals", ()) and persona != "anonymous"
            )
            if audited and denials != 1:
                mismatches.append(
                    f"{persona} {method} {url}: {response.status_code} wrote {denials} PERMISSION_DENIED records, not 1"
                )
            if not audited and denials:
                mismatches.append(f"{persona} {method} {url}: {response.status_code} wrote a PERMISSION_DENIED record")
    assert mismatches == []

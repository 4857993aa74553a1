"""The customer consent API: /api/v1/purposes/, /api/v1/consents/, /api/v1/consents/history/."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from compliance.audit.services import AuditAction
from compliance.consent.models import ConsentEvent, PurposeNotice
from compliance.consent.selectors import may_process
from compliance.consent.services import notice_draft_save, notice_publish
from tests.compliance.consent.consent_helpers import (
    api_client,
    current_version,
    make_staff,
    make_user,
    seed_purposes,
    spy_audit,
)

pytestmark = pytest.mark.django_db

DM = "direct_marketing"
PURPOSES_URL = "/api/v1/purposes/"
CONSENTS_URL = "/api/v1/consents/"
HISTORY_URL = "/api/v1/consents/history/"


@pytest.fixture(autouse=True)
def _purposes(db):
    seed_purposes()


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    return body["error"]


def post_choice(client, purpose: str, granted, version=None):
    return client.post(
        CONSENTS_URL,
        {"purpose": purpose, "granted": granted, "notice_version": version or current_version(purpose)},
        format="json",
    )


def states(client) -> dict[str, dict]:
    response = client.get(CONSENTS_URL, {"page_size": 200})
    assert response.status_code == 200
    return {row["purpose"]: row for row in response.json()["results"]}


@pytest.mark.parametrize("url", [CONSENTS_URL, HISTORY_URL])
def test_anonymous_callers_are_refused(url):
    assert_error(APIClient().get(url), 401, "not_authenticated")
    assert APIClient().post(CONSENTS_URL, {}, format="json").status_code == 401


def test_anyone_reads_the_purposes_and_notices_before_registering(django_assert_max_num_queries):
    """Registration asks for each choice's notice_version: the notices are public (POPIA s18)."""
    anonymous = APIClient()
    response = anonymous.get(PURPOSES_URL)
    assert response.status_code == 200
    rows = {row["code"]: row for row in response.json()["results"]}
    version = rows[DM]["current_notice"]["version"]
    assert version == current_version(DM)
    assert rows[DM]["current_notice"]["text"]
    # A stale or forged token does not turn the public read into a refusal.
    stale = APIClient(HTTP_AUTHORIZATION="Bearer not-a-token")
    assert stale.get(PURPOSES_URL).status_code == 200
    # Read-only: nothing can be written through it, by anyone.
    assert anonymous.post(PURPOSES_URL, {"code": "x"}, format="json").status_code == 405
    # Cached: the second read costs no query, and no answer under /api/ is stored by a browser or proxy.
    with django_assert_max_num_queries(0):
        again = anonymous.get(PURPOSES_URL)
    assert again.json() == response.json()
    assert "no-store" in again["Cache-Control"]
    # Registering with the version read there succeeds.
    registered = anonymous.post(
        "/api/v1/auth/register/",
        {
            "email": "new.reader@example.co.za",
            "password": "Kestrel-Passw0rd-2026",  # pragma: allowlist secret
            "consents": [{"purpose": DM, "granted": True, "notice_version": version}],
        },
        format="json",
    )
    assert registered.status_code == 201, registered.content


def test_purposes_list_current_notices(django_assert_max_num_queries):
    client = api_client(make_user())
    with django_assert_max_num_queries(3):
        response = client.get(PURPOSES_URL)
    assert response.status_code == 200
    rows = {row["code"]: row for row in response.json()["results"]}
    assert set(rows) >= {
        "account_management",
        "kyc",
        "payments",
        "fraud_prevention",
        DM,
        "analytics",
        "third_party_marketing_sharing",
    }
    assert rows["kyc"]["lawful_basis"] == "legal_obligation"
    assert rows["kyc"]["consent_required"] is False
    assert rows[DM]["lawful_basis"] == "consent"
    assert rows[DM]["consent_required"] is True
    assert rows[DM]["data_categories"] == ["contact"]
    notice = rows[DM]["current_notice"]
    assert notice["version"] == current_version(DM)
    assert "POPIA s69" in notice["text"]
    assert set(notice) == {"version", "text", "effective_at", "requires_reconsent"}


def test_purposes_show_the_new_notice_once_published():
    officer = make_staff("information_officer")
    purpose = PurposeNotice.objects.filter(purpose__code="analytics").first().purpose
    draft = notice_draft_save(actor=officer, purpose=purpose, text="Analytics notice, second edition.")
    client = api_client(make_user())
    before = {r["code"]: r for r in client.get(PURPOSES_URL).json()["results"]}["analytics"]["current_notice"]
    notice_publish(actor=officer, notice=draft)
    after = {r["code"]: r for r in client.get(PURPOSES_URL).json()["results"]}["analytics"]["current_notice"]
    assert after["version"] == before["version"] + 1
    assert after["text"] == "Analytics notice, second edition."


def test_grant_then_withdraw_through_the_api(monkeypatch):
    calls = spy_audit(monkeypatch)
    customer = make_user()
    client = api_client(customer)
    assert states(client)[DM]["granted"] is None

    response = post_choice(client, DM, True)
    assert response.status_code == 201
    body = response.json()
    assert (body["purpose"], body["granted"], body["notice_version"], body["channel"]) == (
        DM,
        True,
        current_version(DM),
        "api",
    )
    assert states(client)[DM] | {"decided_at": None} == {
        "purpose": DM,
        "name": "Direct marketing by us",
        "lawful_basis": "consent",
        "consent_required": True,
        "granted": True,
        "granted_notice_version": current_version(DM),
        "decided_at": None,
        "current_notice_version": current_version(DM),
        "reconsent_needed": False,
        "restricted": False,
        "objected": False,
        "processing_allowed": True,
    }
    assert may_process(customer, DM) is True

    # Withdrawing is the same request with false: no step-up, no extra confirmation.
    assert post_choice(client, DM, False).status_code == 201
    assert states(client)[DM]["granted"] is False
    assert states(client)[DM]["processing_allowed"] is False
    assert may_process(customer, DM) is False
    assert [c["action"] for c in calls] == [AuditAction.CONSENT_GRANTED, AuditAction.CONSENT_WITHDRAWN]
    event = ConsentEvent.objects.filter(subject=customer).first()
    assert event.source_ip == "127.0.0.1"
    assert event.request_id  # the request-id middleware's id


def test_a_stale_notice_version_is_a_409_and_records_nothing():
    officer = make_staff("information_officer")
    customer = make_user()
    client = api_client(customer)
    old = current_version(DM)
    purpose = PurposeNotice.objects.filter(purpose__code=DM).first().purpose
    notice_publish(actor=officer, notice=notice_draft_save(actor=officer, purpose=purpose, text="v-next"))

    error = assert_error(post_choice(client, DM, True, version=old), 409, "stale_notice_version")
    assert "current version is" in error["message"]
    assert not ConsentEvent.objects.filter(subject=customer).exists()
    assert post_choice(client, DM, True, version=old + 1).status_code == 201


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        ({"purpose": "kyc", "granted": False, "notice_version": 1}, 400, "consent_not_required"),
        ({"purpose": "no_such_purpose", "granted": True, "notice_version": 1}, 400, "unknown_purpose"),
        ({"purpose": DM, "granted": "true", "notice_version": 1}, 400, "validation_error"),
        ({"purpose": DM, "granted": 1, "notice_version": 1}, 400, "validation_error"),
        ({"purpose": DM, "notice_version": 1}, 400, "validation_error"),
        ({"purpose": DM, "granted": True}, 400, "validation_error"),
        ({"purpose": DM, "granted": True, "notice_version": 0}, 400, "validation_error"),
        ({"purpose": "../admin", "granted": True, "notice_version": 1}, 400, "validation_error"),
    ],
)
def test_invalid_choices_are_4xx_and_record_nothing(payload, status, code):
    customer = make_user()
    response = api_client(customer).post(CONSENTS_URL, payload, format="json")
    assert_error(response, status, code)
    assert not ConsentEvent.objects.filter(subject=customer).exists()
    assert may_process(customer, DM) is False


def test_another_customers_consents_are_never_visible():
    alice, bob = make_user(), make_user()
    alice_client, bob_client = api_client(alice), api_client(bob)
    for answer in (True, False, True):
        assert post_choice(alice_client, DM, answer).status_code == 201
    assert post_choice(alice_client, "analytics", True).status_code == 201

    bob_states = states(bob_client)
    assert all(row["granted"] is None for row in bob_states.values() if row["consent_required"])
    # No parameter names another subject: a subject filter is simply ignored.
    for params in ({}, {"subject": str(alice.public_id)}, {"subject__public_id": str(alice.public_id)}):
        history = bob_client.get(HISTORY_URL, params).json()
        assert history["count"] == 0
        assert history["results"] == []
    assert bob_client.get(CONSENTS_URL, {"subject": str(alice.public_id)}).json() == bob_client.get(CONSENTS_URL).json()
    assert str(alice.public_id) not in bob_client.get(HISTORY_URL).content.decode()
    assert states(alice_client)[DM]["granted"] is True


def test_history_is_complete_and_ordered_after_many_cycles():
    customer = make_user()
    client = api_client(customer)
    expected = []
    for cycle in range(30):
        for answer in (True, False):
            response = post_choice(client, DM if cycle % 3 else "analytics", answer)
            assert response.status_code == 201
            expected.append(response.json())
    seen = []
    url = f"{HISTORY_URL}?page_size=25"
    while url:
        page = client.get(url).json()
        assert page["count"] == 60
        seen.extend(page["results"])
        url = page["next"]
    assert seen == list(reversed(expected))  # newest first, nothing missing, nothing duplicated
    assert len({row["id"] for row in seen}) == 60
    timestamps = [row["created_at"] for row in seen]
    assert timestamps == sorted(timestamps, reverse=True)
    assert states(client)[DM]["granted"] is False


def test_current_state_query_count_does_not_grow_with_history(django_assert_max_num_queries):
    customer = make_user()
    client = api_client(customer)
    post_choice(client, DM, True)
    # The JWT user lookup and one query for every purpose's state.
    with django_assert_max_num_queries(2) as few:
        assert client.get(CONSENTS_URL).status_code == 200
    for index in range(60):
        post_choice(client, DM if index % 2 else "analytics", index % 3 == 0)
    with django_assert_max_num_queries(2) as many:
        assert client.get(CONSENTS_URL).status_code == 200
    assert len(many.captured_queries) == len(few.captured_queries)


def test_history_query_count_is_bounded(django_assert_max_num_queries):
    customer = make_user()
    client = api_client(customer)
    for index in range(40):
        post_choice(client, DM, index % 2 == 0)
    # The JWT user lookup, the page count and the page.
    with django_assert_max_num_queries(3):
        response = client.get(HISTORY_URL)
    assert response.status_code == 200
    assert len(response.json()["results"]) == 40

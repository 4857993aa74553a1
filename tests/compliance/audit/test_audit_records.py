"""audit_record and the diff builder: PMLA fields filled, and no PI in any change_diff."""

from __future__ import annotations

import json
import re

import pytest
from auditlog.models import LogEntry
from auditlog.registry import auditlog
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import RequestFactory
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.tokens import token_pair_for
from compliance.audit.chain import seal_pending, verify_chain
from compliance.audit.change_trail import register_change_trail
from compliance.audit.services import (
    MASK,
    ActorType,
    AuditAction,
    audit_pi_access,
    audit_record,
    build_change_diff,
    is_pi_name,
)
from compliance.models import AuditEvent
from kernel.request_context import reset_request_id, set_request_id

pytestmark = pytest.mark.django_db

# Recognisable PII seeded into every path a diff can take.
PII = {
    "email": "thandi.mokoena@example.co.za",
    "first_name": "Thandiwe",
    "last_name": "Mokoena-Dlamini",
    "id_number": "8001015009087",
    "phone": "+27 82 555 0199",
    "address": "14 Jacaranda Street, Hatfield",
    "card_number": "4111111111111111",
    "cvv": "737",
    "bank_account": "62812345678",
    "date_of_birth": "1980-01-01",
}
PII_VALUES = [*PII.values(), "0825550199", "4111 1111 1111 1111"]


def assert_absent(value: str, text: str) -> None:
    """``value`` nowhere in ``text``. A short number (the CVV) is looked for as a whole number:
    as a substring it turns up by chance, e.g. in a timestamp's microseconds ("46.737020")."""
    if value.isdigit() and len(value) < 6:
        assert not re.search(rf"(?<!\d){value}(?!\d)", text), value
    else:
        assert value not in text


def _all_change_diffs_as_text() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT coalesce(string_agg(change_diff::text, ' '), '') FROM compliance_auditevent")
        return cursor.fetchone()[0]


def test_no_pii_reaches_any_change_diff(make_user):
    officer = make_user(staff=True)
    User = get_user_model()
    before = {"email": "old.address@example.com", "first_name": "Old", "is_active": True}
    after = {"email": PII["email"], "first_name": PII["first_name"], "is_active": False}
    diff = build_change_diff(model=User, before=before, after=after)
    assert diff == {
        "before": {"email": MASK, "first_name": MASK, "is_active": True},
        "after": {"email": MASK, "first_name": MASK, "is_active": False},
    }
    audit_record(action=AuditAction.PROFILE_UPDATED, actor=officer, object_type=User, object_id="u1", change_diff=diff)
    # A caller that hands over a raw diff (PI under PI-named keys, nested, and in free text).
    audit_record(
        action=AuditAction.KYC_VERIFY,
        actor=officer,
        object_type="accounts.Customer",
        object_id="c1",
        change_diff={
            "before": dict.fromkeys(PII),
            "after": dict(PII),
            "customer": {"contact": {"mobile_number": PII["phone"], "email_address": PII["email"]}},
            "note": f"called {PII['phone']}, mailed {PII['email']}, card {PII['card_number']} id {PII['id_number']}",
            "holders": [{"full_name": PII["last_name"]}],
        },
    )
    # Explicit pi_fields mask keys the name rule would not recognise.
    audit_record(
        action=AuditAction.DSAR_TRANSITION,
        actor=officer,
        change_diff=build_change_diff(
            model=None, before={"nickname": "Tee"}, after={"nickname": PII["first_name"]}, pi_fields={"nickname"}
        ),
        pi_fields={"nickname"},
    )
    audit_pi_access(actor=officer, subject_type="accounts.User", subject_id="u1", fields=["email", "id_number"])
    seal_pending()

    text = _all_change_diffs_as_text()
    for value in PII_VALUES:
        assert_absent(value, text)
    assert "Tee" not in text
    kyc = AuditEvent.objects.get(action=AuditAction.KYC_VERIFY).change_diff
    assert kyc["after"] == dict.fromkeys(PII, MASK)
    assert kyc["customer"] == {"contact": {"mobile_number": MASK, "email_address": MASK}}
    assert kyc["holders"] == [{"full_name": MASK}]
    assert AuditEvent.objects.get(action=AuditAction.PI_ACCESS).change_diff == {"fields": ["email", "id_number"]}
    assert verify_chain().ok


@pytest.mark.parametrize(
    ("name", "is_pi"),
    [
        ("email", True),
        ("first_name", True),
        ("id_number", True),
        ("date_of_birth", True),
        ("bank_account_number", True),
        ("card_pan", True),
        ("totp_key", True),
        ("source_ip", True),
        ("amount_minor", False),
        ("currency", False),
        ("status", False),
        ("recipient_account", False),
        ("description", False),
    ],
)
def test_the_built_in_pi_rule(name, is_pi):
    assert is_pi_name(name) is is_pi


def test_a_record_carries_the_pmla_fields(make_user, settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    actor = make_user()
    request = RequestFactory().get("/", REMOTE_ADDR="10.1.2.3", HTTP_X_FORWARDED_FOR="198.51.100.7, 10.1.2.4")
    token = set_request_id("req-0000-audit-test")
    try:
        event = audit_record(action=AuditAction.LOGIN, actor=actor, request=request, object_type="accounts.User")
    finally:
        reset_request_id(token)
    event.refresh_from_db()
    assert (event.user_id, event.actor_type, event.action) == (actor.pk, ActorType.USER, "LOGIN")
    assert (event.source_ip, event.request_id) == ("198.51.100.7", "req-0000-audit-test")
    assert (event.seq, event.hash) == (None, None)
    assert event.timestamp.utcoffset().total_seconds() == 0


def test_a_forged_forwarded_for_from_an_untrusted_peer_is_ignored(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    request = RequestFactory().get("/", REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_FOR="1.2.3.4")
    event = audit_record(action=AuditAction.LOGIN_FAILED, actor=None, actor_type=ActorType.ANONYMOUS, request=request)
    assert (event.source_ip, event.user_id, event.actor_type) == ("203.0.113.9", None, "anonymous")


def test_unknown_actions_and_actor_types_are_refused():
    with pytest.raises(ValueError, match="add it to AuditAction"):
        audit_record(action="MADE_UP")
    with pytest.raises(ValueError, match="actor type"):
        audit_record(action=AuditAction.LOGIN, actor_type="robot")
    assert AuditEvent.objects.count() == 0


# --- django-auditlog: field-level change trail ------------------------------------------------
class RenameView(APIView):
    """A stand-in DRF endpoint that changes the caller's own profile (JWT-authenticated)."""

    def post(self, request):
        request.user.first_name = request.data["first_name"]
        request.user.save(update_fields=["first_name"])
        return Response({"ok": True})


def test_the_change_trail_masks_pi_fully_and_excludes_credentials(make_user):
    user = make_user()
    config = auditlog.get_model_fields(get_user_model())
    assert {"email", "first_name", "last_name"} <= set(config["mask_fields"])
    assert {"password", "last_login"} <= set(config["exclude_fields"])
    # Never all models: nothing from the OTP apps is tracked.
    assert not [model for model in auditlog.get_models() if model._meta.app_label.startswith("otp")]

    user.email = PII["email"]
    user.first_name = PII["first_name"]
    user.set_password("another-long-password-456")
    user.save()
    entry = LogEntry.objects.get_for_object(user).latest("timestamp")
    changes = entry.changes_dict
    assert changes["email"] == [MASK, MASK]
    assert changes["first_name"] == [MASK, MASK]
    assert "password" not in changes
    stored = json.dumps(list(LogEntry.objects.values_list("changes", "changes_text", "object_repr", "serialized_data")))
    for value in PII_VALUES:
        assert_absent(value, stored)


def test_otp_models_are_refused_by_the_registration_helper():
    from django.contrib.auth.models import Group

    class Meta:
        app_label = "otp_totp"

    with pytest.raises(ValueError, match="never change-tracked"):
        register_change_trail(type("TOTPDeviceLike", (), {"_meta": Meta, "__name__": "x"}))  # type: ignore[arg-type]
    assert not auditlog.contains(Group)


@pytest.mark.urls("tests.compliance.audit.urls_change_trail")
def test_under_drf_with_jwt_the_actor_and_trusted_address_are_recorded(make_user, settings, client):
    settings.TRUSTED_PROXIES = []
    user = make_user()
    token = token_pair_for(user, mfa_at=None)["access"]
    response = client.post(
        "/rename/",
        data={"first_name": PII["first_name"]},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
        HTTP_X_FORWARDED_FOR="6.6.6.6",
        HTTP_X_REQUEST_ID="req-change-trail-01",
        REMOTE_ADDR="192.0.2.10",
    )
    assert response.status_code == 200
    entry = LogEntry.objects.get_for_object(user).latest("timestamp")
    assert entry.actor_id == user.pk
    assert entry.actor_email is None  # never a copy of the e-mail
    assert entry.remote_addr == "192.0.2.10"
    assert entry.cid == "req-change-trail-01"
    assert entry.changes_dict == {"first_name": [MASK, MASK]}

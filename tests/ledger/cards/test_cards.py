"""Payment cards (PCI DSS): add, list, read, remove, reveal, deposit by card; validation; scoping."""

from __future__ import annotations

import json

import pytest
from django.db import connection

from accounts import roles
from compliance.audit.services import AuditAction
from compliance.models import AuditEvent
from ledger import services
from ledger.cards import services as cards
from ledger.exceptions import LedgerError
from ledger.models import Card, JournalEntry
from tests.ledger.conftest import api_client, card_expiry, ledger_snapshot, new_key, post_card_deposit
from tests.personas import make_staff

pytestmark = pytest.mark.django_db

VISA = "4111111111111111"
MASTERCARD = "5555555555554444"
AMEX = "378282246310005"
FUTURE = card_expiry()


def add_card(user, pan: str = VISA, cvv: str = "123", expiry: str = FUTURE, holder: str = "T MOKOENA") -> Card:
    return cards.card_add(actor=user, pan=pan, expiry=expiry, cvv=cvv, holder=holder)


def raw_card(card: Card) -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM ledger_card WHERE id = %s", [card.pk])
        names = [column.name for column in cursor.description]
        return dict(zip(names, cursor.fetchone(), strict=True))


@pytest.fixture
def reveal_operations(db):
    """A real operations-role user (the role grants ledger.reveal_card_pan)."""
    return make_staff(roles.OPERATIONS)


def test_add_card_answers_masked_details_and_stores_the_pan_only_encrypted(customer):
    user, _ = customer
    response = api_client(user).post(
        "/api/v1/cards/", {"pan": "4111 1111 1111 1111", "expiry": "07/31", "cvv": "123", "holder": "T Mokoena"},
        format="json",
    )  # fmt: skip
    assert response.status_code == 201, response.content
    body = response.json()
    card = Card.objects.get()
    assert body == {
        "id": str(card.public_id),
        "brand": "visa",
        "masked_pan": "411111******1111",
        "expiry": "07/31",
        "holder": "T Mokoena",
        "active": True,
        "created_at": body["created_at"],
    }
    assert response["Cache-Control"] == "no-store"
    row = raw_card(card)
    assert row["pan"].startswith("s1:") and VISA not in row["pan"]
    assert row["pan_index"].startswith("v1:") and VISA not in row["pan_index"]
    assert row["holder"].startswith("s1:")
    assert (row["first6"], row["last4"], row["pan_length"]) == ("411111", "1111", 16)
    assert "cvv" not in row and not any("cvv" in name or "cvc" in name for name in row)
    assert card.pan == VISA  # decrypts
    event = AuditEvent.objects.get(action=AuditAction.CARD_ADDED)
    assert event.user_id == user.pk and event.object_id == str(card.public_id)
    assert event.change_diff == {"brand": "visa", "last4": "1111", "expiry": "07/31"}


@pytest.mark.parametrize(
    ("pan", "expected_brand", "cvv"),
    [(VISA, "visa", "123"), (MASTERCARD, "mastercard", "123"), (AMEX, "amex", "1234"),
     ("2223003122003222", "mastercard", "123"), ("6011111111111117", "discover", "123"),
     ("3530111333300000", "jcb", "123"), ("30569309025904", "diners", "123")],
)  # fmt: skip
def test_brand_comes_from_the_iin(customer, pan, expected_brand, cvv):
    user, _ = customer
    card = add_card(user, pan=pan, cvv=cvv)
    assert card.brand == expected_brand
    assert card.masked_pan == pan[:6] + "*" * (len(pan) - 10) + pan[-4:]


MALFORMED = [
    ({"pan": "4111111111111112"}, "pan", "Invalid card number."),  # bad Luhn
    ({"pan": "4111abcd11111111"}, "pan", "Invalid card number."),  # letters
    ({"pan": "411111111111"}, "pan", "Invalid card number."),  # 12 digits
    ({"pan": "41111111111111111113"}, "pan", "Invalid card number."),  # 20 digits
    ({"pan": "9000000000000001"}, "pan", "This card brand is not supported."),  # Luhn-valid, unknown IIN
    ({"pan": 4111111111111111.0}, "pan", "Invalid card number."),  # a JSON number that is a float
    ({"expiry": "13/34"}, "expiry", "Invalid expiry date: use MM/YY."),
    ({"expiry": "1/34"}, "expiry", "Invalid expiry date: use MM/YY."),
    ({"expiry": "12-34"}, "expiry", "Invalid expiry date: use MM/YY."),
    ({"expiry": "01/20"}, "expiry", "The card has expired."),
    ({"expiry": "12/99"}, "expiry", "Invalid expiry date: use MM/YY."),  # 2099: beyond any issuer's range
    ({"cvv": "12"}, "cvv", "Invalid security code."),  # 2 digits
    ({"cvv": "1a3"}, "cvv", "Invalid security code."),  # letters
    ({"cvv": "12345"}, "cvv", "Invalid security code."),  # 5 digits
    ({"cvv": "1234"}, "cvv", "Invalid security code."),  # 4 digits on a Visa
    ({"pan": AMEX, "cvv": "123"}, "cvv", "Invalid security code."),  # 3 digits on an Amex
    ({"cvv": ""}, "cvv", "Invalid security code."),
    ({"holder": "R2-D2 1234"}, "holder", "Invalid card holder name."),
]


@pytest.mark.parametrize(("override", "field", "message"), MALFORMED)
def test_malformed_cards_answer_400_in_the_error_shape_without_echoing_values(customer, override, field, message):
    user, _ = customer
    body = {"pan": VISA, "expiry": FUTURE, "cvv": "123", "holder": "T Mokoena", **override}
    audit_before = AuditEvent.objects.count()
    response = api_client(user).post("/api/v1/cards/", body, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["fields"][field] == [message]
    text = response.content.decode()
    for value in body.values():
        if str(value).strip() and str(value) not in ("T Mokoena",):
            assert str(value) not in text
    assert Card.objects.count() == 0
    assert AuditEvent.objects.count() == audit_before


@pytest.mark.parametrize("missing", ["pan", "expiry", "cvv"])
def test_missing_card_fields_answer_400(customer, missing):
    user, _ = customer
    body = {"pan": VISA, "expiry": FUTURE, "cvv": "123"}
    del body[missing]
    response = api_client(user).post("/api/v1/cards/", body, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {missing: ["This field is required."]}
    assert Card.objects.count() == 0


def test_the_service_refuses_malformed_input_too(customer):
    """Defence in depth: the service validates whatever the caller (view, admin, task) passes."""
    user, _ = customer
    for kwargs, code in [
        ({"pan": "4111111111111112"}, "invalid_card_number"),
        ({"pan": None}, "invalid_card_number"),
        ({"expiry": "00/34"}, "invalid_expiry"),
        ({"cvv": "12"}, "invalid_security_code"),
        ({"cvv": 123}, "invalid_security_code"),
    ]:
        with pytest.raises(LedgerError) as caught:
            add_card(user, **kwargs)
        assert caught.value.code == code
        assert "4111" not in str(caught.value) and "123" not in str(caught.value.args)
    assert Card.objects.count() == 0


def test_a_declined_verification_stores_nothing(customer):
    user, _ = customer
    audit_before = AuditEvent.objects.count()
    response = api_client(user).post("/api/v1/cards/", {"pan": VISA, "expiry": FUTURE, "cvv": "000"}, format="json")
    assert response.status_code == 422
    assert response.json()["error"] == {
        "code": "card_verification_failed",
        "message": "The card could not be verified.",
    }
    assert Card.objects.count() == 0 and AuditEvent.objects.count() == audit_before


def test_adding_the_same_card_twice_is_409_but_another_customer_may_add_it(customer, other_customer):
    user, _ = customer
    other, _ = other_customer
    add_card(user)
    response = api_client(user).post(
        "/api/v1/cards/", {"pan": "4111-1111-1111-1111", "expiry": "01/33", "cvv": "321"}, format="json"
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "card_already_added"
    assert Card.objects.filter(owner=user).count() == 1
    assert (
        api_client(other)
        .post("/api/v1/cards/", {"pan": VISA, "expiry": FUTURE, "cvv": "123"}, format="json")
        .status_code
        == 201
    )


def test_adding_a_card_needs_a_recent_mfa(customer):
    user, _ = customer
    response = api_client(user, mfa=False).post(
        "/api/v1/cards/", {"pan": VISA, "expiry": FUTURE, "cvv": "123"}, format="json"
    )
    assert response.status_code == 403
    assert Card.objects.count() == 0


def test_customers_see_only_their_own_cards_and_others_are_404_everywhere(
    customer, other_customer, reveal_operations, django_assert_max_num_queries
):
    user, _ = customer
    other, other_wallet = other_customer
    mine = add_card(user)
    theirs = add_card(other, pan=MASTERCARD)
    client = api_client(user)
    with django_assert_max_num_queries(3):
        listed = client.get("/api/v1/cards/")
    assert [c["id"] for c in listed.json()["results"]] == [str(mine.public_id)]
    before = ledger_snapshot()
    assert client.get(f"/api/v1/cards/{theirs.public_id}/").status_code == 404
    assert client.delete(f"/api/v1/cards/{theirs.public_id}/").status_code == 404
    # Depositing into one's own wallet from someone else's card: not found, nothing moves.
    response = post_card_deposit(client, other_wallet, theirs, 100)
    assert response.status_code == 404
    wallet = services.wallet_ensure(owner=user)
    response = post_card_deposit(client, wallet, theirs, 100)
    assert response.status_code == 404
    assert ledger_snapshot() == before
    theirs.refresh_from_db()
    assert theirs.active and theirs.pan == MASTERCARD
    # Customers cannot reveal, not even their own card.
    assert client.post(f"/api/v1/ops/cards/{mine.public_id}/reveal/", {"reason": "x"}, format="json").status_code == 403


def test_deposit_by_card_references_the_card_id(customer):
    user, wallet = customer
    card = add_card(user)
    response = api_client(user).post(
        "/api/v1/deposits/",
        {"account": str(wallet.public_id), "amount": 2_500, "currency": "ZAR", "method": "card",
         "funding_source": str(card.public_id)},
        format="json", HTTP_IDEMPOTENCY_KEY=new_key(),
    )  # fmt: skip
    assert response.status_code == 201, response.content
    entry = JournalEntry.objects.get(public_id=response.json()["id"])
    assert (entry.channel, entry.external_reference, entry.amount) == ("card", str(card.public_id), 2_500)
    event = AuditEvent.objects.get(action=AuditAction.DEPOSIT, object_id=str(entry.public_id))
    assert event.change_diff["channel"] == "card"


def test_a_card_number_is_never_accepted_as_a_funding_source(customer):
    user, wallet = customer
    before = ledger_snapshot()
    response = api_client(user).post(
        "/api/v1/deposits/",
        {"account": str(wallet.public_id), "amount": 100, "currency": "ZAR", "method": "card", "funding_source": VISA},
        format="json", HTTP_IDEMPOTENCY_KEY=new_key(),
    )  # fmt: skip
    assert response.status_code == 400
    assert VISA not in response.content.decode()
    assert ledger_snapshot() == before


def test_removing_a_card_erases_the_pan_and_blocks_its_use(customer, reveal_operations):
    user, wallet = customer
    card = add_card(user)
    client = api_client(user)
    assert client.delete(f"/api/v1/cards/{card.public_id}/").status_code == 204
    row = raw_card(card)
    assert (row["pan"], row["pan_index"], row["holder"], row["active"]) == (None, None, None, False)
    assert (row["first6"], row["last4"]) == ("411111", "1111")
    assert client.get(f"/api/v1/cards/{card.public_id}/").json()["active"] is False
    assert AuditEvent.objects.filter(action=AuditAction.CARD_REMOVED, object_id=str(card.public_id)).count() == 1
    before = ledger_snapshot()
    response = client.post(
        "/api/v1/deposits/",
        {"account": str(wallet.public_id), "amount": 100, "currency": "ZAR", "method": "card",
         "funding_source": str(card.public_id)},
        format="json", HTTP_IDEMPOTENCY_KEY=new_key(),
    )  # fmt: skip
    assert response.status_code == 404
    assert ledger_snapshot() == before
    ops = api_client(reveal_operations)
    assert (
        ops.post(f"/api/v1/ops/cards/{card.public_id}/reveal/", {"reason": "dispute"}, format="json").status_code == 404
    )
    # The same card can be added again afterwards (uniqueness is among active cards).
    assert add_card(user).active


def test_reveal_is_for_operations_with_recent_mfa_and_a_reason_and_is_audited(customer, reveal_operations, auditor):
    user, _ = customer
    card = add_card(user)
    url = f"/api/v1/ops/cards/{card.public_id}/reveal/"
    assert api_client(reveal_operations, mfa=False).post(url, {"reason": "dispute"}, format="json").status_code == 403
    assert api_client(auditor).post(url, {"reason": "dispute"}, format="json").status_code == 403
    assert api_client(reveal_operations).post(url, {}, format="json").status_code == 400
    assert AuditEvent.objects.filter(action=AuditAction.CARD_DATA_ACCESS).count() == 0
    response = api_client(reveal_operations).post(url, {"reason": "chargeback 2026-114"}, format="json")
    assert response.status_code == 200
    assert response.json() == {"id": str(card.public_id), "pan": VISA, "expiry": FUTURE}
    assert response["Cache-Control"] == "no-store"
    event = AuditEvent.objects.get(action=AuditAction.CARD_DATA_ACCESS)
    assert (event.user_id, event.object_type, event.object_id) == (
        reveal_operations.pk,
        "ledger.Card",
        str(card.public_id),
    )
    assert event.change_diff == {"fields": ["pan"], "purpose": "chargeback 2026-114"}
    assert VISA not in json.dumps(event.change_diff)


def test_superuser_status_alone_does_not_reveal(customer, admin_user):
    user, _ = customer
    card = add_card(user)
    assert not cards.can_reveal_pan(admin_user)
    response = api_client(admin_user).post(
        f"/api/v1/ops/cards/{card.public_id}/reveal/", {"reason": "x"}, format="json"
    )
    assert response.status_code == 403
    assert AuditEvent.objects.filter(action=AuditAction.CARD_DATA_ACCESS).count() == 0


def test_card_admin_is_read_only_and_masked(client, customer, other_customer, django_assert_max_num_queries):
    from tests.personas import otp_admin_login

    user, _ = customer
    other, _ = other_customer
    card = add_card(user)
    add_card(other, pan=MASTERCARD, holder="Other Holder")
    viewer = make_staff(roles.AUDITOR)  # the auditor role holds ledger.view_card
    otp_admin_login(client, viewer)
    with django_assert_max_num_queries(12):
        listing = client.get("/admin/ledger/card/")
    assert listing.status_code == 200
    page = listing.content.decode()
    # Staff screens show the last four digits only (least privilege; the owner's API keeps the BIN).
    assert "***1111" in page and "***4444" in page and "411111******" not in page
    detail = client.get(f"/admin/ledger/card/{card.pk}/change/")
    assert detail.status_code == 200
    for text in (page, detail.content.decode()):
        assert VISA not in text and MASTERCARD not in text
        assert "T MOKOENA" not in text and "Other Holder" not in text  # the holder name is not shown either
        assert "v1:" not in text and "s1:" not in text  # no ciphertext or blind index
    assert client.get("/admin/ledger/card/add/").status_code == 403
    before = raw_card(card)
    assert client.post(f"/admin/ledger/card/{card.pk}/delete/", {"post": "yes"}).status_code == 403
    assert client.post(f"/admin/ledger/card/{card.pk}/change/", {"brand": "amex"}).status_code == 403
    assert raw_card(card) == before


def test_a_deletion_request_erases_the_pan_and_holder_and_keeps_the_truncation(customer):
    """The PI inventory drives DSAR erasure: pan/holder are cleared, first6/last4/expiry kept on hold."""
    from compliance.dsar import services as dsar_services
    from compliance.dsar.erasure import erase_subject
    from tests.compliance.dsar.conftest import make_user

    user, _ = customer
    card = add_card(user)
    first, second = (make_user(f"officer-{n}@fintech.example", staff=True, officer=True) for n in (1, 2))
    dsar = dsar_services.dsar_file(subject=user, filed_by=user, type="deletion")
    dsar_services.dsar_verify_identity(actor=first, dsar=dsar, evidence="ID document seen")
    dsar_services.dsar_assign(actor=first, dsar=dsar)
    dsar_services.dsar_request_approval(actor=first, dsar=dsar)
    # The wallet's money first (issue 16: a deletion never strands a balance).
    dsar_services.dsar_settle_balance(actor=first, dsar=dsar, method="unclaimed")
    dsar = dsar_services.dsar_approve(actor=second, dsar=dsar)
    statement = erase_subject(dsar=dsar)
    assert statement is not None and VISA not in statement
    row = raw_card(card)
    assert (row["pan"], row["pan_index"], row["holder"]) == (None, None, None)
    assert (row["first6"], row["last4"], row["expiry_month"], row["expiry_year"]) == (
        "411111",
        "1111",
        12,
        2000 + int(FUTURE[3:]),
    )
    with pytest.raises(LedgerError) as caught:
        cards.card_for_deposit(viewer=user, public_id=card.public_id)
    assert caught.value.code == "not_found"

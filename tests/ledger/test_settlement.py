"""Issue 15, "customers mint money": deposits are claims until a verified settlement posts them.

Written as the attack: each request that used to succeed (or would, without the rule) now fails
with a 4xx in the JSON error shape and changes nothing (ledger_snapshot before == after).
"""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.db import DatabaseError, IntegrityError, transaction
from django.utils import timezone

from accounts import roles
from compliance.audit.services import AuditAction
from compliance.models import AuditEvent
from fintech.schedule import BEAT_SCHEDULE
from ledger import services, tasks
from ledger.cards import services as cards
from ledger.exceptions import LedgerError
from ledger.models import JournalEntry, LedgerAccount, PendingResolution, WebhookEvent
from ledger.reconciliation import check_ledger
from ledger.settlement import processors, sandbox
from ledger.settlement import services as settlement
from tests.kernel.test_errors import assert_error_shape
from tests.ledger.conftest import api_client, card_expiry, ledger_snapshot, new_key, sa_id, settle

pytestmark = pytest.mark.django_db

R100_MILLION = 10_000_000_000  # R100,000,000.00 in cents: the amount of the attack


def _eft_deposit(client, wallet, amount, funding_source="INVENTED-FUNDING-SOURCE"):
    return client.post(
        "/api/v1/deposits/",
        {"account": str(wallet.public_id), "amount": amount, "currency": "ZAR", "method": "eft",
         "funding_source": funding_source},
        format="json", HTTP_IDEMPOTENCY_KEY=new_key(),
    )  # fmt: skip


def _deliver(client, callback: processors.Callback, path: str | None = None):
    path = (
        path
        or {"bank": "/api/v1/webhooks/bank/", "card_processor": "/api/v1/webhooks/card-processor/"}[callback.provider]
    )
    headers = {f"HTTP_{name.upper().replace('-', '_')}": value for name, value in callback.headers.items()}
    return client.post(path, data=callback.body, content_type="application/json", **headers)


def _bank(event: str, entry_id, amount: int, **kwargs) -> processors.Callback:
    data = {"reference": str(entry_id), "amount": amount, "currency": "ZAR"}
    return processors.signed_callback("bank", event, data, **kwargs)


def _wallet(wallet) -> tuple[int, int, int, int]:
    wallet.refresh_from_db()
    return wallet.balance, wallet.available_balance, wallet.pending_credits, wallet.pending_debits


# --- The critical finding --------------------------------------------------------------------------------


def test_the_invented_funding_source_r100_million_deposit_sent_twice_mints_nothing(make_customer):
    alice, wallet = make_customer(tier=3)
    client = api_client(alice)
    before = ledger_snapshot()
    # The attack: [201, 201] and R200,000,000.00 credited. Now: beyond the tier's inflow limit, refused.
    answers = [_eft_deposit(client, wallet, R100_MILLION), _eft_deposit(client, wallet, R100_MILLION)]
    for answer in answers:
        assert_error_shape(answer, 403, "daily_limit_exceeded")
    assert ledger_snapshot() == before
    assert _wallet(wallet) == (0, 0, 0, 0)


def test_a_deposit_within_the_limit_is_a_claim_that_cannot_be_spent(make_customer, other_customer):
    alice, wallet = make_customer(tier=3)
    _, b_wallet = other_customer
    client = api_client(alice)
    for _ in range(2):
        answer = _eft_deposit(client, wallet, 4_000_000)
        assert answer.status_code == 201
        assert answer.json()["status"] == "pending" and answer.json()["balance_after"] == 0
    assert _wallet(wallet) == (0, 0, 8_000_000, 0)  # claimed, not credited, not spendable
    before = ledger_snapshot()
    transfer = client.post(
        "/api/v1/transfers/",
        {"source_account": str(wallet.public_id), "destination_account": str(b_wallet.public_id), "amount": 1,
         "currency": "ZAR"},
        format="json", HTTP_IDEMPOTENCY_KEY=new_key(),
    )  # fmt: skip
    assert_error_shape(transfer, 422, "insufficient_funds")
    assert ledger_snapshot() == before
    assert check_ledger().ok


def test_money_in_counts_against_the_kyc_tier_limit(make_customer):
    alice, wallet = make_customer(tier=1)  # R5,000.00 a day in
    assert services.deposit_create(
        actor=alice, account=wallet.public_id, amount=400_000, currency="ZAR", channel="eft",
        funding_source="EFT-A", idempotency_key=new_key(),
    ).extra["status"] == "pending"  # fmt: skip
    before = ledger_snapshot()
    with pytest.raises(LedgerError) as refused:
        services.deposit_create(
            actor=alice, account=wallet.public_id, amount=100_001, currency="ZAR", channel="eft",
            funding_source="EFT-B", idempotency_key=new_key(),
        )  # fmt: skip
    assert refused.value.code == "daily_limit_exceeded"
    assert ledger_snapshot() == before


# --- Provider notifications: Standard Webhooks --------------------------------------------------------------


@pytest.fixture
def pending_eft(make_customer):
    alice, wallet = make_customer(tier=2)
    result = services.deposit_create(
        actor=alice, account=wallet.public_id, amount=250_000, currency="ZAR", channel="eft",
        funding_source="EFT-REF-77", idempotency_key=new_key(),
    )  # fmt: skip
    return alice, wallet, result.entry_public_id


def test_a_signed_bank_notification_posts_the_deposit_once_and_a_replay_changes_nothing(client, pending_eft):
    _, wallet, entry_id = pending_eft
    callback = _bank("deposit.received", entry_id, 250_000)
    answer = _deliver(client, callback)
    assert answer.status_code == 200 and answer.json()["status"] == "posted"
    assert _wallet(wallet) == (250_000, 250_000, 0, 0)
    before = ledger_snapshot()
    # The same delivery again (a captured request replayed inside the tolerance window).
    assert_error_shape(_deliver(client, callback), 409, "webhook_replayed")
    # The same settlement under a new event id (the provider, or an attacker with the secret, twice).
    assert_error_shape(_deliver(client, _bank("deposit.received", entry_id, 250_000)), 409, "already_resolved")
    assert ledger_snapshot() == before
    assert _wallet(wallet) == (250_000, 250_000, 0, 0)
    assert check_ledger().ok


def _signed(entry_id, **kwargs) -> processors.Callback:
    return _bank("deposit.received", entry_id, 250_000, **kwargs)


def _wrong_secret(entry_id):
    return _signed(entry_id, secret="whsec_QUFBQUFBQUFBQUFB")


def _stale(entry_id):
    return _signed(entry_id, at=timezone.now() - dt.timedelta(minutes=6))


def _future(entry_id):
    return _signed(entry_id, at=timezone.now() + dt.timedelta(minutes=6))


def _tampered_body(entry_id):
    genuine = _signed(entry_id)
    return processors.Callback("bank", genuine.body.replace(b"250000", b"25000000"), genuine.headers)


def _unsigned(entry_id):
    return processors.Callback("bank", _signed(entry_id).body, {})


def _garbage_signature(entry_id):
    genuine = _signed(entry_id)
    return processors.Callback("bank", genuine.body, {**genuine.headers, "webhook-signature": "v1,not-base64!"})


@pytest.mark.parametrize("forge", [_wrong_secret, _stale, _future, _tampered_body, _unsigned, _garbage_signature])
def test_forged_stale_and_tampered_notifications_answer_401_and_change_nothing(client, pending_eft, forge):
    _, wallet, entry_id = pending_eft
    before, audits = ledger_snapshot(), AuditEvent.objects.filter(action=AuditAction.SETTLEMENT_REFUSED).count()
    assert_error_shape(_deliver(client, forge(entry_id)), 401, "webhook_unverified")
    assert ledger_snapshot() == before
    assert _wallet(wallet) == (0, 0, 250_000, 0)
    refusal = AuditEvent.objects.filter(action=AuditAction.SETTLEMENT_REFUSED).order_by("-id").first()
    assert AuditEvent.objects.filter(action=AuditAction.SETTLEMENT_REFUSED).count() == audits + 1
    assert refusal.change_diff["code"] == "webhook_unverified" and refusal.actor_type == "anonymous"


def test_a_notification_must_match_the_movement_and_come_from_its_provider(client, pending_eft):
    _, _, entry_id = pending_eft
    before = ledger_snapshot()
    assert_error_shape(_deliver(client, _bank("deposit.received", entry_id, 250_001)), 422, "settlement_mismatch")
    # The card processor's secret cannot settle an EFT deposit, nor the bank's a payout that is not one.
    card_event = processors.signed_callback(
        "card_processor", "payment.captured", {"reference": str(entry_id), "amount": 250_000, "currency": "ZAR"}
    )
    assert_error_shape(_deliver(client, card_event), 404, "not_found")
    assert_error_shape(_deliver(client, _bank("payout.paid", entry_id, 250_000)), 404, "not_found")
    # A bank-signed body delivered to the card processor's endpoint is not verified there.
    assert_error_shape(
        _deliver(client, _bank("deposit.received", entry_id, 250_000), "/api/v1/webhooks/card-processor/"),
        401,
        "webhook_unverified",
    )
    unknown = processors.signed_callback("bank", "deposit.reversed", {"reference": str(entry_id), "amount": 1})
    assert_error_shape(_deliver(client, unknown), 400, "webhook_invalid")
    assert ledger_snapshot() == before
    assert WebhookEvent.objects.count() == 0


def test_a_rotated_secret_still_verifies_during_the_overlap(client, pending_eft, settings):
    _, _, entry_id = pending_eft
    old = settings.LEDGER_WEBHOOK_SECRETS["bank"][0]
    settings.LEDGER_WEBHOOK_SECRETS = {
        **settings.LEDGER_WEBHOOK_SECRETS,
        "bank": ["whsec_TkVXLVNFQ1JFVC0xMjM0NTY=", old],
    }
    assert _deliver(client, _bank("deposit.received", entry_id, 250_000, secret=old)).status_code == 200


# --- Card deposits: processor interface (authorise -> capture/void) -----------------------------------------


def test_a_card_deposit_posts_only_on_the_processors_signed_capture(client, make_customer):
    sandbox.OUTBOX.clear()
    alice, wallet = make_customer(tier=2)
    card = cards.card_add(actor=alice, pan="4111111111111111", expiry=card_expiry(), cvv="123")
    answer = api_client(alice).post(
        "/api/v1/deposits/",
        {"account": str(wallet.public_id), "amount": 9_900, "currency": "ZAR", "method": "card",
         "funding_source": str(card.public_id)},
        format="json", HTTP_IDEMPOTENCY_KEY=new_key(),
    )  # fmt: skip
    assert answer.status_code == 201 and answer.json()["status"] == "pending"
    assert _wallet(wallet) == (0, 0, 9_900, 0)
    (capture,) = sandbox.OUTBOX
    sandbox.OUTBOX.clear()
    assert json.loads(capture.body)["type"] == "payment.captured"
    assert capture.headers["webhook-signature"].startswith("v1,")
    assert _deliver(client, capture).json()["status"] == "posted"
    assert _wallet(wallet) == (9_900, 9_900, 0, 0)


# --- Withdrawals ------------------------------------------------------------------------------------------------


def test_a_withdrawal_is_pending_until_the_payout_and_a_failed_payout_gives_the_money_back(
    client, customer, operations
):
    alice, wallet = customer
    bank = services.bank_account_add(actor=alice, bank_name="Bank", branch_code="250655", account_number="62000077")
    services.bank_account_verify(actor=operations, bank_account=bank.public_id)
    paid = services.withdrawal_create(
        actor=alice, account=wallet.public_id, bank_account=bank.public_id, amount=30_000, currency="ZAR",
        idempotency_key=new_key(),
    )  # fmt: skip
    failed = services.withdrawal_create(
        actor=alice, account=wallet.public_id, bank_account=bank.public_id, amount=20_000, currency="ZAR",
        idempotency_key=new_key(),
    )  # fmt: skip
    assert _wallet(wallet) == (100_000, 50_000, 0, 50_000)
    assert _deliver(client, _bank("payout.failed", failed.entry_public_id, 20_000)).json()["status"] == "voided"
    assert _wallet(wallet) == (100_000, 70_000, 0, 30_000)
    assert _deliver(client, _bank("payout.paid", paid.entry_public_id, 30_000)).json()["status"] == "posted"
    assert _wallet(wallet) == (70_000, 70_000, 0, 0)
    assert check_ledger().ok


# --- Operations: a second person against a bank statement line -------------------------------------------------


@pytest.fixture
def second_operations(db):
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create_user(email=f"ops2-{uuid.uuid4().hex[:8]}@example.test", is_staff=True)
    user.groups.add(Group.objects.get_or_create(name=roles.OPERATIONS)[0])
    return user


def test_one_operations_user_alone_cannot_post_a_deposit(pending_eft, operations, second_operations):
    _, wallet, entry_id = pending_eft
    first = api_client(operations)
    base = f"/api/v1/ops/pending/{entry_id}"
    assert_error_shape(first.post(f"{base}/confirm/", {}, format="json"), 409, "statement_line_required")
    recorded = first.post(f"{base}/statement-line/", {"statement_line": "FNB 2026-12-02 #4411"}, format="json")
    assert recorded.status_code == 201 and recorded.json()["statement_line_recorded"] is True
    before = ledger_snapshot()
    assert_error_shape(first.post(f"{base}/confirm/", {}, format="json"), 403, "second_person_required")
    assert ledger_snapshot() == before
    answer = api_client(second_operations).post(f"{base}/confirm/", {}, format="json")
    assert answer.status_code == 200 and answer.json()["status"] == "posted"
    assert _wallet(wallet) == (250_000, 250_000, 0, 0)
    resolution = PendingResolution.objects.get(pending_entry__public_id=entry_id)
    assert (resolution.recorded_by, resolution.decided_by, resolution.source) == (
        operations, second_operations, "operations",
    )  # fmt: skip
    assert AuditEvent.objects.filter(action=AuditAction.SETTLEMENT_POSTED, object_id=str(entry_id)).count() == 1
    assert AuditEvent.objects.filter(action=AuditAction.STATEMENT_LINE_RECORDED, object_id=str(entry_id)).count() == 1


def test_staff_cannot_settle_a_deposit_into_their_own_wallet(operations, second_operations):
    """The finding: an operations user deposited into their own customer wallet and approved their own work."""
    from ledger.models import KycRecord

    record = services.kyc_submit(
        actor=operations, id_number=sa_id(), date_of_birth=dt.date(1990, 1, 15), document_reference="D"
    )
    KycRecord.objects.filter(pk=record.pk).update(status="verified", tier=3)
    wallet = services.wallet_ensure(owner=operations)
    result = services.deposit_create(
        actor=operations, account=wallet.public_id, amount=1_000_000, currency="ZAR", channel="eft",
        funding_source="INVENTED", idempotency_key=new_key(),
    )  # fmt: skip
    base = f"/api/v1/ops/pending/{result.entry_public_id}"
    before = ledger_snapshot()
    own = api_client(operations)
    assert_error_shape(
        own.post(f"{base}/statement-line/", {"statement_line": "X-1"}, format="json"), 403, "own_account"
    )
    # A colleague records the line; the owner still cannot confirm it.
    assert (
        api_client(second_operations)
        .post(f"{base}/statement-line/", {"statement_line": "X-1"}, format="json")
        .status_code
        == 201
    )
    assert_error_shape(own.post(f"{base}/confirm/", {}, format="json"), 403, "own_account")
    assert LedgerAccount.objects.get(pk=wallet.pk).balance == 0
    assert ledger_snapshot()["balances"] == before["balances"]


def test_card_deposits_are_not_settled_by_operations(make_customer, operations):
    sandbox.OUTBOX.clear()
    alice, wallet = make_customer()
    card = cards.card_add(actor=alice, pan="4111111111111111", expiry=card_expiry(), cvv="123")
    result = services.deposit_create(
        actor=alice, account=wallet.public_id, amount=1_000, currency="ZAR", channel="card",
        funding_source=str(card.public_id), idempotency_key=new_key(),
    )  # fmt: skip
    sandbox.OUTBOX.clear()
    answer = api_client(operations).post(
        f"/api/v1/ops/pending/{result.entry_public_id}/statement-line/", {"statement_line": "L"}, format="json"
    )
    assert_error_shape(answer, 409, "not_confirmable")


def test_customers_cannot_use_the_operations_endpoints(pending_eft):
    alice, _, entry_id = pending_eft
    client = api_client(alice)
    assert client.post(f"/api/v1/ops/pending/{entry_id}/statement-line/", {"statement_line": "L"}).status_code == 403
    assert client.post(f"/api/v1/ops/pending/{entry_id}/confirm/", {}).status_code == 403
    assert client.get("/api/v1/ops/pending/").status_code == 403


def test_pending_listings(pending_eft, operations, other_customer):
    alice, _, entry_id = pending_eft
    mine = api_client(alice).get("/api/v1/pending/").json()
    assert (mine[0]["id"], mine[0]["status"], mine[0]["amount"]) == (str(entry_id), "pending", 250_000)
    assert mine[0]["expires_at"] is not None and mine[0]["settled_entry"] is None
    bob, _ = other_customer
    assert str(entry_id) not in {m["id"] for m in api_client(bob).get("/api/v1/pending/").json()}
    queue = api_client(operations).get("/api/v1/ops/pending/").json()
    assert str(entry_id) in {m["id"] for m in queue}
    settle(entry_id)
    assert str(entry_id) not in {m["id"] for m in api_client(operations).get("/api/v1/ops/pending/").json()}
    (settled,) = [m for m in api_client(alice).get("/api/v1/pending/").json() if m["id"] == str(entry_id)]
    assert settled["status"] == "posted" and settled["settled_entry"] is not None


def test_a_pending_movement_is_voided_not_reversed(pending_eft, operations):
    _, _, entry_id = pending_eft
    with pytest.raises(LedgerError) as refused:
        services.reversal_create(actor=operations, entry=entry_id, reason="no")
    assert refused.value.code == "pending_not_reversible"


# --- Expiry -------------------------------------------------------------------------------------------------------


def test_unsettled_deposits_expire_and_void_once(pending_eft, client, django_capture_on_commit_callbacks):
    _, wallet, entry_id = pending_eft
    assert settlement.expire_pending_deposits() == 0  # not due yet
    later = timezone.now() + dt.timedelta(hours=73)
    assert settlement.expire_pending_deposits(now=later) == 1
    assert settlement.expire_pending_deposits(now=later) == 0  # idempotent
    assert _wallet(wallet) == (0, 0, 0, 0)
    assert PendingResolution.objects.get(pending_entry__public_id=entry_id).outcome == "voided"
    # The bank's late notification cannot revive it.
    assert_error_shape(_deliver(client, _bank("deposit.received", entry_id, 250_000)), 409, "already_resolved")
    assert check_ledger().ok


def test_an_expired_card_deposit_releases_the_hold_after_commit(make_customer, django_capture_on_commit_callbacks):
    sandbox.OUTBOX.clear()
    alice, wallet = make_customer()
    card = cards.card_add(actor=alice, pan="4111111111111111", expiry=card_expiry(), cvv="123")
    services.deposit_create(
        actor=alice, account=wallet.public_id, amount=1_000, currency="ZAR", channel="card",
        funding_source=str(card.public_id), idempotency_key=new_key(),
    )  # fmt: skip
    sandbox.OUTBOX.clear()
    with django_capture_on_commit_callbacks() as callbacks:
        assert settlement.expire_pending_deposits(now=timezone.now() + dt.timedelta(hours=73)) == 1
    assert len(callbacks) == 1  # void_card_authorisation, enqueued only once the void committed


def test_expiry_is_a_scheduled_idempotent_late_acking_task():
    entry = BEAT_SCHEDULE["ledger-expire-pending-deposits"]
    assert entry["task"] == "ledger.tasks.expire_pending_deposits" == tasks.expire_pending_deposits_task.name
    assert tasks.expire_pending_deposits_task.acks_late and tasks.void_card_authorisation.acks_late
    assert tasks.expire_pending_deposits_task() == {"voided": 0}


# --- Database guards and reconciliation ---------------------------------------------------------------------------


def test_settlement_records_are_insert_only_and_available_balance_cannot_go_negative(client, pending_eft):
    _, wallet, entry_id = pending_eft
    _deliver(client, _bank("deposit.received", entry_id, 250_000))
    resolution = PendingResolution.objects.get(pending_entry__public_id=entry_id)
    for attempt in (
        lambda: PendingResolution.objects.filter(pk=resolution.pk).update(outcome="voided"),
        lambda: PendingResolution.objects.filter(pk=resolution.pk).delete(),
        lambda: WebhookEvent.objects.update(event_id="x"),
    ):
        with pytest.raises(DatabaseError, match="insert_only"), transaction.atomic():
            attempt()
    with pytest.raises(IntegrityError), transaction.atomic():
        LedgerAccount.objects.filter(pk=wallet.pk).update(pending_debits=250_001)


def test_check_ledger_proves_posted_and_pending_separately(pending_eft, capsys):
    _, wallet, _ = pending_eft
    call_command("check_ledger")
    out = capsys.readouterr().out
    assert "pending: 2 unresolved postings, 250000 minor units claimed" in out
    report = check_ledger()
    assert (report.pending_postings, report.pending_volume) == (2, 250_000)
    # A planted defect in the pending totals (the balance is untouched) is found.
    LedgerAccount.objects.filter(pk=wallet.pk).update(pending_credits=250_001)
    problems = check_ledger().problems
    assert problems == [
        f"account {wallet.public_id}: pending debits 0 / credits 250001 != unresolved pending postings 0 / 250000"
    ]


def test_a_second_resolution_of_one_pending_entry_is_refused_by_the_database(pending_eft):
    _, _, entry_id = pending_eft
    settle(entry_id)
    entry = JournalEntry.objects.get(public_id=entry_id)
    with pytest.raises(IntegrityError), transaction.atomic():
        PendingResolution.objects.create(pending_entry=entry, outcome="voided", source="expiry")


def test_without_a_configured_processor_card_deposits_are_refused(make_customer, settings):
    """Production's default: no processor, so nothing (not the sandbox) can approve a card."""
    settings.LEDGER_CARD_PROCESSOR = ""
    alice, wallet = make_customer()
    card = cards.card_add(actor=alice, pan="4111111111111111", expiry=card_expiry(), cvv="123")
    before = ledger_snapshot()
    answer = api_client(alice).post(
        "/api/v1/deposits/",
        {"account": str(wallet.public_id), "amount": 1_000, "currency": "ZAR", "method": "card",
         "funding_source": str(card.public_id)},
        format="json", HTTP_IDEMPOTENCY_KEY=new_key(),
    )  # fmt: skip
    assert_error_shape(answer, 409, "card_deposits_unavailable")
    assert ledger_snapshot() == before

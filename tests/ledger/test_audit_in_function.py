"""The audit row ledger_move writes (PL/pgSQL) is the row audit_record writes (ORM engine).

Migration 0003 moved the movement's audit INSERT into the function so that a transfer is one round
trip. These tests run the same movements on both engines, with the same request id, client
address and actor, and compare every column of the resulting audit rows (except the row id and
timestamp, and the entry id the row points at, which differ by construction).
"""

from __future__ import annotations

import pytest
from django.test import RequestFactory

from compliance.audit.services import AuditAction
from compliance.models import AuditEvent
from kernel.request_context import reset_request_id, set_request_id
from ledger import services
from tests.ledger.conftest import new_key, settle

pytestmark = pytest.mark.django_db

COLUMNS = ("action", "user_id", "actor_type", "source_ip", "change_diff", "request_id", "object_type")


def _row(event: AuditEvent) -> dict:
    return {column: getattr(event, column) for column in COLUMNS}


def _movements(engine: str, settings, make_customer, operations) -> tuple[list[AuditEvent], dict, object]:
    settings.LEDGER_ENGINE = engine
    settings.LEDGER_SYSTEM_SHARDS = 1  # deposits and withdrawals then hit the same settlement row
    request = RequestFactory().post("/api/v1/transfers/", REMOTE_ADDR="203.0.113.7")
    token = set_request_id(f"req-audit-parity-{engine}-0001")
    try:
        alice, a = make_customer(balance=0)
        _bob, b = make_customer(balance=0)
        bank = services.bank_account_add(actor=alice, bank_name="Bank", branch_code="250655", account_number="62000099")
        services.bank_account_verify(actor=operations, bank_account=bank.public_id)
        before = AuditEvent.objects.count()
        deposit = services.deposit_create(
            actor=alice, account=a.public_id, amount=50_000, currency="ZAR", channel="eft",
            funding_source="EFT-PARITY", idempotency_key=new_key(), request=request,
        )  # fmt: skip
        settle(deposit)  # the bank's signed notification posts it (its own SETTLEMENT_POSTED row)
        key = new_key()
        transfer = services.transfer_create(
            actor=alice, source_account=a.public_id, destination_account=b.public_id, amount=1_234,
            currency="ZAR", idempotency_key=key, request=request,
        )  # fmt: skip
        replay = services.transfer_create(
            actor=alice, source_account=a.public_id, destination_account=b.public_id, amount=1_234,
            currency="ZAR", idempotency_key=key, request=request,
        )  # fmt: skip
        assert replay.replayed and replay.entry_public_id == transfer.entry_public_id
        withdrawal = services.withdrawal_create(
            actor=alice, account=a.public_id, bank_account=bank.public_id, amount=2_000, currency="ZAR",
            idempotency_key=new_key(), request=request,
        )  # fmt: skip
        reversal = services.reversal_create(
            actor=operations, entry=transfer.entry_public_id, reason="parity", request=request
        )
        results = [deposit, transfer, withdrawal, reversal]
        events = list(AuditEvent.objects.order_by("id")[before:])
        settlements = [e for e in events if e.action == AuditAction.SETTLEMENT_POSTED]
        assert [e.object_id for e in settlements] == [str(deposit.entry_public_id)]
        events = [e for e in events if e.action != AuditAction.SETTLEMENT_POSTED]
    finally:
        reset_request_id(token)
    # Four movements, four rows: the replay wrote none.
    assert [e.action for e in events] == [
        AuditAction.DEPOSIT,
        AuditAction.TRANSFER,
        AuditAction.WITHDRAW,
        AuditAction.REVERSAL,
    ]
    for event, result in zip(events, results, strict=True):
        assert event.object_id == str(result.entry_public_id)
        assert event.seq is None and event.hash is None  # inserted unsealed, like audit_record's
    names = {"alice": str(a.public_id), "bob": str(b.public_id), "transfer": str(transfer.entry_public_id)}
    return events, names, alice


def _normalised(events, names, alice) -> list[dict]:
    # Replace the run-specific ids (wallets, users) by roles, so two runs can be compared.
    lookup = {value: f"<{role}>" for role, value in names.items()}
    rows = []
    for event in events:
        row = _row(event)
        row["change_diff"] = {k: lookup.get(v, v) if isinstance(v, str) else v for k, v in row["change_diff"].items()}
        row["user_id"] = "<alice>" if row["user_id"] == alice.pk else row["user_id"]
        row["request_id"] = row["request_id"].replace("plpgsql", "ENGINE").replace("orm", "ENGINE")
        rows.append(row)
    return rows


def test_plpgsql_and_orm_write_the_same_audit_rows(settings, make_customer, operations):
    plpgsql = _normalised(*_movements("plpgsql", settings, make_customer, operations))
    orm = _normalised(*_movements("orm", settings, make_customer, operations))
    assert plpgsql == orm
    transfer = plpgsql[1]
    assert transfer == {
        "action": "TRANSFER",
        "user_id": "<alice>",
        "actor_type": "user",
        "source_ip": "203.0.113.7",
        "change_diff": {"amount": 1_234, "currency": "ZAR", "from_account": "<alice>", "to_account": "<bob>"},
        "request_id": "req-audit-parity-ENGINE-0001",
        "object_type": "ledger.JournalEntry",
    }
    # The payout account is masked the same way on both paths ("bank_account" names PI).
    assert plpgsql[2]["change_diff"]["bank_account"] == "***"
    assert plpgsql[0]["change_diff"]["channel"] == "eft"
    assert plpgsql[3]["change_diff"]["reverses"] == "<transfer>"
    assert plpgsql[3]["user_id"] == operations.pk


def test_a_refused_movement_leaves_no_audit_row_on_the_plpgsql_engine(settings, make_customer):
    settings.LEDGER_ENGINE = "plpgsql"
    alice, a = make_customer(balance=100)
    _, b = make_customer(balance=0)
    before = AuditEvent.objects.count()
    with pytest.raises(services.LedgerError):
        services.transfer_create(
            actor=alice, source_account=a.public_id, destination_account=b.public_id, amount=101, currency="ZAR",
            idempotency_key=new_key(),
        )  # fmt: skip
    assert AuditEvent.objects.count() == before
    a.refresh_from_db()
    assert a.balance == 100


@pytest.mark.django_db(transaction=True)
def test_transfer_is_one_statement_outside_a_transaction(
    settings, transactional_db, make_customer, django_assert_num_queries
):
    """On PostgreSQL the whole transfer (checks, postings, balances, audit row) is one round trip,
    no BEGIN/COMMIT: autocommit runs the one statement as one transaction."""
    settings.LEDGER_ENGINE = "plpgsql"
    alice, a = make_customer(balance=10_000)
    _, b = make_customer(balance=0)
    with django_assert_num_queries(1) as captured:
        result = services.transfer_create(
            actor=alice, source_account=a.public_id, destination_account=b.public_id, amount=5, currency="ZAR",
            idempotency_key=new_key(),
        )  # fmt: skip
    assert "ledger_move" in captured.captured_queries[0]["sql"]
    # Committed, with its audit row: the statement was its own transaction.
    assert AuditEvent.objects.filter(action=AuditAction.TRANSFER, object_id=str(result.entry_public_id)).count() == 1
    a.refresh_from_db()
    assert a.balance == 9_995
    with pytest.raises(services.LedgerError):
        services.transfer_create(
            actor=alice, source_account=a.public_id, destination_account=b.public_id, amount=10**6,
            currency="ZAR", idempotency_key=new_key(),
        )  # fmt: skip
    # The refused statement rolled itself back and left the connection usable.
    a.refresh_from_db()
    assert a.balance == 9_995
    assert AuditEvent.objects.filter(action=AuditAction.TRANSFER).count() == 1

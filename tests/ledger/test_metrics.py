"""Ledger movements are counted for Prometheus by type and outcome (SPEC C9: ledger ops)."""

from __future__ import annotations

import pytest


def test_ledger_operations_are_counted_by_type_and_outcome(db, client, make_customer):
    from prometheus_client import REGISTRY

    from ledger import services
    from ledger.exceptions import LedgerError
    from tests.ledger.conftest import new_key

    def count(kind: str, outcome: str) -> float:
        labels = {"type": kind, "outcome": outcome}
        return REGISTRY.get_sample_value("fintech_ledger_operations_total", labels) or 0

    (alice, a_wallet), (_, b_wallet) = make_customer(balance=1_000), make_customer()
    before = {outcome: count("transfer", outcome) for outcome in ("created", "replayed", "insufficient_funds")}
    key = new_key()
    for _ in range(2):  # made, then replayed
        services.transfer_create(
            actor=alice, source_account=a_wallet.public_id, destination_account=b_wallet.public_id, amount=10,
            currency="ZAR", idempotency_key=key,
        )  # fmt: skip
    with pytest.raises(LedgerError):
        services.transfer_create(
            actor=alice, source_account=a_wallet.public_id, destination_account=b_wallet.public_id, amount=5_000,
            currency="ZAR", idempotency_key=new_key(),
        )  # fmt: skip
    item = {"source_account": a_wallet.public_id, "destination_account": b_wallet.public_id, "amount": 1,
            "currency": "ZAR"}  # fmt: skip
    services.transfer_batch_create(actor=alice, transfers=[{**item, "idempotency_key": new_key()} for _ in range(3)])
    assert count("transfer", "created") - before["created"] == 1 + 3
    assert count("transfer", "replayed") - before["replayed"] == 1
    assert count("transfer", "insufficient_funds") - before["insufficient_funds"] == 1
    scraped = client.get("/metrics", REMOTE_ADDR="10.1.2.3").content.decode()
    assert 'fintech_ledger_operations_total{outcome="created",type="transfer"}' in scraped

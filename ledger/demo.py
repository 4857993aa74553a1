"""Demo ledger data for ``make run``: call ``load_demo_ledger(customer=...)`` from fintech's demo_data.

Idempotent: KYC is verified once, deposits and transfers use fixed idempotency keys, so a second
run replays instead of moving money again.

Money crossing the boundary is two-phase (ADR 0005), and the demo shows each ending: the salary
deposit (EFT) is settled by the sandbox bank's signed notification, the card top-up by the sandbox
card processor's signed capture, a bonus deposit stays *pending* (not spendable, voids after
LEDGER_PENDING_DEPOSIT_HOURS), and a withdrawal whose payout the bank reports failed is *voided*
(the money is available again). The sandbox callbacks go through the real webhook verification.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from accounts import roles
from ledger import services
from ledger.cards import services as cards
from ledger.kyc import luhn_check_digit
from ledger.models import BankAccount, KycRecord, KycStatus, LedgerAccount, ReversalRequest
from ledger.settlement import sandbox

DEMO_OPERATIONS_EMAIL = "ledger.operations@demo.fintech.example"
DEMO_SECOND_CUSTOMER_EMAIL = "customer.two@demo.fintech.example"


def _demo_id_number(date_of_birth: dt.date, sequence: str) -> str:
    first_twelve = date_of_birth.strftime("%y%m%d") + sequence + "08"
    return first_twelve + luhn_check_digit(first_twelve)


DEMO_SECOND_OPERATIONS_EMAIL = "ledger.operations.two@demo.fintech.example"
DEMO_AWAITING_CUSTOMER_EMAIL = "customer.tier2@demo.fintech.example"


def _second_operations(user_model: Any) -> Any:
    """A second operations user: tier 2+ KYC (and large reversals) need four eyes."""
    second = _demo_user(
        user_model, DEMO_SECOND_OPERATIONS_EMAIL, is_staff=True, first_name="Kagiso", last_name="Molefe"
    )
    second.groups.add(Group.objects.get_or_create(name=roles.OPERATIONS)[0])
    return second


def _kyc_awaiting_second_approval(user_model: Any, requester: Any) -> None:
    """A tier 2 verification asked for by the second operations user, waiting in the KYC queue for
    a colleague: the demo's operations login can give the second approval on the record's page."""
    waiting = _demo_user(user_model, DEMO_AWAITING_CUSTOMER_EMAIL, first_name="Lerato", last_name="Mahlangu")
    if KycRecord.objects.filter(user=waiting).exists():
        return
    record = services.kyc_submit(
        actor=waiting,
        id_number=_demo_id_number(dt.date(1979, 11, 2), "4021"),
        date_of_birth=dt.date(1979, 11, 2),
        document_reference="DEMO-DOC-4021",
    )
    services.kyc_decide(
        actor=requester, record=record.public_id, verify=True, tier=2, reason="ID book and proof of address seen"
    )


def _verified(customer: Any, operations: Any, date_of_birth: dt.date, sequence: str) -> LedgerAccount:
    record = KycRecord.objects.filter(user=customer).first()
    if record is None or record.status != KycStatus.VERIFIED:
        record = services.kyc_submit(
            actor=customer,
            id_number=_demo_id_number(date_of_birth, sequence),
            date_of_birth=date_of_birth,
            document_reference=f"DEMO-DOC-{sequence}",
        )
        services.kyc_decide(actor=operations, record=record.public_id, verify=True, tier=2, reason="demo")
        # Tier 2 is four eyes: a second operations user approves.
        second = _second_operations(get_user_model())
        services.kyc_approve(actor=second, record=record.public_id, approve=True)
    return services.wallet_ensure(owner=customer)


def _demo_user(user_model: Any, email: str, **fields: Any) -> Any:
    # The e-mail is encrypted: found through its blind index, created with a usable-never password.
    user = user_model.objects.filter_by_email(email).first()
    return user if user is not None else user_model.objects.create_user(email=email, password=None, **fields)


DEMO_DUPLICATE_CUSTOMER_EMAIL = "customer.duplicate@demo.fintech.example"


def _duplicate_identity_submission(user_model: Any) -> None:
    """A third customer submits the first demo customer's ID number: the KYC queue shows it flagged
    (duplicate identity), and verifying it is refused until a reviewer clears the flag."""
    duplicate = _demo_user(user_model, DEMO_DUPLICATE_CUSTOMER_EMAIL, first_name="Pieter", last_name="Botha")
    if not KycRecord.objects.filter(user=duplicate).exists():
        services.kyc_submit(
            actor=duplicate,
            id_number=_demo_id_number(dt.date(1990, 1, 15), "5009"),
            date_of_birth=dt.date(1990, 1, 15),
            document_reference="DEMO-DOC-DUP",
        )


def load_demo_ledger(*, customer: Any, operations: Any | None = None, second_customer: Any | None = None) -> None:
    user_model = get_user_model()
    if operations is None:
        operations = _demo_user(
            user_model, DEMO_OPERATIONS_EMAIL, is_staff=True, first_name="Refilwe", last_name="Sithole"
        )
        operations.groups.add(Group.objects.get_or_create(name=roles.OPERATIONS)[0])
    if second_customer is None:
        second_customer = _demo_user(user_model, DEMO_SECOND_CUSTOMER_EMAIL, first_name="Zanele", last_name="Khoza")
    wallet = _verified(customer, operations, dt.date(1990, 1, 15), "5009")
    other = _verified(second_customer, operations, dt.date(1985, 7, 3), "0087")
    _duplicate_identity_submission(user_model)
    _kyc_awaiting_second_approval(user_model, _second_operations(user_model))
    with sandbox.inline_callbacks():
        _money_in_and_out(customer, operations, second_customer, wallet, other)
    for number, (amount, reference) in enumerate([(12_500, "Dinner"), (40_000, "Rent share"), (7_550, "Taxi")]):
        services.transfer_create(
            actor=customer, source_account=wallet.public_id, destination_account=other.public_id, amount=amount,
            currency="ZAR", idempotency_key=f"demo-transfer-{number:04d}", reference=reference,
        )  # fmt: skip
    services.transfer_create(
        actor=second_customer, source_account=other.public_id, destination_account=wallet.public_id, amount=5_000,
        currency="ZAR", idempotency_key="demo-transfer-back-0001", reference="Change",
    )  # fmt: skip
    # A bulk payment (POST /api/v1/transfers/batch/): two transfers, one call, all or nothing.
    services.transfer_batch_create(
        actor=customer,
        transfers=[
            {"source_account": wallet.public_id, "destination_account": other.public_id, "amount": amount,
             "currency": "ZAR", "reference": reference, "idempotency_key": f"demo-bulk-{number:04d}"}
            for number, (amount, reference) in enumerate([(15_000, "Stokvel November"), (8_000, "School fees share")])
        ],
    )  # fmt: skip


def _money_in_and_out(customer: Any, operations: Any, second_customer: Any, wallet: Any, other: Any) -> None:
    """Two settled deposits, one left pending, one withdrawal voided by a failed payout (ADR 0005)."""
    bank = sandbox.SandboxBank()
    salary = services.deposit_create(
        actor=customer, account=wallet.public_id, amount=250_000, currency="ZAR", channel="eft",
        funding_source="EFT-DEMO-0001", idempotency_key="demo-deposit-0001", reference="Salary",
    )  # fmt: skip
    if salary.extra["status"] == "pending":  # the bank's signed notification settles it
        bank.deposit_received(
            reference=str(salary.entry_public_id), amount=250_000, currency="ZAR", statement_line="DEMO-BANK-0001"
        )
    # A public test card number (never a real one); added once, reused on every later load. The
    # sandbox processor authorises, captures and signs its payment.captured callback.
    card = cards.cards_for(viewer=second_customer).filter(active=True).first() or cards.card_add(
        actor=second_customer,
        pan="4111111111111111",
        expiry=f"12/{(timezone.now().year + 3) % 100:02d}",
        cvv="123",
        holder="Demo Customer",
    )
    services.deposit_create(
        actor=second_customer, account=other.public_id, amount=100_000, currency="ZAR", channel="card",
        funding_source=str(card.public_id), idempotency_key="demo-deposit-0002", reference="Top-up",
    )  # fmt: skip
    # A claim nothing has settled yet: shown as pending_in, not spendable.
    services.deposit_create(
        actor=customer, account=wallet.public_id, amount=50_000, currency="ZAR", channel="eft",
        funding_source="EFT-DEMO-0003", idempotency_key="demo-deposit-0003", reference="Bonus (awaiting the bank)",
    )  # fmt: skip
    # A withdrawal whose payout fails: voided, the money is available again.
    payout = _demo_bank_account(customer, operations)
    withdrawal = services.withdrawal_create(
        actor=customer, account=wallet.public_id, bank_account=payout.public_id, amount=20_000, currency="ZAR",
        idempotency_key="demo-withdrawal-0001", reference="To savings",
    )  # fmt: skip
    if withdrawal.extra["status"] == "pending":
        bank.payout_failed(reference=str(withdrawal.entry_public_id), amount=20_000, currency="ZAR")
    _large_reversal_awaiting_approval(customer, operations, wallet, other, bank)


def _large_reversal_awaiting_approval(customer: Any, operations: Any, wallet: Any, other: Any, bank: Any) -> None:
    """Four eyes (issue 15): R12,000 paid to the wrong person; operations asked to reverse it (at
    least LEDGER_REVERSAL_FOUR_EYES_MINOR_UNITS), and a *different* operations user must approve it
    (POST /api/v1/ops/reversal-requests/{id}/approval/); the demo leaves it waiting."""
    refund = services.deposit_create(
        actor=customer, account=wallet.public_id, amount=1_200_000, currency="ZAR", channel="eft",
        funding_source="EFT-DEMO-0004", idempotency_key="demo-deposit-0004", reference="Tax refund",
    )  # fmt: skip
    if refund.extra["status"] == "pending":
        bank.deposit_received(
            reference=str(refund.entry_public_id), amount=1_200_000, currency="ZAR", statement_line="DEMO-BANK-0004"
        )
    wrong = services.transfer_create(
        actor=customer, source_account=wallet.public_id, destination_account=other.public_id, amount=1_200_000,
        currency="ZAR", idempotency_key="demo-transfer-wrong-0001", reference="Car deposit (wrong recipient)",
    )  # fmt: skip
    if not ReversalRequest.objects.filter(entry__public_id=wrong.entry_public_id).exists():
        services.reversal_request(
            actor=operations, entry=wrong.entry_public_id, reason="Paid to the wrong recipient (demo)"
        )


def _demo_bank_account(customer: Any, operations: Any) -> Any:
    payout = BankAccount.objects.filter(owner=customer).order_by("pk").first()
    if payout is None:
        payout = services.bank_account_add(
            actor=customer, bank_name="Demo Bank", branch_code="250655", account_number="62000000501"
        )
    if not payout.verified:
        services.bank_account_verify(actor=operations, bank_account=payout.public_id)
    return payout

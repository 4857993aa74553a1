"""Money a deletion must not strand: the apps that hold a subject's money register here.

Compliance never imports the ledger (layers: ledger above compliance). An app that holds money
for a subject registers a *balance holder* from its ``AppConfig.ready()``:

    register_balance_holder(
        "ledger",
        balances=lambda subject: [...],        # what the subject holds: list[Balance]
        settle=lambda *, actor, subject, method, reference: [...],   # list[Settlement]
    )

- A deletion is refused while any holder reports a non-zero balance, available or pending
  (``balance_outstanding``, compliance.dsar.errors): at approval and again by the erasure itself.
- The officer chooses how the money leaves (``SettlementMethod``): paid out to the subject's
  verified bank account (a pending withdrawal; the deletion waits until it settles), or moved to
  the unclaimed-funds liability account by an audited entry (the subject can still claim it).
  The holder does the movement in its own services, in the caller's transaction; the DSAR
  records what was done (``DataSubjectRequest.balance_settlements``) and the deletion statement
  says it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from kernel.types import Actor


class SettlementMethod(StrEnum):
    PAYOUT = "payout"  # to the subject's verified bank account (pending until the bank confirms)
    UNCLAIMED = "unclaimed"  # to the unclaimed-funds liability account (claimable later)


SETTLEMENT_LABELS: dict[SettlementMethod, str] = {
    SettlementMethod.PAYOUT: "paid out to the subject's verified bank account",
    SettlementMethod.UNCLAIMED: "moved to the unclaimed-funds account (claimable by the subject)",
}


@dataclass(frozen=True)
class Balance:
    """One account's money: ``available`` (spendable) and ``pending`` (in flight, either way)."""

    holder: str
    account: str  # the account's public id
    currency: str
    available: int  # minor units
    pending: int  # minor units, pending debits + pending credits

    @property
    def is_zero(self) -> bool:
        return self.available == 0 and self.pending == 0


@dataclass(frozen=True)
class Settlement:
    """What a holder did with one account's money (kept on the request, said in the statement)."""

    method: str
    account: str
    amount: int
    currency: str
    entry: str  # the movement's public id

    def as_record(self) -> dict[str, Any]:
        return asdict(self)


class SettlementRefused(Exception):
    """The holder cannot settle as asked (no verified bank account, money in flight); ``code`` is stable."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


BalancesOf = Callable[[Any], list[Balance]]
Settle = Callable[..., list[Settlement]]


@dataclass(frozen=True)
class BalanceHolder:
    name: str
    balances: BalancesOf
    settle: Settle


_holders: dict[str, BalanceHolder] = {}


def register_balance_holder(name: str, *, balances: BalancesOf, settle: Settle) -> None:
    """Called from an app's ``ready()``; registering a name again replaces it (reloads, tests)."""
    _holders[name] = BalanceHolder(name=name, balances=balances, settle=settle)


def unregister_balance_holder(name: str) -> None:
    _holders.pop(name, None)


def subject_balances(subject: Any) -> list[Balance]:
    """Every non-zero balance the registered holders keep for ``subject``."""
    return [balance for holder in _holders.values() for balance in holder.balances(subject) if not balance.is_zero]


def balances_settle(*, actor: Actor, subject: Any, method: SettlementMethod, reference: str) -> list[Settlement]:
    """Ask every holder with money for ``subject`` to settle it by ``method`` (in the caller's transaction)."""
    done: list[Settlement] = []
    for holder in _holders.values():
        if any(not balance.is_zero for balance in holder.balances(subject)):
            done += holder.settle(actor=actor, subject=subject, method=method, reference=reference)
    return done


def describe_balances(balances: list[Balance]) -> str:
    """ "ZAR 1800.00 available, ZAR 0.00 pending" per account: amounts only, never an account number."""
    return "; ".join(
        f"{b.currency} {b.available / 100:.2f} available, {b.currency} {b.pending / 100:.2f} pending" for b in balances
    )

"""Re-derive the ledger from its postings and report every disagreement.

Checks (each a single aggregate query, so it scales with the table, not with Python loops):
1. every account's balance equals the sum of its postings;
2. every account's latest posting's balance_after equals its balance;
3. postings sum to zero per currency across the whole ledger;
4. every journal entry has >= 2 postings summing to zero per currency;
5. every posting's currency is its account's currency.
Read-only; portable SQL (also runs on the SQLite dev profile); run it on a replica if the primary is busy.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import connection


@dataclass
class LedgerReport:
    accounts: int = 0
    postings: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


_BALANCE_MISMATCH = """
SELECT a.public_id, a.balance, COALESCE(s.total, 0)
  FROM ledger_ledgeraccount a
  LEFT JOIN (SELECT account_id, SUM(amount) AS total FROM ledger_posting GROUP BY account_id) s ON s.account_id = a.id
 WHERE a.balance <> COALESCE(s.total, 0)
"""
_LAST_BALANCE_AFTER = """
SELECT a.public_id FROM ledger_ledgeraccount a
  JOIN (SELECT account_id, MAX(id) AS last_id FROM ledger_posting GROUP BY account_id) l ON l.account_id = a.id
  JOIN ledger_posting p ON p.id = l.last_id
 WHERE p.balance_after <> a.balance
"""
_CURRENCY_TOTALS = "SELECT currency, SUM(amount) FROM ledger_posting GROUP BY currency HAVING SUM(amount) <> 0"
_UNBALANCED_ENTRIES = """
SELECT e.public_id FROM ledger_journalentry e
  LEFT JOIN (SELECT entry_id, currency, COUNT(*) AS n, SUM(amount) AS total
               FROM ledger_posting GROUP BY entry_id, currency) p ON p.entry_id = e.id
 GROUP BY e.id, e.public_id
HAVING COALESCE(SUM(p.n), 0) < 2 OR MAX(CASE WHEN COALESCE(p.total, 0) <> 0 THEN 1 ELSE 0 END) = 1
"""
_CURRENCY_MISMATCH = """
SELECT COUNT(*) FROM ledger_posting p JOIN ledger_ledgeraccount a ON a.id = p.account_id WHERE p.currency <> a.currency
"""
_LIMIT = 20  # report at most this many ids per check; the counts tell the rest


def check_ledger() -> LedgerReport:
    report = LedgerReport()
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM ledger_ledgeraccount")
        report.accounts = cursor.fetchone()[0]
        cursor.execute("SELECT COUNT(*) FROM ledger_posting")
        report.postings = cursor.fetchone()[0]
        cursor.execute(_BALANCE_MISMATCH)
        for public_id, balance, derived in cursor.fetchall()[:_LIMIT]:
            report.problems.append(f"account {public_id}: balance {balance} != sum of postings {derived}")
        cursor.execute(_LAST_BALANCE_AFTER)
        for (public_id,) in cursor.fetchall()[:_LIMIT]:
            report.problems.append(f"account {public_id}: last posting's balance_after != balance")
        cursor.execute(_CURRENCY_TOTALS)
        for currency, total in cursor.fetchall():
            report.problems.append(f"currency {currency}: postings sum to {total}, not 0")
        cursor.execute(_UNBALANCED_ENTRIES)
        for (public_id,) in cursor.fetchall()[:_LIMIT]:
            report.problems.append(f"entry {public_id}: fewer than 2 postings or not balanced")
        cursor.execute(_CURRENCY_MISMATCH)
        mismatched = cursor.fetchone()[0]
        if mismatched:
            report.problems.append(f"{mismatched} postings in a currency other than their account's")
    return report

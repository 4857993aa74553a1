"""Re-derive the ledger from its postings and report every disagreement.

Posted and pending money are proved separately (two-phase movements, ADR 0005).
Checks (each a single aggregate query, so it scales with the table, not with Python loops):
1. every account's balance equals the sum of its *posted* postings;
2. every account's pending debits and credits equal the sums of its *unresolved pending* postings
   (pending postings of entries no PendingResolution has posted or voided yet), by sign;
3. every account's latest posted posting's balance_after equals its balance;
4. posted postings sum to zero per currency across the whole ledger, and so do unresolved pending ones;
5. every journal entry has >= 2 postings summing to zero per currency, all pending or all posted
   as the entry says;
6. every posted resolution's entry moves the pending entry's amount and currency between the
   same two accounts in the same direction;
7. every posting's currency is its account's currency.
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
    # Proved separately: posted postings (the balances) and unresolved pending ones (pending totals).
    posted_postings: int = 0
    posted_volume: int = 0  # Σ of positive posted postings (money moved), minor units
    pending_postings: int = 0
    pending_volume: int = 0  # Σ of positive unresolved pending postings, minor units

    @property
    def ok(self) -> bool:
        return not self.problems


_BALANCE_MISMATCH = """
SELECT a.public_id, a.balance, COALESCE(s.total, 0)
  FROM ledger_ledgeraccount a
  LEFT JOIN (SELECT account_id, SUM(amount) AS total FROM ledger_posting WHERE NOT pending GROUP BY account_id) s
    ON s.account_id = a.id
 WHERE a.balance <> COALESCE(s.total, 0)
"""
# Unresolved pending postings: pending postings of entries no resolution has posted or voided yet.
_PENDING_MISMATCH = """
SELECT a.public_id, a.pending_debits, COALESCE(s.debits, 0), a.pending_credits, COALESCE(s.credits, 0)
  FROM ledger_ledgeraccount a
  LEFT JOIN (SELECT p.account_id, SUM(CASE WHEN p.amount < 0 THEN -p.amount ELSE 0 END) AS debits,
                    SUM(CASE WHEN p.amount > 0 THEN p.amount ELSE 0 END) AS credits
               FROM ledger_posting p LEFT JOIN ledger_pendingresolution r ON r.pending_entry_id = p.entry_id
              WHERE p.pending AND r.id IS NULL GROUP BY p.account_id) s ON s.account_id = a.id
 WHERE a.pending_debits <> COALESCE(s.debits, 0) OR a.pending_credits <> COALESCE(s.credits, 0)
"""
_LAST_BALANCE_AFTER = """
SELECT a.public_id FROM ledger_ledgeraccount a
  JOIN (SELECT account_id, MAX(id) AS last_id FROM ledger_posting WHERE NOT pending GROUP BY account_id) l
    ON l.account_id = a.id
  JOIN ledger_posting p ON p.id = l.last_id
 WHERE p.balance_after <> a.balance
"""
_CURRENCY_TOTALS = (
    "SELECT currency, SUM(amount) FROM ledger_posting WHERE NOT pending GROUP BY currency HAVING SUM(amount) <> 0"
)
_PENDING_CURRENCY_TOTALS = """
SELECT p.currency, SUM(p.amount)
  FROM ledger_posting p LEFT JOIN ledger_pendingresolution r ON r.pending_entry_id = p.entry_id
 WHERE p.pending AND r.id IS NULL GROUP BY p.currency HAVING SUM(p.amount) <> 0
"""
_TOTALS = """
SELECT COALESCE(SUM(CASE WHEN NOT p.pending THEN 1 ELSE 0 END), 0),
       COALESCE(SUM(CASE WHEN NOT p.pending AND p.amount > 0 THEN p.amount ELSE 0 END), 0),
       COALESCE(SUM(CASE WHEN p.pending AND r.id IS NULL THEN 1 ELSE 0 END), 0),
       COALESCE(SUM(CASE WHEN p.pending AND r.id IS NULL AND p.amount > 0 THEN p.amount ELSE 0 END), 0)
  FROM ledger_posting p LEFT JOIN ledger_pendingresolution r ON r.pending_entry_id = p.entry_id
"""
_PHASE_MISMATCH = """
SELECT DISTINCT e.public_id FROM ledger_journalentry e JOIN ledger_posting p ON p.entry_id = e.id
 WHERE p.pending <> e.pending
"""
_SETTLEMENT_MISMATCH = """
SELECT e.public_id FROM ledger_pendingresolution r
  JOIN ledger_journalentry e ON e.id = r.pending_entry_id
  LEFT JOIN ledger_journalentry s ON s.id = r.posted_entry_id
 WHERE r.outcome = 'posted' AND (
       s.id IS NULL OR s.amount <> e.amount OR s.currency <> e.currency OR s.pending
       OR EXISTS (SELECT 1 FROM ledger_posting pp WHERE pp.entry_id = e.id AND NOT EXISTS (
              SELECT 1 FROM ledger_posting sp WHERE sp.entry_id = s.id AND sp.account_id = pp.account_id
                 AND sp.amount = pp.amount)))
"""
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
        cursor.execute(_TOTALS)
        report.posted_postings, report.posted_volume, report.pending_postings, report.pending_volume = cursor.fetchone()
        cursor.execute(_PENDING_MISMATCH)
        for public_id, debits, derived_debits, credits, derived_credits in cursor.fetchall()[:_LIMIT]:
            report.problems.append(
                f"account {public_id}: pending debits {debits} / credits {credits} != unresolved pending postings "
                f"{derived_debits} / {derived_credits}"
            )
        cursor.execute(_PENDING_CURRENCY_TOTALS)
        for currency, total in cursor.fetchall():
            report.problems.append(f"currency {currency}: unresolved pending postings sum to {total}, not 0")
        cursor.execute(_PHASE_MISMATCH)
        for (public_id,) in cursor.fetchall()[:_LIMIT]:
            report.problems.append(f"entry {public_id}: postings pending/posted unlike the entry")
        cursor.execute(_SETTLEMENT_MISMATCH)
        for (public_id,) in cursor.fetchall()[:_LIMIT]:
            report.problems.append(f"entry {public_id}: settled by an entry that does not move the same money")
        cursor.execute(_LAST_BALANCE_AFTER)
        for (public_id,) in cursor.fetchall()[:_LIMIT]:
            report.problems.append(f"account {public_id}: last posting's balance_after != balance")
        cursor.execute(_CURRENCY_TOTALS)
        for currency, total in cursor.fetchall():
            report.problems.append(f"currency {currency}: posted postings sum to {total}, not 0")
        cursor.execute(_UNBALANCED_ENTRIES)
        for (public_id,) in cursor.fetchall()[:_LIMIT]:
            report.problems.append(f"entry {public_id}: fewer than 2 postings or not balanced")
        cursor.execute(_CURRENCY_MISMATCH)
        mismatched = cursor.fetchone()[0]
        if mismatched:
            report.problems.append(f"{mismatched} postings in a currency other than their account's")
    return report

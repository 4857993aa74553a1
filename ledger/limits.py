"""Money-movement limits: the sane maximum per operation and the KYC tier daily limits.

Daily limits apply to money leaving a wallet (transfers and withdrawals) and, separately, to money
coming in (deposits, counted when the pending claim is made), in the wallet's currency, per
calendar day in ``LEDGER_LIMIT_TIMEZONE``. They are enforced inside the locked transaction
(ledger_move / engine._move_orm), against counters kept on the wallet row. Override with the
LEDGER_KYC_DAILY_LIMITS setting (the same tier limits bound each direction).
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils import timezone

# R100,000,000.00: far above any tier limit; stops overflow games and fat-finger amounts early.
MAX_AMOUNT_MINOR = 10_000_000_000

SUPPORTED_CURRENCIES = ("ZAR",)

# Minor units (cents) per day of outgoing money, by KYC tier.
DEFAULT_KYC_DAILY_LIMITS: dict[int, int] = {
    1: 500_000,  # R5,000
    2: 2_500_000,  # R25,000
    3: 10_000_000,  # R100,000
}

KYC_TIERS = (1, 2, 3)


def tier_daily_limits() -> list[int]:
    """Limits as a list indexed by tier - 1 (a PostgreSQL array is indexed from 1 by tier)."""
    limits = {**DEFAULT_KYC_DAILY_LIMITS, **getattr(settings, "LEDGER_KYC_DAILY_LIMITS", {})}
    return [int(limits[tier]) for tier in KYC_TIERS]


def limit_day(now: dt.datetime | None = None) -> dt.date:
    zone = ZoneInfo(getattr(settings, "LEDGER_LIMIT_TIMEZONE", "Africa/Johannesburg"))
    return (now or timezone.now()).astimezone(zone).date()


def system_shards() -> int:
    return int(getattr(settings, "LEDGER_SYSTEM_SHARDS", 16))


def transfer_batch_max() -> int:
    """Most transfers one bulk request may carry (LEDGER_TRANSFER_BATCH_MAX, default 100)."""
    return int(getattr(settings, "LEDGER_TRANSFER_BATCH_MAX", 100))


def pending_deposit_lifetime() -> dt.timedelta:
    """How long a deposit may stay unsettled before it voids (LEDGER_PENDING_DEPOSIT_HOURS, default 72)."""
    return dt.timedelta(hours=int(getattr(settings, "LEDGER_PENDING_DEPOSIT_HOURS", 72)))

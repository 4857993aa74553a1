"""Pieces the benchmark and drill scripts share (Django-dependent helpers import it lazily)."""

from __future__ import annotations

import datetime as dt
import logging
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def quiet_logs() -> None:
    """Send log output to /dev/null. Records are still built, filtered and redacted (their cost is
    part of the measurement); only the terminal is spared."""
    sink = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process
    for name in (None, "django", "celery", "compliance"):
        for handler in logging.getLogger(name).handlers:
            if isinstance(handler, logging.StreamHandler):
                handler.setStream(sink)


# Each benchmark wallet's opening balance (R100 million): never the reason a transfer is refused.
START_BALANCE = 10**10


def fund_wallets(count: int) -> list[tuple[Any, str]]:
    """``count`` customers, KYC-verified at the top tier through the real services, each wallet
    funded with R100 million: [(user, wallet public id)]. Limits are raised so that transfers are
    still checked against them but never refused."""
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    from accounts import roles
    from ledger import services
    from ledger.kyc import luhn_check_digit
    from ledger.settlement import sandbox

    settings.LEDGER_KYC_DAILY_LIMITS = {1: 10**15, 2: 10**15, 3: 10**15}
    user_model = get_user_model()
    operations = user_model.objects.create_user(email="bench-ops@bench.example", is_staff=True)
    operations.groups.add(Group.objects.get_or_create(name=roles.OPERATIONS)[0])
    second_operations = user_model.objects.create_user(email="bench-ops-2@bench.example", is_staff=True)
    second_operations.groups.add(Group.objects.get_or_create(name=roles.OPERATIONS)[0])
    plan = []
    for number in range(count):
        user = user_model.objects.create_user(email=f"bench-{number}@bench.example")
        first_twelve = f"900115{number % 10000:04d}08"
        record = services.kyc_submit(
            actor=user, id_number=first_twelve + luhn_check_digit(first_twelve),
            date_of_birth=dt.date(1990, 1, 15), document_reference="BENCH",
        )  # fmt: skip
        services.kyc_decide(actor=operations, record=record.public_id, verify=True, tier=3)
        services.kyc_approve(actor=second_operations, record=record.public_id, approve=True)  # four eyes
        wallet = services.wallet_ensure(owner=user)
        claim = services.deposit_create(
            actor=user, account=wallet.public_id, amount=START_BALANCE, currency="ZAR", channel="eft",
            funding_source="BENCH", idempotency_key=f"bench-fund-{number:06d}",
        )  # fmt: skip
        # Deposits are claims until settled (ADR 0005): the sandbox bank's signed notification posts it.
        with sandbox.inline_callbacks():
            sandbox.SandboxBank().deposit_received(
                reference=str(claim.entry_public_id), amount=START_BALANCE, currency="ZAR", statement_line="BENCH"
            )
        plan.append((user, str(wallet.public_id)))
    return plan


def app_on(url: str, wallets: int, **environment: str) -> list[tuple[Any, str]]:
    """Migrate the database at ``url``, set Django up on it in this process (dev profile, quiet
    logs, plus ``environment``) and fund ``wallets`` verified customers: [(user, wallet public id)]."""
    env = {
        **os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "fintech.settings.dev", "LOG_LEVEL": "WARNING",
        **environment,
    }  # fmt: skip
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"], cwd=ROOT, check=True, env=env)
    os.environ.update(env)
    import django

    django.setup()
    quiet_logs()
    plan = fund_wallets(wallets)
    from django.db import connections

    connections.close_all()
    return plan


def run_in_scratch_test_database(main: Callable[[], None], prefix: str) -> None:
    """Run ``main`` against a freshly migrated scratch database, dropped afterwards."""
    from django.conf import settings
    from django.db import connection, connections

    db = settings.DATABASES["default"]
    db.setdefault("TEST", {})["NAME"] = f"{prefix}_{db['NAME']}"
    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        main()
    finally:
        connections.close_all()
        connection.creation.destroy_test_db(old_name, verbosity=0)

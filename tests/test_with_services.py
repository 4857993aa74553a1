"""`make test`'s harness starts throwaway PostgreSQL and Redis servers when none answer."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT

PROBE = """
import os, psycopg, redis
with psycopg.connect(os.environ["DATABASE_URL"].rsplit("/", 1)[0] + "/postgres") as conn:
    print("pg", conn.execute("select current_setting('port')").fetchone()[0])
print("redis", redis.Redis.from_url(os.environ["REDIS_URL"]).ping())
"""


@pytest.mark.slow
def test_throwaway_servers_are_started_used_and_removed():
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env["WITH_SERVICES_THROWAWAY"] = "1"
    result = subprocess.run(
        [sys.executable, "scripts/with_services.py", "--", sys.executable, "-c", PROBE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "started a throwaway PostgreSQL" in result.stderr
    assert "started a throwaway Redis" in result.stderr
    port = result.stdout.split()[1]
    assert port != "5432"
    assert "redis True" in result.stdout
    # Afterwards nothing listens on the throwaway port any more.
    probe = subprocess.run(["pg_isready", "-h", "127.0.0.1", "-p", port], capture_output=True, check=False)
    assert probe.returncode != 0


def test_the_child_exit_code_is_passed_through():
    result = subprocess.run(
        [sys.executable, "scripts/with_services.py", "--", sys.executable, "-c", "raise SystemExit(7)"],
        cwd=ROOT,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 7

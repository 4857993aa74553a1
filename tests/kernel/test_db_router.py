"""Report and export reads go to the replica alias when there is one, and nothing else does.

End to end (DATABASE_REPLICA_URL pointing at a real hot standby, a report read landing there):
tests/ha/test_failover_drill.py.
"""

from __future__ import annotations

import pytest

from kernel import db_router
from kernel.db_router import REPLICA, ReportReadsRouter, reporting_reads

router = ReportReadsRouter()


@pytest.fixture
def with_replica(monkeypatch):
    monkeypatch.setattr(db_router, "_has_replica", lambda: True)


def test_reads_inside_a_report_go_to_the_replica_and_writes_never_do(with_replica):
    assert router.db_for_read(None) is None
    with reporting_reads():
        assert router.db_for_read(None) == REPLICA
        assert router.db_for_write(None) is None
    assert router.db_for_read(None) is None


def test_without_a_replica_reports_read_the_primary():
    with reporting_reads():
        assert router.db_for_read(None) is None


def test_the_replica_is_never_migrated():
    assert router.allow_migrate(REPLICA, "ledger") is False
    assert router.allow_migrate("default", "ledger") is None

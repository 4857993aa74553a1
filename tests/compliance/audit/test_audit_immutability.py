"""The audit table is append-only in PostgreSQL itself: triggers, and a role without UPDATE/DELETE."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction

from compliance.audit.chain import seal_pending, verify_chain
from compliance.audit.db_roles import app_role_statements, render_sql
from compliance.models import AuditEvent
from tests.compliance.audit.conftest import write_events

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[3]


def _fails(sql: str, params: list | None = None, match: str = "") -> None:
    with pytest.raises(DatabaseError, match=match), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)


def _snapshot() -> list[tuple]:
    return list(AuditEvent.objects.order_by("id").values_list("id", "action", "object_id", "seq", "hash"))


def test_update_delete_and_truncate_are_rejected_by_triggers_even_for_the_owner():
    write_events(3)
    seal_pending()
    write_events(1)  # one unsealed row too
    before = _snapshot()
    first = before[0][0]
    unsealed = before[-1][0]

    _fails("UPDATE compliance_auditevent SET action = 'DEPOSIT' WHERE id = %s", [first], "Cannot update")
    _fails("UPDATE compliance_auditevent SET action = 'DEPOSIT' WHERE id = %s", [unsealed], "Cannot update")
    # Re-sealing a sealed row (even with a "valid looking" hash) is an update like any other.
    _fails("UPDATE compliance_auditevent SET hash = repeat('a', 64) WHERE id = %s", [first], "Cannot update")
    # Sealing columns plus a content change in one statement is still refused.
    _fails(
        "UPDATE compliance_auditevent SET seq = 99, prev_hash = repeat('0', 64), hash = repeat('a', 64), "
        "sealed_at = now(), object_id = 'x' WHERE id = %s",
        [unsealed],
        "Cannot update",
    )
    _fails("DELETE FROM compliance_auditevent WHERE id = %s", [first], "Cannot delete")
    _fails("DELETE FROM compliance_auditevent WHERE id = %s", [unsealed], "Cannot delete")
    with connection.cursor() as cursor:
        # The test harness's opt-in (see fintech/settings/test.py) is switched off for this check.
        cursor.execute("SET LOCAL fintech.audit_truncate = ''")
        # Django's FKs are deferred; settle them so TRUNCATE reaches our trigger.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    _fails("TRUNCATE compliance_auditevent CASCADE", match="TRUNCATE of compliance_auditevent is not allowed")

    assert _snapshot() == before
    assert verify_chain().ok


def test_the_one_allowed_update_is_sealing_an_unsealed_row():
    write_events(2)
    result = seal_pending()
    assert result.sealed == 2
    assert list(AuditEvent.objects.order_by("seq").values_list("seq", flat=True)) == [1, 2]


@pytest.fixture
def app_role():
    """A fresh least-privilege role, set up by the shipped SQL; the test transaction removes it."""
    name = f"audit_app_{os.getpid()}_{os.environ.get('PYTEST_XDIST_WORKER', 'gw0')}".lower()
    with connection.cursor() as cursor:
        for statement in app_role_statements(name):
            cursor.execute(statement)
        # Re-running the grants is harmless (they run after every migrate).
        for statement in app_role_statements(name):
            cursor.execute(statement)
    return name


def _privileges(role: str) -> dict[str, bool]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT p, has_table_privilege(%s, 'compliance_auditevent', p) FROM unnest(ARRAY["
            "'SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE', 'REFERENCES', 'TRIGGER']) AS p",
            [role],
        )
        privileges = dict(cursor.fetchall())
        cursor.execute("SELECT has_any_column_privilege(%s, 'compliance_auditevent', 'UPDATE')", [role])
        privileges["UPDATE (any column)"] = cursor.fetchone()[0]
    return privileges


def test_the_application_role_may_only_insert_and_select(app_role):
    assert _privileges(app_role) == {
        "SELECT": True,
        "INSERT": True,
        "UPDATE": False,
        "DELETE": False,
        "TRUNCATE": False,
        "REFERENCES": False,
        "TRIGGER": False,
        "UPDATE (any column)": False,
    }


def test_as_the_application_role_writes_and_sealing_work_but_rewrites_are_denied(app_role):
    with connection.cursor() as cursor:
        cursor.execute(f'SET ROLE "{app_role}"')
    try:
        write_events(3)  # INSERT through audit_record, as the application does
        result = seal_pending()  # through the SECURITY DEFINER function
        assert result.sealed == 3
        before = _snapshot()
        target = before[0][0]
        _fails("UPDATE compliance_auditevent SET object_id = 'x' WHERE id = %s", [target], "permission denied")
        _fails("UPDATE compliance_auditevent SET hash = NULL WHERE id = %s", [target], "permission denied")
        _fails("DELETE FROM compliance_auditevent WHERE id = %s", [target], "permission denied")
        _fails("TRUNCATE compliance_auditevent", match="permission denied")
        # The sealing function admits only the continuation of the chain: not a re-seal, not a gap.
        write_events(1)
        fresh = AuditEvent.objects.get(seq__isnull=True).pk
        _fails(
            "SELECT compliance_audit_seal(ARRAY[%s]::bigint[], ARRAY[7]::bigint[], ARRAY[%s], "
            "ARRAY[repeat('a', 64)], now())",
            [fresh, before[-1][4]],
            "does not continue the chain",
        )
        _fails(
            "SELECT compliance_audit_seal(ARRAY[%s]::bigint[], ARRAY[4]::bigint[], ARRAY[repeat('0', 64)], "
            "ARRAY[repeat('a', 64)], now())",
            [fresh],
            "prev_hash of seq 4 does not continue",
        )
        _fails(
            "SELECT compliance_audit_seal(ARRAY[%s]::bigint[], ARRAY[4]::bigint[], ARRAY[%s], "
            "ARRAY[repeat('a', 64)], now())",
            [target, before[-1][4]],
            "missing or already sealed",
        )
        assert _snapshot()[:3] == before
        assert verify_chain().ok
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET ROLE")


def test_the_shipped_sql_file_matches_the_command(capsys):
    call_command("audit_db_roles", "--print-sql", "--role", "fintech_app")
    printed = capsys.readouterr().out
    assert printed == render_sql("fintech_app")
    assert (ROOT / "deploy" / "sql" / "audit_roles.sql").read_text() == printed


def test_role_names_cannot_inject_sql():
    with pytest.raises(ValueError, match="identifier"):
        app_role_statements('x"; DROP TABLE compliance_auditevent; --')

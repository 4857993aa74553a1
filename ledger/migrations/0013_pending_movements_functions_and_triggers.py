"""Two-phase movements on PostgreSQL (issue 15, ADR 0005): the database side of migration 0010.

1. ``ledger_move`` and ``ledger_transfer_batch`` check funds against the *available* balance
   (posted balance minus pending debits): money promised to a pending withdrawal cannot be spent
   by a transfer. The only change to each function is that comparison (the bulk path reads
   ``pending_debits`` from the row it already joins: no extra lookup). The new definitions are
   derived from the current ones (migrations 0006 and 0009) by replacing exactly that text, so
   nothing else can drift; the reverse migration restores them verbatim.
2. Settlement records are insert-only like the journal: ``ledger_pendingresolution`` (a pending
   entry is resolved once, forever) and ``ledger_webhookevent`` (a provider event is consumed
   once) reject UPDATE, DELETE and TRUNCATE of a non-empty table (``ledger_reject_change`` /
   ``ledger_reject_truncate`` from migration 0002).

Pending movements themselves are written through the ORM engine on every database
(ledger/engine.py ``move_pending`` / ``resolve_pending``): the same locks in primary-key order,
one implementation, so there is nothing to keep in parity.
"""

import importlib

from django.db import migrations

_MOVE_0006 = importlib.import_module("ledger.migrations.0006_ledger_move_writes_audit")
_BATCH_0009 = importlib.import_module("ledger.migrations.0009_batch_audit_before_locks_and_leaner_entry_indexes")

_MOVE_FUNDS = ("IF NOT v_from.allow_negative AND v_from.balance < p_amount THEN",
               "IF NOT v_from.allow_negative AND v_from.balance - v_from.pending_debits < p_amount THEN")  # fmt: skip
_BATCH_ROW = ("a.public_id, a.allow_negative,", "a.public_id, a.allow_negative, a.pending_debits,")
_BATCH_FUNDS = ("min(i) FILTER (WHERE NOT allow_negative AND after < 0)",
                "min(i) FILTER (WHERE NOT allow_negative AND after - pending_debits < 0)")  # fmt: skip


def _replace_once(sql: str, old: str, new: str) -> str:
    if sql.count(old) != 1:
        raise RuntimeError(f"expected exactly one {old!r} in the function being changed")
    return sql.replace(old, new)


def _move_sql(available: bool) -> str:
    sql = _MOVE_0006.FORWARD_SQL
    return _replace_once(sql, *_MOVE_FUNDS) if available else sql


def _batch_sql(available: bool) -> str:
    sql = _BATCH_0009.FORWARD_SQL
    sql = sql[: sql.index("CREATE OR REPLACE FUNCTION ledger_check_postings_balanced()")]
    if available:
        sql = _replace_once(_replace_once(sql, *_BATCH_ROW), *_BATCH_FUNDS)
    return sql


_TABLES = ("ledger_pendingresolution", "ledger_webhookevent")


def _triggers_sql() -> str:
    return "\n".join(
        f"CREATE TRIGGER {table}_insert_only BEFORE UPDATE OR DELETE ON {table} "
        f"FOR EACH ROW EXECUTE FUNCTION ledger_reject_change();\n"
        f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
        f"FOR EACH STATEMENT EXECUTE FUNCTION ledger_reject_truncate();"
        for table in _TABLES
    )


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(_move_sql(available=True), params=None)
        schema_editor.execute(_batch_sql(available=True), params=None)
        schema_editor.execute(_triggers_sql(), params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for table in _TABLES:
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_insert_only ON {table}", params=None)
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}", params=None)
        schema_editor.execute(_move_sql(available=False), params=None)
        schema_editor.execute(_batch_sql(available=False), params=None)


class Migration(migrations.Migration):
    dependencies = [("ledger", "0012_pending_movements_and_settlement")]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]

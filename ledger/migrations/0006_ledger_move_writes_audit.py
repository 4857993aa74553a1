"""ledger_move() writes the movement's audit record itself: a transfer is one round trip.

Replaces the function of migration 0002 (PostgreSQL only; SQLite runs the ORM engine, which calls
``compliance.audit.audit_record`` after the move). The steps are those of 0002 plus:

9. If ``p_audit_action`` is given and the movement is new (not an idempotent replay), insert one
   *unsealed* row into ``compliance_auditevent``, with exactly the columns ``audit_record`` writes:
   the caller supplies user, actor type, source IP and the extra diff keys (already scrubbed by
   ``compliance.audit.scrub_change_diff`` in Python, ledger/engine.py); the function adds the keys
   only it knows (amount, currency, from_account, to_account: integers, an ISO code and UUIDs,
   none of which is PI), the request id (the journal entry's, truncated to 128 like
   ``audit_record``), the object (``ledger.JournalEntry`` + entry public id) and the timestamp.
   tests/ledger/test_audit_in_function.py compares such a row with one written by the ORM path.

The row commits or rolls back with the postings (same statement, same transaction). The audit
table's triggers (no UPDATE except sealing, no DELETE/TRUNCATE) are unaffected: this is an INSERT.
"""

import importlib

from django.db import migrations

ARGS_0002 = (
    "text, text, bigint, text, uuid, text, uuid, text, bigint, text, boolean, "
    "bigint, bigint[], date, integer, text, text, bigint, text, text, text, bigint"
)
ARGS_0003 = ARGS_0002 + ", text, bigint, text, inet, jsonb"

FORWARD_SQL = r"""
CREATE OR REPLACE FUNCTION ledger_move(
    p_entry_type text, p_channel text, p_amount bigint, p_currency text,
    p_from_public uuid, p_from_system text, p_to_public uuid, p_to_system text,
    p_owner bigint, p_owner_side text, p_to_wallet_only boolean,
    p_kyc_user bigint, p_tier_limits bigint[], p_limit_day date, p_shard integer,
    p_idempotency_key text, p_fingerprint text, p_created_by bigint, p_request_id text,
    p_reference text, p_external_reference text, p_reverses bigint,
    p_audit_action text, p_audit_user bigint, p_audit_actor_type text, p_audit_source_ip inet, p_audit_extra jsonb
) RETURNS TABLE (
    o_entry_id bigint, o_entry_public_id uuid, o_created_at timestamptz, o_replayed boolean,
    o_from_public uuid, o_to_public uuid, o_from_balance_after bigint, o_to_balance_after bigint
) LANGUAGE plpgsql AS $$
DECLARE
    v_from_id bigint; v_from_currency text;
    v_to_id bigint; v_to_currency text;
    v_from ledger_ledgeraccount%ROWTYPE;
    v_to ledger_ledgeraccount%ROWTYPE;
    v_row ledger_ledgeraccount%ROWTYPE;
    v_tier integer;
    v_limit bigint;
    v_daily bigint;
    v_fingerprint text;
    v_now timestamptz;
BEGIN
    -- 1. Resolve both sides; a customer's side must be that customer's own wallet (else not_found).
    IF p_from_system IS NOT NULL THEN
        v_from_id := ledger_system_account(p_from_system, p_currency, p_shard);
        v_from_currency := p_currency;
    ELSE
        SELECT a.id, a.currency INTO v_from_id, v_from_currency FROM ledger_ledgeraccount a
         WHERE a.public_id = p_from_public
           AND (p_owner_side IS DISTINCT FROM 'from' OR (a.owner_id = p_owner AND a.kind = 'customer_wallet'));
    END IF;
    IF p_to_system IS NOT NULL THEN
        v_to_id := ledger_system_account(p_to_system, p_currency, p_shard);
        v_to_currency := p_currency;
    ELSE
        SELECT a.id, a.currency INTO v_to_id, v_to_currency FROM ledger_ledgeraccount a
         WHERE a.public_id = p_to_public
           AND (p_owner_side IS DISTINCT FROM 'to' OR (a.owner_id = p_owner AND a.kind = 'customer_wallet'))
           AND (NOT p_to_wallet_only OR a.kind = 'customer_wallet');
    END IF;
    IF v_from_id IS NULL OR v_to_id IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE = 'ledger:not_found';
    END IF;
    -- 2. Currency and same-account checks (currency never changes, so no lock is needed yet).
    IF v_from_currency <> p_currency OR v_to_currency <> p_currency THEN
        RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE = 'ledger:currency_mismatch';
    END IF;
    IF v_from_id = v_to_id THEN
        RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE = 'ledger:same_account';
    END IF;
    -- 3. KYC: only verified customers move money.
    IF p_kyc_user IS NOT NULL THEN
        SELECT k.tier INTO v_tier FROM ledger_kycrecord k WHERE k.user_id = p_kyc_user AND k.status = 'verified';
        IF v_tier IS NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE = 'ledger:kyc_required';
        END IF;
    END IF;
    -- 4. Idempotency: the unique index decides; a concurrent twin waits here for our commit.
    INSERT INTO ledger_journalentry
        (public_id, entry_type, channel, amount, currency, reference, external_reference, reverses_id,
         idempotency_key, request_fingerprint, request_id, created_by_id, created_at)
    VALUES (gen_random_uuid(), p_entry_type, p_channel, p_amount, p_currency, p_reference, p_external_reference,
            p_reverses, p_idempotency_key, p_fingerprint, p_request_id, p_created_by, clock_timestamp())
    ON CONFLICT DO NOTHING
    RETURNING id, public_id, created_at INTO o_entry_id, o_entry_public_id, o_created_at;
    IF o_entry_id IS NULL THEN
        IF p_idempotency_key IS NOT NULL THEN
            SELECT e.id, e.public_id, e.created_at, e.request_fingerprint
              INTO o_entry_id, o_entry_public_id, o_created_at, v_fingerprint
              FROM ledger_journalentry e
             WHERE e.created_by_id = p_created_by AND e.idempotency_key = p_idempotency_key;
        END IF;
        IF o_entry_id IS NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE = 'ledger:already_reversed';
        END IF;
        IF v_fingerprint IS DISTINCT FROM p_fingerprint THEN
            RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE = 'ledger:idempotency_key_reused';
        END IF;
        -- A replay: the original movement was audited when it happened; nothing is written now.
        o_replayed := true;
        SELECT a.public_id, p.balance_after INTO o_from_public, o_from_balance_after
          FROM ledger_posting p JOIN ledger_ledgeraccount a ON a.id = p.account_id
         WHERE p.entry_id = o_entry_id AND p.amount < 0;
        SELECT a.public_id, p.balance_after INTO o_to_public, o_to_balance_after
          FROM ledger_posting p JOIN ledger_ledgeraccount a ON a.id = p.account_id
         WHERE p.entry_id = o_entry_id AND p.amount > 0;
        RETURN NEXT;
        RETURN;
    END IF;
    -- 5. Lock both accounts once, in primary-key order (no deadlock cycles), and read fresh rows.
    FOR v_row IN
        SELECT * FROM ledger_ledgeraccount WHERE id IN (v_from_id, v_to_id) ORDER BY id FOR NO KEY UPDATE
    LOOP
        IF v_row.id = v_from_id THEN v_from := v_row; ELSE v_to := v_row; END IF;
    END LOOP;
    -- 6. Daily limit on the debited wallet (counter lives on the locked row).
    IF p_tier_limits IS NOT NULL THEN
        v_limit := p_tier_limits[v_tier];
        v_daily := p_amount + CASE WHEN v_from.daily_debit_day = p_limit_day THEN v_from.daily_debit_total ELSE 0 END;
        IF v_limit IS NULL OR v_daily > v_limit THEN
            RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE = 'ledger:daily_limit_exceeded';
        END IF;
    END IF;
    -- 7. Funds.
    IF NOT v_from.allow_negative AND v_from.balance < p_amount THEN
        RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE = 'ledger:insufficient_funds';
    END IF;
    -- 8. Balances and postings, in this transaction.
    o_from_balance_after := v_from.balance - p_amount;
    o_to_balance_after := v_to.balance + p_amount;
    IF p_tier_limits IS NOT NULL THEN
        UPDATE ledger_ledgeraccount SET balance = o_from_balance_after, daily_debit_day = p_limit_day,
               daily_debit_total = v_daily WHERE id = v_from_id;
    ELSE
        UPDATE ledger_ledgeraccount SET balance = o_from_balance_after WHERE id = v_from_id;
    END IF;
    UPDATE ledger_ledgeraccount SET balance = o_to_balance_after WHERE id = v_to_id;
    v_now := clock_timestamp();
    INSERT INTO ledger_posting (entry_id, account_id, amount, currency, balance_after, created_at)
    VALUES (o_entry_id, v_from_id, -p_amount, p_currency, o_from_balance_after, v_now),
           (o_entry_id, v_to_id, p_amount, p_currency, o_to_balance_after, v_now);
    o_replayed := false;
    o_from_public := v_from.public_id;
    o_to_public := v_to.public_id;
    -- 9. The audit record (PMLA), unsealed, in the same transaction: the columns audit_record writes.
    IF p_audit_action IS NOT NULL THEN
        INSERT INTO compliance_auditevent
            (timestamp, user_id, actor_type, action, source_ip, change_diff, request_id, object_type, object_id)
        VALUES (
            v_now, p_audit_user, p_audit_actor_type, p_audit_action, p_audit_source_ip,
            coalesce(p_audit_extra, '{}'::jsonb) || jsonb_build_object(
                'amount', p_amount, 'currency', p_currency,
                'from_account', o_from_public::text, 'to_account', o_to_public::text),
            left(coalesce(p_request_id, ''), 128), 'ledger.JournalEntry', o_entry_public_id::text
        );
    END IF;
    RETURN NEXT;
END $$;
"""


def _function_0002() -> str:
    # The previous definition, verbatim, for the reverse migration (0002 also created triggers,
    # which must not be created twice: take only its ledger_move).
    sql = importlib.import_module("ledger.migrations.0002_postgresql_ledger_functions_and_triggers").FORWARD_SQL
    return sql[sql.index("CREATE OR REPLACE FUNCTION ledger_move(") :]


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP FUNCTION IF EXISTS ledger_move({ARGS_0002})", params=None)
        schema_editor.execute(FORWARD_SQL, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP FUNCTION IF EXISTS ledger_move({ARGS_0003})", params=None)
        schema_editor.execute(_function_0002(), params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("ledger", "0005_bank_account_unique_per_owner"),
        ("compliance", "0005_audit_event"),
    ]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]

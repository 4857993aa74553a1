"""PostgreSQL-only ledger machinery: insert-only triggers, deferred balance checks and ledger_move().

Skipped on SQLite (the dev profile), where ledger/engine.py runs the ORM path instead.

- ledger_reject_change / ledger_reject_truncate: journal entries and postings are insert-only.
  TRUNCATE is refused unless the table is already empty (so Django's test flush of an empty
  ledger still works; truncating nothing destroys nothing; TRUNCATE holds ACCESS EXCLUSIVE before
  the trigger runs, so the emptiness check cannot race).
- ledger_check_*_balanced: deferred constraint triggers; at commit every entry touched must have
  >= 2 postings summing to zero per currency.
- ledger_system_account(kind, currency, shard): finds or creates a system account shard.
- ledger_move(...): one round trip for a two-leg movement. Steps, mirrored exactly by
  ledger/engine.py::_move_orm: resolve accounts (with ownership), currency, same-account, KYC,
  idempotent entry insert (ON CONFLICT DO NOTHING, never check-then-act), lock both accounts in
  primary-key order FOR NO KEY UPDATE, daily limit, funds, balances, two postings.
  Errors are raised as SQLSTATE P0001 with the message 'ledger:<code>'.
"""

from django.db import migrations

FORWARD_SQL = r"""
CREATE OR REPLACE FUNCTION ledger_reject_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION USING ERRCODE = 'P0001',
        MESSAGE = format('ledger:insert_only: %s rows cannot be changed (%s); post a reversing entry', TG_TABLE_NAME, TG_OP);
END $$;

CREATE OR REPLACE FUNCTION ledger_reject_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE v_has_rows boolean;
BEGIN
    EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I.%I)', TG_TABLE_SCHEMA, TG_TABLE_NAME) INTO v_has_rows;
    IF v_has_rows THEN
        RAISE EXCEPTION USING ERRCODE = 'P0001',
            MESSAGE = format('ledger:insert_only: %s cannot be truncated', TG_TABLE_NAME);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER ledger_journalentry_insert_only BEFORE UPDATE OR DELETE ON ledger_journalentry
    FOR EACH ROW EXECUTE FUNCTION ledger_reject_change();
CREATE TRIGGER ledger_journalentry_no_truncate BEFORE TRUNCATE ON ledger_journalentry
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_reject_truncate();
CREATE TRIGGER ledger_posting_insert_only BEFORE UPDATE OR DELETE ON ledger_posting
    FOR EACH ROW EXECUTE FUNCTION ledger_reject_change();
CREATE TRIGGER ledger_posting_no_truncate BEFORE TRUNCATE ON ledger_posting
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_reject_truncate();

CREATE OR REPLACE FUNCTION ledger_assert_entry_balanced(p_entry bigint) RETURNS void LANGUAGE plpgsql AS $$
DECLARE v_count bigint; v_unbalanced boolean;
BEGIN
    SELECT coalesce(sum(c), 0), coalesce(bool_or(s <> 0), false) INTO v_count, v_unbalanced
      FROM (SELECT count(*) AS c, sum(amount) AS s FROM ledger_posting WHERE entry_id = p_entry GROUP BY currency) t;
    IF v_count < 2 OR v_unbalanced THEN
        RAISE EXCEPTION USING ERRCODE = 'P0001',
            MESSAGE = format('ledger:unbalanced_entry: entry %s has %s postings or does not sum to zero', p_entry, v_count);
    END IF;
END $$;

CREATE OR REPLACE FUNCTION ledger_check_entry_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM ledger_assert_entry_balanced(NEW.id);
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION ledger_check_posting_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM ledger_assert_entry_balanced(NEW.entry_id);
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER ledger_journalentry_balanced AFTER INSERT ON ledger_journalentry
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_check_entry_balanced();
CREATE CONSTRAINT TRIGGER ledger_posting_balanced AFTER INSERT ON ledger_posting
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ledger_check_posting_balanced();

CREATE OR REPLACE FUNCTION ledger_system_account(p_kind text, p_currency text, p_shard integer)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE v_id bigint;
BEGIN
    SELECT id INTO v_id FROM ledger_ledgeraccount
     WHERE owner_id IS NULL AND kind = p_kind AND currency = p_currency AND shard = p_shard;
    IF v_id IS NULL THEN
        INSERT INTO ledger_ledgeraccount
            (public_id, owner_id, kind, currency, shard, allow_negative, balance, daily_debit_day, daily_debit_total, created_at)
        VALUES (gen_random_uuid(), NULL, p_kind, p_currency, p_shard, true, 0, NULL, 0, clock_timestamp())
        ON CONFLICT DO NOTHING;
        SELECT id INTO v_id FROM ledger_ledgeraccount
         WHERE owner_id IS NULL AND kind = p_kind AND currency = p_currency AND shard = p_shard;
    END IF;
    RETURN v_id;
END $$;

CREATE OR REPLACE FUNCTION ledger_move(
    p_entry_type text, p_channel text, p_amount bigint, p_currency text,
    p_from_public uuid, p_from_system text, p_to_public uuid, p_to_system text,
    p_owner bigint, p_owner_side text, p_to_wallet_only boolean,
    p_kyc_user bigint, p_tier_limits bigint[], p_limit_day date, p_shard integer,
    p_idempotency_key text, p_fingerprint text, p_created_by bigint, p_request_id text,
    p_reference text, p_external_reference text, p_reverses bigint
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
    RETURN NEXT;
END $$;
"""

REVERSE_SQL = r"""
DROP FUNCTION IF EXISTS ledger_move(text, text, bigint, text, uuid, text, uuid, text, bigint, text, boolean,
    bigint, bigint[], date, integer, text, text, bigint, text, text, text, bigint);
DROP FUNCTION IF EXISTS ledger_system_account(text, text, integer);
DROP TRIGGER IF EXISTS ledger_posting_balanced ON ledger_posting;
DROP TRIGGER IF EXISTS ledger_journalentry_balanced ON ledger_journalentry;
DROP FUNCTION IF EXISTS ledger_check_posting_balanced();
DROP FUNCTION IF EXISTS ledger_check_entry_balanced();
DROP FUNCTION IF EXISTS ledger_assert_entry_balanced(bigint);
DROP TRIGGER IF EXISTS ledger_posting_no_truncate ON ledger_posting;
DROP TRIGGER IF EXISTS ledger_posting_insert_only ON ledger_posting;
DROP TRIGGER IF EXISTS ledger_journalentry_no_truncate ON ledger_journalentry;
DROP TRIGGER IF EXISTS ledger_journalentry_insert_only ON ledger_journalentry;
DROP FUNCTION IF EXISTS ledger_reject_truncate();
DROP FUNCTION IF EXISTS ledger_reject_change();
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD_SQL, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(REVERSE_SQL, params=None)


class Migration(migrations.Migration):
    dependencies = [("ledger", "0001_ledger_schema")]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]

"""Shorter locks and less work per movement: the bulk path's audit rows move before the locks, the
postings' balance check reads each entry once, and two redundant journal indexes go.

Measured on the bulk path (perf, pg_waldump; docs/BENCHMARKS.md): every transfer wrote 19 index
tuples and ran its balance checks and foreign-key checks while the batch's accounts were locked,
so eight concurrent bulk payments over the same wallets queued behind each other's commits.

1. ``ledger_transfer_batch``: the new items' audit records are inserted in the same statement as
   their idempotency claims (step 3), before any account is locked, instead of with the postings
   (step 7). Same rows, same columns, one per new item in item order; the audit timestamp is the
   entry's ``created_at``. A refusal later in the call still rolls them back with everything else.
2. ``ledger_check_postings_balanced`` (the postings' statement trigger): one index scan per entry
   of the statement (count and per-currency sum from one aggregate) instead of two, and one rule
   more: all of an entry's postings come from one statement. Before, a pair of postings that
   balanced each other could be added to an existing entry later; every writer (ledger_move,
   ledger_transfer_batch, the ORM engine's bulk_create) already writes an entry's postings at once. The entries'
   deferred trigger (``ledger_check_entry_balanced``, once per entry at commit, while the accounts
   are locked) now only asks whether the entry has a posting at all: the statement trigger has
   already checked every posting set, and postings are insert-only.
3. Journal entry indexes, each covered by another index (so lookups keep an index):
   - ``reverses_id``: the partial unique index ``ledger_entry_reversed_once`` covers it (a lookup by
     ``reverses_id = x`` implies ``reverses_id IS NOT NULL``);
   - ``created_by_id``: ``ledger_entry_idempotency_key_unique`` becomes a plain unique index on
     ``(created_by_id, idempotency_key)``, which leads with it. Uniqueness is unchanged: NULL keys
     are distinct from each other in a unique index, so keyless entries never conflict.
   On PostgreSQL these are built and dropped CONCURRENTLY (a non-atomic migration): a live
   journal keeps taking writes while the new unique index scans it.
"""

import importlib

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

FORWARD_SQL = r"""
CREATE OR REPLACE FUNCTION ledger_transfer_batch(
    p_actor bigint, p_from uuid[], p_to uuid[], p_amount bigint[], p_currency text[],
    p_key text[], p_fingerprint text[], p_reference text[],
    p_tier_limits bigint[], p_limit_day date, p_request_id text,
    p_audit_action text, p_audit_user bigint, p_audit_actor_type text, p_audit_source_ip inet, p_audit_extra jsonb
) RETURNS TABLE (
    o_item integer, o_entry_id bigint, o_entry_public_id uuid, o_created_at timestamptz, o_replayed boolean,
    o_from_public uuid, o_to_public uuid, o_from_balance_after bigint, o_to_balance_after bigint
) LANGUAGE plpgsql AS $$
DECLARE
    v_n integer := cardinality(p_key);
    v_tier integer;
    v_limit bigint;
    v_from bigint[];
    v_to bigint[];
    v_entry bigint[];
    v_entry_public uuid[];
    v_entry_at timestamptz[];
    v_replayed boolean[];
    v_from_public uuid[];
    v_to_public uuid[];
    v_from_after bigint[];
    v_to_after bigint[];
    v_leg_item integer[];
    v_leg_account bigint[];
    v_leg_delta bigint[];
    v_leg_after bigint[];
    v_leg_public uuid[];
    v_bad integer;
    v_bad2 integer;
    v_bad3 integer;
    v_now timestamptz;
BEGIN
    IF v_n IS NULL OR v_n = 0 OR cardinality(p_from) <> v_n OR cardinality(p_to) <> v_n
       OR cardinality(p_amount) <> v_n OR cardinality(p_currency) <> v_n
       OR cardinality(p_fingerprint) <> v_n OR cardinality(p_reference) <> v_n
       OR (SELECT count(DISTINCT k) FROM unnest(p_key) AS k) <> v_n THEN
        RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE = 'ledger:invalid_batch';
    END IF;
    -- 1. KYC: the actor is one customer; only a verified one moves money.
    SELECT k.tier INTO v_tier FROM ledger_kycrecord k WHERE k.user_id = p_actor AND k.status = 'verified';
    IF v_tier IS NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE = 'ledger:kyc_required';
    END IF;
    v_limit := p_tier_limits[v_tier];
    -- 2. Resolve every item: the source must be the actor's own wallet, the destination a wallet.
    SELECT array_agg(f.id ORDER BY u.i), array_agg(t.id ORDER BY u.i),
           min(u.i) FILTER (WHERE f.id IS NULL OR t.id IS NULL),
           min(u.i) FILTER (WHERE f.currency <> u.cur OR t.currency <> u.cur),
           min(u.i) FILTER (WHERE f.id = t.id)
      INTO v_from, v_to, v_bad, v_bad2, v_bad3
      FROM unnest(p_from, p_to, p_currency) WITH ORDINALITY AS u(fp, tp, cur, i)
      LEFT JOIN ledger_ledgeraccount f ON f.public_id = u.fp AND f.owner_id = p_actor AND f.kind = 'customer_wallet'
      LEFT JOIN ledger_ledgeraccount t ON t.public_id = u.tp AND t.kind = 'customer_wallet';
    IF v_bad IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE = 'ledger:not_found', HINT = v_bad::text;
    ELSIF v_bad2 IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE = 'ledger:currency_mismatch', HINT = v_bad2::text;
    ELSIF v_bad3 IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE = 'ledger:same_account', HINT = v_bad3::text;
    END IF;
    -- 3. Idempotency claims, in key order: two batches of one actor claim in the same order, and no
    --    account is locked yet, so a claim that waits for a concurrent twin holds no account lock.
    --    The new items' audit records are written in the same statement, also before any lock.
    v_now := clock_timestamp();
    WITH claimed AS (
        INSERT INTO ledger_journalentry
            (public_id, entry_type, channel, amount, currency, reference, external_reference,
             idempotency_key, request_fingerprint, request_id, created_by_id, created_at)
        SELECT gen_random_uuid(), 'transfer', 'internal', u.amount, u.cur, u.ref, '',
               u.k, u.fp, left(coalesce(p_request_id, ''), 128), p_actor, v_now
          FROM unnest(p_amount, p_currency, p_reference, p_key, p_fingerprint) AS u(amount, cur, ref, k, fp)
         ORDER BY u.k
        ON CONFLICT DO NOTHING
        RETURNING id, public_id, created_at, idempotency_key
    ), audited AS (
        -- One PMLA record per new item, written with its claim: before any account is locked.
        INSERT INTO compliance_auditevent
            (timestamp, user_id, actor_type, action, source_ip, change_diff, request_id, object_type, object_id)
        SELECT v_now, p_audit_user, p_audit_actor_type, p_audit_action, p_audit_source_ip,
               coalesce(p_audit_extra, '{}'::jsonb) || jsonb_build_object(
                   'amount', u.amount, 'currency', u.cur, 'from_account', u.f::text, 'to_account', u.t::text),
               left(coalesce(p_request_id, ''), 128), 'ledger.JournalEntry', c.public_id::text
          FROM unnest(p_key, p_amount, p_currency, p_from, p_to) WITH ORDINALITY AS u(k, amount, cur, f, t, i)
          JOIN claimed c ON c.idempotency_key = u.k
         WHERE p_audit_action IS NOT NULL
         ORDER BY u.i
    )
    SELECT array_agg(c.id ORDER BY u.i), array_agg(c.public_id ORDER BY u.i), array_agg(c.created_at ORDER BY u.i),
           array_agg(c.id IS NULL ORDER BY u.i)
      INTO v_entry, v_entry_public, v_entry_at, v_replayed
      FROM unnest(p_key) WITH ORDINALITY AS u(k, i) LEFT JOIN claimed c ON c.idempotency_key = u.k;
    -- 4. Keys already used: the same request is replayed (its original result is returned, nothing
    --    is written), a different request under a used key refuses the whole batch.
    IF true = ANY(v_replayed) THEN
        SELECT array_agg(coalesce(v_entry[u.i], e.id) ORDER BY u.i),
               array_agg(coalesce(v_entry_public[u.i], e.public_id) ORDER BY u.i),
               array_agg(coalesce(v_entry_at[u.i], e.created_at) ORDER BY u.i),
               array_agg(r.from_public ORDER BY u.i), array_agg(r.to_public ORDER BY u.i),
               array_agg(r.from_after ORDER BY u.i), array_agg(r.to_after ORDER BY u.i),
               min(u.i) FILTER (WHERE v_replayed[u.i] AND (e.id IS NULL OR e.request_fingerprint <> u.fp))
          INTO v_entry, v_entry_public, v_entry_at, v_from_public, v_to_public, v_from_after, v_to_after, v_bad
          FROM unnest(p_key, p_fingerprint, v_replayed) WITH ORDINALITY AS u(k, fp, replayed, i)
          LEFT JOIN ledger_journalentry e
            ON u.replayed AND e.created_by_id = p_actor AND e.idempotency_key = u.k
          LEFT JOIN LATERAL (
              SELECT max(a.public_id::text) FILTER (WHERE p.amount < 0)::uuid AS from_public,
                     max(a.public_id::text) FILTER (WHERE p.amount > 0)::uuid AS to_public,
                     max(p.balance_after) FILTER (WHERE p.amount < 0) AS from_after,
                     max(p.balance_after) FILTER (WHERE p.amount > 0) AS to_after
                FROM ledger_posting p JOIN ledger_ledgeraccount a ON a.id = p.account_id
               WHERE p.entry_id = e.id) r ON e.id IS NOT NULL;
        IF v_bad IS NOT NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE = 'ledger:idempotency_key_reused', HINT = v_bad::text;
        END IF;
    END IF;
    -- 5. Lock every account the new items touch once, in primary-key order.
    PERFORM 1 FROM ledger_ledgeraccount a
      WHERE a.id IN (SELECT x FROM unnest(v_from, v_to, v_replayed) AS u(f, t, replayed),
                                   LATERAL (VALUES (u.f), (u.t)) AS v(x)
                      WHERE NOT u.replayed)
      ORDER BY a.id FOR NO KEY UPDATE;
    -- 6. Balances in item order (a running sum per account over the locked rows), funds and limits.
    WITH items AS (
        SELECT u.i::integer AS i, u.f, u.t, u.amount
          FROM unnest(v_from, v_to, p_amount, v_replayed) WITH ORDINALITY AS u(f, t, amount, replayed, i)
         WHERE NOT u.replayed
    ), legs AS (
        SELECT i, f AS account, -amount AS delta, 0 AS leg FROM items
        UNION ALL
        SELECT i, t AS account, amount AS delta, 1 AS leg FROM items
    ), run AS (
        SELECT l.i, l.leg, l.account, l.delta, a.public_id, a.allow_negative,
               a.balance + sum(l.delta) OVER w AS after,
               CASE WHEN l.leg = 0 THEN
                   CASE WHEN a.daily_debit_day = p_limit_day THEN a.daily_debit_total ELSE 0 END
                   + sum(-l.delta) FILTER (WHERE l.leg = 0) OVER w
               END AS daily
          FROM legs l JOIN ledger_ledgeraccount a ON a.id = l.account
        WINDOW w AS (PARTITION BY l.account ORDER BY l.i, l.leg ROWS UNBOUNDED PRECEDING)
    )
    SELECT array_agg(i ORDER BY i, leg), array_agg(account ORDER BY i, leg), array_agg(delta ORDER BY i, leg),
           array_agg(after ORDER BY i, leg), array_agg(public_id ORDER BY i, leg),
           min(i) FILTER (WHERE NOT allow_negative AND after < 0),
           min(i) FILTER (WHERE p_tier_limits IS NOT NULL AND (v_limit IS NULL OR daily > v_limit))
      INTO v_leg_item, v_leg_account, v_leg_delta, v_leg_after, v_leg_public, v_bad, v_bad2
      FROM run;
    IF v_bad2 IS NOT NULL AND (v_bad IS NULL OR v_bad2 <= v_bad) THEN
        RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE = 'ledger:daily_limit_exceeded', HINT = v_bad2::text;
    ELSIF v_bad IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE = 'ledger:insufficient_funds', HINT = v_bad::text;
    END IF;
    -- 7. Write: each account's final balance (and outflow counter) and the postings.
    IF v_leg_item IS NOT NULL THEN
        v_now := clock_timestamp();
        WITH legs AS (
            SELECT * FROM unnest(v_leg_item, v_leg_account, v_leg_delta, v_leg_after, v_leg_public)
                AS l(i, account, delta, after, public_id)
        ), balances AS (
            UPDATE ledger_ledgeraccount a
               SET balance = x.after,
                   daily_debit_day = CASE WHEN x.outflow > 0 AND p_tier_limits IS NOT NULL THEN p_limit_day ELSE a.daily_debit_day END,
                   daily_debit_total = CASE WHEN x.outflow > 0 AND p_tier_limits IS NOT NULL THEN
                       CASE WHEN a.daily_debit_day = p_limit_day THEN a.daily_debit_total ELSE 0 END + x.outflow
                       ELSE a.daily_debit_total END
              FROM (SELECT account, (array_agg(after ORDER BY i DESC))[1] AS after,
                           coalesce(sum(-delta) FILTER (WHERE delta < 0), 0) AS outflow
                      FROM legs GROUP BY account) x
             WHERE a.id = x.account
        )
        INSERT INTO ledger_posting (entry_id, account_id, amount, currency, balance_after, created_at)
        SELECT v_entry[l.i], l.account, l.delta, p_currency[l.i], l.after, v_now FROM legs l;
    END IF;
    -- 8. One row per item, in item order: new items from the legs just written, replays from step 4.
    RETURN QUERY
        SELECT u.i::integer, v_entry[u.i], v_entry_public[u.i], v_entry_at[u.i], v_replayed[u.i],
               coalesce(d.public_id, v_from_public[u.i]), coalesce(c.public_id, v_to_public[u.i]),
               coalesce(d.after, v_from_after[u.i]), coalesce(c.after, v_to_after[u.i])
          FROM generate_subscripts(p_key, 1) AS u(i)
          LEFT JOIN unnest(v_leg_item, v_leg_after, v_leg_public, v_leg_delta) AS d(i, after, public_id, delta)
            ON d.i = u.i AND d.delta < 0
          LEFT JOIN unnest(v_leg_item, v_leg_after, v_leg_public, v_leg_delta) AS c(i, after, public_id, delta)
            ON c.i = u.i AND c.delta > 0
         ORDER BY u.i;
END $$;

CREATE OR REPLACE FUNCTION ledger_check_postings_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE v_entry bigint;
BEGIN
    -- Every entry this statement gave postings: all of its postings (one index scan) must be this
    -- statement's (an entry's postings are written once), at least 2, summing to zero per currency.
    SELECT n.entry_id INTO v_entry
      FROM (SELECT entry_id, count(*) AS fresh FROM new_postings GROUP BY entry_id) n,
           LATERAL (SELECT sum(t.c) AS c, bool_or(t.s <> 0) AS unbalanced
                      FROM (SELECT count(*) AS c, sum(p.amount) AS s FROM ledger_posting p
                             WHERE p.entry_id = n.entry_id GROUP BY p.currency) t) x
     WHERE x.c < 2 OR x.unbalanced OR x.c <> n.fresh
     LIMIT 1;
    IF v_entry IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE = format(
            'ledger:unbalanced_entry: entry %s needs at least 2 postings, written in one statement, '
            'summing to zero per currency', v_entry);
    END IF;
    RETURN NULL;
END $$;
CREATE OR REPLACE FUNCTION ledger_check_entry_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Existence is enough: every INSERT into ledger_posting is checked at the end of its statement
    -- (ledger_posting_balanced: >= 2 postings, zero sum per currency, counting all the entry's
    -- postings) and postings can be neither updated nor deleted, so an entry with a posting at
    -- commit is balanced. What only this deferred check catches is an entry with none.
    IF NOT EXISTS (SELECT FROM ledger_posting WHERE entry_id = NEW.id) THEN
        RAISE EXCEPTION USING ERRCODE = 'P0001',
            MESSAGE = format('ledger:unbalanced_entry: entry %s has no postings', NEW.id);
    END IF;
    RETURN NULL;
END $$;
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD_SQL, params=None)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        # 0008's own SQL restores its functions and (re)creates its trigger: it is idempotent.
        sql = importlib.import_module("ledger.migrations.0008_transfer_batch_and_statement_balance_checks").FORWARD_SQL
        schema_editor.execute(sql, params=None)


# The index changes scan the journal: on PostgreSQL they are built and dropped CONCURRENTLY, so a
# live ledger keeps taking writes meanwhile (only ADD CONSTRAINT ... USING INDEX takes a brief
# exclusive lock, without a scan). Until the new unique index is in place the old one enforces
# the idempotency keys, so there is no moment without the guarantee.
_FK_INDEXES = (
    ("ledger_journalentry_created_by_id_90be368c", "created_by_id"),
    ("ledger_journalentry_reverses_id_efcde77e", "reverses_id"),
)
_KEY = "ledger_entry_idempotency_key_unique"
_POSTGRESQL_FORWARD = [
    f"CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS {_KEY}_new ON ledger_journalentry (created_by_id, idempotency_key)",
    f"DROP INDEX CONCURRENTLY IF EXISTS {_KEY}",
    f"ALTER TABLE ledger_journalentry ADD CONSTRAINT {_KEY} UNIQUE USING INDEX {_KEY}_new",
    *(f"DROP INDEX CONCURRENTLY IF EXISTS {name}" for name, _ in _FK_INDEXES),
]
_POSTGRESQL_BACKWARD = [
    *(
        f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON ledger_journalentry ({column})"
        for name, column in _FK_INDEXES
    ),
    f"CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS {_KEY}_old ON ledger_journalentry (created_by_id, idempotency_key) "
    "WHERE idempotency_key IS NOT NULL",
    f"ALTER TABLE ledger_journalentry DROP CONSTRAINT IF EXISTS {_KEY}",
    f"ALTER INDEX {_KEY}_old RENAME TO {_KEY}",
]
# SQLite (the dev profile): no concurrency to protect; the same end state, as plain indexes.
_SQLITE_FORWARD = [
    f"DROP INDEX IF EXISTS {_KEY}",
    f"CREATE UNIQUE INDEX {_KEY} ON ledger_journalentry (created_by_id, idempotency_key)",
    *(f"DROP INDEX IF EXISTS {name}" for name, _ in _FK_INDEXES),
]
_SQLITE_BACKWARD = [
    f"DROP INDEX IF EXISTS {_KEY}",
    f"CREATE UNIQUE INDEX {_KEY} ON ledger_journalentry (created_by_id, idempotency_key) WHERE idempotency_key IS NOT NULL",
    *(f"CREATE INDEX IF NOT EXISTS {name} ON ledger_journalentry ({column})" for name, column in _FK_INDEXES),
]


def _run(statements: dict[str, list[str]]):
    def run(apps, schema_editor):
        for statement in statements["postgresql" if schema_editor.connection.vendor == "postgresql" else "sqlite"]:
            schema_editor.execute(statement, params=None)

    return run


class Migration(migrations.Migration):
    atomic = False  # CREATE/DROP INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ("ledger", "0008_transfer_batch_and_statement_balance_checks"),
    ]

    operations = [
        migrations.RunPython(forwards, backwards, elidable=False, atomic=True),
        # Django's own operations would lock the table while they scan it (and its AlterField would
        # drop every index on the column when db_index goes, the partial unique
        # ledger_entry_reversed_once included): the database side is explicit, the state is Django's.
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunPython(
                    _run({"postgresql": _POSTGRESQL_FORWARD, "sqlite": _SQLITE_FORWARD}),
                    _run({"postgresql": _POSTGRESQL_BACKWARD, "sqlite": _SQLITE_BACKWARD}),
                    elidable=False,
                ),
            ],
            state_operations=[
                migrations.RemoveConstraint(model_name="journalentry", name="ledger_entry_idempotency_key_unique"),
                migrations.AddConstraint(
                    model_name="journalentry",
                    constraint=models.UniqueConstraint(
                        fields=("created_by", "idempotency_key"), name="ledger_entry_idempotency_key_unique"
                    ),
                ),
                migrations.AlterField(
                    model_name="journalentry",
                    name="created_by",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                migrations.AlterField(
                    model_name="journalentry",
                    name="reverses",
                    field=models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="reversals",
                        to="ledger.journalentry",
                    ),
                ),
            ],
        ),
    ]

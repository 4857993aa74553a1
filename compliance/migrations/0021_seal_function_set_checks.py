"""The sealing function checks the chain's continuation set-wise (issue 20: sealing >= 10k records/s).

Same signature, privileges (SECURITY DEFINER, EXECUTE for the application role only), lock, checks
and error messages as 0006; what changed is how the checks run. 0006 looped over the arrays in
PL/pgSQL and matched every hash against ``'^[0-9a-f]{64}$'``: PostgreSQL's regex engine unrolls the
bounded repetition, and that match alone was about 13 microseconds per record, more than the UPDATE
itself. Now one query over ``unnest(...) WITH ORDINALITY`` (the pairing the UPDATE uses) checks every
element, with the previous element's hash from ``lag``, and the hash test is
``length(hash) = 64 AND hash ~ '^[0-9a-f]*$'`` (the same strings: exactly 64 lowercase hex digits).
The first failing position is named with 0006's message, in 0006's order (seq, then prev_hash, then
the hash's form). Arrays must also be one-dimensional (``cardinality`` = length), so what is checked
is what the UPDATE writes. PostgreSQL only.
"""

import importlib

from django.db import migrations

SEAL_FUNCTION = """
CREATE OR REPLACE FUNCTION compliance_audit_seal(
    p_ids bigint[], p_seqs bigint[], p_prev text[], p_hashes text[], p_sealed_at timestamptz
) RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = {schema}, pg_temp
AS $fn$
DECLARE
    n integer := coalesce(array_length(p_ids, 1), 0);
    head_seq bigint;
    head_hash text;
    bad record;
    updated integer;
BEGIN
    IF n = 0 THEN
        RETURN 0;
    END IF;
    IF coalesce(array_length(p_seqs, 1), 0) <> n OR coalesce(array_length(p_prev, 1), 0) <> n
       OR coalesce(array_length(p_hashes, 1), 0) <> n OR p_sealed_at IS NULL
       OR cardinality(p_ids) <> n OR cardinality(p_seqs) <> n OR cardinality(p_prev) <> n
       OR cardinality(p_hashes) <> n THEN
        RAISE EXCEPTION 'audit seal: malformed arguments';
    END IF;
    -- The same key as compliance.audit.chain.SEAL_LOCK_KEY: one sealer at a time.
    PERFORM pg_advisory_xact_lock(418581342580);
    SELECT e.seq, e.hash INTO head_seq, head_hash
      FROM compliance_auditevent AS e WHERE e.seq IS NOT NULL ORDER BY e.seq DESC LIMIT 1;
    head_seq := coalesce(head_seq, 0);
    head_hash := coalesce(head_hash, repeat('0', 64));
    -- Every element continues the chain: seq = head + position, prev_hash = the previous
    -- element's hash (the head's for the first), hash = 64 lowercase hex digits.
    SELECT c.i, c.seq, c.seq_ok, c.prev_ok INTO bad
      FROM (SELECT u.i, u.seq,
                   u.seq IS NOT DISTINCT FROM head_seq + u.i AS seq_ok,
                   u.prev IS NOT DISTINCT FROM lag(u.hash, 1, head_hash) OVER (ORDER BY u.i) AS prev_ok,
                   u.hash IS NOT NULL AND length(u.hash) = 64 AND u.hash ~ '^[0-9a-f]*$' AS hash_ok
              FROM unnest(p_seqs, p_prev, p_hashes) WITH ORDINALITY AS u(seq, prev, hash, i)) AS c
     WHERE NOT (c.seq_ok AND c.prev_ok AND c.hash_ok)
     ORDER BY c.i
     LIMIT 1;
    IF FOUND THEN
        IF NOT bad.seq_ok THEN
            RAISE EXCEPTION 'audit seal: seq % does not continue the chain (head %)', bad.seq, head_seq;
        ELSIF NOT bad.prev_ok THEN
            RAISE EXCEPTION 'audit seal: prev_hash of seq % does not continue the chain', bad.seq;
        END IF;
        RAISE EXCEPTION 'audit seal: hash of seq % is not a SHA-256 hex digest', bad.seq;
    END IF;
    UPDATE compliance_auditevent AS e
       SET seq = s.seq, prev_hash = s.prev_hash, hash = s.hash, sealed_at = p_sealed_at
      FROM unnest(p_ids, p_seqs, p_prev, p_hashes) AS s(id, seq, prev_hash, hash)
     WHERE e.id = s.id AND e.seq IS NULL;
    GET DIAGNOSTICS updated = ROW_COUNT;
    IF updated <> n THEN
        RAISE EXCEPTION 'audit seal: % of % records were missing or already sealed', n - updated, n;
    END IF;
    RETURN n;
END
$fn$;
REVOKE ALL ON FUNCTION compliance_audit_seal(bigint[], bigint[], text[], text[], timestamptz) FROM PUBLIC;
"""


def _install(schema_editor, function: str) -> None:
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT quote_ident(current_schema())")
        schema = cursor.fetchone()[0]
        cursor.execute(function.format(schema=schema))


def forwards(apps, schema_editor):
    _install(schema_editor, SEAL_FUNCTION)


def backwards(apps, schema_editor):
    _install(schema_editor, importlib.import_module("compliance.migrations.0006_audit_seal_function").SEAL_FUNCTION)


class Migration(migrations.Migration):
    dependencies = [("compliance", "0020_subject_keys")]

    operations = [migrations.RunPython(forwards, backwards, elidable=False)]

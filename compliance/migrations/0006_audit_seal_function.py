"""The sealing function: the only way the application role can UPDATE the audit table.

SECURITY DEFINER (runs with the owner's rights) so the application role needs no UPDATE
privilege at all: it may only hand over seq/prev_hash/hash for *unsealed* rows, and only as the
direct continuation of the chain (next seq, previous hash), under the sealers' advisory lock.
The hash values themselves are checked by verify_audit_chain, not here. PostgreSQL only.
"""

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
    updated integer;
BEGIN
    IF n = 0 THEN
        RETURN 0;
    END IF;
    IF coalesce(array_length(p_seqs, 1), 0) <> n OR coalesce(array_length(p_prev, 1), 0) <> n
       OR coalesce(array_length(p_hashes, 1), 0) <> n OR p_sealed_at IS NULL THEN
        RAISE EXCEPTION 'audit seal: malformed arguments';
    END IF;
    -- The same key as compliance.audit_chain.SEAL_LOCK_KEY: one sealer at a time.
    PERFORM pg_advisory_xact_lock(418581342580);
    SELECT e.seq, e.hash INTO head_seq, head_hash
      FROM compliance_auditevent AS e WHERE e.seq IS NOT NULL ORDER BY e.seq DESC LIMIT 1;
    head_seq := coalesce(head_seq, 0);
    head_hash := coalesce(head_hash, repeat('0', 64));
    FOR i IN 1..n LOOP
        IF p_seqs[i] IS DISTINCT FROM head_seq + i THEN
            RAISE EXCEPTION 'audit seal: seq % does not continue the chain (head %)', p_seqs[i], head_seq;
        END IF;
        IF p_prev[i] IS DISTINCT FROM (CASE WHEN i = 1 THEN head_hash ELSE p_hashes[i - 1] END) THEN
            RAISE EXCEPTION 'audit seal: prev_hash of seq % does not continue the chain', p_seqs[i];
        END IF;
        IF p_hashes[i] IS NULL OR p_hashes[i] !~ '^[0-9a-f]{{64}}$' THEN
            RAISE EXCEPTION 'audit seal: hash of seq % is not a SHA-256 hex digest', p_seqs[i];
        END IF;
    END LOOP;
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

DROP_FUNCTION = "DROP FUNCTION IF EXISTS compliance_audit_seal(bigint[], bigint[], text[], text[], timestamptz);"


def create_seal_function(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT quote_ident(current_schema())")
        schema = cursor.fetchone()[0]
        cursor.execute(SEAL_FUNCTION.format(schema=schema))


def drop_seal_function(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(DROP_FUNCTION)


class Migration(migrations.Migration):
    dependencies = [("compliance", "0005_audit_event")]

    operations = [migrations.RunPython(create_seal_function, drop_seal_function, elidable=False)]

-- The subjects index is built over ledger_subject_tags(subjects) (migration 0011). As a SQL
-- function that is not inlined, PostgreSQL parsed and planned its body again for every append
-- statement, about a fifth of an append's time in PostgreSQL (~0.1 ms of ~0.55 ms for an event
-- of one subject). The same function in PL/pgSQL keeps its compiled form for the session and
-- evaluates the loop without the executor. It returns the same tags for the same subjects, so
-- the index built over the previous definition stays valid and is not rebuilt.
CREATE OR REPLACE FUNCTION ledger_subject_tags(subjects text[]) RETURNS bigint[]
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
    tags bigint[] := '{}';
    subject text;
BEGIN
    FOREACH subject IN ARRAY subjects LOOP
        tags := tags || ('x' || substr(subject, 1, 16))::bit(64)::bigint;
    END LOOP;
    RETURN tags;
END;
$$;

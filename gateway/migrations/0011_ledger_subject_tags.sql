-- "Who obtained this person's data" is answered through an inverted index over the events'
-- subject hashes. Indexed as 64-character strings, every new entry cost the index more to
-- take in (moving the pending list into the index) than the append itself cost: about
-- 0.4 ms of PostgreSQL time per event of 100 subjects, and 40 kB of WAL. The index now holds
-- each hash's first 64 bits as a bigint, a tenth of the size and about a third of the work;
-- a lookup narrows by those bits and then checks the whole hash, so a shared prefix can
-- never answer for another subject.
-- Applying it rebuilds the index over the existing events while appends wait (the migration
-- runs in one transaction): on a ledger of many millions of events, upgrade in a quiet hour,
-- and let gateways of the previous version finish before (their lookups by subject would no
-- longer find an index).
CREATE FUNCTION ledger_subject_tags(subjects text[]) RETURNS bigint[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
    SELECT coalesce(array_agg(('x' || substr(s, 1, 16))::bit(64)::bigint), '{}') FROM unnest(subjects) AS s
$$;

DROP INDEX disclosure_events_subjects;
CREATE INDEX disclosure_events_subjects ON disclosure_events USING gin (ledger_subject_tags(subjects))
    WITH (gin_pending_list_limit = 32768);

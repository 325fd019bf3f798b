-- "Who obtained this person's data" was answered through an inverted index over the events
-- themselves (0011), which every append maintained inside its group commit: for an event of
-- 100 subjects about 0.09 ms of PostgreSQL's ~0.23 ms, under the ledger lock, with every
-- request of the batch waiting for it. bench/run.py read `persons` with 100 ids at
-- 0.84-0.89x of the ledger-off throughput with that index and 0.95x without it.
--
-- The index now has a table of its own, filled behind the head: the ledger writer's
-- background task calls ledger_index_subjects() every few thousand subjects, outside any
-- commit a request waits for. A lookup reads the index for the events it holds and checks
-- the newer ones directly (gateway/ledger/queries.py), so it is complete whatever the lag.
-- Rows are derived from chained events (the tags of 0011, the whole hash checked on the
-- event itself); the table is append-only like the ledger. Applying this migration indexes
-- the events already stored, in its transaction.
CREATE TABLE ledger_subject_index (
    seq  bigint PRIMARY KEY,
    tags bigint[] NOT NULL
);

CREATE TRIGGER ledger_subject_index_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON ledger_subject_index
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only();

-- Indexes the next `max_events` events not yet indexed, in seq order; returns how many.
-- Appends commit in seq order (each batch under the ledger lock), so the indexed events are
-- always the ledger's first ones, and "not yet indexed" is "after the highest indexed seq".
CREATE FUNCTION ledger_index_subjects(max_events int) RETURNS int
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    indexed bigint;
    added int;
BEGIN
    PERFORM pg_advisory_xact_lock(724103);  -- one indexer at a time, whatever the number of gateways
    -- derived data: rows a crash loses are indexed again from the highest seq that survived,
    -- so this commit need not wait for the disk (nor hold up the ledger's own commits)
    PERFORM set_config('synchronous_commit', 'off', true);
    SELECT coalesce(max(seq), 0) INTO indexed FROM ledger_subject_index;
    INSERT INTO ledger_subject_index (seq, tags)
        SELECT e.seq, ledger_subject_tags(e.subjects) FROM disclosure_events e
        WHERE e.seq > indexed ORDER BY e.seq LIMIT max_events;
    GET DIAGNOSTICS added = ROW_COUNT;
    RETURN added;
END;
$$;

SELECT ledger_index_subjects(2147483647);

-- New entries go to the GIN pending list, moved into the index when it passes 4 MB: that
-- happens in the indexer's own insert now, never in an append.
CREATE INDEX ledger_subject_index_tags ON ledger_subject_index USING gin (tags);

DROP INDEX disclosure_events_subjects;

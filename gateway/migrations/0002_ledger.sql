-- The tamper-evident disclosure ledger (R-30, R-31, R-34): one event per operation, chained
-- by hash = sha256(prev_hash || canonical JSON of the event incl. seq), and signed
-- checkpoints of the chain head. Both tables are append-only.
CREATE TABLE disclosure_events (
    seq             bigint PRIMARY KEY CHECK (seq > 0),
    time            timestamptz NOT NULL,
    request_id      text NOT NULL,
    receipt_id      text,
    agency          text NOT NULL,
    client          text NOT NULL,
    duty            text,
    case_id         text,
    on_behalf_of    text[] NOT NULL,
    operation_name  text,
    operation_hash  text NOT NULL,
    items           jsonb NOT NULL,
    subjects        text[] NOT NULL,
    providers       text[] NOT NULL,
    row_count       bigint NOT NULL,
    latency_ms      double precision NOT NULL,
    outcome         text NOT NULL CHECK (outcome IN ('ok', 'partial', 'refused', 'error')),
    source          text NOT NULL CHECK (source IN ('network', 'cache')),
    prev_hash       text NOT NULL,
    hash            text NOT NULL
);

CREATE INDEX disclosure_events_time ON disclosure_events (time);
CREATE INDEX disclosure_events_agency ON disclosure_events (agency, seq);
CREATE INDEX disclosure_events_subjects ON disclosure_events USING gin (subjects);
CREATE INDEX disclosure_events_providers ON disclosure_events USING gin (providers);
CREATE INDEX disclosure_events_items ON disclosure_events USING gin (items jsonb_path_ops);

CREATE TABLE ledger_checkpoints (
    seq        bigint PRIMARY KEY,
    head       text NOT NULL,
    signed_at  timestamptz NOT NULL,
    signature  text NOT NULL,
    kid        text NOT NULL
);

CREATE FUNCTION ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING HINT = 'the disclosure ledger is tamper-evident; record a correction as a new event';
END;
$$;

-- Statement-level, so that even an UPDATE or DELETE matching no row is refused.
CREATE TRIGGER disclosure_events_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON disclosure_events
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only();

CREATE TRIGGER ledger_checkpoints_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON ledger_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_append_only();

-- Electronic seals (R-23a) and data snapshots (R-23b).
CREATE TABLE seal_keyrings (
    name        text PRIMARY KEY,
    document    jsonb NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE snapshots (
    id          uuid PRIMARY KEY,
    agency      text NOT NULL,
    client      text NOT NULL,
    duty        text NOT NULL,
    case_id     text,
    request_id  text NOT NULL,
    created_at  timestamptz NOT NULL,
    records     jsonb NOT NULL,
    signature   text NOT NULL
);
CREATE INDEX snapshots_case ON snapshots (case_id);
CREATE INDEX snapshots_agency ON snapshots (agency, created_at);

CREATE FUNCTION snapshots_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'data snapshots are immutable evidence (R-23b): % refused', TG_OP;
END;
$$;

CREATE TRIGGER snapshots_immutable BEFORE UPDATE OR DELETE ON snapshots
    FOR EACH ROW EXECUTE FUNCTION snapshots_immutable();
CREATE TRIGGER snapshots_no_truncate BEFORE TRUNCATE ON snapshots
    FOR EACH STATEMENT EXECUTE FUNCTION snapshots_immutable();

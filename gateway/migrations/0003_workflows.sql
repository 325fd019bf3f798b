-- The regulation's workflows: objections (R-22), access requests (R-19a/R-19b) with the
-- catalog scope they grant, and complaints (R-33). Each case row holds its current state;
-- every state change also appends a step (actor, time, action) to workflow_steps, which,
-- like the scope grants, is append-only. Dates used for deadlines are civil dates in China.
CREATE TABLE objections (
    id               bigserial PRIMARY KEY,
    item             text NOT NULL,
    provider         text NOT NULL,
    subject          text NOT NULL,
    field            text NOT NULL,
    claimed_value    text NOT NULL,
    reason           text NOT NULL,
    filed_by         text NOT NULL,
    duty             text NOT NULL,
    status           text NOT NULL CHECK (status IN ('filed', 'forwarded', 'closed')),
    outcome          text CHECK (outcome IN ('confirmed', 'corrected_technical', 'value_correct', 'record_corrected')),
    step_started_on  date,
    due              date,
    due_estimated    boolean,
    filed_at         timestamptz NOT NULL DEFAULT now(),
    closed_at        timestamptz,
    CHECK ((status = 'closed') = (outcome IS NOT NULL)),
    CHECK ((status = 'closed') = (due IS NULL AND closed_at IS NOT NULL))
);

CREATE INDEX objections_open_due ON objections (due) WHERE status <> 'closed';
CREATE INDEX objections_filed_by ON objections (filed_by);

CREATE TABLE access_requests (
    id                    bigserial PRIMARY KEY,
    item                  text NOT NULL,
    provider              text NOT NULL,
    duty                  text NOT NULL,
    requester             text NOT NULL,
    justification         text NOT NULL,
    status                text NOT NULL
        CHECK (status IN ('granted', 'awaiting_decision', 'awaiting_supply', 'supplied', 'rejected')),
    decision_reference    text,
    decided_on            date,
    supply_due            date,
    supply_due_estimated  boolean,
    supplied_on           date,
    supplied_late         boolean,
    requested_at          timestamptz NOT NULL DEFAULT now(),
    CHECK ((status IN ('awaiting_supply', 'supplied')) = (supply_due IS NOT NULL)),
    CHECK ((status = 'supplied') = (supplied_on IS NOT NULL))
);

-- one open request per agency, item and duty
CREATE UNIQUE INDEX access_requests_one_open ON access_requests (requester, item, duty)
    WHERE status IN ('awaiting_decision', 'awaiting_supply');
CREATE INDEX access_requests_supply_due ON access_requests (supply_due) WHERE status = 'awaiting_supply';

-- A government-approved widening of an item's scope (R-19b): the catalog publishes it as a
-- new version (R-9); gateways are told through NOTIFY govshare_scope_grants.
CREATE TABLE catalog_scope_grants (
    id                  bigserial PRIMARY KEY,
    item                text NOT NULL,
    duty                text NOT NULL,
    request_id          bigint NOT NULL UNIQUE REFERENCES access_requests (id),
    decision_reference  text NOT NULL,
    approved_by         text NOT NULL,
    approved_at         timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE complaints (
    id           bigserial PRIMARY KEY,
    filed_by     text NOT NULL,
    against      text NOT NULL,
    article      text,
    description  text NOT NULL,
    filed_at     timestamptz NOT NULL DEFAULT now(),
    answer       text,
    answered_by  text,
    answered_at  timestamptz,
    CHECK (filed_by <> against),
    CHECK ((answer IS NULL) = (answered_at IS NULL) AND (answer IS NULL) = (answered_by IS NULL))
);

CREATE TABLE workflow_steps (
    id        bigserial PRIMARY KEY,
    workflow  text NOT NULL CHECK (workflow IN ('objection', 'access_request', 'complaint')),
    case_id   bigint NOT NULL,
    action    text NOT NULL,
    actor     text NOT NULL,
    at        timestamptz NOT NULL DEFAULT now(),
    note      text
);

CREATE INDEX workflow_steps_case ON workflow_steps (workflow, case_id, id);

CREATE FUNCTION workflow_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING HINT = 'workflow history is evidence; record a new step instead';
END;
$$;

CREATE TRIGGER workflow_steps_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON workflow_steps
    FOR EACH STATEMENT EXECUTE FUNCTION workflow_append_only();

CREATE TRIGGER catalog_scope_grants_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON catalog_scope_grants
    FOR EACH STATEMENT EXECUTE FUNCTION workflow_append_only();

-- A complaint and its written answer are kept as filed and answered (R-33).
CREATE FUNCTION complaints_kept() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'UPDATE' OR OLD.answer IS NOT NULL
       OR (NEW.filed_by, NEW.against, NEW.article, NEW.description, NEW.filed_at)
          IS DISTINCT FROM (OLD.filed_by, OLD.against, OLD.article, OLD.description, OLD.filed_at) THEN
        RAISE EXCEPTION 'complaint %: a complaint is immutable once filed, its answer once given (% refused)', OLD.id, TG_OP;
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER complaints_kept BEFORE UPDATE OR DELETE ON complaints
    FOR EACH ROW EXECUTE FUNCTION complaints_kept();

CREATE TRIGGER complaints_not_truncated BEFORE TRUNCATE ON complaints
    FOR EACH STATEMENT EXECUTE FUNCTION workflow_append_only();

CREATE FUNCTION catalog_scope_granted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('govshare_scope_grants', NEW.id::text);
    RETURN NEW;
END;
$$;

CREATE TRIGGER catalog_scope_granted AFTER INSERT ON catalog_scope_grants
    FOR EACH ROW EXECUTE FUNCTION catalog_scope_granted();

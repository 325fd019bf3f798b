-- The gateway's control database: catalog versions, clients, signing keys and onward consents.
CREATE TABLE catalog_versions (
    version     integer PRIMARY KEY,
    digest      text NOT NULL,
    document    jsonb NOT NULL,
    author      text NOT NULL,
    reason      text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE clients (
    client_id    text PRIMARY KEY,
    agency       text NOT NULL,
    secret_hash  text NOT NULL,
    duties       text[] NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    disabled_at  timestamptz
);

CREATE TABLE signing_keys (
    kid          text PRIMARY KEY,
    purpose      text NOT NULL DEFAULT 'token',
    private_jwk  jsonb NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    retired_at   timestamptz
);

CREATE SEQUENCE consent_revision;

CREATE TABLE onward_consents (
    id            bigserial PRIMARY KEY,
    origin_item   text NOT NULL,
    holder        text NOT NULL,
    recipient     text,
    until         date,
    granted_by    text NOT NULL,
    granted_at    timestamptz NOT NULL DEFAULT now(),
    withdrawn_by  text,
    withdrawn_at  timestamptz,
    revision      bigint NOT NULL DEFAULT nextval('consent_revision')
);

CREATE FUNCTION onward_consents_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.revision := nextval('consent_revision');
    PERFORM pg_notify('govshare_consents', NEW.revision::text);
    RETURN NEW;
END;
$$;

CREATE TRIGGER onward_consents_changed BEFORE INSERT OR UPDATE ON onward_consents
    FOR EACH ROW EXECUTE FUNCTION onward_consents_changed();

-- The key of the ledger's subject hashes: shared by every gateway process, never logged.
CREATE TABLE ledger_keys (
    name        text PRIMARY KEY,
    secret      bytea NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

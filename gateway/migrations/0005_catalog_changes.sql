-- Catalog changes (R-9): widenings publish at once; removals and narrowings wait for approval.
ALTER TABLE catalog_versions ADD COLUMN base_digest text;
UPDATE catalog_versions SET base_digest = digest;

CREATE TABLE catalog_changes (
    id                  bigserial PRIMARY KEY,
    kind                text NOT NULL,
    item                text NOT NULL,
    duty                text,
    reason              text NOT NULL,
    requested_by        text NOT NULL,
    requested_at        timestamptz NOT NULL DEFAULT now(),
    status              text NOT NULL CHECK (status IN ('awaiting-approval', 'published', 'rejected')),
    approval_reference  text,
    approved_by         text,
    approved_at         timestamptz,
    version             integer REFERENCES catalog_versions (version)
);

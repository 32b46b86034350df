-- Credentials (Fernet tokens, never plaintext), server settings, who started each run, and a
-- per-project profile.

CREATE TABLE credentials (
    id         UUID PRIMARY KEY,
    tier       TEXT NOT NULL,
    -- The user (user tier) or project (project tier); the nil UUID for the global tier, so the
    -- unique index below holds for it too.
    scope_id   UUID NOT NULL,
    key        TEXT NOT NULL,
    value      TEXT NOT NULL,
    locked     BOOLEAN NOT NULL DEFAULT FALSE,
    updated_by UUID,
    updated_at TIMESTAMPTZ NOT NULL,
    UNIQUE (tier, scope_id, key)
);

CREATE TABLE settings (
    key        TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

ALTER TABLE runs ADD COLUMN started_by UUID;
ALTER TABLE projects ADD COLUMN profile TEXT NOT NULL DEFAULT '{}';

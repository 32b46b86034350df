-- Credentials (Fernet tokens, never plaintext), server settings, who started each run, and a
-- per-project profile.

CREATE TABLE credentials (
    id         BLOB PRIMARY KEY NOT NULL,
    tier       TEXT NOT NULL,
    -- The user (user tier) or project (project tier); the nil UUID for the global tier, so the
    -- unique index below holds for it too.
    scope_id   BLOB NOT NULL,
    key        TEXT NOT NULL,
    value      TEXT NOT NULL,
    locked     INTEGER NOT NULL DEFAULT 0,
    updated_by BLOB,
    updated_at TEXT NOT NULL,
    UNIQUE (tier, scope_id, key)
);

CREATE TABLE settings (
    key        TEXT PRIMARY KEY NOT NULL,
    value      TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

ALTER TABLE runs ADD COLUMN started_by BLOB;
ALTER TABLE projects ADD COLUMN profile TEXT NOT NULL DEFAULT '{}';

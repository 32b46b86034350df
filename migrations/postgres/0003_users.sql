-- Team mode: users, invites, refresh-token sessions, project membership and the audit log.

CREATE TABLE users (
    id            UUID PRIMARY KEY,
    email         TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL,
    disabled      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL
);

CREATE TABLE invites (
    id         UUID PRIMARY KEY,
    code_hash  TEXT NOT NULL UNIQUE,
    email      TEXT,
    role       TEXT NOT NULL,
    created_by UUID REFERENCES users (id) ON DELETE SET NULL,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    used_at    TIMESTAMPTZ,
    used_by    UUID REFERENCES users (id) ON DELETE SET NULL,
    revoked_at TIMESTAMPTZ
);

-- One row per refresh token; a family is one login session. A token is used once: using it
-- again means it was stolen, and the whole family is revoked.
CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    family_id  UUID NOT NULL,
    user_id    UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    used_at    TIMESTAMPTZ,
    revoked_at TIMESTAMPTZ
);
CREATE INDEX refresh_tokens_by_family ON refresh_tokens (family_id);
CREATE INDEX refresh_tokens_by_user ON refresh_tokens (user_id);

CREATE TABLE project_members (
    project_id UUID NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    user_id    UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role       TEXT NOT NULL,
    added_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (project_id, user_id)
);
CREATE INDEX project_members_by_user ON project_members (user_id);

CREATE TABLE audit_log (
    id       UUID PRIMARY KEY,
    at       TIMESTAMPTZ NOT NULL,
    actor_id UUID,
    actor    TEXT,
    action   TEXT NOT NULL,
    target   TEXT,
    ip       TEXT,
    details  TEXT
);
CREATE INDEX audit_log_by_time ON audit_log (at);

-- At most one row: the first admin. Registering without an invite inserts it in the same
-- transaction as the user, so two first registrations at once cannot both succeed.
CREATE TABLE first_admin (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    user_id   TEXT NOT NULL
);

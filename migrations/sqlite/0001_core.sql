-- Projects, tasks, runs and run logs: the core of Taskyard (SQLite).
-- Ids are UUIDs stored as 16-byte BLOBs; timestamps are RFC 3339 TEXT in UTC.

CREATE TABLE projects (
    id             BLOB PRIMARY KEY NOT NULL,
    name           TEXT NOT NULL,
    repo_path      TEXT NOT NULL UNIQUE,
    default_branch TEXT NOT NULL,
    origin_url     TEXT,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL
);

CREATE TABLE tasks (
    id           BLOB PRIMARY KEY NOT NULL,
    project_id   BLOB NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    title        TEXT NOT NULL,
    description  TEXT NOT NULL,
    slug         TEXT NOT NULL,
    status       TEXT NOT NULL,
    phase        TEXT,
    position     REAL NOT NULL,
    agent        TEXT NOT NULL,
    agent_config TEXT NOT NULL,
    branch       TEXT,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    UNIQUE (project_id, slug)
);
CREATE INDEX tasks_by_project ON tasks (project_id, status, position);

CREATE TABLE runs (
    id            BLOB PRIMARY KEY NOT NULL,
    task_id       BLOB NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    attempt       INTEGER NOT NULL,
    kind          TEXT NOT NULL,
    status        TEXT NOT NULL,
    agent         TEXT NOT NULL,
    prompt        TEXT NOT NULL,
    branch        TEXT,
    base_branch   TEXT,
    base_commit   TEXT,
    worktree_path TEXT,
    pid           INTEGER,
    exit_code     INTEGER,
    error         TEXT,
    session_id    TEXT,
    head_commit   TEXT,
    files_changed INTEGER,
    insertions    INTEGER,
    deletions     INTEGER,
    created_at    TEXT NOT NULL,
    started_at    TEXT,
    finished_at   TEXT,
    UNIQUE (task_id, attempt)
);
CREATE INDEX runs_by_status ON runs (status);

-- One row per log entry, addressed by (run_id, seq); seq is gapless per run.
CREATE TABLE run_logs (
    run_id BLOB NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    seq    INTEGER NOT NULL,
    ts     TEXT NOT NULL,
    kind   TEXT NOT NULL,
    text   TEXT NOT NULL,
    data   TEXT,
    PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;

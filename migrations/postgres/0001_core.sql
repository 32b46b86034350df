-- Projects, tasks, runs and run logs: the core of Taskyard (Postgres).

CREATE TABLE projects (
    id             UUID PRIMARY KEY,
    name           TEXT NOT NULL,
    repo_path      TEXT NOT NULL UNIQUE,
    default_branch TEXT NOT NULL,
    origin_url     TEXT,
    created_at     TIMESTAMPTZ NOT NULL,
    updated_at     TIMESTAMPTZ NOT NULL
);

CREATE TABLE tasks (
    id           UUID PRIMARY KEY,
    project_id   UUID NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
    title        TEXT NOT NULL,
    description  TEXT NOT NULL,
    slug         TEXT NOT NULL,
    status       TEXT NOT NULL,
    phase        TEXT,
    position     DOUBLE PRECISION NOT NULL,
    agent        TEXT NOT NULL,
    agent_config TEXT NOT NULL,
    branch       TEXT,
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL,
    UNIQUE (project_id, slug)
);
CREATE INDEX tasks_by_project ON tasks (project_id, status, position);

CREATE TABLE runs (
    id            UUID PRIMARY KEY,
    task_id       UUID NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,
    attempt       BIGINT NOT NULL,
    kind          TEXT NOT NULL,
    status        TEXT NOT NULL,
    agent         TEXT NOT NULL,
    prompt        TEXT NOT NULL,
    branch        TEXT,
    base_branch   TEXT,
    base_commit   TEXT,
    worktree_path TEXT,
    pid           BIGINT,
    exit_code     BIGINT,
    error         TEXT,
    session_id    TEXT,
    head_commit   TEXT,
    files_changed BIGINT,
    insertions    BIGINT,
    deletions     BIGINT,
    created_at    TIMESTAMPTZ NOT NULL,
    started_at    TIMESTAMPTZ,
    finished_at   TIMESTAMPTZ,
    UNIQUE (task_id, attempt)
);
CREATE INDEX runs_by_status ON runs (status);

-- One row per log entry, addressed by (run_id, seq); seq is gapless per run.
CREATE TABLE run_logs (
    run_id UUID NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    seq    BIGINT NOT NULL,
    ts     TIMESTAMPTZ NOT NULL,
    kind   TEXT NOT NULL,
    text   TEXT NOT NULL,
    data   TEXT,
    PRIMARY KEY (run_id, seq)
);

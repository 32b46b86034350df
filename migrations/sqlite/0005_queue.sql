-- The durable run queue. A run is the unit of work from enqueue to its final status: it may
-- execute several times (after waiting for auth or a quota, or after its server died), and
-- its log continues across them.

ALTER TABLE runs ADD COLUMN queued_at TEXT;
UPDATE runs SET queued_at = created_at;
-- Executions so far, and consecutive quota waits (the backoff's exponent).
ALTER TABLE runs ADD COLUMN tries INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN quota_waits INTEGER NOT NULL DEFAULT 0;
-- The server process that executes it, and until when that claim holds unless renewed.
ALTER TABLE runs ADD COLUMN lease_owner TEXT;
ALTER TABLE runs ADD COLUMN lease_expires_at TEXT;
-- The worktree's commit when the current execution began (a requeue resets to it).
ALTER TABLE runs ADD COLUMN start_commit TEXT;
-- How the next execution continues after a recovery: 'resume' (the agent's own session).
ALTER TABLE runs ADD COLUMN recovery TEXT;
-- How often it was recovered after its server died (a crash loop ends as interrupted).
ALTER TABLE runs ADD COLUMN recoveries INTEGER NOT NULL DEFAULT 0;

-- A person asked to stop it while another server executes it (that server stops it).
ALTER TABLE runs ADD COLUMN stop_requested INTEGER NOT NULL DEFAULT 0;

-- One live run per task. Older versions could leave several queued/running rows of a task
-- behind a crash: all but the newest end as interrupted.
UPDATE runs SET status = 'interrupted', finished_at = COALESCE(finished_at, created_at),
                error = COALESCE(error, 'interrupted: a newer run of the task superseded it')
WHERE status IN ('queued', 'running')
  AND EXISTS (SELECT 1 FROM runs r2 WHERE r2.task_id = runs.task_id
                                        AND r2.status IN ('queued', 'running') AND r2.id > runs.id);
CREATE UNIQUE INDEX runs_one_live_per_task ON runs (task_id)
    WHERE status IN ('queued', 'running', 'waiting_auth', 'waiting_quota');
CREATE INDEX runs_queue ON runs (status, queued_at);

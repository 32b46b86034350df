//! Persistence: the [`Store`] trait (one method per use case) and its two implementations,
//! [`SqliteStore`] (embedded default) and [`PgStore`] (team server), each with its migrations.
//!
//! Statements that are the same text on both databases (every `$n` placeholder works on SQLite
//! too) are written once, in the [`common_store_methods!`] macro both implementations expand;
//! what differs (bulk log appends, connection set-up) lives in each backend's file.

use std::future::Future;

use chrono::{DateTime, SubsecRound, Utc};

use crate::model::{
    AuditEntry, Invite, InviteId, LogEntry, Member, NewInvite, NewProject, NewRun, NewTask, NewUser, Project,
    ProjectId, ProjectRole, Run, RunFinished, RunId, RunStarted, RunStatus, Scope, Task, TaskId, TaskPatch,
    TaskStatus, User, UserId, UserPatch, UserRecord,
};

mod any;
pub mod notify;
mod postgres;
pub mod queue;
mod sqlite;
mod users;

pub(crate) use users::user_store_methods;
pub use users::{NewSessionToken, Rotation};

pub use any::{AnyStore, Unmigrated};
pub use postgres::{PgStore, UnmigratedPg};
pub use sqlite::{SqliteStore, UnmigratedSqlite};

/// Why a store call failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The addressed row does not exist.
    #[error("{entity} {id} not found")]
    NotFound {
        /// What kind of row ("project", "task", "run").
        entity: &'static str,
        /// Its id.
        id: String,
    },
    /// The change contradicts what is stored (a duplicate, or a state that no longer allows it).
    #[error("{0}")]
    Conflict(String),
    /// A value the store cannot keep.
    #[error("{0}")]
    Invalid(String),
    /// The database failed or could not be reached.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// The schema could not be brought up to date.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl StoreError {
    /// Whether the database did not answer (yet): refused or dropped connections, timeouts,
    /// a Postgres that is starting up or shutting down. A wrong URL, password or schema is not.
    pub fn is_unreachable(&self) -> bool {
        match self {
            StoreError::Database(e) | StoreError::Migrate(sqlx::migrate::MigrateError::Execute(e)) => match e
            {
                sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed => true,
                // cannot_connect_now, admin_shutdown, crash_shutdown
                sqlx::Error::Database(d) => matches!(d.code().as_deref(), Some("57P03" | "57P01" | "57P02")),
                _ => false,
            },
            _ => false,
        }
    }
}

/// One migration of the schema and whether this process applied it when it opened the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationState {
    /// Its version (the file's number).
    pub version: i64,
    /// Its description (the file's name).
    pub description: String,
    /// Applied when this store was opened (else it was there before).
    pub applied_now: bool,
}

/// Applies `migrator`'s migrations on `pool` and says which were new.
macro_rules! migrate_reporting {
    ($migrator:expr, $pool:expr) => {{
        use sqlx::migrate::Migrate as _;
        let before: std::collections::HashSet<i64> = {
            let mut conn = $pool.acquire().await?;
            // No table yet: a new database, nothing applied.
            conn.list_applied_migrations("_sqlx_migrations")
                .await
                .map(|applied| applied.into_iter().map(|m| m.version).collect())
                .unwrap_or_default()
        };
        $migrator.run($pool).await?;
        $migrator
            .iter()
            .filter(|m| !m.migration_type.is_down_migration())
            .map(|m| $crate::store::MigrationState {
                version: m.version,
                description: m.description.to_string(),
                applied_now: !before.contains(&m.version),
            })
            .collect::<Vec<_>>()
    }};
}
pub(crate) use migrate_reporting;

/// Result of store calls.
pub type Result<T> = std::result::Result<T, StoreError>;

/// The most tasks one `list_column` call returns.
pub const MAX_TASK_PAGE: usize = 500;

/// The most entries one `read_logs` call returns.
pub const MAX_LOG_PAGE: usize = 5_000;

/// Everything Taskyard keeps. Implementations are cheap to clone (they hold a pool).
///
/// Methods return `Send` futures so generic callers can spawn them.
pub trait Store: Clone + Send + Sync + 'static {
    /// "sqlite" or "postgres", for logs and `/ready`.
    fn backend(&self) -> &'static str;

    /// Checks the database answers.
    fn ping(&self) -> impl Future<Output = Result<()>> + Send;

    /// Adds a project. A repository path can be added once.
    fn create_project(&self, new: NewProject) -> impl Future<Output = Result<Project>> + Send;
    /// One project.
    fn get_project(&self, id: ProjectId) -> impl Future<Output = Result<Project>> + Send;
    /// The projects a scope may see, oldest first.
    fn list_projects(&self, scope: Scope) -> impl Future<Output = Result<Vec<Project>>> + Send;
    /// Removes a project with its tasks, runs and logs.
    fn delete_project(&self, id: ProjectId) -> impl Future<Output = Result<()>> + Send;
    /// Replaces a project's profile (a JSON object of its agent settings).
    fn set_project_profile(
        &self,
        id: ProjectId,
        profile: &str,
    ) -> impl Future<Output = Result<Project>> + Send;

    /// Adds a task at the end of the backlog. Its slug is made unique within the project.
    fn create_task(&self, new: NewTask) -> impl Future<Output = Result<Task>> + Send;
    /// One task.
    fn get_task(&self, id: TaskId) -> impl Future<Output = Result<Task>> + Send;
    /// A project's tasks in board order (column, then position).
    fn list_tasks(&self, project: ProjectId) -> impl Future<Output = Result<Vec<Task>>> + Send;
    /// How many tasks of a project are in each column (columns without tasks are left out).
    fn count_tasks_by_status(
        &self,
        project: ProjectId,
    ) -> impl Future<Output = Result<Vec<(TaskStatus, i64)>>> + Send;
    /// One page of a board column, in board order: tasks of `status` after the cursor
    /// `(position, id)` (from the start when `None`), at most `limit` (capped at
    /// [`MAX_TASK_PAGE`]).
    fn list_column(
        &self,
        project: ProjectId,
        status: TaskStatus,
        after: Option<(f64, TaskId)>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<Task>>> + Send;
    /// Changes some fields of a task.
    fn update_task(&self, id: TaskId, patch: TaskPatch) -> impl Future<Output = Result<Task>> + Send;
    /// Removes a task with its runs and logs.
    fn delete_task(&self, id: TaskId) -> impl Future<Output = Result<()>> + Send;

    /// Stores a new run (status queued) with the task's next attempt number.
    fn create_run(&self, new: NewRun) -> impl Future<Output = Result<Run>> + Send;
    /// One run.
    fn get_run(&self, id: RunId) -> impl Future<Output = Result<Run>> + Send;
    /// A task's runs, first attempt first.
    fn list_runs(&self, task: TaskId) -> impl Future<Output = Result<Vec<Run>>> + Send;
    /// Runs in a status, oldest first (recovery and queues use it).
    fn list_runs_by_status(&self, status: RunStatus) -> impl Future<Output = Result<Vec<Run>>> + Send;
    /// Records where and as what a claimed (running) run's process started. Fails with
    /// `Conflict` if the run is not running any more (a stop came first).
    fn mark_run_started(&self, id: RunId, started: RunStarted) -> impl Future<Output = Result<Run>> + Send;
    /// Moves a run to a terminal status. Fails with `Conflict` if it already has one, so a
    /// finished run never changes, or if it is running under another server's lease.
    fn finish_run(
        &self,
        id: RunId,
        status: RunStatus,
        finished: RunFinished,
    ) -> impl Future<Output = Result<Run>> + Send;

    /// Claims due runs (queued, or waiting with `retry_at` passed) in queue order for a
    /// worker, within its limits: each becomes `running` under the worker's lease with
    /// `tries` counted. No run is claimed by two workers.
    fn claim_runs(&self, claim: &queue::Claim) -> impl Future<Output = Result<Vec<Run>>> + Send;
    /// Extends the leases of the running runs `owner` holds; returns them with whether a stop
    /// was requested. A run missing from the answer is no longer held.
    fn renew_leases(
        &self,
        owner: &str,
        until: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<(RunId, bool)>>> + Send;
    /// Running runs whose server died: lease expired (or never had one), or held by an
    /// earlier life of `owner`'s replica (see [`queue::previous_lives`]).
    fn expired_runs(&self, now: DateTime<Utc>, owner: &str) -> impl Future<Output = Result<Vec<Run>>> + Send;
    /// Takes an expired run's lease (as [`Store::expired_runs`] finds them) for recovery,
    /// counted in `recoveries`; `None` when it is not expired any more (its server renewed,
    /// or another took it).
    fn take_over_run(
        &self,
        id: RunId,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> impl Future<Output = Result<Option<Run>>> + Send;
    /// Running (held by `owner`) → queued or waiting; the lease is released.
    fn requeue_run(
        &self,
        id: RunId,
        owner: &str,
        requeue: queue::Requeue,
    ) -> impl Future<Output = Result<Run>> + Send;
    /// A waiting run → queued now. `Conflict` when it is not waiting.
    fn retry_run_now(&self, id: RunId) -> impl Future<Output = Result<Run>> + Send;
    /// Makes runs waiting for credentials in `scope` due at `now`; returns how many.
    fn wake_waiting_auth(
        &self,
        scope: queue::WakeScope,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<u64>> + Send;
    /// A queued run's place (1 = next); `None` when it is not queued.
    fn queue_position(&self, id: RunId) -> impl Future<Output = Result<Option<i64>>> + Send;
    /// Records a run's agent session as soon as it is known (a recovery resumes it).
    fn set_run_session(&self, id: RunId, session: &str) -> impl Future<Output = Result<()>> + Send;
    /// Asks the server executing a running run to stop it (seen when it renews its lease).
    fn request_stop(&self, id: RunId) -> impl Future<Output = Result<()>> + Send;
    /// How many live runs are in each state.
    fn queue_counts(&self) -> impl Future<Output = Result<queue::QueueCounts>> + Send;
    /// The earliest time a waiting run is due.
    fn next_retry_at(&self) -> impl Future<Output = Result<Option<DateTime<Utc>>>> + Send;

    /// Appends log entries in one transaction: all are stored or none.
    fn append_logs(&self, entries: &[LogEntry]) -> impl Future<Output = Result<()>> + Send;
    /// Appends several runs' batches together (one transaction; one statement when they
    /// fit). Each batch is one run's entries with consecutive seqs and lands whole or not
    /// at all, on its own: the outcome per batch is `Ok`, `Invalid` (bad text or seqs) or
    /// `Conflict` (its run's stored log already reaches its first seq — another writer got
    /// there). A database error stores none of them.
    fn append_log_batches(
        &self,
        batches: &[Vec<LogEntry>],
    ) -> impl Future<Output = Result<Vec<Result<()>>>> + Send;
    /// Entries of a run with `seq > after`, in order, at most `limit` (capped at
    /// [`MAX_LOG_PAGE`]).
    fn read_logs(
        &self,
        run: RunId,
        after: i64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<LogEntry>>> + Send;
    /// The highest stored seq of a run (0 when it has none).
    fn last_log_seq(&self, run: RunId) -> impl Future<Output = Result<i64>> + Send;

    // --- Team mode: users, invites, sessions, members, audit (see `users.rs`). ---

    /// How many users exist.
    fn count_users(&self) -> impl Future<Output = Result<i64>> + Send;
    /// Creates the first admin; fails with `Conflict` once a first admin was ever created, so
    /// two simultaneous first registrations cannot both win.
    fn create_first_admin(&self, new: NewUser) -> impl Future<Output = Result<User>> + Send;
    /// Creates a user (admins do this). A taken e-mail is a `Conflict`.
    fn create_user(&self, new: NewUser) -> impl Future<Output = Result<User>> + Send;
    /// One user.
    fn get_user(&self, id: UserId) -> impl Future<Output = Result<User>> + Send;
    /// A user with their password hash, by normalised e-mail.
    fn find_user_by_email(&self, email: &str) -> impl Future<Output = Result<Option<UserRecord>>> + Send;
    /// A user with their password hash, by id.
    fn get_user_record(&self, id: UserId) -> impl Future<Output = Result<UserRecord>> + Send;
    /// Every user, oldest first.
    fn list_users(&self) -> impl Future<Output = Result<Vec<User>>> + Send;
    /// Changes a user.
    fn update_user(&self, id: UserId, patch: UserPatch) -> impl Future<Output = Result<User>> + Send;
    /// Removes a user (their memberships and sessions go with them).
    fn delete_user(&self, id: UserId) -> impl Future<Output = Result<()>> + Send;

    /// Stores an invite.
    fn create_invite(&self, new: NewInvite) -> impl Future<Output = Result<Invite>> + Send;
    /// Every invite, newest first.
    fn list_invites(&self) -> impl Future<Output = Result<Vec<Invite>>> + Send;
    /// Revokes an unused invite.
    fn revoke_invite(&self, id: InviteId) -> impl Future<Output = Result<Invite>> + Send;
    /// Whether a registration could succeed, without using anything: with an invite, it is
    /// unused, unrevoked, unexpired and (when bound) for `email`; without one, no first admin
    /// was created yet. Lets the server refuse before spending a password hash; the
    /// registration itself still settles races.
    fn can_register(&self, code_hash: Option<&str>, email: &str)
    -> impl Future<Output = Result<bool>> + Send;
    /// Creates a user with an invite, in one transaction: the invite must be unused,
    /// unrevoked, unexpired and (when bound) for this e-mail; it is then used. The user gets
    /// the invite's role. Any failure is the same `Invalid("invalid invite")`.
    fn register_with_invite(
        &self,
        code_hash: &str,
        new: NewUser,
    ) -> impl Future<Output = Result<User>> + Send;

    /// Stores a refresh token of a session (family).
    fn create_session_token(&self, token: NewSessionToken) -> impl Future<Output = Result<()>> + Send;
    /// Uses a refresh token once and stores its successor; see [`Rotation`].
    fn rotate_session_token(
        &self,
        old_hash: &str,
        next: NewSessionToken,
    ) -> impl Future<Output = Result<Rotation>> + Send;
    /// Whether a session of `user` still has a usable refresh token (it was neither revoked
    /// nor left to expire); access tokens of an ended session, or naming another user's
    /// session, stop working at once.
    fn session_active(&self, family: uuid::Uuid, user: UserId) -> impl Future<Output = Result<bool>> + Send;
    /// Ends a session (every token of the family).
    fn revoke_session(&self, family: uuid::Uuid) -> impl Future<Output = Result<()>> + Send;
    /// Ends every session of a user.
    fn revoke_user_sessions(&self, user: UserId) -> impl Future<Output = Result<()>> + Send;

    /// Adds a member to a project, or changes their role.
    fn set_member(
        &self,
        project: ProjectId,
        user: UserId,
        role: ProjectRole,
    ) -> impl Future<Output = Result<()>> + Send;
    /// Removes a member.
    fn remove_member(&self, project: ProjectId, user: UserId) -> impl Future<Output = Result<()>> + Send;
    /// A project's members.
    fn list_members(&self, project: ProjectId) -> impl Future<Output = Result<Vec<Member>>> + Send;
    /// A user's role in a project, if any.
    fn project_role(
        &self,
        project: ProjectId,
        user: UserId,
    ) -> impl Future<Output = Result<Option<ProjectRole>>> + Send;

    /// Sets a credential (an encrypted value) at a tier, replacing what was there.
    fn put_credential(
        &self,
        tier: crate::credentials::Tier,
        scope: uuid::Uuid,
        key: &str,
        encrypted: &str,
        locked: bool,
        by: Option<UserId>,
    ) -> impl Future<Output = Result<crate::credentials::StoredCredential>> + Send;
    /// Removes a credential from a tier.
    fn delete_credential(
        &self,
        tier: crate::credentials::Tier,
        scope: uuid::Uuid,
        key: &str,
    ) -> impl Future<Output = Result<()>> + Send;
    /// The credentials of one tier and scope, by key.
    fn list_credentials(
        &self,
        tier: crate::credentials::Tier,
        scope: uuid::Uuid,
    ) -> impl Future<Output = Result<Vec<crate::credentials::StoredCredential>>> + Send;
    /// Every stored credential (start-up key check, re-encryption).
    fn all_credentials(
        &self,
    ) -> impl Future<Output = Result<Vec<crate::credentials::StoredCredential>>> + Send;
    /// Replaces a credential's encrypted value (re-encryption under a new key).
    fn reencrypt_credential(
        &self,
        id: uuid::Uuid,
        encrypted: &str,
    ) -> impl Future<Output = Result<()>> + Send;
    /// A server setting (JSON text), if set.
    fn get_setting(&self, key: &str) -> impl Future<Output = Result<Option<String>>> + Send;
    /// Sets a server setting (JSON text).
    fn put_setting(&self, key: &str, value: &str) -> impl Future<Output = Result<()>> + Send;

    /// Appends to the audit log.
    fn append_audit(&self, entry: AuditEntry) -> impl Future<Output = Result<()>> + Send;
    /// The audit log, newest first, before an entry (for paging).
    fn list_audit(
        &self,
        before: Option<uuid::Uuid>,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<AuditEntry>>> + Send;
}

/// The current time at the precision both databases keep (microseconds), so a value read back
/// equals the value written.
pub(crate) fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// A time cut to the precision both databases keep (microseconds).
pub(crate) fn stored_precision(t: DateTime<Utc>) -> DateTime<Utc> {
    t.trunc_subsecs(6)
}

/// Maps "no row" to a `NotFound` naming what was looked up.
pub(crate) fn found<T>(row: Option<T>, entity: &'static str, id: impl ToString) -> Result<T> {
    row.ok_or_else(|| StoreError::NotFound { entity, id: id.to_string() })
}

pub(crate) fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// Runs `write` until it does not find the database locked by another writer, for at most
/// [`LOCKED_RETRY_FOR`], a millisecond apart. SQLite's own wait (its busy handler) sleeps
/// longer each time it finds the lock taken (1, 2, 5, 10 … 100 ms): behind a burst of other
/// writes, a log append would sleep tens of milliseconds after the lock came free. The log
/// writer's connection therefore does not wait in SQLite, and tries again here instead.
/// (Postgres never reports this; its writes go straight through.)
pub(crate) async fn retry_while_locked<T, F, Fut>(mut write: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let deadline = tokio::time::Instant::now() + LOCKED_RETRY_FOR;
    loop {
        match write().await {
            Err(StoreError::Database(e)) if is_locked(&e) && tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            }
            other => return other,
        }
    }
}

/// How long a write keeps trying while another writer holds SQLite's lock (as long as the
/// shared pool's busy timeout).
pub(crate) const LOCKED_RETRY_FOR: std::time::Duration = std::time::Duration::from_secs(10);

/// SQLite's "database is locked" (`SQLITE_BUSY` and its extended codes).
fn is_locked(err: &sqlx::Error) -> bool {
    use sqlx::error::DatabaseError as _;
    err.as_database_error()
        .and_then(|db| db.try_downcast_ref::<sqlx::sqlite::SqliteError>())
        .and_then(|e| e.code())
        .and_then(|code| code.parse::<i32>().ok())
        .is_some_and(|code| code & 0xff == 5)
}

/// A second write of the same (run, seq) is a bug in the writer; say so plainly.
/// A second live run of one task (the `runs_one_live_per_task` index).
pub(crate) fn is_live_run_violation(err: &sqlx::Error) -> bool {
    err.as_database_error().is_some_and(|d| {
        d.constraint() == Some("runs_one_live_per_task")
            || d.message().trim_end().ends_with("UNIQUE constraint failed: runs.task_id")
    })
}

pub(crate) fn duplicate_seq(err: sqlx::Error) -> StoreError {
    if is_unique_violation(&err) {
        StoreError::Conflict("a log entry with this run and seq is already stored".into())
    } else {
        StoreError::Database(err)
    }
}

/// Rejects text a database cannot keep in a TEXT column (Postgres refuses NUL).
pub(crate) fn check_text(field: &'static str, value: &str) -> Result<()> {
    if value.contains('\0') {
        return Err(StoreError::Invalid(format!("{field} must not contain NUL characters")));
    }
    Ok(())
}

/// The candidate slugs for a task, in the order they are tried: `slug`, `slug-2`, `slug-3`, …
pub(crate) fn slug_candidate(base: &str, n: u32) -> String {
    if n <= 1 { base.to_owned() } else { format!("{base}-{n}") }
}

/// How many slug suffixes `create_task` tries before it gives up.
pub(crate) const SLUG_TRIES: u32 = 1_000;

/// Store methods whose SQL is identical on SQLite and Postgres. Expanded inside each
/// backend's `impl Store`, where `self.pool` is that backend's pool.
macro_rules! common_store_methods {
    () => {
        async fn ping(&self) -> Result<()> {
            sqlx::query("SELECT 1").execute(&self.pool).await?;
            Ok(())
        }

        async fn create_project(&self, new: NewProject) -> Result<Project> {
            $crate::store::check_text("name", &new.name)?;
            $crate::store::check_text("repo_path", &new.repo_path)?;
            let now = $crate::store::now();
            let mut tx = self.pool.begin().await?;
            let res = sqlx::query_as::<_, Project>(
                "INSERT INTO projects (id, name, repo_path, default_branch, origin_url, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING *",
            )
            .bind(ProjectId::new())
            .bind(&new.name)
            .bind(&new.repo_path)
            .bind(&new.default_branch)
            .bind(&new.origin_url)
            .bind(now)
            .fetch_one(&mut *tx)
            .await;
            let project = match res {
                Err(e) if $crate::store::is_unique_violation(&e) => {
                    return Err(StoreError::Conflict(format!(
                        "the repository {} is already a project",
                        new.repo_path
                    )));
                }
                other => other?,
            };
            if let Some(owner) = new.owner {
                sqlx::query("INSERT INTO project_members (project_id, user_id, role, added_at) VALUES ($1, $2, $3, $4)")
                    .bind(project.id)
                    .bind(owner)
                    .bind($crate::model::ProjectRole::Owner.as_str())
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
            Ok(project)
        }

        async fn get_project(&self, id: ProjectId) -> Result<Project> {
            let row = sqlx::query_as::<_, Project>("SELECT * FROM projects WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
            $crate::store::found(row, "project", id)
        }

        async fn list_projects(&self, scope: $crate::model::Scope) -> Result<Vec<Project>> {
            Ok(match scope {
                $crate::model::Scope::All => {
                    sqlx::query_as::<_, Project>("SELECT * FROM projects ORDER BY created_at, id")
                        .fetch_all(&self.pool)
                        .await?
                }
                $crate::model::Scope::Member(user) => {
                    sqlx::query_as::<_, Project>(
                        "SELECT p.* FROM projects p JOIN project_members m ON m.project_id = p.id
                         WHERE m.user_id = $1 ORDER BY p.created_at, p.id",
                    )
                    .bind(user)
                    .fetch_all(&self.pool)
                    .await?
                }
            })
        }

        async fn delete_project(&self, id: ProjectId) -> Result<()> {
            let done = sqlx::query("DELETE FROM projects WHERE id = $1")
                .bind(id)
                .execute(&self.pool)
                .await?;
            $crate::store::found((done.rows_affected() > 0).then_some(()), "project", id)
        }

        async fn set_project_profile(&self, id: ProjectId, profile: &str) -> Result<Project> {
            if !serde_json::from_str::<serde_json::Value>(profile).is_ok_and(|v| v.is_object()) {
                return Err(StoreError::Invalid("a project's profile must be a JSON object".into()));
            }
            let done = sqlx::query("UPDATE projects SET profile = $1 WHERE id = $2")
                .bind(profile)
                .bind(id)
                .execute(&self.pool)
                .await?;
            $crate::store::found((done.rows_affected() > 0).then_some(()), "project", id)?;
            self.get_project(id).await
        }

        async fn create_task(&self, new: NewTask) -> Result<Task> {
            $crate::store::check_text("title", &new.title)?;
            $crate::store::check_text("description", &new.description)?;
            self.get_project(new.project_id).await?;
            let base = $crate::model::slugify(&new.title);
            let now = $crate::store::now();
            for n in 1..=$crate::store::SLUG_TRIES {
                let slug = $crate::store::slug_candidate(&base, n);
                let res = sqlx::query_as::<_, Task>(
                    "INSERT INTO tasks (id, project_id, title, description, slug, status, phase, position,
                                        agent, agent_config, branch, created_at, updated_at)
                     SELECT $1, $2, $3, $4, $5, $6, NULL,
                            COALESCE((SELECT MAX(position) FROM tasks WHERE project_id = $2 AND status = $6), 0) + 1,
                            $7, $8, NULL, $9, $9
                     RETURNING *",
                )
                .bind(TaskId::new())
                .bind(new.project_id)
                .bind(&new.title)
                .bind(&new.description)
                .bind(&slug)
                .bind(TaskStatus::Backlog.as_str())
                .bind(&new.agent)
                .bind(&new.agent_config)
                .bind(now)
                .fetch_one(&self.pool)
                .await;
                match res {
                    Err(e) if $crate::store::is_unique_violation(&e) => continue,
                    other => return Ok(other?),
                }
            }
            Err(StoreError::Conflict(format!("too many tasks named like `{base}`")))
        }

        async fn get_task(&self, id: TaskId) -> Result<Task> {
            let row = sqlx::query_as::<_, Task>("SELECT * FROM tasks WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
            $crate::store::found(row, "task", id)
        }

        async fn list_tasks(&self, project: ProjectId) -> Result<Vec<Task>> {
            Ok(sqlx::query_as::<_, Task>(
                "SELECT * FROM tasks WHERE project_id = $1 ORDER BY status, position, id",
            )
            .bind(project)
            .fetch_all(&self.pool)
            .await?)
        }

        async fn count_tasks_by_status(&self, project: ProjectId) -> Result<Vec<(TaskStatus, i64)>> {
            let rows: Vec<(String, i64)> =
                sqlx::query_as("SELECT status, COUNT(*) FROM tasks WHERE project_id = $1 GROUP BY status")
                    .bind(project)
                    .fetch_all(&self.pool)
                    .await?;
            rows.into_iter()
                .map(|(status, n)| Ok((status.parse().map_err(|e: $crate::model::UnknownValue| StoreError::Invalid(e.to_string()))?, n)))
                .collect()
        }

        async fn list_column(
            &self,
            project: ProjectId,
            status: TaskStatus,
            after: Option<(f64, TaskId)>,
            limit: usize,
        ) -> Result<Vec<Task>> {
            let limit = limit.min($crate::store::MAX_TASK_PAGE) as i64;
            let (position, id) = after.map_or((None, None), |(p, id)| (Some(p), Some(id)));
            Ok(sqlx::query_as::<_, Task>(
                "SELECT * FROM tasks
                 WHERE project_id = $1 AND status = $2
                   AND ($3 IS NULL OR position > $3 OR (position = $3 AND id > $4))
                 ORDER BY position, id LIMIT $5",
            )
            .bind(project)
            .bind(status.as_str())
            .bind(position)
            .bind(id)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?)
        }

        async fn update_task(&self, id: TaskId, patch: TaskPatch) -> Result<Task> {
            for (field, value) in [
                ("title", &patch.title),
                ("description", &patch.description),
                ("agent", &patch.agent),
                ("agent_config", &patch.agent_config),
                ("branch", &patch.branch),
            ] {
                if let Some(v) = value {
                    $crate::store::check_text(field, v)?;
                }
            }
            if let Some(p) = patch.position
                && !p.is_finite()
            {
                return Err(StoreError::Invalid("position must be a finite number".into()));
            }
            let row = sqlx::query_as::<_, Task>(
                "UPDATE tasks SET
                    title        = COALESCE($2, title),
                    description  = COALESCE($3, description),
                    status       = COALESCE($4, status),
                    phase        = CASE WHEN $5 THEN $6 ELSE phase END,
                    position     = COALESCE($7, position),
                    agent        = COALESCE($8, agent),
                    agent_config = COALESCE($9, agent_config),
                    branch       = COALESCE($10, branch),
                    updated_at   = $11
                 WHERE id = $1 RETURNING *",
            )
            .bind(id)
            .bind(&patch.title)
            .bind(&patch.description)
            .bind(patch.status.map(|s| s.as_str()))
            .bind(patch.phase.is_some())
            .bind(patch.phase.flatten().map(|p| p.as_str()))
            .bind(patch.position)
            .bind(&patch.agent)
            .bind(&patch.agent_config)
            .bind(&patch.branch)
            .bind($crate::store::now())
            .fetch_optional(&self.pool)
            .await?;
            $crate::store::found(row, "task", id)
        }

        async fn delete_task(&self, id: TaskId) -> Result<()> {
            let done = sqlx::query("DELETE FROM tasks WHERE id = $1")
                .bind(id)
                .execute(&self.pool)
                .await?;
            $crate::store::found((done.rows_affected() > 0).then_some(()), "task", id)
        }

        async fn create_run(&self, new: NewRun) -> Result<Run> {
            $crate::store::check_text("prompt", &new.prompt)?;
            self.get_task(new.task_id).await?;
            // Two runs created at once for one task can pick the same attempt number; the
            // unique (task_id, attempt) index makes the loser try the next one.
            for _ in 0..16 {
                let res = sqlx::query_as::<_, Run>(
                    "INSERT INTO runs (id, task_id, attempt, kind, status, agent, prompt, created_at, started_by,
                                       queued_at)
                     SELECT $1, $2, COALESCE((SELECT MAX(attempt) FROM runs WHERE task_id = $2), 0) + 1,
                            $3, $4, $5, $6, $7, $8, $7
                     RETURNING *",
                )
                .bind(RunId::new())
                .bind(new.task_id)
                .bind(new.kind.as_str())
                .bind(RunStatus::Queued.as_str())
                .bind(&new.agent)
                .bind(&new.prompt)
                .bind($crate::store::now())
                .bind(new.started_by)
                .fetch_one(&self.pool)
                .await;
                match res {
                    Err(e) if $crate::store::is_live_run_violation(&e) => {
                        return Err(StoreError::Conflict(
                            "the task already has a run queued, running or waiting; stop it or wait".into(),
                        ));
                    }
                    Err(e) if $crate::store::is_unique_violation(&e) => continue,
                    other => return Ok(other?),
                }
            }
            Err(StoreError::Conflict("too many runs created at once for this task".into()))
        }

        async fn get_run(&self, id: RunId) -> Result<Run> {
            let row = sqlx::query_as::<_, Run>("SELECT * FROM runs WHERE id = $1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
            $crate::store::found(row, "run", id)
        }

        async fn list_runs(&self, task: TaskId) -> Result<Vec<Run>> {
            Ok(sqlx::query_as::<_, Run>("SELECT * FROM runs WHERE task_id = $1 ORDER BY attempt")
                .bind(task)
                .fetch_all(&self.pool)
                .await?)
        }

        async fn list_runs_by_status(&self, status: RunStatus) -> Result<Vec<Run>> {
            Ok(sqlx::query_as::<_, Run>(
                "SELECT * FROM runs WHERE status = $1 ORDER BY created_at, id",
            )
            .bind(status.as_str())
            .fetch_all(&self.pool)
            .await?)
        }

        async fn mark_run_started(&self, id: RunId, started: RunStarted) -> Result<Run> {
            let row = sqlx::query_as::<_, Run>(
                "UPDATE runs SET branch = $2, base_branch = $3, base_commit = $4,
                                 worktree_path = $5, pid = $6, started_at = $7, start_commit = $8
                 WHERE id = $1 AND status = $9 RETURNING *",
            )
            .bind(id)
            .bind(&started.branch)
            .bind(&started.base_branch)
            .bind(&started.base_commit)
            .bind(&started.worktree_path)
            .bind(started.pid)
            .bind($crate::store::now())
            .bind(&started.start_commit)
            .bind(RunStatus::Running.as_str())
            .fetch_optional(&self.pool)
            .await?;
            match row {
                Some(run) => Ok(run),
                None => {
                    let run = self.get_run(id).await?;
                    Err(StoreError::Conflict(format!("run {id} is {} and cannot start", run.status)))
                }
            }
        }

        async fn finish_run(&self, id: RunId, status: RunStatus, f: RunFinished) -> Result<Run> {
            if !status.is_terminal() {
                return Err(StoreError::Invalid(format!("{status} is not a final run status")));
            }
            if let Some(e) = &f.error {
                $crate::store::check_text("error", e)?;
            }
            let row = sqlx::query_as::<_, Run>(
                "UPDATE runs SET status = $2, exit_code = $3, error = $4,
                                 session_id = COALESCE($5, session_id), head_commit = $6,
                                 files_changed = $7, insertions = $8, deletions = $9, finished_at = $10,
                                 retry_at = $11, lease_expires_at = NULL, stop_requested = FALSE
                 WHERE id = $1 AND status IN ($12, $13, $14, $15)
                   AND (status <> $13 OR lease_owner IS NULL OR lease_owner = $16)
                 RETURNING *",
            )
            .bind(id)
            .bind(status.as_str())
            .bind(f.exit_code)
            .bind(&f.error)
            .bind(&f.session_id)
            .bind(&f.head_commit)
            .bind(f.files_changed)
            .bind(f.insertions)
            .bind(f.deletions)
            .bind($crate::store::now())
            .bind(f.retry_at.map($crate::store::stored_precision))
            .bind(RunStatus::Queued.as_str())
            .bind(RunStatus::Running.as_str())
            .bind(RunStatus::WaitingAuth.as_str())
            .bind(RunStatus::WaitingQuota.as_str())
            .bind(&f.owner)
            .fetch_optional(&self.pool)
            .await?;
            match row {
                Some(run) => Ok(run),
                None => {
                    let run = self.get_run(id).await?;
                    Err(StoreError::Conflict(if run.status.is_terminal() {
                        format!("run {id} already ended as {}", run.status)
                    } else {
                        format!("run {id} is held by another server")
                    }))
                }
            }
        }

        async fn read_logs(&self, run: RunId, after: i64, limit: usize) -> Result<Vec<LogEntry>> {
            let limit = limit.min($crate::store::MAX_LOG_PAGE);
            // Every batch holds at least one entry, so `limit` batches are always enough.
            // From the batch that holds `after + 1` on, found through the primary key (a
            // long log is not scanned from its start).
            let rows: Vec<(i64, String)> = sqlx::query_as(
                "SELECT first_seq, entries FROM run_log_batches
                 WHERE run_id = $1 AND last_seq > $2
                   AND first_seq >= COALESCE((SELECT MAX(first_seq) FROM run_log_batches
                                              WHERE run_id = $1 AND first_seq <= $2 + 1), 0)
                 ORDER BY first_seq LIMIT $3",
            )
            .bind(run)
            .bind(after)
            .bind(limit as i64)
            .fetch_all(&self.pool)
            .await?;
            let mut out = Vec::new();
            for (first_seq, entries) in rows {
                if out.len() >= limit {
                    break;
                }
                $crate::store::unpack_log_batch(run, first_seq, &entries, after, limit, &mut out)?;
            }
            Ok(out)
        }

        async fn last_log_seq(&self, run: RunId) -> Result<i64> {
            // The newest batch ends the log (it is append-only): one step down the primary key.
            let seq: Option<i64> = sqlx::query_scalar(
                "SELECT last_seq FROM run_log_batches WHERE run_id = $1 ORDER BY first_seq DESC LIMIT 1",
            )
            .bind(run)
            .fetch_optional(&self.pool)
            .await?;
            Ok(seq.unwrap_or(0))
        }
    };
}
pub(crate) use common_store_methods;

/// Packed batch rows per INSERT statement (SQLite binds 4 parameters a row: well within its
/// limit; Postgres binds 4 arrays).
pub(crate) const LOG_BATCH_ROWS_PER_STATEMENT: usize = 1_000;

/// The start of the statement that stores packed batch rows (followed by the rows: `VALUES`
/// on SQLite, `UNNEST` of four arrays on Postgres):
/// each row lands only after everything stored of its run — a run's log is append-only, so
/// a second writer (a server that lost its lease) cannot interleave.
pub(crate) const INSERT_LOG_BATCHES_HEAD: &str = "WITH v (run_id, first_seq, last_seq, entries) AS (";

/// The end of that statement.
pub(crate) const INSERT_LOG_BATCHES_TAIL: &str = ")
    INSERT INTO run_log_batches (run_id, first_seq, last_seq, entries)
    SELECT run_id, first_seq, last_seq, entries FROM v
    WHERE COALESCE((SELECT b.last_seq FROM run_log_batches b WHERE b.run_id = v.run_id
                    ORDER BY b.first_seq DESC LIMIT 1), 0) < v.first_seq";

/// `append_logs` and `append_log_batches` of a backend: `$pool` is the pool log writes use
/// (the backend's `insert_log_rows` builds the statement). A write that finds the database
/// locked by another writer is tried again at once (see [`retry_while_locked`]).
macro_rules! log_append_methods {
    (pool = $pool:ident) => {
        async fn append_logs(&self, entries: &[LogEntry]) -> Result<()> {
            if entries.is_empty() {
                return Ok(());
            }
            super::check_log_batch(entries)?;
            let rows = super::pack_log_batches(entries)?;
            super::retry_while_locked(|| async {
                let mut tx = self.$pool.begin().await?;
                for chunk in rows.chunks(super::LOG_BATCH_ROWS_PER_STATEMENT) {
                    let done = Self::insert_log_rows(chunk, false)
                        .build()
                        .persistent(Self::KEEP_LOG_INSERT_PREPARED)
                        .execute(&mut *tx)
                        .await
                        .map_err(super::duplicate_seq)?;
                    if done.rows_affected() != chunk.len() as u64 {
                        return Err(super::seq_taken());
                    }
                }
                tx.commit().await?;
                Ok(())
            })
            .await
        }

        async fn append_log_batches(&self, batches: &[Vec<LogEntry>]) -> Result<Vec<Result<()>>> {
            use sqlx::Row as _;
            let mut outcome: Vec<Result<()>> = Vec::with_capacity(batches.len());
            let mut rows = Vec::with_capacity(batches.len());
            for batch in batches {
                match super::pack_log_batch(batch) {
                    Ok(row) => {
                        rows.push(row);
                        outcome.push(Err(super::seq_taken()));
                    }
                    Err(e) => outcome.push(Err(e)),
                }
            }
            if rows.is_empty() {
                return Ok(outcome);
            }
            let stored = super::retry_while_locked(|| async {
                // Within one statement's reach, the statement is the transaction: one round trip.
                if rows.len() <= super::LOG_BATCH_ROWS_PER_STATEMENT {
                    return Ok(Self::insert_log_rows(&rows, true)
                        .build()
                        .persistent(Self::KEEP_LOG_INSERT_PREPARED)
                        .fetch_all(&self.$pool)
                        .await?);
                }
                let mut tx = self.$pool.begin().await?;
                let mut stored = Vec::with_capacity(rows.len());
                for chunk in rows.chunks(super::LOG_BATCH_ROWS_PER_STATEMENT) {
                    stored.extend(
                        Self::insert_log_rows(chunk, true)
                            .build()
                            .persistent(Self::KEEP_LOG_INSERT_PREPARED)
                            .fetch_all(&mut *tx)
                            .await?,
                    );
                }
                tx.commit().await?;
                Ok(stored)
            })
            .await?;
            let landed = stored
                .iter()
                .map(|row| Ok((row.try_get::<RunId, _>(0)?, row.try_get::<i64, _>(1)?)))
                .collect::<std::result::Result<std::collections::HashSet<_>, sqlx::Error>>()?;
            for (batch, result) in batches.iter().zip(outcome.iter_mut()) {
                if matches!(result, Err(StoreError::Conflict(_)))
                    && landed.contains(&(batch[0].run_id, batch[0].seq))
                {
                    *result = Ok(());
                }
            }
            Ok(outcome)
        }
    };
}
pub(crate) use log_append_methods;

/// The error of a batch that would not land after its run's stored log.
pub(crate) fn seq_taken() -> StoreError {
    StoreError::Conflict("a log entry with this run and seq is already stored".into())
}

/// One stored entry in a batch row: time (RFC 3339), kind, text, data.
type PackedEntry = (String, String, String, Option<serde_json::Value>);

/// Splits `entries` (sorted by run, then seq) into the rows `append_logs` stores: each a
/// run's consecutive entries, `(run, first_seq, last_seq, packed JSON)`.
pub(crate) fn pack_log_batches(entries: &[LogEntry]) -> Result<Vec<(RunId, i64, i64, String)>> {
    let mut rows = Vec::new();
    let mut start = 0;
    while start < entries.len() {
        let mut end = start + 1;
        while end < entries.len()
            && entries[end].run_id == entries[start].run_id
            && entries[end].seq == entries[end - 1].seq + 1
        {
            end += 1;
        }
        let group = &entries[start..end];
        let packed: Vec<(String, &str, &str, Option<&serde_json::Value>)> = group
            .iter()
            .map(|e| {
                (
                    e.ts.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
                    e.kind.as_str(),
                    e.text.as_str(),
                    e.data.as_ref(),
                )
            })
            .collect();
        let json = serde_json::to_string(&packed).map_err(|e| StoreError::Invalid(e.to_string()))?;
        rows.push((group[0].run_id, group[0].seq, group[group.len() - 1].seq, json));
        start = end;
    }
    Ok(rows)
}

/// The one row a pipeline batch is stored as: it must hold one run's entries with
/// consecutive seqs.
pub(crate) fn pack_log_batch(batch: &[LogEntry]) -> Result<(RunId, i64, i64, String)> {
    let Some(first) = batch.first() else {
        return Err(StoreError::Invalid("a log batch must not be empty".into()));
    };
    check_log_batch(batch)?;
    if batch.windows(2).any(|w| w[1].run_id != first.run_id || w[1].seq != w[0].seq + 1) {
        return Err(StoreError::Invalid(
            "a log batch must be one run's entries with consecutive seqs".into(),
        ));
    }
    let mut rows = pack_log_batches(batch)?;
    Ok(rows.pop().expect("one row for one run's consecutive entries"))
}

/// Appends the entries of one stored batch with `seq > after` to `out`, up to `limit`.
pub(crate) fn unpack_log_batch(
    run_id: RunId,
    first_seq: i64,
    packed: &str,
    after: i64,
    limit: usize,
    out: &mut Vec<LogEntry>,
) -> Result<()> {
    let entries: Vec<PackedEntry> = serde_json::from_str(packed)
        .map_err(|e| StoreError::Invalid(format!("log batch {run_id}/{first_seq} cannot be read: {e}")))?;
    for (i, (ts, kind, text, data)) in entries.into_iter().enumerate() {
        let seq = first_seq + i as i64;
        if seq <= after {
            continue;
        }
        if out.len() >= limit {
            break;
        }
        let ts = DateTime::parse_from_rfc3339(&ts)
            .map_err(|e| StoreError::Invalid(format!("log entry {run_id}/{seq} has a bad time: {e}")))?
            .with_timezone(&Utc);
        let kind =
            kind.parse().map_err(|e: crate::model::UnknownValue| StoreError::Invalid(e.to_string()))?;
        out.push(LogEntry { run_id, seq, ts, kind, text, data });
    }
    Ok(())
}

/// Validates a batch before it is written: text a database can keep, seqs that are positive.
pub(crate) fn check_log_batch(entries: &[LogEntry]) -> Result<()> {
    for e in entries {
        check_text("log text", &e.text)?;
        if e.seq < 1 {
            return Err(StoreError::Invalid(format!("log seq must be positive, got {}", e.seq)));
        }
    }
    Ok(())
}

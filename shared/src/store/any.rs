//! [`AnyStore`]: the database chosen at start-up, as one concrete type.
//!
//! The core is generic over [`Store`]; binaries that pick the backend from a URL at run time
//! use this enum so their handlers are not generic (axum + utoipa route registration needs
//! concrete handler functions). Every call is one `match`, no allocation, no `dyn`.

use chrono::{DateTime, Utc};
use std::path::Path;

use uuid::Uuid;

use crate::credentials::{StoredCredential, Tier};

use super::{
    NewSessionToken, PgStore, Result, Rotation, SqliteStore, Store, StoreError, UnmigratedPg,
    UnmigratedSqlite,
};
use crate::model::{
    AuditEntry, Invite, InviteId, LogEntry, Member, NewInvite, NewProject, NewRun, NewTask, NewUser, Project,
    ProjectId, ProjectRole, Run, RunFinished, RunId, RunStarted, RunStatus, Scope, Task, TaskId, TaskPatch,
    TaskStatus, User, UserId, UserPatch, UserRecord,
};

/// SQLite or Postgres.
#[derive(Debug, Clone)]
pub enum AnyStore {
    /// The embedded database.
    Sqlite(SqliteStore),
    /// A Postgres server.
    Postgres(PgStore),
}

/// A database opened with its schema as found, before migrations.
#[derive(Debug)]
pub enum Unmigrated {
    /// The embedded database.
    Sqlite(UnmigratedSqlite),
    /// A Postgres server.
    Postgres(UnmigratedPg),
}

impl Unmigrated {
    /// The stored credentials' encrypted values (none before the credentials table exists).
    pub async fn credential_values(&self) -> Result<Vec<String>> {
        match self {
            Unmigrated::Sqlite(s) => s.credential_values().await,
            Unmigrated::Postgres(s) => s.credential_values().await,
        }
    }

    /// Applies what is missing of the schema and opens the store.
    pub async fn migrate(self) -> Result<AnyStore> {
        Ok(match self {
            Unmigrated::Sqlite(s) => AnyStore::Sqlite(s.migrate().await?),
            Unmigrated::Postgres(s) => AnyStore::Postgres(s.migrate().await?),
        })
    }
}

impl AnyStore {
    /// On Postgres, relays `bus` to and from the other servers of the database (see
    /// [`super::notify`]); `on_run` is called when another server announced a run. Nothing on
    /// SQLite, which has one server.
    pub fn relay_events(
        &self,
        bus: std::sync::Arc<crate::events::Bus>,
        origin: String,
        on_run: std::sync::Arc<dyn Fn() + Send + Sync>,
    ) -> Option<(tokio::task::JoinHandle<()>, tokio::task::JoinHandle<()>)> {
        match self {
            AnyStore::Sqlite(_) => None,
            AnyStore::Postgres(pg) => super::notify::start(pg.clone(), bus, origin, on_run),
        }
    }

    /// Opens `postgres://…`/`postgresql://…` URLs with Postgres, `sqlite:` URLs with SQLite.
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_unmigrated(url).await?.migrate().await
    }

    /// The same without applying migrations yet: for checks that must read the data as it is
    /// (the credential keys) before anything changes it.
    pub async fn connect_unmigrated(url: &str) -> Result<Unmigrated> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Unmigrated::Postgres(PgStore::connect_unmigrated(url).await?))
        } else if url.starts_with("sqlite:") {
            Ok(Unmigrated::Sqlite(SqliteStore::connect_unmigrated(url).await?))
        } else {
            Err(StoreError::Invalid("unsupported database URL: use postgres://… or sqlite:…".into()))
        }
    }

    /// Opens (creating) a SQLite file without applying migrations yet.
    pub async fn sqlite_unmigrated(path: &Path) -> Result<Unmigrated> {
        Ok(Unmigrated::Sqlite(SqliteStore::open_unmigrated(path).await?))
    }

    /// The schema's migrations, and which opening this store applied.
    pub fn migrations(&self) -> &[super::MigrationState] {
        match self {
            AnyStore::Sqlite(s) => s.migrations(),
            AnyStore::Postgres(s) => s.migrations(),
        }
    }

    /// Opens (creating) a SQLite file.
    pub async fn sqlite(path: &Path) -> Result<Self> {
        Ok(AnyStore::Sqlite(SqliteStore::open(path).await?))
    }
}

macro_rules! delegate {
    ($self:ident . $method:ident ( $($arg:expr),* )) => {
        match $self {
            AnyStore::Sqlite(s) => s.$method($($arg),*).await,
            AnyStore::Postgres(s) => s.$method($($arg),*).await,
        }
    };
}

impl Store for AnyStore {
    fn backend(&self) -> &'static str {
        match self {
            AnyStore::Sqlite(s) => s.backend(),
            AnyStore::Postgres(s) => s.backend(),
        }
    }
    async fn ping(&self) -> Result<()> {
        delegate!(self.ping())
    }
    async fn create_project(&self, new: NewProject) -> Result<Project> {
        delegate!(self.create_project(new))
    }
    async fn get_project(&self, id: ProjectId) -> Result<Project> {
        delegate!(self.get_project(id))
    }
    async fn list_projects(&self, scope: Scope) -> Result<Vec<Project>> {
        delegate!(self.list_projects(scope))
    }
    async fn delete_project(&self, id: ProjectId) -> Result<()> {
        delegate!(self.delete_project(id))
    }
    async fn set_project_profile(&self, id: ProjectId, profile: &str) -> Result<Project> {
        delegate!(self.set_project_profile(id, profile))
    }
    async fn create_task(&self, new: NewTask) -> Result<Task> {
        delegate!(self.create_task(new))
    }
    async fn get_task(&self, id: TaskId) -> Result<Task> {
        delegate!(self.get_task(id))
    }
    async fn list_tasks(&self, project: ProjectId) -> Result<Vec<Task>> {
        delegate!(self.list_tasks(project))
    }
    async fn count_tasks_by_status(&self, project: ProjectId) -> Result<Vec<(TaskStatus, i64)>> {
        delegate!(self.count_tasks_by_status(project))
    }
    async fn list_column(
        &self,
        project: ProjectId,
        status: TaskStatus,
        after: Option<(f64, TaskId)>,
        limit: usize,
    ) -> Result<Vec<Task>> {
        delegate!(self.list_column(project, status, after, limit))
    }
    async fn update_task(&self, id: TaskId, patch: TaskPatch) -> Result<Task> {
        delegate!(self.update_task(id, patch))
    }
    async fn delete_task(&self, id: TaskId) -> Result<()> {
        delegate!(self.delete_task(id))
    }
    async fn create_run(&self, new: NewRun) -> Result<Run> {
        delegate!(self.create_run(new))
    }
    async fn get_run(&self, id: RunId) -> Result<Run> {
        delegate!(self.get_run(id))
    }
    async fn list_runs(&self, task: TaskId) -> Result<Vec<Run>> {
        delegate!(self.list_runs(task))
    }
    async fn list_runs_by_status(&self, status: RunStatus) -> Result<Vec<Run>> {
        delegate!(self.list_runs_by_status(status))
    }
    async fn mark_run_started(&self, id: RunId, started: RunStarted) -> Result<Run> {
        delegate!(self.mark_run_started(id, started))
    }
    async fn finish_run(&self, id: RunId, status: RunStatus, finished: RunFinished) -> Result<Run> {
        delegate!(self.finish_run(id, status, finished))
    }
    async fn claim_runs(&self, claim: &super::queue::Claim) -> Result<Vec<Run>> {
        delegate!(self.claim_runs(claim))
    }
    async fn renew_leases(&self, owner: &str, until: DateTime<Utc>) -> Result<Vec<(RunId, bool)>> {
        delegate!(self.renew_leases(owner, until))
    }
    async fn expired_runs(&self, now: DateTime<Utc>, owner: &str) -> Result<Vec<Run>> {
        delegate!(self.expired_runs(now, owner))
    }
    async fn take_over_run(
        &self,
        id: RunId,
        owner: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Option<Run>> {
        delegate!(self.take_over_run(id, owner, now, until))
    }
    async fn requeue_run(&self, id: RunId, owner: &str, requeue: super::queue::Requeue) -> Result<Run> {
        delegate!(self.requeue_run(id, owner, requeue))
    }
    async fn retry_run_now(&self, id: RunId) -> Result<Run> {
        delegate!(self.retry_run_now(id))
    }
    async fn wake_waiting_auth(&self, scope: super::queue::WakeScope, now: DateTime<Utc>) -> Result<u64> {
        delegate!(self.wake_waiting_auth(scope, now))
    }
    async fn queue_position(&self, id: RunId) -> Result<Option<i64>> {
        delegate!(self.queue_position(id))
    }
    async fn set_run_session(&self, id: RunId, session: &str) -> Result<()> {
        delegate!(self.set_run_session(id, session))
    }
    async fn request_stop(&self, id: RunId) -> Result<()> {
        delegate!(self.request_stop(id))
    }
    async fn queue_counts(&self) -> Result<super::queue::QueueCounts> {
        delegate!(self.queue_counts())
    }
    async fn next_retry_at(&self) -> Result<Option<DateTime<Utc>>> {
        delegate!(self.next_retry_at())
    }
    async fn append_logs(&self, entries: &[LogEntry]) -> Result<()> {
        delegate!(self.append_logs(entries))
    }

    async fn append_log_batches(&self, batches: &[Vec<LogEntry>]) -> Result<Vec<Result<()>>> {
        delegate!(self.append_log_batches(batches))
    }
    async fn read_logs(&self, run: RunId, after: i64, limit: usize) -> Result<Vec<LogEntry>> {
        delegate!(self.read_logs(run, after, limit))
    }
    async fn last_log_seq(&self, run: RunId) -> Result<i64> {
        delegate!(self.last_log_seq(run))
    }
    async fn count_users(&self) -> Result<i64> {
        delegate!(self.count_users())
    }
    async fn create_first_admin(&self, new: NewUser) -> Result<User> {
        delegate!(self.create_first_admin(new))
    }
    async fn create_user(&self, new: NewUser) -> Result<User> {
        delegate!(self.create_user(new))
    }
    async fn get_user(&self, id: UserId) -> Result<User> {
        delegate!(self.get_user(id))
    }
    async fn find_user_by_email(&self, email: &str) -> Result<Option<UserRecord>> {
        delegate!(self.find_user_by_email(email))
    }
    async fn get_user_record(&self, id: UserId) -> Result<UserRecord> {
        delegate!(self.get_user_record(id))
    }
    async fn list_users(&self) -> Result<Vec<User>> {
        delegate!(self.list_users())
    }
    async fn update_user(&self, id: UserId, patch: UserPatch) -> Result<User> {
        delegate!(self.update_user(id, patch))
    }
    async fn delete_user(&self, id: UserId) -> Result<()> {
        delegate!(self.delete_user(id))
    }
    async fn create_invite(&self, new: NewInvite) -> Result<Invite> {
        delegate!(self.create_invite(new))
    }
    async fn list_invites(&self) -> Result<Vec<Invite>> {
        delegate!(self.list_invites())
    }
    async fn revoke_invite(&self, id: InviteId) -> Result<Invite> {
        delegate!(self.revoke_invite(id))
    }
    async fn can_register(&self, code_hash: Option<&str>, email: &str) -> Result<bool> {
        delegate!(self.can_register(code_hash, email))
    }
    async fn register_with_invite(&self, code_hash: &str, new: NewUser) -> Result<User> {
        delegate!(self.register_with_invite(code_hash, new))
    }
    async fn create_session_token(&self, token: NewSessionToken) -> Result<()> {
        delegate!(self.create_session_token(token))
    }
    async fn rotate_session_token(&self, old_hash: &str, next: NewSessionToken) -> Result<Rotation> {
        delegate!(self.rotate_session_token(old_hash, next))
    }
    async fn session_active(&self, family: Uuid, user: UserId) -> Result<bool> {
        delegate!(self.session_active(family, user))
    }
    async fn revoke_session(&self, family: Uuid) -> Result<()> {
        delegate!(self.revoke_session(family))
    }
    async fn revoke_user_sessions(&self, user: UserId) -> Result<()> {
        delegate!(self.revoke_user_sessions(user))
    }
    async fn set_member(&self, project: ProjectId, user: UserId, role: ProjectRole) -> Result<()> {
        delegate!(self.set_member(project, user, role))
    }
    async fn remove_member(&self, project: ProjectId, user: UserId) -> Result<()> {
        delegate!(self.remove_member(project, user))
    }
    async fn list_members(&self, project: ProjectId) -> Result<Vec<Member>> {
        delegate!(self.list_members(project))
    }
    async fn project_role(&self, project: ProjectId, user: UserId) -> Result<Option<ProjectRole>> {
        delegate!(self.project_role(project, user))
    }
    async fn put_credential(
        &self,
        tier: Tier,
        scope: Uuid,
        key: &str,
        encrypted: &str,
        locked: bool,
        by: Option<UserId>,
    ) -> Result<StoredCredential> {
        delegate!(self.put_credential(tier, scope, key, encrypted, locked, by))
    }
    async fn delete_credential(&self, tier: Tier, scope: Uuid, key: &str) -> Result<()> {
        delegate!(self.delete_credential(tier, scope, key))
    }
    async fn list_credentials(&self, tier: Tier, scope: Uuid) -> Result<Vec<StoredCredential>> {
        delegate!(self.list_credentials(tier, scope))
    }
    async fn all_credentials(&self) -> Result<Vec<StoredCredential>> {
        delegate!(self.all_credentials())
    }
    async fn reencrypt_credential(&self, id: Uuid, encrypted: &str) -> Result<()> {
        delegate!(self.reencrypt_credential(id, encrypted))
    }
    async fn get_setting(&self, key: &str) -> Result<Option<String>> {
        delegate!(self.get_setting(key))
    }
    async fn put_setting(&self, key: &str, value: &str) -> Result<()> {
        delegate!(self.put_setting(key, value))
    }
    async fn append_audit(&self, entry: AuditEntry) -> Result<()> {
        delegate!(self.append_audit(entry))
    }
    async fn list_audit(&self, before: Option<Uuid>, limit: usize) -> Result<Vec<AuditEntry>> {
        delegate!(self.list_audit(before, limit))
    }
}

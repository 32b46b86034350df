//! [`AnyStore`]: the database chosen at start-up, as one concrete type.
//!
//! The core is generic over [`Store`]; binaries that pick the backend from a URL at run time
//! use this enum so their handlers are not generic (axum + utoipa route registration needs
//! concrete handler functions). Every call is one `match`, no allocation, no `dyn`.

use std::path::Path;

use super::{PgStore, Result, SqliteStore, Store, StoreError};
use crate::model::{
    LogEntry, NewProject, NewRun, NewTask, Project, ProjectId, Run, RunFinished, RunId, RunStarted,
    RunStatus, Task, TaskId, TaskPatch, TaskStatus,
};

/// SQLite or Postgres.
#[derive(Debug, Clone)]
pub enum AnyStore {
    /// The embedded database.
    Sqlite(SqliteStore),
    /// A Postgres server.
    Postgres(PgStore),
}

impl AnyStore {
    /// Opens `postgres://…`/`postgresql://…` URLs with Postgres, `sqlite:` URLs with SQLite.
    pub async fn connect(url: &str) -> Result<Self> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(AnyStore::Postgres(PgStore::connect(url).await?))
        } else if url.starts_with("sqlite:") {
            Ok(AnyStore::Sqlite(SqliteStore::connect(url).await?))
        } else {
            Err(StoreError::Invalid("unsupported database URL: use postgres://… or sqlite:…".into()))
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
    async fn list_projects(&self) -> Result<Vec<Project>> {
        delegate!(self.list_projects())
    }
    async fn delete_project(&self, id: ProjectId) -> Result<()> {
        delegate!(self.delete_project(id))
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
    async fn append_logs(&self, entries: &[LogEntry]) -> Result<()> {
        delegate!(self.append_logs(entries))
    }
    async fn read_logs(&self, run: RunId, after: i64, limit: usize) -> Result<Vec<LogEntry>> {
        delegate!(self.read_logs(run, after, limit))
    }
    async fn last_log_seq(&self, run: RunId) -> Result<i64> {
        delegate!(self.last_log_seq(run))
    }
}

//! The embedded SQLite store: one file in WAL mode, migrations from `migrations/sqlite`.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use super::{Result, Store, StoreError, common_store_methods, user_store_methods};
use crate::model::{
    LogEntry, NewProject, NewRun, NewTask, Project, ProjectId, Run, RunFinished, RunId, RunStarted,
    RunStatus, Task, TaskId, TaskPatch, TaskStatus, UserId,
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/sqlite");

/// The SQLite implementation of [`Store`].
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// A connection of its own for log appends (SQLite has one writer at a time): runs'
    /// logs never wait for a connection behind readers of the shared pool.
    logs: SqlitePool,
    /// The schema's migrations, and which this process applied.
    migrations: std::sync::Arc<Vec<super::MigrationState>>,
}

/// A SQLite database opened with its schema as found: what start-up checks read before any
/// migration changes it. [`UnmigratedSqlite::migrate`] makes the store.
#[derive(Debug)]
pub struct UnmigratedSqlite {
    pool: SqlitePool,
    options: Box<SqliteConnectOptions>,
}

impl UnmigratedSqlite {
    async fn new(options: SqliteConnectOptions) -> Result<Self> {
        // WAL lets readers (log followers, the board) work while the runner writes; NORMAL
        // sync in WAL mode keeps every committed transaction across a process crash.
        let options = options
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            // Statement journals and the temporary tables of INSERT … SELECT stay in memory
            // (as files they cost a create, writes and an unlink per log append).
            .pragma("temp_store", "memory")
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .min_connections(1)
            .connect_with(options.clone())
            .await?;
        Ok(Self { pool, options: Box::new(options) })
    }

    /// The stored credentials' encrypted values, as the schema found has them (none before
    /// the credentials table exists).
    pub async fn credential_values(&self) -> Result<Vec<String>> {
        let exists: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'credentials')",
        )
        .fetch_one(&self.pool)
        .await?;
        if !exists {
            return Ok(Vec::new());
        }
        Ok(sqlx::query_scalar("SELECT value FROM credentials").fetch_all(&self.pool).await?)
    }

    /// Applies what is missing of the schema and opens the store.
    pub async fn migrate(self) -> Result<SqliteStore> {
        let Self { pool, options } = self;
        let migrations = std::sync::Arc::new(super::migrate_reporting!(MIGRATOR, &pool));
        // Only the log writer uses it, one append at a time: no check before each use, and
        // no waiting inside SQLite for the lock (`retry_while_locked` waits instead).
        let logs = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .test_before_acquire(false)
            .connect_with(options.busy_timeout(Duration::ZERO))
            .await?;
        Ok(SqliteStore { pool, logs, migrations })
    }
}

impl SqliteStore {
    /// Opens (creating if missing) the database file at `path` and applies migrations.
    pub async fn open(path: &Path) -> Result<Self> {
        Self::open_unmigrated(path).await?.migrate().await
    }

    /// Opens a `sqlite:` URL (e.g. `sqlite:///var/lib/taskyard/taskyard.db`).
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_unmigrated(url).await?.migrate().await
    }

    /// Opens the file at `path` without applying migrations yet.
    pub async fn open_unmigrated(path: &Path) -> Result<UnmigratedSqlite> {
        UnmigratedSqlite::new(SqliteConnectOptions::new().filename(path)).await
    }

    /// Opens a `sqlite:` URL without applying migrations yet.
    pub async fn connect_unmigrated(url: &str) -> Result<UnmigratedSqlite> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| StoreError::Invalid(format!("invalid SQLite URL: {e}")))?;
        UnmigratedSqlite::new(options).await
    }

    /// The schema's migrations, and which opening this store applied.
    pub fn migrations(&self) -> &[super::MigrationState] {
        &self.migrations
    }

    /// The underlying pool, for tests and tools.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

impl SqliteStore {
    super::users::insert_user_fn!(sqlx::Sqlite);

    /// The log insert is kept prepared per connection (one statement per row count).
    const KEEP_LOG_INSERT_PREPARED: bool = true;

    /// The statement storing packed batch rows, each only after everything stored of its
    /// run (see `INSERT_LOG_BATCHES_TAIL`); with `returning`, it names the rows that landed.
    fn insert_log_rows(
        rows: &[(RunId, i64, i64, String)],
        returning: bool,
    ) -> sqlx::QueryBuilder<sqlx::Sqlite> {
        let mut insert = sqlx::QueryBuilder::new(super::INSERT_LOG_BATCHES_HEAD);
        insert.push_values(rows, |mut row, (run, first, last, packed)| {
            row.push_bind(*run).push_bind(*first).push_bind(*last).push_bind(packed.as_str());
        });
        insert.push(super::INSERT_LOG_BATCHES_TAIL);
        if returning {
            insert.push(" RETURNING run_id, first_seq");
        }
        insert
    }
}

impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    common_store_methods!();
    user_store_methods!();
    super::queue::queue_store_methods!(begin = "BEGIN IMMEDIATE", lock = "", serialize = "");

    super::log_append_methods!(pool = logs);
}

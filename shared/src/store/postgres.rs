//! The Postgres store for team servers: migrations from `migrations/postgres`, bulk log
//! appends through `UNNEST` (one statement per batch, whatever its size).

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use super::{Result, Store, StoreError, common_store_methods, user_store_methods};
use crate::model::{
    LogEntry, NewProject, NewRun, NewTask, Project, ProjectId, Run, RunFinished, RunId, RunStarted,
    RunStatus, Task, TaskId, TaskPatch, TaskStatus, UserId,
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../migrations/postgres");

/// The Postgres implementation of [`Store`].
#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    /// The schema's migrations, and which this process applied.
    migrations: std::sync::Arc<Vec<super::MigrationState>>,
}

/// A Postgres database connected with its schema as found: what start-up checks read before
/// any migration changes it. [`UnmigratedPg::migrate`] makes the store.
#[derive(Debug)]
pub struct UnmigratedPg {
    pool: PgPool,
}

impl UnmigratedPg {
    /// The stored credentials' encrypted values, as the schema found has them (none before
    /// the credentials table exists).
    pub async fn credential_values(&self) -> Result<Vec<String>> {
        let exists: bool =
            sqlx::query_scalar("SELECT to_regclass('credentials') IS NOT NULL").fetch_one(&self.pool).await?;
        if !exists {
            return Ok(Vec::new());
        }
        Ok(sqlx::query_scalar("SELECT value FROM credentials").fetch_all(&self.pool).await?)
    }

    /// Applies what is missing of the schema and opens the store.
    pub async fn migrate(self) -> Result<PgStore> {
        let migrations = std::sync::Arc::new(super::migrate_reporting!(MIGRATOR, &self.pool));
        Ok(PgStore { pool: self.pool, migrations })
    }
}

impl PgStore {
    /// Connects to a `postgres://` URL and applies migrations.
    pub async fn connect(url: &str) -> Result<Self> {
        Self::connect_unmigrated(url).await?.migrate().await
    }

    /// Connects to a `postgres://` URL without applying migrations yet.
    pub async fn connect_unmigrated(url: &str) -> Result<UnmigratedPg> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Invalid(format!("invalid Postgres URL: {e}")))?;
        Self::unmigrated_with_options(options).await
    }

    /// Connects with prepared options and applies migrations.
    pub async fn with_options(options: PgConnectOptions) -> Result<Self> {
        Self::unmigrated_with_options(options).await?.migrate().await
    }

    async fn unmigrated_with_options(options: PgConnectOptions) -> Result<UnmigratedPg> {
        // Up to 8 connections append logs at once (the log writers); the rest serve everything else.
        let pool = PgPoolOptions::new()
            .max_connections(24)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        Ok(UnmigratedPg { pool })
    }

    /// The schema's migrations, and which opening this store applied.
    pub fn migrations(&self) -> &[super::MigrationState] {
        &self.migrations
    }

    /// The underlying pool, for tests and tools.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

impl PgStore {
    super::users::insert_user_fn!(sqlx::Postgres);

    /// The log insert is planned at every execution. Kept prepared, Postgres soon gives it a
    /// generic plan made while `run_log_batches` was small, and in the 200-run benchmark every
    /// run then lagged by seconds (planned each time: 1 in 9).
    const KEEP_LOG_INSERT_PREPARED: bool = false;

    /// The statement storing packed batch rows, each only after everything stored of its
    /// run (see `INSERT_LOG_BATCHES_TAIL`); with `returning`, it names the rows that landed.
    /// The rows go in as four arrays: one short statement text for any number of rows.
    fn insert_log_rows(
        rows: &[(RunId, i64, i64, String)],
        returning: bool,
    ) -> sqlx::QueryBuilder<sqlx::Postgres> {
        let mut insert = sqlx::QueryBuilder::new(super::INSERT_LOG_BATCHES_HEAD);
        insert.push("SELECT * FROM UNNEST(");
        insert.push_bind(rows.iter().map(|r| r.0.0).collect::<Vec<uuid::Uuid>>());
        insert.push("::uuid[], ");
        insert.push_bind(rows.iter().map(|r| r.1).collect::<Vec<i64>>());
        insert.push("::int8[], ");
        insert.push_bind(rows.iter().map(|r| r.2).collect::<Vec<i64>>());
        insert.push("::int8[], ");
        insert.push_bind(rows.iter().map(|r| r.3.clone()).collect::<Vec<String>>());
        insert.push("::text[])");
        insert.push(super::INSERT_LOG_BATCHES_TAIL);
        if returning {
            insert.push(" RETURNING run_id, first_seq");
        }
        insert
    }
}

impl Store for PgStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    common_store_methods!();
    user_store_methods!();
    super::queue::queue_store_methods!(
        begin = "BEGIN",
        lock = "FOR UPDATE OF r SKIP LOCKED",
        serialize = "SELECT pg_advisory_xact_lock(7412001)"
    );

    super::log_append_methods!(pool = pool);
}

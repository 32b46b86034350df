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
}

impl PgStore {
    /// Connects to a `postgres://` URL and applies migrations.
    pub async fn connect(url: &str) -> Result<Self> {
        let options = PgConnectOptions::from_str(url)
            .map_err(|e| StoreError::Invalid(format!("invalid Postgres URL: {e}")))?;
        Self::with_options(options).await
    }

    /// Connects with prepared options and applies migrations.
    pub async fn with_options(options: PgConnectOptions) -> Result<Self> {
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(Self { pool })
    }

    /// The underlying pool, for tests and tools.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

impl PgStore {
    super::users::insert_user_fn!(sqlx::Postgres);
    super::insert_log_rows_fn!(db = sqlx::Postgres, casts = ("::uuid", "::int8", "::int8", "::text"));
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

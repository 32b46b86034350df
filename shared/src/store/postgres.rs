//! The Postgres store for team servers: migrations from `migrations/postgres`, bulk log
//! appends through `UNNEST` (one statement per batch, whatever its size).

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use uuid::Uuid;

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

    async fn append_logs(&self, entries: &[LogEntry]) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        super::check_log_batch(entries)?;
        let n = entries.len();
        let (mut runs, mut seqs, mut tss) =
            (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
        let (mut kinds, mut texts, mut datas) =
            (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
        for e in entries {
            runs.push(e.run_id.0);
            seqs.push(e.seq);
            tss.push(e.ts);
            kinds.push(e.kind.as_str());
            texts.push(e.text.as_str());
            datas.push(e.data.as_ref().map(|d| d.to_string()));
        }
        // A single statement is a transaction of its own: the batch lands whole or not at all.
        sqlx::query(
            "INSERT INTO run_logs (run_id, seq, ts, kind, text, data)
             SELECT * FROM UNNEST($1::uuid[], $2::int8[], $3::timestamptz[], $4::text[], $5::text[], $6::text[])",
        )
        .bind(&runs as &[Uuid])
        .bind(&seqs)
        .bind(&tss as &[DateTime<Utc>])
        .bind(&kinds)
        .bind(&texts)
        .bind(&datas)
        .execute(&self.pool)
        .await
        .map_err(super::duplicate_seq)?;
        Ok(())
    }
}

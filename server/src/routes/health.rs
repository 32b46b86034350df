//! Liveness and readiness, shaped for compose health checks and load balancers.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use taskyard_core::agent::status::{self, Presence};
use taskyard_core::store::Store;

use crate::http::AppState;

/// Liveness.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Health {
    /// Always "ok" when the process answers.
    pub status: &'static str,
    /// Server version.
    pub version: &'static str,
    /// Seconds since start.
    pub uptime_seconds: u64,
    /// Runs this server executes now.
    pub active_runs: usize,
    /// Runs waiting for a worker, on every server of the database; `null` when the database
    /// does not answer.
    pub queued_runs: Option<i64>,
    /// Runs waiting for credentials or a usage limit; `null` when the database does not
    /// answer.
    pub waiting_runs: Option<i64>,
    /// "sqlite" or "postgres".
    pub database: &'static str,
    /// Whether the database answered (within 2 s) when last asked (at most once a second).
    pub database_reachable: bool,
    /// Each agent CLI: installed, and whether a global credential is available for it.
    pub agents: Vec<Presence>,
    /// How runs are confined: `required` (every run in a sandbox; runs are refused when
    /// none can be made), `if_available` (unconfined where none can be made, as the admin
    /// accepted), `off`.
    pub sandbox: &'static str,
    /// Whether runs started now are confined.
    pub confined: bool,
}

/// Readiness.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Ready {
    /// "ready" or "unavailable".
    pub status: &'static str,
    /// Server version.
    pub version: &'static str,
    /// Whether the database answered.
    pub database_reachable: bool,
    /// "sqlite" or "postgres".
    pub database: &'static str,
    /// Why it is not ready.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// How long the health check waits for the database.
const DATABASE_CHECK: std::time::Duration = std::time::Duration::from_secs(2);

/// What `/health` reports beyond the process itself: counted in the database and on `PATH`.
/// It is refreshed in the background at most once a second and a probe answers from the last
/// one, so health checks of many balancers or replicas cost the database one query a second
/// and a slow database never makes a probe wait (only the very first computes in line).
#[derive(Debug, Clone)]
struct Snapshot {
    counts: Option<taskyard_core::store::queue::QueueCounts>,
    agents: Vec<Presence>,
}

/// The last [`Snapshot`], and whether a refresh is under way.
#[derive(Debug, Default)]
pub struct Cache {
    last: std::sync::Mutex<Option<(std::time::Instant, Snapshot)>>,
    refreshing: std::sync::atomic::AtomicBool,
}

impl Cache {
    fn last(&self) -> Option<(std::time::Instant, Snapshot)> {
        self.last.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    fn store(&self, snapshot: Snapshot) {
        *self.last.lock().unwrap_or_else(std::sync::PoisonError::into_inner) =
            Some((std::time::Instant::now(), snapshot));
    }

    async fn get(&self, app: &AppState) -> Snapshot {
        use std::sync::atomic::Ordering;
        let Some((at, snapshot)) = self.last() else {
            let snapshot = compute(app).await;
            self.store(snapshot.clone());
            return snapshot;
        };
        let stale = at.elapsed() >= std::time::Duration::from_secs(1);
        if stale && self.refreshing.compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire).is_ok()
        {
            let app = app.clone();
            tokio::spawn(async move {
                // Cleared however the refresh ends (a panic or a cancelled task too), so a
                // failed refresh never freezes the snapshot.
                let _done = Refreshing(&app.health_cache().refreshing);
                let fresh = compute(&app).await;
                app.health_cache().store(fresh);
            });
        }
        snapshot
    }
}

/// Clears the "refresh running" flag when dropped.
struct Refreshing<'a>(&'a std::sync::atomic::AtomicBool);

impl Drop for Refreshing<'_> {
    fn drop(&mut self) {
        self.0.store(false, std::sync::atomic::Ordering::Release);
    }
}

/// Makes the first snapshot (at start-up, so no probe computes one in line).
pub async fn warm(app: &AppState) {
    app.health_cache().store(compute(app).await);
}

async fn compute(app: &AppState) -> Snapshot {
    let counts =
        tokio::time::timeout(DATABASE_CHECK, app.store().queue_counts()).await.ok().and_then(Result::ok);
    let mut opts = app.runner().status_options().await;
    if let Some(service) = app.credentials() {
        // The global tier: what every run can count on (users may add their own).
        if let Ok(Ok(resolution)) =
            tokio::time::timeout(DATABASE_CHECK, service.resolve(app.store(), None, None)).await
        {
            opts = opts.with_credentials(&resolution);
        }
    }
    Snapshot { counts, agents: status::presence(&opts) }
}

/// Is the process alive, and what does it have to work with? Always 200 while it answers:
/// the database's and the agents' state are in the body (readiness is `/ready`), as last
/// found (refreshed at most once a second).
#[utoipa::path(get, path = "/health", tag = "health", responses((status = 200, body = Health)))]
pub async fn health(State(app): State<AppState>) -> Json<Health> {
    let sandbox = app.runner().sandbox_status().await;
    let Snapshot { counts, agents } = app.health_cache().get(&app).await;
    Json(Health {
        sandbox: sandbox.policy,
        confined: sandbox.confined,
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
        uptime_seconds: app.started().elapsed().as_secs(),
        active_runs: app.runner().active_runs(),
        queued_runs: counts.as_ref().map(|c| c.queued),
        waiting_runs: counts.as_ref().map(|c| c.waiting_auth + c.waiting_quota),
        database: app.store().backend(),
        database_reachable: counts.is_some(),
        agents,
    })
}

/// Can it serve requests? The database answers and its migrations were applied at start-up.
#[utoipa::path(get, path = "/ready", tag = "health", responses((status = 200, body = Ready), (status = 503, body = Ready)))]
pub async fn ready(State(app): State<AppState>) -> (StatusCode, Json<Ready>) {
    let database = app.store().backend();
    let version = env!("CARGO_PKG_VERSION");
    let ping = tokio::time::timeout(DATABASE_CHECK, app.store().ping()).await;
    match ping {
        Ok(Ok(())) => (
            StatusCode::OK,
            Json(Ready { status: "ready", version, database_reachable: true, database, error: None }),
        ),
        failed => {
            let e = failed
                .map(|r| r.err().map(|e| e.to_string()).unwrap_or_default())
                .unwrap_or_else(|_| "timed out".into());
            tracing::warn!(error = %e, "readiness check failed");
            let body = Ready {
                status: "unavailable",
                version,
                database_reachable: false,
                database,
                error: Some("database unreachable".into()),
            };
            (StatusCode::SERVICE_UNAVAILABLE, Json(body))
        }
    }
}

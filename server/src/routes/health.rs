//! Liveness and readiness, shaped for compose health checks and load balancers.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
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
    /// Runs executing now.
    pub active_runs: usize,
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
    /// "sqlite" or "postgres".
    pub database: &'static str,
    /// Why it is not ready.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Is the process alive?
#[utoipa::path(get, path = "/health", tag = "health", responses((status = 200, body = Health)))]
pub async fn health(State(app): State<AppState>) -> Json<Health> {
    let sandbox = app.runner().sandbox_status().await;
    Json(Health {
        sandbox: sandbox.policy,
        confined: sandbox.confined,
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
        uptime_seconds: app.started().elapsed().as_secs(),
        active_runs: app.runner().active_runs(),
    })
}

/// Can it serve requests? The database answers and its migrations were applied at start-up.
#[utoipa::path(get, path = "/ready", tag = "health", responses((status = 200, body = Ready), (status = 503, body = Ready)))]
pub async fn ready(State(app): State<AppState>) -> (StatusCode, Json<Ready>) {
    let database = app.store().backend();
    match app.store().ping().await {
        Ok(()) => (StatusCode::OK, Json(Ready { status: "ready", database, error: None })),
        Err(e) => {
            tracing::warn!(error = %e, "readiness check failed");
            let body = Ready { status: "unavailable", database, error: Some("database unreachable".into()) };
            (StatusCode::SERVICE_UNAVAILABLE, Json(body))
        }
    }
}

//! The run queue: what waits and runs, this server's share, and the settings admins change
//! at run time (limits and the retry policy).

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use taskyard_core::runner::housekeeping::WorktreeUsage;
use taskyard_core::runner::policy::QueueSettings;
use taskyard_core::store::Store;
use taskyard_core::store::queue::QueueCounts;

use crate::http::AppState;
use crate::http::access::{Actor, ClientIp};
use crate::http::audit::Audit;
use crate::http::error::{ApiError, ApiJson, ErrorBody};

/// The queue at a glance.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct QueueStatus {
    /// Live runs by state, across all servers.
    pub counts: QueueCounts,
    /// Runs this server executes now.
    pub active_here: usize,
    /// Runs this server executes at once at most.
    pub max_concurrent_here: usize,
    /// The settings in force.
    pub settings: QueueSettings,
    /// Disk used by this server's worktrees (counted at most once a minute).
    pub worktrees: WorktreeUsage,
    /// Whether this server's runs are confined, and if not, why.
    pub sandbox: taskyard_core::sandbox::Status,
}

/// The queue: counts, this server's share, the settings.
#[utoipa::path(get, path = "/api/queue", tag = "queue", responses((status = 200, body = QueueStatus)))]
pub async fn status(State(app): State<AppState>, _actor: Actor) -> Result<Json<QueueStatus>, ApiError> {
    let runner = app.runner();
    let settings = runner.queue_settings();
    let max_concurrent_here = match settings.max_concurrent {
        0 => runner.config().queue.max_concurrent,
        n => n as usize,
    };
    Ok(Json(QueueStatus {
        counts: app.store().queue_counts().await?,
        active_here: runner.active_runs(),
        max_concurrent_here,
        settings,
        worktrees: runner.worktree_usage_cached(std::time::Duration::from_secs(60)).await,
        sandbox: runner.sandbox_status().await,
    }))
}

/// Change the queue's limits and retry policy (admins; in local mode, the owner). Every
/// server picks the change up within seconds.
#[utoipa::path(put, path = "/api/queue/settings", tag = "queue", request_body = QueueSettings,
    responses((status = 200, body = QueueSettings), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn set_settings(
    State(app): State<AppState>,
    actor: Actor,
    ip: ClientIp,
    ApiJson(body): ApiJson<QueueSettings>,
) -> Result<Json<QueueSettings>, ApiError> {
    actor.server_admin()?;
    body.validate().map_err(|e| ApiError::invalid("settings", e))?;
    let json = serde_json::to_string(&body).map_err(ApiError::internal)?;
    app.store().put_setting(QueueSettings::KEY, &json).await?;
    app.runner().reload_queue_settings().await;
    Audit {
        action: "queue_settings_changed",
        actor: Some(&actor),
        actor_text: None,
        target: None,
        details: Some(json),
        ip,
    }
    .record(&app)
    .await;
    Ok(Json(app.runner().queue_settings()))
}

//! Agent CLIs: is each one installed (where, which version), which credential a run would
//! use, and a test action that runs a tiny prompt.

use axum::Json;
use axum::extract::State;
use taskyard_core::agent::AgentError;
use taskyard_core::agent::status::{self, AgentStatus, StatusOptions, TestReport};

use crate::http::AppState;
use crate::http::access::Actor;
use crate::http::error::{ApiError, ApiPath, ErrorBody};

/// What a run started by `actor` would see, before a project's own credentials: the
/// global tier and the actor's user tier.
async fn options(app: &AppState, actor: &Actor) -> Result<StatusOptions, ApiError> {
    let opts = app.runner().status_options().await;
    Ok(match app.credentials() {
        Some(service) => {
            let resolution = service.resolve(app.store(), None, actor.user().map(|u| u.id)).await?;
            opts.with_credentials(&resolution)
        }
        None => opts,
    })
}

/// Every agent adapter with its CLI's status.
#[utoipa::path(get, path = "/api/agents", tag = "agents", responses((status = 200, body = Vec<AgentStatus>)))]
pub async fn list(State(app): State<AppState>, actor: Actor) -> Result<Json<Vec<AgentStatus>>, ApiError> {
    Ok(Json(status::list(&options(&app, &actor).await?).await))
}

/// Run a tiny prompt with an agent and report ok / auth required / quota / unreachable. On a
/// team server only admins may (it spends the server's credentials).
#[utoipa::path(post, path = "/api/agents/{name}/test", tag = "agents",
    params(("name" = String, Path, description = "The adapter's name")),
    responses((status = 200, body = TestReport), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn test(
    State(app): State<AppState>,
    actor: Actor,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<TestReport>, ApiError> {
    if actor.user().is_some() {
        actor.admin()?;
    }
    match status::test(&name, &options(&app, &actor).await?).await {
        Ok(report) => Ok(Json(report)),
        Err(AgentError::UnknownAgent(_)) => Err(ApiError::not_found(format!("no agent called `{name}`"))),
        Err(e) => Err(e.into()),
    }
}

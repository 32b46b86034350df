//! Runs: read, stop, their logs (a page, or a WebSocket that replays after a seq and then
//! follows live), their diff, and merging or pushing their branch.

use axum::Json;
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::StatusCode;
use axum::response::{IntoResponse as _, Response};
use serde::{Deserialize, Serialize};
use taskyard_core::git::{Diff, MergeOutcome};
use taskyard_core::logs::LogFollower;
use taskyard_core::model::{LogEntry, Run, RunId, RunStatus};
use taskyard_core::runner::Merged;
use taskyard_core::store::{MAX_LOG_PAGE, Store, StoreError};

use crate::http::AppState;
use crate::http::access::Actor;
use crate::http::error::{ApiError, ApiJson, ApiPath, ApiQuery, ErrorBody};

/// Close code for a log socket whose run does not exist.
pub const CLOSE_NOT_FOUND: u16 = 4404;

/// Where to start reading a log.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct LogQuery {
    /// Entries after this seq (default 0: from the start).
    #[param(minimum = 0)]
    pub after: Option<i64>,
    /// At most this many (default 1000, at most 5000); pages only.
    #[param(minimum = 1, maximum = 5000)]
    pub limit: Option<usize>,
    /// Team mode, sockets only: the access token (browsers cannot set headers on WebSockets).
    pub access_token: Option<String>,
}

/// A page of a run's log.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LogPage {
    /// Entries in seq order.
    pub entries: Vec<LogEntry>,
    /// The run's status when the page was read.
    pub run_status: RunStatus,
}

/// What a log socket sends, one JSON object per text message.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LogMessage {
    /// The next entries, in seq order, each exactly once.
    Entries {
        /// The entries.
        entries: Vec<LogEntry>,
    },
    /// The run ended and every entry was sent; the socket closes next.
    End {
        /// The run as it ended.
        run: Box<Run>,
    },
}

/// Push options.
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PushRun {
    /// Access token for the remote; used for this push only, never stored.
    #[serde(default)]
    pub token: Option<String>,
}

impl std::fmt::Debug for PushRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushRun").field("token", &self.token.as_ref().map(|_| "***")).finish()
    }
}

/// What a push did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Pushed {
    /// The branch now on `origin`.
    pub branch: String,
}

/// What a merge did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MergeResult {
    /// What git did.
    pub outcome: MergeOutcome,
    /// The merged branch.
    pub branch: String,
    /// The branch it went into.
    pub into: String,
}

impl From<Merged> for MergeResult {
    fn from(m: Merged) -> Self {
        Self { outcome: m.outcome, branch: m.branch, into: m.into }
    }
}

/// One run.
#[utoipa::path(get, path = "/api/runs/{id}", tag = "runs",
    params(("id" = RunId, Path, description = "The run's id")),
    responses((status = 200, body = Run), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(app): State<AppState>,
    actor: Actor,
    ApiPath(id): ApiPath<RunId>,
) -> Result<Json<Run>, ApiError> {
    let run = actor.run(&app, id).await?;
    Ok(Json(with_position(&app, run).await?))
}

/// A run with its place in the queue filled in (when it is queued).
pub async fn with_position(app: &AppState, run: Run) -> Result<Run, ApiError> {
    if run.status != taskyard_core::model::RunStatus::Queued {
        return Ok(run);
    }
    let queue_position = app.store().queue_position(run.id).await?;
    Ok(Run { queue_position, ..run })
}

/// Retry a run that waits for credentials or a quota now, without waiting for its retry time.
#[utoipa::path(post, path = "/api/runs/{id}/retry", tag = "runs",
    params(("id" = RunId, Path, description = "The run's id")),
    responses((status = 202, body = Run), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn retry(
    State(app): State<AppState>,
    actor: Actor,
    ApiPath(id): ApiPath<RunId>,
) -> Result<(StatusCode, Json<Run>), ApiError> {
    let run = actor.run(&app, id).await?;
    crate::routes::security::check_agent(&app, &actor, &run.agent).await?;
    let run = app.runner().retry_now(id).await?;
    Ok((StatusCode::ACCEPTED, Json(with_position(&app, run).await?)))
}

/// Stop a run: the agent is asked to stop, then killed with everything it started.
#[utoipa::path(post, path = "/api/runs/{id}/stop", tag = "runs",
    params(("id" = RunId, Path, description = "The run's id")),
    responses((status = 202, body = Run), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn stop(
    State(app): State<AppState>,
    actor: Actor,
    ApiPath(id): ApiPath<RunId>,
) -> Result<(StatusCode, Json<Run>), ApiError> {
    actor.run(&app, id).await?;
    app.runner().stop(id).await?;
    Ok((StatusCode::ACCEPTED, Json(app.store().get_run(id).await?)))
}

/// A page of a run's log after a seq.
#[utoipa::path(get, path = "/api/runs/{id}/logs", tag = "runs",
    params(("id" = RunId, Path, description = "The run's id"), LogQuery),
    responses((status = 200, body = LogPage), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn logs(
    State(app): State<AppState>,
    actor: Actor,
    ApiPath(id): ApiPath<RunId>,
    ApiQuery(q): ApiQuery<LogQuery>,
) -> Result<Json<LogPage>, ApiError> {
    let run = actor.run(&app, id).await?;
    let limit = q.limit.unwrap_or(1000);
    if limit == 0 || limit > MAX_LOG_PAGE {
        return Err(ApiError::invalid("limit", format!("between 1 and {MAX_LOG_PAGE}")));
    }
    let after = q.after.unwrap_or(0);
    if after < 0 {
        return Err(ApiError::invalid("after", "must not be negative"));
    }
    let entries = app.store().read_logs(id, after, limit).await?;
    Ok(Json(LogPage { entries, run_status: run.status }))
}

/// Follow a run's log over a WebSocket: entries after `after` from the store, then live,
/// without gaps or duplicates; an `end` message when the run is over. A run that does not
/// exist closes the socket with code 4404.
#[utoipa::path(get, path = "/api/runs/{id}/logs/ws", tag = "runs",
    params(("id" = RunId, Path, description = "The run's id"), LogQuery),
    responses((status = 101, description = "Switching to the WebSocket protocol; messages are LogMessage JSON", body = LogMessage),
        (status = 503, body = ErrorBody, description = "too many open sockets (of this user, or in all)")))]
pub async fn logs_ws(
    State(app): State<AppState>,
    actor: Actor,
    ApiPath(id): ApiPath<RunId>,
    ApiQuery(q): ApiQuery<LogQuery>,
    ws: WebSocketUpgrade,
) -> Response {
    let after = q.after.unwrap_or(0).max(0);
    // Checked at the upgrade; a run the caller may not see looks like one that does not exist.
    let allowed = match actor.run(&app, id).await {
        Ok(_) => Ok(()),
        Err(e) if e.status() == StatusCode::NOT_FOUND => Err(false),
        Err(e) => {
            tracing::error!(run = %id, status = %e.status(), "log socket check failed");
            Err(true)
        }
    };
    let slot = match app.open_socket(&actor) {
        Ok(slot) => slot,
        Err(e) => return e.into_response(),
    };
    ws.on_upgrade(move |socket| async move {
        match allowed {
            Ok(()) => follow(app, id, after, socket).await,
            Err(false) => close(socket, CLOSE_NOT_FOUND, "run not found").await,
            Err(true) => close(socket, 1011, "internal error").await,
        }
        drop(slot);
    })
}

async fn follow(app: AppState, id: RunId, after: i64, mut socket: WebSocket) {
    let shutdown = crate::http::shutting_down(app.shutdown());
    tokio::pin!(shutdown);
    let mut follower = match LogFollower::new(app.store().clone(), app.bus(), id, after).await {
        Ok(f) => f,
        Err(StoreError::NotFound { .. }) => return close(socket, CLOSE_NOT_FOUND, "run not found").await,
        Err(e) => {
            tracing::error!(run = %id, error = %e, "log socket failed");
            return close(socket, 1011, "internal error").await;
        }
    };
    let mut pings = app.socket_pings();
    loop {
        tokio::select! {
            _ = pings.tick() => if socket.send(Message::Ping(Default::default())).await.is_err() {
                return;
            },
            next = follower.next() => match next {
                Ok(Some(entries)) => {
                    if send(&mut socket, &LogMessage::Entries { entries }).await.is_err() {
                        return;
                    }
                }
                Ok(None) => {
                    if let Ok(run) = app.store().get_run(id).await {
                        let _ = send(&mut socket, &LogMessage::End { run: Box::new(run) }).await;
                    }
                    return close(socket, 1000, "run ended").await;
                }
                Err(e) => {
                    tracing::error!(run = %id, error = %e, "reading a run's log failed");
                    return close(socket, 1011, "internal error").await;
                }
            },
            incoming = socket.recv() => match incoming {
                // Clients send nothing but pings and the close; axum answers pings itself.
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
            () = &mut shutdown => return close(socket, 1001, "server shutting down").await,
        }
    }
}

pub(crate) async fn send<T: Serialize>(socket: &mut WebSocket, msg: &T) -> Result<(), ()> {
    let text = serde_json::to_string(msg).map_err(|_| ())?;
    socket.send(Message::Text(text.into())).await.map_err(|_| ())
}

pub(crate) async fn close(mut socket: WebSocket, code: u16, reason: &'static str) {
    let _ = socket.send(Message::Close(Some(CloseFrame { code, reason: reason.into() }))).await;
}

/// What the run's branch changed against its base (with uncommitted work while its worktree
/// exists).
#[utoipa::path(get, path = "/api/runs/{id}/diff", tag = "runs",
    params(("id" = RunId, Path, description = "The run's id")),
    responses((status = 200, body = Diff), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn diff(
    State(app): State<AppState>,
    actor: Actor,
    ApiPath(id): ApiPath<RunId>,
) -> Result<Json<Diff>, ApiError> {
    actor.run(&app, id).await?;
    let mut diff = app.runner().diff(id).await?;
    // Secrets an agent wrote into files are not shown either.
    if let Some(credentials) = app.credentials() {
        let redactor = credentials.redactor();
        for file in &mut diff.files {
            if let std::borrow::Cow::Owned(clean) = redactor.redact(&file.patch) {
                file.patch = clean;
            }
        }
    }
    Ok(Json(diff))
}

/// Merge the run's branch into its base branch; the task moves to done.
#[utoipa::path(post, path = "/api/runs/{id}/merge", tag = "runs",
    params(("id" = RunId, Path, description = "The run's id")),
    responses((status = 200, body = MergeResult), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn merge(
    State(app): State<AppState>,
    actor: Actor,
    ApiPath(id): ApiPath<RunId>,
) -> Result<Json<MergeResult>, ApiError> {
    actor.run(&app, id).await?;
    Ok(Json(app.runner().merge(id).await?.into()))
}

/// Push the run's branch to the project's origin.
#[utoipa::path(post, path = "/api/runs/{id}/push", tag = "runs",
    params(("id" = RunId, Path, description = "The run's id")),
    request_body(content = Option<PushRun>),
    responses((status = 200, body = Pushed), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody), (status = 502, body = ErrorBody)))]
pub async fn push(
    State(app): State<AppState>,
    actor: Actor,
    ApiPath(id): ApiPath<RunId>,
    body: Option<ApiJson<PushRun>>,
) -> Result<Json<Pushed>, ApiError> {
    actor.run(&app, id).await?;
    let token = body.and_then(|ApiJson(b)| b.token);
    let settings = taskyard_core::security::SecuritySettings::load(app.store()).await;
    let _slot = crate::routes::security::slot(&app, &actor, &settings)?;
    let policy = crate::routes::security::policy(&app, &settings);
    match app.runner().push(id, token, policy).await {
        Ok(branch) => Ok(Json(Pushed { branch })),
        Err(e) => Err(crate::routes::security::remote_error(&actor, "push", e)),
    }
}

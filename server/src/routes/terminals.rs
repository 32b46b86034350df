//! Terminals: a shell in a project's root or a task's worktree, bridged over a WebSocket of
//! binary frames (`taskyard_core::terminal::protocol`). Opening, listing and closing go
//! through the API with the caller's credentials; the socket is opened with a single-use
//! ticket from `POST /api/terminals/{id}/ticket`, never a long-lived token in its address.
//!
//! A team server does not offer terminals yet: whoever has a shell can read what the server
//! can, so they come with the runs' sandbox (403 until then).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::StatusCode;
use axum::response::{IntoResponse as _, Response};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use taskyard_core::model::{ProjectId, TaskId};
use taskyard_core::terminal::protocol::{self, ClientFrame, ServerFrame, Size};
use taskyard_core::terminal::{Chunk, Spec};
use uuid::Uuid;

use crate::http::AppState;
use crate::http::access::Actor;
use crate::http::error::{ApiError, ApiJson, ApiPath, ApiQuery, ErrorBody};
use crate::terminals::{NewTerminal, Terminal};

/// Open a terminal.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OpenTerminal {
    /// The project whose root the shell starts in…
    pub project_id: ProjectId,
    /// …or, when given, this task's worktree (it must have one: a run made it).
    #[serde(default)]
    pub task_id: Option<TaskId>,
    /// Columns, 1 to 1000 (default 80).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 1000)]
    pub cols: Option<u16>,
    /// Rows, 1 to 500 (default 24).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 500)]
    pub rows: Option<u16>,
}

/// An open terminal.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TerminalView {
    pub id: Uuid,
    pub project_id: ProjectId,
    pub task_id: Option<TaskId>,
    /// Where the shell started.
    pub cwd: String,
    /// The shell.
    pub shell: String,
    pub created_at: DateTime<Utc>,
    /// Whether a client is attached now.
    pub attached: bool,
    /// The shell's exit code once it ended (-1: a signal ended it).
    pub exit_code: Option<i32>,
}

impl From<&Terminal> for TerminalView {
    fn from(t: &Terminal) -> Self {
        Self {
            id: t.id,
            project_id: t.project_id,
            task_id: t.task_id,
            cwd: t.cwd.display().to_string(),
            shell: t.shell.clone(),
            created_at: t.created_at,
            attached: t.attached(),
            exit_code: t.session.exit(),
        }
    }
}

/// A ticket for one socket.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TerminalTicket {
    /// Goes in the socket's `ticket` query parameter; good once.
    pub ticket: String,
    /// Seconds it is good for.
    pub expires_in_seconds: u64,
}

/// Which terminals to list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Every user's (admins only); otherwise the caller's.
    #[serde(default)]
    pub all: bool,
}

/// How to attach.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SocketQuery {
    /// From `POST /api/terminals/{id}/ticket`.
    pub ticket: String,
    /// The offset of the first byte of output wanted (the last one shown, when reattaching);
    /// earlier output than the terminal keeps starts at the oldest kept. Default 0.
    #[serde(default)]
    pub offset: u64,
}

fn owner_of(actor: &Actor) -> Uuid {
    actor.user().map_or(Uuid::nil(), |u| u.id.0)
}

fn refuse_on_team(app: &AppState) -> Result<(), ApiError> {
    if app.team().is_some() {
        return Err(ApiError::forbidden(
            "this team server does not offer terminals yet: a team's terminals run only in the runs' sandbox",
        ));
    }
    Ok(())
}

/// The default shell: `$SHELL` when it is a program, else bash, else sh.
fn shell() -> String {
    let executable = |p: &Path| p.is_file();
    std::env::var("SHELL")
        .ok()
        .filter(|s| Path::new(s).is_absolute() && executable(Path::new(s)))
        .or_else(|| {
            ["/bin/bash", "/usr/bin/bash"].into_iter().find(|p| executable(Path::new(p))).map(str::to_owned)
        })
        .unwrap_or_else(|| "/bin/sh".to_owned())
}

/// Open a terminal in a project's root or a task's worktree. Its socket: `GET
/// /api/terminals/{id}/socket` with a ticket. A user has at most 4 open, the server 32.
#[utoipa::path(post, path = "/api/terminals", tag = "terminals", request_body = OpenTerminal,
    responses((status = 201, body = TerminalView),
        (status = 403, body = ErrorBody, description = "a team server (terminals come with their sandbox)"),
        (status = 404, body = ErrorBody, description = "no such project or task (or not the caller's to see)"),
        (status = 409, body = ErrorBody, description = "the task has no worktree yet"),
        (status = 422, body = ErrorBody, description = "a bad size, a task of another project, or a shell that did not start"),
        (status = 429, body = ErrorBody, description = "the caller has as many terminals open as allowed"),
        (status = 503, body = ErrorBody, description = "the server has as many terminals open as it allows")))]
pub async fn open(
    State(app): State<AppState>,
    actor: Actor,
    ApiJson(body): ApiJson<OpenTerminal>,
) -> Result<(StatusCode, Json<TerminalView>), ApiError> {
    refuse_on_team(&app)?;
    let project = actor.project(&app, body.project_id).await?;
    let size = Size::new(body.cols.unwrap_or(80), body.rows.unwrap_or(24))
        .map_err(|e| ApiError::invalid("cols", e.to_string()))?;
    let (cwd, hold) = match body.task_id {
        None => (PathBuf::from(&project.repo_path), None),
        Some(task_id) => {
            let task = actor.task(&app, task_id).await?;
            if task.project_id != project.id {
                return Err(ApiError::invalid(
                    "task_id",
                    format!("task {task_id} is not in project {}", project.id),
                ));
            }
            let worktree = app.runner().worktree_path(task_id);
            // Held before it is looked at: housekeeping cannot take it in between.
            let hold = app.runner().hold_worktree(task_id);
            if !worktree.is_dir() {
                return Err(ApiError::conflict("this task has no worktree yet: start a run first"));
            }
            (worktree, Some(hold))
        }
    };
    let program = app.terminals().shell().map_or_else(shell, str::to_owned);
    let mut spec = Spec::shell(program, cwd, environment(&app, &actor, project.id).await?);
    spec.size = size;
    let terminal = app.terminals().open(NewTerminal {
        owner: owner_of(&actor),
        project_id: project.id,
        task_id: body.task_id,
        spec,
        hold,
    })?;
    tracing::info!(terminal = %terminal.id, project = %project.id, "terminal opened");
    Ok((StatusCode::CREATED, Json(TerminalView::from(terminal.as_ref()))))
}

/// The shell's environment on this computer: the user's home and locale, the agents' `PATH`,
/// and the credentials a run of this user in this project gets (so `claude` works in it).
async fn environment(
    app: &AppState,
    actor: &Actor,
    project: ProjectId,
) -> Result<BTreeMap<String, String>, ApiError> {
    let mut env = BTreeMap::new();
    for key in ["HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "DISPLAY", "WAYLAND_DISPLAY", "XDG_RUNTIME_DIR"]
    {
        if let Ok(value) = std::env::var(key) {
            env.insert(key.to_owned(), value);
        }
    }
    env.entry("LANG".into()).or_insert_with(|| "C.UTF-8".into());
    env.insert("PATH".into(), app.runner().config().agent_path.clone());
    env.extend(app.runner().config().agent_env.clone());
    if let Some(service) = app.credentials() {
        let resolution = service.resolve(app.store(), Some(project), actor.user().map(|u| u.id)).await?;
        for (key, resolved) in resolution.values {
            env.insert(key, resolved.value.expose().to_owned());
        }
    }
    Ok(env)
}

/// The caller's open terminals (with `all=true`, an admin's view of everyone's).
#[utoipa::path(get, path = "/api/terminals", tag = "terminals", params(ListQuery),
    responses((status = 200, body = Vec<TerminalView>), (status = 403, body = ErrorBody)))]
pub async fn list(
    State(app): State<AppState>,
    actor: Actor,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Vec<TerminalView>>, ApiError> {
    refuse_on_team(&app)?;
    let owner = if q.all && actor.user().is_some() {
        actor.admin()?;
        None
    } else {
        Some(owner_of(&actor))
    };
    Ok(Json(app.terminals().list(owner).iter().map(|t| TerminalView::from(t.as_ref())).collect()))
}

/// The terminal `id` the caller may act on: its own, or any for an admin.
fn reachable(app: &AppState, actor: &Actor, id: Uuid) -> Result<Arc<Terminal>, ApiError> {
    let admin = actor.user().is_some() && actor.admin().is_ok();
    app.terminals().get(id, (!admin).then(|| owner_of(actor)))
}

/// Close a terminal: its shell and everything it started end.
#[utoipa::path(delete, path = "/api/terminals/{id}", tag = "terminals",
    params(("id" = Uuid, Path, description = "The terminal's id")),
    responses((status = 204, description = "Closed"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn close(
    State(app): State<AppState>,
    actor: Actor,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<StatusCode, ApiError> {
    refuse_on_team(&app)?;
    let terminal = reachable(&app, &actor, id)?;
    app.terminals().close(terminal.id);
    Ok(StatusCode::NO_CONTENT)
}

/// A single-use ticket, good for 30 seconds, to open the terminal's socket.
#[utoipa::path(post, path = "/api/terminals/{id}/ticket", tag = "terminals",
    params(("id" = Uuid, Path, description = "The terminal's id")),
    responses((status = 201, body = TerminalTicket), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 429, body = ErrorBody, description = "too many unused tickets")))]
pub async fn ticket(
    State(app): State<AppState>,
    actor: Actor,
    ApiPath(id): ApiPath<Uuid>,
) -> Result<(StatusCode, Json<TerminalTicket>), ApiError> {
    refuse_on_team(&app)?;
    // Only the owner attaches: an admin may list and close, not type into someone's shell.
    let terminal = app.terminals().get(id, Some(owner_of(&actor)))?;
    let ticket = app.terminals().ticket(terminal.id, terminal.owner)?;
    Ok((
        StatusCode::CREATED,
        Json(TerminalTicket { ticket, expires_in_seconds: app.terminals().limits().ticket_ttl.as_secs() }),
    ))
}

/// The terminal's socket: binary frames both ways (see `taskyard_core::terminal::protocol`).
/// A newer socket to the same terminal takes over (this one closes with 4000). Other close
/// codes: 1000 the shell exited (after its exit frame) or the terminal was closed, 1001 the
/// server shuts down, 1003 a text frame, 1008 a frame the protocol refuses (after an error
/// frame saying why).
#[utoipa::path(get, path = "/api/terminals/{id}/socket", tag = "terminals",
    params(("id" = Uuid, Path, description = "The terminal's id"), SocketQuery),
    responses((status = 101, description = "Switching to the WebSocket protocol"),
        (status = 401, body = ErrorBody, description = "the ticket is unknown, used, expired or for another terminal"),
        (status = 503, body = ErrorBody, description = "too many open sockets")))]
pub async fn socket(
    State(app): State<AppState>,
    ApiPath(id): ApiPath<Uuid>,
    ApiQuery(q): ApiQuery<SocketQuery>,
    ws: WebSocketUpgrade,
) -> Response {
    let Some(terminal) = app.terminals().redeem(&q.ticket, id) else {
        return ApiError::unauthorized(
            "the terminal ticket is unknown, used, expired or for another terminal",
        )
        .into_response();
    };
    let slot = match app.open_socket_of(terminal.owner) {
        Ok(slot) => slot,
        Err(e) => return e.into_response(),
    };
    let limit = protocol::MAX_INPUT + 64;
    ws.max_message_size(limit).max_frame_size(limit).on_upgrade(move |socket| async move {
        bridge(app, terminal, socket, q.offset).await;
        drop(slot);
    })
}

async fn bridge(app: AppState, terminal: Arc<Terminal>, mut socket: WebSocket, offset: u64) {
    let (which, mut attachment) = terminal.attach();
    let mut output = terminal.session.output(offset);
    let shutdown = crate::http::shutting_down(app.shutdown());
    tokio::pin!(shutdown);
    let mut pings = app.socket_pings();
    let end = loop {
        tokio::select! {
            chunk = output.next() => match chunk {
                Some(Chunk::Output { offset, bytes }) => {
                    let frame = ServerFrame::Output { offset, bytes }.encode();
                    if socket.send(Message::Binary(frame.into())).await.is_err() {
                        break None;
                    }
                }
                Some(Chunk::Exit(code)) => {
                    let _ = socket.send(Message::Binary(ServerFrame::Exit(code).encode().into())).await;
                    break Some((1000, "the shell exited".to_owned()));
                }
                None => break Some((1000, "the terminal was closed".to_owned())),
            },
            incoming = socket.recv() => match incoming {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break None,
                Some(Ok(Message::Text(_))) => break Some((1003, "binary frames only".to_owned())),
                Some(Ok(Message::Binary(frame))) => {
                    if let Err(why) = apply(&terminal, &frame) {
                        let _ = socket.send(Message::Binary(ServerFrame::Error(why.clone()).encode().into())).await;
                        break Some((1008, why));
                    }
                }
                Some(Ok(_)) => {}
            },
            _ = attachment.changed() => break Some((4000, "the terminal was opened in another window".to_owned())),
            _ = pings.tick() => if socket.send(Message::Ping(Default::default())).await.is_err() {
                break None;
            },
            () = &mut shutdown => break Some((1001, "the server is shutting down".to_owned())),
        }
    };
    if let Some((code, reason)) = end {
        let reason = crate::http::error::capped(&reason, 120);
        let _ = socket.send(Message::Close(Some(CloseFrame { code, reason: reason.into() }))).await;
    }
    terminal.detach(which);
}

/// Carries out one client frame; the refusal's words when the protocol refuses it.
fn apply(terminal: &Terminal, frame: &[u8]) -> Result<(), String> {
    match ClientFrame::decode(frame).map_err(|e| e.to_string())? {
        ClientFrame::Input(bytes) => match terminal.session.try_write(bytes) {
            Ok(true) => Ok(()),
            // Typed faster than the shell reads: dropped, as a full terminal buffer does.
            Ok(false) => Ok(()),
            Err(_) => Err("the terminal is closed".into()),
        },
        ClientFrame::Resize(size) => terminal.session.resize(size).map_err(|e| format!("cannot resize: {e}")),
        ClientFrame::Ack(offset) => {
            terminal.session.ack(offset);
            Ok(())
        }
    }
}

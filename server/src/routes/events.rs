//! The board socket: every board event (tasks, runs, projects, clones) as JSON, so open
//! browser tabs stay in sync.

use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::{IntoResponse as _, Response};
use serde::Serialize;
use taskyard_core::events::BoardEvent;
use tokio::sync::broadcast::error::RecvError;

use super::runs::{close, send};
use crate::http::AppState;
use crate::http::access::Actor;
use crate::http::error::ErrorBody;
use taskyard_core::model::Scope;

/// What the board socket sends besides board events.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Control {
    /// Events were missed (the client was too slow): reload what is shown.
    Resync,
}

/// Board events over a WebSocket: `BoardEvent` JSON messages, and `{"type":"resync"}` when
/// the client fell behind and must reload.
#[utoipa::path(get, path = "/api/events", tag = "events",
    responses((status = 101, description = "Switching to the WebSocket protocol; messages are BoardEvent or Control JSON", body = BoardEvent),
        (status = 503, body = ErrorBody, description = "too many open sockets (of this user, or in all)")))]
pub async fn board_events(State(app): State<AppState>, actor: Actor, ws: WebSocketUpgrade) -> Response {
    let slot = match app.open_socket(&actor) {
        Ok(slot) => slot,
        Err(e) => return e.into_response(),
    };
    ws.on_upgrade(move |socket| async move {
        forward(app, actor, socket).await;
        drop(slot);
    })
}

/// Whether this socket's user may see an event: checked per event, so a member removed from a
/// project stops receiving its events at once.
async fn visible(app: &AppState, actor: &Actor, event: &BoardEvent) -> bool {
    match event {
        BoardEvent::CloneProgress { clone_id, .. } | BoardEvent::CloneFinished { clone_id, .. } => {
            app.clones().visible_to(*clone_id, actor)
        }
        // The project is gone and so are its members: only its id is sent.
        BoardEvent::ProjectDeleted { .. } => true,
        other => match other.project_id() {
            Some(project) => actor.scope() == Scope::All || actor.sees_project(app, project).await,
            None => false,
        },
    }
}

async fn forward(app: AppState, actor: Actor, mut socket: WebSocket) {
    let mut rx = app.bus().subscribe_board();
    let shutdown = crate::http::shutting_down(app.shutdown());
    tokio::pin!(shutdown);
    let mut pings = app.socket_pings();
    loop {
        tokio::select! {
            _ = pings.tick() => if socket.send(Message::Ping(Default::default())).await.is_err() {
                return;
            },
            event = rx.recv() => {
                let sent = match event {
                    Ok(event) if !visible(&app, &actor, &event).await => Ok(()),
                    Ok(event) => send::<BoardEvent>(&mut socket, &event).await,
                    Err(RecvError::Lagged(_)) => send(&mut socket, &Control::Resync).await,
                    Err(RecvError::Closed) => return close(socket, 1001, "server shutting down").await,
                };
                if sent.is_err() {
                    return;
                }
            }
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            },
            () = &mut shutdown => return close(socket, 1001, "server shutting down").await,
        }
    }
}

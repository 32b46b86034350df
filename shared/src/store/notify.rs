//! Events across the servers of a cluster: what one server publishes on its bus is sent as
//! a small `NOTIFY` on Postgres, and every other server reads what it names from the store
//! and publishes it on its own bus — so a board or a log followed on any server is live,
//! whichever server executes the run. Runs announced this way also wake the queue.
//!
//! Notifications lost while a connection is down are not replayed; readers recover from the
//! store (log sockets resume by seq, boards reload), and the queue polls anyway.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::postgres::PgListener;
use tokio::task::JoinHandle;

use super::{PgStore, Store};
use crate::events::{BoardEvent, Bus, LogNotice, Relayed};

/// The Postgres channel.
pub const CHANNEL: &str = "taskyard_events";

#[derive(Serialize, Deserialize)]
struct Envelope {
    /// The sending server (its own notices are skipped).
    o: String,
    #[serde(flatten)]
    notice: Relayed,
}

/// Relays `bus` to and from the other servers on `store`'s database; `origin` names this
/// server, `on_run` is called when another server announced a run (the queue may have work).
/// Returns the two tasks (sender and listener); they end when the bus is dropped.
pub fn start(
    store: PgStore,
    bus: Arc<Bus>,
    origin: String,
    on_run: Arc<dyn Fn() + Send + Sync>,
) -> Option<(JoinHandle<()>, JoinHandle<()>)> {
    let mut outgoing = bus.relay()?;
    let sender = {
        let (store, origin) = (store.clone(), origin.clone());
        tokio::spawn(async move {
            while let Some(notice) = outgoing.recv().await {
                let payload = match serde_json::to_string(&Envelope { o: origin.clone(), notice }) {
                    Ok(p) => p,
                    Err(e) => {
                        tracing::warn!(error = %e, "could not encode an event for other servers");
                        continue;
                    }
                };
                if let Err(e) = sqlx::query("SELECT pg_notify($1, $2)")
                    .bind(CHANNEL)
                    .bind(&payload)
                    .execute(store.pool())
                    .await
                {
                    tracing::warn!(error = %e, "could not notify other servers");
                }
            }
        })
    };
    let weak = Arc::downgrade(&bus);
    drop(bus);
    let listener = tokio::spawn(async move {
        let mut listener = loop {
            match listen(&store).await {
                Ok(l) => break l,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for other servers' events; retrying");
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
            }
        };
        loop {
            let notification = match listener.recv().await {
                Ok(n) => n,
                Err(e) => {
                    tracing::warn!(error = %e, "lost the event listener; reconnecting");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            };
            let Some(bus) = weak.upgrade() else { return };
            let envelope: Envelope = match serde_json::from_str(notification.payload()) {
                Ok(e) => e,
                Err(e) => {
                    tracing::debug!(error = %e, "ignoring an event this version does not know");
                    continue;
                }
            };
            if envelope.o == origin {
                continue;
            }
            deliver(&store, &bus, envelope.notice, on_run.as_ref()).await;
        }
    });
    Some((sender, listener))
}

async fn listen(store: &PgStore) -> sqlx::Result<PgListener> {
    let mut listener = PgListener::connect_with(store.pool()).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

/// Publishes on this server what another server announced, read again from the store.
async fn deliver(store: &PgStore, bus: &Bus, notice: Relayed, on_run: &(dyn Fn() + Send + Sync)) {
    match notice {
        Relayed::Logs { run, first, last } => {
            bus.publish_logs_here(
                run,
                LogNotice::Appended { first_seq: first, last_seq: last, entries: None },
            );
        }
        Relayed::Ended { run } => bus.end_logs_here(run),
        Relayed::Task { id } => {
            if let Ok(task) = store.get_task(id).await {
                bus.publish_board_here(BoardEvent::TaskUpdated { task });
            }
        }
        Relayed::TaskDeleted { project, id } => {
            bus.publish_board_here(BoardEvent::TaskDeleted { project_id: project, task_id: id });
        }
        Relayed::Run { id, project } => {
            if let Ok(run) = store.get_run(id).await {
                bus.publish_board_here(BoardEvent::RunUpdated { project_id: project, run });
            }
            on_run();
        }
        Relayed::Project { id } => {
            if let Ok(project) = store.get_project(id).await {
                bus.publish_board_here(BoardEvent::ProjectUpdated { project });
            }
        }
        Relayed::ProjectDeleted { id } => {
            bus.publish_board_here(BoardEvent::ProjectDeleted { project_id: id })
        }
    }
}

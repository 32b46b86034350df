//! The in-process event bus: board changes for everyone, and per-run log notices for the
//! readers of that run. Events are published only after what they announce is committed.
//!
//! Channels are bounded; a reader that falls behind is told it lagged and goes back to the
//! store, so a slow consumer never makes the bus grow.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, mpsc};

use crate::git::CloneProgress;
use crate::model::{LogEntry, Project, ProjectId, Run, RunId, Task, TaskId};

/// Notices kept per run channel before a slow reader lags (it then reads from the store).
const RUN_CHANNEL_CAPACITY: usize = 256;
/// Board events kept before a slow reader lags (it then reloads the board).
const BOARD_CHANNEL_CAPACITY: usize = 1024;

/// Something on the board changed.
// Events are made once per change and shared by the broadcast channel's slots; boxing the
// larger variants would move the allocation, not save it.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum BoardEvent {
    /// A project was added or changed.
    ProjectUpdated {
        /// The project as stored now.
        project: Project,
    },
    /// A project was removed.
    ProjectDeleted {
        /// Its id.
        project_id: ProjectId,
    },
    /// A clone started by `clone_id` made progress.
    CloneProgress {
        /// The clone's id.
        clone_id: uuid::Uuid,
        /// Objects and bytes so far.
        progress: CloneProgress,
    },
    /// A clone ended: with its project, or with the reason it failed.
    CloneFinished {
        /// The clone's id.
        clone_id: uuid::Uuid,
        /// The new project, when it worked.
        project: Option<Project>,
        /// Why it failed, when it did.
        error: Option<String>,
    },
    /// A task was created or changed.
    TaskUpdated {
        /// The task as stored now.
        task: Task,
    },
    /// A task was deleted.
    TaskDeleted {
        /// Its project.
        project_id: ProjectId,
        /// Its id.
        task_id: TaskId,
    },
    /// A run was created or changed state.
    RunUpdated {
        /// The project of the run's task.
        project_id: ProjectId,
        /// The run as stored now.
        run: Run,
    },
}

/// What a run's log channel carries.
#[derive(Debug, Clone)]
pub enum LogNotice {
    /// Entries `first_seq..=last_seq` were committed. `entries` holds them when the publisher
    /// had them at hand; otherwise readers fetch them from the store.
    Appended {
        /// First committed seq.
        first_seq: i64,
        /// Last committed seq.
        last_seq: i64,
        /// The entries themselves, in order.
        entries: Option<Arc<[LogEntry]>>,
    },
    /// The run ended: no entry will follow.
    Ended,
}

/// The bus. Cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Bus {
    board: broadcast::Sender<BoardEvent>,
    runs: Mutex<HashMap<RunId, broadcast::Sender<LogNotice>>>,
    /// Where notices for other servers go, once a relay is attached.
    relay: std::sync::OnceLock<mpsc::Sender<Relayed>>,
}

impl Default for Bus {
    fn default() -> Self {
        Self::new()
    }
}

impl BoardEvent {
    /// The project an event belongs to (clone events belong to none yet).
    pub fn project_id(&self) -> Option<ProjectId> {
        match self {
            BoardEvent::ProjectUpdated { project } => Some(project.id),
            BoardEvent::ProjectDeleted { project_id } => Some(*project_id),
            BoardEvent::TaskUpdated { task } => Some(task.project_id),
            BoardEvent::TaskDeleted { project_id, .. } => Some(*project_id),
            BoardEvent::RunUpdated { project_id, .. } => Some(*project_id),
            BoardEvent::CloneProgress { .. } | BoardEvent::CloneFinished { .. } => None,
        }
    }
}

/// What crosses to the other servers of a cluster (Postgres `NOTIFY`): small notices that
/// tell a receiver what to read again from the store, which is the truth.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "k", rename_all = "snake_case")]
pub enum Relayed {
    /// Log entries `first..=last` of a run were committed.
    Logs {
        /// The run.
        run: RunId,
        /// First committed seq.
        first: i64,
        /// Last committed seq.
        last: i64,
    },
    /// A run's log ended.
    Ended {
        /// The run.
        run: RunId,
    },
    /// A task was created or changed.
    Task {
        /// The task.
        id: TaskId,
    },
    /// A task was deleted.
    TaskDeleted {
        /// Its project.
        project: ProjectId,
        /// The task.
        id: TaskId,
    },
    /// A run was created or changed state (the queue may have work).
    Run {
        /// The run.
        id: RunId,
        /// Its task's project.
        project: ProjectId,
    },
    /// A project was added or changed.
    Project {
        /// The project.
        id: ProjectId,
    },
    /// A project was removed.
    ProjectDeleted {
        /// The project.
        id: ProjectId,
    },
}

impl Relayed {
    /// The notice for a board event; clone progress stays on the server doing the clone.
    fn of(event: &BoardEvent) -> Option<Self> {
        Some(match event {
            BoardEvent::ProjectUpdated { project } => Relayed::Project { id: project.id },
            BoardEvent::ProjectDeleted { project_id } => Relayed::ProjectDeleted { id: *project_id },
            BoardEvent::TaskUpdated { task } => Relayed::Task { id: task.id },
            BoardEvent::TaskDeleted { project_id, task_id } => {
                Relayed::TaskDeleted { project: *project_id, id: *task_id }
            }
            BoardEvent::RunUpdated { project_id, run } => Relayed::Run { id: run.id, project: *project_id },
            BoardEvent::CloneProgress { .. } | BoardEvent::CloneFinished { .. } => return None,
        })
    }
}

/// Notices waiting to be relayed before the relay drops them (it is far behind).
const RELAY_CAPACITY: usize = 4096;

impl Bus {
    /// An empty bus.
    pub fn new() -> Self {
        Self {
            board: broadcast::channel(BOARD_CHANNEL_CAPACITY).0,
            runs: Mutex::new(HashMap::new()),
            relay: std::sync::OnceLock::new(),
        }
    }

    /// Sends every event published from now on to the other servers too: returns the
    /// receiving end for the relay (see `store::notify`). Events the relay brings in are
    /// published with the `*_here` methods, which do not send them back out.
    pub fn relay(&self) -> Option<mpsc::Receiver<Relayed>> {
        let (tx, rx) = mpsc::channel(RELAY_CAPACITY);
        self.relay.set(tx).ok().map(|()| rx)
    }

    fn send_out(&self, notice: Relayed) {
        if let Some(tx) = self.relay.get()
            && tx.try_send(notice).is_err()
        {
            tracing::warn!("the event relay is behind; a notice to other servers was dropped");
        }
    }

    /// Receives every board event from now on.
    pub fn subscribe_board(&self) -> broadcast::Receiver<BoardEvent> {
        self.board.subscribe()
    }

    /// Announces a board change (after it is stored).
    pub fn publish_board(&self, event: BoardEvent) {
        if let Some(notice) = Relayed::of(&event) {
            self.send_out(notice);
        }
        self.publish_board_here(event);
    }

    /// Announces a board change on this server only (one relayed from another).
    pub fn publish_board_here(&self, event: BoardEvent) {
        // No receiver is not an error: nobody is looking at the board.
        let _ = self.board.send(event);
    }

    /// Receives the log notices of `run` from now on. Subscribe *before* reading the store so
    /// nothing committed in between is missed.
    pub fn subscribe_logs(&self, run: RunId) -> broadcast::Receiver<LogNotice> {
        let mut runs = self.runs.lock().unwrap_or_else(PoisonError::into_inner);
        // Channels nobody listens to any more are dropped here, so the map holds only runs
        // that have readers.
        runs.retain(|_, tx| tx.receiver_count() > 0);
        runs.entry(run).or_insert_with(|| broadcast::channel(RUN_CHANNEL_CAPACITY).0).subscribe()
    }

    /// Announces committed entries of a run to its readers, if it has any.
    pub fn publish_logs(&self, run: RunId, notice: LogNotice) {
        if let LogNotice::Appended { first_seq, last_seq, .. } = &notice {
            self.send_out(Relayed::Logs { run, first: *first_seq, last: *last_seq });
        }
        self.publish_logs_here(run, notice);
    }

    /// Announces committed entries on this server only (relayed from another).
    pub fn publish_logs_here(&self, run: RunId, notice: LogNotice) {
        let runs = self.runs.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(tx) = runs.get(&run) {
            let _ = tx.send(notice);
        }
    }

    /// Tells a run's readers it ended and forgets its channel.
    pub fn end_logs(&self, run: RunId) {
        self.send_out(Relayed::Ended { run });
        self.end_logs_here(run);
    }

    /// Ends a run's log channel on this server only (relayed from another).
    pub fn end_logs_here(&self, run: RunId) {
        let mut runs = self.runs.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(tx) = runs.remove(&run) {
            let _ = tx.send(LogNotice::Ended);
        }
    }

    /// How many runs have live log readers (for metrics and tests).
    pub fn followed_runs(&self) -> usize {
        let runs = self.runs.lock().unwrap_or_else(PoisonError::into_inner);
        runs.values().filter(|tx| tx.receiver_count() > 0).count()
    }
}

//! A project's board: every column with its total and its first cards, served from a snapshot
//! that board events invalidate, so a busy board costs one copy of bytes per request.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use taskyard_core::events::{BoardEvent, Bus};
use taskyard_core::model::{Project, ProjectId, Task, TaskId, TaskStatus};
use taskyard_core::store::{MAX_TASK_PAGE, Store};
use tokio::sync::broadcast::error::RecvError;

use crate::http::AppState;
use crate::http::access::Actor;
use crate::http::error::{ApiError, ApiPath, ApiQuery, ErrorBody};

/// Cards per column when the request does not say.
pub const DEFAULT_COLUMN_LIMIT: usize = 50;

/// The board columns, in order.
pub const COLUMNS: [TaskStatus; 8] = [
    TaskStatus::Backlog,
    TaskStatus::Queued,
    TaskStatus::InProgress,
    TaskStatus::InReview,
    TaskStatus::Done,
    TaskStatus::Waiting,
    TaskStatus::Failed,
    TaskStatus::Cancelled,
];

/// Where the next page of a column starts.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Cursor {
    /// Position of the last card shown.
    pub position: f64,
    /// Id of the last card shown.
    pub id: TaskId,
}

/// One column.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Column {
    /// Which column.
    pub status: TaskStatus,
    /// How many tasks it holds.
    pub total: i64,
    /// Its first cards, in board order.
    pub tasks: Vec<Task>,
    /// Where to continue (`GET /api/projects/{id}/tasks?status=…&after_position=…&after_id=…`)
    /// when there are more.
    pub next: Option<Cursor>,
}

/// A board.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Board {
    /// The project.
    pub project: Project,
    /// All columns, in board order.
    pub columns: Vec<Column>,
}

/// Board query.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct BoardQuery {
    /// Cards per column (default 50, at most 500).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<usize>,
}

/// Serialized boards by (project, limit), with a generation per project so a snapshot built
/// from data older than the last change is never kept.
#[derive(Debug, Default)]
pub struct BoardCache {
    inner: Arc<Mutex<CacheInner>>,
}

/// A serialized board, plain and gzip-compressed (compressed once, sent many times).
#[derive(Debug, Clone)]
struct Snapshot {
    json: Bytes,
    gzip: Bytes,
}

impl Snapshot {
    fn new(json: Vec<u8>) -> Self {
        use std::io::Write as _;
        let mut encoder =
            flate2::write::GzEncoder::new(Vec::with_capacity(json.len() / 8), flate2::Compression::fast());
        let gzip = encoder.write_all(&json).and_then(|()| encoder.finish()).unwrap_or_default();
        Self { json: Bytes::from(json), gzip: Bytes::from(gzip) }
    }
}

#[derive(Debug, Default)]
struct CacheInner {
    boards: HashMap<(ProjectId, usize), Snapshot>,
    generation: HashMap<ProjectId, u64>,
    epoch: u64,
}

impl BoardCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, CacheInner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn lookup(&self, project: ProjectId, limit: usize) -> Result<Snapshot, (u64, u64)> {
        let c = self.lock();
        match c.boards.get(&(project, limit)) {
            Some(b) => Ok(b.clone()),
            None => Err((c.epoch, c.generation.get(&project).copied().unwrap_or(0))),
        }
    }

    fn store(&self, project: ProjectId, limit: usize, seen: (u64, u64), snapshot: Snapshot) {
        let mut c = self.lock();
        if (c.epoch, c.generation.get(&project).copied().unwrap_or(0)) == seen {
            c.boards.insert((project, limit), snapshot);
        }
    }

    /// Forgets a project's snapshots.
    pub fn invalidate(&self, project: ProjectId) {
        let mut c = self.lock();
        c.boards.retain(|(p, _), _| *p != project);
        *c.generation.entry(project).or_default() += 1;
    }

    /// Forgets every snapshot.
    pub fn clear(&self) {
        let mut c = self.lock();
        c.boards.clear();
        c.epoch += 1;
    }

    /// Keeps the cache in step with the bus until the bus is dropped.
    pub fn watch(&self, bus: Arc<Bus>) {
        let cache = BoardCache { inner: self.inner.clone() };
        let mut rx = bus.subscribe_board();
        tokio::spawn(async move {
            loop {
                match rx.recv().await {
                    Ok(BoardEvent::TaskUpdated { task }) => cache.invalidate(task.project_id),
                    Ok(BoardEvent::TaskDeleted { project_id, .. }) => cache.invalidate(project_id),
                    Ok(BoardEvent::ProjectUpdated { project }) => cache.invalidate(project.id),
                    Ok(BoardEvent::ProjectDeleted { project_id }) => cache.invalidate(project_id),
                    Ok(_) => {}
                    Err(RecvError::Lagged(_)) => cache.clear(),
                    Err(RecvError::Closed) => break,
                }
            }
        });
    }
}

/// The board of a project.
#[utoipa::path(get, path = "/api/projects/{id}/board", tag = "tasks",
    params(("id" = ProjectId, Path, description = "The project's id"), BoardQuery),
    responses((status = 200, body = Board), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn get(
    State(app): State<AppState>,
    actor: Actor,
    ApiPath(id): ApiPath<ProjectId>,
    ApiQuery(query): ApiQuery<BoardQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let limit = query.limit.unwrap_or(DEFAULT_COLUMN_LIMIT);
    if limit == 0 || limit > MAX_TASK_PAGE {
        return Err(ApiError::invalid("limit", format!("between 1 and {MAX_TASK_PAGE}")));
    }
    // Callers who see every project need no check here: a snapshot exists only for a
    // project that exists. Everyone else is checked against the project's members.
    if actor.scope() != taskyard_core::model::Scope::All {
        actor.project(&app, id).await?;
    }
    let snapshot = match app.boards().lookup(id, limit) {
        Ok(snapshot) => snapshot,
        Err(seen) => {
            let board = build(app.store(), id, limit).await?;
            let snapshot = Snapshot::new(serde_json::to_vec(&board).map_err(ApiError::internal)?);
            app.boards().store(id, limit, seen, snapshot.clone());
            snapshot
        }
    };
    let gzip = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|e| e.trim().starts_with("gzip")))
        && !snapshot.gzip.is_empty();
    let vary = (header::VARY, "accept-encoding");
    let json = (header::CONTENT_TYPE, "application/json");
    Ok(if gzip {
        ([json, vary, (header::CONTENT_ENCODING, "gzip")], snapshot.gzip).into_response()
    } else {
        ([json, vary], snapshot.json).into_response()
    })
}

async fn build<S: Store>(store: &S, id: ProjectId, limit: usize) -> Result<Board, ApiError> {
    let project = store.get_project(id).await?;
    let counts: HashMap<TaskStatus, i64> = store.count_tasks_by_status(id).await?.into_iter().collect();
    let mut columns = Vec::with_capacity(COLUMNS.len());
    for status in COLUMNS {
        let total = counts.get(&status).copied().unwrap_or(0);
        let tasks = if total > 0 { store.list_column(id, status, None, limit).await? } else { Vec::new() };
        let next = (total > tasks.len() as i64)
            .then(|| tasks.last().map(|t| Cursor { position: t.position, id: t.id }))
            .flatten();
        columns.push(Column { status, total, tasks, next });
    }
    Ok(Board { project, columns })
}

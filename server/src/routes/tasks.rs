//! Tasks: create, read, change (including moves on the board), delete; start runs and send
//! follow-ups.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Deserializer};
use taskyard_core::agent;
use taskyard_core::events::BoardEvent;
use taskyard_core::git;
use taskyard_core::model::{NewTask, ProjectId, Run, Task, TaskId, TaskPatch, TaskPhase, TaskStatus};
use taskyard_core::store::{MAX_TASK_PAGE, Store};

use crate::http::AppState;
use crate::http::access::Actor;
use crate::http::error::{ApiError, ApiJson, ApiPath, ApiQuery, ErrorBody};

/// Longest title accepted.
pub const MAX_TITLE: usize = 200;
/// Longest description accepted.
pub const MAX_DESCRIPTION: usize = 100_000;

/// A new task.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTask {
    /// Short title (1–200 characters).
    #[schema(max_length = 200, pattern = r"\S")]
    pub title: String,
    /// What the agent is asked to do.
    #[serde(default)]
    #[schema(max_length = 100_000)]
    pub description: String,
    /// The agent adapter (default `command`).
    #[serde(default)]
    pub agent: Option<String>,
    /// The adapter's settings, e.g. `{"command": "make test"}` for `command`.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub agent_config: Option<serde_json::Value>,
}

/// Changes to a task; absent fields stay as they are.
#[derive(Debug, Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTask {
    /// New title.
    #[serde(default)]
    #[schema(max_length = 200, pattern = r"\S")]
    pub title: Option<String>,
    /// New description.
    #[serde(default)]
    #[schema(max_length = 100_000)]
    pub description: Option<String>,
    /// New column.
    #[serde(default)]
    pub status: Option<TaskStatus>,
    /// New phase; `null` clears it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<TaskPhase>)]
    pub phase: Option<Option<TaskPhase>>,
    /// New position within the column (smaller is higher).
    #[serde(default)]
    pub position: Option<f64>,
    /// New agent adapter.
    #[serde(default)]
    pub agent: Option<String>,
    /// New adapter settings.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub agent_config: Option<serde_json::Value>,
}

/// Tells a field that is present (even as `null`) from one that is absent.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// A follow-up message.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FollowUp {
    /// What to tell the agent next.
    #[schema(max_length = 100_000)]
    pub message: String,
}

/// A page of a column.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only this column (required for paging).
    pub status: Option<TaskStatus>,
    /// Continue after this position…
    pub after_position: Option<f64>,
    /// …and this id (both from a column's `next`).
    pub after_id: Option<TaskId>,
    /// At most this many (default 100, at most 500).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<usize>,
}

fn check_title(title: &str) -> Result<String, ApiError> {
    let title = title.trim();
    if title.is_empty() {
        return Err(ApiError::invalid("title", "a task needs a title"));
    }
    if title.chars().count() > MAX_TITLE {
        return Err(ApiError::invalid("title", format!("at most {MAX_TITLE} characters")));
    }
    Ok(title.to_owned())
}

fn check_description(description: &str) -> Result<(), ApiError> {
    if description.chars().count() > MAX_DESCRIPTION {
        return Err(ApiError::invalid("description", format!("at most {MAX_DESCRIPTION} characters")));
    }
    Ok(())
}

fn check_agent(name: &str, config: &serde_json::Value) -> Result<String, ApiError> {
    let adapter = agent::adapter(name)?;
    adapter.validate(config)?;
    Ok(config.to_string())
}

/// A project's tasks: one column page with `status`, else all of them in board order.
#[utoipa::path(get, path = "/api/projects/{id}/tasks", tag = "tasks",
    params(("id" = ProjectId, Path, description = "The project's id"), ListQuery),
    responses((status = 200, body = Vec<Task>), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn list(
    State(app): State<AppState>,
    actor: Actor,
    ApiPath(id): ApiPath<ProjectId>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Vec<Task>>, ApiError> {
    actor.project(&app, id).await?;
    let limit = q.limit.unwrap_or(100);
    if limit == 0 || limit > MAX_TASK_PAGE {
        return Err(ApiError::invalid("limit", format!("between 1 and {MAX_TASK_PAGE}")));
    }
    match q.status {
        Some(status) => {
            let after = match (q.after_position, q.after_id) {
                (Some(p), Some(i)) => Some((p, i)),
                (None, None) => None,
                _ => return Err(ApiError::invalid("after_id", "give after_position and after_id together")),
            };
            Ok(Json(app.store().list_column(id, status, after, limit).await?))
        }
        None => Ok(Json(app.store().list_tasks(id).await?)),
    }
}

/// Create a task in the backlog.
///
/// On a team server members may use only the agents the
/// admins allow them (403 otherwise).
#[utoipa::path(post, path = "/api/projects/{id}/tasks", tag = "tasks",
    params(("id" = ProjectId, Path, description = "The project's id")),
    request_body = CreateTask,
    responses((status = 201, body = Task), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(
    State(app): State<AppState>,
    actor: Actor,
    ApiPath(project_id): ApiPath<ProjectId>,
    ApiJson(body): ApiJson<CreateTask>,
) -> Result<(StatusCode, Json<Task>), ApiError> {
    actor.project(&app, project_id).await?;
    let title = check_title(&body.title)?;
    check_description(&body.description)?;
    let agent = body.agent.unwrap_or_else(|| agent::command::NAME.to_owned());
    crate::routes::security::check_agent(&app, &actor, &agent).await?;
    let config = body.agent_config.unwrap_or_else(|| serde_json::json!({}));
    let agent_config = if config.as_object().is_some_and(|o| o.is_empty()) {
        // An empty config is allowed while drafting; starting the task validates it.
        agent::adapter(&agent)?;
        config.to_string()
    } else {
        check_agent(&agent, &config)?
    };
    let task = app
        .store()
        .create_task(NewTask { project_id, title, description: body.description, agent, agent_config })
        .await?;
    app.bus().publish_board(BoardEvent::TaskUpdated { task: task.clone() });
    Ok((StatusCode::CREATED, Json(task)))
}

/// One task.
#[utoipa::path(get, path = "/api/tasks/{id}", tag = "tasks",
    params(("id" = TaskId, Path, description = "The task's id")),
    responses((status = 200, body = Task), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(app): State<AppState>,
    actor: Actor,
    ApiPath(id): ApiPath<TaskId>,
) -> Result<Json<Task>, ApiError> {
    Ok(Json(actor.task(&app, id).await?))
}

/// Change a task: edit it, or move it on the board (status and position).
#[utoipa::path(patch, path = "/api/tasks/{id}", tag = "tasks",
    params(("id" = TaskId, Path, description = "The task's id")),
    request_body = UpdateTask,
    responses((status = 200, body = Task), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update(
    State(app): State<AppState>,
    actor: Actor,
    ApiPath(id): ApiPath<TaskId>,
    ApiJson(body): ApiJson<UpdateTask>,
) -> Result<Json<Task>, ApiError> {
    let current = actor.task(&app, id).await?;
    let title = body.title.as_deref().map(check_title).transpose()?;
    if let Some(d) = &body.description {
        check_description(d)?;
    }
    if let Some(p) = body.position
        && !p.is_finite()
    {
        return Err(ApiError::invalid("position", "must be a finite number"));
    }
    if let Some(agent) = &body.agent {
        crate::routes::security::check_agent(&app, &actor, agent).await?;
    }
    let agent_config = match (&body.agent, &body.agent_config) {
        (None, None) => None,
        (agent, config) => {
            let name = agent.clone().unwrap_or_else(|| current.agent.clone());
            let config = match config {
                Some(c) => c.clone(),
                None => serde_json::from_str(&current.agent_config).unwrap_or_default(),
            };
            Some(check_agent(&name, &config)?)
        }
    };
    let patch = TaskPatch {
        title,
        description: body.description,
        status: body.status,
        phase: body.phase,
        position: body.position,
        agent: body.agent,
        agent_config,
        branch: None,
    };
    let task = app.store().update_task(id, patch).await?;
    app.bus().publish_board(BoardEvent::TaskUpdated { task: task.clone() });
    Ok(Json(task))
}

/// Delete a task with its runs and logs, and remove its worktree (its branch stays).
#[utoipa::path(delete, path = "/api/tasks/{id}", tag = "tasks",
    params(("id" = TaskId, Path, description = "The task's id")),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn delete(
    State(app): State<AppState>,
    actor: Actor,
    ApiPath(id): ApiPath<TaskId>,
) -> Result<StatusCode, ApiError> {
    let task = actor.task(&app, id).await?;
    if app.runner().is_task_active(id) {
        return Err(ApiError::conflict("the task has a run in progress; stop it first"));
    }
    let project = app.store().get_project(task.project_id).await?;
    app.store().delete_task(id).await?;
    let worktree = app.runner().worktree_path(id);
    if worktree.exists() {
        let repo = project.repo_path();
        tokio::task::spawn_blocking(move || {
            if git::remove_worktree(&repo, &worktree).is_err() {
                let _ = std::fs::remove_dir_all(&worktree);
            }
        })
        .await
        .map_err(ApiError::internal)?;
    }
    app.bus().publish_board(BoardEvent::TaskDeleted { project_id: task.project_id, task_id: id });
    Ok(StatusCode::NO_CONTENT)
}

/// A task's runs, first attempt first.
#[utoipa::path(get, path = "/api/tasks/{id}/runs", tag = "runs",
    params(("id" = TaskId, Path, description = "The task's id")),
    responses((status = 200, body = Vec<Run>), (status = 404, body = ErrorBody)))]
pub async fn runs(
    State(app): State<AppState>,
    actor: Actor,
    ApiPath(id): ApiPath<TaskId>,
) -> Result<Json<Vec<Run>>, ApiError> {
    actor.task(&app, id).await?;
    let mut runs = app.store().list_runs(id).await?;
    if let Some(last) = runs.pop() {
        runs.push(super::runs::with_position(&app, last).await?);
    }
    Ok(Json(runs))
}

/// Start the task: a new run with the task's description as the prompt.
///
/// A member gets 403 when the task's agent is not one members may use.
#[utoipa::path(post, path = "/api/tasks/{id}/runs", tag = "runs",
    params(("id" = TaskId, Path, description = "The task's id")),
    responses((status = 201, body = Run), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 503, description = "Runs must be confined on this server and cannot be", body = ErrorBody)))]
pub async fn start(
    State(app): State<AppState>,
    actor: Actor,
    ApiPath(id): ApiPath<TaskId>,
) -> Result<(StatusCode, Json<Run>), ApiError> {
    let task = actor.task(&app, id).await?;
    crate::routes::security::check_agent(&app, &actor, &task.agent).await?;
    let by = actor.user().map(|u| u.id);
    Ok((StatusCode::CREATED, Json(app.runner().start_by(id, by).await?)))
}

/// Continue the task with a message: a new run in the same worktree, resuming the agent's
/// session where the agent supports it.
#[utoipa::path(post, path = "/api/tasks/{id}/follow-ups", tag = "runs",
    params(("id" = TaskId, Path, description = "The task's id")),
    request_body = FollowUp,
    responses((status = 201, body = Run), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 503, description = "Runs must be confined on this server and cannot be", body = ErrorBody)))]
pub async fn follow_up(
    State(app): State<AppState>,
    actor: Actor,
    ApiPath(id): ApiPath<TaskId>,
    ApiJson(body): ApiJson<FollowUp>,
) -> Result<(StatusCode, Json<Run>), ApiError> {
    let task = actor.task(&app, id).await?;
    crate::routes::security::check_agent(&app, &actor, &task.agent).await?;
    if body.message.chars().count() > MAX_DESCRIPTION {
        return Err(ApiError::invalid("message", format!("at most {MAX_DESCRIPTION} characters")));
    }
    let by = actor.user().map(|u| u.id);
    Ok((StatusCode::CREATED, Json(app.runner().follow_up_by(id, body.message, by).await?)))
}

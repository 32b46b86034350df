//! Projects: add a local repository, clone a URL (progress on the board socket), list, pull,
//! delete.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use taskyard_core::events::BoardEvent;
use taskyard_core::git::{CloneProgress, PullOutcome};
use taskyard_core::model::{Project, ProjectId, UserId};
use taskyard_core::outbound::{self, OutboundError, Slots};
use taskyard_core::projects as core_projects;
use taskyard_core::security::SecuritySettings;
use taskyard_core::store::Store;
use uuid::Uuid;

use crate::http::AppState;
use crate::http::access::{Actor, ClientIp};
use crate::http::audit::Audit;
use crate::http::error::{ApiError, ApiJson, ApiPath, ErrorBody};
use crate::routes::security;

/// Add a local repository.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateProject {
    /// The repository's root folder on the server's machine.
    #[schema(max_length = 4096, pattern = r"^\s*/[^\x00]*$")]
    pub path: String,
    /// Display name (default: the folder name).
    #[serde(default)]
    pub name: Option<String>,
}

/// Clone a repository.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloneProject {
    /// `https://` (or `http://`) URL.
    pub url: String,
    /// Access token for a private repository; used for this clone only, never stored.
    #[serde(default)]
    pub token: Option<String>,
    /// Display name (default: the repository name).
    #[serde(default)]
    pub name: Option<String>,
}

impl std::fmt::Debug for CloneProject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CloneProject")
            .field("url", &self.url)
            .field("token", &self.token.as_ref().map(|_| "***"))
            .finish()
    }
}

/// Where a clone stands.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CloneStatus {
    /// Its id (also in the board socket's clone events).
    pub clone_id: Uuid,
    /// `running`, `done` or `failed`.
    pub state: &'static str,
    /// Objects and bytes so far.
    pub progress: CloneProgress,
    /// The project, once done.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub project: Option<Project>,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Pull options.
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PullProject {
    /// Access token for a private repository; never stored.
    #[serde(default)]
    pub token: Option<String>,
}

impl std::fmt::Debug for PullProject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PullProject").field("token", &self.token.as_ref().map(|_| "***")).finish()
    }
}

/// Clones in progress and recently finished, for clients that missed the socket events, with
/// who started each (only they see it); and the slots of running clones, pulls and pushes.
#[derive(Debug, Default)]
pub struct Clones {
    map: Mutex<HashMap<Uuid, CloneStatus>>,
    owners: Mutex<HashMap<Uuid, Option<UserId>>>,
    slots: std::sync::Arc<Slots>,
}

impl Clones {
    /// The outbound operations running on this server, per user and in total.
    pub fn slots(&self) -> &std::sync::Arc<Slots> {
        &self.slots
    }

    fn start(&self, id: Uuid, owner: Option<UserId>) {
        let mut owners = self.owners.lock().unwrap_or_else(PoisonError::into_inner);
        if owners.len() > 1024 {
            owners.clear();
        }
        owners.insert(id, owner);
    }

    /// Whether `actor` may follow the clone `id`: whoever started it, and admins (local
    /// mode's owner started them all).
    pub fn visible_to(&self, id: Uuid, actor: &Actor) -> bool {
        let owners = self.owners.lock().unwrap_or_else(PoisonError::into_inner);
        match (owners.get(&id), actor.user()) {
            (Some(_), None) => true,
            (Some(_), Some(_)) if actor.scope() == taskyard_core::model::Scope::All => true,
            (Some(owner), Some(user)) => *owner == Some(user.id),
            (None, _) => false,
        }
    }

    fn set(&self, status: CloneStatus) {
        let mut map = self.map.lock().unwrap_or_else(PoisonError::into_inner);
        // Finished clones are only worth keeping for a while; keep the map small.
        if map.len() > 256 {
            map.retain(|_, s| s.state == "running");
        }
        map.insert(status.clone_id, status);
    }

    fn get(&self, id: Uuid) -> Option<CloneStatus> {
        self.map.lock().unwrap_or_else(PoisonError::into_inner).get(&id).cloned()
    }
}

/// All projects.
#[utoipa::path(get, path = "/api/projects", tag = "projects", responses((status = 200, body = Vec<Project>)))]
pub async fn list(State(app): State<AppState>, actor: Actor) -> Result<Json<Vec<Project>>, ApiError> {
    Ok(Json(app.store().list_projects(actor.scope()).await?))
}

/// Add a local git repository (its root folder).
///
/// On a team server this is for admins, and for members under the folder the admins set as `project_root`; members are told the same
/// for a path that is missing, not a repository or not allowed.
#[utoipa::path(post, path = "/api/projects", tag = "projects", request_body = CreateProject,
    responses((status = 201, body = Project), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create(
    State(app): State<AppState>,
    actor: Actor,
    ApiJson(body): ApiJson<CreateProject>,
) -> Result<(StatusCode, Json<Project>), ApiError> {
    let path = check_path(&body.path)?;
    let owner = actor.user().map(|u| u.id);
    let project = if security::is_member(&actor) {
        let settings = SecuritySettings::load(app.store()).await;
        let Some(root) = settings.project_root.clone() else {
            return Err(ApiError::forbidden(
                "adding a repository from a folder of the server is for admins: clone it from its URL instead",
            ));
        };
        let refused = || {
            ApiError::invalid(
                "path",
                format!(
                    "there is no repository you may add at this path: members may add repositories under {root}"
                ),
            )
        };
        let checked = tokio::task::spawn_blocking(move || settings.member_project_path(&path))
            .await
            .map_err(ApiError::internal)?
            .ok_or_else(refused)?;
        match core_projects::add_local(app.store(), &checked, body.name, owner).await {
            Err(taskyard_core::runner::RunError::Git(e)) => {
                tracing::info!(error = %e, "a member's project path was refused");
                return Err(refused());
            }
            other => other?,
        }
    } else {
        core_projects::add_local(app.store(), &path, body.name, owner).await?
    };
    app.bus().publish_board(BoardEvent::ProjectUpdated { project: project.clone() });
    Ok((StatusCode::CREATED, Json(project)))
}

/// Longest project path accepted, in bytes (Linux's `PATH_MAX`).
pub const MAX_PATH: usize = 4096;
/// Longest component of a project path, in bytes (Linux's `NAME_MAX`).
pub const MAX_PATH_COMPONENT: usize = 255;

/// A project's folder as given: absolute, and one the file system could hold. The refusal is
/// logged as one short line (the request's span gives its id), never quoting the path.
fn check_path(path: &str) -> Result<std::path::PathBuf, ApiError> {
    let path = path.trim();
    let refuse = |why: &'static str| {
        tracing::info!(bytes = path.len(), why, "refused a project path");
        Err(ApiError::invalid("path", why))
    };
    if path.is_empty() {
        return refuse("give the repository's folder");
    }
    if path.contains('\0') {
        return refuse("a path cannot hold a NUL byte");
    }
    if path.len() > MAX_PATH {
        return refuse("the path is longer than 4096 bytes");
    }
    if path.split('/').any(|c| c.len() > MAX_PATH_COMPONENT) {
        return refuse("a part of the path is longer than 255 bytes");
    }
    let path = std::path::PathBuf::from(path);
    if !path.is_absolute() {
        return refuse("give an absolute path (it is read on the server's machine)");
    }
    Ok(path)
}

/// Start cloning a repository; progress and the outcome arrive on `/api/events` and at
/// `/api/clones/{clone_id}`.
///
/// The host must resolve to public addresses on a team server
/// (or be allowed by the admins); a user runs at most a few clones, pulls and pushes at once
/// (429 beyond).
#[utoipa::path(post, path = "/api/projects/clone", tag = "projects", request_body = CloneProject,
    responses((status = 202, body = CloneStatus), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody)))]
pub async fn clone(
    State(app): State<AppState>,
    actor: Actor,
    ApiJson(body): ApiJson<CloneProject>,
) -> Result<(StatusCode, Json<CloneStatus>), ApiError> {
    taskyard_core::git::validate_remote_url(&body.url)?;
    let settings = SecuritySettings::load(app.store()).await;
    let policy = security::policy(&app, &settings);
    let slot = security::slot(&app, &actor, &settings)?;
    let (url, vet_policy) = (body.url.clone(), policy.clone());
    // Resolving may take a while; the slot bounds how many threads wait on it.
    let target = tokio::task::spawn_blocking(move || outbound::vet(&url, &vet_policy))
        .await
        .map_err(ApiError::internal)?
        .map_err(|e| {
            let member = security::is_member(&actor);
            tracing::info!(error = %e, member, "a clone's host was refused");
            match e {
                OutboundError::Invalid(reason) => ApiError::invalid("url", reason),
                _ if member => ApiError::invalid("url", security::NOT_CONNECTED),
                OutboundError::Forbidden { .. } => ApiError::invalid("url", e.to_string()),
                OutboundError::Unresolved { .. } => ApiError::bad_gateway(e.to_string()),
            }
        })?;
    let clone_id = Uuid::now_v7();
    let owner = actor.user().map(|u| u.id);
    app.clones().start(clone_id, owner);
    let started = CloneStatus {
        clone_id,
        state: "running",
        progress: CloneProgress::default(),
        project: None,
        error: None,
    };
    app.clones().set(started.clone());
    let dest = core_projects::clone_destination(app.data_dir(), &body.url);
    let task_app = app.clone();
    tokio::spawn(async move {
        let _slot = slot;
        let app = task_app;
        let progress_app = app.clone();
        let mut last = Instant::now() - Duration::from_secs(1);
        let on_progress = move |p: &CloneProgress| {
            // A few updates a second are plenty for a progress bar.
            if last.elapsed() >= Duration::from_millis(150) || p.received_objects == p.total_objects {
                last = Instant::now();
                progress_app.clones().set(CloneStatus {
                    clone_id,
                    state: "running",
                    progress: *p,
                    project: None,
                    error: None,
                });
                progress_app.bus().publish_board(BoardEvent::CloneProgress { clone_id, progress: *p });
            }
            !*progress_app.shutdown().borrow()
        };
        let result = core_projects::clone_remote(
            app.store(),
            target,
            dest,
            body.token,
            body.name,
            owner,
            policy,
            app.runner().config().default_branch.clone(),
            on_progress,
        )
        .await;
        let progress = app.clones().get(clone_id).map(|s| s.progress).unwrap_or_default();
        let status = match result {
            Ok(project) => {
                app.bus().publish_board(BoardEvent::ProjectUpdated { project: project.clone() });
                CloneStatus { clone_id, state: "done", progress, project: Some(project), error: None }
            }
            Err(e) => {
                let error = security::remote_error_text(&actor, "clone", &e);
                CloneStatus { clone_id, state: "failed", progress, project: None, error: Some(error) }
            }
        };
        app.bus().publish_board(BoardEvent::CloneFinished {
            clone_id,
            project: status.project.clone(),
            error: status.error.clone(),
        });
        app.clones().set(status);
    });
    Ok((StatusCode::ACCEPTED, Json(started)))
}

/// Where a clone stands.
#[utoipa::path(get, path = "/api/clones/{clone_id}", tag = "projects",
    params(("clone_id" = Uuid, Path, description = "The clone's id")),
    responses((status = 200, body = CloneStatus), (status = 404, body = ErrorBody)))]
pub async fn clone_status(
    State(app): State<AppState>,
    actor: Actor,
    ApiPath(clone_id): ApiPath<Uuid>,
) -> Result<Json<CloneStatus>, ApiError> {
    app.clones()
        .get(clone_id)
        .filter(|_| app.clones().visible_to(clone_id, &actor))
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("clone {clone_id} not found")))
}

/// One project.
#[utoipa::path(get, path = "/api/projects/{id}", tag = "projects",
    params(("id" = ProjectId, Path, description = "The project's id")),
    responses((status = 200, body = Project), (status = 404, body = ErrorBody)))]
pub async fn get(
    State(app): State<AppState>,
    actor: Actor,
    ApiPath(id): ApiPath<ProjectId>,
) -> Result<Json<Project>, ApiError> {
    Ok(Json(actor.project(&app, id).await?))
}

/// Remove a project with its tasks, runs and logs. The repository folder stays unless
/// Taskyard cloned it.
#[utoipa::path(delete, path = "/api/projects/{id}", tag = "projects",
    params(("id" = ProjectId, Path, description = "The project's id")),
    responses((status = 204), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn delete(
    State(app): State<AppState>,
    actor: Actor,
    ip: ClientIp,
    ApiPath(id): ApiPath<ProjectId>,
) -> Result<StatusCode, ApiError> {
    let project = actor.owned_project(&app, id).await?;
    core_projects::delete(app.runner(), id, app.data_dir()).await?;
    app.bus().publish_board(BoardEvent::ProjectDeleted { project_id: id });
    let target = Some(format!("project {} ({})", project.name, project.id));
    Audit { action: "project_deleted", actor: Some(&actor), actor_text: None, target, details: None, ip }
        .record(&app)
        .await;
    Ok(StatusCode::NO_CONTENT)
}

/// Fast-forward the project's checked-out branch from its origin.
#[utoipa::path(post, path = "/api/projects/{id}/pull", tag = "projects",
    params(("id" = ProjectId, Path, description = "The project's id")),
    request_body(content = Option<PullProject>),
    responses((status = 200, body = PullOutcome), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody), (status = 429, body = ErrorBody), (status = 502, body = ErrorBody)))]
pub async fn pull(
    State(app): State<AppState>,
    actor: Actor,
    ApiPath(id): ApiPath<ProjectId>,
    body: Option<ApiJson<PullProject>>,
) -> Result<Json<PullOutcome>, ApiError> {
    actor.project(&app, id).await?;
    let token = body.and_then(|ApiJson(b)| b.token);
    let settings = SecuritySettings::load(app.store()).await;
    let _slot = security::slot(&app, &actor, &settings)?;
    let policy = security::policy(&app, &settings);
    match core_projects::pull(app.store(), id, token, policy).await {
        Ok(outcome) => Ok(Json(outcome)),
        Err(e) => Err(security::remote_error(&actor, "pull", e)),
    }
}

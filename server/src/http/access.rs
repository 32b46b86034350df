//! Who is calling, and what they may touch. Handlers reach projects, tasks and runs only
//! through these checks, so a resource of another user is never read or changed: it answers
//! 404 (not 403), which does not even confirm it exists.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use taskyard_core::model::{Project, ProjectId, ProjectRole, Role, Run, RunId, Scope, Task, TaskId, UserId};
use taskyard_core::store::Store;
use uuid::Uuid;

use super::AppState;
use super::error::ApiError;

/// A signed-in user of a team server.
#[derive(Debug, Clone)]
pub struct CurrentUser {
    /// Their id.
    pub id: UserId,
    /// Their address.
    pub email: String,
    /// Their role (as stored now, not as in the token).
    pub role: Role,
    /// Their session (refresh-token family).
    pub session: Uuid,
}

/// The caller of a request.
#[derive(Debug, Clone)]
pub enum Actor {
    /// Local mode's one user, who owns everything.
    Owner,
    /// A team server's user.
    User(CurrentUser),
}

impl<S: Send + Sync> FromRequestParts<S> for Actor {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Actor>().cloned().ok_or_else(|| ApiError::unauthorized("sign in first"))
    }
}

/// The client's address: the socket peer, or what a trusted proxy forwarded (worked out
/// once per request by the team middleware, [`super::proxies`]).
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        if let Some(client) = parts.extensions.get::<super::proxies::Client>() {
            return Ok(ClientIp(client.ip));
        }
        Ok(ClientIp(parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip())))
    }
}

impl ClientIp {
    /// As text for the audit log.
    pub fn text(&self) -> Option<String> {
        self.0.map(|ip| ip.to_string())
    }
}

impl Actor {
    /// Which projects it may list.
    pub fn scope(&self) -> Scope {
        match self {
            Actor::Owner => Scope::All,
            Actor::User(u) if u.role == Role::Admin => Scope::All,
            Actor::User(u) => Scope::Member(u.id),
        }
    }

    /// The user, in team mode.
    pub fn user(&self) -> Option<&CurrentUser> {
        match self {
            Actor::Owner => None,
            Actor::User(u) => Some(u),
        }
    }

    /// Admins only (there are none in local mode: the admin console is a team feature).
    pub fn admin(&self) -> Result<&CurrentUser, ApiError> {
        match self {
            Actor::User(u) if u.role == Role::Admin => Ok(u),
            Actor::User(_) => Err(ApiError::forbidden("only admins can do this")),
            Actor::Owner => Err(ApiError::not_found("there are no users to administer in local mode")),
        }
    }

    /// Who may change server-wide settings: the owner in local mode, admins in team mode.
    pub fn server_admin(&self) -> Result<(), ApiError> {
        match self {
            Actor::Owner => Ok(()),
            Actor::User(_) => self.admin().map(|_| ()),
        }
    }

    /// The caller's role in a project; `None` when it may not see it.
    async fn role_in(&self, app: &AppState, project: ProjectId) -> Result<Option<ProjectRole>, ApiError> {
        Ok(match self {
            Actor::Owner => Some(ProjectRole::Owner),
            Actor::User(u) if u.role == Role::Admin => Some(ProjectRole::Owner),
            Actor::User(u) => app.store().project_role(project, u.id).await?,
        })
    }

    /// A project the caller may see.
    pub async fn project(&self, app: &AppState, id: ProjectId) -> Result<Project, ApiError> {
        let project = app.store().get_project(id).await?;
        match self.role_in(app, id).await? {
            Some(_) => Ok(project),
            None => Err(not_found("project", id)),
        }
    }

    /// A project the caller owns (or administers): for deleting it and managing members.
    pub async fn owned_project(&self, app: &AppState, id: ProjectId) -> Result<Project, ApiError> {
        let project = app.store().get_project(id).await?;
        match self.role_in(app, id).await? {
            Some(ProjectRole::Owner) => Ok(project),
            Some(ProjectRole::Member) => Err(ApiError::forbidden("only the project's owners can do this")),
            None => Err(not_found("project", id)),
        }
    }

    /// A task the caller may see (through its project).
    pub async fn task(&self, app: &AppState, id: TaskId) -> Result<Task, ApiError> {
        let task = app.store().get_task(id).await?;
        match self.role_in(app, task.project_id).await? {
            Some(_) => Ok(task),
            None => Err(not_found("task", id)),
        }
    }

    /// A run the caller may see (through its task's project).
    pub async fn run(&self, app: &AppState, id: RunId) -> Result<Run, ApiError> {
        let run = app.store().get_run(id).await?;
        let task = app.store().get_task(run.task_id).await?;
        match self.role_in(app, task.project_id).await? {
            Some(_) => Ok(run),
            None => Err(not_found("run", id)),
        }
    }

    /// Whether the caller may see a project (for filtering socket events).
    pub async fn sees_project(&self, app: &AppState, id: ProjectId) -> bool {
        matches!(self.role_in(app, id).await, Ok(Some(_)))
    }
}

fn not_found(entity: &str, id: impl std::fmt::Display) -> ApiError {
    ApiError::not_found(format!("{entity} {id} not found"))
}

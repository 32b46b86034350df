//! A project's members: who may see and work on it. Owners (and admins) manage them.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use taskyard_core::model::{Member, ProjectId, ProjectRole, UserId};
use taskyard_core::store::Store;

use super::auth::check_email;
use crate::http::AppState;
use crate::http::access::{Actor, ClientIp};
use crate::http::audit::Audit;
use crate::http::error::{ApiError, ApiJson, ApiPath, ErrorBody};

/// Someone to add.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddMember {
    /// Their sign-in address.
    #[schema(
        max_length = 254,
        pattern = r"^\s*[^\s@\x00-\x1f\x7f-\x9f]{1,64}@[^\s@.\x00-\x1f\x7f-\x9f][^\s@\x00-\x1f\x7f-\x9f]*\.[^\s@\x00-\x1f\x7f-\x9f]*[^\s@.\x00-\x1f\x7f-\x9f]\s*$"
    )]
    pub email: String,
    /// Their role in the project (default member).
    #[serde(default)]
    pub role: Option<ProjectRole>,
}

/// A project's members (empty in local mode).
#[utoipa::path(get, path = "/api/projects/{id}/members", tag = "projects",
    params(("id" = ProjectId, Path, description = "The project's id")),
    responses((status = 200, body = Vec<Member>), (status = 404, body = ErrorBody)))]
pub async fn list(
    State(app): State<AppState>,
    actor: Actor,
    ApiPath(id): ApiPath<ProjectId>,
) -> Result<Json<Vec<Member>>, ApiError> {
    actor.project(&app, id).await?;
    Ok(Json(app.store().list_members(id).await?))
}

/// Add a user to the project (or change their role).
#[utoipa::path(post, path = "/api/projects/{id}/members", tag = "projects", request_body = AddMember,
    params(("id" = ProjectId, Path, description = "The project's id")),
    responses((status = 201, body = Member), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn add(
    State(app): State<AppState>,
    actor: Actor,
    ip: ClientIp,
    ApiPath(id): ApiPath<ProjectId>,
    ApiJson(body): ApiJson<AddMember>,
) -> Result<(StatusCode, Json<Member>), ApiError> {
    let project = actor.owned_project(&app, id).await?;
    if actor.user().is_none() {
        return Err(ApiError::not_found("local mode has no other users"));
    }
    let email = check_email(&body.email)?;
    let Some(user) = app.store().find_user_by_email(&email).await? else {
        return Err(ApiError::invalid("email", "no user has this address: invite them first"));
    };
    let role = body.role.unwrap_or(ProjectRole::Member);
    app.store().set_member(id, user.user.id, role).await?;
    let target = Some(format!("project {} ({})", project.name, project.id));
    let details = Some(format!("{} as {role}", user.user.email));
    Audit { action: "member_added", actor: Some(&actor), actor_text: None, target, details, ip }
        .record(&app)
        .await;
    let member = Member { user_id: user.user.id, email: user.user.email, name: user.user.name, role };
    Ok((StatusCode::CREATED, Json(member)))
}

/// Remove a member. The last owner stays.
#[utoipa::path(delete, path = "/api/projects/{id}/members/{user_id}", tag = "projects",
    params(("id" = ProjectId, Path, description = "The project's id"), ("user_id" = UserId, Path, description = "The member's user id")),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn remove(
    State(app): State<AppState>,
    actor: Actor,
    ip: ClientIp,
    ApiPath((id, user_id)): ApiPath<(ProjectId, UserId)>,
) -> Result<StatusCode, ApiError> {
    let project = actor.owned_project(&app, id).await?;
    let members = app.store().list_members(id).await?;
    let Some(member) = members.iter().find(|m| m.user_id == user_id) else {
        return Err(ApiError::not_found("not a member of this project"));
    };
    let owners = members.iter().filter(|m| m.role == ProjectRole::Owner).count();
    if member.role == ProjectRole::Owner && owners <= 1 {
        return Err(ApiError::conflict("the project's last owner cannot be removed"));
    }
    app.store().remove_member(id, user_id).await?;
    let target = Some(format!("project {} ({})", project.name, project.id));
    let details = Some(member.email.clone());
    Audit { action: "member_removed", actor: Some(&actor), actor_text: None, target, details, ip }
        .record(&app)
        .await;
    Ok(StatusCode::NO_CONTENT)
}

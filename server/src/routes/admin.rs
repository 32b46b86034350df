//! The admin console's API: users, invites and the audit log. Every handler starts with
//! `actor.admin()?`, so no admin operation is reachable unchecked.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use taskyard_core::auth;
use taskyard_core::model::{AuditEntry, Invite, InviteId, NewInvite, NewUser, Role, User, UserId, UserPatch};
use taskyard_core::store::Store;

use super::auth::{check_email, check_name, check_password, hash};
use crate::http::AppState;
use crate::http::access::{Actor, ClientIp};
use crate::http::audit::Audit;
use crate::http::error::{ApiError, ApiJson, ApiPath, ApiQuery, ErrorBody};

/// A user created by an admin.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    /// Sign-in address.
    #[schema(
        max_length = 254,
        pattern = r"^\s*[^\s@\x00-\x1f\x7f-\x9f]{1,64}@[^\s@.\x00-\x1f\x7f-\x9f][^\s@\x00-\x1f\x7f-\x9f]*\.[^\s@\x00-\x1f\x7f-\x9f]*[^\s@.\x00-\x1f\x7f-\x9f]\s*$"
    )]
    pub email: String,
    /// Display name.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub name: String,
    /// Initial password (at least 10 characters).
    #[schema(min_length = 10, max_length = 1024)]
    pub password: String,
    /// Role (default member).
    #[serde(default)]
    pub role: Option<Role>,
}

/// Changes to a user.
#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    /// New display name.
    #[serde(default)]
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub name: Option<String>,
    /// New role.
    #[serde(default)]
    pub role: Option<Role>,
    /// Disable (their sessions end) or enable.
    #[serde(default)]
    pub disabled: Option<bool>,
    /// A new password (their sessions end).
    #[serde(default)]
    #[schema(min_length = 10, max_length = 1024)]
    pub password: Option<String>,
}

impl std::fmt::Debug for CreateUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateUser")
            .field("email", &self.email)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

impl std::fmt::Debug for UpdateUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpdateUser")
            .field("role", &self.role)
            .field("disabled", &self.disabled)
            .finish_non_exhaustive()
    }
}

/// A new invite.
#[derive(Debug, Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateInvite {
    /// Only this address may use it (empty: anyone).
    #[serde(default)]
    #[schema(
        max_length = 254,
        pattern = r"^\s*$|^\s*[^\s@\x00-\x1f\x7f-\x9f]{1,64}@[^\s@.\x00-\x1f\x7f-\x9f][^\s@\x00-\x1f\x7f-\x9f]*\.[^\s@\x00-\x1f\x7f-\x9f]*[^\s@.\x00-\x1f\x7f-\x9f]\s*$"
    )]
    pub email: Option<String>,
    /// The new user's role (default member).
    #[serde(default)]
    pub role: Option<Role>,
    /// Hours until it expires (default 72, at most 720).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 720)]
    pub expires_in_hours: Option<u32>,
}

/// An invite as created: the code is shown this once.
#[derive(Serialize, utoipa::ToSchema)]
pub struct CreatedInvite {
    /// The invite.
    pub invite: Invite,
    /// The code to give the person.
    pub code: String,
    /// The path of the registration page with the code (prefix it with the server's address).
    pub link: String,
}

impl std::fmt::Debug for CreatedInvite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedInvite").field("invite", &self.invite).finish_non_exhaustive()
    }
}

/// Audit log paging.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Entries older than this entry id.
    pub before: Option<uuid::Uuid>,
    /// At most this many (default 100, at most 1000).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
}

/// Every user.
#[utoipa::path(get, path = "/api/admin/users", tag = "admin",
    responses((status = 200, body = Vec<User>), (status = 403, body = ErrorBody)))]
pub async fn list_users(State(app): State<AppState>, actor: Actor) -> Result<Json<Vec<User>>, ApiError> {
    actor.admin()?;
    Ok(Json(app.store().list_users().await?))
}

/// Create a user.
#[utoipa::path(post, path = "/api/admin/users", tag = "admin", request_body = CreateUser,
    responses((status = 201, body = User), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_user(
    State(app): State<AppState>,
    actor: Actor,
    ip: ClientIp,
    ApiJson(body): ApiJson<CreateUser>,
) -> Result<(StatusCode, Json<User>), ApiError> {
    actor.admin()?;
    let email = check_email(&body.email)?;
    let name = check_name(&body.name)?;
    check_password(&body.password)?;
    let role = body.role.unwrap_or(Role::Member);
    let password_hash = hash(&app, body.password).await?;
    let user = app.store().create_user(NewUser { email, name, password_hash, role }).await?;
    let target = Some(format!("user {}", user.email));
    Audit {
        action: "user_created",
        actor: Some(&actor),
        actor_text: None,
        target,
        details: Some(format!("role {role}")),
        ip,
    }
    .record(&app)
    .await;
    Ok((StatusCode::CREATED, Json(user)))
}

/// Whether changing `user` this way would leave the server without an active admin.
async fn last_admin(app: &AppState, user: &User) -> Result<bool, ApiError> {
    if user.role != Role::Admin || user.disabled {
        return Ok(false);
    }
    let admins =
        app.store().list_users().await?.into_iter().filter(|u| u.role == Role::Admin && !u.disabled).count();
    Ok(admins <= 1)
}

/// Change a user: name, role, disabled, or a new password.
#[utoipa::path(patch, path = "/api/admin/users/{id}", tag = "admin", request_body = UpdateUser,
    params(("id" = UserId, Path, description = "The user's id")),
    responses((status = 200, body = User), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_user(
    State(app): State<AppState>,
    actor: Actor,
    ip: ClientIp,
    ApiPath(id): ApiPath<UserId>,
    ApiJson(body): ApiJson<UpdateUser>,
) -> Result<Json<User>, ApiError> {
    actor.admin()?;
    let before = app.store().get_user(id).await?;
    let demotes = body.role.is_some_and(|r| r != Role::Admin) || body.disabled == Some(true);
    if demotes && last_admin(&app, &before).await? {
        return Err(ApiError::conflict("this is the last active admin: make another admin first"));
    }
    let name = body.name.as_deref().map(check_name).transpose()?;
    if let Some(p) = &body.password {
        check_password(p)?;
    }
    let password_hash = match body.password {
        Some(p) => Some(hash(&app, p).await?),
        None => None,
    };
    let reset = password_hash.is_some();
    let patch = UserPatch { name, role: body.role, disabled: body.disabled, password_hash };
    let user = app.store().update_user(id, patch).await?;
    if reset || user.disabled {
        app.store().revoke_user_sessions(id).await?;
    }
    let target = Some(format!("user {}", user.email));
    let mut events = Vec::new();
    if before.role != user.role {
        events.push(("role_changed", format!("{} → {}", before.role, user.role)));
    }
    if before.disabled != user.disabled {
        events.push((if user.disabled { "user_disabled" } else { "user_enabled" }, String::new()));
    }
    if reset {
        events.push(("password_reset", String::new()));
    }
    for (action, details) in events {
        let details = (!details.is_empty()).then_some(details);
        Audit { action, actor: Some(&actor), actor_text: None, target: target.clone(), details, ip }
            .record(&app)
            .await;
    }
    Ok(Json(user))
}

/// Delete a user (their memberships and sessions go too; projects stay).
#[utoipa::path(delete, path = "/api/admin/users/{id}", tag = "admin",
    params(("id" = UserId, Path, description = "The user's id")),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn delete_user(
    State(app): State<AppState>,
    actor: Actor,
    ip: ClientIp,
    ApiPath(id): ApiPath<UserId>,
) -> Result<StatusCode, ApiError> {
    actor.admin()?;
    let user = app.store().get_user(id).await?;
    if last_admin(&app, &user).await? {
        return Err(ApiError::conflict("this is the last active admin: make another admin first"));
    }
    app.store().delete_user(id).await?;
    let target = Some(format!("user {}", user.email));
    Audit { action: "user_deleted", actor: Some(&actor), actor_text: None, target, details: None, ip }
        .record(&app)
        .await;
    Ok(StatusCode::NO_CONTENT)
}

/// Every invite, newest first.
#[utoipa::path(get, path = "/api/admin/invites", tag = "admin",
    responses((status = 200, body = Vec<Invite>), (status = 403, body = ErrorBody)))]
pub async fn list_invites(State(app): State<AppState>, actor: Actor) -> Result<Json<Vec<Invite>>, ApiError> {
    actor.admin()?;
    Ok(Json(app.store().list_invites().await?))
}

/// Create an invite; its code is in the answer only.
#[utoipa::path(post, path = "/api/admin/invites", tag = "admin", request_body = CreateInvite,
    responses((status = 201, body = CreatedInvite), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn create_invite(
    State(app): State<AppState>,
    actor: Actor,
    ip: ClientIp,
    ApiJson(body): ApiJson<CreateInvite>,
) -> Result<(StatusCode, Json<CreatedInvite>), ApiError> {
    let admin = actor.admin()?;
    let email = match body.email.as_deref().map(str::trim).filter(|e| !e.is_empty()) {
        Some(e) => Some(check_email(e)?),
        None => None,
    };
    let hours = body.expires_in_hours.unwrap_or(72);
    if !(1..=720).contains(&hours) {
        return Err(ApiError::invalid("expires_in_hours", "between 1 and 720"));
    }
    let code = auth::random_secret("ty_inv_").map_err(ApiError::internal)?;
    let invite = app
        .store()
        .create_invite(NewInvite {
            code_hash: auth::secret_hash(&code),
            email,
            role: body.role.unwrap_or(Role::Member),
            created_by: admin.id,
            expires_at: chrono::Utc::now() + chrono::Duration::hours(i64::from(hours)),
        })
        .await?;
    let details = Some(format!("role {}, for {}", invite.role, invite.email.as_deref().unwrap_or("anyone")));
    let target = Some(format!("invite {}", invite.id));
    Audit { action: "invite_created", actor: Some(&actor), actor_text: None, target, details, ip }
        .record(&app)
        .await;
    let link = format!("/register?invite={code}");
    Ok((StatusCode::CREATED, Json(CreatedInvite { invite, code, link })))
}

/// Revoke an unused invite.
#[utoipa::path(delete, path = "/api/admin/invites/{id}", tag = "admin",
    params(("id" = InviteId, Path, description = "The invite's id")),
    responses((status = 200, body = Invite), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn revoke_invite(
    State(app): State<AppState>,
    actor: Actor,
    ip: ClientIp,
    ApiPath(id): ApiPath<InviteId>,
) -> Result<Json<Invite>, ApiError> {
    actor.admin()?;
    let invite = app.store().revoke_invite(id).await?;
    let target = Some(format!("invite {id}"));
    Audit { action: "invite_revoked", actor: Some(&actor), actor_text: None, target, details: None, ip }
        .record(&app)
        .await;
    Ok(Json(invite))
}

/// The audit log, newest first.
#[utoipa::path(get, path = "/api/admin/audit", tag = "admin", params(AuditQuery),
    responses((status = 200, body = Vec<AuditEntry>), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn audit(
    State(app): State<AppState>,
    actor: Actor,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Result<Json<Vec<AuditEntry>>, ApiError> {
    actor.admin()?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::invalid("limit", "between 1 and 1000"));
    }
    Ok(Json(app.store().list_audit(q.before, limit).await?))
}

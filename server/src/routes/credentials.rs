//! Credentials: set, replace and delete values at the global (admins), user (oneself) and
//! project (its owners) tiers; values are write-only and shown masked; the effective set of a
//! project shows where each value comes from.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use taskyard_core::credentials::{self, StoredCredential, Tier};
use taskyard_core::model::ProjectId;
use taskyard_core::store::Store;

use crate::http::AppState;
use crate::http::access::{Actor, ClientIp};
use crate::http::audit::Audit;
use crate::http::error::{ApiError, ApiJson, ApiPath, ErrorBody};

/// The setting that lists custom credential names admins allowed.
pub const ALLOWED_SETTING: &str = "allowed_credentials";

/// A stored credential as people see it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CredentialView {
    /// The key (environment variable name).
    pub key: String,
    /// Its tier.
    pub tier: Tier,
    /// The value, masked; `null` when it cannot be decrypted (its key was removed).
    pub masked: Option<String>,
    /// Global values: nobody can override it.
    pub locked: bool,
    /// When it was last set.
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

/// A value to store.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetCredential {
    /// The secret; write-only.
    #[schema(
        min_length = 1,
        max_length = 16384,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub value: String,
    /// Global tier only: lock it so no user or project can override it.
    #[serde(default)]
    pub locked: bool,
}

impl std::fmt::Debug for SetCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SetCredential").field("locked", &self.locked).finish_non_exhaustive()
    }
}

/// One key of a project's effective set.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Effective {
    /// The key.
    pub key: String,
    /// The value a run would get, masked.
    pub masked: String,
    /// Where it comes from.
    pub tier: Tier,
    /// It comes from a locked global value.
    pub locked: bool,
}

/// The names a value may be stored under.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CredentialNames {
    /// Keys Taskyard knows.
    #[serde(default)]
    pub known: Vec<String>,
    /// Custom names admins allowed.
    pub allowed: Vec<String>,
}

fn vault(app: &AppState) -> Result<&credentials::Credentials, ApiError> {
    app.credentials().ok_or_else(|| ApiError::conflict("credentials are not configured on this server"))
}

async fn allowed(app: &AppState) -> Result<Vec<String>, ApiError> {
    Ok(app
        .store()
        .get_setting(ALLOWED_SETTING)
        .await?
        .and_then(|v| serde_json::from_str(&v).ok())
        .unwrap_or_default())
}

fn view(app: &AppState, c: StoredCredential) -> CredentialView {
    let masked = app
        .credentials()
        .and_then(|v| v.vault().decrypt(&c.value).ok())
        .map(|s| credentials::mask(s.expose()));
    CredentialView { key: c.key, tier: c.tier, masked, locked: c.locked, updated_at: c.updated_at }
}

/// Who may manage the global tier: admins, and local mode's owner.
fn global_admin(actor: &Actor) -> Result<(), ApiError> {
    actor.server_admin()
}

async fn check_key(app: &AppState, key: &str) -> Result<(), ApiError> {
    credentials::check_name(key, &allowed(app).await?).map_err(|e| ApiError::invalid("key", e.to_string()))
}

/// Refuses to store a value for a key an admin locked globally.
async fn refuse_locked(app: &AppState, key: &str) -> Result<(), ApiError> {
    let locked = app
        .store()
        .list_credentials(Tier::Global, uuid::Uuid::nil())
        .await?
        .into_iter()
        .any(|c| c.key == key && c.locked);
    if locked {
        return Err(ApiError::conflict(format!("{key} is locked by an admin at the global level")));
    }
    Ok(())
}

async fn put(
    app: &AppState,
    actor: &Actor,
    ip: ClientIp,
    tier: Tier,
    scope: uuid::Uuid,
    key: &str,
    body: SetCredential,
) -> Result<Json<CredentialView>, ApiError> {
    check_key(app, key).await?;
    credentials::check_value(&body.value).map_err(|e| ApiError::invalid("value", e.to_string()))?;
    if tier != Tier::Global {
        refuse_locked(app, key).await?;
        if body.locked {
            return Err(ApiError::invalid("locked", "only global values can be locked"));
        }
    }
    let service = vault(app)?;
    let encrypted = service.vault().encrypt(&body.value);
    let by = actor.user().map(|u| u.id);
    let stored = app.store().put_credential(tier, scope, key, &encrypted, body.locked, by).await?;
    service.reload(app.store()).await?;
    wake_waiting(app, tier, scope).await?;
    let details = Some(format!("{} tier{}", tier.as_str(), if body.locked { ", locked" } else { "" }));
    Audit {
        action: "credential_set",
        actor: Some(actor),
        actor_text: None,
        target: Some(key.to_owned()),
        details,
        ip,
    }
    .record(app)
    .await;
    Ok(Json(view(app, stored)))
}

async fn remove(
    app: &AppState,
    actor: &Actor,
    ip: ClientIp,
    tier: Tier,
    scope: uuid::Uuid,
    key: &str,
) -> Result<StatusCode, ApiError> {
    app.store().delete_credential(tier, scope, key).await?;
    if let Some(service) = app.credentials() {
        service.reload(app.store()).await?;
    }
    // A removed (say, rejected) value can let another tier's value through.
    wake_waiting(app, tier, scope).await?;
    let details = Some(format!("{} tier", tier.as_str()));
    Audit {
        action: "credential_deleted",
        actor: Some(actor),
        actor_text: None,
        target: Some(key.to_owned()),
        details,
        ip,
    }
    .record(app)
    .await;
    Ok(StatusCode::NO_CONTENT)
}

/// Runs waiting for credentials that this change could unblock are retried now.
async fn wake_waiting(app: &AppState, tier: Tier, scope: uuid::Uuid) -> Result<(), ApiError> {
    use taskyard_core::model::{ProjectId, UserId};
    use taskyard_core::store::queue::WakeScope;
    let scope = match tier {
        Tier::Global => WakeScope::All,
        Tier::User => WakeScope::User(UserId(scope)),
        Tier::Project => WakeScope::Project(ProjectId(scope)),
    };
    app.runner().credentials_changed(scope).await?;
    Ok(())
}

fn user_scope(actor: &Actor) -> Result<uuid::Uuid, ApiError> {
    actor.user().map(|u| u.id.0).ok_or_else(|| ApiError::not_found("local mode has only the global tier"))
}

/// The names values may be stored under.
#[utoipa::path(get, path = "/api/credentials/names", tag = "credentials", responses((status = 200, body = CredentialNames)))]
pub async fn names(State(app): State<AppState>, _actor: Actor) -> Result<Json<CredentialNames>, ApiError> {
    let known = credentials::KNOWN_KEYS.iter().map(|k| (*k).to_owned()).collect();
    Ok(Json(CredentialNames { known, allowed: allowed(&app).await? }))
}

/// Allow custom credential names (admins).
#[utoipa::path(put, path = "/api/credentials/names", tag = "credentials", request_body = CredentialNames,
    responses((status = 200, body = CredentialNames), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn set_names(
    State(app): State<AppState>,
    actor: Actor,
    ip: ClientIp,
    ApiJson(body): ApiJson<CredentialNames>,
) -> Result<Json<CredentialNames>, ApiError> {
    global_admin(&actor)?;
    for name in &body.allowed {
        credentials::check_name(name, std::slice::from_ref(name))
            .map_err(|e| ApiError::invalid("allowed", e.to_string()))?;
    }
    let json = serde_json::to_string(&body.allowed).map_err(ApiError::internal)?;
    app.store().put_setting(ALLOWED_SETTING, &json).await?;
    let details = Some(body.allowed.join(", "));
    Audit {
        action: "credential_names_allowed",
        actor: Some(&actor),
        actor_text: None,
        target: None,
        details,
        ip,
    }
    .record(&app)
    .await;
    let known = credentials::KNOWN_KEYS.iter().map(|k| (*k).to_owned()).collect();
    Ok(Json(CredentialNames { known, allowed: body.allowed }))
}

/// The global tier (admins; in local mode, the owner).
#[utoipa::path(get, path = "/api/credentials/global", tag = "credentials",
    responses((status = 200, body = Vec<CredentialView>), (status = 403, body = ErrorBody)))]
pub async fn list_global(
    State(app): State<AppState>,
    actor: Actor,
) -> Result<Json<Vec<CredentialView>>, ApiError> {
    global_admin(&actor)?;
    let rows = app.store().list_credentials(Tier::Global, uuid::Uuid::nil()).await?;
    Ok(Json(rows.into_iter().map(|c| view(&app, c)).collect()))
}

/// Set a global value (admins).
#[utoipa::path(put, path = "/api/credentials/global/{key}", tag = "credentials", request_body = SetCredential,
    params(("key" = String, Path, description = "The credential's name: a known one, or a custom name an admin allowed", pattern = r"^[A-Z_][A-Z0-9_]{0,63}$")),
    responses((status = 200, body = CredentialView), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn set_global(
    State(app): State<AppState>,
    actor: Actor,
    ip: ClientIp,
    ApiPath(key): ApiPath<String>,
    ApiJson(body): ApiJson<SetCredential>,
) -> Result<Json<CredentialView>, ApiError> {
    global_admin(&actor)?;
    put(&app, &actor, ip, Tier::Global, uuid::Uuid::nil(), &key, body).await
}

/// Delete a global value (admins).
#[utoipa::path(delete, path = "/api/credentials/global/{key}", tag = "credentials",
    params(("key" = String, Path, description = "The credential's name: a known one, or a custom name an admin allowed", pattern = r"^[A-Z_][A-Z0-9_]{0,63}$")),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_global(
    State(app): State<AppState>,
    actor: Actor,
    ip: ClientIp,
    ApiPath(key): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    global_admin(&actor)?;
    remove(&app, &actor, ip, Tier::Global, uuid::Uuid::nil(), &key).await
}

/// The caller's own values (team mode).
#[utoipa::path(get, path = "/api/credentials/user", tag = "credentials",
    responses((status = 200, body = Vec<CredentialView>), (status = 404, body = ErrorBody)))]
pub async fn list_user(
    State(app): State<AppState>,
    actor: Actor,
) -> Result<Json<Vec<CredentialView>>, ApiError> {
    let scope = user_scope(&actor)?;
    let rows = app.store().list_credentials(Tier::User, scope).await?;
    Ok(Json(rows.into_iter().map(|c| view(&app, c)).collect()))
}

/// Set one of the caller's own values.
#[utoipa::path(put, path = "/api/credentials/user/{key}", tag = "credentials", request_body = SetCredential,
    params(("key" = String, Path, description = "The credential's name: a known one, or a custom name an admin allowed", pattern = r"^[A-Z_][A-Z0-9_]{0,63}$")),
    responses((status = 200, body = CredentialView), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn set_user(
    State(app): State<AppState>,
    actor: Actor,
    ip: ClientIp,
    ApiPath(key): ApiPath<String>,
    ApiJson(body): ApiJson<SetCredential>,
) -> Result<Json<CredentialView>, ApiError> {
    let scope = user_scope(&actor)?;
    put(&app, &actor, ip, Tier::User, scope, &key, body).await
}

/// Delete one of the caller's own values.
#[utoipa::path(delete, path = "/api/credentials/user/{key}", tag = "credentials",
    params(("key" = String, Path, description = "The credential's name: a known one, or a custom name an admin allowed", pattern = r"^[A-Z_][A-Z0-9_]{0,63}$")),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_user(
    State(app): State<AppState>,
    actor: Actor,
    ip: ClientIp,
    ApiPath(key): ApiPath<String>,
) -> Result<StatusCode, ApiError> {
    let scope = user_scope(&actor)?;
    remove(&app, &actor, ip, Tier::User, scope, &key).await
}

/// A project's own values (its members may see them masked).
#[utoipa::path(get, path = "/api/projects/{id}/credentials", tag = "credentials",
    params(("id" = ProjectId, Path, description = "The project's id")),
    responses((status = 200, body = Vec<CredentialView>), (status = 404, body = ErrorBody)))]
pub async fn list_project(
    State(app): State<AppState>,
    actor: Actor,
    ApiPath(id): ApiPath<ProjectId>,
) -> Result<Json<Vec<CredentialView>>, ApiError> {
    actor.project(&app, id).await?;
    let rows = app.store().list_credentials(Tier::Project, id.0).await?;
    Ok(Json(rows.into_iter().map(|c| view(&app, c)).collect()))
}

/// Set a project value (its owners).
#[utoipa::path(put, path = "/api/projects/{id}/credentials/{key}", tag = "credentials", request_body = SetCredential,
    params(("id" = ProjectId, Path, description = "The project's id"), ("key" = String, Path, description = "The credential's name: a known one, or a custom name an admin allowed", pattern = r"^[A-Z_][A-Z0-9_]{0,63}$")),
    responses((status = 200, body = CredentialView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn set_project(
    State(app): State<AppState>,
    actor: Actor,
    ip: ClientIp,
    ApiPath((id, key)): ApiPath<(ProjectId, String)>,
    ApiJson(body): ApiJson<SetCredential>,
) -> Result<Json<CredentialView>, ApiError> {
    actor.owned_project(&app, id).await?;
    put(&app, &actor, ip, Tier::Project, id.0, &key, body).await
}

/// Delete a project value (its owners).
#[utoipa::path(delete, path = "/api/projects/{id}/credentials/{key}", tag = "credentials",
    params(("id" = ProjectId, Path, description = "The project's id"), ("key" = String, Path, description = "The credential's name: a known one, or a custom name an admin allowed", pattern = r"^[A-Z_][A-Z0-9_]{0,63}$")),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_project(
    State(app): State<AppState>,
    actor: Actor,
    ip: ClientIp,
    ApiPath((id, key)): ApiPath<(ProjectId, String)>,
) -> Result<StatusCode, ApiError> {
    actor.owned_project(&app, id).await?;
    remove(&app, &actor, ip, Tier::Project, id.0, &key).await
}

/// What a run of this project started by the caller would get: masked values with where
/// each comes from.
#[utoipa::path(get, path = "/api/projects/{id}/credentials/effective", tag = "credentials",
    params(("id" = ProjectId, Path, description = "The project's id")),
    responses((status = 200, body = Vec<Effective>), (status = 404, body = ErrorBody)))]
pub async fn effective(
    State(app): State<AppState>,
    actor: Actor,
    ApiPath(id): ApiPath<ProjectId>,
) -> Result<Json<Vec<Effective>>, ApiError> {
    actor.project(&app, id).await?;
    let Some(service) = app.credentials() else { return Ok(Json(Vec::new())) };
    let resolution = service.resolve(app.store(), Some(id), actor.user().map(|u| u.id)).await?;
    Ok(Json(
        resolution
            .values
            .into_iter()
            .map(|(key, r)| Effective {
                key,
                masked: credentials::mask(r.value.expose()),
                tier: r.tier,
                locked: r.locked,
            })
            .collect(),
    ))
}

//! Who may do what on a team server, and the admins' `security` setting behind it: the hosts
//! outbound git operations may reach, the folder members may add repositories from, the
//! agents members may use, and the limits and timeouts of clones, pulls and pushes. Local
//! mode keeps one owner who may do everything (addresses are not checked there).

use axum::Json;
use axum::extract::State;
use taskyard_core::model::Role;
use taskyard_core::outbound::{Busy, Policy, Slot};
use taskyard_core::runner::RunError;
use taskyard_core::security::SecuritySettings;
use taskyard_core::store::Store;

use crate::http::AppState;
use crate::http::access::{Actor, ClientIp};
use crate::http::audit::Audit;
use crate::http::error::{ApiError, ApiJson, ErrorBody};

/// What members are told when a remote failed in any way: refused, not found, unauthorised
/// and silent all read the same, so the server cannot be used to probe what lies behind it.
pub const COULD_NOT_REACH: &str =
    "could not reach or read the repository: check its URL and, for a private repository, the access token";

/// What members are told when the policy refused an address (or a host did not resolve).
pub const NOT_CONNECTED: &str = "this server does not connect to that host: it does not resolve to a public address; an admin can allow the host";

/// The `security` setting.
#[utoipa::path(get, path = "/api/settings/security", tag = "settings",
    responses((status = 200, body = SecuritySettings), (status = 403, body = ErrorBody)))]
pub async fn get(State(app): State<AppState>, actor: Actor) -> Result<Json<SecuritySettings>, ApiError> {
    actor.server_admin()?;
    Ok(Json(SecuritySettings::load(app.store()).await))
}

/// Change the `security` setting (admins; in local mode, the owner).
///
/// Unknown fields, bad host
/// names, address ranges, folders and agent names are refused with 422 naming the field.
#[utoipa::path(put, path = "/api/settings/security", tag = "settings", request_body = SecuritySettings,
    responses((status = 200, body = SecuritySettings), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn set(
    State(app): State<AppState>,
    actor: Actor,
    ip: ClientIp,
    ApiJson(body): ApiJson<SecuritySettings>,
) -> Result<Json<SecuritySettings>, ApiError> {
    actor.server_admin()?;
    let settings = tokio::task::spawn_blocking(move || body.validated())
        .await
        .map_err(ApiError::internal)?
        .map_err(|e| ApiError::invalid(e.field, e.message))?;
    let json = serde_json::to_string(&settings).map_err(ApiError::internal)?;
    app.store().put_setting(SecuritySettings::KEY, &json).await?;
    Audit {
        action: "security_settings_changed",
        actor: Some(&actor),
        actor_text: None,
        target: None,
        details: Some(json),
        ip,
    }
    .record(&app)
    .await;
    Ok(Json(settings))
}

/// A team server's member (not an admin): the one the rules below restrict.
pub fn is_member(actor: &Actor) -> bool {
    matches!(actor, Actor::User(u) if u.role != Role::Admin)
}

/// The outbound policy in force: addresses are checked on a team server only.
pub fn policy(app: &AppState, settings: &SecuritySettings) -> Policy {
    settings.policy(app.team().is_some())
}

/// A slot for one more clone, pull or push by `actor`, or 429 saying whose limit is reached.
pub fn slot(app: &AppState, actor: &Actor, settings: &SecuritySettings) -> Result<Slot, ApiError> {
    let user = actor.user().map(|u| u.id.0);
    app.clones().slots().try_acquire(user, settings.limits()).map_err(|busy| {
        let wait = match busy {
            Busy::User(_) => 10,
            Busy::Server(_) => 30,
        };
        ApiError::too_many(busy.to_string(), std::time::Duration::from_secs(wait))
    })
}

/// Refuses a member an agent the admins did not allow them (admins and local mode's owner may
/// use every agent).
pub async fn check_agent(app: &AppState, actor: &Actor, agent: &str) -> Result<(), ApiError> {
    if !is_member(actor) {
        return Ok(());
    }
    let settings = SecuritySettings::load(app.store()).await;
    if settings.member_may_use(agent) {
        return Ok(());
    }
    let allowed = match settings.member_agents.as_slice() {
        [] => "none".to_owned(),
        names => names.join(", "),
    };
    Err(ApiError::forbidden(format!(
        "members of this server may not use the `{agent}` agent (allowed: {allowed}); an admin can change this in the security settings"
    )))
}

/// The error of a clone, pull or push as `actor` may see it: members get one answer for every
/// failure of the remote (502) and for every refused address (422); the log keeps the real
/// reason, on one line.
pub fn remote_error(actor: &Actor, what: &str, e: RunError) -> ApiError {
    if let RunError::Git(git) = &e
        && is_member(actor)
    {
        if git.is_remote_failure() {
            log_failure(actor, what, &e);
            return ApiError::bad_gateway(COULD_NOT_REACH);
        }
        if git.is_address_refusal() {
            log_failure(actor, what, &e);
            return ApiError::invalid("url", NOT_CONNECTED);
        }
    }
    e.into()
}

/// Like [`remote_error`], as the text a clone's status shows.
pub fn remote_error_text(actor: &Actor, what: &str, e: &RunError) -> String {
    if let RunError::Git(git) = e {
        log_failure(actor, what, e);
        if is_member(actor) {
            if git.is_remote_failure() {
                return COULD_NOT_REACH.to_owned();
            }
            if git.is_address_refusal() {
                return NOT_CONNECTED.to_owned();
            }
        }
    }
    e.to_string()
}

fn log_failure(actor: &Actor, what: &str, e: &RunError) {
    let user = actor.user().map(|u| u.id.to_string()).unwrap_or_else(|| "owner".into());
    tracing::info!(%user, operation = what, error = %e, "outbound git operation failed");
}

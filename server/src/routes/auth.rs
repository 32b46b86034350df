//! Signing in on a team server: the first admin registers without an invite (only while there
//! is none), everyone else with one; login with rate limits; silent refresh with rotating
//! refresh tokens; logout; the current user.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use taskyard_core::auth::{self, AuthError};
use taskyard_core::model::{NewUser, Role, User, UserPatch};
use taskyard_core::store::{NewSessionToken, Rotation, Store, StoreError};
use uuid::Uuid;

use crate::http::AppState;
use crate::http::access::{Actor, ClientIp};
use crate::http::audit::Audit;
use crate::http::error::{ApiError, ApiJson, ErrorBody};
use crate::http::team::{self, Attempt, TeamAuth};

/// Longest display name.
pub const MAX_NAME: usize = 100;

/// How this server signs people in.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuthMode {
    /// `local` (one user, the launch token) or `team` (accounts).
    pub mode: &'static str,
    /// Team mode: `first_admin` while nobody has registered (the first account becomes
    /// admin), then `invite`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registration: Option<&'static str>,
}

/// A new account.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Register {
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
    /// At least 10 characters.
    #[schema(min_length = 10, max_length = 1024)]
    pub password: String,
    /// The invite code (not needed for the very first account).
    #[serde(default)]
    pub invite: Option<String>,
}

/// Credentials.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Login {
    /// Sign-in address.
    pub email: String,
    /// Password.
    pub password: String,
}

/// A password change.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePassword {
    /// The password now.
    pub current_password: String,
    /// The new one (at least 10 characters).
    #[schema(min_length = 10, max_length = 1024)]
    pub new_password: String,
}

/// Changes to one's own account.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateMe {
    /// New display name.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    )]
    pub name: String,
}

macro_rules! redacted_debug {
    ($($t:ident),*) => {$(
        impl std::fmt::Debug for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($t)).finish_non_exhaustive()
            }
        }
    )*};
}
redacted_debug!(Register, Login, ChangePassword);

/// A signed-in session: the access token for `Authorization: Bearer`, with the refresh token
/// in an HttpOnly cookie.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Session {
    /// The access token.
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires (refresh before then).
    pub expires_in: u64,
    /// Who is signed in.
    pub user: User,
}

fn team(app: &AppState) -> Result<&TeamAuth, ApiError> {
    app.team().ok_or_else(|| ApiError::not_found("local mode has no accounts"))
}

fn internal(e: AuthError) -> ApiError {
    ApiError::internal(e)
}

pub(crate) fn check_name(name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME || name.chars().any(char::is_control) {
        return Err(ApiError::invalid("name", format!("1 to {MAX_NAME} characters")));
    }
    Ok(name.to_owned())
}

pub(crate) fn check_email(email: &str) -> Result<String, ApiError> {
    auth::normalize_email(email).ok_or_else(|| ApiError::invalid("email", "not an e-mail address"))
}

pub(crate) fn check_password(password: &str) -> Result<(), ApiError> {
    auth::check_password(password).map_err(|e| ApiError::invalid("password", e.to_string()))
}

/// An argon2 hash through the server's pool (team mode only has passwords).
pub(crate) async fn hash(app: &AppState, password: String) -> Result<String, ApiError> {
    team(app)?.passwords.hash(password).await
}

/// Starts a session: a refresh token (stored hashed) and an access token.
async fn open_session(app: &AppState, team: &TeamAuth, user: User) -> Result<Response, ApiError> {
    let family = Uuid::now_v7();
    let refresh = auth::random_secret("ty_rt_").map_err(internal)?;
    app.store()
        .create_session_token(NewSessionToken {
            token_hash: auth::secret_hash(&refresh),
            family,
            user: user.id,
            expires_at: expiry(team),
        })
        .await?;
    session_response(team, user, family, &refresh, StatusCode::OK)
}

fn expiry(team: &TeamAuth) -> chrono::DateTime<chrono::Utc> {
    chrono::Utc::now()
        + chrono::Duration::from_std(team.refresh_ttl).unwrap_or_else(|_| chrono::Duration::days(30))
}

fn session_response(
    team: &TeamAuth,
    user: User,
    family: Uuid,
    refresh: &str,
    status: StatusCode,
) -> Result<Response, ApiError> {
    let (access_token, _) = team.jwt.issue(user.id.0, user.role.as_str(), family).map_err(internal)?;
    let body = Session { access_token, token_type: "Bearer", expires_in: team.jwt.ttl_secs(), user };
    let mut response = (status, Json(body)).into_response();
    response.headers_mut().insert(header::SET_COOKIE, team.refresh_cookie(Some(refresh)));
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

fn signed_out(team: &TeamAuth, error: ApiError) -> Response {
    let mut response = error.into_response();
    response.headers_mut().insert(header::SET_COOKIE, team.refresh_cookie(None));
    response
}

/// How this server signs people in.
#[utoipa::path(get, path = "/api/auth/mode", tag = "auth", responses((status = 200, body = AuthMode)))]
pub async fn mode(State(app): State<AppState>) -> Result<Json<AuthMode>, ApiError> {
    Ok(Json(match app.team() {
        None => AuthMode { mode: "local", registration: None },
        Some(_) => {
            let first = app.store().count_users().await? == 0;
            AuthMode { mode: "team", registration: Some(if first { "first_admin" } else { "invite" }) }
        }
    }))
}

/// Create an account: the very first one becomes admin without an invite; after that an
/// admin's invite is needed. Signs the new user in. Refused before any password hashing when
/// registration is closed or the invite cannot be used.
#[utoipa::path(post, path = "/api/auth/register", tag = "auth", request_body = Register,
    responses((status = 201, body = Session), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 429, body = ErrorBody, description = "too many attempts from this address; see Retry-After"),
        (status = 503, body = ErrorBody, description = "too many password checks at once; try again")))]
pub async fn register(
    State(app): State<AppState>,
    ip: ClientIp,
    ApiJson(body): ApiJson<Register>,
) -> Result<Response, ApiError> {
    let team = team(&app)?;
    let email = check_email(&body.email)?;
    let name = check_name(&body.name)?;
    check_password(&body.password)?;
    let attempt = Attempt::new(&ip, &email);
    attempt.begin(&team.limiter)?;
    let invite = body.invite.as_deref().map(str::trim).filter(|c| !c.is_empty()).map(auth::secret_hash);
    if !app.store().can_register(invite.as_deref(), &email).await? {
        attempt.failed(&team.limiter);
        return Err(registration_closed(invite.is_some()));
    }
    let password_hash = team.passwords.hash(body.password).await?;
    let new = NewUser { email: email.clone(), name, password_hash, role: Role::Member };
    let (user, how) = create_account(&app, invite.as_deref(), new).await?;
    let actor = Actor::User(crate::http::access::CurrentUser {
        id: user.id,
        email: user.email.clone(),
        role: user.role,
        session: Uuid::nil(),
    });
    Audit {
        action: "register",
        actor: Some(&actor),
        actor_text: None,
        target: None,
        details: Some(format!("registered {how}")),
        ip,
    }
    .record(&app)
    .await;
    let mut response = open_session(&app, team, user).await?;
    *response.status_mut() = StatusCode::CREATED;
    Ok(response)
}

fn registration_closed(with_invite: bool) -> ApiError {
    if with_invite {
        // 403 like a closed registration: the request is well-formed, the invite does not let
        // this address in. The field says where a form shows it.
        ApiError::forbidden(
            "this invite cannot be used (it may be used, revoked, expired, or for another address)",
        )
        .on_field("invite")
    } else {
        ApiError::forbidden("registration needs an invite from an admin")
    }
}

/// Creates the account with the invite, or as the first admin; the store settles races.
async fn create_account(
    app: &AppState,
    invite: Option<&str>,
    new: NewUser,
) -> Result<(User, &'static str), ApiError> {
    let created = match invite {
        Some(code) => app.store().register_with_invite(code, new).await.map(|u| (u, "with an invite")),
        None => app.store().create_first_admin(new).await.map(|u| (u, "as the first admin")),
    };
    match created {
        Ok(done) => Ok(done),
        Err(StoreError::Invalid(_)) => Err(registration_closed(true)),
        Err(StoreError::Conflict(_)) if invite.is_none() => Err(registration_closed(false)),
        Err(StoreError::Conflict(_)) => {
            Err(ApiError::conflict("an account with this e-mail exists: sign in instead"))
        }
        Err(e) => Err(e.into()),
    }
}

/// Sign in. Wrong e-mail and wrong password give the same answer in the same time. Failed
/// attempts count per account *and* client address, so failures from elsewhere never lock
/// the owner out.
#[utoipa::path(post, path = "/api/auth/login", tag = "auth", request_body = Login,
    responses((status = 200, body = Session), (status = 401, body = ErrorBody),
        (status = 429, body = ErrorBody, description = "too many attempts from this address; see Retry-After"),
        (status = 503, body = ErrorBody, description = "too many password checks at once; try again")))]
pub async fn login(
    State(app): State<AppState>,
    ip: ClientIp,
    ApiJson(body): ApiJson<Login>,
) -> Result<Response, ApiError> {
    let team = team(&app)?;
    let typed = body.email.trim().to_lowercase();
    let attempt = Attempt::new(&ip, &typed);
    if let Err(e) = attempt.begin(&team.limiter) {
        let audit = Audit {
            action: "login_blocked",
            actor: None,
            actor_text: Some(typed),
            target: None,
            details: None,
            ip,
        };
        audit.record(&app).await;
        return Err(e);
    }
    let record = match auth::normalize_email(&typed) {
        Some(email) if body.password.len() <= auth::MAX_PASSWORD => {
            app.store().find_user_by_email(&email).await?
        }
        _ => None,
    };
    let ok = team.passwords.verify(record.as_ref().map(|r| r.password_hash.clone()), body.password).await?;
    let Some(record) = record.filter(|_| ok) else {
        attempt.failed(&team.limiter);
        let audit = Audit {
            action: "login_failed",
            actor: None,
            actor_text: Some(typed),
            target: None,
            details: None,
            ip,
        };
        audit.record(&app).await;
        return Err(ApiError::unauthorized("wrong e-mail or password"));
    };
    if record.user.disabled {
        return Err(ApiError::forbidden("this account is disabled; ask an admin"));
    }
    attempt.succeeded(&team.limiter);
    let user = record.user;
    let actor = Actor::User(crate::http::access::CurrentUser {
        id: user.id,
        email: user.email.clone(),
        role: user.role,
        session: Uuid::nil(),
    });
    Audit { action: "login", actor: Some(&actor), actor_text: None, target: None, details: None, ip }
        .record(&app)
        .await;
    open_session(&app, team, user).await
}

/// Exchange the refresh cookie for a new access token (and a new refresh cookie: each one
/// works once; a second use ends the session everywhere).
#[utoipa::path(post, path = "/api/auth/refresh", tag = "auth",
    responses((status = 200, body = Session), (status = 401, body = ErrorBody)))]
pub async fn refresh(
    State(app): State<AppState>,
    ip: ClientIp,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let team = team(&app)?;
    let Some(old) = team::refresh_token(&headers) else {
        return Ok(signed_out(team, ApiError::unauthorized("no session: sign in")));
    };
    let next = auth::random_secret("ty_rt_").map_err(internal)?;
    let placeholder = NewSessionToken {
        token_hash: auth::secret_hash(&next),
        family: Uuid::nil(),
        user: taskyard_core::model::UserId(Uuid::nil()),
        expires_at: expiry(team),
    };
    match app.store().rotate_session_token(&auth::secret_hash(&old), placeholder).await? {
        Rotation::Rotated { user, family } => match app.store().get_user(user).await {
            Ok(user) if !user.disabled => session_response(team, user, family, &next, StatusCode::OK),
            _ => {
                app.store().revoke_session(family).await?;
                Ok(signed_out(team, ApiError::unauthorized("the session ended: sign in again")))
            }
        },
        Rotation::Reused { user, family } => {
            let details = Some(format!("a used refresh token was presented again; session {family} revoked"));
            let target = Some(format!("user {user}"));
            Audit { action: "session_reuse", actor: None, actor_text: None, target, details, ip }
                .record(&app)
                .await;
            Ok(signed_out(team, ApiError::unauthorized("the session ended: sign in again")))
        }
        Rotation::Invalid => Ok(signed_out(team, ApiError::unauthorized("the session ended: sign in again"))),
    }
}

/// Sign out: this session's refresh tokens stop working.
#[utoipa::path(post, path = "/api/auth/logout", tag = "auth", responses((status = 204), (status = 401, body = ErrorBody)))]
pub async fn logout(State(app): State<AppState>, actor: Actor) -> Result<Response, ApiError> {
    let team = team(&app)?;
    let user = actor.user().ok_or_else(|| ApiError::unauthorized("sign in first"))?;
    app.store().revoke_session(user.session).await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(header::SET_COOKIE, team.refresh_cookie(None));
    Ok(response)
}

/// The signed-in user.
#[utoipa::path(get, path = "/api/auth/me", tag = "auth", responses((status = 200, body = User), (status = 401, body = ErrorBody)))]
pub async fn me(State(app): State<AppState>, actor: Actor) -> Result<Json<User>, ApiError> {
    team(&app)?;
    let user = actor.user().ok_or_else(|| ApiError::unauthorized("sign in first"))?;
    Ok(Json(app.store().get_user(user.id).await?))
}

/// Change one's display name.
#[utoipa::path(patch, path = "/api/auth/me", tag = "auth", request_body = UpdateMe,
    responses((status = 200, body = User), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn update_me(
    State(app): State<AppState>,
    actor: Actor,
    ApiJson(body): ApiJson<UpdateMe>,
) -> Result<Json<User>, ApiError> {
    team(&app)?;
    let user = actor.user().ok_or_else(|| ApiError::unauthorized("sign in first"))?;
    let name = check_name(&body.name)?;
    Ok(Json(app.store().update_user(user.id, UserPatch { name: Some(name), ..Default::default() }).await?))
}

/// Change one's password: every session ends, and this one starts afresh.
#[utoipa::path(post, path = "/api/auth/password", tag = "auth", request_body = ChangePassword,
    responses((status = 200, body = Session), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody),
        (status = 429, body = ErrorBody, description = "too many wrong current passwords from this address; see Retry-After"),
        (status = 503, body = ErrorBody, description = "too many password checks at once; try again")))]
pub async fn change_password(
    State(app): State<AppState>,
    actor: Actor,
    ip: ClientIp,
    ApiJson(body): ApiJson<ChangePassword>,
) -> Result<Response, ApiError> {
    let team = team(&app)?;
    let current = actor.user().ok_or_else(|| ApiError::unauthorized("sign in first"))?;
    check_password(&body.new_password)?;
    let attempt = Attempt::new(&ip, &current.email);
    attempt.begin(&team.limiter)?;
    let record = app.store().get_user_record(current.id).await?;
    if !team.passwords.verify(Some(record.password_hash), body.current_password).await? {
        attempt.failed(&team.limiter);
        return Err(ApiError::invalid("current_password", "the current password is wrong"));
    }
    attempt.succeeded(&team.limiter);
    let password_hash = team.passwords.hash(body.new_password).await?;
    let user = app
        .store()
        .update_user(current.id, UserPatch { password_hash: Some(password_hash), ..Default::default() })
        .await?;
    app.store().revoke_user_sessions(current.id).await?;
    Audit {
        action: "password_changed",
        actor: Some(&actor),
        actor_text: None,
        target: None,
        details: None,
        ip,
    }
    .record(&app)
    .await;
    open_session(&app, team, user).await
}

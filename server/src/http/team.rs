//! Team mode's authentication: JWT access tokens on every API request (bearer; WebSockets
//! may pass `access_token` in the query because browsers cannot set headers on them), refresh
//! tokens in an HttpOnly cookie scoped to `/api/auth`, and the login rate limits.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use taskyard_core::auth::JwtKeys;
use taskyard_core::store::Store;

use super::AppState;
use super::access::{Actor, CurrentUser};
use super::error::ApiError;

/// The refresh cookie's name.
pub const REFRESH_COOKIE: &str = "taskyard_refresh";

/// Team mode's settings.
#[derive(Debug)]
pub struct TeamAuth {
    /// Signs and checks access tokens.
    pub jwt: JwtKeys,
    /// How long a session lasts without use.
    pub refresh_ttl: Duration,
    /// Mark cookies `Secure` (when served over https).
    pub secure_cookies: bool,
    /// Take the client address from `X-Forwarded-For` (behind a trusted proxy only).
    pub trust_forwarded_for: bool,
    /// Sign-in attempts per client address and per account.
    pub limiter: RateLimiter,
}

impl TeamAuth {
    /// Settings with the default limits.
    pub fn new(jwt: JwtKeys, secure_cookies: bool, trust_forwarded_for: bool) -> Self {
        Self {
            jwt,
            refresh_ttl: Duration::from_secs(30 * 24 * 3600),
            secure_cookies,
            trust_forwarded_for,
            limiter: RateLimiter::default(),
        }
    }

    /// The `Set-Cookie` value that stores a refresh token (or clears it with `None`).
    pub fn refresh_cookie(&self, token: Option<&str>) -> HeaderValue {
        let secure = if self.secure_cookies { "; Secure" } else { "" };
        let value = match token {
            Some(t) => format!(
                "{REFRESH_COOKIE}={t}; Path=/api/auth; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
                self.refresh_ttl.as_secs()
            ),
            None => {
                format!("{REFRESH_COOKIE}=; Path=/api/auth; HttpOnly; SameSite=Strict; Max-Age=0{secure}")
            }
        };
        HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""))
    }
}

/// The refresh token in a request's cookies.
pub fn refresh_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, v)| *k == REFRESH_COOKIE && !v.is_empty())
        .map(|(_, v)| v.to_owned())
}

/// Paths that answer without a signed-in user: probes, the sign-in endpoints, and the UI's
/// files (which hold no data; the UI then signs in).
fn is_public(path: &str) -> bool {
    matches!(
        path,
        "/health"
            | "/ready"
            | "/api/auth/mode"
            | "/api/auth/login"
            | "/api/auth/register"
            | "/api/auth/refresh"
    ) || !path.starts_with("/api/")
}

/// A browser request from another site carries its `Origin`; it must be this server.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|o| o.to_str().ok()) else { return true };
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else { return false };
    origin.split_once("://").is_some_and(|(_, rest)| rest.eq_ignore_ascii_case(host))
}

fn bearer(request: &Request) -> Option<String> {
    if let Some(b) = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    {
        return Some(b.trim().to_owned());
    }
    // WebSocket upgrades only: browsers cannot send headers with them.
    let upgrade = request
        .headers()
        .get(header::UPGRADE)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"));
    if !upgrade {
        return None;
    }
    request
        .uri()
        .query()?
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == "access_token")
        .map(|(_, v)| v.to_owned())
}

/// The middleware: attaches the caller (an [`Actor`]) or refuses.
pub async fn authenticate(State(app): State<AppState>, mut request: Request, next: Next) -> Response {
    let Some(team) = app.team() else { return next.run(request).await };
    if !same_origin(request.headers()) {
        return ApiError::forbidden("requests from other origins are not allowed").into_response();
    }
    let path = request.uri().path().to_owned();
    match bearer(&request) {
        Some(token) => {
            let Ok(claims) = team.jwt.verify(&token) else {
                return ApiError::unauthorized("the access token is invalid or expired").into_response();
            };
            // The user as stored now: a disabled or deleted user's tokens stop working at once.
            let user = match app.store().get_user(taskyard_core::model::UserId(claims.sub)).await {
                Ok(u) if !u.disabled => u,
                Ok(_) | Err(taskyard_core::store::StoreError::NotFound { .. }) => {
                    return ApiError::unauthorized("the access token is invalid or expired").into_response();
                }
                Err(e) => return ApiError::from(e).into_response(),
            };
            // A signed-out or revoked session ends its access tokens too.
            match app.store().session_active(claims.sid).await {
                Ok(true) => {}
                Ok(false) => {
                    return ApiError::unauthorized("the session ended: sign in again").into_response();
                }
                Err(e) => return ApiError::from(e).into_response(),
            }
            request.extensions_mut().insert(Actor::User(CurrentUser {
                id: user.id,
                email: user.email,
                role: user.role,
                session: claims.sid,
            }));
        }
        None if is_public(&path) => {}
        None => return ApiError::unauthorized("sign in first").into_response(),
    }
    next.run(request).await
}

/// Sliding-window counters: at most `limit` events per key within `window`.
#[derive(Debug, Default)]
pub struct RateLimiter {
    hits: Mutex<HashMap<String, Vec<Instant>>>,
}

/// Sign-in attempts per client address.
pub const LOGIN_PER_IP: (usize, Duration) = (20, Duration::from_secs(300));
/// Failed sign-ins per account.
pub const LOGIN_FAILURES_PER_ACCOUNT: (usize, Duration) = (5, Duration::from_secs(900));

impl RateLimiter {
    /// Whether `key` is over its limit now; if it is, how long until it is not.
    pub fn blocked(&self, key: &str, (limit, window): (usize, Duration)) -> Option<Duration> {
        let mut hits = self.hits.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        let list = hits.get_mut(key)?;
        list.retain(|t| now.duration_since(*t) < window);
        if list.len() >= limit {
            list.first().map(|oldest| window.saturating_sub(now.duration_since(*oldest)))
        } else {
            None
        }
    }

    /// Counts one event for `key`.
    pub fn hit(&self, key: &str) {
        let mut hits = self.hits.lock().unwrap_or_else(PoisonError::into_inner);
        // Keep the map bounded: drop keys whose newest event is old.
        if hits.len() > 10_000 {
            let now = Instant::now();
            hits.retain(|_, v| v.last().is_some_and(|t| now.duration_since(*t) < Duration::from_secs(3600)));
        }
        let list = hits.entry(key.to_owned()).or_default();
        list.push(Instant::now());
        if list.len() > 64 {
            list.remove(0);
        }
    }

    /// Forgets a key (after a successful sign-in).
    pub fn clear(&self, key: &str) {
        self.hits.lock().unwrap_or_else(PoisonError::into_inner).remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_block_after_the_limit_and_clear() {
        let l = RateLimiter::default();
        let rule = (3, Duration::from_secs(60));
        for _ in 0..3 {
            assert!(l.blocked("k", rule).is_none());
            l.hit("k");
        }
        let wait = l.blocked("k", rule).expect("blocked");
        assert!(wait <= Duration::from_secs(60) && wait > Duration::from_secs(50));
        assert!(l.blocked("other", rule).is_none());
        l.clear("k");
        assert!(l.blocked("k", rule).is_none());
    }

    #[test]
    fn origins_must_match_the_host() {
        let mut h = HeaderMap::new();
        assert!(same_origin(&h), "no Origin: not a cross-site browser request");
        h.insert(header::ORIGIN, HeaderValue::from_static("https://team.example"));
        assert!(!same_origin(&h), "an Origin without a Host");
        h.insert(header::HOST, HeaderValue::from_static("team.example"));
        assert!(same_origin(&h));
        h.insert(header::ORIGIN, HeaderValue::from_static("https://evil.example"));
        assert!(!same_origin(&h));
    }

    #[test]
    fn public_paths() {
        for p in [
            "/health",
            "/ready",
            "/api/auth/login",
            "/api/auth/register",
            "/api/auth/refresh",
            "/api/auth/mode",
            "/",
            "/assets/x.js",
            "/tasks/1",
        ] {
            assert!(is_public(p), "{p}");
        }
        for p in ["/api/projects", "/api/auth/me", "/api/auth/logout", "/api/admin/users", "/api/events"] {
            assert!(!is_public(p), "{p}");
        }
    }
}

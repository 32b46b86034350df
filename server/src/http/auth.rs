//! Local mode's guard: the server listens on loopback only, and every request must carry the
//! per-launch token (cookie or bearer) and name this server in `Host` (and `Origin`, when a
//! browser sends one), so other local processes and web pages cannot drive it — neither by
//! cross-site requests nor by DNS rebinding.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};

use super::AppState;
use super::error::ApiError;
use super::hosts::Hosts;

/// The cookie that keeps the token after the first visit.
pub const COOKIE: &str = "taskyard_token";

/// What local mode checks.
#[derive(Clone)]
pub struct LocalAuth {
    token: String,
    hosts: Hosts,
}

impl std::fmt::Debug for LocalAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalAuth").field("token", &"***").field("hosts", &self.hosts).finish()
    }
}

impl LocalAuth {
    /// A guard for a server on `port` with `token`.
    pub fn new(token: String, port: u16) -> Self {
        Self { token, hosts: Hosts::loopback(port) }
    }

    /// A fresh random token (256 bits, hex).
    pub fn random_token() -> std::io::Result<String> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(std::io::Error::other)?;
        Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }

    /// The token (to print the URL once).
    pub fn token(&self) -> &str {
        &self.token
    }

    fn host_ok(&self, headers: &HeaderMap) -> bool {
        self.hosts.host_ok(headers)
    }

    fn origin_ok(&self, headers: &HeaderMap) -> bool {
        self.hosts.origin_ok(headers)
    }

    fn presented<'a>(&self, headers: &'a HeaderMap) -> Option<&'a str> {
        if let Some(bearer) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
        {
            return Some(bearer.trim());
        }
        headers
            .get_all(header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .filter_map(|kv| kv.trim().split_once('='))
            .find(|(k, _)| *k == COOKIE)
            .map(|(_, v)| v)
    }

    fn token_matches(&self, candidate: &str) -> bool {
        constant_time_eq(candidate.as_bytes(), self.token.as_bytes())
    }
}

/// Compares without an early exit, so timing does not tell how much of a guess was right.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Paths that answer without the token: liveness and readiness probes carry no data.
fn is_public(path: &str) -> bool {
    matches!(path, "/health" | "/ready")
}

/// The middleware.
pub async fn require_local_token(State(app): State<AppState>, mut request: Request, next: Next) -> Response {
    let Some(auth) = app.local_auth() else { return next.run(request).await };
    request.extensions_mut().insert(super::access::Actor::Owner);
    let headers = request.headers();
    if !auth.host_ok(headers) {
        return ApiError::forbidden("this server only answers requests addressed to 127.0.0.1 or localhost")
            .into_response();
    }
    if !auth.origin_ok(headers) {
        return ApiError::forbidden("requests from other origins are not allowed").into_response();
    }
    if is_public(request.uri().path()) {
        return next.run(request).await;
    }
    if auth.presented(headers).is_some_and(|t| auth.token_matches(t)) {
        return next.run(request).await;
    }
    // First visit through the printed URL: keep the token in a cookie, then drop it from the
    // address bar.
    if request.method() == Method::GET
        && let Some(token) = query_token(request.uri().query())
        && auth.token_matches(&token)
    {
        let clean = request.uri().path().to_owned();
        let cookie = format!("{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict");
        let mut response = Redirect::to(&clean).into_response();
        if let Ok(value) = cookie.parse() {
            response.headers_mut().insert(header::SET_COOKIE, value);
        }
        return response;
    }
    let wants_html = request
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    if wants_html && !request.uri().path().starts_with("/api/") {
        return (
            StatusCode::UNAUTHORIZED,
            Html(
                "<!doctype html><title>Taskyard</title><h1>Taskyard</h1>\
                 <p>Open the address that <code>taskyard serve</code> printed: it carries this \
                 launch's access token.</p>",
            ),
        )
            .into_response();
    }
    ApiError::unauthorized("missing or wrong access token: open the URL that `taskyard serve` printed")
        .into_response()
}

fn query_token(query: Option<&str>) -> Option<String> {
    query?
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == "token")
        .map(|(_, v)| v.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_whole() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"abcd"));
        assert!(!constant_time_eq(b"", b"a"));
    }

    #[test]
    fn hosts_and_origins_must_name_this_server() {
        let auth = LocalAuth::new("t".into(), 7777);
        let mut h = HeaderMap::new();
        assert!(!auth.host_ok(&h), "no Host header");
        h.insert(header::HOST, "127.0.0.1:7777".parse().expect("header"));
        assert!(auth.host_ok(&h) && auth.origin_ok(&h));
        h.insert(header::ORIGIN, "http://localhost:7777".parse().expect("header"));
        assert!(auth.origin_ok(&h));
        h.insert(header::ORIGIN, "http://evil.example".parse().expect("header"));
        assert!(!auth.origin_ok(&h));
        h.insert(header::HOST, "evil.example:7777".parse().expect("header"));
        assert!(!auth.host_ok(&h), "DNS rebinding: a foreign name for our address");
        h.insert(header::HOST, "127.0.0.1:7778".parse().expect("header"));
        assert!(!auth.host_ok(&h));
    }

    #[test]
    fn the_token_comes_from_bearer_or_cookie() {
        let auth = LocalAuth::new("secret".into(), 1);
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, "a=b; taskyard_token=secret; c=d".parse().expect("header"));
        assert_eq!(auth.presented(&h), Some("secret"));
        h.insert(header::AUTHORIZATION, "Bearer other".parse().expect("header"));
        assert_eq!(auth.presented(&h), Some("other"));
        assert_eq!(query_token(Some("x=1&token=abc")).as_deref(), Some("abc"));
        assert_eq!(query_token(Some("x=1")), None);
    }
}

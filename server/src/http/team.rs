//! Team mode's authentication: JWT access tokens on every API request (bearer; WebSockets
//! may pass `access_token` in the query because browsers cannot set headers on them), refresh
//! tokens in an HttpOnly cookie scoped to `/api/auth`, the `Host` check, and the sign-in
//! rate limits.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use taskyard_core::auth::JwtKeys;
use taskyard_core::store::Store;

use super::AppState;
use super::access::{Actor, ClientIp, CurrentUser};
use super::error::ApiError;
use super::hosts::Hosts;
use super::passwords::Passwords;
use super::proxies::{Client, TrustedProxies};

/// The refresh cookie's name.
pub const REFRESH_COOKIE: &str = "taskyard_refresh";

/// Team mode's settings.
#[derive(Debug)]
pub struct TeamAuth {
    /// Signs and checks access tokens.
    pub jwt: JwtKeys,
    /// How long a session lasts without use.
    pub refresh_ttl: Duration,
    /// Mark cookies `Secure` on every response (they are on responses to https requests,
    /// and everywhere when the public URL is https, anyway).
    pub secure_cookies: bool,
    /// The reverse proxies whose `X-Forwarded-For`/`-Proto` are believed.
    pub proxies: Arc<TrustedProxies>,
    /// Sign-in attempts per client address, and failures per account and address.
    pub limiter: RateLimiter,
    /// The names this server answers to.
    pub hosts: Hosts,
    /// The argon2 pool.
    pub passwords: Passwords,
}

impl TeamAuth {
    /// Settings with the default limits, no trusted proxy.
    pub fn new(jwt: JwtKeys) -> Self {
        Self {
            jwt,
            refresh_ttl: Duration::from_secs(30 * 24 * 3600),
            secure_cookies: false,
            proxies: Arc::default(),
            limiter: RateLimiter::default(),
            hosts: Hosts::bind(std::net::IpAddr::from([127, 0, 0, 1])),
            passwords: Passwords::default(),
        }
    }

    /// The same with the names this server answers to.
    pub fn with_hosts(self, hosts: Hosts) -> Self {
        Self { hosts, ..self }
    }

    /// The `Set-Cookie` value that stores a refresh token (or clears it with `None`); the
    /// middleware adds `Secure` where the request came over https ([`secure_cookies`]).
    pub fn refresh_cookie(&self, token: Option<&str>) -> HeaderValue {
        let value = match token {
            Some(t) => format!(
                "{REFRESH_COOKIE}={t}; Path=/api/auth; HttpOnly; SameSite=Strict; Max-Age={}",
                self.refresh_ttl.as_secs()
            ),
            None => format!("{REFRESH_COOKIE}=; Path=/api/auth; HttpOnly; SameSite=Strict; Max-Age=0"),
        };
        HeaderValue::from_str(&value).unwrap_or_else(|_| HeaderValue::from_static(""))
    }

    /// Whether cookies set in answer to a request from `client` must be `Secure`.
    fn cookies_secure(&self, client: &Client) -> bool {
        self.secure_cookies || client.https || self.hosts.is_https()
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
        // A terminal's socket is opened with a single-use ticket instead.
        || (path.starts_with("/api/terminals/") && path.ends_with("/socket"))
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

/// Probes answer under any name: they carry no data, and health checks use addresses.
fn is_probe(path: &str) -> bool {
    matches!(path, "/health" | "/ready")
}

/// The middleware: works out the client (through trusted proxies), checks `Host` and
/// `Origin`, then attaches the caller (an [`Actor`]) or refuses; cookies of answers to https
/// requests are marked `Secure`.
pub async fn authenticate(State(app): State<AppState>, mut request: Request, next: Next) -> Response {
    let Some(team) = app.team() else { return next.run(request).await };
    let peer = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    let client = team.proxies.client(peer, request.headers());
    request.extensions_mut().insert(client);
    let mut response = admit(&app, team, request, next).await;
    if team.cookies_secure(&client) {
        secure_cookies(&mut response);
    }
    response
}

async fn admit(app: &AppState, team: &TeamAuth, mut request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    if !is_probe(&path) && !team.hosts.host_ok(request.headers()) {
        tracing::info!("refused a request for another host");
        return ApiError::misdirected("this server does not answer to that host name").into_response();
    }
    if !team.hosts.origin_ok(request.headers()) {
        return ApiError::forbidden("requests from other origins are not allowed").into_response();
    }
    // Probes answer whoever asks: a stale token a monitor sends along must not fail them.
    if is_probe(&path) {
        return next.run(request).await;
    }
    match bearer(&request) {
        Some(token) => match current_user(app, team, &token).await {
            Ok(user) => {
                request.extensions_mut().insert(Actor::User(user));
            }
            Err(e) => return e.into_response(),
        },
        None if is_public(&path) => {}
        None => return ApiError::unauthorized("sign in first").into_response(),
    }
    next.run(request).await
}

/// Adds `Secure` to every `Set-Cookie` of `response` that lacks it.
fn secure_cookies(response: &mut Response) {
    let headers = response.headers_mut();
    let cookies: Vec<HeaderValue> = headers.get_all(header::SET_COOKIE).iter().cloned().collect();
    if cookies.is_empty() {
        return;
    }
    headers.remove(header::SET_COOKIE);
    for cookie in cookies {
        let secured = cookie
            .to_str()
            .ok()
            .filter(|text| !text.split(';').any(|a| a.trim().eq_ignore_ascii_case("secure")))
            .and_then(|text| HeaderValue::from_str(&format!("{text}; Secure")).ok());
        headers.append(header::SET_COOKIE, secured.unwrap_or(cookie));
    }
}

/// The user of an access token: as stored now (a disabled or deleted user's tokens stop
/// working at once), with the token's session alive and theirs.
async fn current_user(app: &AppState, team: &TeamAuth, token: &str) -> Result<CurrentUser, ApiError> {
    let invalid = || ApiError::unauthorized("the access token is invalid or expired");
    let claims = team.jwt.verify(token).map_err(|_| invalid())?;
    let id = taskyard_core::model::UserId(claims.sub);
    let user = match app.store().get_user(id).await {
        Ok(u) if !u.disabled => u,
        Ok(_) | Err(taskyard_core::store::StoreError::NotFound { .. }) => return Err(invalid()),
        Err(e) => return Err(e.into()),
    };
    // A signed-out or revoked session ends its access tokens too; a session of another
    // user never vouches for this one.
    if !app.store().session_active(claims.sid, id).await? {
        return Err(ApiError::unauthorized("the session ended: sign in again"));
    }
    Ok(CurrentUser { id: user.id, email: user.email, role: user.role, session: claims.sid })
}

/// Sliding-window counters: at most `limit` events per key within `window`. Bounded: a
/// key keeps at most [`MAX_EVENTS`] events, and past [`MAX_KEYS`] keys the least recently
/// used go.
#[derive(Debug, Default)]
pub struct RateLimiter {
    hits: Mutex<HashMap<String, Vec<Instant>>>,
}

/// Sign-in attempts (login, registration, password change) per client address.
pub const ATTEMPTS_PER_ADDRESS: (usize, Duration) = (20, Duration::from_secs(300));
/// Failed attempts for one account from one address. Not per account alone: then anyone who
/// knows an address could lock its owner out.
pub const FAILURES_PER_ACCOUNT_AND_ADDRESS: (usize, Duration) = (5, Duration::from_secs(900));
/// Events kept per key (more than any limit).
pub const MAX_EVENTS: usize = 32;
/// Keys kept.
pub const MAX_KEYS: usize = 50_000;

impl RateLimiter {
    /// Whether `key` is over its limit now; if it is, how long until it is not.
    pub fn blocked(&self, key: &str, (limit, window): (usize, Duration)) -> Option<Duration> {
        let mut hits = self.hits.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        let list = hits.get_mut(key)?;
        list.retain(|t| now.duration_since(*t) < window);
        if list.len() >= limit {
            list.get(list.len() - limit).map(|t| window.saturating_sub(now.duration_since(*t)))
        } else {
            None
        }
    }

    /// Counts one event for `key`.
    pub fn hit(&self, key: &str) {
        let mut hits = self.hits.lock().unwrap_or_else(PoisonError::into_inner);
        if hits.len() >= MAX_KEYS && !hits.contains_key(key) {
            evict(&mut hits);
        }
        let list = hits.entry(key.to_owned()).or_default();
        list.push(Instant::now());
        if list.len() > MAX_EVENTS {
            list.remove(0);
        }
    }

    /// Forgets a key (after a successful sign-in).
    pub fn clear(&self, key: &str) {
        self.hits.lock().unwrap_or_else(PoisonError::into_inner).remove(key);
    }

    /// How many keys are kept.
    pub fn len(&self) -> usize {
        self.hits.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    /// Whether no key is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Drops keys idle for an hour (longer than any window), then, if that is not enough, the
/// least recently used tenth.
fn evict(hits: &mut HashMap<String, Vec<Instant>>) {
    let now = Instant::now();
    hits.retain(|_, v| v.last().is_some_and(|t| now.duration_since(*t) < Duration::from_secs(3600)));
    if hits.len() < MAX_KEYS {
        return;
    }
    let mut last: Vec<(Instant, String)> =
        hits.iter().filter_map(|(k, v)| v.last().map(|t| (*t, k.clone()))).collect();
    last.sort_unstable();
    for (_, key) in last.into_iter().take(MAX_KEYS / 10) {
        hits.remove(&key);
    }
}

/// One sign-in attempt's counters: its client address (an IPv6 address counts by its /64,
/// which one client usually holds whole) and the account typed from that address.
#[derive(Debug)]
pub struct Attempt {
    address: String,
    account: String,
}

impl Attempt {
    /// The attempt of `ip` on `account` (an e-mail as typed, or a user id).
    pub fn new(ip: &ClientIp, account: &str) -> Self {
        let address = match ip.0 {
            Some(std::net::IpAddr::V6(v6)) => {
                let s = v6.segments();
                format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
            }
            Some(v4) => v4.to_string(),
            None => "unknown".to_owned(),
        };
        let account = format!("account:{}|{address}", account.trim().to_lowercase());
        Self { address: format!("address:{address}"), account }
    }

    /// Counts the attempt; `429` (with how long to wait) when its address, or its account
    /// from this address, is over its limit.
    pub fn begin(&self, limiter: &RateLimiter) -> Result<(), ApiError> {
        let wait = limiter
            .blocked(&self.address, ATTEMPTS_PER_ADDRESS)
            .or_else(|| limiter.blocked(&self.account, FAILURES_PER_ACCOUNT_AND_ADDRESS));
        if let Some(wait) = wait {
            return Err(ApiError::too_many("too many sign-in attempts; try again later", wait));
        }
        limiter.hit(&self.address);
        Ok(())
    }

    /// A wrong password (or invite): counts against the account from this address.
    pub fn failed(&self, limiter: &RateLimiter) {
        limiter.hit(&self.account);
    }

    /// The right password: this address starts afresh for the account.
    pub fn succeeded(&self, limiter: &RateLimiter) {
        limiter.clear(&self.account);
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
    fn an_attackers_failures_do_not_lock_the_owner_out_elsewhere() {
        let l = RateLimiter::default();
        let attacker = Attempt::new(&ClientIp(Some([203, 0, 113, 9].into())), "Owner@example.com");
        for _ in 0..FAILURES_PER_ACCOUNT_AND_ADDRESS.0 {
            attacker.begin(&l).expect("allowed");
            attacker.failed(&l);
        }
        assert!(attacker.begin(&l).is_err(), "the attacker's address is locked for the account");
        let owner = Attempt::new(&ClientIp(Some([198, 51, 100, 7].into())), "owner@example.com");
        assert!(owner.begin(&l).is_ok(), "the owner elsewhere is not");
        let v6a = Attempt::new(&ClientIp(Some("2001:db8:1:2::1".parse().expect("ip"))), "x");
        let v6b = Attempt::new(&ClientIp(Some("2001:db8:1:2::ffff".parse().expect("ip"))), "x");
        assert_eq!(v6a.address, v6b.address, "one /64 is one address");
    }

    #[test]
    fn the_limiter_stays_bounded() {
        let l = RateLimiter::default();
        for i in 0..MAX_KEYS + 10 {
            l.hit(&format!("k{i}"));
        }
        assert!(l.len() <= MAX_KEYS, "{}", l.len());
        for _ in 0..100 {
            l.hit("busy");
        }
        assert!(l.hits.lock().expect("lock")["busy"].len() <= MAX_EVENTS);
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

//! Security headers on every response, pages and API alike: a Content-Security-Policy that
//! allows only this server's own scripts, styles and sockets (no inline script, no eval) and
//! no framing, `nosniff`, and no referrer.

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

/// The policy without its `connect-src`, which names this server's sockets.
const POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The middleware.
pub async fn secure(request: Request, next: Next) -> Response {
    let csp = policy(request.headers());
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&csp) {
        headers.insert(header::CONTENT_SECURITY_POLICY, value);
    }
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

/// The policy for a request: `connect-src` allows the page's own origin and its sockets
/// (`'self'` does not cover `ws:`/`wss:` in every browser).
fn policy(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| h.len() <= 255 && h.chars().all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c)));
    match host {
        Some(h) => format!("{POLICY}; connect-src 'self' ws://{h} wss://{h}"),
        None => format!("{POLICY}; connect-src 'self'"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_names_our_sockets_and_nothing_a_client_smuggles() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:7777"));
        let p = policy(&h);
        assert!(p.contains("connect-src 'self' ws://127.0.0.1:7777 wss://127.0.0.1:7777"), "{p}");
        assert!(p.contains("frame-ancestors 'none'") && !p.contains("unsafe"), "{p}");
        h.insert(header::HOST, HeaderValue::from_static("x; script-src *"));
        assert!(policy(&h).ends_with("connect-src 'self'"));
    }
}

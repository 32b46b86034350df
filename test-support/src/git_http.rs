//! A real smart-HTTP git server for tests: `git http-backend` run as a CGI behind axum on
//! 127.0.0.1, optionally behind HTTP Basic auth with an access token as the password.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;

use anyhow::Context as _;
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::io::AsyncWriteExt as _;
use tokio::net::TcpListener;
use tokio::process::Command;
use tokio::sync::oneshot;

/// The largest request body accepted (a pushed pack in tests is far smaller).
const MAX_BODY: usize = 64 * 1024 * 1024;

/// A smart-HTTP git server serving the repositories under a root folder; stops on drop.
///
/// Repository `name` (e.g. `project.git`, a bare repository in the root) is at
/// [`url`](Self::url). Pushing is enabled.
#[derive(Debug)]
pub struct GitHttpServer {
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
}

#[derive(Debug)]
struct Backend {
    root: PathBuf,
    token: Option<String>,
}

impl GitHttpServer {
    /// Serves the repositories under `root` on a free port of 127.0.0.1. With a `token`,
    /// every request needs HTTP Basic auth with the token as password (any user name).
    pub async fn start(root: &Path, token: Option<String>) -> anyhow::Result<Self> {
        let root =
            std::fs::canonicalize(root).with_context(|| format!("git server root {}", root.display()))?;
        let backend = Arc::new(Backend { root, token });
        let app = Router::new().fallback(handle).with_state(backend);
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (shutdown, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    // A dropped sender stops the server as well.
                    let _ = stopped.await;
                })
                .await;
            if let Err(e) = served {
                eprintln!("git http server failed: {e}");
            }
        });
        Ok(Self { addr, shutdown: Some(shutdown) })
    }

    /// The clone URL of the repository `repo_name` (relative to the root).
    pub fn url(&self, repo_name: &str) -> String {
        format!("http://{}/{}", self.addr, repo_name.trim_start_matches('/'))
    }
}

impl Drop for GitHttpServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

async fn handle(State(backend): State<Arc<Backend>>, request: Request) -> Response {
    let user = match &backend.token {
        None => None,
        Some(token) => match basic_auth(request.headers()) {
            Some((user, password)) if password == *token => Some(user),
            _ => {
                return (
                    StatusCode::UNAUTHORIZED,
                    [(header::WWW_AUTHENTICATE, "Basic realm=\"git\"")],
                    "authentication required\n",
                )
                    .into_response();
            }
        },
    };
    match run_cgi(&backend, request, user).await {
        Ok(response) => response,
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e:#}\n")).into_response(),
    }
}

/// Runs `git http-backend` for one request, as a CGI script.
async fn run_cgi(backend: &Backend, request: Request, user: Option<String>) -> anyhow::Result<Response> {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, MAX_BODY).await?;
    let header_value = |name: HeaderName| {
        parts.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
    };

    let mut command = Command::new("git");
    command
        .arg("http-backend")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &backend.root)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_COUNT", "1")
        .env("GIT_CONFIG_KEY_0", "http.receivepack")
        .env("GIT_CONFIG_VALUE_0", "true")
        .env("GIT_PROJECT_ROOT", &backend.root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("GATEWAY_INTERFACE", "CGI/1.1")
        .env("SERVER_PROTOCOL", "HTTP/1.1")
        .env("REMOTE_ADDR", "127.0.0.1")
        .env("REQUEST_METHOD", parts.method.as_str())
        .env("PATH_INFO", parts.uri.path())
        .env("QUERY_STRING", parts.uri.query().unwrap_or_default())
        .env("CONTENT_TYPE", header_value(header::CONTENT_TYPE))
        .env("CONTENT_LENGTH", body.len().to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let encoding = header_value(header::CONTENT_ENCODING);
    if !encoding.is_empty() {
        command.env("HTTP_CONTENT_ENCODING", encoding);
    }
    let protocol = header_value(HeaderName::from_static("git-protocol"));
    if !protocol.is_empty() {
        command.env("GIT_PROTOCOL", protocol);
    }
    if let Some(user) = user {
        command.env("REMOTE_USER", user);
    }

    let mut child = command.spawn().context("spawning git http-backend")?;
    let mut stdin = child.stdin.take().context("no stdin")?;
    // Write the body while the output is read, so that neither side can fill a pipe and stall.
    let writer = tokio::spawn(async move {
        let written = stdin.write_all(&body).await;
        drop(stdin);
        written
    });
    let output = child.wait_with_output().await?;
    match writer.await? {
        // http-backend may answer without reading the whole body, e.g. on an error.
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => return Err(e.into()),
        _ => {}
    }
    if !output.status.success() {
        anyhow::bail!(
            "git http-backend failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    parse_cgi_output(output.stdout)
}

/// Turns CGI output (headers, a blank line, the body) into a response.
fn parse_cgi_output(output: Vec<u8>) -> anyhow::Result<Response> {
    let (head_end, body_start) = find_header_end(&output).context("CGI output has no headers")?;
    let head = std::str::from_utf8(&output[..head_end]).context("CGI headers are not UTF-8")?;
    let mut status = StatusCode::OK;
    let mut headers = HeaderMap::new();
    for line in head.lines().map(|line| line.trim_end_matches('\r')) {
        let (name, value) = line.split_once(':').with_context(|| format!("bad CGI header line {line:?}"))?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("status") {
            let code = value.split_whitespace().next().unwrap_or_default();
            status = StatusCode::from_bytes(code.as_bytes())?;
        } else {
            headers.append(HeaderName::from_bytes(name.as_bytes())?, HeaderValue::from_str(value)?);
        }
    }
    let mut response = Response::new(Body::from(output[body_start..].to_vec()));
    *response.status_mut() = status;
    *response.headers_mut() = headers;
    Ok(response)
}

/// Where the header block ends and where the body starts.
fn find_header_end(output: &[u8]) -> Option<(usize, usize)> {
    let crlf = output.windows(4).position(|w| w == b"\r\n\r\n").map(|i| (i, i + 4));
    let lf = output.windows(2).position(|w| w == b"\n\n").map(|i| (i, i + 2));
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(if a.0 < b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

/// The user name and password of an HTTP Basic `Authorization` header.
fn basic_auth(headers: &HeaderMap) -> Option<(String, String)> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, encoded) = value.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(base64_decode(encoded.trim())?).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

/// Standard base64 with padding, enough for `Authorization` headers.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    fn value(c: u8) -> Option<u32> {
        match c {
            b'A'..=b'Z' => Some(u32::from(c - b'A')),
            b'a'..=b'z' => Some(u32::from(c - b'a') + 26),
            b'0'..=b'9' => Some(u32::from(c - b'0') + 52),
            b'+' => Some(62),
            b'/' => Some(63),
            _ => None,
        }
    }
    let bytes = text.trim_end_matches('=').as_bytes();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut acc = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            acc |= value(c)? << (18 - 6 * i);
        }
        let [_, a, b, c] = acc.to_be_bytes();
        match chunk.len() {
            4 => out.extend([a, b, c]),
            3 => out.extend([a, b]),
            2 => out.push(a),
            _ => return None,
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::base64_decode;

    #[test]
    fn decodes_base64() {
        assert_eq!(
            base64_decode("eC1hY2Nlc3MtdG9rZW46czNjcmV0").as_deref(),
            Some(&b"x-access-token:s3cret"[..])
        );
        assert_eq!(base64_decode("YQ==").as_deref(), Some(&b"a"[..]));
        assert_eq!(base64_decode("YWI=").as_deref(), Some(&b"ab"[..]));
        assert_eq!(base64_decode("Y"), None);
        assert_eq!(base64_decode("YW*="), None);
    }
}

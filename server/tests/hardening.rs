//! The team server under attack, against the real binary on loopback: slow and idle
//! connections are cut by the timeouts, a connection flood beyond the cap is answered 503
//! while the server keeps serving, registrations and sign-ins stay within the argon2 pool's
//! memory and are refused before hashing when closed, failed sign-ins from one address do
//! not lock the owner out elsewhere, foreign hosts and foreign sessions are refused, every
//! response carries the security headers, and bad project paths answer 422 with a short log.

mod common;

use std::path::PathBuf;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use taskyard_core::auth::JwtKeys;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

const SECRET: &str = "hardening-test-signing-key-0123456789abcdef";
const PASSWORD: &str = "owner-password-123";

/// Tests measure time and memory: one at a time, so they do not crowd each other's cores.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

struct Server {
    child: Child,
    base: String,
    addr: std::net::SocketAddr,
    log: PathBuf,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Server {
    /// `taskyard serve --auth team` on a free loopback port with `args`.
    fn start(args: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).expect("data dir");
        let log = dir.path().join("server.log");
        let stderr = std::fs::File::create(&log).expect("log file");
        let mut child = common::taskyard(&data)
            .env("TASKYARD_LOG", "info")
            .env("TASKYARD_JWT_SECRET", SECRET)
            .args(["serve", "--port", "0", "--auth", "team"])
            .args(args)
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("spawn taskyard serve");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead as _;
            for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.split("Open ").nth(1) {
                    let _ = tx.send(url.trim_end_matches('/').to_owned());
                }
            }
        });
        let base = rx.recv_timeout(Duration::from_secs(30)).unwrap_or_else(|_| {
            panic!("the server printed no URL: {}", std::fs::read_to_string(&log).unwrap_or_default())
        });
        let addr = base.trim_start_matches("http://").parse().expect("address");
        let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().expect("client");
        Self { child, base, addr, log, http, _dir: dir }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn post(&self, path: &str, body: Value, from: Option<&str>) -> (StatusCode, Value) {
        let mut req = self.http.post(self.url(path)).json(&body);
        if let Some(ip) = from {
            req = req.header("x-forwarded-for", ip);
        }
        let res = req.send().await.expect("send");
        let status = res.status();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    /// Registers the first admin; their access token.
    async fn owner(&self) -> String {
        let body = json!({"email": "owner@example.com", "name": "Owner", "password": PASSWORD});
        let (status, session) = self.post("/api/auth/register", body, None).await;
        assert_eq!(status, StatusCode::CREATED, "{session}");
        session["access_token"].as_str().expect("token").to_owned()
    }

    async fn get(&self, path: &str, token: Option<&str>) -> reqwest::Response {
        let mut req = self.http.get(self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send().await.expect("send")
    }

    /// A field of `/proc/<pid>/status`, in kB.
    fn status_kb(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).expect("status");
        status
            .lines()
            .find_map(|l| l.strip_prefix(field)?.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("field")
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads until the peer closes (or `limit` passes); what was read, and whether it closed.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (Vec<u8>, bool) {
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + limit;
    let mut buf = [0u8; 4096];
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (got, true),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => return (got, false),
        }
    }
}

/// Reads one response head and its `content-length` body from a kept-alive connection.
async fn read_response(stream: &mut TcpStream) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    for _ in 0..64 {
        let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
            .await
            .expect("an answer in time")
            .expect("read");
        assert!(n > 0, "closed before answering: {}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let length = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned())
                })
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0);
            if body.len() >= length {
                return text;
            }
        }
    }
    panic!("no complete answer");
}

fn health_request(addr: std::net::SocketAddr) -> String {
    format!("GET /health HTTP/1.1\r\nhost: {addr}\r\n\r\n")
}

/// A log without its colours.
fn plain(log: &str) -> String {
    let mut out = String::with_capacity(log.len());
    let mut chars = log.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            chars.by_ref().find(|c| c.is_ascii_alphabetic());
        } else {
            out.push(c);
        }
    }
    out
}

#[tokio::test]
async fn slow_idle_and_stalled_connections_are_closed_by_the_timeouts() {
    let _serial = SERIAL.lock().await;
    let server = Server::start(&[
        "--header-timeout-seconds",
        "1",
        "--keep-alive-seconds",
        "3",
        "--body-timeout-seconds",
        "1",
    ]);
    // A connection that never sends anything.
    let started = Instant::now();
    let mut idle = TcpStream::connect(server.addr).await.expect("connect");
    let (_, closed) = read_until_closed(&mut idle, Duration::from_secs(5)).await;
    assert!(closed, "an idle connection is closed");
    let idle_for = started.elapsed();
    assert!(idle_for < Duration::from_secs(3), "closed after the header timeout, not later: {idle_for:?}");

    // Slow loris: a head at 2 bytes a second never completes in time.
    let started = Instant::now();
    let mut slow = TcpStream::connect(server.addr).await.expect("connect");
    let request = health_request(server.addr).into_bytes();
    let mut cut = false;
    for pair in request.chunks(2).take(20) {
        if slow.write_all(pair).await.is_err() {
            cut = true;
            break;
        }
        let (_, closed) = read_until_closed(&mut slow, Duration::from_secs(1)).await;
        if closed {
            cut = true;
            break;
        }
    }
    assert!(cut, "a head sent at 2 bytes/s is cut off");
    assert!(started.elapsed() < Duration::from_secs(4), "cut at the header timeout: {:?}", started.elapsed());

    // Kept alive: silence longer than the header timeout between requests is allowed, up to
    // the keep-alive limit.
    let mut kept = TcpStream::connect(server.addr).await.expect("connect");
    kept.write_all(health_request(server.addr).as_bytes()).await.expect("write");
    assert!(read_response(&mut kept).await.starts_with("HTTP/1.1 200"));
    tokio::time::sleep(Duration::from_millis(1600)).await;
    kept.write_all(health_request(server.addr).as_bytes()).await.expect("write");
    assert!(
        read_response(&mut kept).await.starts_with("HTTP/1.1 200"),
        "idle 1.6 s between requests is fine"
    );
    let started = Instant::now();
    let (_, closed) = read_until_closed(&mut kept, Duration::from_secs(6)).await;
    assert!(closed, "an idle kept-alive connection is closed");
    let kept_for = started.elapsed();
    assert!(
        kept_for >= Duration::from_secs(2) && kept_for < Duration::from_secs(5),
        "closed at the keep-alive limit: {kept_for:?}"
    );

    // A body that stalls: the request is answered 408 once the body deadline passes.
    let mut stalled = TcpStream::connect(server.addr).await.expect("connect");
    let head = format!(
        "POST /api/auth/login HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{{\"email\":",
        server.addr
    );
    stalled.write_all(head.as_bytes()).await.expect("write");
    let started = Instant::now();
    let (answer, closed) = read_until_closed(&mut stalled, Duration::from_secs(5)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(closed && started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
}

#[tokio::test]
async fn a_connection_flood_beyond_the_cap_is_refused_while_the_server_keeps_serving() {
    let _serial = SERIAL.lock().await;
    let server = Server::start(&["--max-connections", "32", "--header-timeout-seconds", "3"]);
    let token = server.owner().await;
    // Connections opened before the flood (the client keeps them alive).
    assert_eq!(server.get("/health", None).await.status(), StatusCode::OK);
    assert_eq!(server.get("/api/auth/me", Some(&token)).await.status(), StatusCode::OK);

    let mut flood = Vec::new();
    for _ in 0..200 {
        let mut s = TcpStream::connect(server.addr).await.expect("the listener accepts");
        let _ = s.write_all(b"GET /health HTTP/1.1\r\n").await;
        flood.push(s);
    }
    // Meanwhile: what was already connected is served.
    let started = Instant::now();
    assert_eq!(server.get("/health", None).await.status(), StatusCode::OK);
    assert_eq!(server.get("/api/auth/me", Some(&token)).await.status(), StatusCode::OK);
    assert!(started.elapsed() < Duration::from_secs(2), "served at once: {:?}", started.elapsed());

    let answers = futures::future::join_all(flood.iter_mut().map(|s| async {
        let (bytes, _) = read_until_closed(s, Duration::from_secs(6)).await;
        String::from_utf8_lossy(&bytes).into_owned()
    }))
    .await;
    let refused = answers.iter().filter(|a| a.starts_with("HTTP/1.1 503")).count();
    eprintln!("{refused} of 200 flood connections answered 503");
    // The cap counts the two kept-alive connections too; a few may end between counts.
    assert!(refused >= 200 - 32 - 8, "beyond the cap of 32, connections are answered 503: {refused}");
    let other: Vec<&String> =
        answers.iter().filter(|a| !a.is_empty() && !a.starts_with("HTTP/1.1 503")).collect();
    assert!(other.is_empty(), "the held ones are closed by the header timeout, unanswered: {other:?}");
    assert!(answers.iter().any(|a| a.contains("too many open connections")));

    // Afterwards: fresh connections are served again.
    let fresh = reqwest::Client::new();
    let res = fresh.get(server.url("/health")).send().await.expect("health");
    assert_eq!(res.status(), StatusCode::OK);
    let res = fresh.get(server.url("/api/auth/me")).bearer_auth(&token).send().await.expect("me");
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn registrations_stay_within_the_password_pool_and_closed_ones_hash_nothing() {
    let _serial = SERIAL.lock().await;
    let server = Server::start(&["--trusted-proxies", "127.0.0.1", "--password-hashes", "2"]);
    let token = server.owner().await;
    let rss_before = server.status_kb("VmRSS:");

    // Registration is closed (an admin exists): 64 at once, each refused before any hash.
    let started = Instant::now();
    let closed = futures::future::join_all((0..64).map(|i| {
        let body =
            json!({"email": format!("x{i}@example.com"), "name": "X", "password": "attacker-password"});
        let from = format!("10.1.{}.{}", i / 200, i % 200 + 1);
        let server = &server;
        async move { server.post("/api/auth/register", body, Some(&from)).await.0 }
    }))
    .await;
    let took = started.elapsed();
    assert!(closed.iter().all(|s| *s == StatusCode::FORBIDDEN), "{closed:?}");
    eprintln!("64 closed registrations answered in {took:?}");
    assert!(took < Duration::from_secs(3), "refused without hashing: {took:?}");
    // With an invite that cannot be used, too.
    let body = json!({"email": "y@example.com", "name": "Y", "password": "attacker-password", "invite": "ty_inv_nope"});
    let (status, answer) = server.post("/api/auth/register", body, Some("10.2.0.1")).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");

    // 64 registrations with valid invites at once: each needs a hash; the pool bounds memory.
    let mut invites = Vec::new();
    for _ in 0..64 {
        let res = server
            .http
            .post(server.url("/api/admin/invites"))
            .bearer_auth(&token)
            .json(&json!({}))
            .send()
            .await
            .expect("invite");
        assert_eq!(res.status(), StatusCode::CREATED);
        let invite: Value = res.json().await.expect("json");
        invites.push(invite["code"].as_str().expect("code").to_owned());
    }
    let started = Instant::now();
    let statuses = futures::future::join_all(invites.iter().enumerate().map(|(i, code)| {
        let body = json!({"email": format!("m{i}@example.com"), "name": "M", "password": "member-password", "invite": code});
        let from = format!("10.3.{}.{}", i / 200, i % 200 + 1);
        let server = &server;
        async move { server.post("/api/auth/register", body, Some(&from)).await.0 }
    }))
    .await;
    let took = started.elapsed();
    let created = statuses.iter().filter(|s| **s == StatusCode::CREATED).count();
    let busy = statuses.iter().filter(|s| **s == StatusCode::SERVICE_UNAVAILABLE).count();
    let peak = server.status_kb("VmHWM:");
    eprintln!(
        "64 concurrent registrations: {created} created, {busy} told to retry (503) in {took:?}; RSS {rss_before} kB before, peak {peak} kB"
    );
    assert_eq!(created + busy, 64, "created, or 503 when the pool is busy: {statuses:?}");
    assert!(created >= 2, "the pool works through what it can: {statuses:?}");
    assert!(peak < 200 * 1024, "the server's peak RSS stays bounded: {peak} kB");
    // Authenticated requests are not held up by the hashing.
    let started = Instant::now();
    assert_eq!(server.get("/api/auth/me", Some(&token)).await.status(), StatusCode::OK);
    assert!(started.elapsed() < Duration::from_millis(500), "{:?}", started.elapsed());
}

#[tokio::test]
async fn an_attackers_failed_sign_ins_do_not_lock_the_owner_out_elsewhere() {
    let _serial = SERIAL.lock().await;
    let server = Server::start(&["--trusted-proxies", "127.0.0.1"]);
    server.owner().await;
    let wrong = json!({"email": "owner@example.com", "password": "not-the-password"});
    let mut last = None;
    for _ in 0..6 {
        let res = server
            .http
            .post(server.url("/api/auth/login"))
            .header("x-forwarded-for", "203.0.113.9")
            .json(&wrong)
            .send()
            .await
            .expect("login");
        last = Some((res.status(), res.headers().get("retry-after").cloned()));
    }
    let (status, retry) = last.expect("answers");
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "the attacker's address is throttled");
    let retry: u64 = retry.expect("Retry-After").to_str().expect("text").parse().expect("seconds");
    assert!(retry > 0 && retry <= 900, "{retry}");
    // Even the right password waits from the attacker's address …
    let right = json!({"email": "owner@example.com", "password": PASSWORD});
    let (status, _) = server.post("/api/auth/login", right.clone(), Some("203.0.113.9")).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    // … but the owner, from their own address, signs in.
    let (status, session) = server.post("/api/auth/login", right, Some("198.51.100.7")).await;
    assert_eq!(status, StatusCode::OK, "{session}");
}

#[tokio::test]
async fn foreign_hosts_and_foreign_sessions_are_refused() {
    let _serial = SERIAL.lock().await;
    let server = Server::start(&[]);
    assert!(server.log().contains("no --public-url"), "a warning at start-up: {}", server.log());
    // A fresh server's first-admin registration through another name is refused.
    let res = server
        .http
        .post(server.url("/api/auth/register"))
        .header("host", "evil.com")
        .json(&json!({"email": "evil@example.com", "name": "E", "password": "evil-password-1"}))
        .send()
        .await
        .expect("register");
    assert_eq!(res.status(), StatusCode::MISDIRECTED_REQUEST);
    let body: Value = res.json().await.expect("json");
    assert!(body["message"].as_str().is_some_and(|m| m.contains("host")), "{body}");
    let mode: Value = server.get("/api/auth/mode", None).await.json().await.expect("mode");
    assert_eq!(mode["registration"], "first_admin", "nobody registered");
    let localhost = server.url("/api/auth/mode").replace("127.0.0.1", "localhost");
    assert_eq!(server.http.get(localhost).send().await.expect("mode").status(), StatusCode::OK);

    // A token naming another user's live session.
    let owner = server.owner().await;
    let res = server
        .http
        .post(server.url("/api/admin/users"))
        .bearer_auth(&owner)
        .json(&json!({"email": "member@example.com", "name": "M", "password": "member-password"}))
        .send()
        .await
        .expect("create user");
    assert_eq!(res.status(), StatusCode::CREATED);
    let member: Value = res.json().await.expect("user");
    let member_id: uuid::Uuid = member["id"].as_str().expect("id").parse().expect("uuid");
    let keys = JwtKeys::new(SECRET.as_bytes(), 900).expect("keys");
    let owner_sid = keys.verify(&owner).expect("claims").sid;
    let (forged, _) = keys.issue(member_id, "member", owner_sid).expect("token");
    let res = server.get("/api/auth/me", Some(&forged)).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "a session vouches only for its own user");
    assert_eq!(server.get("/api/auth/me", Some(&owner)).await.status(), StatusCode::OK);

    // With a public URL, only its name is answered (probes answer under any name).
    let public = Server::start(&["--public-url", "http://taskyard.test"]);
    let named = |path: &str| public.http.get(public.url(path)).header("host", "taskyard.test");
    assert_eq!(named("/api/auth/mode").send().await.expect("mode").status(), StatusCode::OK);
    assert_eq!(public.get("/api/auth/mode", None).await.status(), StatusCode::MISDIRECTED_REQUEST);
    assert_eq!(public.get("/health", None).await.status(), StatusCode::OK);
    let res = named("/api/auth/mode").header("origin", "http://evil.com").send().await.expect("mode");
    assert_eq!(res.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn pages_and_api_answers_carry_the_security_headers() {
    let _serial = SERIAL.lock().await;
    let server = Server::start(&[]);
    for path in ["/", "/api/auth/mode", "/api/projects"] {
        let res = server.get(path, None).await;
        let h = res.headers();
        let csp = h.get("content-security-policy").and_then(|v| v.to_str().ok()).unwrap_or_default();
        assert!(csp.contains("default-src 'self'"), "{path}: {csp}");
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(csp.contains(&format!("ws://{}", server.addr)), "{path}: {csp}");
        assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"), "{path}: {csp}");
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
    }
    // The page itself runs no inline script the policy would block.
    let page = server.get("/", None).await.text().await.expect("page");
    for script in page.split("<script").skip(1) {
        let tag = script.split('>').next().unwrap_or_default();
        assert!(tag.contains("src="), "an inline script: <script{tag}>");
    }
}

#[tokio::test]
async fn bad_project_paths_answer_422_and_the_log_stays_short() {
    let _serial = SERIAL.lock().await;
    let server = Server::start(&[]);
    let token = server.owner().await;
    let long_part = format!("/tmp/{}", "a".repeat(300));
    let huge = format!("/tmp/\u{0}{}", "b".repeat(2_000_000));
    for path in ["/tmp/a\u{0}b", long_part.as_str(), huge.as_str()] {
        let res = server
            .http
            .post(server.url("/api/projects"))
            .bearer_auth(&token)
            .json(&json!({"path": path}))
            .send()
            .await
            .expect("create");
        let status = res.status();
        let body: Value = res.json().await.expect("json");
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{}", body.to_string().len());
        assert_eq!(body["field"], "path");
        assert!(body.to_string().len() < 1000, "the answer does not quote the path");
    }
    let log = plain(&server.log());
    let longest = log.lines().map(str::len).max().unwrap_or(0);
    assert!(longest < 2000, "no log line quotes a body: the longest has {longest} bytes");
    let refused: Vec<&str> = log.lines().filter(|l| l.contains("refused a project path")).collect();
    assert_eq!(refused.len(), 3, "one line per refused request: {refused:?}");
    assert!(refused.iter().all(|l| l.contains("request_id=")), "with the request id: {refused:?}");
}

#[tokio::test]
async fn websockets_beyond_the_per_user_cap_are_answered_503() {
    let _serial = SERIAL.lock().await;
    let server = Server::start(&["--max-websockets-per-user", "2"]);
    let token = server.owner().await;
    let url = format!("ws://{}/api/events?access_token={token}", server.addr);
    let first = tokio_tungstenite::connect_async(&url).await.expect("first socket");
    let second = tokio_tungstenite::connect_async(&url).await.expect("second socket");
    match tokio_tungstenite::connect_async(&url).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => assert_eq!(res.status().as_u16(), 503),
        other => panic!("a third socket of one user: {:?}", other.map(|(_, r)| r.status())),
    }
    drop(first);
    // A closed socket frees its place (the server notices the close shortly).
    common::eventually(Duration::from_secs(5), "a freed socket place", || async {
        tokio_tungstenite::connect_async(&url).await.is_ok()
    })
    .await;
    drop(second);
}

/// A login's `Set-Cookie` (with `headers` on the request).
async fn login_cookie(server: &Server, headers: &[(&str, &str)]) -> (StatusCode, String) {
    let mut req = server
        .http
        .post(server.url("/api/auth/login"))
        .json(&json!({"email": "owner@example.com", "password": PASSWORD}));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = req.send().await.expect("login");
    let cookie = res.headers().get("set-cookie").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    (res.status(), cookie)
}

#[tokio::test]
async fn forwarded_headers_count_only_from_trusted_proxies() {
    let _serial = SERIAL.lock().await;
    // A trusted proxy (this test, on loopback) says https: the refresh cookie is Secure.
    let server = Server::start(&["--trusted-proxies", "10.9.0.0/16, 127.0.0.1"]);
    server.owner().await;
    let (status, plain) = login_cookie(&server, &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(plain.contains("HttpOnly") && !plain.contains("Secure"), "plain http: {plain}");
    let (_, https) = login_cookie(&server, &[("x-forwarded-proto", "https")]).await;
    assert!(https.ends_with("; Secure"), "through an https proxy: {https}");
    // The audit log keeps the forwarded client, not the proxy.
    let (_, session) = server
        .post(
            "/api/auth/login",
            json!({"email": "owner@example.com", "password": PASSWORD}),
            Some("6.6.6.6, 198.51.100.23"),
        )
        .await;
    let token = session["access_token"].as_str().expect("token");
    let audit: Value = server.get("/api/admin/audit", Some(token)).await.json().await.expect("audit");
    let text = audit.to_string();
    assert!(text.contains("198.51.100.23") && !text.contains("6.6.6.6"), "{text}");
    drop(server);

    // Nobody trusted: the same claims from the same peer change nothing.
    let server = Server::start(&["--trusted-proxies", "192.0.2.1"]);
    server.owner().await;
    let (_, cookie) = login_cookie(&server, &[("x-forwarded-proto", "https")]).await;
    assert!(!cookie.contains("Secure"), "an untrusted peer posed as https: {cookie}");
    // An attacker rotating X-Forwarded-For still counts as one address.
    let wrong = json!({"email": "someone@example.com", "password": "guess-guess-guess"});
    let mut statuses = Vec::new();
    for i in 0..21 {
        let (status, _) =
            server.post("/api/auth/login", wrong.clone(), Some(&format!("203.0.113.{i}"))).await;
        statuses.push(status);
    }
    assert_eq!(statuses.last(), Some(&StatusCode::TOO_MANY_REQUESTS), "{statuses:?}");
    drop(server);

    // An https public URL: Secure whatever the request says.
    let server = Server::start(&["--public-url", "https://localhost"]);
    let res = server
        .http
        .post(server.url("/api/auth/register"))
        .header("host", "localhost")
        .json(&json!({"email": "owner@example.com", "name": "Owner", "password": PASSWORD}))
        .send()
        .await
        .expect("register");
    assert_eq!(res.status(), StatusCode::CREATED);
    let cookie = res.headers().get("set-cookie").and_then(|v| v.to_str().ok()).unwrap_or_default();
    assert!(cookie.ends_with("; Secure"), "{cookie}");
}

#[test]
fn a_bad_trusted_proxy_entry_is_refused_by_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = common::taskyard(&dir.path().join("data"))
        .env("TASKYARD_JWT_SECRET", SECRET)
        .env("TASKYARD_TRUSTED_PROXIES", "127.0.0.1, 10.0.0.0/40")
        .args(["serve", "--port", "0", "--auth", "team"])
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("TASKYARD_TRUSTED_PROXIES") && err.contains("\"10.0.0.0/40\""), "{err}");
}

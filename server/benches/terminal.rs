//! Terminal figures, on the server as the desktop app runs it (in-process, local mode) with a
//! WebSocket client on loopback:
//! - echo latency: a keystroke sent as an input frame until its echo arrives as an output
//!   frame (the PTY's own echo, through the reader thread, the ring and the socket), p50/p99;
//! - flood: `yes` for `BENCH_SECONDS` (default 10) with the client acknowledging what it
//!   received, the throughput delivered and the process's RSS growth;
//! - the PTY alone: the same flood read in-process without a socket, the machine's ceiling;
//! - idle sessions: the RSS of 50 idle shells' sessions, per session (the shell processes
//!   themselves are the kernel's, not the server's).
//!
//! `cargo bench -p taskyard-server --bench terminal`. Targets: echo p99 ≤ 5 ms, flood ≥ 30
//! MB/s with RSS growth ≤ 16 MiB, ≤ 1 MiB per idle session.

use std::time::{Duration, Instant};

use futures::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use taskyard_core::terminal::protocol::{ClientFrame, ServerFrame};
use taskyard_core::terminal::{Limits, Session, Spec};
use taskyard_server::local::{self, LocalOptions};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

struct Api {
    base: String,
    token: String,
    client: reqwest::Client,
}

impl Api {
    async fn post(&self, path: &str, body: Value) -> Value {
        let res = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await;
        let res = res.expect("request");
        assert!(res.status().is_success(), "{path}: {}", res.status());
        res.json().await.expect("json")
    }

    async fn terminal(&self, project: &str) -> (String, Ws) {
        let t = self.post("/api/terminals", json!({"project_id": project, "cols": 200, "rows": 50})).await;
        let id = t["id"].as_str().expect("id").to_owned();
        let ticket = self.post(&format!("/api/terminals/{id}/ticket"), json!({})).await;
        let mut req = format!(
            "ws://{}/api/terminals/{id}/socket?ticket={}",
            self.base.trim_start_matches("http://"),
            ticket["ticket"].as_str().expect("ticket")
        )
        .into_client_request()
        .expect("request");
        req.headers_mut().insert("authorization", format!("Bearer {}", self.token).parse().expect("header"));
        // Without Nagle's algorithm, as browsers open WebSockets: a keystroke is not held
        // back waiting for the last one's acknowledgement.
        (id, tokio_tungstenite::connect_async_with_config(req, None, true).await.expect("socket").0)
    }
}

/// The next output frame's offset and bytes.
async fn output(ws: &mut Ws) -> (u64, Vec<u8>) {
    loop {
        match ws.next().await.expect("open").expect("frame") {
            Message::Binary(frame) => {
                if let ServerFrame::Output { offset, bytes } = ServerFrame::decode(&frame).expect("frame") {
                    return (offset, bytes);
                }
            }
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
}

async fn send(ws: &mut Ws, frame: ClientFrame) {
    ws.send(Message::Binary(frame.encode().into())).await.expect("send");
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn echo_latency(api: &Api, project: &str) {
    let (_, mut ws) = api.terminal(project).await;
    // The shell's prompt first.
    output(&mut ws).await;
    let mut samples = Vec::new();
    for i in 0..2_000 {
        let key = b'a' + (i % 26) as u8;
        let started = Instant::now();
        send(&mut ws, ClientFrame::Input(vec![key])).await;
        let at = loop {
            let (offset, bytes) = output(&mut ws).await;
            if bytes.contains(&key) {
                break offset + bytes.len() as u64;
            }
        };
        samples.push(started.elapsed());
        send(&mut ws, ClientFrame::Ack(at)).await;
        if i % 100 == 99 {
            // A line at a time keeps the shell's line short.
            send(&mut ws, ClientFrame::Input(vec![0x15])).await; // Ctrl-U
        }
    }
    samples.sort();
    println!(
        "echo latency (keystroke → echoed byte at the client), {} samples: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        samples.len(),
        percentile(&samples, 0.5).as_secs_f64() * 1e3,
        percentile(&samples, 0.99).as_secs_f64() * 1e3,
        samples.last().expect("samples").as_secs_f64() * 1e3,
    );
}

async fn flood(api: &Api, project: &str, seconds: u64) {
    let (_, mut ws) = api.terminal(project).await;
    let before = rss_mib();
    send(&mut ws, ClientFrame::Input(b"yes\r".to_vec())).await;
    let started = Instant::now();
    let mut received = 0u64;
    let mut peak = before;
    let mut last_ack = 0u64;
    while started.elapsed() < Duration::from_secs(seconds) {
        let (offset, bytes) = output(&mut ws).await;
        received += bytes.len() as u64;
        let at = offset + bytes.len() as u64;
        // Acknowledged every ~5,000 bytes, as a terminal does once it has drawn them.
        if at - last_ack >= 5_000 {
            send(&mut ws, ClientFrame::Ack(at)).await;
            last_ack = at;
            peak = peak.max(rss_mib());
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    send(&mut ws, ClientFrame::Input(vec![0x03])).await; // Ctrl-C
    println!(
        "flood (`yes` for {seconds} s, acknowledged every 5,000 bytes): {:.1} MB/s delivered ({:.0} MB), RSS {before:.1} → peak {peak:.1} MiB (growth {:.1} MiB)",
        received as f64 / elapsed / 1e6,
        received as f64 / 1e6,
        peak - before,
    );
}

/// The PTY alone: `yes` read by a session whose output is acknowledged as it comes, without
/// a socket; the machine's ceiling for the flood above.
fn pty_alone(seconds: u64) {
    let dir = tempfile::tempdir().expect("tempdir");
    let env = [("PATH", "/usr/bin:/bin")].map(|(k, v)| (k.to_owned(), v.to_owned())).into();
    let mut spec = Spec::shell("yes", dir.path(), env);
    spec.program = "/usr/bin/yes".into();
    let session = Session::spawn(&spec, Limits::default()).expect("spawn");
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(seconds) {
        session.ack(session.span().1);
        std::thread::sleep(Duration::from_micros(200));
    }
    let read = session.span().1;
    println!(
        "the PTY alone (`yes` read and acknowledged in-process, no socket): {:.1} MB/s",
        read as f64 / started.elapsed().as_secs_f64() / 1e6
    );
}

fn idle_sessions() {
    let dir = tempfile::tempdir().expect("tempdir");
    let env = [("PATH", "/usr/bin:/bin"), ("HOME", "/tmp")].map(|(k, v)| (k.to_owned(), v.to_owned())).into();
    let spec = Spec::shell("/bin/sh", dir.path(), env);
    let before = rss_mib();
    let sessions: Vec<Session> =
        (0..50).map(|_| Session::spawn(&spec, Limits::default()).expect("spawn")).collect();
    std::thread::sleep(Duration::from_millis(500));
    let after = rss_mib();
    println!(
        "50 idle sessions: RSS {before:.1} → {after:.1} MiB, {:.2} MiB per session",
        (after - before) / 50.0
    );
    drop(sessions);
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let seconds = std::env::var("BENCH_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(10);
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(&repo).expect("mkdir");
    for args in [&["init", "-q", "-b", "main"][..], &["commit", "-q", "--allow-empty", "-m", "first"]] {
        let ok = std::process::Command::new("git")
            .args(["-c", "user.name=T", "-c", "user.email=t@example.com"])
            .args(args)
            .current_dir(&repo)
            .status()
            .expect("git");
        assert!(ok.success());
    }
    let mut options = LocalOptions::new(dir.path().join("data"));
    options.terminal_shell = Some("/bin/sh".into());
    let running = local::start(options).await.expect("server");
    let url = reqwest::Url::parse(&running.url).expect("url");
    let token = url.query_pairs().find(|(k, _)| k == "token").map(|(_, v)| v.into_owned()).expect("token");
    let api = Api { base: format!("http://{}", running.addr), token, client: reqwest::Client::new() };
    let project = api.post("/api/projects", json!({"path": repo.display().to_string()})).await;
    let project = project["id"].as_str().expect("id").to_owned();
    echo_latency(&api, &project).await;
    flood(&api, &project, seconds).await;
    pty_alone(seconds.min(5));
    idle_sessions();
    running.stop().await.expect("stop");
}

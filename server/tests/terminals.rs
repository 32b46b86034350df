//! Terminals through the API and their socket, on the server as the desktop app runs it
//! (local mode, in-process): open in a project, type and read, resize, reattach with a new
//! ticket where the last socket left off, tickets that are single-use and bound to their
//! terminal, bad frames, limits, and a team server that refuses terminals until they are
//! sandboxed.

mod common;

use std::time::Duration;

use futures::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use taskyard_core::terminal::protocol::{ClientFrame, ServerFrame, Size};
use taskyard_server::local::{self, LocalOptions};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

struct Local {
    base: String,
    token: String,
    client: reqwest::Client,
    running: taskyard_server::http::Running,
    _dir: tempfile::TempDir,
    repo: std::path::PathBuf,
}

async fn start() -> Local {
    let dir = tempfile::tempdir().unwrap();
    let repo = common::repo(&dir.path().join("repo"));
    let mut options = LocalOptions::new(dir.path().join("data"));
    // sh, without the rc files of whoever runs the tests (a prompt hook may read what is
    // typed); bash is the core tests' and the e2e's.
    options.terminal_shell = Some("/bin/sh".into());
    let running = local::start(options).await.expect("starts");
    let url = reqwest::Url::parse(&running.url).unwrap();
    let token = url.query_pairs().find(|(k, _)| k == "token").map(|(_, v)| v.into_owned()).unwrap();
    Local {
        base: format!("http://{}", running.addr),
        token,
        client: reqwest::Client::new(),
        running,
        _dir: dir,
        repo,
    }
}

impl Local {
    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self.client.request(method, format!("{}{path}", self.base)).bearer_auth(&self.token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    async fn project(&self) -> String {
        let (status, p) = self
            .call(
                reqwest::Method::POST,
                "/api/projects",
                Some(json!({"path": self.repo.display().to_string()})),
            )
            .await;
        assert_eq!(status, 201, "{p}");
        p["id"].as_str().unwrap().to_owned()
    }

    async fn terminal(&self, project: &str) -> String {
        let (status, t) = self
            .call(
                reqwest::Method::POST,
                "/api/terminals",
                Some(json!({"project_id": project, "cols": 90, "rows": 20})),
            )
            .await;
        assert_eq!(status, 201, "{t}");
        t["id"].as_str().unwrap().to_owned()
    }

    async fn ticket(&self, terminal: &str) -> String {
        let (status, t) =
            self.call(reqwest::Method::POST, &format!("/api/terminals/{terminal}/ticket"), None).await;
        assert_eq!(status, 201, "{t}");
        t["ticket"].as_str().unwrap().to_owned()
    }

    /// Opens the socket (the local token as a bearer, as the window's cookie would be).
    async fn socket(&self, terminal: &str, ticket: &str, offset: u64) -> Result<Ws, u16> {
        let mut req = format!(
            "ws://{}/api/terminals/{terminal}/socket?ticket={ticket}&offset={offset}",
            self.base.trim_start_matches("http://")
        )
        .into_client_request()
        .unwrap();
        req.headers_mut().insert("authorization", format!("Bearer {}", self.token).parse().unwrap());
        match tokio_tungstenite::connect_async(req).await {
            Ok((ws, _)) => Ok(ws),
            Err(tokio_tungstenite::tungstenite::Error::Http(res)) => Err(res.status().as_u16()),
            Err(e) => panic!("{e}"),
        }
    }
}

async fn send(ws: &mut Ws, frame: ClientFrame) {
    ws.send(Message::Binary(frame.encode().into())).await.unwrap();
}

/// Reads output frames (acknowledging them) until `done` holds for the text; the offset after.
async fn read_until(ws: &mut Ws, from: u64, done: impl Fn(&str) -> bool) -> (String, u64, Option<i32>) {
    let mut text = Vec::new();
    let mut at = from;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let msg = tokio::time::timeout_at(deadline, ws.next())
            .await
            .unwrap_or_else(|_| panic!("timed out; read: {}", String::from_utf8_lossy(&text)));
        match msg {
            Some(Ok(Message::Binary(frame))) => match ServerFrame::decode(&frame).unwrap() {
                ServerFrame::Output { offset, bytes } => {
                    assert_eq!(offset, at, "output continues where it was");
                    at += bytes.len() as u64;
                    text.extend_from_slice(&bytes);
                    send(ws, ClientFrame::Ack(at)).await;
                    if done(&String::from_utf8_lossy(&text)) {
                        return (String::from_utf8_lossy(&text).into_owned(), at, None);
                    }
                }
                ServerFrame::Exit(code) => {
                    return (String::from_utf8_lossy(&text).into_owned(), at, Some(code));
                }
                ServerFrame::Error(e) => panic!("error frame: {e}"),
            },
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            other => panic!("the socket ended: {other:?}; read: {}", String::from_utf8_lossy(&text)),
        }
    }
}

/// Waits until the shell reads what is typed: the user's shell may drop input while it starts
/// (bash's readline sets the terminal up after printing its first prompt, and rc files may
/// take their time), so Enter is pressed until a fresh prompt answers. The offset after it.
async fn ready(ws: &mut Ws) -> u64 {
    let (_, mut at, _) = read_until(ws, 0, |t| t.trim_end().ends_with(['#', '$'])).await;
    for _ in 0..20 {
        send(ws, ClientFrame::Input(b"\r".to_vec())).await;
        let mut seen = Vec::new();
        // Frames as they come, until a fresh prompt or half a second of quiet.
        while let Ok(Some(Ok(msg))) = tokio::time::timeout(Duration::from_millis(500), ws.next()).await {
            if let Message::Binary(frame) = msg
                && let ServerFrame::Output { offset, bytes } = ServerFrame::decode(&frame).unwrap()
            {
                assert_eq!(offset, at);
                at += bytes.len() as u64;
                seen.extend_from_slice(&bytes);
                send(ws, ClientFrame::Ack(at)).await;
                let text = String::from_utf8_lossy(&seen);
                if text.contains('\n') && text.trim_end().ends_with(['#', '$']) {
                    return at;
                }
            }
        }
    }
    panic!("the shell never answered Enter");
}

/// The close frame's code and reason, skipping what comes before it.
async fn closed_with(ws: &mut Ws) -> (u16, String) {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next()).await.expect("a close") {
            Some(Ok(Message::Close(Some(frame)))) => return (frame.code.into(), frame.reason.to_string()),
            Some(Ok(Message::Close(None))) | None => return (1005, String::new()),
            Some(Ok(_)) => {}
            Some(Err(e)) => panic!("{e}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminal_runs_a_shell_in_the_project_and_reattaches_without_loss() {
    let s = start().await;
    let project = s.project().await;
    let terminal = s.terminal(&project).await;
    let mut ws = s.socket(&terminal, &s.ticket(&terminal).await, 0).await.unwrap();
    let at = ready(&mut ws).await;
    send(&mut ws, ClientFrame::Input(b"pwd; stty size; echo mark-$((6*7))\r".to_vec())).await;
    let (text, at, _) = read_until(&mut ws, at, |t| t.contains("mark-42")).await;
    assert!(text.contains(&s.repo.display().to_string()), "{text}");
    assert!(text.contains("20 90"), "{text}");
    send(&mut ws, ClientFrame::Resize(Size::new(120, 33).unwrap())).await;
    send(&mut ws, ClientFrame::Input(b"stty size; echo mark-$((7*7))\r".to_vec())).await;
    let (text, at, _) = read_until(&mut ws, at, |t| t.contains("mark-49")).await;
    assert!(text.contains("33 120"), "{text}");

    // The connection drops while the shell prints (it pauses after line 100 for that); a new
    // socket from where the last one was shown gets the rest, once.
    send(
        &mut ws,
        ClientFrame::Input(
            b"stty -echo; for i in $(seq 1 500); do echo n$i; [ $i = 100 ] && sleep 1; done; echo end-$((1+1))\r".to_vec(),
        ),
    )
    .await;
    let (first, at2, _) = read_until(&mut ws, at, |t| t.contains("n100\r\n")).await;
    drop(ws);
    let (status, list) = s.call(reqwest::Method::GET, "/api/terminals", None).await;
    assert_eq!(status, 200);
    assert_eq!(list.as_array().unwrap().len(), 1, "the terminal outlives its socket: {list}");
    let mut ws = s.socket(&terminal, &s.ticket(&terminal).await, at2).await.unwrap();
    let (rest, _, _) = read_until(&mut ws, at2, |t| t.contains("end-2")).await;
    let numbers: Vec<u32> = format!("{first}{rest}")
        .split("\r\n")
        // The first follows the shell's control sequence and a carriage return on its line.
        .filter_map(|l| l.rsplit('\r').next()?.strip_prefix('n')?.parse().ok())
        .collect();
    assert_eq!(numbers, (1..=500).collect::<Vec<_>>());

    // A second socket takes over; the first is told.
    let mut other = s.socket(&terminal, &s.ticket(&terminal).await, 0).await.unwrap();
    assert_eq!(closed_with(&mut ws).await.0, 4000);
    send(&mut other, ClientFrame::Input(b"exit 7\r".to_vec())).await;
    let (_, _, code) = read_until(&mut other, 0, |_| false).await;
    assert_eq!(code, Some(7));
    assert_eq!(closed_with(&mut other).await, (1000, "the shell exited".to_owned()));
    s.running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tickets_are_single_use_and_bad_frames_close_with_why() {
    let s = start().await;
    let project = s.project().await;
    let terminal = s.terminal(&project).await;
    let other = s.terminal(&project).await;
    let ticket = s.ticket(&terminal).await;
    assert_eq!(s.socket(&other, &ticket, 0).await.err(), Some(401), "a ticket opens its own terminal only");
    assert_eq!(s.socket(&terminal, &ticket, 0).await.err(), Some(401), "a ticket tried elsewhere is spent");
    assert_eq!(s.socket(&terminal, "made-up", 0).await.err(), Some(401));
    let ticket = s.ticket(&terminal).await;
    let mut ws = s.socket(&terminal, &ticket, 0).await.unwrap();
    assert_eq!(s.socket(&terminal, &ticket, 0).await.err(), Some(401), "a used ticket is refused");

    ws.send(Message::Text("echo hi".into())).await.unwrap();
    assert_eq!(closed_with(&mut ws).await, (1003, "binary frames only".to_owned()));
    let mut ws = s.socket(&terminal, &s.ticket(&terminal).await, 0).await.unwrap();
    ws.send(Message::Binary(vec![1, 0, 0, 0, 0].into())).await.unwrap();
    let (code, reason) = closed_with(&mut ws).await;
    assert_eq!(code, 1008);
    assert!(reason.contains("0×0"), "{reason}");
    let mut ws = s.socket(&terminal, &s.ticket(&terminal).await, 0).await.unwrap();
    ws.send(Message::Binary(vec![0x55].into())).await.unwrap();
    assert_eq!(closed_with(&mut ws).await, (1008, "unknown frame opcode 0x55".to_owned()));
    // An oversized frame ends the connection without the shell seeing it.
    let mut ws = s.socket(&terminal, &s.ticket(&terminal).await, 0).await.unwrap();
    let huge = [&[0u8][..], &vec![b'x'; 200 * 1024]].concat();
    let _ = ws.send(Message::Binary(huge.into())).await;
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert!(ended.is_ok(), "an oversized frame closes the socket");

    // Bad requests to open one.
    for (body, status) in [
        (json!({"project_id": project, "cols": 0, "rows": 24}), 422),
        (json!({"project_id": project, "cols": 100_000, "rows": 24}), 422),
        (json!({"project_id": uuid::Uuid::now_v7()}), 404),
        (json!({"project_id": project, "task_id": uuid::Uuid::now_v7()}), 404),
        (json!({"project_id": project, "shell": "/bin/evil"}), 422),
    ] {
        let (got, error) = s.call(reqwest::Method::POST, "/api/terminals", Some(body.clone())).await;
        assert_eq!(got, status, "{body}: {error}");
        assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()), "{error}");
    }
    // Two are open; two more are allowed, then the limit says so.
    s.terminal(&project).await;
    s.terminal(&project).await;
    let (got, error) =
        s.call(reqwest::Method::POST, "/api/terminals", Some(json!({"project_id": project}))).await;
    assert_eq!(got, 429, "{error}");
    assert!(error["message"].as_str().unwrap().contains("4 terminals open"), "{error}");

    // Closing ends the shell; its id is gone.
    let (status, _) = s.call(reqwest::Method::DELETE, &format!("/api/terminals/{terminal}"), None).await;
    assert_eq!(status, 204);
    let (status, _) = s.call(reqwest::Method::DELETE, &format!("/api/terminals/{terminal}"), None).await;
    assert_eq!(status, 404);
    let (status, _) = s.call(reqwest::Method::POST, &format!("/api/terminals/{terminal}/ticket"), None).await;
    assert_eq!(status, 404);
    s.running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_without_a_worktree_has_no_terminal_yet() {
    let s = start().await;
    let project = s.project().await;
    let (status, task) = s
        .call(
            reqwest::Method::POST,
            &format!("/api/projects/{project}/tasks"),
            Some(json!({"title": "t", "agent": "command", "agent_config": {"command": "true"}})),
        )
        .await;
    assert_eq!(status, 201, "{task}");
    let (status, error) = s
        .call(
            reqwest::Method::POST,
            "/api/terminals",
            Some(json!({"project_id": project, "task_id": task["id"]})),
        )
        .await;
    assert_eq!(status, 409, "{error}");
    assert!(error["message"].as_str().unwrap().contains("no worktree yet"));
    s.running.stop().await.unwrap();
}

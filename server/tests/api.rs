//! The API against a real server on a free port, on SQLite and on Postgres: auth in local
//! mode, bad input, a task driven from start to merge with its log streamed over a socket,
//! stop, follow-ups, paging, and graceful shutdown. No response in these tests may be a 5xx.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use futures::StreamExt as _;
use reqwest::StatusCode;
use serde_json::{Value, json};
use taskyard_core::store::{AnyStore, Store};
use taskyard_server::http::{Mode, Running, ServeOptions, start};
use taskyard_test_support::pg::TestDatabase;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

struct Server {
    running: Option<Running>,
    base: String,
    token: String,
    http: reqwest::Client,
    store: AnyStore,
    repo: PathBuf,
    _dirs: tempfile::TempDir,
    _db: Option<TestDatabase>,
}

fn git(repo: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(["-c", "user.name=Test", "-c", "user.email=test@example.com"])
        .args(args)
        .current_dir(repo)
        .output()
        .expect("git");
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

impl Server {
    async fn start(postgres: bool) -> Self {
        let dirs = tempfile::tempdir().expect("tempdir");
        let repo = dirs.path().join("repo");
        std::fs::create_dir_all(&repo).expect("mkdir");
        git(&repo, &["init", "-q", "-b", "main"]);
        std::fs::write(repo.join("README.md"), "# demo\n").expect("write");
        git(&repo, &["add", "."]);
        git(&repo, &["commit", "-q", "-m", "first"]);
        let (store, db) = if postgres {
            let db = TestDatabase::create().await.expect("database");
            (AnyStore::connect(&db.url).await.expect("postgres"), Some(db))
        } else {
            (AnyStore::sqlite(&dirs.path().join("t.db")).await.expect("sqlite"), None)
        };
        let running = start(ServeOptions {
            port: 0,
            data_dir: dirs.path().join("data"),
            store: store.clone(),
            mode: Mode::Local,
            queue: Default::default(),
            sandbox: None,
            limits: Default::default(),
            startup: Default::default(),
        })
        .await
        .expect("start");
        let token = running.url.split("token=").nth(1).expect("token in url").to_owned();
        let base = format!("http://{}", running.addr);
        Server {
            running: Some(running),
            base,
            token,
            http: reqwest::Client::new(),
            store,
            repo,
            _dirs: dirs,
            _db: db,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut req = self.http.request(method, self.url(path)).bearer_auth(&self.token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        let res = req.send().await.expect("request");
        let status = res.status();
        assert!(!status.is_server_error(), "{path} answered {status}");
        let text = res.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(reqwest::Method::GET, path, None).await
    }
    async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(reqwest::Method::POST, path, Some(body)).await
    }
    async fn patch(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(reqwest::Method::PATCH, path, Some(body)).await
    }
    async fn delete(&self, path: &str) -> (StatusCode, Value) {
        self.call(reqwest::Method::DELETE, path, None).await
    }

    async fn ws(&self, path: &str) -> Ws {
        let mut req = format!("ws://{}{path}", self.base.trim_start_matches("http://"))
            .into_client_request()
            .expect("ws request");
        req.headers_mut().insert("authorization", format!("Bearer {}", self.token).parse().expect("header"));
        tokio_tungstenite::connect_async(req).await.expect("ws connect").0
    }

    async fn project(&self) -> Value {
        let (status, project) =
            self.post("/api/projects", json!({"path": self.repo.display().to_string()})).await;
        assert_eq!(status, StatusCode::CREATED, "{project}");
        project
    }

    async fn task(&self, project: &Value, title: &str, command: &str) -> Value {
        let (status, task) = self
            .post(
                &format!("/api/projects/{}/tasks", project["id"].as_str().expect("id")),
                json!({"title": title, "description": format!("please {title}"), "agent": "command", "agent_config": {"command": command}}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{task}");
        task
    }
}

/// Reads a log socket to its end: every entry, then the `end` message's run and the close
/// code.
async fn read_log(ws: &mut Ws) -> (Vec<Value>, Option<Value>, Option<CloseCode>) {
    let mut entries = Vec::new();
    let mut end = None;
    while let Some(msg) =
        tokio::time::timeout(Duration::from_secs(60), ws.next()).await.expect("log socket stalled")
    {
        match msg.expect("ws message") {
            Message::Text(text) => {
                let v: Value = serde_json::from_str(&text).expect("json");
                match v["type"].as_str() {
                    Some("entries") => {
                        entries.extend(v["entries"].as_array().expect("entries").iter().cloned())
                    }
                    Some("end") => end = Some(v["run"].clone()),
                    other => panic!("unexpected message {other:?}"),
                }
            }
            Message::Close(frame) => return (entries, end, frame.map(|f| f.code)),
            _ => {}
        }
    }
    (entries, end, None)
}

/// Reads the log socket until the agent prints the line `needle` (its own output, not a
/// note that quotes its command or prompt).
async fn wait_for_line(ws: &mut Ws, needle: &str) -> i64 {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(60), ws.next())
            .await
            .expect("stalled")
            .expect("open")
            .expect("msg");
        if let Message::Text(text) = msg {
            let v: Value = serde_json::from_str(&text).expect("json");
            for e in v["entries"].as_array().into_iter().flatten() {
                if e["kind"] == "stdout" && e["text"] == needle {
                    return e["seq"].as_i64().expect("seq");
                }
            }
        }
    }
}

macro_rules! on_both {
    ($($story:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $story() {
                    super::$story(super::Server::start(false).await).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $story() {
                    super::$story(super::Server::start(true).await).await;
                }
            )*
        }
    };
}

on_both!(
    local_mode_requires_the_token_and_our_own_host,
    bad_input_gets_clear_errors_and_nothing_is_lost,
    a_task_runs_to_a_merge_with_its_log_on_a_socket,
    stop_follow_up_and_history,
    the_board_pages_its_columns_and_follows_changes,
    shutdown_closes_sockets_and_requeues_runs,
);

async fn local_mode_requires_the_token_and_our_own_host(s: Server) {
    let plain =
        reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let res = plain.get(s.url("/api/projects")).send().await.expect("send");
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["error"], "unauthorized");
    let res = plain.get(s.url("/api/projects")).bearer_auth("wrong").send().await.expect("send");
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = plain
        .get(s.url("/api/projects"))
        .bearer_auth(&s.token)
        .header("Origin", "http://evil.example")
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), StatusCode::FORBIDDEN, "a foreign page cannot call the API");
    let res = plain
        .get(s.url("/api/projects"))
        .bearer_auth(&s.token)
        .header("Host", format!("attacker.example:{}", s.running.as_ref().expect("running").addr.port()))
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), StatusCode::FORBIDDEN, "DNS rebinding: a foreign host name is refused");
    let res = plain.get(s.url("/health")).send().await.expect("send");
    assert_eq!(res.status(), StatusCode::OK, "liveness needs no token");
    let health: Value = res.json().await.expect("json");
    assert_eq!((health["status"].as_str(), health["active_runs"].as_u64()), (Some("ok"), Some(0)));
    let ready: Value = plain.get(s.url("/ready")).send().await.expect("send").json().await.expect("json");
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["database"], s.store.backend());

    // The printed URL: the token becomes a cookie and leaves the address bar.
    let res = plain.get(s.url(&format!("/?token={}", s.token))).send().await.expect("send");
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(res.headers()["location"], "/");
    let cookie = res.headers()["set-cookie"].to_str().expect("cookie").to_owned();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    let pair = cookie.split(';').next().expect("pair").to_owned();
    let res = plain.get(s.url("/api/projects")).header("Cookie", &pair).send().await.expect("send");
    assert_eq!(res.status(), StatusCode::OK);
    let page = plain.get(s.url("/")).header("Cookie", &pair).send().await.expect("send");
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.headers()["content-type"].to_str().expect("ct").starts_with("text/html"));
    let html = plain.get(s.url("/")).header("Accept", "text/html").send().await.expect("send");
    assert_eq!(html.status(), StatusCode::UNAUTHORIZED);
    assert!(html.text().await.expect("text").contains("taskyard serve"), "a person is told what to open");

    // WebSockets are guarded the same way.
    let req = format!("ws://{}/api/events", s.base.trim_start_matches("http://"));
    let refused = tokio_tungstenite::connect_async(req).await;
    assert!(refused.is_err(), "a socket without the token is refused");
}

async fn bad_input_gets_clear_errors_and_nothing_is_lost(s: Server) {
    let project = s.project().await;
    let pid = project["id"].as_str().expect("id");
    for path in [
        format!("/api/projects/{}", uuid_like()),
        format!("/api/tasks/{}", uuid_like()),
        format!("/api/runs/{}", uuid_like()),
        format!("/api/runs/{}/diff", uuid_like()),
        "/api/tasks/not-an-id".to_owned(),
        "/api/projects/123/board".to_owned(),
        "/api/nothing-here".to_owned(),
    ] {
        let (status, body) = s.get(&path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {body}");
        assert_eq!(body["error"], "not_found", "{path}");
    }
    let tasks = format!("/api/projects/{pid}/tasks");
    for (body, field) in [
        (json!({"description": "no title"}), "title"),
        (json!({"title": "   "}), "title"),
        (json!({"title": "x".repeat(201)}), "title"),
        (json!({"title": "ok", "colour": "red"}), "colour"),
        (json!({"title": 5}), "title"),
        (json!({"title": "ok", "agent": "nope"}), "agent"),
        (json!({"title": "ok", "agent": "command", "agent_config": {"command": []}}), "agent_config"),
    ] {
        let (status, err) = s.post(&tasks, body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {err}");
        assert_eq!(err["field"], field, "{body}: {err}");
        assert!(!err["message"].as_str().unwrap_or_default().is_empty());
    }
    let task = s.task(&project, "valid", "true").await;
    let tid = task["id"].as_str().expect("id");
    let (status, err) = s.patch(&format!("/api/tasks/{tid}"), json!({"status": "flying"})).await;
    assert_eq!((status, err["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("status")), "{err}");
    for (path, body, field) in [
        ("/api/projects", json!({"path": "relative/path"}), "path"),
        ("/api/projects", json!({"path": "/definitely/not/here"}), "path"),
        ("/api/projects", json!({"path": std::env::temp_dir().display().to_string()}), "path"),
        ("/api/projects/clone", json!({"url": "file:///etc"}), "url"),
        ("/api/projects/clone", json!({"url": "git@github.com:acme/x.git"}), "url"),
        (&format!("/api/tasks/{tid}/follow-ups"), json!({"message": ""}), "message"),
    ] {
        let (status, err) = s.post(path, body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{path} {body}: {err}");
        assert_eq!(err["field"], field, "{path} {body}: {err}");
    }
    let (status, err) = s.post("/api/projects", json!({"path": s.repo.display().to_string()})).await;
    assert_eq!(status, StatusCode::CONFLICT, "the same repository twice: {err}");
    let (status, err) = s.get(&format!("/api/projects/{pid}/board?limit=0")).await;
    assert_eq!((status, err["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("limit")));
    let (status, err) = s.get(&format!("/api/projects/{pid}/board?limit=many")).await;
    assert_eq!((status, err["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("limit")), "{err}");
    let res = s
        .http
        .post(s.url(&tasks))
        .bearer_auth(&s.token)
        .body("{\"title\":")
        .header("content-type", "application/json")
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let res = s.http.post(s.url(&tasks)).bearer_auth(&s.token).body("title=x").send().await.expect("send");
    assert_eq!(res.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (status, _) = s.post(&format!("/api/runs/{}/stop", uuid_like()), json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Nothing that was stored before the bad requests is gone.
    let (_, listed) = s.get(&tasks).await;
    assert_eq!(listed.as_array().map(Vec::len), Some(1));
    let (_, projects) = s.get("/api/projects").await;
    assert_eq!(projects.as_array().map(Vec::len), Some(1));
}

fn uuid_like() -> &'static str {
    "01a20000-0000-7000-8000-000000000000"
}

async fn a_task_runs_to_a_merge_with_its_log_on_a_socket(s: Server) {
    let project = s.project().await;
    let pid = project["id"].as_str().expect("id");
    let mut board = s.ws("/api/events").await;
    let task = s
        .task(
            &project,
            "Write notes",
            "for i in $(seq 1 200); do echo \"line $i\"; done; echo \"$TASKYARD_PROMPT\" > notes.txt",
        )
        .await;
    let tid = task["id"].as_str().expect("id");
    let (status, run) = s.post(&format!("/api/tasks/{tid}/runs"), json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{run}");
    let rid = run["id"].as_str().expect("run id");
    let mut log = s.ws(&format!("/api/runs/{rid}/logs/ws?after=0")).await;
    let (entries, end, close) = read_log(&mut log).await;
    assert_eq!(close, Some(CloseCode::Normal));
    let end = end.expect("end message");
    assert_eq!(end["status"], "succeeded", "{end}");
    let seqs: Vec<i64> = entries.iter().map(|e| e["seq"].as_i64().expect("seq")).collect();
    assert_eq!(seqs, (1..=seqs.len() as i64).collect::<Vec<_>>(), "every entry once, in order");
    let lines: Vec<&str> =
        entries.iter().filter(|e| e["kind"] == "stdout").map(|e| e["text"].as_str().expect("text")).collect();
    assert_eq!(lines.len(), 200);
    assert_eq!(lines[199], "line 200");

    // The board socket saw the task move and the run change.
    let mut kinds = Vec::new();
    while let Ok(Some(Ok(Message::Text(t)))) =
        tokio::time::timeout(Duration::from_millis(500), board.next()).await
    {
        let v: Value = serde_json::from_str(&t).expect("json");
        kinds.push(format!(
            "{}:{}",
            v["type"].as_str().unwrap_or(""),
            v["task"]["status"].as_str().or(v["run"]["status"].as_str()).unwrap_or("")
        ));
    }
    for expected in [
        "task_updated:backlog",
        "run_updated:queued",
        "run_updated:running",
        "task_updated:in_progress",
        "run_updated:succeeded",
        "task_updated:in_review",
    ] {
        assert!(kinds.iter().any(|k| k == expected), "missing {expected} in {kinds:?}");
    }

    let (_, page) = s.get(&format!("/api/runs/{rid}/logs?after=5&limit=3")).await;
    assert_eq!(
        page["entries"]
            .as_array()
            .map(|e| e.iter().map(|x| x["seq"].as_i64().unwrap_or(0)).collect::<Vec<_>>()),
        Some(vec![6, 7, 8])
    );
    assert_eq!(page["run_status"], "succeeded");

    let (status, diff) = s.get(&format!("/api/runs/{rid}/diff")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(diff["files"][0]["path"], "notes.txt");
    assert_eq!(diff["files"][0]["status"], "added");
    assert!(diff["files"][0]["patch"].as_str().expect("patch").contains("+please Write notes"));

    let (status, merged) = s.post(&format!("/api/runs/{rid}/merge"), json!({})).await;
    assert_eq!(status, StatusCode::OK, "{merged}");
    assert_eq!(merged["outcome"]["kind"], "fast_forward", "{merged}");
    assert_eq!(git(&s.repo, &["show", "main:notes.txt"]), "please Write notes");
    let (_, after) = s.get(&format!("/api/runs/{rid}/diff")).await;
    assert_eq!(after["files"][0]["path"], "notes.txt", "a merged run can still be reviewed: {after}");
    let (_, board_now) = s.get(&format!("/api/projects/{pid}/board")).await;
    let done = board_now["columns"]
        .as_array()
        .expect("columns")
        .iter()
        .find(|c| c["status"] == "done")
        .expect("done column");
    assert_eq!(done["total"], 1, "the board snapshot followed the merge");
    assert_eq!(done["tasks"][0]["id"], tid);

    // A late reader gets the rest of the log after its seq, then the end.
    let mut late = s.ws(&format!("/api/runs/{rid}/logs/ws?after={}", seqs.len() - 2)).await;
    let (tail, end, _) = read_log(&mut late).await;
    assert_eq!(tail.len(), 2);
    assert!(end.is_some());
    // A socket for a run that does not exist closes with a reason.
    let mut missing = s.ws(&format!("/api/runs/{}/logs/ws", uuid_like())).await;
    let (none, end, close) = read_log(&mut missing).await;
    assert!(none.is_empty() && end.is_none());
    assert_eq!(close, Some(CloseCode::Library(4404)));
    board.close(None).await.ok();
}

async fn stop_follow_up_and_history(s: Server) {
    let project = s.project().await;
    let task = s
        // The prompt is written before `started`: a stop sent on seeing `started` finds it written.
        .task(&project, "Long job", "echo \"$TASKYARD_PROMPT\" >> prompts.txt; echo started; sleep 300")
        .await;
    let tid = task["id"].as_str().expect("id");
    let (_, run) = s.post(&format!("/api/tasks/{tid}/runs"), json!({})).await;
    let rid = run["id"].as_str().expect("id").to_owned();
    let mut log = s.ws(&format!("/api/runs/{rid}/logs/ws")).await;
    wait_for_line(&mut log, "started").await;
    let (status, again) = s.post(&format!("/api/tasks/{tid}/runs"), json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "one run per task at a time: {again}");
    let (status, busy) = s.delete(&format!("/api/projects/{}", project["id"].as_str().expect("id"))).await;
    assert_eq!(status, StatusCode::CONFLICT, "{busy}");
    let (status, _) = s.post(&format!("/api/runs/{rid}/stop"), json!({})).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let (_, end, _) = read_log(&mut log).await;
    assert_eq!(end.expect("end")["status"], "cancelled");
    let (status, _) = s.post(&format!("/api/runs/{rid}/stop"), json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "stopping an ended run");

    // The follow-up runs in the same worktree and appears in the history.
    let (status, follow) =
        s.post(&format!("/api/tasks/{tid}/follow-ups"), json!({"message": "second"})).await;
    assert_eq!(status, StatusCode::CREATED, "{follow}");
    assert_eq!((follow["attempt"].as_i64(), follow["kind"].as_str()), (Some(2), Some("follow_up")));
    let fid = follow["id"].as_str().expect("id");
    let mut log = s.ws(&format!("/api/runs/{fid}/logs/ws")).await;
    wait_for_line(&mut log, "started").await;
    s.post(&format!("/api/runs/{fid}/stop"), json!({})).await;
    read_log(&mut log).await;
    let (_, history) = s.get(&format!("/api/tasks/{tid}/runs")).await;
    let history = history.as_array().expect("runs");
    assert_eq!(history.len(), 2);
    assert_eq!(history[0]["worktree_path"], history[1]["worktree_path"]);
    let worktree = PathBuf::from(history[1]["worktree_path"].as_str().expect("path"));
    assert_eq!(
        std::fs::read_to_string(worktree.join("prompts.txt")).expect("file"),
        "please Long job\nsecond\n"
    );

    let (status, _) = s.delete(&format!("/api/tasks/{tid}")).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(!worktree.exists(), "the task's worktree went with it");
    assert_eq!(s.get(&format!("/api/runs/{fid}")).await.0, StatusCode::NOT_FOUND);
    let (status, _) = s.delete(&format!("/api/projects/{}", project["id"].as_str().expect("id"))).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(s.repo.join("README.md").exists(), "a local repository is never deleted");
}

async fn the_board_pages_its_columns_and_follows_changes(s: Server) {
    let project = s.project().await;
    let pid = project["id"].as_str().expect("id");
    let mut ids = Vec::new();
    for i in 0..7 {
        ids.push(s.task(&project, &format!("task {i}"), "true").await["id"].as_str().expect("id").to_owned());
    }
    let (_, board) = s.get(&format!("/api/projects/{pid}/board?limit=3")).await;
    let columns = board["columns"].as_array().expect("columns");
    let statuses: Vec<&str> = columns.iter().map(|c| c["status"].as_str().expect("status")).collect();
    assert_eq!(
        statuses,
        ["backlog", "queued", "in_progress", "in_review", "done", "waiting", "failed", "cancelled"]
    );
    let backlog = &columns[0];
    assert_eq!((backlog["total"].as_i64(), backlog["tasks"].as_array().map(Vec::len)), (Some(7), Some(3)));
    let next = &backlog["next"];
    let (_, page) = s
        .get(&format!(
            "/api/projects/{pid}/tasks?status=backlog&after_position={}&after_id={}&limit=3",
            next["position"],
            next["id"].as_str().expect("id")
        ))
        .await;
    let page_ids: Vec<&str> =
        page.as_array().expect("page").iter().map(|t| t["id"].as_str().expect("id")).collect();
    assert_eq!(page_ids, ids[3..6].iter().map(String::as_str).collect::<Vec<_>>());

    // Browsers ask for gzip: the same board, compressed.
    let res = s
        .http
        .get(s.url(&format!("/api/projects/{pid}/board?limit=3")))
        .bearer_auth(&s.token)
        .header("Accept-Encoding", "gzip, br")
        .send()
        .await
        .expect("send");
    assert_eq!(res.headers()["content-encoding"], "gzip");
    let packed = res.bytes().await.expect("bytes");
    let mut unpacked = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&packed[..]), &mut unpacked)
        .expect("gunzip");
    assert_eq!(serde_json::from_str::<Value>(&unpacked).expect("json"), board);

    // Moving a card shows on the next board read and on another client's socket.
    let mut other_tab = s.ws("/api/events").await;
    let (status, moved) = s
        .patch(&format!("/api/tasks/{}", ids[6]), json!({"status": "done", "position": 0.5, "phase": null}))
        .await;
    assert_eq!(status, StatusCode::OK, "{moved}");
    let msg = tokio::time::timeout(Duration::from_secs(10), other_tab.next())
        .await
        .expect("event")
        .expect("open")
        .expect("msg");
    let event: Value = serde_json::from_str(msg.to_text().expect("text")).expect("json");
    assert_eq!(
        (event["type"].as_str(), event["task"]["status"].as_str()),
        (Some("task_updated"), Some("done"))
    );
    let (_, board) = s.get(&format!("/api/projects/{pid}/board?limit=3")).await;
    assert_eq!(board["columns"][0]["total"], 6);
    assert_eq!(board["columns"][4]["tasks"][0]["id"], ids[6].as_str());
    let (status, edited) = s
        .patch(
            &format!("/api/tasks/{}", ids[0]),
            json!({"title": "renamed", "agent_config": {"command": "echo hi"}}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (edited["title"].as_str(), edited["agent_config"]["command"].as_str()),
        (Some("renamed"), Some("echo hi"))
    );
}

async fn shutdown_closes_sockets_and_requeues_runs(mut s: Server) {
    let project = s.project().await;
    let task = s.task(&project, "Forever", "echo started; sleep 300").await;
    let tid = task["id"].as_str().expect("id");
    let (_, run) = s.post(&format!("/api/tasks/{tid}/runs"), json!({})).await;
    let rid: taskyard_core::model::RunId = run["id"].as_str().expect("id").parse().expect("run id");
    let mut log = s.ws(&format!("/api/runs/{rid}/logs/ws")).await;
    wait_for_line(&mut log, "started").await;
    let mut board = s.ws("/api/events").await;

    let running = s.running.take().expect("running");
    let stopping = tokio::spawn(running.stop());
    let (_, _, close) = read_log(&mut log).await;
    assert_eq!(close, Some(CloseCode::Away), "log sockets are closed with 'going away'");
    loop {
        match tokio::time::timeout(Duration::from_secs(30), board.next()).await.expect("board socket closes")
        {
            Some(Ok(Message::Close(frame))) => {
                assert_eq!(frame.map(|f| f.code), Some(CloseCode::Away));
                break;
            }
            Some(Ok(_)) => continue,
            other => panic!("board socket ended without a close frame: {other:?}"),
        }
    }
    stopping.await.expect("join").expect("stop");
    let run = s.store.get_run(rid).await.expect("run");
    assert_eq!(run.status, taskyard_core::model::RunStatus::Queued, "back in the queue: {:?}", run.error);
    assert_eq!((run.tries, run.lease_owner.as_deref()), (1, None), "executed once, held by nobody");
    let logs = s.store.read_logs(rid, 0, 100).await.expect("logs");
    assert!(logs.iter().any(|e| e.text.contains("shutting down")), "the log says why it stopped");
    let requeued = logs.last().expect("entries");
    assert!(
        requeued.text.contains("requeued from a clean worktree state"),
        "and how it continues: {}",
        requeued.text
    );
    assert!(
        taskyard_core::runner::process::run_processes(&rid.to_string(), run.pid.map(|p| p as i32)).is_empty(),
        "no process of the run outlives the server"
    );
}

//! Team isolation against a real team server: clone URLs that reach internal addresses,
//! member errors that do not tell refused from missing from unauthorised, the API answering
//! while clones hang on silent remotes, server paths members may add, and the agents members
//! may use. Every remote is on 127.0.0.1.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use taskyard_core::auth::JwtKeys;
use taskyard_core::model::*;
use taskyard_core::store::{AnyStore, NewSessionToken, Store};
use taskyard_server::http::{Mode, Running, ServeOptions, TeamAuth, start};
use taskyard_test_support::git_http::GitHttpServer;
use uuid::Uuid;

const SECRET: &[u8] = b"outbound-test-signing-key-0123456789abc";
const TOKEN: &str = "ghp_TESTprivateRepoToken0123456789";
const COULD_NOT_REACH: &str = taskyard_server::routes::security::COULD_NOT_REACH;

struct Team {
    _running: Running,
    base: String,
    store: AnyStore,
    keys: JwtKeys,
    http: reqwest::Client,
    dirs: tempfile::TempDir,
}

impl Team {
    async fn start() -> Self {
        let dirs = tempfile::tempdir().expect("tempdir");
        let store = AnyStore::sqlite(&dirs.path().join("t.db")).await.expect("sqlite");
        let keys = JwtKeys::new(SECRET, 900).expect("keys");
        let auth = Arc::new(TeamAuth::new(keys.clone()));
        let running = start(ServeOptions {
            port: 0,
            data_dir: dirs.path().join("data"),
            store: store.clone(),
            mode: Mode::Team { bind: [127, 0, 0, 1].into(), auth },
            queue: Default::default(),
            sandbox: None,
            limits: Default::default(),
            startup: Default::default(),
        })
        .await
        .expect("start");
        let base = format!("http://{}", running.addr);
        Team { _running: running, base, store, keys, http: reqwest::Client::new(), dirs }
    }

    async fn user(&self, email: &str, role: Role) -> (User, String) {
        let new = NewUser { email: email.into(), name: email.into(), password_hash: "x".into(), role };
        let user = if self.store.count_users().await.expect("count") == 0 {
            self.store.create_first_admin(new).await.expect("admin")
        } else {
            self.store.create_user(new).await.expect("user")
        };
        let family = Uuid::now_v7();
        self.store
            .create_session_token(NewSessionToken {
                token_hash: format!("fixture-{family}"),
                family,
                user: user.id,
                expires_at: chrono::Utc::now() + chrono::Duration::days(1),
            })
            .await
            .expect("session");
        let token = self.keys.issue(user.id.0, user.role.as_str(), family).expect("token").0;
        (user, token)
    }

    async fn call(&self, method: &str, path: &str, token: &str, body: Option<Value>) -> (StatusCode, Value) {
        let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
        let mut req = self.http.request(method, format!("{}{path}", self.base)).bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.timeout(Duration::from_secs(20)).send().await.expect("send");
        let status = res.status();
        let text = res.text().await.expect("text");
        assert!(!status.is_server_error() || status == StatusCode::BAD_GATEWAY, "{path}: {status} {text}");
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    async fn settings(&self, admin: &str, settings: Value) {
        let (status, body) = self.call("put", "/api/settings/security", admin, Some(settings)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    /// Starts a clone and waits until it ended; its final status.
    async fn clone_and_wait(&self, token: &str, body: Value) -> Value {
        let (status, started) = self.call("post", "/api/projects/clone", token, Some(body.clone())).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}: {started}");
        let id = started["clone_id"].as_str().expect("id").to_owned();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (_, now) = self.call("get", &format!("/api/clones/{id}"), token, None).await;
            if now["state"] != "running" {
                return now;
            }
            assert!(Instant::now() < deadline, "the clone of {body} never ended");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn git(dir: &Path, args: &[&str]) {
    let ok = std::process::Command::new("git")
        .args(["-c", "user.name=T", "-c", "user.email=t@example.com"])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "git {args:?}");
}

fn repo(at: &Path) -> String {
    std::fs::create_dir_all(at).expect("mkdir");
    git(at, &["init", "-q", "-b", "main"]);
    git(at, &["commit", "-q", "--allow-empty", "-m", "first"]);
    at.display().to_string()
}

/// A smart-HTTP server serving `project.git` behind `TOKEN`.
async fn private_remote(root: &Path) -> GitHttpServer {
    let seed = root.join("seed");
    repo(&seed);
    std::fs::create_dir_all(root.join("served")).expect("mkdir");
    git(root, &["clone", "-q", "--bare", "seed", "served/project.git"]);
    GitHttpServer::start(&root.join("served"), Some(TOKEN.into())).await.expect("git server")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn internal_addresses_are_refused_and_members_cannot_tell_failures_apart() {
    let t = Team::start().await;
    let (_, admin) = t.user("admin@example.com", Role::Admin).await;
    let (_, member) = t.user("member@example.com", Role::Member).await;
    let remote = private_remote(t.dirs.path()).await;

    // By default no internal address is reached, in whatever spelling.
    for url in [
        remote.url("project.git"),
        remote.url("project.git").replace("127.0.0.1", "localhost"),
        "http://169.254.169.254/latest/meta-data/x.git".to_owned(),
        "http://[::ffff:127.0.0.1]:9/x.git".to_owned(),
        "http://10.0.0.1/x.git".to_owned(),
    ] {
        for (who, token) in [("member", &member), ("admin", &admin)] {
            let (status, err) = t.call("post", "/api/projects/clone", token, Some(json!({"url": url}))).await;
            assert_eq!(
                (status, err["field"].as_str()),
                (StatusCode::UNPROCESSABLE_ENTITY, Some("url")),
                "{who} {url}"
            );
            let message = err["message"].as_str().unwrap_or_default();
            assert!(message.contains("an admin can allow the host"), "{who} {url}: {message}");
            if who == "member" {
                assert!(!message.contains("127.0.0.1") && !message.contains("169.254"), "{message}");
            }
        }
    }
    for url in [
        "http://2130706433/x.git",
        "http://0x7f000001/x.git",
        "http://127.1/x.git",
        "http://0177.0.0.1/x.git",
    ] {
        let (status, err) = t.call("post", "/api/projects/clone", &member, Some(json!({"url": url}))).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{url}: {err}");
    }

    // Once the admins allow the host, failures read the same to members whatever happened.
    t.settings(&admin, json!({"allowed_hosts": ["127.0.0.1"]})).await;
    let refused = json!({"url": "http://127.0.0.1:1/x.git"});
    let missing = json!({"url": remote.url("nope.git"), "token": TOKEN});
    let unauthorised = json!({"url": remote.url("project.git"), "token": "ghp_TESTwrongToken000000000"});
    let mut seen = Vec::new();
    for body in [&refused, &missing, &unauthorised] {
        let member_sees = t.clone_and_wait(&member, body.clone()).await;
        assert_eq!(member_sees["state"], "failed", "{member_sees}");
        seen.push(member_sees["error"].clone());
        let admin_sees = t.clone_and_wait(&admin, body.clone()).await;
        assert_ne!(admin_sees["error"], COULD_NOT_REACH, "admins see the reason: {admin_sees}");
        assert!(!admin_sees.to_string().contains("ghp_TEST"), "{admin_sees}");
    }
    assert!(seen.iter().all(|e| *e == COULD_NOT_REACH), "{seen:?}");

    // The right token works, and the clone is the member's project.
    let done = t.clone_and_wait(&member, json!({"url": remote.url("project.git"), "token": TOKEN})).await;
    assert_eq!(done["state"], "done", "{done}");
    let pid = done["project"]["id"].as_str().expect("project").to_owned();

    // Pulling answers the same way: wrong token and a vanished remote look alike.
    let (s1, e1) = t
        .call(
            "post",
            &format!("/api/projects/{pid}/pull"),
            &member,
            Some(json!({"token": "ghp_TESTwrong0000000000"})),
        )
        .await;
    drop(remote);
    let (s2, e2) =
        t.call("post", &format!("/api/projects/{pid}/pull"), &member, Some(json!({"token": TOKEN}))).await;
    assert_eq!((s1, s2), (StatusCode::BAD_GATEWAY, StatusCode::BAD_GATEWAY), "{e1} {e2}");
    assert_eq!(e1, e2);
    assert_eq!(e1["message"], COULD_NOT_REACH);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_answers_while_100_clones_hang_on_a_silent_remote() {
    let t = Team::start().await;
    let (_, admin) = t.user("admin@example.com", Role::Admin).await;
    t.settings(&admin, json!({"allowed_hosts": ["127.0.0.1"], "stall_seconds": 2, "deadline_seconds": 20}))
        .await;
    let mut members = Vec::new();
    for i in 0..50 {
        members.push(t.user(&format!("m{i}@example.com"), Role::Member).await.1);
    }
    // Accepts connections and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/x.git", silent.local_addr().expect("addr"));
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok(Ok((conn, _))) = tokio::time::timeout(Duration::from_secs(30), silent.accept()).await {
            held.push(conn);
            if held.len() > 1000 {
                break;
            }
        }
    });
    let threads_before = threads();

    let started = Instant::now();
    let mut requests = Vec::new();
    for i in 0..100 {
        let token = members[i % 50].clone();
        let (http, base, url) = (t.http.clone(), t.base.clone(), url.clone());
        requests.push(tokio::spawn(async move {
            let res = http
                .post(format!("{base}/api/projects/clone"))
                .bearer_auth(token)
                .json(&json!({"url": url}))
                .send()
                .await
                .expect("send");
            let status = res.status();
            (status, res.json::<Value>().await.unwrap_or(Value::Null))
        }));
    }
    // Meanwhile /health keeps answering quickly.
    let mut worst = Duration::ZERO;
    let mut probes = 0;
    let mut max_threads = threads_before;
    while started.elapsed() < Duration::from_secs(3) {
        let asked = Instant::now();
        let res = t.http.get(format!("{}/health", t.base)).timeout(Duration::from_secs(5)).send().await;
        assert!(res.is_ok_and(|r| r.status().is_success()), "/health failed during the clones");
        worst = worst.max(asked.elapsed());
        probes += 1;
        max_threads = max_threads.max(threads());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut accepted = Vec::new();
    let mut limited = 0;
    for r in requests {
        let (status, body) = r.await.expect("request");
        match status {
            StatusCode::ACCEPTED => accepted.push(body["clone_id"].as_str().expect("id").to_owned()),
            StatusCode::TOO_MANY_REQUESTS => {
                limited += 1;
                assert!(
                    body["message"].as_str().is_some_and(|m| m.contains("clone, pull or push")),
                    "{body}"
                );
            }
            other => panic!("unexpected {other}: {body}"),
        }
    }
    eprintln!(
        "100 clones: {} running, {limited} refused with 429; /health worst {worst:?} over {probes} probes; \
         threads {threads_before} → at most {max_threads}",
        accepted.len()
    );
    assert_eq!(accepted.len(), 8, "the server runs 8 clones at once");
    assert_eq!(limited, 92);
    assert!(worst < Duration::from_millis(500), "/health took {worst:?}");
    assert!(max_threads < threads_before + 40, "threads grew from {threads_before} to {max_threads}");

    // The stalled clones end by themselves (2 s without data) and free their slots.
    for id in &accepted {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let (_, status) = t.call("get", &format!("/api/clones/{id}"), &members[0], None).await;
            let status = if status["state"].is_string() {
                status
            } else {
                // Only the member who started a clone sees it: ask as admin.
                t.call("get", &format!("/api/clones/{id}"), &admin, None).await.1
            };
            if status["state"] == "failed" {
                assert_eq!(status["error"], COULD_NOT_REACH, "{status}");
                break;
            }
            assert!(Instant::now() < deadline, "clone {id} still {status}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    eprintln!("the stalled clones ended after {:?}", started.elapsed());
    let (status, _) = t.call("post", "/api/projects/clone", &members[0], Some(json!({"url": url}))).await;
    assert_eq!(status, StatusCode::ACCEPTED, "the slots are free again");
    holder.abort();
}

/// Threads of this process (the server runs in it).
fn threads() -> usize {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| l.strip_prefix("Threads:").map(|n| n.trim().parse().unwrap_or(0)))
        })
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_add_server_paths_only_under_the_project_root_and_learn_nothing_else() {
    let t = Team::start().await;
    let (_, admin) = t.user("admin@example.com", Role::Admin).await;
    let (_, member) = t.user("member@example.com", Role::Member).await;
    let root = t.dirs.path().join("allowed");
    let inside = repo(&root.join("inside"));
    let outside = repo(&t.dirs.path().join("outside"));
    std::fs::create_dir_all(root.join("plain")).expect("mkdir");
    std::os::unix::fs::symlink(&outside, root.join("link")).expect("symlink");

    // Without a project root, server paths are for admins only.
    let (status, err) = t.call("post", "/api/projects", &member, Some(json!({"path": inside}))).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{err}");
    let (status, err2) =
        t.call("post", "/api/projects", &member, Some(json!({"path": "/nope/nothing"}))).await;
    assert_eq!((status, &err2), (StatusCode::FORBIDDEN, &err), "the answer does not depend on the path");

    t.settings(&admin, json!({"project_root": root.display().to_string()})).await;
    let mut answers = Vec::new();
    for path in [
        root.join("missing").display().to_string(),
        root.join("plain").display().to_string(),
        root.join("link").display().to_string(),
        root.join("inside/../../outside").display().to_string(),
        outside.clone(),
        "/etc".to_owned(),
        "/definitely/not/here".to_owned(),
        root.display().to_string(),
    ] {
        let (status, err) = t.call("post", "/api/projects", &member, Some(json!({"path": path}))).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{path}: {err}");
        answers.push(err);
    }
    assert!(answers.windows(2).all(|w| w[0] == w[1]), "{answers:#?}");
    assert!(!answers[0].to_string().contains("does not exist"), "{}", answers[0]);

    let (status, project) = t.call("post", "/api/projects", &member, Some(json!({"path": inside}))).await;
    assert_eq!(status, StatusCode::CREATED, "{project}");
    // Admins add any repository and keep the detailed errors.
    let (status, _) = t.call("post", "/api/projects", &admin, Some(json!({"path": outside}))).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, err) =
        t.call("post", "/api/projects", &admin, Some(json!({"path": "/definitely/not/here"}))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(err["message"].as_str().is_some_and(|m| m.contains("does not exist")), "{err}");

    // Bad settings are refused naming the field; unknown fields too.
    for (body, field) in [
        (json!({"allowed_cidrs": ["10.0.0.0/33"]}), "allowed_cidrs"),
        (json!({"allowed_cidrs": ["not a range"]}), "allowed_cidrs"),
        (json!({"allowed_hosts": ["https://x/"]}), "allowed_hosts"),
        (json!({"project_root": "relative/path"}), "project_root"),
        (json!({"project_root": "/definitely/not/here"}), "project_root"),
        (json!({"member_agents": ["sudo"]}), "member_agents"),
        (json!({"max_git_operations": 0}), "max_git_operations"),
        (json!({"surprise": true}), "surprise"),
    ] {
        let (status, err) = t.call("put", "/api/settings/security", &admin, Some(body.clone())).await;
        assert_eq!(
            (status, err["field"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some(field)),
            "{body}: {err}"
        );
    }
    let (status, _) = t.call("put", "/api/settings/security", &member, Some(json!({}))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = t.call("get", "/api/settings/security", &member, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_use_the_agents_admins_allow() {
    let t = Team::start().await;
    let (_, admin) = t.user("admin@example.com", Role::Admin).await;
    let (_, member) = t.user("member@example.com", Role::Member).await;
    t.settings(&admin, json!({"project_root": t.dirs.path().display().to_string()})).await;
    let path = repo(&t.dirs.path().join("mine"));
    let (_, project) = t.call("post", "/api/projects", &member, Some(json!({"path": path}))).await;
    let pid = project["id"].as_str().expect("project");
    let tasks = format!("/api/projects/{pid}/tasks");
    let custom = json!({"title": "t", "agent": "custom", "agent_config": {"command": "echo hi"}});

    for body in [custom.clone(), json!({"title": "default agent"}), json!({"title": "t", "agent": "command"})]
    {
        let (status, err) = t.call("post", &tasks, &member, Some(body.clone())).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}: {err}");
        assert!(err["message"].as_str().is_some_and(|m| m.contains("may not use the `")), "{err}");
    }
    let (status, task) =
        t.call("post", &tasks, &member, Some(json!({"title": "t", "agent": "claude"}))).await;
    assert_eq!(status, StatusCode::CREATED, "{task}");
    let (status, _) = t
        .call(
            "patch",
            &format!("/api/tasks/{}", task["id"].as_str().expect("id")),
            &member,
            Some(json!({"agent": "custom"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "switching to a disallowed agent");

    // A custom task an admin made in the member's project: the member may not start it…
    let (status, task) = t.call("post", &tasks, &admin, Some(custom.clone())).await;
    assert_eq!(status, StatusCode::CREATED, "{task}");
    let start = format!("/api/tasks/{}/runs", task["id"].as_str().expect("id"));
    let (status, err) = t.call("post", &start, &member, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{err}");
    // …until the admins allow it.
    t.settings(
        &admin,
        json!({"project_root": t.dirs.path().display().to_string(), "member_agents": ["claude", "custom"]}),
    )
    .await;
    let (status, run) = t.call("post", &start, &member, None).await;
    assert_eq!(status, StatusCode::CREATED, "{run}");
    let (status, _) = t.call("post", &tasks, &member, Some(custom)).await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, settings) = t.call("get", "/api/settings/security", &admin, None).await;
    assert_eq!(settings["member_agents"], json!(["claude", "custom"]));
}

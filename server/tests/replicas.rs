//! Two `taskyard serve` processes on one Postgres database share the queue: 50 queued runs,
//! 4 at a time on each, every run executed exactly once, by either; a log followed on one
//! server is live while the other executes the run (events cross by LISTEN/NOTIFY); and
//! when one server is killed, the other takes its runs over once their leases expire.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::*;
use serde_json::{Value, json};
use taskyard_test_support::pg::TestDatabase;

const ARGS: &[&str] = &["--max-concurrent-runs", "4", "--run-lease-seconds", "3"];

async fn all_runs(api: &Api, runs: &[String]) -> Vec<Value> {
    let mut all = Vec::new();
    for r in runs {
        all.push(api.get(&format!("/api/runs/{r}")).await);
    }
    all
}

async fn wait_all_ended(api: &Api, runs: &[String], limit: Duration) -> Vec<Value> {
    let deadline = std::time::Instant::now() + limit;
    loop {
        let all = all_runs(api, runs).await;
        if all.iter().all(|r| !matches!(r["status"].as_str(), Some("queued" | "running"))) {
            return all;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "runs still going: {:?}",
            all.iter().map(|r| &r["status"]).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn replica(run: &Value) -> String {
    run["lease_owner"].as_str().unwrap_or("").split('/').next().unwrap_or("").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_servers_share_the_queue_and_take_over_a_dead_ones_runs() {
    let db = TestDatabase::create().await.expect("test database");
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = repo(&dir.path().join("repo"));
    let ledger = dir.path().join("ledger.txt");
    let a = ServerProcess::start("a", &dir.path().join("a"), Some(&db.url), ARGS);
    let b = ServerProcess::start("b", &dir.path().join("b"), Some(&db.url), ARGS);
    let (api_a, api_b) = (a.client(), b.client());
    let project = api_a.post("/api/projects", json!({"path": repo.display().to_string()})).await;
    let pid = project["id"].as_str().expect("id").to_owned();

    // 50 short runs, enqueued through both servers.
    let mut runs = Vec::new();
    for i in 0..50 {
        let api = if i % 2 == 0 { &api_a } else { &api_b };
        let agent = scripted_agent(&ledger, 5, "0.1");
        let task = api
            .post(
                &format!("/api/projects/{pid}/tasks"),
                json!({"title": format!("short {i}"), "agent": "custom", "agent_config": agent}),
            )
            .await;
        let run = api.post(&format!("/api/tasks/{}/runs", task["id"].as_str().expect("id")), json!({})).await;
        runs.push(run["id"].as_str().expect("id").to_owned());
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(180);
    let ended = loop {
        let all = all_runs(&api_b, &runs).await;
        if all.iter().all(|r| !matches!(r["status"].as_str(), Some("queued" | "running"))) {
            break all;
        }
        assert!(std::time::Instant::now() < deadline, "the queue did not drain");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let marks = read_ledger(&ledger);
    let mut by_replica: HashMap<String, usize> = HashMap::new();
    for run in &ended {
        let rid = run["id"].as_str().expect("id");
        assert_eq!(run["status"], "succeeded", "{run}");
        assert_eq!(run["tries"], 1, "{rid} was claimed once");
        let starts = marks.iter().filter(|m| m.run == rid && m.start).count();
        assert_eq!(starts, 1, "{rid} executed once");
        *by_replica.entry(replica(run)).or_default() += 1;
    }
    assert_eq!(by_replica.len(), 2, "both servers worked: {by_replica:?}");
    // At most 4 executions at once on each server, from the agents' own start/end times.
    let mut peak: HashMap<String, usize> = HashMap::new();
    for server in ["/a/", "/b/"] {
        let mut events: Vec<(u128, i32)> = marks
            .iter()
            .filter(|m| m.dir.contains(server))
            .map(|m| (m.at_ns, if m.start { 1 } else { -1 }))
            .collect();
        events.sort_by_key(|&(at, delta)| (at, delta));
        let (mut now, mut most) = (0i32, 0i32);
        for (_, delta) in events {
            now += delta;
            most = most.max(now);
        }
        peak.insert(server.to_owned(), most as usize);
    }
    assert!(peak.values().all(|p| (1..=4).contains(p)), "at most 4 at once per server: {peak:?}");
    eprintln!("runs per server: {by_replica:?}; peak concurrency: {peak:?}");

    // Long runs; a client follows one on server B while it executes wherever it was claimed.
    let mut long = Vec::new();
    for i in 0..6 {
        let agent = scripted_agent(&ledger, 60, "0.1");
        let task = api_a
            .post(
                &format!("/api/projects/{pid}/tasks"),
                json!({"title": format!("long {i}"), "agent": "custom", "agent_config": agent}),
            )
            .await;
        let run =
            api_a.post(&format!("/api/tasks/{}/runs", task["id"].as_str().expect("id")), json!({})).await;
        long.push(run["id"].as_str().expect("id").to_owned());
    }
    // Wait until both servers execute some of them (4 at most each, so both must).
    eventually(Duration::from_secs(30), "both servers to execute long runs", || {
        let (api, long) = (api_b.clone(), long.clone());
        async move {
            let all = all_runs(&api, &long).await;
            let running: Vec<&Value> =
                all.iter().filter(|r| r["status"] == "running" && r["pid"].is_i64()).collect();
            let replicas: std::collections::HashSet<String> = running.iter().map(|r| replica(r)).collect();
            running.len() == 6 && replicas.len() == 2
        }
    })
    .await;
    let all = all_runs(&api_b, &long).await;
    let a_replica = std::fs::read_to_string(dir.path().join("a/replica-id")).expect("replica id");
    let held_by_a: Vec<String> = all
        .iter()
        .filter(|r| replica(r) == a_replica.trim())
        .map(|r| r["id"].as_str().expect("id").to_owned())
        .collect();
    assert!(!held_by_a.is_empty(), "A holds some of the long runs");
    // Live on B while A executes it: entries arrive over B's log socket as they are written.
    let watched = held_by_a[0].clone();
    let url = format!("{}/api/runs/{watched}/logs/ws?after=0", api_b.base.replace("http://", "ws://"));
    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(url).expect("request");
    request.headers_mut().insert("authorization", format!("Bearer {}", api_b.token).parse().expect("header"));
    let host = api_b.base.trim_start_matches("http://").to_owned();
    request.headers_mut().insert("host", host.parse().expect("host"));
    let (mut ws, _) = tokio_tungstenite::connect_async(request).await.expect("log socket on B");
    let mut steps_seen = std::collections::BTreeSet::new();
    let started = std::time::Instant::now();
    while steps_seen.len() < 5 && started.elapsed() < Duration::from_secs(20) {
        use futures::StreamExt as _;
        let Ok(Some(Ok(msg))) = tokio::time::timeout(Duration::from_secs(5), ws.next()).await else { break };
        if let tokio_tungstenite::tungstenite::Message::Text(t) = msg {
            let v: Value = serde_json::from_str(&t).unwrap_or(Value::Null);
            for e in v["entries"].as_array().into_iter().flatten() {
                if let Some(step) = e["text"].as_str().and_then(|t| t.strip_prefix("step ")) {
                    steps_seen.insert(step.parse::<u32>().unwrap_or(0));
                }
            }
        }
    }
    assert!(steps_seen.len() >= 5, "B streamed A's run live: {steps_seen:?}");

    // Kill A: B takes its runs over once their leases expire, and they finish there.
    let killed_at = now_ns();
    a.kill9();
    let ended = wait_all_ended(&api_b, &long, Duration::from_secs(120)).await;
    let b_replica = std::fs::read_to_string(dir.path().join("b/replica-id")).expect("replica id");
    for run in &ended {
        let rid = run["id"].as_str().expect("id");
        assert_eq!(run["status"], "succeeded", "{run}");
        assert_eq!(replica(run), b_replica.trim(), "{rid} finished on B");
        if held_by_a.iter().any(|h| h == rid) {
            assert_eq!(run["tries"], 2, "{rid}: claimed by A, then by B");
            let log = stored_log(&api_b, rid).await;
            assert!(
                log.iter().any(|e| e.2.contains("stopped renewing its lease") && e.2.contains("requeued")),
                "{rid}: the log says it was taken over"
            );
            let marks: Vec<Mark> = read_ledger(&ledger).into_iter().filter(|m| m.run == rid).collect();
            let restarts: Vec<&Mark> = marks.iter().filter(|m| m.start).collect();
            assert_eq!(restarts.len(), 2, "{rid}: {marks:?}");
            assert!(restarts[1].at_ns > killed_at, "{rid}: B started it only after A died");
        }
    }
    drop(b);
}

/// Forwards TCP connections to the test cluster's unix socket until cut: then every
/// connection through it drops and no new one is taken, as when a network splits.
struct Link {
    url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Link {
    async fn to(db_url: &str) -> Self {
        let pg = PgSocket::of(db_url);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = pg.url_at(listener.local_addr().expect("addr"));
        let socket = pg.socket;
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            loop {
                let Ok((mut tcp, _)) = listener.accept().await else { return };
                let socket = socket.clone();
                connections.spawn(async move {
                    if let Ok(mut unix) = tokio::net::UnixStream::connect(&socket).await {
                        let _ = tokio::io::copy_bidirectional(&mut tcp, &mut unix).await;
                    }
                });
            }
        });
        Self { url, task }
    }

    /// Drops every connection through the link and takes no new one.
    fn cut(&self) {
        self.task.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_cut_off_from_the_database_ends_its_runs_before_another_takes_them_over() {
    let db = TestDatabase::create().await.expect("test database");
    let link = Link::to(&db.url).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = repo(&dir.path().join("repo"));
    let ledger = dir.path().join("beats.txt");
    let a = ServerProcess::start("a", &dir.path().join("a"), Some(&link.url), ARGS);
    let api_a = a.client();
    let project = api_a.post("/api/projects", json!({"path": repo.display().to_string()})).await;
    let pid = project["id"].as_str().expect("id").to_owned();
    // Beats into the ledger, nothing on stdout: no log write fails to give the cut away, so
    // only the lease can end the run on A.
    let beats = format!(
        "me=$(od -An -N4 -tu4 /dev/urandom | tr -d ' '); i=0; \
         while [ $i -lt 150 ]; do i=$((i+1)); echo \"$me $(date +%s%N)\" >> {}; sleep 0.1; done; echo done > out.txt",
        ledger.display()
    );
    let task = api_a
        .post(
            &format!("/api/projects/{pid}/tasks"),
            json!({"title": "long", "agent": "custom", "agent_config": {"command": beats}}),
        )
        .await;
    let run = api_a.post(&format!("/api/tasks/{}/runs", task["id"].as_str().expect("id")), json!({})).await;
    let rid = run["id"].as_str().expect("id").to_owned();
    // Each execution beats under a random name of its own (runs see a PID namespace: $$ is 1).
    let read = || -> Vec<(u64, u128)> {
        std::fs::read_to_string(&ledger)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                let (pid, at) = l.split_once(' ')?;
                Some((pid.parse().ok()?, at.trim().parse().ok()?))
            })
            .collect()
    };
    eventually(Duration::from_secs(30), "the run to beat on A", || {
        let n = read().len();
        async move { n >= 5 }
    })
    .await;
    let first = read()[0].0;
    // B joins; then A loses the database.
    let b = ServerProcess::start("b", &dir.path().join("b"), Some(&db.url), ARGS);
    let api_b = b.client();
    let cut_at = now_ns();
    link.cut();

    let deadline = std::time::Instant::now() + Duration::from_secs(40);
    while !read().iter().any(|(p, _)| *p != first) {
        assert!(
            std::time::Instant::now() < deadline,
            "B never executed the run.\n--- A ---\n{}\n--- B ---\n{}",
            std::fs::read_to_string(&a.log).unwrap_or_default(),
            std::fs::read_to_string(&b.log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let beats = read();
    let last_on_a = beats.iter().filter(|(p, _)| *p == first).map(|(_, at)| *at).max().expect("A beat");
    let first_on_b = beats.iter().filter(|(p, _)| *p != first).map(|(_, at)| *at).min().expect("B beat");
    eprintln!(
        "A's agent beat until {:.2} s after the cut; B's began {:.2} s after it",
        (last_on_a - cut_at) as f64 / 1e9,
        (first_on_b - cut_at) as f64 / 1e9
    );
    assert!(last_on_a < first_on_b, "the two executions overlapped");
    assert!(last_on_a - cut_at < 3_000_000_000, "A ended its run within the lease (3 s)");
    assert!(std::fs::read_to_string(&a.log).expect("log").contains("before another server may take it over"));

    let ended = wait_all_ended(&api_b, std::slice::from_ref(&rid), Duration::from_secs(60)).await;
    assert_eq!(ended[0]["status"], "succeeded", "{}", ended[0]);
    assert_eq!(ended[0]["tries"], 2);
    drop(a);
}

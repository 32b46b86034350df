//! "Jobs won't be lost, they'll just wait", proved by killing the server: a real `taskyard
//! serve` on SQLite with a dozen runs of a scripted agent is `kill -9`ed at random points
//! several times and restarted on the same data. No task or run is lost, no run executes
//! twice at once (an execution is repeated only if the server died before recording its end),
//! every run ends succeeded (after being requeued from a clean worktree) or
//! marked interrupted, and every log entry a client had received is still there, in order,
//! once. Loopback only; bounded in time.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use serde_json::{Value, json};

const TASKS: usize = 12;
const KILLS: usize = 4;
const ARGS: &[&str] = &["--max-concurrent-runs", "4", "--run-lease-seconds", "3"];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_the_server_loses_no_run_and_no_log_entry_a_client_saw() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let repo = repo(&dir.path().join("repo"));
    let ledger = dir.path().join("ledger.txt");
    let mut server = ServerProcess::start("a", &data, None, ARGS);
    let api = server.client();
    let project = api.post("/api/projects", json!({"path": repo.display().to_string()})).await;
    let pid = project["id"].as_str().expect("id").to_owned();
    let mut tasks = Vec::new();
    let mut runs = Vec::new();
    for i in 0..TASKS {
        let agent = scripted_agent(&ledger, 30, "0.05");
        let task = api
            .post(
                &format!("/api/projects/{pid}/tasks"),
                json!({"title": format!("job {i}"), "agent": "custom", "agent_config": agent}),
            )
            .await;
        let tid = task["id"].as_str().expect("id").to_owned();
        let run = api.post(&format!("/api/tasks/{tid}/runs"), json!({})).await;
        tasks.push(tid);
        runs.push(run["id"].as_str().expect("id").to_owned());
    }

    let current = Arc::new(Mutex::new(Some(api)));
    let received: Received = Arc::default();
    let done = Arc::new(AtomicBool::new(false));
    let follower = follow_logs(current.clone(), runs.clone(), received.clone(), done.clone());
    let mut rng = Rng::new();
    let mut kills = Vec::new();
    for _ in 0..KILLS {
        tokio::time::sleep(Duration::from_millis(rng.between(300, 2500))).await;
        *current.lock().expect("lock") = None;
        let killed_at = now_ns();
        server.kill9();
        server = ServerProcess::start("a", &data, None, ARGS);
        // The new life has swept the old one's processes once it listens.
        kills.push((killed_at, now_ns()));
        *current.lock().expect("lock") = Some(server.client());
    }
    let api = server.client();
    let deadline = std::time::Instant::now() + Duration::from_secs(180);
    let last: Vec<Value> = loop {
        let mut all = Vec::new();
        for r in &runs {
            all.push(api.get(&format!("/api/runs/{r}")).await);
        }
        if all.iter().all(|r| !matches!(r["status"].as_str(), Some("queued" | "running"))) {
            break all;
        }
        assert!(std::time::Instant::now() < deadline, "runs still going: {all:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    // Let the client catch up with the last entries, then stop it.
    tokio::time::sleep(Duration::from_millis(300)).await;
    done.store(true, Ordering::SeqCst);
    follower.await.expect("follower");

    // No task lost, no run duplicated: each task has exactly the one run it was given.
    for (tid, rid) in tasks.iter().zip(&runs) {
        let list = api.get(&format!("/api/tasks/{tid}/runs")).await;
        let ids: Vec<&str> = list.as_array().expect("runs").iter().filter_map(|r| r["id"].as_str()).collect();
        assert_eq!(ids, [rid.as_str()], "task {tid}");
    }
    let ledger_marks = read_ledger(&ledger);
    let received = received.lock().expect("lock").clone();
    let (mut succeeded, mut requeued, mut interrupted) = (0, 0, 0);
    for run in &last {
        let rid = run["id"].as_str().expect("id");
        let status = run["status"].as_str().expect("status");
        let tries = run["tries"].as_i64().expect("tries");
        let stored = stored_log(&api, rid).await;
        assert_received_is_kept(rid, received.get(rid).map(Vec::as_slice).unwrap_or(&[]), &stored);
        let texts: Vec<&str> = stored.iter().map(|e| e.2.as_str()).collect();
        match status {
            "succeeded" => {
                succeeded += 1;
                if tries > 1 {
                    requeued += 1;
                    assert!(
                        texts.iter().any(|t| t.contains("requeued from a clean worktree state")),
                        "{rid} ran {tries} times; its log says how it was recovered: {texts:?}"
                    );
                }
                let branch = run["branch"].as_str().expect("branch");
                let out = std::process::Command::new("git")
                    .args(["show", &format!("{branch}:out.txt")])
                    .current_dir(&repo)
                    .output()
                    .expect("git show");
                assert_eq!(
                    String::from_utf8_lossy(&out.stdout),
                    "done\n",
                    "{rid}: its work is on its branch"
                );
            }
            "interrupted" => {
                interrupted += 1;
                eprintln!("{rid} interrupted: {:?}", run["error"]);
                assert!(texts.iter().any(|t| t.contains("marked interrupted")), "{rid}: {texts:?}");
            }
            other => panic!("{rid} ended {other}: {:?} {texts:?}", run["error"]),
        }
        // Executions of one run never overlap: each one that did not end was cut by a kill
        // that came before the next one started.
        let marks: Vec<&Mark> = ledger_marks.iter().filter(|m| m.run == rid).collect();
        let starts = marks.iter().filter(|m| m.start).count() as i64;
        assert!(starts >= 1 && starts <= tries, "{rid}: {starts} executions recorded, {tries} claims");
        // An execution that finished just before a kill, before the server recorded it, is
        // run again (at least once, never twice at the same time): a later start must come
        // after a kill, and the earlier mark before the restart that swept that life's
        // processes (an agent spawned just before a kill may print its start just after it).
        for pair in marks.windows(2) {
            if pair[1].start {
                assert!(
                    kills
                        .iter()
                        .any(|(killed, restarted)| *killed < pair[1].at_ns && pair[0].at_ns < *restarted),
                    "{rid}: an execution began while an earlier one could still run or was recorded done: {pair:?}"
                );
            }
        }
        if status == "succeeded" {
            assert!(!marks.last().expect("marks").start, "{rid}: its last execution finished");
        }
        assert!(
            taskyard_core::runner::process::run_processes(rid, None).is_empty(),
            "{rid}: no process of the run outlives the crashes"
        );
    }
    assert_eq!(succeeded + interrupted, TASKS);
    eprintln!("{succeeded} succeeded ({requeued} after a requeue), {interrupted} interrupted, {KILLS} kills");
    assert!(requeued > 0 || interrupted > 0, "the kills cut some run short");
}

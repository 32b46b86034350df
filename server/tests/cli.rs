//! The command line beside a running server on the same data: `taskyard run` executes the run
//! it enqueued and prints its log, and leaves the server's own runs alone (no recovery, no
//! claims of anything else).

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;
use serde_json::json;

fn run_taskyard(data: &Path, args: &[&str]) -> std::process::Output {
    taskyard(data).args(args).output().expect("run taskyard")
}

fn first_word(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_runs_its_own_task_beside_a_server_and_touches_nothing_else() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let repo = repo(&dir.path().join("repo"));
    let ledger = dir.path().join("ledger.txt");
    let server = ServerProcess::start("a", &data, None, &["--max-concurrent-runs", "1"]);
    let api = server.client();
    let project = api.post("/api/projects", json!({"path": repo.display().to_string()})).await;
    let pid = project["id"].as_str().expect("id").to_owned();
    let long = api
        .post(
            &format!("/api/projects/{pid}/tasks"),
            json!({"title": "long", "agent": "custom", "agent_config": scripted_agent(&ledger, 100, "0.1")}),
        )
        .await;
    let long_run =
        api.post(&format!("/api/tasks/{}/runs", long["id"].as_str().expect("id")), json!({})).await;
    let long_run = long_run["id"].as_str().expect("id").to_owned();
    eventually(Duration::from_secs(20), "the server to run its task", || {
        let api = api.clone();
        let long_run = long_run.clone();
        async move { api.get(&format!("/api/runs/{long_run}")).await["pid"].is_i64() }
    })
    .await;

    // A second run waits in line: the server is full.
    let next = api
        .post(
            &format!("/api/projects/{pid}/tasks"),
            json!({"title": "next", "agent": "custom", "agent_config": {"command": "true"}}),
        )
        .await;
    let next_run =
        api.post(&format!("/api/tasks/{}/runs", next["id"].as_str().expect("id")), json!({})).await;
    let next_run = next_run["id"].as_str().expect("id").to_owned();

    let added = run_taskyard(
        &data,
        &["task", "add", "--project", &pid, "--title", "quick", "--command", "echo from-the-command-line"],
    );
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));
    let task = first_word(&added);
    let run = run_taskyard(&data, &["run", &task]);
    let (stdout, stderr) = (String::from_utf8_lossy(&run.stdout), String::from_utf8_lossy(&run.stderr));
    assert!(run.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("from-the-command-line"), "{stdout}");
    assert!(stderr.contains(": succeeded"), "{stderr}");

    let still = api.get(&format!("/api/runs/{long_run}")).await;
    assert_eq!((still["status"].as_str(), still["tries"].as_i64()), (Some("running"), Some(1)), "{still}");
    let waiting = api.get(&format!("/api/runs/{next_run}")).await;
    assert_eq!(
        (waiting["status"].as_str(), waiting["tries"].as_i64()),
        (Some("queued"), Some(0)),
        "not the command's to run"
    );
    assert_eq!(waiting["queue_position"], 1);
    let marks = read_ledger(&ledger);
    assert_eq!(
        marks.iter().filter(|m| m.start).count(),
        1,
        "the server's run was neither recovered nor restarted"
    );
    assert!(
        !taskyard_core::runner::process::run_processes(&long_run, None).is_empty(),
        "its agent is still alive"
    );
    api.post(&format!("/api/runs/{long_run}/stop"), json!({})).await;
}

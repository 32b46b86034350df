//! The server as the desktop app starts it (`taskyard_server::local`): in-process, SQLite in
//! the data folder, local mode on loopback with a fresh token per start, and clear errors for
//! a data folder it cannot use.

mod common;

use taskyard_server::local::{self, LocalOptions};

#[tokio::test(flavor = "multi_thread")]
async fn starts_in_the_data_folder_and_answers_only_with_this_start_s_token() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let running = local::start(LocalOptions::new(&data)).await.expect("starts");
    assert!(data.join("taskyard.db").exists(), "the database is in the data folder");
    assert!(running.addr.ip().is_loopback());
    let url = reqwest::Url::parse(&running.url).unwrap();
    let token = url.query_pairs().find(|(k, _)| k == "token").map(|(_, v)| v.into_owned()).expect("a token");
    assert!(token.len() >= 32, "a long token: {token}");
    let base = format!("http://{}", running.addr);
    let client = reqwest::Client::new();
    let without = client.get(format!("{base}/api/projects")).send().await.unwrap();
    assert_eq!(without.status(), 401);
    let with = client.get(format!("{base}/api/projects")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(with.status(), 200);
    assert_eq!(running.active_runs(), 0);
    running.stop().await.expect("stops");

    // A second start on the same data gets a token of its own; the first one is worthless.
    let again = local::start(LocalOptions::new(&data)).await.expect("starts again");
    let base = format!("http://{}", again.addr);
    let old = client.get(format!("{base}/api/projects")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(old.status(), 401);
    again.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_data_folder_that_cannot_be_made_is_named_in_the_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "not a folder").unwrap();
    let error = local::start(LocalOptions::new(file.join("data"))).await.expect_err("refused");
    let text = format!("{error:#}");
    assert!(text.contains("cannot make the data folder") && text.contains("a-file/data"), "{text}");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "not a folder", "nothing is lost");
}

/// A stand-in for an agent CLI at a path of the user's choosing: answers `--version` with
/// `version` and records every other command line in `args`.
fn fake_cli(at: &std::path::Path, version: &str, args: &std::path::Path) -> String {
    use std::os::unix::fs::PermissionsExt as _;
    let script = format!(
        "#!/bin/sh\nif [ \"$1\" = --version ]; then echo '{version}'; exit 0; fi\necho \"$0 $*\" >> '{}'\n",
        args.display()
    );
    std::fs::write(at, script).unwrap();
    std::fs::set_permissions(at, std::fs::Permissions::from_mode(0o755)).unwrap();
    at.display().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_chosen_agent_program_is_what_runs_use_and_the_status_shows_and_it_changes_live() {
    use serde_json::{Value, json};
    let dir = tempfile::tempdir().unwrap();
    let args = dir.path().join("args.txt");
    let first = fake_cli(&dir.path().join("claude-here"), "1.0.1 (Claude Code)", &args);
    let second = fake_cli(&dir.path().join("claude-there"), "2.0.2 (Claude Code)", &args);
    let mut options = LocalOptions::new(dir.path().join("data"));
    options.agent_programs.insert("claude".into(), first.clone());
    // No `claude` on the agents' PATH: only the chosen program can answer.
    options.agent_path = Some("/usr/bin:/bin".into());
    let running = local::start(options).await.expect("starts");
    let url = reqwest::Url::parse(&running.url).unwrap();
    let token = url.query_pairs().find(|(k, _)| k == "token").map(|(_, v)| v.into_owned()).unwrap();
    let base = format!("http://{}", running.addr);
    let client = reqwest::Client::new();
    let get = |path: &str| {
        let request = client.get(format!("{base}{path}")).bearer_auth(&token);
        async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let post = |path: &str, body: Value| {
        let request = client.post(format!("{base}{path}")).bearer_auth(&token).json(&body);
        async move { request.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let claude = |agents: Value| {
        agents.as_array().unwrap().iter().find(|a| a["name"] == "claude").unwrap()["cli"].clone()
    };

    let status = claude(get("/api/agents").await);
    assert_eq!(status["program"], first.as_str());
    assert_eq!(status["path"], first.as_str());
    assert_eq!(status["version"], "1.0.1 (Claude Code)");
    assert_eq!(status["problem"], Value::Null);

    let work = common::repo(&dir.path().join("work"));
    let project = post("/api/projects", json!({ "path": work.display().to_string() })).await;
    let project = project["id"].as_str().expect("a project").to_owned();
    let run_once = |title: &'static str, settings: Value| {
        let (post, get, project) = (&post, &get, project.clone());
        async move {
            let task = post(
                &format!("/api/projects/{project}/tasks"),
                json!({ "title": title, "agent": "claude", "agent_config": settings }),
            )
            .await;
            let run = post(&format!("/api/tasks/{}/runs", task["id"].as_str().unwrap()), json!({})).await;
            let run = run["id"].as_str().expect("a run").to_owned();
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
            loop {
                let r = get(&format!("/api/runs/{run}")).await;
                if !matches!(r["status"].as_str(), Some("queued" | "running")) {
                    break;
                }
                assert!(std::time::Instant::now() < deadline, "the run did not end: {r}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    };
    run_once("with the chosen program", json!({})).await;
    running.set_agent_program("claude", Some(second.clone()));
    assert_eq!(claude(get("/api/agents").await)["version"], "2.0.2 (Claude Code)", "at once");
    run_once("after a change", json!({})).await;
    // A task's own program still wins over the chosen one.
    run_once("its own", json!({ "program": first })).await;
    let ran: Vec<String> = std::fs::read_to_string(&args)
        .unwrap()
        .lines()
        .map(|l| l.split(' ').next().unwrap().to_owned())
        .collect();
    assert_eq!(ran, [first.clone(), second.clone(), first.clone()]);

    // Cleared: back to `claude` looked up in the agents' PATH, where there is none.
    running.set_agent_program("claude", None);
    let status = claude(get("/api/agents").await);
    assert_eq!(status["program"], "claude");
    assert_eq!(status["found"], false);
    assert!(status["problem"].as_str().unwrap().contains("was not found"), "{status}");
    running.stop().await.unwrap();
}

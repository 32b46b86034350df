//! Gemini CLI end to end: the real CLI (pinned in `.tools/`) run by the runner against the
//! mock Gemini API.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};
use taskyard_core::model::*;
use taskyard_core::runner::process;
use taskyard_core::store::Store;
use taskyard_test_support::mock_api::{ApiError, Block, Dialect, Reply, Scenario};

const KEY: &str = "AIzaTEST-not-a-real-key-000000000000000";

fn settings(url: &str, key: Option<&str>) -> Value {
    let mut env = json!({ "GOOGLE_GEMINI_BASE_URL": url });
    if let Some(key) = key {
        env["GEMINI_API_KEY"] = json!(key);
    }
    // A fixed model skips the CLI's model routing call.
    merged(
        cli_settings(&tool("gemini-cli", "gemini"), env),
        json!({ "api_retries": 0, "model": "gemini-2.5-flash" }),
    )
}

async fn scripted(f: &Fixture, title: &str, scenario: Scenario) -> Task {
    let url = f.mock.scenario(&slugify(title), scenario);
    f.task("gemini", title, settings(&url, Some(KEY))).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gemini_writes_a_file_and_a_follow_up_resumes_its_session() {
    let f = fixture(Dialect::Gemini).await;
    let task = scripted(
        &f,
        "add hello",
        Scenario::Script(vec![
            Reply::Message(vec![
                Block::Text("Writing it.".into()),
                Block::tool("write_file", json!({"file_path": "hello.txt", "content": "hello\n"})),
            ]),
            Reply::text("Added hello.txt."),
            Reply::text("It says hello."),
        ]),
    )
    .await;
    let run = f.run(&task).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    let session = run.session_id.clone().expect("session");
    let logs = f.logs(run.id).await;
    let entries: Vec<String> =
        agent_entries(&logs).into_iter().filter(|e| !e.starts_with("stderr")).collect();
    assert_eq!(entries.len(), 8, "{entries:#?}");
    assert_eq!(entries[0], "system prompt: please add hello");
    assert_eq!(entries[1], format!("init init: Gemini CLI · model gemini-2.5-flash · session {session}"));
    assert_eq!(entries[2], "system user_text: please add hello");
    assert_eq!(entries[3], "assistant text: Writing it.");
    assert_eq!(entries[4], "tool_use tool_use: Write hello.txt");
    assert!(entries[5].starts_with("tool_result tool_result: "), "{}", entries[5]);
    assert_eq!(entries[6], "assistant text: Added hello.txt.");
    assert!(entries[7].starts_with("result result: done · 1 tool calls"), "{}", entries[7]);
    assert_eq!(git(&f.repo, &["show", "taskyard/add-hello:hello.txt"]), "hello");
    let call = &f.mock.model_calls("add-hello")[0];
    assert_eq!(call.header("x-goog-api-key"), Some(KEY));
    // The settings file the adapter wrote is what made the key count.
    let written = std::fs::read_to_string(f.home(run.id).join(".gemini/settings.json")).expect("settings");
    assert!(written.contains("gemini-api-key"), "{written}");

    let second = f.runner.follow_up(task.id, "what does it say?".into()).await.expect("follow up");
    let second = f.runner.wait(second.id).await.expect("wait");
    assert_eq!(second.status, RunStatus::Succeeded, "{:?}", second.error);
    assert_eq!(second.session_id.as_deref(), Some(session.as_str()), "the session goes on");
    let calls = f.mock.model_calls("add-hello");
    let texts = calls.last().expect("call").user_texts();
    assert_eq!(texts.last().map(String::as_str), Some("what does it say?"), "{texts:?}");
    assert!(f.logs(second.id).await.iter().any(|e| e.text == "It says hello."));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gemini_errors_end_runs_with_the_state_that_says_what_to_do() {
    let f = fixture(Dialect::Gemini).await;
    let resets_at = chrono::Utc::now().timestamp() + 3600;
    let fail = |name: &str, e: ApiError| f.mock.scenario(name, Scenario::Fail(e));
    let cases = [
        (
            "bad key",
            fail("401", ApiError::Unauthorized),
            Some(KEY),
            RunStatus::WaitingAuth,
            "API key not valid",
        ),
        (
            "no key",
            f.mock.scenario("ok", Scenario::text("hi")),
            None,
            RunStatus::WaitingAuth,
            "GEMINI_API_KEY",
        ),
        (
            "daily quota",
            fail("quota", ApiError::UsageLimit { resets_at }),
            Some(KEY),
            RunStatus::WaitingQuota,
            "quota",
        ),
        ("rate limit", fail("429", ApiError::RateLimited), Some(KEY), RunStatus::WaitingQuota, "exhausted"),
        ("billing", fail("billing", ApiError::CreditTooLow), Some(KEY), RunStatus::Billing, "billing"),
        ("overloaded", fail("503", ApiError::Overloaded), Some(KEY), RunStatus::ServerError, "overloaded"),
        ("unreachable", refused_url(), Some(KEY), RunStatus::ServerError, ""),
    ];
    for (title, url, key, status, needle) in cases {
        let task = f.task("gemini", title, settings(&url, key)).await;
        let run = f.run(&task).await;
        let error = run.error.clone().unwrap_or_default();
        assert_eq!(run.status, status, "{title}: {error}");
        assert!(error.contains(needle), "{title}: {error:?} should contain {needle:?}");
        // The CLI treats a daily quota as final and does not pass the API's retry delay on,
        // so a quota wait takes the policy's first backoff (1 hour); credentials are retried
        // every 5 minutes.
        let wait = run.retry_at.map(|t| (t - chrono::Utc::now()).num_minutes());
        let expected = match status {
            RunStatus::WaitingQuota => Some(59..=60),
            RunStatus::WaitingAuth => Some(4..=5),
            _ => None,
        };
        match (wait, expected) {
            (Some(w), Some(range)) => assert!(range.contains(&w), "{title}: retried in {w} min"),
            (None, None) => {}
            other => panic!("{title}: retry schedule {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_gemini_during_a_command_leaves_no_process_behind() {
    let f = fixture(Dialect::Gemini).await;
    let task = scripted(
        &f,
        "long command",
        Scenario::Script(vec![Reply::tool(
            "run_shell_command",
            json!({"command": "sleep 300", "description": "wait"}),
        )]),
    )
    .await;
    let run = f.runner.start(task.id).await.expect("start");
    let id = run.id.to_string();
    let sleep = wait_until("the command's sleep", Duration::from_secs(60), || {
        process::run_processes(&id, None).into_iter().find(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| c.starts_with(b"sleep\x00300") || String::from_utf8_lossy(&c).contains("sleep 300"))
                .unwrap_or(false)
                && std::fs::read(format!("/proc/{pid}/comm"))
                    .map(|c| c.starts_with(b"sleep"))
                    .unwrap_or(false)
        })
    })
    .await;
    f.runner.stop(run.id).await.expect("stop");
    let run = f.runner.wait(run.id).await.expect("wait");
    assert_eq!(run.status, RunStatus::Cancelled, "{:?}", run.error);
    assert!(!alive(sleep), "the command's sleep {sleep} survived the stop");
    assert!(process::run_processes(&id, run.pid.map(|p| p as i32)).is_empty());
    assert_eq!(f.runner.store().get_task(task.id).await.expect("task").status, TaskStatus::Cancelled);
}

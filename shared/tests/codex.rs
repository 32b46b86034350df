//! Codex CLI end to end: the real CLI (pinned in `.tools/`) run by the runner against the
//! mock OpenAI Responses API. Codex's model writes files and runs commands through its `exec`
//! tool (JavaScript that calls `tools.apply_patch` / `tools.exec_command`), so the scripts
//! send that.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};
use taskyard_core::model::*;
use taskyard_core::runner::process;
use taskyard_core::store::Store;
use taskyard_test_support::mock_api::{ApiError, Block, Dialect, Reply, Scenario};

const KEY: &str = "sk-proj-TEST-not-a-real-key-0000000000000000";

fn settings(url: &str, key: Option<&str>) -> Value {
    let mut env = json!({ "OPENAI_BASE_URL": url });
    if let Some(key) = key {
        env["OPENAI_API_KEY"] = json!(key);
    }
    merged(cli_settings(&tool("codex", "codex"), env), json!({ "api_retries": 0 }))
}

/// The `exec` tool's JavaScript for adding a file with `apply_patch`.
fn add_file(path: &str, line: &str) -> Value {
    let patch = format!("*** Begin Patch\n*** Add File: {path}\n+{line}\n*** End Patch\n");
    json!(format!("const r = await tools.apply_patch({});\ntext(JSON.stringify(r));", json!(patch)))
}

/// The `exec` tool's JavaScript for running a shell command.
fn shell(cmd: &str) -> Value {
    json!(format!(
        "const r = await tools.exec_command({{cmd: {}, yield_time_ms: 600000}});\ntext(JSON.stringify(r));",
        json!(cmd)
    ))
}

async fn scripted(f: &Fixture, title: &str, scenario: Scenario) -> Task {
    let url = f.mock.scenario(&slugify(title), scenario);
    f.task("codex", title, settings(&url, Some(KEY))).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codex_writes_a_file_and_a_follow_up_resumes_its_thread() {
    let f = fixture(Dialect::OpenAi).await;
    let task = scripted(
        &f,
        "add hello",
        Scenario::Script(vec![
            Reply::Message(vec![
                Block::Text("I'll add it.".into()),
                Block::tool("exec", add_file("hello.txt", "hello")),
            ]),
            Reply::text("Added hello.txt."),
            Reply::text("It says hello."),
        ]),
    )
    .await;
    let run = f.run(&task).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    let thread = run.session_id.clone().expect("thread id");
    let logs = f.logs(run.id).await;
    let worktree = run.worktree_path.clone().expect("worktree");
    // Codex says on stderr that it read stdin (closed); that stays a stderr entry.
    let entries: Vec<String> =
        agent_entries(&logs).into_iter().filter(|e| !e.starts_with("stderr")).collect();
    assert_eq!(
        entries,
        [
            "system prompt: please add hello".into(),
            format!("init init: Codex · thread {thread}"),
            "system turn_started: turn started".into(),
            "assistant text: I'll add it.".into(),
            format!("tool_use tool_use: Add {worktree}/hello.txt"),
            format!("tool_result tool_result: added {worktree}/hello.txt"),
            "assistant text: Added hello.txt.".into(),
            "result result: done · 24 tokens in, 12 out".into(),
        ]
    );
    assert_eq!(git(&f.repo, &["show", "taskyard/add-hello:hello.txt"]), "hello");
    let call = &f.mock.model_calls("add-hello")[0];
    assert_eq!(call.header("authorization"), Some(format!("Bearer {KEY}").as_str()));

    let second = f.runner.follow_up(task.id, "what does it say?".into()).await.expect("follow up");
    let second = f.runner.wait(second.id).await.expect("wait");
    assert_eq!(second.status, RunStatus::Succeeded, "{:?}", second.error);
    assert_eq!(second.session_id.as_deref(), Some(thread.as_str()), "the thread goes on");
    let calls = f.mock.model_calls("add-hello");
    let texts = calls.last().expect("call").user_texts();
    assert!(texts.iter().any(|t| t == "please add hello"), "{texts:?}");
    assert_eq!(texts.last().map(String::as_str), Some("what does it say?"));
    let logs = f.logs(second.id).await;
    assert!(logs.iter().any(|e| e.text == "It says hello."));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codex_errors_end_runs_with_the_state_that_says_what_to_do() {
    let f = fixture(Dialect::OpenAi).await;
    // Codex shows reset times to the minute.
    let resets_at = (chrono::Utc::now().timestamp() / 60 + 3 * 60) * 60;
    let fail = |name: &str, e: ApiError| f.mock.scenario(name, Scenario::Fail(e));
    let cases = [
        (
            "bad key",
            fail("401", ApiError::Unauthorized),
            Some(KEY),
            RunStatus::WaitingAuth,
            "401 Unauthorized",
        ),
        (
            "no key",
            f.mock.scenario("ok", Scenario::text("hi")),
            None,
            RunStatus::WaitingAuth,
            "OPENAI_API_KEY",
        ),
        (
            "usage limit",
            fail("usage", ApiError::UsageLimit { resets_at }),
            Some(KEY),
            RunStatus::WaitingQuota,
            "usage limit",
        ),
        ("rate limit", fail("429", ApiError::RateLimited), Some(KEY), RunStatus::WaitingQuota, "429"),
        ("credit", fail("credit", ApiError::CreditTooLow), Some(KEY), RunStatus::Billing, "Quota exceeded"),
        ("internal", fail("500", ApiError::Internal), Some(KEY), RunStatus::ServerError, "high demand"),
    ];
    for (title, url, key, status, needle) in cases {
        let task = f.task("codex", title, settings(&url, key)).await;
        let run = f.run(&task).await;
        let error = run.error.clone().unwrap_or_default();
        assert_eq!(run.status, status, "{title}: {error}");
        assert!(error.contains(needle), "{title}: {error:?} should contain {needle:?}");
        if title == "usage limit" {
            assert_eq!(run.retry_at.map(|t| t.timestamp()), Some(resets_at), "{error}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_codex_during_a_command_leaves_no_process_behind() {
    let f = fixture(Dialect::OpenAi).await;
    let task =
        scripted(&f, "long command", Scenario::Script(vec![Reply::tool("exec", shell("sleep 300"))])).await;
    let run = f.runner.start(task.id).await.expect("start");
    let id = run.id.to_string();
    let sleep =
        wait_until("the command's sleep", Duration::from_secs(60), || run_process(&id, b"sleep\x00300"))
            .await;
    f.runner.stop(run.id).await.expect("stop");
    let run = f.runner.wait(run.id).await.expect("wait");
    assert_eq!(run.status, RunStatus::Cancelled, "{:?}", run.error);
    assert!(!alive(sleep), "the command's sleep {sleep} survived the stop");
    assert!(process::run_processes(&id, run.pid.map(|p| p as i32)).is_empty());
    assert_eq!(f.runner.store().get_task(task.id).await.expect("task").status, TaskStatus::Cancelled);
}

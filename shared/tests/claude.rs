//! Claude Code end to end: the real CLI (pinned, installed into `.tools/` by
//! `script/setup --test`) run by the runner in real git worktrees against the mock Anthropic
//! API, plus fake CLIs for the output a real one should never print.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use futures::StreamExt as _;
use serde_json::{Value, json};
use taskyard_core::git;
use taskyard_core::model::*;
use taskyard_core::runner::process::{self, Boundary};
use taskyard_core::store::Store;
use taskyard_test_support::mock_api::{ApiError, Block, Dialect, Reply, Scenario};

const API_KEY: &str = "sk-ant-api03-TEST-not-a-real-key-000000000000000000000000";
const OAUTH_TOKEN: &str = "sk-ant-oat01-TEST-not-a-real-token-00000000000000000000000";

/// Settings for a task that runs the real CLI against `base_url` with `credential`.
fn settings(base_url: &str, credential: Option<(&str, &str)>, extra: Value) -> Value {
    let mut env = json!({ "ANTHROPIC_BASE_URL": base_url });
    if let Some((name, value)) = credential {
        env[name] = json!(value);
    }
    let base = merged(cli_settings(&tool("claude-code", "claude"), env), json!({ "api_retries": 0 }));
    merged(base, extra)
}

async fn claude_fixture() -> Fixture {
    fixture(Dialect::Anthropic).await
}

/// A task whose runs talk to the mock's `scenario` with the fake API key.
async fn scripted(f: &Fixture, title: &str, scenario: Scenario) -> Task {
    let url = f.mock.scenario(&slugify(title), scenario);
    f.task("claude", title, settings(&url, Some(("ANTHROPIC_API_KEY", API_KEY)), json!({}))).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_writes_a_file_that_is_logged_diffed_and_merged() {
    let f = claude_fixture().await;
    let task = scripted(
        &f,
        "add hello",
        Scenario::Script(vec![
            Reply::Message(vec![
                Block::Thinking("The file does not exist yet.".into()),
                Block::Text("I'll create hello.txt.".into()),
                Block::tool("Write", json!({"file_path": "{cwd}/hello.txt", "content": "hello\n"})),
            ]),
            Reply::text("Created hello.txt."),
        ]),
    )
    .await;
    let run = f.run(&task).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    assert_eq!(run.exit_code, Some(0));
    let session = run.session_id.clone().expect("the session id is stored");

    let logs = f.logs(run.id).await;
    assert!(logs.windows(2).all(|w| w[1].seq == w[0].seq + 1), "gapless, in order");
    let worktree = run.worktree_path.clone().expect("worktree");
    let mut entries = agent_entries(&logs);
    let result_line = entries.pop().expect("result");
    assert!(result_line.starts_with("result result: done in 2 turns · "), "{result_line}");
    assert_eq!(
        entries,
        [
            "system prompt: please add hello".into(),
            format!(
                "init init: Claude Code 2.1.197 · model claude-opus-4-8[1m] · 24 tools · acceptEdits · session {session}"
            ),
            "system system: thinking (about 7 tokens)".into(),
            "thinking thinking: The file does not exist yet.".into(),
            "assistant text: I'll create hello.txt.".into(),
            "tool_use tool_use: Write hello.txt".into(),
            format!(
                "tool_result tool_result: File created successfully at: {worktree}/hello.txt (file state is current in your context — no need to Read it back)"
            ),
            "assistant text: Created hello.txt.".into(),
        ]
    );
    let result = logs.iter().find(|e| e.kind == LogKind::Result).expect("result");
    assert!(result.text.starts_with("done in 2 turns · "), "{}", result.text);
    let data = result.data.as_ref().expect("data");
    assert_eq!((data["num_turns"].as_i64(), data["is_error"].as_bool()), (Some(2), Some(false)));
    assert!(data["total_cost_usd"].as_f64().is_some() && data["usage"]["output_tokens"].as_i64().is_some());
    let tool_use = logs.iter().find(|e| e.kind == LogKind::ToolUse).expect("tool use");
    assert_eq!(tool_use.data.as_ref().expect("data")["input"]["content"], "hello\n");
    let texts: Vec<&str> =
        logs.iter().filter(|e| e.kind == LogKind::System).map(|e| e.text.as_str()).collect();
    assert!(texts[0].starts_with("starting `"), "{texts:?}");
    assert_eq!(texts.last(), Some(&"run succeeded"));

    // The worktree has the file, the diff shows it, the merge lands it on main.
    let diff = git::diff(&f.repo, "main", run.branch.as_deref().expect("branch")).expect("diff");
    assert_eq!(diff.files.iter().map(|d| d.path.as_str()).collect::<Vec<_>>(), ["hello.txt"]);
    assert_eq!((run.files_changed, run.insertions), (Some(1), Some(1)));
    git::merge(&f.repo, run.branch.as_deref().expect("branch"), "main", "merge hello").expect("merge");
    assert_eq!(std::fs::read_to_string(f.repo.join("hello.txt")).expect("merged"), "hello\n");
    assert_eq!(f.runner.store().get_task(task.id).await.expect("task").status, TaskStatus::InReview);

    // What the CLI sent: the key as x-api-key, the prompt, one request per model turn.
    let calls = f.mock.model_calls("add-hello");
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].header("x-api-key"), Some(API_KEY));
    assert!(calls[0].user_texts().iter().any(|t| t == "please add hello"), "{:?}", calls[0].user_texts());
    assert_eq!(calls[0].body["stream"], json!(true));
    // The CLI's state lived in the run's own home, its tool files in the run's tmp dir.
    let home = f.home(run.id);
    assert!(home.join(".claude.json").is_file(), "per-run home {}", home.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follow_up_resumes_the_session_in_the_same_worktree() {
    let f = claude_fixture().await;
    let task = scripted(
        &f,
        "two steps",
        Scenario::Script(vec![
            Reply::tool("Write", json!({"file_path": "{cwd}/notes.md", "content": "one\n"})),
            Reply::text("Wrote notes.md."),
            Reply::Message(vec![Block::tool(
                "Edit",
                json!({"file_path": "{cwd}/notes.md", "old_string": "one\n", "new_string": "one\ntwo\n"}),
            )]),
            Reply::text("Added the second line."),
        ]),
    )
    .await;
    let first = f.run(&task).await;
    assert_eq!(first.status, RunStatus::Succeeded, "{:?}", first.error);
    let session = first.session_id.clone().expect("session");

    let second = f.runner.follow_up(task.id, "now add a second line".into()).await.expect("follow up");
    let second = f.runner.wait(second.id).await.expect("wait");
    assert_eq!(second.status, RunStatus::Succeeded, "{:?}", second.error);
    assert_eq!((second.kind, second.attempt), (RunKind::FollowUp, 2));
    assert_eq!(second.session_id.as_deref(), Some(session.as_str()), "one conversation: the session goes on");
    assert_eq!(second.worktree_path, first.worktree_path);
    let logs = f.logs(second.id).await;
    assert!(logs.iter().any(|e| e.text == format!("resuming agent session {session}")));
    // The follow-up's message is in its log, so the task's runs read as one conversation.
    let prompt = logs.iter().find(|e| event(e) == "prompt").expect("prompt entry");
    assert_eq!(prompt.text, "now add a second line");
    assert_eq!(prompt.data.as_ref().expect("data")["run_kind"], "follow_up");
    let edit = logs.iter().find(|e| e.kind == LogKind::ToolUse).expect("edit");
    assert_eq!(edit.text, "Edit notes.md");
    let result = logs.iter().find(|e| e.kind == LogKind::ToolResult).expect("edit result");
    assert_eq!(result.data.as_ref().expect("data")["is_error"], json!(false), "{}", result.text);

    // The follow-up's request carried the whole earlier conversation.
    let calls = f.mock.model_calls("two-steps");
    assert_eq!(calls.len(), 4);
    let texts = calls[2].user_texts();
    assert!(texts.iter().any(|t| t == "please two steps"), "{texts:?}");
    assert_eq!(texts.last().map(String::as_str), Some("now add a second line"));
    assert_eq!(git(&f.repo, &["show", "taskyard/two-steps:notes.md"]), "one\ntwo");
    // Only the latest run's home is kept: it holds the session now.
    assert!(!f.data.join("homes").join(first.id.to_string()).exists());
    assert!(f.data.join("homes").join(second.id.to_string()).exists());
}

/// A run against an API that fails, and how it must end.
struct ErrorCase {
    title: &'static str,
    url: String,
    credential: Option<(&'static str, &'static str)>,
    extra: Value,
    status: RunStatus,
    needle: &'static str,
}

fn case(
    title: &'static str,
    url: String,
    credential: Option<(&'static str, &'static str)>,
    status: RunStatus,
    needle: &'static str,
) -> ErrorCase {
    ErrorCase { title, url, credential, extra: json!({}), status, needle }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_errors_end_runs_with_the_state_that_says_what_to_do() {
    let f = claude_fixture().await;
    let resets_at = chrono::Utc::now().timestamp() + 3 * 3600;
    let loop_script = Scenario::Script(
        (0..5)
            .map(|i| Reply::tool("Bash", json!({"command": format!("echo {i}"), "description": "step"})))
            .collect(),
    );
    let refused = {
        // A port nothing listens on: bind one, then let it go.
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        format!("http://{}", l.local_addr().expect("addr"))
    };
    let (key, oauth) = (Some(("ANTHROPIC_API_KEY", API_KEY)), Some(("CLAUDE_CODE_OAUTH_TOKEN", OAUTH_TOKEN)));
    let fail = |name: &str, e: ApiError| f.mock.scenario(name, Scenario::Fail(e));
    let cases = [
        case(
            "no-credentials",
            f.mock.scenario("ok", Scenario::text("hi")),
            None,
            RunStatus::WaitingAuth,
            "Not logged in",
        ),
        case("bad-key", fail("401", ApiError::Unauthorized), key, RunStatus::WaitingAuth, "Invalid API key"),
        case(
            "bad-token",
            fail("401", ApiError::Unauthorized),
            oauth,
            RunStatus::WaitingAuth,
            "Not logged in",
        ),
        case("forbidden", fail("403", ApiError::Forbidden), key, RunStatus::WaitingAuth, "403"),
        case(
            "key-rate-limit",
            fail("429", ApiError::RateLimited),
            key,
            RunStatus::WaitingQuota,
            "Request rejected (429)",
        ),
        case(
            "subscription-limit",
            fail("429u", ApiError::UsageLimit { resets_at }),
            oauth,
            RunStatus::WaitingQuota,
            "You've hit your session limit · resets",
        ),
        case(
            "transient-limit",
            fail("429", ApiError::RateLimited),
            oauth,
            RunStatus::ServerError,
            "not your usage limit",
        ),
        case(
            "credit",
            fail("credit", ApiError::CreditTooLow),
            key,
            RunStatus::Billing,
            "Credit balance is too low",
        ),
        case("overloaded", fail("529", ApiError::Overloaded), key, RunStatus::ServerError, "529"),
        case("internal", fail("500", ApiError::Internal), key, RunStatus::ServerError, "500"),
        // Through the credential proxy, which answers 502 for an upstream it cannot reach.
        case("unreachable", refused, key, RunStatus::ServerError, "the model API could not be reached"),
        ErrorCase {
            extra: json!({"max_turns": 2}),
            ..case(
                "turn-limit",
                f.mock.scenario("loop", loop_script),
                key,
                RunStatus::MaxTurns,
                "Reached maximum number of turns (2)",
            )
        },
    ];
    let mut tasks = Vec::new();
    for c in &cases {
        tasks.push(f.task("claude", c.title, settings(&c.url, c.credential, c.extra.clone())).await);
    }
    // Three CLIs at a time: each takes about a second and 300 MB.
    let runs: Vec<Run> = futures::stream::iter(tasks.iter().map(|t| f.run(t))).buffered(3).collect().await;
    for (ErrorCase { title, status, needle, .. }, run) in cases.iter().zip(&runs) {
        let error = run.error.clone().unwrap_or_default();
        assert_eq!(run.status, *status, "{title}: {error}");
        assert!(error.contains(needle), "{title}: {error:?} should contain {needle:?}");
        assert_eq!(run.exit_code, Some(1), "{title}");
        let task = f.runner.store().get_task(run.task_id).await.expect("task");
        let column = if status.is_waiting() { TaskStatus::Waiting } else { TaskStatus::Failed };
        assert_eq!(task.status, column, "{title}");
        let logs = f.logs(run.id).await;
        assert!(logs.iter().any(|e| e.kind == LogKind::Result), "{title}: a result entry");
    }
    let limit = &runs[5];
    assert_eq!(limit.retry_at.map(|t| t.timestamp()), Some(resets_at), "the reset time is kept");
    let limit_entry =
        f.logs(limit.id).await.into_iter().find(|e| event(e) == "rate_limit").expect("rate limit entry");
    assert_eq!(limit_entry.kind, LogKind::Error);
    for r in &runs {
        assert_eq!(r.retry_at.is_some(), r.status.is_waiting(), "a waiting run knows when it is retried");
    }
    // The OAuth token went out as a bearer token.
    let oauth_call = f.mock.model_calls("429u").pop().expect("call");
    assert_eq!(oauth_call.header("authorization"), Some(format!("Bearer {OAUTH_TOKEN}").as_str()));
    // The turn limit ran two tools first: its work is in the log.
    let turns = f.logs(runs[11].id).await;
    assert_eq!(turns.iter().filter(|e| e.kind == LogKind::ToolResult).count(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_during_a_bash_tool_leaves_no_process_behind() {
    stop_during_a_bash_tool(Boundary::PidNamespace).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_during_a_bash_tool_leaves_no_process_behind_without_a_namespace() {
    stop_during_a_bash_tool(Boundary::ProcessGroup).await;
}

async fn stop_during_a_bash_tool(boundary: Boundary) {
    let f = fixture_with(Dialect::Anthropic, boundary).await;
    let task = scripted(
        &f,
        "long command",
        Scenario::Script(vec![
            Reply::tool("Bash", json!({"command": "sleep 300", "description": "Wait", "timeout": 600000})),
            Reply::text("never reached"),
        ]),
    )
    .await;
    let run = f.runner.start(task.id).await.expect("start");
    let run_id = run.id.to_string();
    // The tool's `sleep` runs in its own session and process group, outside the CLI's.
    let sleep = wait_until("the Bash tool's sleep", Duration::from_secs(60), || {
        process::run_processes(&run_id, None).into_iter().find(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .map(|c| c.starts_with(b"sleep\x00300"))
                .unwrap_or(false)
        })
    })
    .await;
    let started = f.runner.store().get_run(run.id).await.expect("run");
    let pgid = started.pid.expect("pid") as i32;
    let note = f.logs(run.id).await.into_iter().find(|e| e.text.starts_with("starting `")).expect("note");
    assert_eq!(
        note.text.ends_with("(in its own PID namespace)"),
        boundary == Boundary::PidNamespace,
        "{}",
        note.text
    );
    let stat = std::fs::read_to_string(format!("/proc/{sleep}/stat")).expect("stat");
    let sleep_group: i32 =
        stat[stat.rfind(')').expect(")") + 2..].split(' ').nth(2).expect("pgrp").parse().expect("n");
    assert_ne!(sleep_group, pgid, "the tool left the run's process group");

    let asked = Instant::now();
    f.runner.stop(run.id).await.expect("stop");
    let run = f.runner.wait(run.id).await.expect("wait");
    let took = asked.elapsed();
    assert_eq!(run.status, RunStatus::Cancelled, "{:?}", run.error);
    assert!(!alive(sleep), "the tool's sleep {sleep} survived the stop");
    assert!(process::run_processes(&run_id, Some(pgid)).is_empty(), "nothing of the run survives");
    // SIGINT was the clean stop: the CLI wrote its own result before it went.
    let logs = f.logs(run.id).await;
    let result = logs.iter().find(|e| e.kind == LogKind::Result).expect("the CLI's own result");
    assert_eq!(result.data.as_ref().expect("data")["subtype"], "error_during_execution");
    assert!(took < Duration::from_secs(5), "a clean stop is quick ({took:?})");
    assert_eq!(f.runner.store().get_task(task.id).await.expect("task").status, TaskStatus::Cancelled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_while_the_api_is_slow_to_answer() {
    let f = claude_fixture().await;
    let task = scripted(&f, "slow api", Scenario::Hang).await;
    let run = f.runner.start(task.id).await.expect("start");
    f.wait_for_entry(run.id, |e| e.kind == LogKind::Init).await;
    wait_until("the CLI's request", Duration::from_secs(30), || {
        (!f.mock.model_calls("slow-api").is_empty()).then_some(())
    })
    .await;
    f.runner.stop(run.id).await.expect("stop");
    let run = f.runner.wait(run.id).await.expect("wait");
    assert_eq!(run.status, RunStatus::Cancelled);
    assert!(process::run_processes(&run.id.to_string(), run.pid.map(|p| p as i32)).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denied_tools_are_shown_and_do_not_fail_the_run() {
    let f = claude_fixture().await;
    let task = scripted(
        &f,
        "fetch docs",
        Scenario::Script(vec![
            Reply::tool("WebFetch", json!({"url": "https://example.com/docs", "prompt": "summarise"})),
            Reply::text("I could not fetch the page."),
        ]),
    )
    .await;
    let run = f.run(&task).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    let logs = f.logs(run.id).await;
    let denial = logs.iter().find(|e| event(e) == "permission_denied").expect("denial entry");
    assert_eq!(denial.kind, LogKind::Error);
    assert_eq!(denial.text, "permission denied: WebFetch https://example.com/docs");
    let result = logs.iter().find(|e| e.kind == LogKind::Result).expect("result");
    assert_eq!(result.data.as_ref().expect("data")["permission_denials"], json!(1));
}

/// A fake `claude` that prints what a test wants.
fn fake_cli(dir: &Path, name: &str, script: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).expect("write");
    Command::new("chmod").arg("+x").arg(&path).status().expect("chmod");
    path.display().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_clis_fail_clearly_and_keep_every_line() {
    let f = claude_fixture().await;
    let bin = f.dir.path().join("bin");
    std::fs::create_dir_all(&bin).expect("mkdir");
    let not_executable = bin.join("claude-not-executable");
    std::fs::write(&not_executable, "#!/bin/sh\n").expect("write");
    let init = r#"{"type":"system","subtype":"init","session_id":"s-1","model":"m","tools":[],"cwd":"/w"}"#;
    let result = r#"{"type":"result","subtype":"success","is_error":false,"num_turns":1,"result":"ok","session_id":"s-1","total_cost_usd":0,"duration_ms":5}"#;
    let cases: Vec<(&str, String, RunStatus, &str)> = vec![
        ("missing", bin.join("no-such-claude").display().to_string(), RunStatus::Failed, "was not found"),
        ("not executable", not_executable.display().to_string(), RunStatus::Failed, "is not executable"),
        (
            "not json",
            fake_cli(&bin, "not-json", "echo 'Welcome to Claude'; echo '{not json'"),
            RunStatus::Failed,
            "Claude Code exited with code 0 without reporting a result: {not json (2 output line(s) were not JSON)",
        ),
        (
            "huge line",
            fake_cli(&bin, "huge", "head -c 10000000 /dev/zero | tr '\\0' x; echo"),
            RunStatus::Failed,
            "1 line(s) longer than 8 MiB were kept unparsed",
        ),
        (
            "no result",
            fake_cli(&bin, "no-result", &format!("echo '{init}'; echo 'boom' >&2; exit 1")),
            RunStatus::Failed,
            "Claude Code exited with code 1 without reporting a result: boom",
        ),
        (
            "noise then result",
            fake_cli(&bin, "noisy", &format!("echo 'npm WARN something'; echo '{init}'; echo '{result}'")),
            RunStatus::Succeeded,
            "",
        ),
    ];
    for (title, program, status, needle) in cases {
        let task = f.task("claude", title, json!({ "program": program })).await;
        let run = f.run(&task).await;
        let error = run.error.clone().unwrap_or_default();
        assert_eq!(run.status, status, "{title}: {error}");
        assert!(error.contains(needle), "{title}: {error:?} should contain {needle:?}");
        let logs = f.logs(run.id).await;
        match title {
            "not json" => {
                let raw: Vec<&str> =
                    logs.iter().filter(|e| e.kind == LogKind::Raw).map(|e| e.text.as_str()).collect();
                assert_eq!(raw, ["Welcome to Claude", "{not json"], "kept verbatim");
            }
            "huge line" => {
                let raw: Vec<&LogEntry> = logs.iter().filter(|e| e.kind == LogKind::Raw).collect();
                assert_eq!(raw.iter().map(|e| e.text.len()).sum::<usize>(), 10_000_000, "every byte kept");
                assert!(raw.iter().all(|e| e.text.len() <= 1024 * 1024));
                assert_eq!(raw.last().and_then(|e| e.data.clone()), Some(json!({"event": "raw"})));
                assert!(logs.iter().any(|e| event(e) == "line_too_long"));
            }
            "no result" => {
                assert_eq!(logs.iter().filter(|e| e.kind == LogKind::Init).count(), 1);
                assert_eq!(run.session_id.as_deref(), Some("s-1"), "the session is known even so");
            }
            "noise then result" => {
                assert_eq!(
                    logs.iter().find(|e| e.kind == LogKind::Raw).map(|e| e.text.as_str()),
                    Some("npm WARN something")
                );
            }
            _ => {}
        }
    }
}

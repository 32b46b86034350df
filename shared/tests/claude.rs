//! Claude Code end to end: the real CLI (pinned, installed into `.tools/` by
//! `script/setup --test`) run by the runner in real git worktrees against the mock Anthropic
//! API, plus fake CLIs for the output a real one should never print.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use serde_json::{Value, json};
use taskyard_core::events::Bus;
use taskyard_core::git;
use taskyard_core::logs::LogFollower;
use taskyard_core::model::*;
use taskyard_core::runner::{Runner, RunnerConfig, process};
use taskyard_core::store::{SqliteStore, Store};
use taskyard_test_support::mock_api::{ApiError, Block, Dialect, MockApi, Reply, Scenario};

const API_KEY: &str = "sk-ant-api03-TEST-not-a-real-key-000000000000000000000000";
const OAUTH_TOKEN: &str = "sk-ant-oat01-TEST-not-a-real-token-00000000000000000000000";

/// The pinned CLI in `.tools/`; its absence is a failure, never a skip.
fn claude_cli() -> PathBuf {
    let cli = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.tools/claude-code/node_modules/.bin/claude");
    assert!(
        cli.exists(),
        "Claude Code is not installed in .tools/claude-code: run `script/setup --test` (it installs the pinned CLI with npm)"
    );
    cli
}

struct Fixture {
    runner: Runner<SqliteStore>,
    project: Project,
    repo: PathBuf,
    mock: MockApi,
    data: PathBuf,
    _dir: tempfile::TempDir,
}

fn git_cmd(repo: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(["-c", "user.name=Test", "-c", "user.email=test@example.com"])
        .args(args)
        .current_dir(repo)
        .output()
        .expect("run git");
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(&repo).expect("mkdir");
    git_cmd(&repo, &["init", "-q", "-b", "main"]);
    std::fs::write(repo.join("README.md"), "# demo\n").expect("write");
    git_cmd(&repo, &["add", "."]);
    git_cmd(&repo, &["commit", "-q", "-m", "first"]);
    let store = SqliteStore::open(&dir.path().join("t.db")).await.expect("sqlite");
    let data = dir.path().join("data");
    let mut config = RunnerConfig::new(&data);
    // Only what a test gives its task: never a developer's own key.
    config.agent_env.clear();
    let runner = Runner::new(store.clone(), Arc::new(Bus::new()), config);
    let project = store
        .create_project(NewProject {
            name: "demo".into(),
            repo_path: repo.display().to_string(),
            default_branch: "main".into(),
            origin_url: None,
        })
        .await
        .expect("project");
    let mock = MockApi::start(Dialect::Anthropic).await.expect("mock");
    Fixture { runner, project, repo, mock, data, _dir: dir }
}

/// Settings for a task that runs the real CLI against `base_url` with `credential`.
fn settings(base_url: &str, credential: Option<(&str, &str)>, extra: Value) -> Value {
    let mut env = json!({ "ANTHROPIC_BASE_URL": base_url, "CLAUDE_CODE_MAX_RETRIES": "0" });
    if let Some((name, value)) = credential {
        env[name] = json!(value);
    }
    let mut settings = json!({ "program": claude_cli().display().to_string(), "env": env });
    if let Value::Object(extra) = extra {
        for (k, v) in extra {
            settings[k] = v;
        }
    }
    settings
}

impl Fixture {
    async fn task(&self, title: &str, settings: Value) -> Task {
        self.runner
            .store()
            .create_task(NewTask {
                project_id: self.project.id,
                title: title.into(),
                description: format!("please {title}"),
                agent: "claude".into(),
                agent_config: settings.to_string(),
            })
            .await
            .expect("task")
    }

    /// A task whose runs talk to the mock's `scenario` with the fake API key.
    async fn scripted(&self, title: &str, scenario: Scenario) -> Task {
        let url = self.mock.scenario(&slugify(title), scenario);
        self.task(title, settings(&url, Some(("ANTHROPIC_API_KEY", API_KEY)), json!({}))).await
    }

    async fn run(&self, task: &Task) -> Run {
        let run = self.runner.start(task.id).await.expect("start");
        self.runner.wait(run.id).await.expect("wait")
    }

    async fn logs(&self, run: RunId) -> Vec<LogEntry> {
        let mut all = Vec::new();
        loop {
            let after = all.last().map_or(0, |e: &LogEntry| e.seq);
            let page = self.runner.store().read_logs(run, after, 5_000).await.expect("logs");
            if page.is_empty() {
                return all;
            }
            all.extend(page);
        }
    }

    /// Follows a run's log until an entry satisfies `pred`.
    async fn wait_for_entry(&self, run: RunId, pred: impl Fn(&LogEntry) -> bool) -> LogEntry {
        let mut f =
            LogFollower::new(self.runner.store().clone(), self.runner.bus(), run, 0).await.expect("follow");
        while let Some(batch) = f.next().await.expect("next") {
            if let Some(e) = batch.into_iter().find(|e| pred(e)) {
                return e;
            }
        }
        panic!("the run ended without the expected entry");
    }
}

fn event(e: &LogEntry) -> &str {
    e.data.as_ref().and_then(|d| d.get("event")).and_then(Value::as_str).unwrap_or_default()
}

/// The agent's entries (the runner's own notes left out) as `kind event: text`.
fn agent_entries(logs: &[LogEntry]) -> Vec<String> {
    logs.iter()
        .filter(|e| e.kind != LogKind::System || e.data.is_some())
        .map(|e| format!("{} {}: {}", e.kind, event(e), e.text.lines().next().unwrap_or_default()))
        .collect()
}

/// Polls `condition` until it holds or `limit` passes: for facts no log line announces (a
/// process the agent's tool started).
async fn wait_until<T>(what: &str, limit: Duration, mut condition: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = condition() {
            return v;
        }
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).map(|s| !s.contains(") Z ")).unwrap_or(false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_writes_a_file_that_is_logged_diffed_and_merged() {
    let f = fixture().await;
    let task = f
        .scripted(
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
    let home = f.data.join("homes").join(run.id.to_string());
    assert!(home.join(".claude.json").is_file(), "per-run home {}", home.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follow_up_resumes_the_session_in_the_same_worktree() {
    let f = fixture().await;
    let task = f
        .scripted(
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
    assert_eq!(git_cmd(&f.repo, &["show", "taskyard/two-steps:notes.md"]), "one\ntwo");
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
    let f = fixture().await;
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
            RunStatus::AuthRequired,
            "Not logged in",
        ),
        case("bad-key", fail("401", ApiError::Unauthorized), key, RunStatus::AuthRequired, "Invalid API key"),
        case(
            "bad-token",
            fail("401", ApiError::Unauthorized),
            oauth,
            RunStatus::AuthRequired,
            "Not logged in",
        ),
        case("forbidden", fail("403", ApiError::Forbidden), key, RunStatus::AuthRequired, "403"),
        case(
            "key-rate-limit",
            fail("429", ApiError::RateLimited),
            key,
            RunStatus::QuotaExceeded,
            "Request rejected (429)",
        ),
        case(
            "subscription-limit",
            fail("429u", ApiError::UsageLimit { resets_at: resets_at }),
            oauth,
            RunStatus::QuotaExceeded,
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
        case("unreachable", refused, key, RunStatus::ServerError, "Unable to connect to API"),
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
        tasks.push(f.task(c.title, settings(&c.url, c.credential, c.extra.clone())).await);
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
    assert!(runs.iter().enumerate().all(|(i, r)| i == 5 || r.retry_at.is_none()));
    // The OAuth token went out as a bearer token.
    let oauth_call = f.mock.model_calls("429u").pop().expect("call");
    assert_eq!(oauth_call.header("authorization"), Some(format!("Bearer {OAUTH_TOKEN}").as_str()));
    // The turn limit ran two tools first: its work is in the log.
    let turns = f.logs(runs[11].id).await;
    assert_eq!(turns.iter().filter(|e| e.kind == LogKind::ToolResult).count(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_during_a_bash_tool_leaves_no_process_behind() {
    let f = fixture().await;
    let task = f
        .scripted(
            "long command",
            Scenario::Script(vec![
                Reply::tool(
                    "Bash",
                    json!({"command": "sleep 300", "description": "Wait", "timeout": 600000}),
                ),
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
    let f = fixture().await;
    let task = f.scripted("slow api", Scenario::Hang).await;
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
    let f = fixture().await;
    let task = f
        .scripted(
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
    let f = fixture().await;
    let bin = f._dir.path().join("bin");
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
            "Claude Code exited with code 0 without reporting a result: {not json (2 output line(s) were not stream-json)",
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
        let task = f.task(title, json!({ "program": program })).await;
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

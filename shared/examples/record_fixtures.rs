//! Records the JSON output of the real agent CLIs (the pinned ones in `.tools/`) against the
//! mock APIs, one file per scenario, into `shared/tests/fixtures/<agent>/`. The parser table
//! tests (`tests/*_parser.rs`) read them.
//!
//!     script/setup --test && cargo run -p taskyard-core --example record_fixtures [agent]
//!
//! Values that change from one recording to the next (temporary paths, ids, timestamps,
//! durations, the mock's port) are replaced with fixed ones, so a re-recording with the
//! same CLI shows only real changes in `git diff`.

use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use serde_json::{Value, json};
use taskyard_core::agent::{self, RunContext};
use taskyard_core::model::RunKind;
use taskyard_core::runner::process;
use taskyard_test_support::mock_api::{ApiError, Block, Dialect, MockApi, Reply, Scenario};
use tokio::io::AsyncReadExt as _;

const API_KEY: &str = "sk-ant-api03-TEST-not-a-real-key-000000000000000000000000";
const OAUTH_TOKEN: &str = "sk-ant-oat01-TEST-not-a-real-token-00000000000000000000000";
const OPENAI_KEY: &str = "sk-proj-TEST-not-a-real-key-0000000000000000";
const GEMINI_KEY: &str = "AIzaTEST-not-a-real-key-000000000000000";
/// A fixed reset time far enough ahead that the CLI prints it with its date and year.
const RESETS_AT: i64 = 1_900_000_000;
/// Where the worktree appears in the recordings.
const WORKTREE: &str = "/work/project";
/// Where the CLI's home appears in the recordings.
const HOME: &str = "/home/agent";

/// An agent CLI and what to record of it.
struct Agent {
    name: &'static str,
    folder: &'static str,
    program: &'static str,
    dialect: Dialect,
    base_url_var: &'static str,
    settings: Value,
    cases: Vec<Case>,
}

struct Case {
    name: &'static str,
    scenario: Option<Scenario>,
    credential: Option<(&'static str, &'static str)>,
    settings: Value,
    /// Send SIGINT once a process whose command line starts with this exists.
    interrupt_on: Option<&'static str>,
    /// Resume this session (which does not exist).
    resume: Option<&'static str>,
    env: &'static [(&'static str, &'static str)],
}

fn case(name: &'static str, scenario: Scenario) -> Case {
    keyed(name, scenario, ("ANTHROPIC_API_KEY", API_KEY))
}

fn keyed(name: &'static str, scenario: Scenario, key: (&'static str, &'static str)) -> Case {
    Case {
        name,
        scenario: Some(scenario),
        credential: Some(key),
        settings: json!({}),
        interrupt_on: None,
        resume: None,
        env: &[],
    }
}

fn claude_cases() -> Vec<Case> {
    let oauth = Some(("CLAUDE_CODE_OAUTH_TOKEN", OAUTH_TOKEN));
    vec![
        case(
            "text",
            Scenario::Script(vec![Reply::Message(vec![
                Block::Thinking("A greeting is enough.".into()),
                Block::Text("Hello! How can I help?".into()),
            ])]),
        ),
        case(
            "write",
            Scenario::Script(vec![
                Reply::Message(vec![
                    Block::Text("I'll create the file.".into()),
                    Block::tool(
                        "Write",
                        json!({"file_path": "{cwd}/src/hello.rs", "content": "fn main() {}\n"}),
                    ),
                ]),
                Reply::text("Created src/hello.rs."),
            ]),
        ),
        case(
            "edit",
            Scenario::Script(vec![
                Reply::tool("Read", json!({"file_path": "{cwd}/README.md"})),
                Reply::tool(
                    "Edit",
                    json!({"file_path": "{cwd}/README.md", "old_string": "# demo", "new_string": "# Demo project"}),
                ),
                Reply::text("Renamed the heading."),
            ]),
        ),
        case(
            "bash",
            Scenario::Script(vec![
                Reply::tool("Bash", json!({"command": "seq 1 40", "description": "Count to forty"})),
                Reply::text("Counted."),
            ]),
        ),
        case(
            "several_tools",
            Scenario::Script(vec![
                Reply::tool("Glob", json!({"pattern": "**/*.md"})),
                Reply::tool("Grep", json!({"pattern": "demo", "path": "{cwd}"})),
                Reply::Message(vec![
                    Block::Text("Two things at once.".into()),
                    Block::tool("Write", json!({"file_path": "{cwd}/a.txt", "content": "a\n"})),
                    Block::tool(
                        "Bash",
                        json!({"command": "cat a.txt missing.txt", "description": "Show files"}),
                    ),
                ]),
                Reply::text("Done: a.txt exists, missing.txt does not."),
            ]),
        ),
        case(
            "permission_denied",
            Scenario::Script(vec![
                Reply::tool("WebFetch", json!({"url": "https://example.com/docs", "prompt": "summarise"})),
                Reply::text("I could not fetch the page."),
            ]),
        ),
        Case {
            settings: json!({"max_turns": 2}),
            ..case(
                "max_turns",
                Scenario::Script(
                    (0..5)
                        .map(|i| {
                            Reply::tool(
                                "Bash",
                                json!({"command": format!("echo {i}"), "description": "step"}),
                            )
                        })
                        .collect(),
                ),
            )
        },
        Case {
            interrupt_on: Some("sleep\u{0}300"),
            ..case(
                "interrupted",
                Scenario::Script(vec![
                    Reply::tool(
                        "Bash",
                        json!({"command": "sleep 300", "description": "Wait", "timeout": 600000}),
                    ),
                    Reply::text("never reached"),
                ]),
            )
        },
        Case {
            env: &[("CLAUDE_CODE_MAX_RETRIES", "2")],
            ..case(
                "api_retry",
                Scenario::FailFirst(2, ApiError::Overloaded, vec![Reply::text("Third time lucky.")]),
            )
        },
        Case {
            resume: Some("0f0e0d0c-0b0a-4009-8807-060504030201"),
            ..case("resume_missing", Scenario::text("x"))
        },
        Case { credential: None, ..case("no_credentials", Scenario::text("x")) },
        case("401_api_key", Scenario::Fail(ApiError::Unauthorized)),
        Case { credential: oauth, ..case("401_oauth", Scenario::Fail(ApiError::Unauthorized)) },
        case("403", Scenario::Fail(ApiError::Forbidden)),
        case("429_api_key", Scenario::Fail(ApiError::RateLimited)),
        Case {
            credential: oauth,
            ..case("429_subscription_limit", Scenario::Fail(ApiError::UsageLimit { resets_at: RESETS_AT }))
        },
        Case { credential: oauth, ..case("429_transient", Scenario::Fail(ApiError::RateLimited)) },
        case("credit_too_low", Scenario::Fail(ApiError::CreditTooLow)),
        case("529", Scenario::Fail(ApiError::Overloaded)),
        case("500", Scenario::Fail(ApiError::Internal)),
        Case { scenario: None, ..case("unreachable", Scenario::Hang) },
    ]
}

/// The `exec` tool's JavaScript (Codex) for a call of one of its nested tools.
fn codex_exec(call: &str) -> Value {
    json!(format!("const r = await {call};\ntext(JSON.stringify(r));"))
}

fn codex_cases() -> Vec<Case> {
    let key = ("OPENAI_API_KEY", OPENAI_KEY);
    let c = |name, scenario| keyed(name, scenario, key);
    let patch = json!("*** Begin Patch\n*** Add File: src/hello.rs\n+fn main() {}\n*** End Patch\n");
    vec![
        c(
            "text",
            Scenario::Script(vec![Reply::Message(vec![
                Block::Thinking("A greeting is enough.".into()),
                Block::Text("Hello! How can I help?".into()),
            ])]),
        ),
        c(
            "write",
            Scenario::Script(vec![
                Reply::Message(vec![
                    Block::Text("I'll create the file.".into()),
                    Block::tool("exec", codex_exec(&format!("tools.apply_patch({patch})"))),
                ]),
                Reply::text("Created src/hello.rs."),
            ]),
        ),
        c(
            "shell",
            Scenario::Script(vec![
                Reply::tool("exec", codex_exec("tools.exec_command({cmd: \"seq 1 40\"})")),
                Reply::tool("exec", codex_exec("tools.exec_command({cmd: \"cat missing.txt\"})")),
                Reply::text("Counted; missing.txt does not exist."),
            ]),
        ),
        Case { credential: None, ..c("no_key", Scenario::text("x")) },
        c("401", Scenario::Fail(ApiError::Unauthorized)),
        c("usage_limit", Scenario::Fail(ApiError::UsageLimit { resets_at: RESETS_AT })),
        c("429", Scenario::Fail(ApiError::RateLimited)),
        c("insufficient_quota", Scenario::Fail(ApiError::CreditTooLow)),
        c("500", Scenario::Fail(ApiError::Internal)),
    ]
}

fn gemini_cases() -> Vec<Case> {
    let key = ("GEMINI_API_KEY", GEMINI_KEY);
    let c = |name, scenario| keyed(name, scenario, key);
    vec![
        c(
            "text",
            Scenario::Script(vec![Reply::Message(vec![
                Block::Thinking("A greeting is enough.".into()),
                Block::Text("Hello! How can I help?".into()),
            ])]),
        ),
        c(
            "write",
            Scenario::Script(vec![
                Reply::Message(vec![
                    Block::Text("I'll create the file.".into()),
                    Block::tool(
                        "write_file",
                        json!({"file_path": "src/hello.rs", "content": "fn main() {}\n"}),
                    ),
                ]),
                Reply::text("Created src/hello.rs."),
            ]),
        ),
        c(
            "shell",
            Scenario::Script(vec![
                Reply::tool("run_shell_command", json!({"command": "seq 1 40", "description": "Count"})),
                Reply::tool("no_such_tool", json!({"x": "y"})),
                Reply::text("Counted."),
            ]),
        ),
        Case {
            settings: json!({"max_turns": 1}),
            ..c(
                "max_turns",
                Scenario::Script(vec![
                    Reply::tool("run_shell_command", json!({"command": "echo 1", "description": "one"})),
                    Reply::tool("run_shell_command", json!({"command": "echo 2", "description": "two"})),
                    Reply::text("never"),
                ]),
            )
        },
        c("401", Scenario::Fail(ApiError::Unauthorized)),
        c("daily_quota", Scenario::Fail(ApiError::UsageLimit { resets_at: RESETS_AT })),
        c("429", Scenario::Fail(ApiError::RateLimited)),
        c("billing", Scenario::Fail(ApiError::CreditTooLow)),
        c("503", Scenario::Fail(ApiError::Overloaded)),
    ]
}

fn agents() -> Vec<Agent> {
    vec![
        Agent {
            name: "claude",
            folder: "claude-code",
            program: "claude",
            dialect: Dialect::Anthropic,
            base_url_var: "ANTHROPIC_BASE_URL",
            settings: json!({"api_retries": 0}),
            cases: claude_cases(),
        },
        Agent {
            name: "codex",
            folder: "codex",
            program: "codex",
            dialect: Dialect::OpenAi,
            base_url_var: "OPENAI_BASE_URL",
            settings: json!({"api_retries": 0}),
            cases: codex_cases(),
        },
        Agent {
            name: "gemini",
            folder: "gemini-cli",
            program: "gemini",
            dialect: Dialect::Gemini,
            base_url_var: "GOOGLE_GEMINI_BASE_URL",
            settings: json!({"api_retries": 0, "model": "gemini-2.5-flash"}),
            cases: gemini_cases(),
        },
    ]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let only = std::env::args().nth(1);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for a in agents().into_iter().filter(|a| only.as_deref().is_none_or(|o| o == a.name)) {
        let cli = root.join(format!(".tools/{}/node_modules/.bin/{}", a.folder, a.program));
        if !cli.exists() {
            bail!("{} is not installed in .tools/{}: run script/setup --test", a.program, a.folder);
        }
        let out_dir = root.join("shared/tests/fixtures").join(a.name);
        std::fs::create_dir_all(&out_dir)?;
        let mock = MockApi::start(a.dialect).await?;
        let refused = {
            let l = std::net::TcpListener::bind("127.0.0.1:0")?;
            format!("http://{}", l.local_addr()?)
        };
        for c in &a.cases {
            let url = match c.scenario.clone() {
                Some(s) => mock.scenario(c.name, s),
                None => refused.clone(),
            };
            let (lines, code) = record(&a, &cli, c, &url)
                .await
                .with_context(|| format!("recording {} {}", a.name, c.name))?;
            let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
            std::fs::write(out_dir.join(format!("{}.jsonl", c.name)), text)?;
            println!("{:<8} {:<24} {} lines, exit code {code:?}", a.name, c.name, lines.len());
        }
    }
    Ok(())
}

async fn record(a: &Agent, cli: &Path, c: &Case, url: &str) -> anyhow::Result<(Vec<String>, Option<i32>)> {
    let dir = tempfile::tempdir()?;
    let worktree = dir.path().join("project");
    let home = dir.path().join("home");
    let tmp = dir.path().join("tmp");
    for d in [&worktree, &home, &tmp] {
        std::fs::create_dir_all(d)?;
    }
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(["-c", "user.name=Test", "-c", "user.email=test@example.com"])
            .args(args)
            .current_dir(&worktree)
            .output()
    };
    git(&["init", "-q", "-b", "main"])?;
    std::fs::write(worktree.join("README.md"), "# demo\n")?;
    git(&["add", "."])?;
    git(&["commit", "-q", "-m", "first"])?;

    let mut settings = a.settings.clone();
    if let Value::Object(extra) = c.settings.clone() {
        for (k, v) in extra {
            settings[k] = v;
        }
    }
    settings["program"] = json!(cli.display().to_string());
    settings["env"] = json!({ a.base_url_var: url });
    if let Some((name, value)) = c.credential {
        settings["env"][name] = json!(value);
    }
    for (k, v) in c.env {
        settings["env"][*k] = json!(v);
    }
    let adapter = agent::adapter(a.name)?;
    let ctx = RunContext {
        prompt: "please do the task".into(),
        kind: RunKind::Start,
        resume_session: c.resume.map(str::to_owned),
        config: settings,
        worktree: worktree.clone(),
        env: process::base_env(&std::env::var("PATH").unwrap_or_default(), &home, &tmp),
        home: home.clone(),
        tmp: tmp.clone(),
    };
    let spec = adapter.command(&ctx)?;
    adapter.prepare_home(&ctx)?;
    let mut env = ctx.env.clone();
    env.extend(spec.env);
    let mut child = tokio::process::Command::new(&spec.program)
        .args(&spec.args)
        .env_clear()
        .envs(&env)
        .current_dir(&worktree)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()?;
    let pid = child.id().context("pid")? as i32;
    let mut stdout = child.stdout.take().context("stdout")?;
    let reader = tokio::spawn(async move {
        let mut out = String::new();
        stdout.read_to_string(&mut out).await.map(|_| out)
    });
    if let Some(marker) = c.interrupt_on {
        let start = Instant::now();
        while !descendants(pid).iter().any(|p| cmdline(*p).starts_with(marker)) {
            if start.elapsed() > Duration::from_secs(60) {
                bail!("the tool never started");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGINT)?;
    }
    let status = tokio::time::timeout(Duration::from_secs(120), child.wait()).await??;
    let out = reader.await??;
    let normalizer = Normalizer::new(&[
        (worktree.display().to_string(), WORKTREE.to_owned()),
        (home.display().to_string(), HOME.to_owned()),
        (tmp.display().to_string(), "/tmp/run".to_owned()),
        (url.to_owned(), "http://127.0.0.1:4000".to_owned()),
        (
            url.trim_start_matches("http://").split('/').next().unwrap_or_default().to_owned(),
            "127.0.0.1:4000".into(),
        ),
    ]);
    Ok((out.lines().map(|l| normalizer.line(l)).collect(), status.code()))
}

fn descendants(root: i32) -> Vec<i32> {
    let parents: HashMap<i32, i32> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let ppid = stat[stat.rfind(')')? + 2..].split(' ').nth(1)?.parse().ok()?;
            Some((pid, ppid))
        })
        .collect();
    let mut found = vec![root];
    loop {
        let more: Vec<i32> = parents
            .iter()
            .filter(|(p, pp)| found.contains(pp) && !found.contains(p))
            .map(|(p, _)| *p)
            .collect();
        if more.is_empty() {
            return found;
        }
        found.extend(more);
    }
}

fn cmdline(pid: i32) -> String {
    String::from_utf8_lossy(&std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default()).into_owned()
}

/// Replaces what changes between recordings with fixed values, in the text itself so the
/// rest of each line stays byte for byte what the CLI printed.
struct Normalizer {
    replacements: Vec<(String, String)>,
}

/// Keys whose values change every run, and what they become.
const FIXED: &[(&str, &str)] = &[
    ("session_id", "\"5e55a0e0-0000-4000-8000-000000000001\""),
    ("thread_id", "\"5e55a0e0-0000-4000-8000-000000000001\""),
    ("uuid", "\"00000000-0000-4000-8000-000000000000\""),
    ("parent_uuid", "\"00000000-0000-4000-8000-000000000000\""),
    ("timestamp", "\"2030-01-01T00:00:00.000Z\""),
    ("duration_ms", "1234"),
    ("duration_api_ms", "1234"),
    ("ttft_ms", "1234"),
    ("ttft_stream_ms", "1234"),
    ("time_to_request_ms", "1234"),
    ("retry_delay_ms", "1234"),
];

impl Normalizer {
    fn new(pairs: &[(String, String)]) -> Self {
        let mut replacements = Vec::new();
        for (from, to) in pairs.iter().filter(|(from, _)| !from.is_empty()) {
            replacements.push((from.clone(), to.clone()));
            // The CLI names a project's folder after its path with `/` and `.` made `-`.
            let slug = |p: &str| p.replace(['/', '.'], "-");
            replacements.push((slug(from), slug(to)));
        }
        // The longest first, so a path is replaced before its prefix.
        replacements.sort_by_key(|(from, _)| std::cmp::Reverse(from.len()));
        Self { replacements }
    }

    fn line(&self, line: &str) -> String {
        let mut line = line.to_owned();
        for (from, to) in &self.replacements {
            line = line.replace(from.as_str(), to);
        }
        for (key, fixed) in FIXED {
            line = replace_values(&line, key, fixed);
        }
        // Message ids of the CLI's own (synthetic) messages are random UUIDs.
        let line = replace_values_if(&line, "id", "\"00000000-0000-4000-8000-0000000000aa\"", |v| {
            is_uuid(v.trim_matches('"'))
        });
        // Gemini's tool ids carry the time in milliseconds.
        replace_matching(&line, "tool_id", |v| {
            let mut out = String::new();
            let mut digits = String::new();
            for ch in v.chars().chain(std::iter::once(' ')) {
                if ch.is_ascii_digit() {
                    digits.push(ch);
                    continue;
                }
                if digits.len() >= 10 {
                    out.push_str(&"0".repeat(digits.len()));
                } else {
                    out.push_str(&digits);
                }
                digits.clear();
                out.push(ch);
            }
            out.pop();
            out
        })
    }
}

/// Replaces the scalar after every `"key":` with what `f` makes of it.
fn replace_matching(line: &str, key: &str, f: impl Fn(&str) -> String) -> String {
    let needle = format!("\"{key}\":");
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(i) = rest.find(&needle) {
        let start = i + needle.len();
        out.push_str(&rest[..start]);
        let after = &rest[start..];
        let len = scalar_len(after);
        out.push_str(&f(&after[..len]));
        rest = &after[len..];
    }
    out.push_str(rest);
    out
}

fn replace_values(line: &str, key: &str, fixed: &str) -> String {
    replace_values_if(line, key, fixed, |_| true)
}

/// Replaces the scalar after every `"key":` for which `pred` holds.
fn replace_values_if(line: &str, key: &str, fixed: &str, pred: impl Fn(&str) -> bool) -> String {
    let needle = format!("\"{key}\":");
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(i) = rest.find(&needle) {
        let start = i + needle.len();
        out.push_str(&rest[..start]);
        let after = &rest[start..];
        let len = scalar_len(after);
        let value = &after[..len];
        if len > 0 && value != "null" && pred(value) {
            out.push_str(fixed);
        } else {
            out.push_str(value);
        }
        rest = &after[len..];
    }
    out.push_str(rest);
    out
}

/// The length of the JSON string or number at the start of `s` (0 for anything else).
fn scalar_len(s: &str) -> usize {
    if let Some(body) = s.strip_prefix('"') {
        let mut escaped = false;
        for (i, c) in body.char_indices() {
            match c {
                '\\' if !escaped => escaped = true,
                '"' if !escaped => return i + 2,
                _ => escaped = false,
            }
        }
        return 0;
    }
    s.find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | '-' | 'e' | 'E' | '+'))).unwrap_or(s.len())
}

fn is_uuid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && parts.iter().map(|p| p.len()).eq([8, 4, 4, 4, 12])
        && parts.iter().all(|p| p.chars().all(|c| c.is_ascii_hexdigit()))
}

//! The Codex CLI adapter: `codex exec --json --skip-git-repo-check … -- <prompt>` (or
//! `codex exec … resume <thread> -- <prompt>` for a follow-up) in the worktree; its JSON
//! events (`thread.started`, `item.*`, `turn.completed`, `turn.failed`, `error`) become log
//! entries, and the run is judged on how its turn ended.
//!
//! Codex talks to the API through a model provider Taskyard defines on the command line
//! (`-c model_providers.taskyard.*`): the base URL is `OPENAI_BASE_URL` when set (a gateway,
//! or a test's mock) and the OpenAI API otherwise, the key `OPENAI_API_KEY` (or
//! `CODEX_API_KEY`), and the retries `api_retries`. This version ignores `OPENAI_BASE_URL`
//! for its built-in provider, and a per-run home holds no `codex login`, so the explicit
//! provider is what makes credentials and endpoints predictable.
//!
//! Settings (all optional): `program`, `model`, `permission_mode` (the sandbox: `read-only`,
//! `workspace-write` (default), `danger-full-access`), `append_system_prompt` (Codex's
//! developer instructions), `api_retries`, `args`, `env`.

use std::collections::BTreeMap;
use std::path::Path;

use std::time::Duration;

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use nix::sys::signal::Signal;
use serde_json::{Value, json};

use super::clock;
use super::jsonl::{self, JsonLines, Read};
use super::{
    Adapter, AgentError, CliInfo, CliSettings, CommandSpec, CredentialVar, ExitInfo, LineParser, Outcome,
    Parsed, RunContext, Stream,
};
use crate::model::{LogKind, RunStatus};

/// The adapter's name on tasks.
pub const NAME: &str = "codex";

/// The CLI's program name.
pub const PROGRAM: &str = "codex";

/// The sandbox modes (`--sandbox`) Codex accepts.
pub const SANDBOX_MODES: &[&str] = &["read-only", "workspace-write", "danger-full-access"];

/// The sandbox when the settings name none: writes inside the worktree, nowhere else.
pub const DEFAULT_SANDBOX: &str = "workspace-write";

/// The OpenAI API, when `OPENAI_BASE_URL` does not say otherwise.
pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";

const CREDENTIALS: &[CredentialVar] = &[
    CredentialVar { name: "OPENAI_API_KEY", kind: "API key" },
    CredentialVar { name: "CODEX_API_KEY", kind: "API key" },
];

const PASSTHROUGH: &[&str] = &["OPENAI_BASE_URL", "HTTPS_PROXY", "NO_PROXY"];

/// See the module docs.
#[derive(Debug, Clone, Copy, Default)]
pub struct CodexAdapter;

fn settings(config: &Value) -> Result<CliSettings, AgentError> {
    let s = CliSettings::parse(config)?;
    s.refuse_unsupported("Codex", &["model", "permission_mode", "append_system_prompt"])?;
    if let Some(mode) = &s.permission_mode
        && !SANDBOX_MODES.contains(&mode.as_str())
    {
        return Err(AgentError::InvalidConfig(format!(
            "unknown sandbox mode `{mode}` (known: {})",
            SANDBOX_MODES.join(", ")
        )));
    }
    Ok(s)
}

/// A TOML string for a `-c key=value` override.
fn toml(value: &str) -> String {
    // A JSON string is a valid TOML basic string for everything serde_json writes.
    Value::String(value.to_owned()).to_string()
}

impl Adapter for CodexAdapter {
    fn name(&self) -> &'static str {
        NAME
    }

    fn display_name(&self) -> &'static str {
        "Codex CLI"
    }

    fn command(&self, ctx: &RunContext) -> Result<CommandSpec, AgentError> {
        let s = settings(&ctx.config)?;
        let base_url = ctx.var(&s, "OPENAI_BASE_URL").unwrap_or(DEFAULT_BASE_URL).to_owned();
        let key_var =
            CREDENTIALS.iter().map(|c| c.name).find(|v| ctx.var(&s, v).is_some()).unwrap_or("OPENAI_API_KEY");
        let retries = s.api_retries();
        let mut args: Vec<String> = ["exec", "--json", "--skip-git-repo-check", "--color", "never"]
            .iter()
            .map(|a| a.to_string())
            .collect();
        let mut config = |key: &str, value: String| {
            args.push("-c".into());
            args.push(format!("{key}={value}"));
        };
        config("model_provider", toml("taskyard"));
        config("model_providers.taskyard.name", toml("OpenAI (via Taskyard)"));
        config("model_providers.taskyard.base_url", toml(&base_url));
        config("model_providers.taskyard.env_key", toml(key_var));
        config("model_providers.taskyard.wire_api", toml("responses"));
        config("model_providers.taskyard.request_max_retries", retries.to_string());
        config("model_providers.taskyard.stream_max_retries", retries.to_string());
        if let Some(extra) = &s.append_system_prompt {
            config("developer_instructions", toml(extra));
        }
        if let Some(model) = s.model {
            args.extend(["--model".into(), model]);
        }
        args.extend(["--sandbox".into(), s.permission_mode.unwrap_or_else(|| DEFAULT_SANDBOX.into())]);
        args.extend(s.args);
        if let Some(session) = &ctx.resume_session {
            args.extend(["resume".into(), session.clone()]);
        }
        args.push("--".into());
        args.push(ctx.prompt.clone());
        let mut env = BTreeMap::new();
        // Codex prints reset times in local time; UTC makes them readable here.
        env.insert("TZ".to_owned(), "UTC".to_owned());
        env.insert("CODEX_HOME".to_owned(), ctx.home.join(".codex").display().to_string());
        env.extend(s.env);
        Ok(CommandSpec { program: s.program.unwrap_or_else(|| PROGRAM.into()), args, env })
    }

    /// SIGINT is the CLI's own cancel (Ctrl-C); SIGTERM comes second.
    fn stop_signals(&self) -> Vec<(Signal, Duration)> {
        vec![(Signal::SIGINT, Duration::from_secs(3)), (Signal::SIGTERM, Duration::from_secs(2))]
    }

    fn parser(&self) -> Box<dyn LineParser> {
        Box::new(CodexParser::default())
    }

    fn validate(&self, config: &Value) -> Result<(), AgentError> {
        settings(config).map(|_| ())
    }

    fn cli(&self) -> Option<CliInfo> {
        Some(CliInfo {
            program: PROGRAM,
            package: "@openai/codex",
            version_args: &["--version"],
            credentials: CREDENTIALS,
            passthrough: PASSTHROUGH,
        })
    }

    fn prepare_home(&self, ctx: &RunContext) -> std::io::Result<()> {
        // Codex refuses a CODEX_HOME that does not exist.
        std::fs::create_dir_all(ctx.home.join(".codex"))
    }

    /// Sessions live in `$CODEX_HOME/sessions/<yyyy>/<mm>/<dd>/rollout-<time>-<thread>.jsonl`;
    /// `resume` finds them by thread id.
    fn carry_session(&self, from: &Path, to: &Path, session: &str) -> std::io::Result<bool> {
        if session.is_empty() || !session.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Ok(false);
        }
        let root = from.join(".codex");
        let suffix = format!("-{session}.jsonl");
        let mut carried = false;
        let mut stack = vec![root.join("sessions")];
        while let Some(dir) = stack.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else { continue };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                } else if entry.file_name().to_string_lossy().ends_with(&suffix) {
                    let rel = path.strip_prefix(&root).map_err(std::io::Error::other)?;
                    let target = to.join(".codex").join(rel);
                    if let Some(parent) = target.parent() {
                        std::fs::create_dir_all(parent)?;
                    }
                    std::fs::copy(&path, &target)?;
                    carried = true;
                }
            }
        }
        Ok(carried)
    }
}

/// How the last turn ended.
#[derive(Debug, Clone)]
enum TurnEnd {
    Completed,
    Failed(String),
}

/// Reads `codex exec --json` output.
#[derive(Debug, Default)]
pub struct CodexParser {
    lines: JsonLines,
    thread_id: Option<String>,
    turn: Option<TurnEnd>,
    last_error: Option<String>,
}

impl LineParser for CodexParser {
    fn parse(&mut self, stream: Stream, line: &str, truncated: bool) -> Vec<Parsed> {
        match self.lines.read("Codex", stream, line, truncated) {
            Read::Entries(entries) => entries,
            Read::Event(value, line) => {
                let kind = value.get("type").and_then(Value::as_str).unwrap_or_default().to_owned();
                match self.event(&kind, &value) {
                    Some(entries) if !entries.is_empty() => entries,
                    _ => vec![jsonl::raw(line, (!kind.is_empty()).then_some(kind.as_str()), false)],
                }
            }
        }
    }

    fn finish(&mut self) -> Vec<Parsed> {
        self.lines.finish()
    }

    fn session_id(&self) -> Option<String> {
        self.thread_id.clone()
    }

    fn outcome(&self, exit: ExitInfo) -> Outcome {
        if exit.stopped {
            return Outcome::cancelled();
        }
        match &self.turn {
            Some(TurnEnd::Completed) if exit.code == Some(0) => Outcome::succeeded(),
            Some(TurnEnd::Completed) => Outcome::failed(format!(
                "Codex finished its turn but exited with {}",
                exit.code.map_or("a signal".to_owned(), |c| format!("code {c}"))
            )),
            Some(TurnEnd::Failed(message)) => classify(message, Utc::now()),
            None => match &self.last_error {
                // An error event without a turn end (e.g. a missing key before the turn).
                Some(message) => classify(message, Utc::now()),
                None => Outcome::failed(self.lines.no_result("Codex", "the end of its turn", exit)),
            },
        }
    }
}

impl CodexParser {
    fn event(&mut self, kind: &str, v: &Value) -> Option<Vec<Parsed>> {
        let entry = match kind {
            "thread.started" => {
                let id = v.get("thread_id").and_then(Value::as_str)?.to_owned();
                self.thread_id = Some(id.clone());
                Parsed::new(
                    LogKind::Init,
                    format!("Codex · thread {id}"),
                    json!({ "event": "init", "session_id": id }),
                )
            }
            "turn.started" => {
                Parsed::new(LogKind::System, "turn started", json!({ "event": "turn_started" }))
            }
            "turn.completed" => {
                self.turn = Some(TurnEnd::Completed);
                let usage = v.get("usage").cloned().unwrap_or(Value::Null);
                let tokens = |k: &str| usage.get(k).and_then(Value::as_i64).unwrap_or(0);
                Parsed::new(
                    LogKind::Result,
                    format!("done · {} tokens in, {} out", tokens("input_tokens"), tokens("output_tokens")),
                    json!({ "event": "result", "is_error": false, "usage": usage }),
                )
            }
            "turn.failed" => {
                let message =
                    v.pointer("/error/message").and_then(Value::as_str).unwrap_or("the turn failed");
                self.turn = Some(TurnEnd::Failed(message.to_owned()));
                Parsed::new(
                    LogKind::Result,
                    format!("error: {}", jsonl::one_line(message, 500)),
                    json!({ "event": "result", "is_error": true, "error": message }),
                )
            }
            "error" => {
                let message = v.get("message").and_then(Value::as_str).unwrap_or_default();
                if message.starts_with("Reconnecting") {
                    // Codex's own retries, reported as errors.
                    Parsed::new(LogKind::System, message, json!({ "event": "api_retry", "error": message }))
                } else {
                    self.last_error = Some(message.to_owned());
                    Parsed::new(LogKind::Error, message, json!({ "event": "error" }))
                }
            }
            "item.started" | "item.updated" | "item.completed" => return self.item(kind, v.get("item")?),
            _ => return None,
        };
        Some(vec![entry])
    }

    fn item(&mut self, kind: &str, item: &Value) -> Option<Vec<Parsed>> {
        let id = item.get("id").and_then(Value::as_str).unwrap_or_default();
        let s = |key: &str| item.get(key).and_then(Value::as_str).unwrap_or_default();
        let done = kind == "item.completed";
        let started = kind == "item.started";
        let entry = match (item.get("type").and_then(Value::as_str)?, started, done) {
            ("agent_message", _, true) => {
                Parsed::new(LogKind::Assistant, s("text"), json!({ "event": "text" }))
            }
            ("reasoning", _, true) => {
                Parsed::new(LogKind::Thinking, s("text"), json!({ "event": "thinking" }))
            }
            ("command_execution", true, _) => jsonl::tool_use(
                id,
                "shell",
                format!("Shell: {}", jsonl::one_line(shell_command(s("command")), 120)),
                &json!({ "command": s("command") }),
            ),
            ("command_execution", _, true) => {
                let output = s("aggregated_output");
                let exit_code = item.get("exit_code").and_then(Value::as_i64);
                tool_result(
                    id,
                    "shell",
                    output,
                    exit_code.is_some_and(|c| c != 0),
                    json!({ "exit_code": exit_code }),
                )
            }
            ("file_change", true, _) => jsonl::tool_use(
                id,
                "apply_patch",
                file_changes(item, &["Add", "Edit", "Delete"]),
                item.get("changes").unwrap_or(&Value::Null),
            ),
            ("file_change", _, true) => {
                let failed = s("status") == "failed";
                tool_result(
                    id,
                    "apply_patch",
                    &file_changes(item, &["added", "edited", "deleted"]),
                    failed,
                    json!({}),
                )
            }
            ("mcp_tool_call", true, _) => {
                let name = format!("{}.{}", s("server"), s("tool"));
                jsonl::tool_use(id, &name, name.clone(), item.get("arguments").unwrap_or(&Value::Null))
            }
            ("mcp_tool_call", _, true) => {
                let error = item.pointer("/error/message").and_then(Value::as_str);
                let text = error.map(str::to_owned).unwrap_or_else(|| {
                    item.get("result")
                        .map(|r| jsonl::content_text(r.get("content").unwrap_or(r)))
                        .unwrap_or_default()
                });
                tool_result(id, s("tool"), &text, error.is_some(), json!({}))
            }
            ("web_search", true, _) => jsonl::tool_use(
                id,
                "web_search",
                format!("WebSearch: {}", jsonl::one_line(s("query"), 120)),
                &json!({ "query": s("query") }),
            ),
            ("web_search", _, true) => tool_result(id, "web_search", "searched", false, json!({})),
            ("todo_list", _, _) => {
                let items = item.get("items").and_then(Value::as_array).cloned().unwrap_or_default();
                let done_count = items.iter().filter(|i| i.get("completed") == Some(&json!(true))).count();
                Parsed::new(
                    LogKind::System,
                    format!("plan: {done_count} of {} done", items.len()),
                    json!({ "event": "system", "subtype": "todo_list", "details": item }),
                )
            }
            ("error", _, _) => {
                self.last_error = Some(s("message").to_owned());
                Parsed::new(LogKind::Error, s("message"), json!({ "event": "error" }))
            }
            // A message or reasoning still being written: the completed item follows.
            ("agent_message" | "reasoning", _, false) => return Some(Vec::new()),
            _ => return None,
        };
        Some(vec![entry])
    }
}

/// The command inside Codex's `/bin/bash -lc '…'` wrapper, for people to read.
fn shell_command(command: &str) -> &str {
    for wrapper in ["/bin/bash -lc ", "bash -lc ", "/bin/sh -c ", "sh -c "] {
        if let Some(inner) = command.strip_prefix(wrapper) {
            let inner = inner.trim();
            return inner.strip_prefix('\'').and_then(|i| i.strip_suffix('\'')).unwrap_or(inner);
        }
    }
    command
}

/// "Add hello.txt, Edit src/lib.rs" from a `file_change` item, with `verbs` for add,
/// update and delete.
fn file_changes(item: &Value, verbs: &[&str; 3]) -> String {
    let changes = item.get("changes").and_then(Value::as_array).cloned().unwrap_or_default();
    let parts: Vec<String> = changes
        .iter()
        .map(|c| {
            let verb = match c.get("kind").and_then(Value::as_str) {
                Some("add") => verbs[0],
                Some("delete") => verbs[2],
                _ => verbs[1],
            };
            format!("{verb} {}", c.get("path").and_then(Value::as_str).unwrap_or("?"))
        })
        .collect();
    if parts.is_empty() { "file change".to_owned() } else { parts.join(", ") }
}

fn tool_result(id: &str, tool: &str, text: &str, is_error: bool, extra: Value) -> Parsed {
    let mut entry = jsonl::tool_result(id, Some(tool), text, is_error);
    if let (Some(Value::Object(data)), Value::Object(extra)) = (entry.data.as_mut(), extra) {
        data.extend(extra);
    }
    entry
}

/// Judges a failed turn by its message (Codex reports no structured error kind).
fn classify(message: &str, now: DateTime<Utc>) -> Outcome {
    let lower = message.to_lowercase();
    let has = |needles: &[&str]| needles.iter().any(|n| lower.contains(n));
    let status = if has(&[
        "401",
        "unauthorized",
        "invalid_api_key",
        "incorrect api key",
        "missing environment variable",
        "not logged in",
        "please log in",
        "login",
    ]) {
        RunStatus::AuthRequired
    } else if has(&["usage limit"]) {
        RunStatus::QuotaExceeded
    } else if has(&["quota exceeded", "insufficient_quota", "billing"]) {
        RunStatus::Billing
    } else if has(&["429", "rate limit", "too many requests"]) {
        RunStatus::QuotaExceeded
    } else if has(&[
        "high demand",
        "500",
        "502",
        "503",
        "504",
        "overloaded",
        "stream disconnected",
        "error sending request",
        "connection",
    ]) {
        RunStatus::ServerError
    } else {
        RunStatus::Failed
    };
    let mut outcome = Outcome::ended(status, message);
    if status == RunStatus::QuotaExceeded {
        outcome.retry_at = parse_try_again(message, now);
    }
    outcome
}

/// The time in "… try again at Mar 17th, 2030 5:46 PM." (Codex prints it in local time;
/// the adapter runs Codex with `TZ=UTC`), with or without the year or the date.
pub fn parse_try_again(message: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let at = message.to_ascii_lowercase().find("try again at ")?;
    let rest = &message[at + "try again at ".len()..];
    let rest = rest.trim_end_matches('.').trim();
    let words: Vec<&str> = rest.split_whitespace().collect();
    let (date_words, time_words) = words.split_at(words.len().checked_sub(2)?);
    let clock = format!("{}{}", time_words[0], time_words[1].to_ascii_lowercase());
    let time = clock::parse_clock(&clock)?;
    let date = match date_words {
        [] => now.date_naive(),
        [month, day] | [month, day, _] => {
            let day: u32 =
                day.trim_end_matches(',').trim_end_matches(|c: char| c.is_ascii_alphabetic()).parse().ok()?;
            let year = match date_words.get(2) {
                Some(y) => y.parse().ok()?,
                None => now.year(),
            };
            let month = clock::month_number(month)?;
            NaiveDate::from_ymd_opt(year, month, day)?
        }
        _ => return None,
    };
    let at = date.and_time(time).and_utc();
    Some(if date_words.is_empty() && at < now { at + chrono::Duration::days(1) } else { at })
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::model::RunKind;

    fn ctx(config: Value, env: &[(&str, &str)]) -> RunContext {
        RunContext {
            prompt: "-fix it".into(),
            kind: RunKind::Start,
            resume_session: None,
            config,
            worktree: PathBuf::from("/w"),
            home: PathBuf::from("/h"),
            tmp: PathBuf::from("/t"),
            env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        }
    }

    #[test]
    fn the_command_line_defines_the_provider_and_ends_with_the_prompt() {
        let mut c = ctx(
            json!({"model": "gpt-5", "append_system_prompt": "Be \"brief\".", "api_retries": 0}),
            &[("OPENAI_BASE_URL", "http://127.0.0.1:9/v1"), ("CODEX_API_KEY", "k")],
        );
        c.resume_session = Some("0199-abc".into());
        let spec = CodexAdapter.command(&c).expect("spec");
        let line = spec.args.join(" ");
        assert!(
            line.starts_with(
                "exec --json --skip-git-repo-check --color never -c model_provider=\"taskyard\""
            ),
            "{line}"
        );
        assert!(line.contains("-c model_providers.taskyard.base_url=\"http://127.0.0.1:9/v1\""), "{line}");
        assert!(line.contains("-c model_providers.taskyard.env_key=\"CODEX_API_KEY\""), "{line}");
        assert!(line.contains("-c model_providers.taskyard.request_max_retries=0"), "{line}");
        assert!(line.contains("-c developer_instructions=\"Be \\\"brief\\\".\""), "{line}");
        assert!(
            line.ends_with("--model gpt-5 --sandbox workspace-write resume 0199-abc -- -fix it"),
            "{line}"
        );
        assert_eq!(spec.env.get("CODEX_HOME").map(String::as_str), Some("/h/.codex"));
        let plain = CodexAdapter.command(&ctx(json!({}), &[])).expect("spec").args.join(" ");
        assert!(
            plain.contains(&format!("base_url=\"{DEFAULT_BASE_URL}\""))
                && plain.contains("env_key=\"OPENAI_API_KEY\"")
        );
    }

    #[test]
    fn settings_codex_cannot_honour_are_refused() {
        for (config, needle) in [
            (json!({"max_turns": 3}), "Codex does not support `max_turns`"),
            (json!({"allowed_tools": ["x"]}), "Codex does not support `allowed_tools`"),
            (json!({"permission_mode": "acceptEdits"}), "unknown sandbox mode `acceptEdits`"),
        ] {
            let err = CodexAdapter.validate(&config).expect_err("refused").to_string();
            assert!(err.contains(needle), "{err}");
        }
    }

    #[test]
    fn failed_turns_are_classified() {
        let now = DateTime::parse_from_rfc3339("2030-03-10T12:00:00Z").expect("t").with_timezone(&Utc);
        for (message, status, retry) in [
            ("unexpected status 401 Unauthorized: Incorrect API key provided", RunStatus::AuthRequired, None),
            ("Missing environment variable: `OPENAI_API_KEY`.", RunStatus::AuthRequired, None),
            (
                "You’ve hit your usage limit. Upgrade to Pro, … or try again at Mar 17th, 2030 5:46 PM.",
                RunStatus::QuotaExceeded,
                Some("2030-03-17T17:46:00Z"),
            ),
            (
                "You’ve hit your usage limit. Try again at 1:05 PM.",
                RunStatus::QuotaExceeded,
                Some("2030-03-10T13:05:00Z"),
            ),
            ("Quota exceeded. Check your plan and billing details.", RunStatus::Billing, None),
            ("exceeded retry limit, last status: 429 Too Many Requests", RunStatus::QuotaExceeded, None),
            (
                "We’re currently experiencing high demand, which may cause temporary errors.",
                RunStatus::ServerError,
                None,
            ),
            ("stream disconnected before completion: error sending request", RunStatus::ServerError, None),
            ("model refused", RunStatus::Failed, None),
        ] {
            let o = classify(message, now);
            assert_eq!(o.status, status, "{message}");
            let expect = retry.map(|t| DateTime::parse_from_rfc3339(t).expect("t").with_timezone(&Utc));
            assert_eq!(o.retry_at, expect, "{message}");
        }
    }

    #[test]
    fn sessions_are_carried_by_thread_id() {
        let from = tempfile::tempdir().expect("tmp");
        let to = tempfile::tempdir().expect("tmp");
        let day = from.path().join(".codex/sessions/2030/03/17");
        std::fs::create_dir_all(&day).expect("mkdir");
        std::fs::write(day.join("rollout-2030-03-17T10-00-00-0199-abc.jsonl"), "{}\n").expect("write");
        std::fs::write(day.join("rollout-2030-03-17T10-00-00-0199-other.jsonl"), "{}\n").expect("write");
        assert!(CodexAdapter.carry_session(from.path(), to.path(), "0199-abc").expect("carry"));
        assert!(
            to.path().join(".codex/sessions/2030/03/17/rollout-2030-03-17T10-00-00-0199-abc.jsonl").is_file()
        );
        assert!(
            !to.path()
                .join(".codex/sessions/2030/03/17/rollout-2030-03-17T10-00-00-0199-other.jsonl")
                .exists()
        );
        assert!(!CodexAdapter.carry_session(from.path(), to.path(), "missing").expect("carry"));
    }
}

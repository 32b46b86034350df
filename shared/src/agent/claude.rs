//! The Claude Code adapter: `claude -p --output-format stream-json --verbose -- <prompt>` in
//! the worktree, its stream-json lines turned into log entries, its exit judged from the
//! final `result` line (`is_error`, never the subtype alone), the assistant line's `error`
//! field and the API status it reports.
//!
//! Settings (all optional): `program`, `model`, `permission_mode` (default `acceptEdits`),
//! `allowed_tools` (default `["Bash"]`: edits and shell commands run without asking; other
//! tools that need permission are denied and the denials are shown), `disallowed_tools`,
//! `append_system_prompt`, `max_turns`, `args`, `env`.
//!
//! Entries carry `data.event`: `init`, `text`, `thinking`, `tool_use`, `tool_result`,
//! `user_text`, `api_error`, `permission_denied`, `api_retry`, `rate_limit`, `result`,
//! `system` (other known system lines) or `raw` (anything else, kept verbatim).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Datelike, TimeZone, Utc};
use nix::sys::signal::Signal;
use serde_json::{Value, json};

use super::clock;
use super::jsonl::{self, JsonLines, Read};
use super::{
    Adapter, AgentError, CliInfo, CliSettings, CommandSpec, CredentialVar, ExitInfo, LineParser, Outcome,
    Parsed, RunContext, Stream, signal_name,
};
use crate::model::{LogKind, RunStatus};

/// The adapter's name on tasks.
pub const NAME: &str = "claude";

/// The CLI's program name.
pub const PROGRAM: &str = "claude";

/// The permission modes the CLI accepts.
pub const PERMISSION_MODES: &[&str] =
    &["acceptEdits", "auto", "bypassPermissions", "default", "dontAsk", "plan"];

/// The permission mode when the settings name none: file edits without asking. It works as
/// root too, where `bypassPermissions` is refused by the CLI.
pub const DEFAULT_PERMISSION_MODE: &str = "acceptEdits";

/// Tools allowed without asking when the settings name none: the shell, so the agent can
/// build and test in its worktree.
pub const DEFAULT_ALLOWED_TOOLS: &[&str] = &["Bash"];

/// Variables that keep a headless CLI quiet: no telemetry, no update checks (the version is
/// pinned by whoever installed it), no error reports, no non-essential API calls.
pub const QUIET_ENV: &[(&str, &str)] = &[
    ("DISABLE_TELEMETRY", "1"),
    ("DISABLE_AUTOUPDATER", "1"),
    ("DISABLE_ERROR_REPORTING", "1"),
    ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1"),
];

const CREDENTIALS: &[CredentialVar] = &[
    CredentialVar { name: "ANTHROPIC_API_KEY", kind: "API key" },
    CredentialVar { name: "ANTHROPIC_AUTH_TOKEN", kind: "bearer token" },
    CredentialVar { name: "CLAUDE_CODE_OAUTH_TOKEN", kind: "subscription token (claude setup-token)" },
];

const PASSTHROUGH: &[&str] = &[
    "ANTHROPIC_BASE_URL",
    "ANTHROPIC_MODEL",
    "CLAUDE_CODE_USE_BEDROCK",
    "CLAUDE_CODE_USE_VERTEX",
    "AWS_REGION",
    "AWS_PROFILE",
    "CLOUD_ML_REGION",
    "ANTHROPIC_VERTEX_PROJECT_ID",
    "HTTPS_PROXY",
    "NO_PROXY",
];

/// See the module docs.
#[derive(Debug, Clone, Copy, Default)]
pub struct ClaudeAdapter;

fn settings(config: &Value) -> Result<CliSettings, AgentError> {
    let s = CliSettings::parse(config)?;
    if let Some(mode) = &s.permission_mode
        && !PERMISSION_MODES.contains(&mode.as_str())
    {
        return Err(AgentError::InvalidConfig(format!(
            "unknown permission mode `{mode}` (known: {})",
            PERMISSION_MODES.join(", ")
        )));
    }
    let bypass = s.permission_mode.as_deref() == Some("bypassPermissions")
        || s.args.iter().any(|a| a == "--dangerously-skip-permissions");
    if bypass && nix::unistd::geteuid().is_root() && s.env.get("IS_SANDBOX").map(String::as_str) != Some("1")
    {
        return Err(AgentError::InvalidConfig(
            "Claude Code refuses bypassPermissions as root; use acceptEdits with allowed_tools, or set \
             IS_SANDBOX=1 in env if this machine is a sandbox"
                .into(),
        ));
    }
    Ok(s)
}

impl Adapter for ClaudeAdapter {
    fn name(&self) -> &'static str {
        NAME
    }

    fn display_name(&self) -> &'static str {
        "Claude Code"
    }

    fn command(&self, ctx: &RunContext) -> Result<CommandSpec, AgentError> {
        let s = settings(&ctx.config)?;
        let retries = s.api_retries();
        let mut args: Vec<String> =
            ["-p", "--output-format", "stream-json", "--verbose"].iter().map(|a| a.to_string()).collect();
        let mut flag = |name: &str, value: String| {
            args.push(name.to_owned());
            args.push(value);
        };
        if let Some(model) = s.model {
            flag("--model", model);
        }
        flag("--permission-mode", s.permission_mode.unwrap_or_else(|| DEFAULT_PERMISSION_MODE.into()));
        let allowed =
            s.allowed_tools.unwrap_or_else(|| DEFAULT_ALLOWED_TOOLS.iter().map(|t| t.to_string()).collect());
        if !allowed.is_empty() {
            flag("--allowedTools", allowed.join(","));
        }
        if !s.disallowed_tools.is_empty() {
            flag("--disallowedTools", s.disallowed_tools.join(","));
        }
        if let Some(extra) = s.append_system_prompt {
            flag("--append-system-prompt", extra);
        }
        if let Some(turns) = s.max_turns {
            flag("--max-turns", turns.to_string());
        }
        if let Some(session) = &ctx.resume_session {
            flag("--resume", session.clone());
        }
        args.extend(s.args);
        // Everything after `--` is the prompt, even when it starts with a dash.
        args.push("--".into());
        args.push(ctx.prompt.clone());

        let mut env: BTreeMap<String, String> =
            QUIET_ENV.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        // The CLI's default is 10 retries, about three minutes. A few ride out a transient
        // overload without losing the session's context; more would only delay what
        // Taskyard's retry policy decides (an invalid key or a spent quota does not heal in
        // minutes).
        env.insert("CLAUDE_CODE_MAX_RETRIES".into(), retries.to_string());
        // The Bash tool keeps its working files here instead of a /tmp folder shared by runs.
        env.insert("CLAUDE_CODE_TMPDIR".into(), ctx.tmp.display().to_string());
        env.extend(s.env);
        Ok(CommandSpec { program: s.program.unwrap_or_else(|| PROGRAM.into()), args, env })
    }

    fn parser(&self) -> Box<dyn LineParser> {
        Box::new(ClaudeParser::default())
    }

    /// SIGINT is the CLI's clean stop: it ends its tools and prints a result within a
    /// fraction of a second. SIGTERM may end only a running tool, so it comes second.
    fn stop_signals(&self) -> Vec<(Signal, Duration)> {
        vec![(Signal::SIGINT, Duration::from_secs(5)), (Signal::SIGTERM, Duration::from_secs(3))]
    }

    fn validate(&self, config: &Value) -> Result<(), AgentError> {
        settings(config).map(|_| ())
    }

    fn test_settings(&self) -> Value {
        json!({ "max_turns": 1 })
    }

    fn cli(&self) -> Option<CliInfo> {
        Some(CliInfo {
            program: PROGRAM,
            package: "@anthropic-ai/claude-code",
            version_args: &["--version"],
            credentials: CREDENTIALS,
            passthrough: PASSTHROUGH,
        })
    }

    /// Sessions live in `$HOME/.claude/projects/<cwd-slug>/<session>.jsonl` (plus a folder
    /// of the same name for tool outputs and subagents); `--resume` needs them in the new
    /// home under the same project folder.
    fn carry_session(&self, from: &Path, to: &Path, session: &str) -> std::io::Result<bool> {
        if session.is_empty() || !session.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return Ok(false);
        }
        let projects = from.join(".claude").join("projects");
        let Ok(dirs) = std::fs::read_dir(&projects) else { return Ok(false) };
        let mut carried = false;
        for dir in dirs.flatten() {
            let transcript = dir.path().join(format!("{session}.jsonl"));
            if !transcript.is_file() {
                continue;
            }
            let target = to.join(".claude").join("projects").join(dir.file_name());
            std::fs::create_dir_all(&target)?;
            std::fs::copy(&transcript, target.join(format!("{session}.jsonl")))?;
            let extra = dir.path().join(session);
            if extra.is_dir() {
                copy_dir(&extra, &target.join(session))?;
            }
            carried = true;
        }
        Ok(carried)
    }

    fn has_session(&self, home: &Path, session: &str) -> bool {
        if session.is_empty() || !session.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
            return false;
        }
        let Ok(dirs) = std::fs::read_dir(home.join(".claude").join("projects")) else { return false };
        dirs.flatten().any(|d| d.path().join(format!("{session}.jsonl")).is_file())
    }
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let target = to.join(entry.file_name());
        if kind.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else if kind.is_file() {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

/// The final `result` line, as far as judging the run needs it.
#[derive(Debug, Clone, Default)]
struct ResultLine {
    subtype: String,
    is_error: bool,
    text: String,
    api_error_status: Option<i64>,
    terminal_reason: Option<String>,
    retry_at: Option<DateTime<Utc>>,
}

/// How many tool names the parser remembers (for the results' summaries).
const MAX_TOOL_NAMES: usize = 4_096;

/// Reads Claude Code's stream-json output. See the module docs for the entries it makes.
#[derive(Debug, Default)]
pub struct ClaudeParser {
    lines: JsonLines,
    session_id: Option<String>,
    cwd: Option<String>,
    tool_names: HashMap<String, String>,
    result: Option<ResultLine>,
    /// The assistant line's `error` field of the last API error (`authentication_failed`, …).
    api_error: Option<String>,
    /// The reset time of a rejected rate limit, from a `rate_limit_event`.
    limit_resets_at: Option<DateTime<Utc>>,
}

impl LineParser for ClaudeParser {
    fn parse(&mut self, stream: Stream, line: &str, truncated: bool) -> Vec<Parsed> {
        match self.lines.read("Claude Code", stream, line, truncated) {
            Read::Entries(entries) => entries,
            Read::Event(value, line) => self.event(value, line),
        }
    }

    fn finish(&mut self) -> Vec<Parsed> {
        self.lines.finish()
    }

    fn session_id(&self) -> Option<String> {
        self.session_id.clone()
    }

    fn outcome(&self, exit: ExitInfo) -> Outcome {
        if exit.stopped {
            return Outcome::cancelled();
        }
        let Some(result) = &self.result else {
            return Outcome::failed(self.lines.no_result("Claude Code", "a result", exit));
        };
        if !result.is_error {
            return match (exit.code, exit.signal) {
                (Some(0), _) => Outcome::succeeded(),
                (Some(code), _) => {
                    Outcome::failed(format!("Claude Code reported success but exited with code {code}"))
                }
                (None, Some(sig)) => Outcome::failed(format!(
                    "Claude Code reported success but was killed by signal {}",
                    signal_name(sig)
                )),
                (None, None) => Outcome::succeeded(),
            };
        }
        classify(result, self.api_error.as_deref(), self.limit_resets_at)
    }
}

/// Judges a result line with `is_error: true`. The assistant line's `error` field is the
/// most precise signal, then the HTTP status, then the message text (older CLIs).
fn classify(result: &ResultLine, api_error: Option<&str>, limit_resets_at: Option<DateTime<Utc>>) -> Outcome {
    let text = if result.text.is_empty() { result.subtype.clone() } else { result.text.clone() };
    if result.subtype == "error_max_turns" || result.terminal_reason.as_deref() == Some("max_turns") {
        return Outcome::ended(RunStatus::MaxTurns, text);
    }
    let lower = text.to_lowercase();
    let rate_limited = || {
        if lower.contains("not your usage limit") { RunStatus::ServerError } else { RunStatus::QuotaExceeded }
    };
    let status = match api_error {
        Some("authentication_failed" | "oauth_org_not_allowed") => RunStatus::AuthRequired,
        Some("billing_error") => RunStatus::Billing,
        Some("rate_limit") => rate_limited(),
        Some("server_error" | "overloaded") => RunStatus::ServerError,
        _ => match result.api_error_status {
            Some(401 | 403) => RunStatus::AuthRequired,
            Some(402) => RunStatus::Billing,
            Some(429) => rate_limited(),
            Some(s) if s >= 500 => RunStatus::ServerError,
            _ if lower.contains("not logged in")
                || lower.contains("invalid api key")
                || lower.contains("/login")
                || lower.contains("failed to authenticate") =>
            {
                RunStatus::AuthRequired
            }
            _ if lower.contains("credit balance is too low") => RunStatus::Billing,
            _ if lower.contains("usage limit reached")
                || lower.contains("you've hit your")
                || lower.contains("you've reached your") =>
            {
                RunStatus::QuotaExceeded
            }
            _ if lower.contains("unable to connect to api") || lower.contains("connection to the api") => {
                RunStatus::ServerError
            }
            _ => RunStatus::Failed,
        },
    };
    let mut outcome = Outcome::ended(status, text);
    if status == RunStatus::QuotaExceeded {
        outcome.retry_at = limit_resets_at.or(result.retry_at);
    }
    outcome
}

impl ClaudeParser {
    fn event(&mut self, value: Value, line: String) -> Vec<Parsed> {
        if self.session_id.is_none()
            && let Some(id) = value.get("session_id").and_then(Value::as_str)
        {
            self.session_id = Some(id.to_owned());
        }
        let kind = value.get("type").and_then(Value::as_str).unwrap_or_default().to_owned();
        let entries = match kind.as_str() {
            "system" => self.system(&value),
            "assistant" => self.assistant(&value),
            "user" => self.user(&value),
            "result" => self.result(&value),
            "rate_limit_event" => self.rate_limit(&value),
            _ => None,
        };
        match entries {
            Some(entries) if !entries.is_empty() => entries,
            _ => vec![jsonl::raw(line, (!kind.is_empty()).then_some(kind.as_str()), false)],
        }
    }

    fn system(&mut self, v: &Value) -> Option<Vec<Parsed>> {
        let subtype = v.get("subtype").and_then(Value::as_str)?;
        let s = |key: &str| v.get(key).and_then(Value::as_str).unwrap_or_default().to_owned();
        let entry = match subtype {
            "init" => {
                if let Some(id) = v.get("session_id").and_then(Value::as_str) {
                    self.session_id = Some(id.to_owned());
                }
                self.cwd = v.get("cwd").and_then(Value::as_str).map(str::to_owned);
                let tools = v.get("tools").cloned().unwrap_or(json!([]));
                let text = format!(
                    "Claude Code {} · model {} · {} tools · {} · session {}",
                    s("claude_code_version"),
                    s("model"),
                    tools.as_array().map_or(0, Vec::len),
                    s("permissionMode"),
                    s("session_id"),
                );
                Parsed::new(
                    LogKind::Init,
                    text,
                    json!({
                        "event": "init",
                        "session_id": v.get("session_id"),
                        "model": v.get("model"),
                        "tools": tools,
                        "cwd": v.get("cwd"),
                        "permission_mode": v.get("permissionMode"),
                        "api_key_source": v.get("apiKeySource"),
                        "version": v.get("claude_code_version"),
                        "mcp_servers": v.get("mcp_servers"),
                    }),
                )
            }
            "api_retry" => {
                let delay = v.get("retry_delay_ms").and_then(Value::as_f64).unwrap_or(0.0) / 1000.0;
                let status = v.get("error_status").map_or("?".to_owned(), |s| {
                    s.as_i64().map_or_else(|| "no response".to_owned(), |n| n.to_string())
                });
                let text = format!(
                    "API error ({status}), retrying in {delay:.1} s (attempt {} of {})",
                    v.get("attempt").unwrap_or(&Value::Null),
                    v.get("max_retries").unwrap_or(&Value::Null),
                );
                Parsed::new(
                    LogKind::System,
                    text,
                    json!({
                        "event": "api_retry",
                        "attempt": v.get("attempt"),
                        "max_retries": v.get("max_retries"),
                        "retry_delay_ms": v.get("retry_delay_ms"),
                        "error_status": v.get("error_status"),
                        "error": v.get("error"),
                    }),
                )
            }
            "compact_boundary" => system_entry(subtype, "the conversation was compacted".into(), v),
            "thinking_tokens" => {
                let n = v.get("estimated_tokens").and_then(Value::as_i64).unwrap_or(0);
                system_entry(subtype, format!("thinking (about {n} tokens)"), v)
            }
            "task_started" | "task_notification" | "task_progress" => {
                let what = ["description", "summary", "message", "status"]
                    .iter()
                    .find_map(|k| v.get(*k).and_then(Value::as_str))
                    .unwrap_or(subtype);
                system_entry(
                    subtype,
                    format!("{}: {}", subtype.replace('_', " "), jsonl::one_line(what, 200)),
                    v,
                )
            }
            "status" => {
                let what = v.get("status").and_then(Value::as_str).unwrap_or("working");
                system_entry(subtype, format!("status: {what}"), v)
            }
            _ => return None,
        };
        Some(vec![entry])
    }

    fn assistant(&mut self, v: &Value) -> Option<Vec<Parsed>> {
        let blocks = v.pointer("/message/content")?.as_array()?;
        let api_error = v.get("error").and_then(Value::as_str);
        if let Some(kind) = api_error {
            self.api_error = Some(kind.to_owned());
        }
        let parent = v.get("parent_tool_use_id").filter(|p| !p.is_null()).cloned();
        let mut out = Vec::new();
        for block in blocks {
            let kind = block.get("type").and_then(Value::as_str).unwrap_or_default();
            let mut entry = match kind {
                "text" => {
                    let text = block.get("text").and_then(Value::as_str).unwrap_or_default().to_owned();
                    match api_error {
                        Some(error) => Parsed::new(
                            LogKind::Error,
                            text,
                            json!({
                                "event": "api_error",
                                "error": error,
                                "request_id": v.get("request_id"),
                            }),
                        ),
                        None => Parsed::new(LogKind::Assistant, text, json!({ "event": "text" })),
                    }
                }
                "thinking" => Parsed::new(
                    LogKind::Thinking,
                    block.get("thinking").and_then(Value::as_str).unwrap_or_default(),
                    json!({ "event": "thinking" }),
                ),
                "redacted_thinking" => {
                    Parsed::new(LogKind::Thinking, "(redacted thinking)", json!({ "event": "thinking" }))
                }
                "tool_use" | "server_tool_use" | "mcp_tool_use" => {
                    let id = block.get("id").and_then(Value::as_str).unwrap_or_default();
                    let name = block.get("name").and_then(Value::as_str).unwrap_or("tool");
                    let input = block.get("input").cloned().unwrap_or(Value::Null);
                    if self.tool_names.len() >= MAX_TOOL_NAMES {
                        self.tool_names.clear();
                    }
                    self.tool_names.insert(id.to_owned(), name.to_owned());
                    jsonl::tool_use(id, name, tool_summary(name, &input, self.cwd.as_deref()), &input)
                }
                _ => jsonl::raw(block.to_string(), Some("assistant"), false),
            };
            if let (Some(parent), Some(data)) = (&parent, entry.data.as_mut()) {
                data["parent_tool_use_id"] = parent.clone();
            }
            out.push(entry);
        }
        Some(out)
    }

    fn user(&mut self, v: &Value) -> Option<Vec<Parsed>> {
        let content = v.pointer("/message/content")?;
        let blocks = match content {
            Value::String(text) => {
                return Some(vec![Parsed::new(
                    LogKind::System,
                    text.clone(),
                    json!({ "event": "user_text" }),
                )]);
            }
            Value::Array(blocks) => blocks,
            _ => return None,
        };
        let mut out = Vec::new();
        for block in blocks {
            match block.get("type").and_then(Value::as_str).unwrap_or_default() {
                "tool_result" => out.push(self.tool_result(block, v.get("tool_use_result"))),
                "text" => out.push(Parsed::new(
                    LogKind::System,
                    block.get("text").and_then(Value::as_str).unwrap_or_default(),
                    json!({ "event": "user_text" }),
                )),
                _ => out.push(jsonl::raw(block.to_string(), Some("user"), false)),
            }
        }
        Some(out)
    }

    fn tool_result(&self, block: &Value, details: Option<&Value>) -> Parsed {
        let id = block.get("tool_use_id").and_then(Value::as_str).unwrap_or_default();
        let is_error = block.get("is_error").and_then(Value::as_bool).unwrap_or(false);
        let text = jsonl::content_text(block.get("content").unwrap_or(&Value::Null));
        let mut entry = jsonl::tool_result(id, self.tool_names.get(id).map(String::as_str), &text, is_error);
        // The CLI's structured view of the result (a patch, a file's new content), when small.
        if let (Some(details), Some(data)) = (details.filter(|d| d.is_object()), entry.data.as_mut()) {
            let (details, cut) = jsonl::bounded(details);
            if !cut {
                data["details"] = details;
            }
        }
        entry
    }

    fn result(&mut self, v: &Value) -> Option<Vec<Parsed>> {
        let subtype = v.get("subtype").and_then(Value::as_str).unwrap_or_default().to_owned();
        let is_error = v.get("is_error").and_then(Value::as_bool).unwrap_or(subtype != "success");
        let errors: Vec<String> = v
            .get("errors")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
            .unwrap_or_default();
        let text = match v.get("result").and_then(Value::as_str) {
            Some(r) if !r.is_empty() => r.to_owned(),
            _ => errors.join("; "),
        };
        if let Some(id) = v.get("session_id").and_then(Value::as_str) {
            self.session_id = Some(id.to_owned());
        }
        let mut out = Vec::new();
        for denial in v.get("permission_denials").and_then(Value::as_array).into_iter().flatten() {
            let name = denial.get("tool_name").and_then(Value::as_str).unwrap_or("tool");
            let input = denial.get("tool_input").cloned().unwrap_or(Value::Null);
            let summary = tool_summary(name, &input, self.cwd.as_deref());
            let (input, _) = jsonl::bounded(&input);
            out.push(Parsed::new(
                LogKind::Error,
                format!("permission denied: {summary}"),
                json!({
                    "event": "permission_denied",
                    "tool_name": name,
                    "tool_use_id": denial.get("tool_use_id"),
                    "input": input,
                }),
            ));
        }
        let turns = v.get("num_turns").and_then(Value::as_i64).unwrap_or(0);
        let seconds = v.get("duration_ms").and_then(Value::as_f64).unwrap_or(0.0) / 1000.0;
        let cost = v.get("total_cost_usd").and_then(Value::as_f64).unwrap_or(0.0);
        let summary = if is_error {
            format!(
                "{}: {}",
                if subtype == "success" { "error" } else { subtype.as_str() },
                jsonl::one_line(&text, 500)
            )
        } else {
            format!("done in {turns} turn{} · {seconds:.1} s · ${cost:.4}", if turns == 1 { "" } else { "s" })
        };
        let (result_text, _) = jsonl::clip(&text, jsonl::MAX_DATA_TEXT);
        out.push(Parsed::new(
            LogKind::Result,
            summary,
            json!({
                "event": "result",
                "subtype": subtype,
                "is_error": is_error,
                "result": result_text,
                "errors": errors,
                "num_turns": v.get("num_turns"),
                "duration_ms": v.get("duration_ms"),
                "duration_api_ms": v.get("duration_api_ms"),
                "total_cost_usd": v.get("total_cost_usd"),
                "usage": v.get("usage"),
                "api_error_status": v.get("api_error_status"),
                "terminal_reason": v.get("terminal_reason"),
                "stop_reason": v.get("stop_reason"),
                "permission_denials": v.get("permission_denials").and_then(Value::as_array).map_or(0, Vec::len),
            }),
        ));
        self.result = Some(ResultLine {
            retry_at: parse_reset(&text, Utc::now()),
            subtype,
            is_error,
            text,
            api_error_status: v.get("api_error_status").and_then(Value::as_i64),
            terminal_reason: v.get("terminal_reason").and_then(Value::as_str).map(str::to_owned),
        });
        Some(out)
    }

    fn rate_limit(&mut self, v: &Value) -> Option<Vec<Parsed>> {
        let info = v.get("rate_limit_info")?;
        let status = info.get("status").and_then(Value::as_str).unwrap_or("unknown");
        let kind = info.get("rateLimitType").and_then(Value::as_str);
        let resets =
            info.get("resetsAt").and_then(Value::as_i64).and_then(|s| Utc.timestamp_opt(s, 0).single());
        let which = kind.map(|k| format!(" ({})", k.replace('_', " "))).unwrap_or_default();
        let when = resets.map(|t| format!(", resets {}", t.format("%Y-%m-%d %H:%M UTC"))).unwrap_or_default();
        let (log_kind, text) = match status {
            "rejected" if kind.is_none() && resets.is_none() => {
                // Sent for any 429 on a subscription, the transient ones too.
                (LogKind::Error, "the API rejected the request (rate limited)".to_owned())
            }
            "rejected" => {
                if resets.is_some() {
                    self.limit_resets_at = resets;
                }
                (LogKind::Error, format!("usage limit reached{which}{when}"))
            }
            "allowed_warning" => (LogKind::System, format!("approaching the usage limit{which}{when}")),
            other => (LogKind::System, format!("usage limit status: {other}{which}")),
        };
        Some(vec![Parsed::new(
            log_kind,
            text,
            json!({
                "event": "rate_limit",
                "status": status,
                "rate_limit_type": kind,
                "resets_at": resets.map(|t| t.to_rfc3339()),
                "utilization": info.get("utilization"),
            }),
        )])
    }
}

fn system_entry(subtype: &str, text: String, v: &Value) -> Parsed {
    let (details, _) = jsonl::bounded(v);
    Parsed::new(LogKind::System, text, json!({ "event": "system", "subtype": subtype, "details": details }))
}

/// A short line for people about a tool call: "Write src/main.rs", "Bash: cargo test".
pub fn tool_summary(name: &str, input: &Value, cwd: Option<&str>) -> String {
    let field = |key: &str| input.get(key).and_then(Value::as_str);
    let path = |key: &str| field(key).map(|p| relative(p, cwd));
    let text = match name {
        "Write" | "Edit" | "MultiEdit" | "Read" => path("file_path").map(|p| format!("{name} {p}")),
        "NotebookEdit" => path("notebook_path").map(|p| format!("{name} {p}")),
        "Bash" => field("command").map(|c| format!("Bash: {}", jsonl::one_line(c, 120))),
        "Glob" | "Grep" => field("pattern").map(|p| match path("path") {
            Some(dir) => format!("{name} {p} in {dir}"),
            None => format!("{name} {p}"),
        }),
        "WebFetch" => field("url").map(|u| format!("WebFetch {u}")),
        "WebSearch" => field("query").map(|q| format!("WebSearch: {}", jsonl::one_line(q, 120))),
        "Task" | "Agent" => field("description").map(|d| format!("{name}: {}", jsonl::one_line(d, 120))),
        "TodoWrite" => {
            input.get("todos").and_then(Value::as_array).map(|t| format!("TodoWrite: {} items", t.len()))
        }
        _ => None,
    };
    text.unwrap_or_else(|| {
        // Unknown tools (MCP and newer ones): the name and its first short string argument.
        let first = input.as_object().and_then(|o| o.values().find_map(Value::as_str));
        match first {
            Some(arg) => format!("{name}: {}", jsonl::one_line(arg, 80)),
            None => name.to_owned(),
        }
    })
}

/// `path` relative to `cwd` when it lies inside it.
fn relative(path: &str, cwd: Option<&str>) -> String {
    match cwd.and_then(|c| Path::new(path).strip_prefix(c).ok()) {
        Some(rel) if !rel.as_os_str().is_empty() => rel.display().to_string(),
        _ => path.to_owned(),
    }
}

/// The reset time in a limit message, relative to `now`: `… · resets 1:58am (UTC)`,
/// `resets 2am (UTC)`, `resets Jan 5, 2:30pm (UTC)` (further than a day), or the older
/// `Claude AI usage limit reached|1767225600`. Only UTC (or GMT) times are read: other zones
/// need the time zone database, and the rate-limit event gives the exact time anyway.
pub fn parse_reset(text: &str, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    if let Some((_, epoch)) = text.rsplit_once('|')
        && let Ok(secs) = epoch.trim().parse::<i64>()
    {
        return Utc.timestamp_opt(secs, 0).single();
    }
    let rest = &text[text.find("resets ")? + "resets ".len()..];
    let (when, zone) = match rest.find(" (") {
        Some(i) => (&rest[..i], rest[i + 2..].split(')').next().unwrap_or_default()),
        None => (rest.split(" ·").next().unwrap_or(rest), "UTC"),
    };
    if !matches!(zone, "UTC" | "Etc/UTC" | "GMT" | "Etc/GMT" | "Z") {
        return None;
    }
    // "Jan 5, 2031, 2:30pm" | "Jan 5, 2:30pm" | "2:30pm"
    let parts: Vec<&str> = when.split(", ").map(str::trim).collect();
    let time = clock::parse_clock(parts.last()?)?;
    match parts.as_slice() {
        [_] => {
            let today = now.date_naive().and_time(time).and_utc();
            // A reset a few minutes back is the current one still being lifted; earlier
            // than that it means the same time tomorrow.
            Some(if today + chrono::Duration::minutes(5) < now {
                today + chrono::Duration::days(1)
            } else {
                today
            })
        }
        [day, _] => {
            let date = clock::month_day(day, now.year())?;
            let at = date.and_time(time).and_utc();
            Some(if at + chrono::Duration::days(1) < now {
                clock::month_day(day, now.year() + 1)?.and_time(time).and_utc()
            } else {
                at
            })
        }
        [day, year, _] => {
            let date = clock::month_day(day, year.parse().ok()?)?;
            Some(date.and_time(time).and_utc())
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::model::RunKind;

    fn ctx(config: Value) -> RunContext {
        RunContext {
            prompt: "-rf: fix it".into(),
            kind: RunKind::Start,
            resume_session: None,
            config,
            worktree: PathBuf::from("/w"),
            home: PathBuf::from("/h"),
            tmp: PathBuf::from("/t"),
            env: BTreeMap::new(),
        }
    }

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).expect("time").with_timezone(&Utc)
    }

    #[test]
    fn the_command_line_carries_every_setting_and_the_prompt_last() {
        let mut c = ctx(json!({
            "model": "claude-sonnet-4-5",
            "permission_mode": "plan",
            "allowed_tools": ["Bash(cargo test:*)", "Edit"],
            "disallowed_tools": ["WebFetch"],
            "append_system_prompt": "Be brief.",
            "max_turns": 7,
            "args": ["--strict-mcp-config"],
            "env": {"CLAUDE_CODE_MAX_RETRIES": "0"}
        }));
        c.resume_session = Some("abc-123".into());
        let spec = ClaudeAdapter.command(&c).expect("spec");
        assert_eq!(spec.program, "claude");
        assert_eq!(
            spec.args,
            [
                "-p",
                "--output-format",
                "stream-json",
                "--verbose",
                "--model",
                "claude-sonnet-4-5",
                "--permission-mode",
                "plan",
                "--allowedTools",
                "Bash(cargo test:*),Edit",
                "--disallowedTools",
                "WebFetch",
                "--append-system-prompt",
                "Be brief.",
                "--max-turns",
                "7",
                "--resume",
                "abc-123",
                "--strict-mcp-config",
                "--",
                "-rf: fix it",
            ]
        );
        assert_eq!(spec.env.get("CLAUDE_CODE_MAX_RETRIES").map(String::as_str), Some("0"), "settings win");
        assert_eq!(spec.env.get("CLAUDE_CODE_TMPDIR").map(String::as_str), Some("/t"));
        assert_eq!(spec.env.get("DISABLE_AUTOUPDATER").map(String::as_str), Some("1"));
    }

    #[test]
    fn defaults_allow_edits_and_the_shell() {
        let spec = ClaudeAdapter.command(&ctx(json!({}))).expect("spec");
        let line = spec.args.join(" ");
        assert!(line.contains("--permission-mode acceptEdits --allowedTools Bash --"), "{line}");
        assert_eq!(spec.env.get("CLAUDE_CODE_MAX_RETRIES").map(String::as_str), Some("3"));
        let quick = ClaudeAdapter.command(&ctx(json!({"api_retries": 0}))).expect("spec");
        assert_eq!(quick.env.get("CLAUDE_CODE_MAX_RETRIES").map(String::as_str), Some("0"));
        let none = ClaudeAdapter
            .command(&ctx(json!({"allowed_tools": [], "program": "/opt/claude"})))
            .expect("spec");
        assert!(!none.args.contains(&"--allowedTools".to_string()));
        assert_eq!(none.program, "/opt/claude");
    }

    #[test]
    fn bad_settings_are_explained() {
        for (config, needle) in [
            (json!({"permission_mode": "yolo"}), "unknown permission mode `yolo`"),
            (json!({"max_turns": 0}), "at least 1"),
            (json!({"modle": "x"}), "unknown field `modle`"),
            (json!({"program": " "}), "`program` is empty"),
            (json!({"env": {"A B": "x"}}), "A B"),
        ] {
            let err = ClaudeAdapter.validate(&config).expect_err("refused").to_string();
            assert!(err.contains(needle), "{config}: {err}");
        }
        let bypass = ClaudeAdapter.validate(&json!({"permission_mode": "bypassPermissions"}));
        assert_eq!(bypass.is_err(), nix::unistd::geteuid().is_root(), "refused as root only");
        let sandboxed = json!({"permission_mode": "bypassPermissions", "env": {"IS_SANDBOX": "1"}});
        assert!(ClaudeAdapter.validate(&sandboxed).is_ok());
    }

    #[test]
    fn tool_summaries_are_short_and_relative_to_the_worktree() {
        let cwd = Some("/w/task");
        for (name, input, expect) in [
            ("Write", json!({"file_path": "/w/task/src/main.rs", "content": "x"}), "Write src/main.rs"),
            ("Edit", json!({"file_path": "/elsewhere/a.rs"}), "Edit /elsewhere/a.rs"),
            ("Bash", json!({"command": "cargo test\n  --all", "description": "Test"}), "Bash: cargo test…"),
            ("Grep", json!({"pattern": "fn main", "path": "/w/task/src"}), "Grep fn main in src"),
            ("WebFetch", json!({"url": "https://example.com"}), "WebFetch https://example.com"),
            ("TodoWrite", json!({"todos": [1, 2]}), "TodoWrite: 2 items"),
            ("mcp__db__query", json!({"sql": "select 1"}), "mcp__db__query: select 1"),
            ("Mystery", json!({"n": 1}), "Mystery"),
        ] {
            assert_eq!(tool_summary(name, &input, cwd), expect);
        }
    }

    #[test]
    fn reset_times_are_read_in_both_forms() {
        let now = at("2030-03-10T20:00:00Z");
        for (text, expect) in [
            ("You've hit your session limit · resets 1:58am (UTC)", Some("2030-03-11T01:58:00Z")),
            ("You've hit your session limit · resets 11pm (UTC)", Some("2030-03-10T23:00:00Z")),
            ("You've hit your session limit · resets 7:58pm (UTC)", Some("2030-03-10T19:58:00Z")),
            ("You've hit your weekly limit · resets Mar 14, 9am (UTC)", Some("2030-03-14T09:00:00Z")),
            ("You've hit your weekly limit · resets Jan 2, 2031, 12am (UTC)", Some("2031-01-02T00:00:00Z")),
            ("You've hit your weekly limit · resets Jan 2, 12:30pm (UTC)", Some("2031-01-02T12:30:00Z")),
            ("Claude AI usage limit reached|1900000000", Some("2030-03-17T17:46:40Z")),
            ("You've hit your session limit · resets 1:58am (Europe/Berlin)", None),
            ("API Error: Request rejected (429)", None),
        ] {
            assert_eq!(parse_reset(text, now), expect.map(at), "{text}");
        }
    }

    #[test]
    fn sessions_are_carried_into_a_fresh_home() {
        let from = tempfile::tempdir().expect("tmp");
        let to = tempfile::tempdir().expect("tmp");
        let project = from.path().join(".claude/projects/-w-task");
        std::fs::create_dir_all(project.join("s-1/subagents")).expect("mkdir");
        std::fs::write(project.join("s-1.jsonl"), "{}\n").expect("write");
        std::fs::write(project.join("s-1/subagents/a.jsonl"), "{}\n").expect("write");
        std::fs::write(project.join("other.jsonl"), "{}\n").expect("write");
        assert!(ClaudeAdapter.carry_session(from.path(), to.path(), "s-1").expect("carry"));
        let carried = to.path().join(".claude/projects/-w-task");
        assert!(carried.join("s-1.jsonl").is_file());
        assert!(carried.join("s-1/subagents/a.jsonl").is_file());
        assert!(!carried.join("other.jsonl").exists(), "only the resumed session");
        assert!(!ClaudeAdapter.carry_session(from.path(), to.path(), "missing").expect("carry"));
        assert!(!ClaudeAdapter.carry_session(from.path(), to.path(), "../s-1").expect("carry"));
    }
}

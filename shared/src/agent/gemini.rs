//! The Gemini CLI adapter: `gemini --prompt=<prompt> --output-format stream-json` in the
//! worktree (`--resume <session>` for a follow-up); its stream-json events (`init`,
//! `message`, `tool_use`, `tool_result`, `error`, `result`) become log entries and the run is
//! judged on its `result`.
//!
//! Headless, the CLI reads its auth method and limits only from `$HOME/.gemini/settings.json`,
//! so the adapter writes one into the run's home: the auth method that matches the
//! credential present, `general.maxAttempts` from `api_retries`, `model.maxSessionTurns`
//! from `max_turns`, no usage statistics, no auto-update. The worktree is trusted
//! (`GEMINI_CLI_TRUST_WORKSPACE`): Taskyard made it for this run.
//!
//! Settings (all optional): `program`, `model`, `permission_mode` (the approval mode:
//! `default`, `auto_edit`, `yolo` (default), `plan`), `max_turns`, `api_retries`, `args`,
//! `env`. `yolo` is the default because headless Gemini has no finer switch: in `auto_edit`
//! it may edit files but never run a command, which leaves it unable to build or test.

use std::collections::BTreeMap;
use std::path::Path;

use std::time::Duration;

use chrono::{DateTime, Utc};
use nix::sys::signal::Signal;
use serde_json::{Value, json};

use super::jsonl::{self, JsonLines, Read};
use super::{
    Adapter, AgentError, CliInfo, CliSettings, CommandSpec, CredentialVar, ExitInfo, LineParser, Outcome,
    Parsed, RunContext, Stream,
};
use crate::model::{LogKind, RunStatus};

/// The adapter's name on tasks.
pub const NAME: &str = "gemini";

/// The CLI's program name.
pub const PROGRAM: &str = "gemini";

/// The approval modes the CLI accepts.
pub const APPROVAL_MODES: &[&str] = &["default", "auto_edit", "yolo", "plan"];

/// The approval mode when the settings name none (see the module docs).
pub const DEFAULT_APPROVAL_MODE: &str = "yolo";

/// Assistant text collected from deltas is written out at least this often.
const MAX_PENDING_TEXT: usize = 64 * 1024;

const CREDENTIALS: &[CredentialVar] = &[
    CredentialVar { name: "GEMINI_API_KEY", kind: "Gemini API key" },
    CredentialVar { name: "GOOGLE_API_KEY", kind: "Vertex AI API key" },
];

const PASSTHROUGH: &[&str] = &[
    "GOOGLE_GEMINI_BASE_URL",
    "GOOGLE_VERTEX_BASE_URL",
    "GOOGLE_CLOUD_PROJECT",
    "GOOGLE_CLOUD_LOCATION",
    "GOOGLE_GENAI_USE_VERTEXAI",
    "HTTPS_PROXY",
    "NO_PROXY",
];

/// See the module docs.
#[derive(Debug, Clone, Copy, Default)]
pub struct GeminiAdapter;

fn settings(config: &Value) -> Result<CliSettings, AgentError> {
    let s = CliSettings::parse(config)?;
    s.refuse_unsupported("Gemini CLI", &["model", "permission_mode", "max_turns"])?;
    if let Some(mode) = &s.permission_mode
        && !APPROVAL_MODES.contains(&mode.as_str())
    {
        return Err(AgentError::InvalidConfig(format!(
            "unknown approval mode `{mode}` (known: {})",
            APPROVAL_MODES.join(", ")
        )));
    }
    Ok(s)
}

impl Adapter for GeminiAdapter {
    fn name(&self) -> &'static str {
        NAME
    }

    fn display_name(&self) -> &'static str {
        "Gemini CLI"
    }

    fn command(&self, ctx: &RunContext) -> Result<CommandSpec, AgentError> {
        let s = settings(&ctx.config)?;
        // `--prompt=` keeps a prompt that starts with a dash a value.
        let mut args =
            vec![format!("--prompt={}", ctx.prompt), "--output-format".into(), "stream-json".into()];
        if let Some(model) = s.model {
            args.extend(["--model".into(), model]);
        }
        args.extend([
            "--approval-mode".into(),
            s.permission_mode.unwrap_or_else(|| DEFAULT_APPROVAL_MODE.into()),
        ]);
        if let Some(session) = &ctx.resume_session {
            args.extend(["--resume".into(), session.clone()]);
        }
        args.extend(s.args);
        let mut env = BTreeMap::from([("GEMINI_CLI_TRUST_WORKSPACE".to_owned(), "true".to_owned())]);
        env.extend(s.env);
        Ok(CommandSpec { program: s.program.unwrap_or_else(|| PROGRAM.into()), args, env })
    }

    /// SIGINT is the CLI's own cancel (Ctrl-C); SIGTERM comes second.
    fn stop_signals(&self) -> Vec<(Signal, Duration)> {
        vec![(Signal::SIGINT, Duration::from_secs(3)), (Signal::SIGTERM, Duration::from_secs(2))]
    }

    fn parser(&self) -> Box<dyn LineParser> {
        Box::new(GeminiParser::default())
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
            package: "@google/gemini-cli",
            version_args: &["--version"],
            credentials: CREDENTIALS,
            passthrough: PASSTHROUGH,
        })
    }

    fn prepare_home(&self, ctx: &RunContext) -> std::io::Result<()> {
        let s = settings(&ctx.config).map_err(std::io::Error::other)?;
        let vertex = ctx.var(&s, "GEMINI_API_KEY").is_none()
            && (ctx.var(&s, "GOOGLE_API_KEY").is_some() || ctx.var(&s, "GOOGLE_CLOUD_PROJECT").is_some());
        let mut file = json!({
            "security": { "auth": { "selectedType": if vertex { "vertex-ai" } else { "gemini-api-key" } } },
            "general": { "maxAttempts": s.api_retries() + 1, "enableAutoUpdate": false },
            "privacy": { "usageStatisticsEnabled": false },
        });
        if let Some(turns) = s.max_turns {
            file["model"] = json!({ "maxSessionTurns": turns });
        }
        let dir = ctx.home.join(".gemini");
        std::fs::create_dir_all(&dir)?;
        std::fs::write(
            dir.join("settings.json"),
            serde_json::to_vec_pretty(&file).map_err(std::io::Error::other)?,
        )
    }

    /// Sessions live in `$HOME/.gemini/tmp/<project>/chats/session-<time>-<id prefix>.jsonl`,
    /// found through `$HOME/.gemini/projects.json`; all three are carried.
    fn carry_session(&self, from: &Path, to: &Path, session: &str) -> std::io::Result<bool> {
        if session.len() < 8 || !session.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Ok(false);
        }
        let prefix = &session[..8];
        let (from_root, to_root) = (from.join(".gemini"), to.join(".gemini"));
        let Ok(projects) = std::fs::read_dir(from_root.join("tmp")) else { return Ok(false) };
        let mut carried = false;
        for project in projects.flatten() {
            let Ok(chats) = std::fs::read_dir(project.path().join("chats")) else { continue };
            for chat in chats.flatten() {
                if !chat.file_name().to_string_lossy().contains(prefix) {
                    continue;
                }
                let target = to_root.join("tmp").join(project.file_name());
                std::fs::create_dir_all(target.join("chats"))?;
                std::fs::copy(chat.path(), target.join("chats").join(chat.file_name()))?;
                let marker = project.path().join(".project_root");
                if marker.is_file() {
                    std::fs::copy(&marker, target.join(".project_root"))?;
                }
                carried = true;
            }
        }
        if carried && from_root.join("projects.json").is_file() {
            std::fs::copy(from_root.join("projects.json"), to_root.join("projects.json"))?;
        }
        Ok(carried)
    }
}

/// The final `result` event.
#[derive(Debug, Clone)]
struct ResultEvent {
    success: bool,
    message: String,
}

/// Reads Gemini CLI stream-json output. Assistant text comes in deltas; consecutive deltas
/// become one entry, written when something else happens (or it grows large).
#[derive(Debug, Default)]
pub struct GeminiParser {
    lines: JsonLines,
    session_id: Option<String>,
    text: String,
    tool_names: BTreeMap<String, String>,
    result: Option<ResultEvent>,
}

impl LineParser for GeminiParser {
    fn parse(&mut self, stream: Stream, line: &str, truncated: bool) -> Vec<Parsed> {
        let read = self.lines.read("Gemini CLI", stream, line, truncated);
        let mut out = Vec::new();
        match read {
            Read::Entries(entries) => {
                if !entries.is_empty() && stream == Stream::Stdout {
                    self.flush_text(&mut out);
                }
                out.extend(entries);
            }
            Read::Event(value, line) => {
                let kind = value.get("type").and_then(Value::as_str).unwrap_or_default().to_owned();
                let delta = kind == "message"
                    && value.get("role").and_then(Value::as_str) == Some("assistant")
                    && value.get("delta").and_then(Value::as_bool) == Some(true);
                if delta {
                    self.text.push_str(value.get("content").and_then(Value::as_str).unwrap_or_default());
                    if self.text.len() >= MAX_PENDING_TEXT {
                        self.flush_text(&mut out);
                    }
                    return out;
                }
                self.flush_text(&mut out);
                match self.event(&kind, &value) {
                    Some(entries) if !entries.is_empty() => out.extend(entries),
                    _ => out.push(jsonl::raw(line, (!kind.is_empty()).then_some(kind.as_str()), false)),
                }
            }
        }
        out
    }

    fn finish(&mut self) -> Vec<Parsed> {
        let mut out = Vec::new();
        self.flush_text(&mut out);
        out.extend(self.lines.finish());
        out
    }

    fn session_id(&self) -> Option<String> {
        self.session_id.clone()
    }

    fn outcome(&self, exit: ExitInfo) -> Outcome {
        if exit.stopped {
            return Outcome::cancelled();
        }
        match &self.result {
            Some(r) if r.success && exit.code == Some(0) => Outcome::succeeded(),
            Some(r) if r.success => Outcome::failed(format!(
                "Gemini CLI reported success but exited with {}",
                exit.code.map_or("a signal".to_owned(), |c| format!("code {c}"))
            )),
            Some(r) => classify(&r.message, Utc::now()),
            None => {
                // Set-up errors (no auth method, no key) come as plain stderr text.
                let reason = self.lines.no_result("Gemini CLI", "a result", exit);
                let stderr = self.lines.stderr_text().unwrap_or_default();
                match classify(&stderr, Utc::now()) {
                    Outcome { status: RunStatus::AuthRequired, .. } => {
                        Outcome::ended(RunStatus::AuthRequired, reason)
                    }
                    _ => Outcome::failed(reason),
                }
            }
        }
    }
}

impl GeminiParser {
    fn flush_text(&mut self, out: &mut Vec<Parsed>) {
        if !self.text.is_empty() {
            out.push(Parsed::new(
                LogKind::Assistant,
                std::mem::take(&mut self.text),
                json!({ "event": "text" }),
            ));
        }
    }

    fn event(&mut self, kind: &str, v: &Value) -> Option<Vec<Parsed>> {
        let s = |key: &str| v.get(key).and_then(Value::as_str).unwrap_or_default();
        let entry = match kind {
            "init" => {
                self.session_id = Some(s("session_id").to_owned()).filter(|id| !id.is_empty());
                Parsed::new(
                    LogKind::Init,
                    format!("Gemini CLI · model {} · session {}", s("model"), s("session_id")),
                    json!({ "event": "init", "session_id": s("session_id"), "model": s("model") }),
                )
            }
            "message" => Parsed::new(
                if s("role") == "assistant" { LogKind::Assistant } else { LogKind::System },
                s("content"),
                json!({ "event": if s("role") == "assistant" { "text" } else { "user_text" } }),
            ),
            "tool_use" => {
                let name = s("tool_name");
                let params = v.get("parameters").cloned().unwrap_or(Value::Null);
                self.tool_names.insert(s("tool_id").to_owned(), name.to_owned());
                jsonl::tool_use(s("tool_id"), name, tool_summary(name, &params), &params)
            }
            "tool_result" => {
                let is_error = s("status") != "success";
                let text = match (
                    v.get("output").and_then(Value::as_str),
                    v.pointer("/error/message").and_then(Value::as_str),
                ) {
                    (Some(out), _) if !out.is_empty() => out.to_owned(),
                    (_, Some(err)) => err.to_owned(),
                    _ => s("status").to_owned(),
                };
                jsonl::tool_result(
                    s("tool_id"),
                    self.tool_names.get(s("tool_id")).map(String::as_str),
                    &text,
                    is_error,
                )
            }
            "error" => {
                let warning = s("severity") == "warning";
                Parsed::new(
                    if warning { LogKind::System } else { LogKind::Error },
                    s("message"),
                    json!({ "event": "error", "severity": s("severity") }),
                )
            }
            "result" => {
                let success = s("status") == "success";
                let mut message =
                    v.pointer("/error/message").and_then(Value::as_str).unwrap_or_default().to_owned();
                if v.pointer("/error/type").and_then(Value::as_str) == Some("FatalTurnLimitedError") {
                    // Said in words too, but the type is the contract.
                    message = format!("max session turns: {message}");
                }
                let stats = v.get("stats").cloned().unwrap_or(Value::Null);
                let n = |k: &str| stats.get(k).and_then(Value::as_i64).unwrap_or(0);
                let text = if success {
                    format!(
                        "done · {} tool calls · {} tokens in, {} out · {:.1} s",
                        n("tool_calls"),
                        n("input_tokens"),
                        n("output_tokens"),
                        n("duration_ms") as f64 / 1000.0
                    )
                } else {
                    format!("error: {}", jsonl::one_line(&message, 500))
                };
                self.result = Some(ResultEvent { success, message: message.clone() });
                Parsed::new(
                    LogKind::Result,
                    text,
                    json!({
                        "event": "result", "is_error": !success, "error": v.get("error"), "stats": stats,
                    }),
                )
            }
            _ => return None,
        };
        Some(vec![entry])
    }
}

/// A short line for people about a Gemini tool call.
pub fn tool_summary(name: &str, input: &Value) -> String {
    let field = |keys: &[&str]| keys.iter().find_map(|k| input.get(*k).and_then(Value::as_str));
    let text = match name {
        "write_file" => field(&["file_path"]).map(|p| format!("Write {p}")),
        "replace" => field(&["file_path"]).map(|p| format!("Edit {p}")),
        "read_file" => field(&["file_path", "absolute_path"]).map(|p| format!("Read {p}")),
        "read_many_files" => Some("Read several files".to_owned()),
        "run_shell_command" => field(&["command"]).map(|c| format!("Shell: {}", jsonl::one_line(c, 120))),
        "glob" | "grep_search" | "search_file_content" => field(&["pattern"]).map(|p| format!("{name} {p}")),
        "list_directory" => field(&["dir_path", "path"]).map(|p| format!("List {p}")),
        "web_fetch" => field(&["url", "prompt"]).map(|u| format!("WebFetch {}", jsonl::one_line(u, 120))),
        "google_web_search" => field(&["query"]).map(|q| format!("WebSearch: {}", jsonl::one_line(q, 120))),
        _ => None,
    };
    text.unwrap_or_else(|| match input.as_object().and_then(|o| o.values().find_map(Value::as_str)) {
        Some(arg) => format!("{name}: {}", jsonl::one_line(arg, 80)),
        None => name.to_owned(),
    })
}

/// The API's own message inside "[API Error: {\"error\":{…,\"message\":…}}]", which the CLI
/// passes on as JSON text; other messages as they are.
fn readable(message: &str) -> String {
    let (Some(start), Some(end)) = (message.find('{'), message.rfind('}')) else { return message.to_owned() };
    match serde_json::from_str::<Value>(&message[start..=end]) {
        Ok(v) => match (v.pointer("/error/code"), v.pointer("/error/message").and_then(Value::as_str)) {
            (Some(code), Some(inner)) => format!("API error {code}: {inner}"),
            (None, Some(inner)) => inner.to_owned(),
            _ => message.to_owned(),
        },
        Err(_) => message.to_owned(),
    }
}

/// Judges a failed result by its message (the error's `type` is mostly `unknown`).
fn classify(message: &str, now: DateTime<Utc>) -> Outcome {
    let lower = message.to_lowercase();
    let has = |needles: &[&str]| needles.iter().any(|n| lower.contains(&n.to_lowercase()));
    let status = if has(&["maximum session turns", "max session turns"]) {
        RunStatus::MaxTurns
    } else if has(&["billing"]) {
        RunStatus::Billing
    } else if has(&[
        "api key not valid",
        "api_key_invalid",
        "unauthenticated",
        "permission_denied",
        "invalid auth method",
        "must specify the gemini_api_key",
        "401",
    ]) {
        RunStatus::AuthRequired
    } else if has(&["resource_exhausted", "resource has been exhausted", "quota", "429", "rate limit"]) {
        RunStatus::QuotaExceeded
    } else if has(&[
        "unavailable",
        "overloaded",
        "internal",
        "500",
        "502",
        "503",
        "bad gateway",
        "could not be reached",
        "fetch failed",
        "econnrefused",
        "enotfound",
    ]) {
        RunStatus::ServerError
    } else {
        RunStatus::Failed
    };
    let mut outcome = Outcome::ended(status, readable(message));
    if status == RunStatus::QuotaExceeded {
        outcome.retry_at =
            retry_delay(message).map(|secs| now + chrono::Duration::milliseconds((secs * 1000.0) as i64));
    }
    outcome
}

/// Seconds in `"retryDelay":"37s"` or "Please retry in 37.5s".
fn retry_delay(message: &str) -> Option<f64> {
    for marker in ["retryDelay\":\"", "retryDelay\\\":\\\"", "retry in "] {
        if let Some(i) = message.find(marker) {
            let rest = &message[i + marker.len()..];
            let number: String = rest.chars().take_while(|c| c.is_ascii_digit() || *c == '.').collect();
            if let Ok(secs) = number.parse::<f64>() {
                return Some(secs);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::model::RunKind;

    fn ctx(config: Value, env: &[(&str, &str)], home: PathBuf) -> RunContext {
        RunContext {
            prompt: "-fix it".into(),
            kind: RunKind::Start,
            resume_session: Some("5e87a948-dab9-44e3-b08a-650ca7613a7e".into()),
            config,
            worktree: PathBuf::from("/w"),
            home,
            tmp: PathBuf::from("/t"),
            env: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
        }
    }

    #[test]
    fn the_command_line_and_the_settings_file() {
        let home = tempfile::tempdir().expect("tmp");
        let c = ctx(
            json!({"model": "gemini-2.5-flash", "max_turns": 4, "api_retries": 0}),
            &[("GEMINI_API_KEY", "k")],
            home.path().to_path_buf(),
        );
        let spec = GeminiAdapter.command(&c).expect("spec");
        assert_eq!(
            spec.args,
            [
                "--prompt=-fix it",
                "--output-format",
                "stream-json",
                "--model",
                "gemini-2.5-flash",
                "--approval-mode",
                "yolo",
                "--resume",
                "5e87a948-dab9-44e3-b08a-650ca7613a7e"
            ]
        );
        GeminiAdapter.prepare_home(&c).expect("home");
        let file: Value =
            serde_json::from_slice(&std::fs::read(home.path().join(".gemini/settings.json")).expect("read"))
                .expect("json");
        assert_eq!(file["security"]["auth"]["selectedType"], "gemini-api-key");
        assert_eq!(file["general"]["maxAttempts"], 1);
        assert_eq!(file["model"]["maxSessionTurns"], 4);
        let vertex = ctx(json!({}), &[("GOOGLE_API_KEY", "k")], home.path().to_path_buf());
        GeminiAdapter.prepare_home(&vertex).expect("home");
        let file: Value =
            serde_json::from_slice(&std::fs::read(home.path().join(".gemini/settings.json")).expect("read"))
                .expect("json");
        assert_eq!(file["security"]["auth"]["selectedType"], "vertex-ai");
        assert!(GeminiAdapter.validate(&json!({"allowed_tools": ["x"]})).is_err());
        assert!(GeminiAdapter.validate(&json!({"permission_mode": "acceptEdits"})).is_err());
    }

    #[test]
    fn results_are_classified() {
        let now = DateTime::parse_from_rfc3339("2030-03-10T12:00:00Z").expect("t").with_timezone(&Utc);
        for (message, status, retry) in [
            ("[API Error: API key not valid. Please pass a valid API key.]", RunStatus::AuthRequired, None),
            (
                "[API Error: You exceeded your current quota … \"retryDelay\":\"37s\" …]",
                RunStatus::QuotaExceeded,
                Some("2030-03-10T12:00:37Z"),
            ),
            ("[API Error: Resource has been exhausted (e.g. check quota).]", RunStatus::QuotaExceeded, None),
            ("[API Error: This API method requires billing to be enabled.]", RunStatus::Billing, None),
            ("[API Error: The model is overloaded. Please try again later.]", RunStatus::ServerError, None),
            ("Reached the maximum session turns for this session.", RunStatus::MaxTurns, None),
            ("something else", RunStatus::Failed, None),
        ] {
            let o = classify(message, now);
            assert_eq!(o.status, status, "{message}");
            let expect = retry.map(|t| DateTime::parse_from_rfc3339(t).expect("t").with_timezone(&Utc));
            assert_eq!(o.retry_at, expect, "{message}");
        }
    }

    #[test]
    fn api_errors_passed_on_as_json_are_made_readable() {
        let raw = r#"[API Error: {"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT"}}]"#;
        assert_eq!(readable(raw), "API error 400: API key not valid. Please pass a valid API key.");
        assert_eq!(
            readable("[API Error: The model is overloaded.]"),
            "[API Error: The model is overloaded.]"
        );
    }

    #[test]
    fn deltas_become_one_entry() {
        let mut p = GeminiAdapter.parser();
        let mut out = Vec::new();
        for line in [
            r#"{"type":"message","role":"assistant","content":"Hel","delta":true}"#,
            r#"{"type":"message","role":"assistant","content":"lo","delta":true}"#,
            r#"{"type":"tool_use","tool_name":"write_file","tool_id":"t1","parameters":{"file_path":"a.txt","content":"x"}}"#,
            r#"{"type":"message","role":"assistant","content":"Done.","delta":true}"#,
        ] {
            out.extend(p.parse(Stream::Stdout, line, false));
        }
        out.extend(p.finish());
        let texts: Vec<(LogKind, &str)> = out.iter().map(|e| (e.kind, e.text.as_str())).collect();
        assert_eq!(
            texts,
            [(LogKind::Assistant, "Hello"), (LogKind::ToolUse, "Write a.txt"), (LogKind::Assistant, "Done.")]
        );
    }
}

//! Agent adapters: how to start an agent CLI for a run, how to read its output lines into log
//! entries, and how to judge its exit. One module per CLI behind the [`Adapter`] trait.
//!
//! Adapters: [`claude`] (Claude Code, first-class), [`codex`] (Codex CLI), [`gemini`]
//! (Gemini CLI) and [`command`] (`custom`: any command line, plain output). [`status`] tells
//! whether each CLI is installed and can work; [`jsonl`] holds what the JSON-lines parsers
//! share (rejoining cut lines, folding long text).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use nix::sys::signal::Signal;
use serde::Deserialize;
use serde_json::Value;

use crate::model::{LogKind, RunKind, RunStatus};

pub mod claude;
pub mod clock;
pub mod codex;
pub mod command;
pub mod gemini;
pub mod jsonl;
pub mod status;

/// Why an adapter could not prepare a run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AgentError {
    /// No adapter has this name.
    #[error("unknown agent `{0}` (known: {known})", known = known_names().join(", "))]
    UnknownAgent(String),
    /// The task's agent settings are not usable.
    #[error("invalid agent settings: {0}")]
    InvalidConfig(String),
}

/// What an adapter knows about the run it prepares.
#[derive(Debug, Clone)]
pub struct RunContext {
    /// The prompt: the task's description, or the follow-up message.
    pub prompt: String,
    /// A fresh start or a follow-up.
    pub kind: RunKind,
    /// The agent session to resume (follow-ups).
    pub resume_session: Option<String>,
    /// The task's adapter settings (JSON).
    pub config: Value,
    /// The worktree the agent works in.
    pub worktree: PathBuf,
    /// A private directory for the agent's home/config state.
    pub home: PathBuf,
    /// A private temporary directory.
    pub tmp: PathBuf,
    /// The environment the agent gets before the adapter adds its own variables: the base
    /// and the credentials Taskyard passes (a task's settings come on top).
    pub env: BTreeMap<String, String>,
}

impl RunContext {
    /// A variable as the agent will see it: the settings' `env` first, then the run's.
    pub fn var<'a>(&'a self, settings: &'a CliSettings, name: &str) -> Option<&'a str> {
        settings.env.get(name).or_else(|| self.env.get(name)).map(String::as_str).filter(|v| !v.is_empty())
    }
}

/// A fully resolved process to start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandSpec {
    /// The program (a path, or a name looked up in the given `PATH`).
    pub program: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// Variables the adapter adds to the run's base environment.
    pub env: BTreeMap<String, String>,
}

/// One log entry produced from an output line, before it gets its seq and time.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    /// What it is.
    pub kind: LogKind,
    /// Human-readable text.
    pub text: String,
    /// Structured details.
    pub data: Option<Value>,
}

impl Parsed {
    /// An entry with structured details.
    pub fn new(kind: LogKind, text: impl Into<String>, data: Value) -> Self {
        Self { kind, text: text.into(), data: Some(data) }
    }
}

/// Where a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// How the agent process ended, as the runner saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitInfo {
    /// Exit code of a normal exit.
    pub code: Option<i32>,
    /// The signal that ended it.
    pub signal: Option<i32>,
    /// A person asked to stop it.
    pub stopped: bool,
}

/// The verdict on a finished run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Terminal run status.
    pub status: RunStatus,
    /// Why, when it did not succeed.
    pub error: Option<String>,
    /// When the agent can work again (a quota's reset time), if it said so.
    pub retry_at: Option<DateTime<Utc>>,
}

impl Outcome {
    /// A run that did what it was asked.
    pub fn succeeded() -> Self {
        Self { status: RunStatus::Succeeded, error: None, retry_at: None }
    }

    /// A run that ended as `status` for `reason`.
    pub fn ended(status: RunStatus, reason: impl Into<String>) -> Self {
        Self { status, error: Some(reason.into()), retry_at: None }
    }

    /// A failed run.
    pub fn failed(reason: impl Into<String>) -> Self {
        Self::ended(RunStatus::Failed, reason)
    }

    /// A run a person stopped.
    pub fn cancelled() -> Self {
        Self::ended(RunStatus::Cancelled, "stopped on request")
    }
}

/// Reads one run's output lines. Stateful: agents report things (a session id, a final
/// result) that decide how the exit is judged.
pub trait LineParser: Send {
    /// Turns one output line into zero or more entries. Must never fail: a line it does not
    /// understand is kept as text. `truncated` marks a piece of a longer line that continues
    /// in the next call.
    fn parse(&mut self, stream: Stream, line: &str, truncated: bool) -> Vec<Parsed>;
    /// Entries for input still held back (a cut line whose end never came), called once
    /// after the last line.
    fn finish(&mut self) -> Vec<Parsed> {
        Vec::new()
    }
    /// The agent session id, once known.
    fn session_id(&self) -> Option<String> {
        None
    }
    /// Judges the exit, given what was parsed.
    fn outcome(&self, exit: ExitInfo) -> Outcome;
}

/// A credential an agent CLI reads from its environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CredentialVar {
    /// The variable's name.
    pub name: &'static str,
    /// What it holds, for people ("API key", "subscription token", …).
    pub kind: &'static str,
}

/// What the status page needs to know about an adapter's CLI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CliInfo {
    /// The program looked up in `PATH` when the settings name none.
    pub program: &'static str,
    /// The npm package it installs from.
    pub package: &'static str,
    /// The arguments that print its version.
    pub version_args: &'static [&'static str],
    /// The credential variables it reads, in the order it prefers them.
    pub credentials: &'static [CredentialVar],
    /// Other variables Taskyard passes through from its own environment when set (API base
    /// URLs, provider switches).
    pub passthrough: &'static [&'static str],
}

/// An agent CLI Taskyard can drive.
pub trait Adapter: Send + Sync + std::fmt::Debug {
    /// Its name, as stored on tasks.
    fn name(&self) -> &'static str;
    /// Its name for people.
    fn display_name(&self) -> &'static str;
    /// The process to start for a run.
    fn command(&self, ctx: &RunContext) -> Result<CommandSpec, AgentError>;
    /// A fresh parser for one run.
    fn parser(&self) -> Box<dyn LineParser>;
    /// How to stop it: signals sent to the run's process group in order, each followed by a
    /// grace period; SIGKILL comes after the last.
    fn stop_signals(&self) -> Vec<(Signal, Duration)> {
        vec![(Signal::SIGTERM, Duration::from_secs(5))]
    }
    /// Checks settings before a task is saved or a run is queued.
    fn validate(&self, config: &Value) -> Result<(), AgentError>;
    /// The CLI behind the adapter, when it drives a known one.
    fn cli(&self) -> Option<CliInfo> {
        None
    }
    /// Settings the status page's test adds to the configured ones, to keep a tiny prompt
    /// tiny (a turn limit).
    fn test_settings(&self) -> Value {
        Value::Object(Default::default())
    }
    /// Writes what the CLI needs in the run's fresh home before it starts (settings files);
    /// called by the runner after [`Adapter::command`] succeeded.
    fn prepare_home(&self, ctx: &RunContext) -> std::io::Result<()> {
        let _ = ctx;
        Ok(())
    }
    /// Makes the agent session `session`, kept in an earlier run's home `from`, available in
    /// the fresh home `to` of a run that resumes it. Returns whether there was anything to
    /// carry; adapters without resumable sessions carry nothing.
    fn carry_session(&self, from: &Path, to: &Path, session: &str) -> std::io::Result<bool> {
        let _ = (from, to, session);
        Ok(false)
    }
    /// Whether the agent session `session` is kept in `home` and can be resumed there (a
    /// run recovered after its server died continues it). Adapters without resumable
    /// sessions have none.
    fn has_session(&self, home: &Path, session: &str) -> bool {
        let _ = (home, session);
        false
    }
}

/// The name tasks made before `custom` existed use for it.
pub const COMMAND_ALIAS: &str = "command";

/// The names of every adapter.
pub fn known_names() -> Vec<&'static str> {
    vec![claude::NAME, codex::NAME, gemini::NAME, command::NAME]
}

/// Every adapter, in the order the status page lists them.
pub fn all() -> Vec<Box<dyn Adapter>> {
    vec![
        Box::new(claude::ClaudeAdapter),
        Box::new(codex::CodexAdapter),
        Box::new(gemini::GeminiAdapter),
        Box::new(command::CommandAdapter),
    ]
}

/// The adapter called `name` (`command` is accepted for `custom`).
pub fn adapter(name: &str) -> Result<Box<dyn Adapter>, AgentError> {
    match name {
        claude::NAME => Ok(Box::new(claude::ClaudeAdapter)),
        codex::NAME => Ok(Box::new(codex::CodexAdapter)),
        gemini::NAME => Ok(Box::new(gemini::GeminiAdapter)),
        command::NAME | COMMAND_ALIAS => Ok(Box::new(command::CommandAdapter)),
        other => Err(AgentError::UnknownAgent(other.to_owned())),
    }
}

/// The settings adapters read from Taskyard's own environment (API base URLs, proxies),
/// picked by name from `vars`: what [`crate::runner::RunnerConfig`] passes to agents by
/// default. Credentials are never among them: a run gets exactly its resolved credentials
/// (the server imports its own credential variables into the global tier at start-up).
pub fn passthrough_env(vars: impl IntoIterator<Item = (String, String)>) -> BTreeMap<String, String> {
    let wanted: Vec<&str> =
        all().iter().filter_map(|a| a.cli()).flat_map(|cli| cli.passthrough.iter().copied()).collect();
    vars.into_iter().filter(|(k, v)| !v.is_empty() && wanted.contains(&k.as_str())).collect()
}

/// The judgement shared by adapters without their own: a stop is `cancelled`, exit 0 is
/// `succeeded`, anything else `failed` with the reason.
pub fn plain_outcome(exit: ExitInfo) -> Outcome {
    if exit.stopped {
        return Outcome::cancelled();
    }
    match (exit.code, exit.signal) {
        (Some(0), _) => Outcome::succeeded(),
        (Some(code), _) => Outcome::failed(format!("exited with code {code}")),
        (None, Some(sig)) => Outcome::failed(format!("killed by signal {}", signal_name(sig))),
        (None, None) => Outcome::failed("ended without an exit status"),
    }
}

/// `SIGTERM` for 15, or the number when it has no name.
pub fn signal_name(sig: i32) -> String {
    Signal::try_from(sig).map(|s| s.as_str().to_owned()).unwrap_or_else(|_| sig.to_string())
}

/// Settings every CLI adapter understands (Claude Code, Codex, Gemini); each adapter checks
/// which of them it supports. Unknown fields are refused so a typo is not silently ignored.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CliSettings {
    /// The program to run instead of the CLI's name looked up in `PATH`.
    pub program: Option<String>,
    /// The model to ask for.
    pub model: Option<String>,
    /// The CLI's permission (or approval) mode.
    pub permission_mode: Option<String>,
    /// Tools the agent may use without asking.
    pub allowed_tools: Option<Vec<String>>,
    /// Tools the agent may not use.
    #[serde(default)]
    pub disallowed_tools: Vec<String>,
    /// Text added to the CLI's system prompt.
    pub append_system_prompt: Option<String>,
    /// The most agent turns before it stops.
    pub max_turns: Option<u32>,
    /// How often the CLI itself retries a failed API call before it gives up (default 3;
    /// Taskyard's own retry policy takes over after that).
    pub api_retries: Option<u32>,
    /// More arguments, put before the prompt.
    #[serde(default)]
    pub args: Vec<String>,
    /// Variables added to the agent's environment (they win over Taskyard's defaults).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

/// How often a CLI retries a failed API call when the settings do not say.
pub const DEFAULT_API_RETRIES: u32 = 3;

impl CliSettings {
    /// The CLI's own API retries.
    pub fn api_retries(&self) -> u32 {
        self.api_retries.unwrap_or(DEFAULT_API_RETRIES)
    }

    /// Reads and checks settings; `{}` and `null` mean all defaults.
    pub fn parse(config: &Value) -> Result<Self, AgentError> {
        let settings: Self = if config.is_null() {
            Self::default()
        } else {
            serde_json::from_value(config.clone()).map_err(|e| AgentError::InvalidConfig(e.to_string()))?
        };
        if let Some(p) = &settings.program
            && p.trim().is_empty()
        {
            return Err(AgentError::InvalidConfig("`program` is empty".into()));
        }
        if settings.max_turns == Some(0) {
            return Err(AgentError::InvalidConfig("`max_turns` must be at least 1".into()));
        }
        for name in settings.env.keys() {
            if !command::valid_env_name(name) {
                return Err(AgentError::InvalidConfig(format!(
                    "`{name}` is not a valid environment variable name"
                )));
            }
        }
        Ok(settings)
    }

    /// Refuses settings the adapter `agent` has no use for, naming them.
    pub fn refuse_unsupported(&self, agent: &str, supported: &[&str]) -> Result<(), AgentError> {
        let used = [
            ("model", self.model.is_some()),
            ("permission_mode", self.permission_mode.is_some()),
            ("allowed_tools", self.allowed_tools.is_some()),
            ("disallowed_tools", !self.disallowed_tools.is_empty()),
            ("append_system_prompt", self.append_system_prompt.is_some()),
            ("max_turns", self.max_turns.is_some()),
        ];
        for (field, set) in used {
            if set && !supported.contains(&field) {
                return Err(AgentError::InvalidConfig(format!("{agent} does not support `{field}`")));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agents_get_only_the_settings_adapters_name_and_no_credentials() {
        let vars = [
            ("ANTHROPIC_API_KEY", "sk-ant-api03-TEST"),
            ("OPENAI_BASE_URL", "http://gateway"),
            ("GEMINI_API_KEY", ""),
            ("AWS_SECRET_ACCESS_KEY", "not for agents"),
            ("DATABASE_URL", "postgres://taskyard"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
        let env = passthrough_env(vars);
        assert_eq!(
            env.keys().collect::<Vec<_>>(),
            ["OPENAI_BASE_URL"],
            "credentials and empty values are left out"
        );
    }

    #[test]
    fn every_adapter_is_found_by_its_name() {
        for a in all() {
            assert_eq!(adapter(a.name()).expect("adapter").name(), a.name());
        }
        assert_eq!(known_names(), ["claude", "codex", "gemini", "custom"]);
        assert!(
            adapter("nope")
                .expect_err("unknown")
                .to_string()
                .contains("known: claude, codex, gemini, custom")
        );
    }
}

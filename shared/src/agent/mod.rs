//! Agent adapters: how to start an agent CLI for a run, how to read its output lines into log
//! entries, and how to judge its exit. One module per CLI behind the [`Adapter`] trait.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use nix::sys::signal::Signal;
use serde_json::Value;

use crate::model::{LogKind, RunKind, RunStatus};

pub mod command;

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
}

/// Reads one run's output lines. Stateful: agents report things (a session id, a final
/// result) that decide how the exit is judged.
pub trait LineParser: Send {
    /// Turns one output line into zero or more entries. Must never fail: a line it does not
    /// understand is kept as text.
    fn parse(&mut self, stream: Stream, line: &str, truncated: bool) -> Vec<Parsed>;
    /// The agent session id, once known.
    fn session_id(&self) -> Option<String> {
        None
    }
    /// Judges the exit, given what was parsed.
    fn outcome(&self, exit: ExitInfo) -> Outcome;
}

/// An agent CLI Taskyard can drive.
pub trait Adapter: Send + Sync + std::fmt::Debug {
    /// Its name, as stored on tasks.
    fn name(&self) -> &'static str;
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
}

/// The names of every adapter.
pub fn known_names() -> Vec<&'static str> {
    vec![command::NAME]
}

/// The adapter called `name`.
pub fn adapter(name: &str) -> Result<Box<dyn Adapter>, AgentError> {
    match name {
        command::NAME => Ok(Box::new(command::CommandAdapter)),
        other => Err(AgentError::UnknownAgent(other.to_owned())),
    }
}

/// The judgement shared by adapters without their own: a stop is `cancelled`, exit 0 is
/// `succeeded`, anything else `failed` with the reason.
pub fn plain_outcome(exit: ExitInfo) -> Outcome {
    if exit.stopped {
        return Outcome { status: RunStatus::Cancelled, error: Some("stopped on request".into()) };
    }
    match (exit.code, exit.signal) {
        (Some(0), _) => Outcome { status: RunStatus::Succeeded, error: None },
        (Some(code), _) => {
            Outcome { status: RunStatus::Failed, error: Some(format!("exited with code {code}")) }
        }
        (None, Some(sig)) => {
            let name =
                Signal::try_from(sig).map(|s| s.as_str().to_owned()).unwrap_or_else(|_| sig.to_string());
            Outcome { status: RunStatus::Failed, error: Some(format!("killed by signal {name}")) }
        }
        (None, None) => {
            Outcome { status: RunStatus::Failed, error: Some("ended without an exit status".into()) }
        }
    }
}

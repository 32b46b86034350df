//! The `custom` adapter: any command line, its output kept as plain lines. For scripts and
//! for agents Taskyard has no adapter for yet. Tasks made before it had this name say
//! `command`, which still selects it.
//!
//! Settings: `{"command": ["prog", "--flag", "{prompt}"], "env": {"NAME": "value"}}`, or a
//! shell line `{"command": "make test && ./agent {prompt}"}` run by `sh -c`. The prompt is
//! always in `$TASKYARD_PROMPT`; in a shell line `{prompt}` becomes `"$TASKYARD_PROMPT"`, so
//! a prompt is never parsed by the shell.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::{
    Adapter, AgentError, CommandSpec, ExitInfo, LineParser, Outcome, Parsed, RunContext, Stream,
    plain_outcome,
};
use crate::model::LogKind;

/// The adapter's name on tasks.
pub const NAME: &str = "custom";

/// The placeholder replaced by the prompt.
pub const PROMPT_PLACEHOLDER: &str = "{prompt}";

/// See the module docs.
#[derive(Debug, Clone, Copy, Default)]
pub struct CommandAdapter;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    command: CommandLine,
    #[serde(default)]
    env: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum CommandLine {
    Argv(Vec<String>),
    Shell(String),
}

fn settings(config: &Value) -> Result<Settings, AgentError> {
    let s: Settings = serde_json::from_value(config.clone()).map_err(|e| {
        AgentError::InvalidConfig(format!(
            "{e}; expected {{\"command\": [\"program\", \"arg\", …]}} or {{\"command\": \"shell line\"}}"
        ))
    })?;
    match &s.command {
        CommandLine::Argv(argv) if argv.is_empty() || argv[0].trim().is_empty() => {
            return Err(AgentError::InvalidConfig("the command is empty".into()));
        }
        CommandLine::Shell(line) if line.trim().is_empty() => {
            return Err(AgentError::InvalidConfig("the command is empty".into()));
        }
        _ => {}
    }
    for name in s.env.keys() {
        if !valid_env_name(name) {
            return Err(AgentError::InvalidConfig(format!(
                "`{name}` is not a valid environment variable name"
            )));
        }
    }
    Ok(s)
}

/// `[A-Za-z_][A-Za-z0-9_]*`
pub fn valid_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl Adapter for CommandAdapter {
    fn name(&self) -> &'static str {
        NAME
    }

    fn display_name(&self) -> &'static str {
        "Custom command"
    }

    fn command(&self, ctx: &RunContext) -> Result<CommandSpec, AgentError> {
        let s = settings(&ctx.config)?;
        let (program, args) = match s.command {
            CommandLine::Argv(mut argv) => {
                let program = argv.remove(0);
                let args = argv.into_iter().map(|a| a.replace(PROMPT_PLACEHOLDER, &ctx.prompt)).collect();
                (program, args)
            }
            CommandLine::Shell(line) => {
                let line = line.replace(PROMPT_PLACEHOLDER, "\"$TASKYARD_PROMPT\"");
                ("sh".to_owned(), vec!["-c".to_owned(), line])
            }
        };
        let mut env = s.env;
        env.insert("TASKYARD_PROMPT".into(), ctx.prompt.clone());
        Ok(CommandSpec { program, args, env })
    }

    fn parser(&self) -> Box<dyn LineParser> {
        Box::new(PlainLines)
    }

    fn validate(&self, config: &Value) -> Result<(), AgentError> {
        settings(config).map(|_| ())
    }
}

/// Every line becomes one stdout or stderr entry.
#[derive(Debug)]
pub struct PlainLines;

impl LineParser for PlainLines {
    fn parse(&mut self, stream: Stream, line: &str, truncated: bool) -> Vec<Parsed> {
        let kind = match stream {
            Stream::Stdout => LogKind::Stdout,
            Stream::Stderr => LogKind::Stderr,
        };
        let data = truncated.then(|| serde_json::json!({ "truncated": true }));
        vec![Parsed { kind, text: line.to_owned(), data }]
    }

    fn outcome(&self, exit: ExitInfo) -> Outcome {
        plain_outcome(exit)
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use serde_json::json;

    use super::*;
    use crate::model::RunKind;

    fn ctx(config: Value, prompt: &str) -> RunContext {
        RunContext {
            prompt: prompt.into(),
            kind: RunKind::Start,
            resume_session: None,
            config,
            worktree: PathBuf::from("/w"),
            home: PathBuf::from("/h"),
            tmp: PathBuf::from("/t"),
            env: Default::default(),
        }
    }

    #[test]
    fn argv_gets_the_prompt_as_one_argument() {
        let spec = CommandAdapter
            .command(&ctx(
                json!({"command": ["agent", "--task", "{prompt}"], "env": {"MODE": "fast"}}),
                "fix it; rm -rf /",
            ))
            .expect("spec");
        assert_eq!(spec.program, "agent");
        assert_eq!(spec.args, ["--task", "fix it; rm -rf /"]);
        assert_eq!(spec.env.get("MODE").map(String::as_str), Some("fast"));
        assert_eq!(spec.env.get("TASKYARD_PROMPT").map(String::as_str), Some("fix it; rm -rf /"));
    }

    #[test]
    fn shell_lines_never_parse_the_prompt() {
        let spec = CommandAdapter
            .command(&ctx(json!({"command": "echo {prompt} | wc -c"}), "$(reboot)"))
            .expect("spec");
        assert_eq!(spec.program, "sh");
        assert_eq!(spec.args, ["-c", "echo \"$TASKYARD_PROMPT\" | wc -c"]);
    }

    #[test]
    fn bad_settings_are_explained() {
        for (config, needle) in [
            (json!({}), "missing field `command`"),
            (json!({"command": []}), "empty"),
            (json!({"command": "  "}), "empty"),
            (json!({"command": 5}), "expected"),
            (json!({"command": ["x"], "env": {"1BAD": "v"}}), "1BAD"),
            (json!({"command": ["x"], "extra": 1}), "unknown field"),
        ] {
            let err = CommandAdapter.validate(&config).expect_err("must be refused").to_string();
            assert!(err.contains(needle), "{config}: {err}");
        }
    }

    #[test]
    fn custom_is_the_name_and_command_still_works() {
        assert_eq!(crate::agent::adapter("custom").expect("custom").name(), "custom");
        assert_eq!(crate::agent::adapter("command").expect("alias").name(), "custom");
    }

    #[test]
    fn lines_keep_their_stream() {
        let mut p = CommandAdapter.parser();
        assert_eq!(p.parse(Stream::Stderr, "oops", false)[0].kind, LogKind::Stderr);
        let long = &p.parse(Stream::Stdout, "partial", true)[0];
        assert_eq!((long.kind, long.data.clone()), (LogKind::Stdout, Some(json!({"truncated": true}))));
    }
}

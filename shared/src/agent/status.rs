//! Agent status, for the server's `GET /api/agents` and the command line: for each adapter,
//! whether its CLI is installed (where, which version), which credential a run would use,
//! and a test that runs a tiny prompt through the adapter and reports ok, auth required,
//! quota, unreachable or failed.
//!
//! Everything is seen as a run would see it: the program is looked up in the runner's
//! agent `PATH`, credentials are the resolved global and user tiers (plus per-agent
//! settings, as a task's settings would add them), and the test runs in a private home,
//! in the runs' sandbox and with the runs' credential proxy holding the real credentials.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

use super::{Adapter, AgentError, CliSettings, ExitInfo, LineParser, RunContext, Stream};
use crate::model::{RunId, RunKind, RunStatus};
use crate::proxy::CredentialProxy;
use crate::runner::{RunnerConfig, lines, process};
use crate::sandbox::{Bubblewrap, Confinement};

/// How long `--version` may take.
const VERSION_TIMEOUT: Duration = Duration::from_secs(15);

/// How long the test prompt may take before the agent counts as unreachable.
pub const TEST_TIMEOUT: Duration = Duration::from_secs(90);

/// The prompt of the test action.
pub const TEST_PROMPT: &str = "Reply with the single word: ok";

/// Where and with what the status is checked.
#[derive(Debug, Clone)]
pub struct StatusOptions {
    /// The `PATH` agents get.
    pub path: String,
    /// The variables every agent gets (credentials, API settings).
    pub env: BTreeMap<String, String>,
    /// Where each credential in `env` comes from (a tier's name); `environment` when absent.
    pub sources: BTreeMap<String, &'static str>,
    /// Per-adapter settings, as a task's `agent_config` would hold them (a `program`, more
    /// `env`); adapters without an entry use their defaults.
    pub settings: BTreeMap<String, Value>,
    /// A directory for the test's private home and working directory (removed afterwards).
    pub scratch: PathBuf,
    /// The sandbox the test runs in, as runs do: `None` unconfined, an error (why) when runs
    /// must be confined and cannot be, and the test is then refused as a run would be.
    pub sandbox: Result<Option<Bubblewrap>, String>,
    /// Folders the sandbox never shows (the data directory).
    pub hidden: Vec<PathBuf>,
    /// Whether a `program` or `PATH` in the settings may bring its folder into the sandbox
    /// (see [`Confinement::trust_task_paths`]).
    pub trust_task_paths: bool,
    /// The proxy that holds the real credentials while the agent gets placeholders: `None`
    /// when runs get credentials directly, an error when runs use a proxy that cannot start.
    pub proxy: Result<Option<Arc<CredentialProxy>>, String>,
}

impl StatusOptions {
    /// What runs of `config` would see.
    pub fn for_runner(config: &RunnerConfig) -> Self {
        Self {
            path: config.agent_path.clone(),
            env: config.agent_env.clone(),
            sources: BTreeMap::new(),
            settings: BTreeMap::new(),
            scratch: config.data_dir.join("tmp"),
            sandbox: Ok(None),
            hidden: vec![config.data_dir.clone()],
            trust_task_paths: config.trust_task_settings,
            proxy: Ok(None),
        }
    }

    /// Adds resolved credentials, each with its tier as the source.
    pub fn with_credentials(mut self, resolution: &crate::credentials::Resolution) -> Self {
        for (key, resolved) in &resolution.values {
            self.env.insert(key.clone(), resolved.value.expose().to_owned());
            self.sources.insert(key.clone(), resolved.tier.as_str());
        }
        self
    }

    fn settings_of(&self, agent: &str) -> Value {
        self.settings.get(agent).cloned().unwrap_or(Value::Object(Default::default()))
    }
}

/// One adapter's status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AgentStatus {
    /// The adapter's name on tasks (`claude`, `custom`, …).
    pub name: &'static str,
    /// Its name for people.
    pub display_name: &'static str,
    /// Other names tasks may use for it.
    pub aliases: Vec<&'static str>,
    /// The CLI behind it; `None` for `custom`, which runs whatever a task says.
    pub cli: Option<CliStatus>,
}

/// Whether an adapter's CLI is there and what it would run with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CliStatus {
    /// The program as configured (a name looked up in `PATH`, or a path).
    pub program: String,
    /// The npm package that installs it.
    pub package: &'static str,
    /// Whether an executable was found.
    pub found: bool,
    /// Where it was found.
    pub path: Option<String>,
    /// What `--version` printed (its first line).
    pub version: Option<String>,
    /// Why it cannot be used, when it cannot.
    pub problem: Option<String>,
    /// The credential a run would use; `None` when no credential variable is set.
    pub credential: Option<CredentialStatus>,
    /// The credential variables the CLI reads, in the order it prefers them.
    pub credential_variables: Vec<&'static str>,
}

/// A credential, shown without its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CredentialStatus {
    /// The variable that holds it.
    pub variable: &'static str,
    /// What it is ("API key", …).
    pub kind: &'static str,
    /// Where it comes from: `settings` (the agent's own settings), a credential tier
    /// (`global`, `user`), or `environment` (given directly to the status check).
    pub source: &'static str,
    /// Its first characters and its last four, e.g. `sk-ant-api03-…abcd`.
    pub preview: String,
}

/// The test action's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TestResult {
    /// The agent answered.
    Ok,
    /// No credential, or the API refused it.
    AuthRequired,
    /// A usage or rate limit, or no credit left.
    Quota,
    /// The API could not be reached or failed on its side.
    Unreachable,
    /// The CLI is not installed (or cannot be started).
    NotFound,
    /// Anything else; the message says what.
    Failed,
}

/// What the test action found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct TestReport {
    /// The adapter.
    pub name: &'static str,
    /// The verdict.
    pub result: TestResult,
    /// The agent's answer, or why there was none.
    pub message: String,
    /// When a quota resets, if the agent said.
    pub retry_at: Option<DateTime<Utc>>,
    /// How long the test took.
    pub duration_ms: u64,
}

/// The status of every adapter, CLIs checked concurrently.
pub async fn list(opts: &StatusOptions) -> Vec<AgentStatus> {
    let checks = super::all().into_iter().map(|adapter| async move { status(adapter.as_ref(), opts).await });
    futures::future::join_all(checks).await
}

/// Whether an agent CLI could run now, for health checks: found on `PATH` and a credential
/// available for it. Cheap (no process is started) and without any value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Presence {
    /// The adapter's name on tasks.
    pub name: &'static str,
    /// Whether its CLI's executable was found.
    pub installed: bool,
    /// Whether a credential is available for it (settings, a credential tier or the
    /// environment given to the check).
    pub authenticated: bool,
}

/// The presence of every adapter that runs a CLI (not `custom`).
pub fn presence(opts: &StatusOptions) -> Vec<Presence> {
    super::all()
        .into_iter()
        .filter_map(|adapter| {
            let info = adapter.cli()?;
            let settings = CliSettings::parse(&opts.settings_of(adapter.name())).unwrap_or_default();
            let program = settings.program.clone().unwrap_or_else(|| info.program.to_owned());
            let authenticated = info.credentials.iter().any(|c| {
                settings.env.get(c.name).or_else(|| opts.env.get(c.name)).is_some_and(|v| !v.is_empty())
            });
            let installed = process::find_program(&program, &opts.path).is_ok();
            Some(Presence { name: adapter.name(), installed, authenticated })
        })
        .collect()
}

/// The status of the adapter called `name`.
pub async fn get(name: &str, opts: &StatusOptions) -> Result<AgentStatus, AgentError> {
    let adapter = super::adapter(name)?;
    Ok(status(adapter.as_ref(), opts).await)
}

async fn status(adapter: &dyn Adapter, opts: &StatusOptions) -> AgentStatus {
    let aliases =
        if adapter.name() == super::command::NAME { vec![super::COMMAND_ALIAS] } else { Vec::new() };
    let cli = match adapter.cli() {
        None => None,
        Some(info) => {
            let settings = CliSettings::parse(&opts.settings_of(adapter.name())).unwrap_or_default();
            let program = settings.program.clone().unwrap_or_else(|| info.program.to_owned());
            let credential = info.credentials.iter().find_map(|c| {
                let (value, source) = match settings.env.get(c.name) {
                    Some(v) => (v, "settings"),
                    None => {
                        (opts.env.get(c.name)?, opts.sources.get(c.name).copied().unwrap_or("environment"))
                    }
                };
                (!value.is_empty()).then(|| CredentialStatus {
                    variable: c.name,
                    kind: c.kind,
                    source,
                    preview: preview(value),
                })
            });
            let mut cli = CliStatus {
                program: program.clone(),
                package: info.package,
                found: false,
                path: None,
                version: None,
                problem: None,
                credential,
                credential_variables: info.credentials.iter().map(|c| c.name).collect(),
            };
            match process::find_program(&program, &opts.path) {
                Err(problem) => cli.problem = Some(problem),
                Ok(path) => {
                    cli.found = true;
                    match version(&path, info.version_args, opts).await {
                        Ok(v) => cli.version = Some(v),
                        Err(problem) => cli.problem = Some(problem),
                    }
                    cli.path = Some(path.display().to_string());
                }
            }
            Some(cli)
        }
    };
    AgentStatus { name: adapter.name(), display_name: adapter.display_name(), aliases, cli }
}

/// `sk-ant-api03-…abcd`: enough to tell keys apart, never enough to use one.
fn preview(secret: &str) -> String {
    let chars: Vec<char> = secret.chars().collect();
    if chars.len() < 16 {
        return "…".repeat(usize::from(!chars.is_empty()));
    }
    let head: String = chars.iter().take(if secret.starts_with("sk-ant-") { 13 } else { 4 }).collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}…{tail}")
}

async fn version(program: &Path, args: &[&str], opts: &StatusOptions) -> Result<String, String> {
    // Some CLIs write their state even to print a version: a home of its own, removed after.
    let home = opts.scratch.join(format!("agent-version-{}", uuid::Uuid::now_v7()));
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .env_clear()
        .env("PATH", &opts.path)
        .env("HOME", &home)
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    let out = tokio::time::timeout(VERSION_TIMEOUT, cmd.output()).await;
    let _ = tokio::fs::remove_dir_all(&home).await;
    let out = match out {
        Err(_) => return Err(format!("`{} {}` did not answer in time", program.display(), args.join(" "))),
        Ok(Err(e)) => return Err(process::spawn_error(&program.display().to_string(), &e)),
        Ok(Ok(out)) => out,
    };
    let text =
        String::from_utf8_lossy(if out.stdout.is_empty() { &out.stderr } else { &out.stdout }).into_owned();
    let first = text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or_default().to_owned();
    if out.status.success() && !first.is_empty() {
        Ok(first)
    } else {
        Err(format!("`{} {}` failed ({}): {first}", program.display(), args.join(" "), out.status))
    }
}

/// Runs a tiny prompt through the adapter called `name`, as a run would (its command line,
/// environment and parser), in a private home that is removed afterwards.
pub async fn test(name: &str, opts: &StatusOptions) -> Result<TestReport, AgentError> {
    let adapter = super::adapter(name)?;
    if adapter.cli().is_none() {
        return Err(AgentError::InvalidConfig(format!(
            "`{}` runs whatever command a task gives it: there is no CLI to test",
            adapter.name()
        )));
    }
    let mut config = opts.settings_of(adapter.name());
    if let (Value::Object(map), Value::Object(test)) = (&mut config, adapter.test_settings()) {
        for (k, v) in test {
            map.entry(k).or_insert(v);
        }
    }
    adapter.validate(&config)?;
    let started = Instant::now();
    let id = uuid::Uuid::now_v7().to_string();
    let dir = opts.scratch.join(format!("agent-test-{id}"));
    let (home, tmp, work) = (dir.join("home"), dir.join("tmp"), dir.join("work"));
    for d in [&home, &tmp, &work] {
        tokio::fs::create_dir_all(d)
            .await
            .map_err(|e| AgentError::InvalidConfig(format!("cannot create {}: {e}", d.display())))?;
    }
    let mut env = process::base_env(&opts.path, &home, &tmp);
    env.extend(opts.env.clone());
    // Held until the test ends: its placeholders die with it.
    let mut _grant = None;
    match &opts.proxy {
        Ok(None) => {}
        Ok(Some(proxy)) => {
            let (secured_env, secured_config, grant, _) =
                // The settings come from whoever asks for the test (the server, the command
            // line), never from a task: their base URLs are trusted.
            crate::runner::secure_environment(proxy, RunId::new(), env, config, true);
            (env, config, _grant) = (secured_env, secured_config, Some(grant));
        }
        Err(why) => {
            let _ = tokio::fs::remove_dir_all(&dir).await;
            return Ok(refused(adapter.name(), why.clone(), started));
        }
    }
    let confinement = match &opts.sandbox {
        Ok(None) => None,
        Ok(Some(bwrap)) => Some((
            bwrap,
            Confinement {
                writable: vec![work.clone(), home.clone(), tmp.clone()],
                readable: std::env::split_paths(&opts.path).collect(),
                trust_task_paths: opts.trust_task_paths,
                git_worktree: None,
                etc_dir: dir.join("etc"),
                cwd: work.clone(),
                home: home.clone(),
                hidden: opts.hidden.clone(),
            },
        )),
        Err(why) => {
            let _ = tokio::fs::remove_dir_all(&dir).await;
            return Ok(refused(adapter.name(), why.clone(), started));
        }
    };
    let ctx = RunContext {
        prompt: TEST_PROMPT.into(),
        kind: RunKind::Start,
        resume_session: None,
        config,
        worktree: work.clone(),
        home: home.clone(),
        tmp: tmp.clone(),
        env,
    };
    let report = run_test(adapter.as_ref(), &ctx, &id, confinement).await;
    let _ = tokio::fs::remove_dir_all(&dir).await;
    let (result, message, retry_at) = report;
    Ok(TestReport {
        name: adapter.name(),
        result,
        message,
        retry_at,
        duration_ms: started.elapsed().as_millis() as u64,
    })
}

/// A test that could not start for a reason of the server's (no sandbox, no proxy).
fn refused(name: &'static str, why: String, started: Instant) -> TestReport {
    TestReport {
        name,
        result: TestResult::Failed,
        message: why,
        retry_at: None,
        duration_ms: started.elapsed().as_millis() as u64,
    }
}

async fn run_test(
    adapter: &dyn Adapter,
    ctx: &RunContext,
    id: &str,
    confinement: Option<(&Bubblewrap, Confinement)>,
) -> (TestResult, String, Option<DateTime<Utc>>) {
    let spec = match adapter.command(ctx) {
        Ok(spec) => spec,
        Err(e) => return (TestResult::Failed, e.to_string(), None),
    };
    if let Err(e) = adapter.prepare_home(ctx) {
        return (TestResult::Failed, format!("could not prepare the agent's home: {e}"), None);
    }
    let mut env = ctx.env.clone();
    env.extend(spec.env.clone());
    let marker = format!("agent-test-{id}");
    env.insert(process::RUN_MARKER.to_owned(), marker.clone());
    let path = env.get("PATH").cloned().unwrap_or_default();
    let wrapped = match &confinement {
        Some((bwrap, conf)) => bwrap.wrap(&spec, conf, &path),
        None => Ok(spec.clone()),
    };
    let mut child = match wrapped.and_then(|wrapped| process::spawn(&wrapped, &env, &ctx.worktree)) {
        Ok(child) => child,
        Err(e) => return (TestResult::NotFound, process::spawn_error(&spec.program, &e), None),
    };
    let pgid = child.id().map(|p| p as i32);
    let (tx, mut rx) = tokio::sync::mpsc::channel::<lines::LineChunk>(16);
    let mut readers = tokio::task::JoinSet::new();
    // Lines as they come (no pacing: a check prints little), up to 1 MiB each.
    let (max, unpaced) = (1024 * 1024, std::time::Duration::ZERO);
    if let Some(out) = child.stdout.take() {
        readers.spawn(lines::read_lines(out, Stream::Stdout, max, unpaced, tx.clone()));
    }
    if let Some(err) = child.stderr.take() {
        readers.spawn(lines::read_lines(err, Stream::Stderr, max, unpaced, tx.clone()));
    }
    drop(tx);
    let mut parser = adapter.parser();
    let mut answer = String::new();
    let work = async {
        while let Some(chunk) = rx.recv().await {
            for line in chunk.lines {
                for entry in parser.parse(line.stream, &line.text, line.partial) {
                    if entry.kind == crate::model::LogKind::Assistant {
                        answer = entry.text;
                    }
                }
            }
        }
        child.wait().await.ok()
    };
    let status = tokio::time::timeout(TEST_TIMEOUT, work).await;
    process::sweep(&marker, pgid).await;
    readers.abort_all();
    let Ok(status) = status else {
        return (TestResult::Unreachable, format!("no answer within {} s", TEST_TIMEOUT.as_secs()), None);
    };
    let exit = ExitInfo {
        code: status.and_then(|s| s.code()),
        signal: status.and_then(|s| std::os::unix::process::ExitStatusExt::signal(&s)),
        stopped: false,
    };
    verdict(parser.as_ref(), exit, answer)
}

fn verdict(
    parser: &dyn LineParser,
    exit: ExitInfo,
    answer: String,
) -> (TestResult, String, Option<DateTime<Utc>>) {
    let outcome = parser.outcome(exit);
    let result = match outcome.status {
        RunStatus::Succeeded => TestResult::Ok,
        RunStatus::AuthRequired => TestResult::AuthRequired,
        RunStatus::QuotaExceeded | RunStatus::Billing => TestResult::Quota,
        RunStatus::ServerError => TestResult::Unreachable,
        _ => TestResult::Failed,
    };
    let message = match (result, outcome.error) {
        (TestResult::Ok, _) => answer,
        (_, Some(error)) => error,
        (_, None) => outcome.status.to_string(),
    };
    (result, message, outcome.retry_at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn previews_never_show_a_secret() {
        assert_eq!(preview("sk-ant-api03-TEST-abcdefghijklmnopqrstuvwxyz-0123"), "sk-ant-api03-…0123");
        assert_eq!(preview("AIzaTESTabcdefghijklmnop9876"), "AIza…9876");
        assert_eq!(preview("short"), "…");
        assert_eq!(preview(""), "");
    }

    #[test]
    fn programs_are_found_on_the_path_or_refused_clearly() {
        use crate::runner::process::find_program;
        let dir = tempfile::tempdir().expect("tmp");
        let bin = dir.path().join("bin");
        std::fs::create_dir_all(&bin).expect("mkdir");
        std::fs::write(bin.join("tool"), "#!/bin/sh\n").expect("write");
        std::fs::write(bin.join("plain"), "").expect("write");
        std::process::Command::new("chmod").arg("+x").arg(bin.join("tool")).status().expect("chmod");
        let path = format!("/nonexistent:{}", bin.display());
        assert_eq!(find_program("tool", &path), Ok(bin.join("tool")));
        assert!(find_program("plain", &path).expect_err("not executable").contains("not found"));
        let direct = bin.join("plain").display().to_string();
        assert!(find_program(&direct, &path).expect_err("refused").contains("not an executable"));
    }
}

//! The `taskyard` command line: projects, tasks and runs driven from a terminal, on the same
//! core the server uses. Errors are printed as one clear sentence with a non-zero exit.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, Result, bail};
use clap::{Parser, Subcommand};
use taskyard_core::credentials::Credentials;
use taskyard_core::events::Bus;
use taskyard_core::model::{LogEntry, LogKind, NewTask, ProjectId, RunId, RunStatus, TaskId};
use taskyard_core::projects;
use taskyard_core::runner::{Runner, RunnerConfig};
use taskyard_core::store::{AnyStore, Store};

use crate::config::{Database, default_data_dir};

/// Taskyard: hand coding tasks to agents, each in its own git worktree and branch.
#[derive(Debug, Parser)]
#[command(name = "taskyard", version, about)]
pub struct Cli {
    /// Where the database, worktrees and agent homes live.
    #[arg(long, env = "TASKYARD_DATA_DIR", global = true)]
    pub data_dir: Option<PathBuf>,
    /// `postgres://…` for a Postgres database; the default is SQLite in the data directory.
    #[arg(long, env = "TASKYARD_DATABASE_URL", global = true, hide_env_values = true)]
    pub database_url: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the web UI and the API on 127.0.0.1 (local mode: one user, a per-launch token).
    Serve(ServeArgs),
    /// Print the API's OpenAPI document.
    Openapi,
    /// Re-encrypt every stored credential with the first key of TASKYARD_FERNET_KEYS (after
    /// adding a new key in front; the old one can then be removed).
    ReencryptCredentials,
    /// Show each agent CLI: found or not, version, the credential a run would use.
    Agents {
        /// Also run a tiny prompt with this agent and report ok / auth required / quota /
        /// unreachable.
        #[arg(long, value_name = "AGENT")]
        test: Option<String>,
    },
    /// Manage projects (git repositories).
    #[command(subcommand)]
    Project(ProjectCommand),
    /// Manage tasks.
    #[command(subcommand)]
    Task(TaskCommand),
    /// Start a task and print its log until it ends (Ctrl-C stops the run).
    Run {
        /// The task's id.
        task: TaskId,
    },
    /// Retry a run that waits for credentials or a usage limit now, and print its log.
    Retry {
        /// The run's id.
        run: RunId,
    },
    /// Send a follow-up to a task: a new run in the same worktree.
    FollowUp {
        /// The task's id.
        task: TaskId,
        /// The message.
        message: String,
    },
    /// Print a run's log.
    Logs {
        /// The run's id.
        run: RunId,
        /// Only entries after this seq.
        #[arg(long, default_value_t = 0)]
        after: i64,
    },
    /// Show what a run's branch changed against its base.
    Diff {
        /// The run's id.
        run: RunId,
        /// Only the list of files.
        #[arg(long)]
        stat: bool,
    },
    /// Merge a run's branch into its base branch.
    Merge {
        /// The run's id.
        run: RunId,
    },
}

/// How to serve.
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Port; 0 picks a free one.
    #[arg(long, env = "TASKYARD_PORT", default_value_t = 7777)]
    pub port: u16,
    /// `local`: one user on 127.0.0.1 with a per-launch token. `team`: user accounts.
    #[arg(long, env = "TASKYARD_AUTH", value_enum, default_value_t = AuthArg::Local)]
    pub auth: AuthArg,
    /// Team mode: the address to listen on (e.g. 0.0.0.0 in a container).
    #[arg(long, env = "TASKYARD_BIND", default_value = "127.0.0.1")]
    pub bind: std::net::IpAddr,
    /// Team mode: a file holding the access-token signing key (at least 32 random bytes);
    /// or set TASKYARD_JWT_SECRET.
    #[arg(long, env = "TASKYARD_JWT_SECRET_FILE")]
    pub jwt_secret_file: Option<PathBuf>,
    /// Team mode: minutes an access token lives.
    #[arg(long, env = "TASKYARD_ACCESS_TOKEN_MINUTES", default_value_t = 15)]
    pub access_token_minutes: u64,
    /// Team mode: mark cookies Secure (serve behind https).
    #[arg(long, env = "TASKYARD_SECURE_COOKIES")]
    pub secure_cookies: bool,
    /// Team mode: take client addresses from X-Forwarded-For (only behind a trusted proxy).
    #[arg(long, env = "TASKYARD_TRUST_FORWARDED_FOR")]
    pub trust_forwarded_for: bool,
    /// Team mode: the address people open, e.g. `https://taskyard.example.com`; requests
    /// naming another host are refused (421). Unset: only the bind address and localhost.
    #[arg(long, env = "TASKYARD_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Open connections served at once; beyond them a connection is answered 503 and closed.
    #[arg(long, env = "TASKYARD_MAX_CONNECTIONS", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_connections: u32,
    /// Seconds a client has to send a request's head (line and headers).
    #[arg(long, env = "TASKYARD_HEADER_TIMEOUT_SECONDS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub header_timeout_seconds: u64,
    /// Seconds a kept-alive connection may stay silent between requests.
    #[arg(long, env = "TASKYARD_KEEP_ALIVE_SECONDS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub keep_alive_seconds: u64,
    /// Seconds a client has to send a request's body.
    #[arg(long, env = "TASKYARD_BODY_TIMEOUT_SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub body_timeout_seconds: u64,
    /// Open WebSockets (board and log sockets) in all; beyond them 503.
    #[arg(long, env = "TASKYARD_MAX_WEBSOCKETS", default_value_t = 512, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_websockets: u32,
    /// Open WebSockets of one user; beyond them 503.
    #[arg(long, env = "TASKYARD_MAX_WEBSOCKETS_PER_USER", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub max_websockets_per_user: u32,
    /// Team mode: password hashes (argon2, 19 MiB each) computed at once; sign-ins beyond
    /// them wait up to 5 s, then get 503.
    #[arg(long, env = "TASKYARD_PASSWORD_HASHES", default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub password_hashes: u32,
    /// Runs this server executes at once (admins can change it at run time).
    #[arg(long, env = "TASKYARD_MAX_CONCURRENT_RUNS", default_value_t = 4)]
    pub max_concurrent_runs: usize,
    /// Seconds a server's claim on a run holds without renewal: after a crash, another
    /// server (or this one after a restart elsewhere) takes its runs over this late.
    #[arg(long, env = "TASKYARD_RUN_LEASE_SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(3..=3600))]
    pub run_lease_seconds: u64,
    /// Whether agent runs are confined in a bubblewrap sandbox (their worktree, home and
    /// tmp, the system read-only, nothing else): `required` (runs are refused where no
    /// sandbox can be made), `if-available` (run unconfined there: an explicit choice), or
    /// `off`. Default: `required` in team mode, `off` in local mode.
    #[arg(long, env = "TASKYARD_SANDBOX", value_enum)]
    pub sandbox: Option<SandboxArg>,
}

/// Sandbox policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SandboxArg {
    /// Every run confined; none runs where that is impossible.
    Required,
    /// Confined where possible, else unconfined (accepted by the admin).
    IfAvailable,
    /// Not confined.
    Off,
}

impl From<SandboxArg> for taskyard_core::sandbox::Policy {
    fn from(a: SandboxArg) -> Self {
        match a {
            SandboxArg::Required => Self::Required,
            SandboxArg::IfAvailable => Self::IfAvailable,
            SandboxArg::Off => Self::Off,
        }
    }
}

/// Authentication modes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AuthArg {
    /// One user, loopback only.
    Local,
    /// Accounts, roles and invites.
    Team,
}

impl ServeArgs {
    /// The server mode, with the signing key read and checked (team mode refuses a weak key).
    pub fn mode(&self) -> Result<crate::http::Mode> {
        match self.auth {
            AuthArg::Local => {
                if !self.bind.is_loopback() {
                    bail!("local mode only listens on 127.0.0.1; use --auth team to serve other machines");
                }
                Ok(crate::http::Mode::Local)
            }
            AuthArg::Team => {
                let secret = match (&self.jwt_secret_file, std::env::var("TASKYARD_JWT_SECRET").ok()) {
                    (Some(file), _) => std::fs::read_to_string(file)
                        .with_context(|| format!("cannot read the signing key from {}", file.display()))?
                        .trim()
                        .to_owned(),
                    (None, Some(secret)) => secret.trim().to_owned(),
                    (None, None) => bail!(
                        "team mode needs an access-token signing key: set TASKYARD_JWT_SECRET or \
                         --jwt-secret-file (e.g. `openssl rand -hex 32`)"
                    ),
                };
                let jwt =
                    taskyard_core::auth::JwtKeys::new(secret.as_bytes(), self.access_token_minutes * 60)?;
                let mut auth = crate::http::TeamAuth::new(jwt, self.secure_cookies, self.trust_forwarded_for)
                    .with_hosts(self.hosts()?);
                auth.passwords = crate::http::passwords::Passwords::new(
                    self.password_hashes as usize,
                    std::time::Duration::from_secs(5),
                );
                Ok(crate::http::Mode::Team { bind: self.bind, auth: Arc::new(auth) })
            }
        }
    }
}

impl ServeArgs {
    /// The names a team server answers to.
    fn hosts(&self) -> Result<crate::http::Hosts> {
        match self.public_url.as_deref().map(str::trim).filter(|u| !u.is_empty()) {
            Some(url) => crate::http::Hosts::public_url(url).map_err(anyhow::Error::msg),
            None => {
                tracing::warn!(
                    bind = %self.bind,
                    "no --public-url (TASKYARD_PUBLIC_URL): only requests addressed to localhost or the bind address are answered"
                );
                Ok(crate::http::Hosts::bind(self.bind))
            }
        }
    }

    /// The listener's limits.
    pub fn limits(&self) -> crate::http::Limits {
        use std::time::Duration;
        crate::http::Limits {
            max_connections: self.max_connections as usize,
            header_timeout: Duration::from_secs(self.header_timeout_seconds),
            keep_alive_idle: Duration::from_secs(self.keep_alive_seconds),
            body_timeout: Duration::from_secs(self.body_timeout_seconds),
            max_websockets: self.max_websockets as usize,
            max_websockets_per_user: self.max_websockets_per_user as usize,
        }
    }
}

/// Project commands.
#[derive(Debug, Subcommand)]
pub enum ProjectCommand {
    /// Add a local git repository.
    Add {
        /// The repository's root folder.
        path: PathBuf,
        /// Display name (default: the folder name).
        #[arg(long)]
        name: Option<String>,
    },
    /// Clone an https:// repository into the data directory and add it.
    Clone {
        /// The repository URL.
        url: String,
        /// Read an access token for private repositories from this environment variable.
        #[arg(long, value_name = "VAR")]
        token_env: Option<String>,
        /// Display name (default: the repository name).
        #[arg(long)]
        name: Option<String>,
    },
    /// List projects.
    List,
}

/// Task commands.
#[derive(Debug, Subcommand)]
pub enum TaskCommand {
    /// Add a task. With `--agent claude|codex|gemini` the agent works on the description;
    /// with `--command` any command line runs (`{prompt}` is replaced by the description).
    Add {
        /// The project's id.
        #[arg(long)]
        project: ProjectId,
        /// Short title.
        #[arg(long)]
        title: String,
        /// What to do (the prompt).
        #[arg(long, default_value = "")]
        description: String,
        /// The agent: claude, codex, gemini or custom.
        #[arg(long, default_value = "custom")]
        agent: String,
        /// The agent's settings as JSON, e.g. '{"model": "sonnet", "max_turns": 20}'.
        #[arg(long, value_name = "JSON")]
        settings: Option<String>,
        /// For `custom`: the command line, run by `sh -c`.
        #[arg(long)]
        command: Option<String>,
    },
    /// List a project's tasks.
    List {
        /// The project's id.
        #[arg(long)]
        project: ProjectId,
    },
}

/// Runs the command line; prints errors and returns the exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let default_level = if matches!(cli.command, Command::Serve(_)) { "info" } else { "warn" };
    let filter =
        tracing_subscriber::EnvFilter::try_from_env("TASKYARD_LOG").unwrap_or_else(|_| default_level.into());
    let builder =
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(crate::logging::RedactingStderr);
    if std::env::var("TASKYARD_LOG_FORMAT").is_ok_and(|f| f == "json") {
        builder.json().init();
    } else {
        builder.init();
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<ExitCode> {
    if let Command::Openapi = cli.command {
        println!("{}", crate::http::openapi_json());
        return Ok(ExitCode::SUCCESS);
    }
    let data_dir = cli.data_dir.clone().unwrap_or_else(default_data_dir);
    std::fs::create_dir_all(&data_dir).with_context(|| format!("cannot create {}", data_dir.display()))?;
    let store = match Database::from_url(cli.database_url.as_deref(), &data_dir)? {
        Database::Sqlite(path) => {
            AnyStore::sqlite(&path).await.with_context(|| format!("opening {}", path.display()))?
        }
        Database::Postgres(url) => AnyStore::connect(&url).await.context("connecting to Postgres")?,
    };
    if let Command::Serve(args) = cli.command {
        return serve(store, data_dir, args).await;
    }
    if let Command::ReencryptCredentials = cli.command {
        return reencrypt(&store, &data_dir).await;
    }
    let credentials = crate::http::open_credentials(&store, &data_dir).await?;
    if let Command::Agents { test } = &cli.command {
        return agents(&store, &credentials, &data_dir, test.as_deref()).await;
    }
    dispatch(store, credentials, &data_dir, cli.command).await
}

async fn serve(store: AnyStore, data_dir: PathBuf, args: ServeArgs) -> Result<ExitCode> {
    let backend = store.backend();
    let mode = args.mode()?;
    let queue = taskyard_core::runner::queue::QueueConfig {
        max_concurrent: args.max_concurrent_runs,
        lease_ttl: std::time::Duration::from_secs(args.run_lease_seconds),
        ..Default::default()
    };
    let limits = args.limits();
    let options = crate::http::ServeOptions {
        port: args.port,
        data_dir: data_dir.clone(),
        store,
        mode,
        queue,
        sandbox: args.sandbox.map(Into::into),
        limits,
    };
    let running = crate::http::start(options).await?;
    tracing::info!(addr = %running.addr, database = backend, data_dir = %data_dir.display(), "listening");
    println!("Taskyard is running. Open {}", running.url);
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("cannot listen for SIGTERM")?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("shutting down");
    running.stop().await?;
    Ok(ExitCode::SUCCESS)
}

async fn dispatch<S: Store>(
    store: S,
    credentials: Arc<Credentials>,
    data_dir: &Path,
    command: Command,
) -> Result<ExitCode> {
    let mut config = RunnerConfig::new(data_dir);
    config.credentials = Some(credentials);
    // A command executes what it enqueues itself and leaves everything else (other queued
    // runs, recoveries) to the server.
    config.queue.own_runs_only = true;
    let runner = Runner::new(store.clone(), Arc::new(Bus::new()), config);
    match command {
        Command::Serve(_) | Command::Openapi | Command::Agents { .. } | Command::ReencryptCredentials => {
            unreachable!("handled before the store is opened")
        }
        Command::Project(ProjectCommand::Add { path, name }) => {
            let path = std::path::absolute(&path).unwrap_or(path);
            let project = projects::add_local(&store, &path, name, None).await?;
            println!("{}  {}  {} ({})", project.id, project.name, project.repo_path, project.default_branch);
        }
        Command::Project(ProjectCommand::Clone { url, token_env, name }) => {
            let token = match token_env {
                Some(var) => Some(std::env::var(&var).with_context(|| format!("${var} is not set"))?),
                None => None,
            };
            let dest = projects::clone_destination(data_dir, &url);
            // The command line is the machine's own user: no address checks, as in local mode.
            let policy = taskyard_core::outbound::Policy::open();
            let target = projects::vet_remote(&url, &policy).await?;
            let project = projects::clone_remote(&store, target, dest, token, name, None, policy, |p| {
                if p.total_objects > 0 {
                    eprint!(
                        "\rreceiving objects: {}/{} ({} KiB)",
                        p.received_objects,
                        p.total_objects,
                        p.received_bytes / 1024
                    );
                }
                true
            })
            .await?;
            eprintln!();
            println!("{}  {}  {} ({})", project.id, project.name, project.repo_path, project.default_branch);
        }
        Command::Project(ProjectCommand::List) => {
            for p in store.list_projects(taskyard_core::model::Scope::All).await? {
                println!("{}  {}  {} ({})", p.id, p.name, p.repo_path, p.default_branch);
            }
        }
        Command::Task(TaskCommand::Add { project, title, description, agent, settings, command }) => {
            let mut config: serde_json::Value = match settings {
                Some(json) => serde_json::from_str(&json).context("--settings is not JSON")?,
                None => serde_json::json!({}),
            };
            if let Some(command) = command {
                config["command"] = serde_json::json!(command);
            }
            let adapter = taskyard_core::agent::adapter(&agent)?;
            adapter.validate(&config)?;
            let task = store
                .create_task(NewTask {
                    project_id: project,
                    title,
                    description,
                    agent: adapter.name().to_owned(),
                    agent_config: config.to_string(),
                })
                .await?;
            println!("{}  {}  [{}]", task.id, task.title, task.status);
        }
        Command::Task(TaskCommand::List { project }) => {
            for t in store.list_tasks(project).await? {
                println!("{}  {:<12} {}", t.id, t.status.as_str(), t.title);
            }
        }
        Command::Run { task } => {
            let run = runner.start(task).await?;
            return follow_to_end(&runner, run.id).await;
        }
        Command::FollowUp { task, message } => {
            let run = runner.follow_up(task, message).await?;
            return follow_to_end(&runner, run.id).await;
        }
        Command::Retry { run } => {
            let run = runner.retry_now(run).await?;
            return follow_to_end(&runner, run.id).await;
        }
        Command::Logs { run, after } => {
            let mut last = after;
            loop {
                let page = store.read_logs(run, last, 5_000).await?;
                let Some(tail) = page.last() else { break };
                last = tail.seq;
                page.iter().for_each(print_entry);
            }
            if last == after && store.get_run(run).await.is_err() {
                bail!("run {run} not found");
            }
        }
        Command::Merge { run } => {
            let merged = runner.merge(run).await?;
            println!("{}", serde_json::to_string(&merged)?);
        }
        Command::Diff { run, stat } => {
            let diff = runner.diff(run).await?;
            for f in &diff.files {
                if stat {
                    let status =
                        serde_json::to_value(f.status).ok().and_then(|v| v.as_str().map(str::to_owned));
                    println!(
                        "{:<10} +{:<5} -{:<5} {}",
                        status.unwrap_or_default(),
                        f.insertions,
                        f.deletions,
                        f.path
                    );
                } else {
                    print!("{}", f.patch);
                }
            }
            if stat {
                println!("{} files, +{} -{}", diff.files.len(), diff.insertions, diff.deletions);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn reencrypt(store: &AnyStore, data_dir: &Path) -> Result<ExitCode> {
    let credentials = crate::http::open_credentials(store, data_dir).await?;
    let vault = credentials.vault();
    let (mut done, mut unreadable) = (0, 0);
    for c in store.all_credentials().await? {
        match vault.decrypt(&c.value) {
            Ok(value) => {
                store.reencrypt_credential(c.id, &vault.encrypt(value.expose())).await?;
                done += 1;
            }
            Err(_) => {
                eprintln!(
                    "{} ({} tier) cannot be decrypted with the configured keys: set it again",
                    c.key,
                    c.tier.as_str()
                );
                unreadable += 1;
            }
        }
    }
    println!("re-encrypted {done} credential(s) with the first key; {unreadable} unreadable");
    Ok(if unreadable == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

async fn agents(
    store: &AnyStore,
    credentials: &Credentials,
    data_dir: &Path,
    test: Option<&str>,
) -> Result<ExitCode> {
    use taskyard_core::agent::status;
    let resolution = credentials.resolve(store, None, None).await?;
    let opts = status::StatusOptions::for_runner(&RunnerConfig::new(data_dir)).with_credentials(&resolution);
    for agent in status::list(&opts).await {
        match &agent.cli {
            None => println!("{:<8} {:<14} runs any command line", agent.name, agent.display_name),
            Some(cli) => {
                let found = match (&cli.path, &cli.version) {
                    (Some(path), Some(version)) => format!("{version} at {path}"),
                    (Some(path), None) => format!("found at {path}"),
                    _ => cli
                        .problem
                        .clone()
                        .unwrap_or_else(|| format!("not found (npm package {})", cli.package)),
                };
                let credential = match &cli.credential {
                    Some(c) => format!("{} {} from {}", c.variable, c.preview, c.source),
                    None => format!("no credential (set one of {})", cli.credential_variables.join(", ")),
                };
                println!("{:<8} {:<14} {found}; {credential}", agent.name, agent.display_name);
            }
        }
    }
    if let Some(name) = test {
        // As a run would: the agent gets placeholders, this proxy the real credentials.
        let proxy = taskyard_core::proxy::CredentialProxy::start(Default::default()).await;
        let opts = status::StatusOptions { proxy: proxy.map(Some).map_err(|e| e.to_string()), ..opts };
        let report = status::test(name, &opts).await?;
        println!(
            "test {name}: {} — {} ({} ms)",
            serde_json::to_string(&report.result)?.trim_matches('"'),
            report.message,
            report.duration_ms
        );
        return Ok(if report.result == status::TestResult::Ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        });
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints a run's log as it grows until the run ends or waits to be retried; Ctrl-C asks the
/// run to stop and keeps printing until it has ended. The log is read from the store, so it
/// follows the run wherever it executes (this process, or a server on the same data).
async fn follow_to_end<S: Store>(runner: &Runner<S>, run: RunId) -> Result<ExitCode> {
    eprintln!("run {run} queued; Ctrl-C stops it");
    let store = runner.store();
    let mut ctrl_c = std::pin::pin!(tokio::signal::ctrl_c());
    let (mut stopping, mut last) = (false, 0);
    let run = loop {
        loop {
            let page = store.read_logs(run, last, 5_000).await?;
            let Some(tail) = page.last() else { break };
            last = tail.seq;
            page.iter().for_each(print_entry);
        }
        let now = store.get_run(run).await?;
        if !matches!(now.status, RunStatus::Queued | RunStatus::Running) {
            break now;
        }
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_millis(200)) => {}
            _ = &mut ctrl_c, if !stopping => {
                stopping = true;
                eprintln!("stopping…");
                runner.stop(run).await?;
            }
        }
    };
    let why = run.error.as_deref().map(|e| format!(" ({e})")).unwrap_or_default();
    eprintln!("run {}: {}{why}", run.id, run.status);
    if run.status.is_waiting() && !run.status.is_terminal() {
        let at = run.retry_at.map(|t| t.to_rfc3339()).unwrap_or_else(|| "later".into());
        eprintln!(
            "it will be retried at {at} by a running `taskyard serve` (or `taskyard retry {}`)",
            run.id
        );
    }
    Ok(if run.status == RunStatus::Succeeded { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn print_entry(e: &LogEntry) {
    match e.kind {
        LogKind::Stdout => println!("{}", e.text),
        LogKind::Stderr => eprintln!("{}", e.text),
        kind => eprintln!("[{kind}] {}", e.text),
    }
}

//! The `taskyard` command line: projects, tasks and runs driven from a terminal, on the same
//! core the server uses. Errors are printed as one clear sentence with a non-zero exit.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, Result, bail};
use clap::{CommandFactory as _, Parser, Subcommand};
use taskyard_core::credentials::Credentials;
use taskyard_core::events::Bus;
use taskyard_core::model::{LogEntry, LogKind, NewTask, ProjectId, RunId, RunStatus, TaskId};
use taskyard_core::projects;
use taskyard_core::runner::{Runner, RunnerConfig};
use taskyard_core::store::{AnyStore, Store};

use crate::config::{Database, default_data_dir};
use crate::settings::Layers;

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
    /// A file of `NAME=value` lines (the environment's names and aliases) below the
    /// environment and above the defaults.
    #[arg(long, env = "TASKYARD_CONFIG", global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Seconds to keep trying a database that does not answer yet (e.g. a Postgres container
    /// still starting) before giving up.
    #[arg(long, env = "TASKYARD_DATABASE_WAIT_SECONDS", global = true, default_value_t = 60, value_parser = clap::value_parser!(u64).range(0..=3600))]
    pub database_wait_seconds: u64,
    /// The base branch of projects cloned from now on (API, command line, --clone-repos)
    /// when the repository has it; else the repository's own default branch.
    #[arg(long, env = "TASKYARD_DEFAULT_BRANCH", value_name = "BRANCH", global = true)]
    pub default_branch: Option<String>,
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
    /// Apply the database's migrations and report them, without serving.
    Migrate,
    /// Manage team accounts from a terminal (e.g. inside a container).
    #[command(subcommand)]
    Admin(AdminCommand),
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
    #[arg(long, env = "TASKYARD_ACCESS_TOKEN_MINUTES", default_value_t = 15, value_parser = clap::value_parser!(u64).range(1..=1440))]
    pub access_token_minutes: u64,
    /// Team mode: days a session (its refresh token) lasts without use.
    #[arg(long, env = "TASKYARD_REFRESH_TOKEN_DAYS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=365))]
    pub refresh_token_days: u64,
    /// Team mode: mark cookies Secure on every answer (they are anyway where the public URL
    /// is https or a trusted proxy says the request came over https).
    #[arg(long, env = "TASKYARD_SECURE_COOKIES")]
    pub secure_cookies: bool,
    /// Team mode: the reverse proxies in front of this server, comma-separated addresses,
    /// CIDR ranges or host names (e.g. `127.0.0.1`, `10.0.0.0/8`, `proxy`): only requests
    /// from them may name the client (X-Forwarded-For) and https (X-Forwarded-Proto).
    #[arg(long, env = "TASKYARD_TRUSTED_PROXIES", value_name = "LIST")]
    pub trusted_proxies: Option<String>,
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
    /// Seconds between pings on an open WebSocket, so proxies that close silent connections
    /// (nginx: after 60 s) keep board and log sockets open.
    #[arg(long, env = "TASKYARD_WEBSOCKET_PING_SECONDS", default_value_t = 25, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub websocket_ping_seconds: u64,
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
    /// The model Claude Code runs use when their task names none (e.g. `sonnet`).
    #[arg(long, env = "TASKYARD_DEFAULT_CLAUDE_MODEL", value_name = "MODEL")]
    pub default_claude_model: Option<String>,
    /// The shell terminals run (a full path). Default: `$SHELL`, else bash, else sh.
    #[arg(long, env = "TASKYARD_TERMINAL_SHELL", value_name = "PROGRAM")]
    pub terminal_shell: Option<String>,
    /// Comma-separated repository URLs cloned at start-up into projects (once: a repository
    /// already cloned is left alone), with the global GITHUB_TOKEN credential when set.
    #[arg(long, env = "TASKYARD_CLONE_REPOS", value_name = "URLS")]
    pub clone_repos: Option<String>,
    /// Team mode: the e-mail of the user who owns the projects of --clone-repos (default: the
    /// first admin).
    #[arg(long, env = "TASKYARD_CLONE_REPOS_OWNER", value_name = "EMAIL")]
    pub clone_repos_owner: Option<String>,
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
    /// The server mode, with the signing key read and checked: team mode refuses a missing,
    /// short or example key, naming where it came from.
    pub fn mode(&self, config: &Config) -> Result<crate::http::Mode> {
        match self.auth {
            AuthArg::Local => {
                if !self.bind.is_loopback() {
                    bail!("local mode only listens on 127.0.0.1; use --auth team to serve other machines");
                }
                Ok(crate::http::Mode::Local)
            }
            AuthArg::Team => {
                let (secret, source) = match (&self.jwt_secret_file, config.layers.get("TASKYARD_JWT_SECRET"))
                {
                    (Some(file), _) => {
                        let text = std::fs::read_to_string(file).with_context(|| {
                            format!("cannot read the signing key from {} (--jwt-secret-file)", file.display())
                        })?;
                        (text.trim().to_owned(), format!("the signing key file {}", file.display()))
                    }
                    (None, Some(value)) => (value.text, value.source.to_string()),
                    (None, None) => {
                        return Err(UsageError(
                            "team mode needs an access-token signing key: set TASKYARD_JWT_SECRET (or \
                             JWT_SECRET_KEY) or --jwt-secret-file to at least 32 random bytes, e.g. \
                             `openssl rand -hex 32`"
                                .into(),
                        )
                        .into());
                    }
                };
                crate::settings::check_secret(&secret, &source).map_err(UsageError)?;
                let jwt =
                    taskyard_core::auth::JwtKeys::new(secret.as_bytes(), self.access_token_minutes * 60)
                        .map_err(|e| UsageError(format!("{source}: {e}")))?;
                let mut auth = crate::http::TeamAuth::new(jwt).with_hosts(self.hosts()?);
                auth.secure_cookies = self.secure_cookies;
                if let Some(list) = &self.trusted_proxies {
                    let source =
                        config.source("trusted_proxies", "--trusted-proxies", "TASKYARD_TRUSTED_PROXIES");
                    let proxies = crate::http::TrustedProxies::parse(list)
                        .map_err(|e| UsageError(format!("{source}: {e}")))?;
                    auth.proxies = Arc::new(proxies);
                }
                auth.refresh_ttl = std::time::Duration::from_secs(self.refresh_token_days * 24 * 3600);
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
            websocket_ping: Duration::from_secs(self.websocket_ping_seconds),
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

/// Account commands. A password is read from the terminal without echo, or as one line from
/// standard input, or from the variable `--password-env` names; never from the command line.
#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Create an account (an admin created while nobody has registered closes the first-admin
    /// registration).
    CreateUser {
        /// Sign-in address.
        #[arg(long)]
        email: String,
        /// Display name.
        #[arg(long)]
        name: String,
        /// `admin` or `member`.
        #[arg(long, default_value = "member", value_parser = ["admin", "member"])]
        role: String,
        /// Read the password from this environment variable instead of standard input.
        #[arg(long, value_name = "VAR")]
        password_env: Option<String>,
    },
    /// Set an account's password and end its sessions.
    ResetPassword {
        /// Sign-in address.
        #[arg(long)]
        email: String,
        /// Read the password from this environment variable instead of standard input.
        #[arg(long, value_name = "VAR")]
        password_env: Option<String>,
    },
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

fn configured_keys(layers: &Layers) -> Option<crate::http::ConfiguredKeys> {
    layers.get("TASKYARD_FERNET_KEYS")
}

/// Runs the command line; prints errors and returns the exit code: 2 for a usage or
/// configuration error (named by the flag, variable or file line at fault), 1 for a failure.
pub fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().collect();
    // Variables that are not UTF-8 cannot be settings; they are left to whoever reads them.
    let env: Vec<(String, String)> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect();
    let (cli, layers, matches) = match parse(&args, env) {
        Ok(parsed) => parsed,
        Err(code) => return code,
    };
    let default_level = if matches!(cli.command, Command::Serve(_)) { "info" } else { "warn" };
    let log = layers.get("TASKYARD_LOG");
    let (filter, bad_filter) = match &log {
        Some(v) => match tracing_subscriber::EnvFilter::try_new(v.text.to_ascii_lowercase()) {
            Ok(f) => (f, None),
            Err(e) => (
                default_level.into(),
                Some(format!("{} is not a log filter ({e}); using {default_level}", v.source)),
            ),
        },
        None => (default_level.into(), None),
    };
    let builder =
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(crate::logging::RedactingStderr);
    if layers.get("TASKYARD_LOG_FORMAT").is_some_and(|f| f.text == "json") {
        builder.json().init();
    } else {
        builder.init();
    }
    if let Some(warning) = bad_filter {
        tracing::warn!("{warning}");
    }
    for warning in layers.warnings(&known_names(&Cli::command())) {
        tracing::warn!("{warning}");
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli, Config { layers, matches, default_branch: None })) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            if e.is::<UsageError>() { ExitCode::from(2) } else { ExitCode::FAILURE }
        }
    }
}

/// A configuration error: exit code 2, as clap's usage errors.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// The parsed command line with the layers below it, and what says where each value came from.
#[derive(Debug)]
pub struct Config {
    /// The environment and the config file.
    pub layers: Layers,
    matches: clap::ArgMatches,
    /// `--default-branch`, for the commands that clone.
    pub default_branch: Option<String>,
}

impl Config {
    /// Where the value of the argument `id` (with variable `env`) came from, as the operator
    /// wrote it: the flag, the variable, or the file's line.
    pub fn source(&self, id: &str, flag: &str, env: &str) -> String {
        let sub = self.matches.subcommand().map(|(_, m)| m);
        // Only where the argument is defined (clap panics on an unknown id).
        let source = [Some(&self.matches), sub]
            .into_iter()
            .flatten()
            .filter(|m| m.try_contains_id(id).is_ok())
            .find_map(|m| m.value_source(id));
        match source {
            Some(clap::parser::ValueSource::CommandLine) => flag.to_owned(),
            Some(clap::parser::ValueSource::EnvVariable) => env.to_owned(),
            _ => self.layers.get(env).map(|v| v.source.to_string()).unwrap_or_else(|| env.to_owned()),
        }
    }
}

/// Every Taskyard variable: the flags' and the others.
pub fn known_names(command: &clap::Command) -> Vec<String> {
    fn walk(command: &clap::Command, out: &mut Vec<String>) {
        for arg in command.get_arguments() {
            if let Some(env) = arg.get_env().and_then(|e| e.to_str()) {
                out.push(env.to_owned());
            }
        }
        command.get_subcommands().for_each(|s| walk(s, out));
    }
    let mut out: Vec<String> = crate::settings::OTHER_VARIABLES.iter().map(|s| (*s).to_owned()).collect();
    walk(command, &mut out);
    out.sort();
    out.dedup();
    out
}

/// Parses `args` over the layers: a flag's variable that is not set itself takes its alias's
/// or the file's value as the flag's default, so clap keeps flags > environment > the rest.
fn parse(args: &[OsString], env: Vec<(String, String)>) -> Result<(Cli, Layers, clap::ArgMatches), ExitCode> {
    use clap::{CommandFactory as _, FromArgMatches as _};
    let known = known_names(&Cli::command());
    let layers = Layers::load(args, env, &known).map_err(|e| {
        eprintln!("error: {e}");
        ExitCode::from(2)
    })?;
    let command = with_layers(Cli::command(), &layers);
    let matches = match command.clone().try_get_matches_from(args) {
        Ok(m) => m,
        // The unlayered command still names every flag's variable.
        Err(e) => return Err(clap_error(e, &Cli::command(), &layers, args)),
    };
    match Cli::from_arg_matches(&matches) {
        Ok(cli) => Ok((cli, layers, matches)),
        Err(e) => {
            let _ = e.print();
            Err(ExitCode::from(2))
        }
    }
}

fn with_layers(mut command: clap::Command, layers: &Layers) -> clap::Command {
    let args: Vec<(String, String)> = command
        .get_arguments()
        .filter_map(|a| Some((a.get_id().to_string(), a.get_env()?.to_str()?.to_owned())))
        .collect();
    for (id, env) in args {
        if layers.in_env(&env) {
            continue;
        }
        if layers.env_is_empty(&env) {
            // An empty variable (compose passes `NAME=` from `.env` as one) counts as unset.
            command = command.mut_arg(&id, |a| a.env(None::<&'static str>));
        }
        if let Some(value) = layers.get(&env) {
            // Lives as long as the process: the command line is parsed once.
            let text: &'static str = Box::leak(value.text.into_boxed_str());
            command = command.mut_arg(id, |a| a.default_value(text));
        }
    }
    let subs: Vec<String> = command.get_subcommands().map(|s| s.get_name().to_owned()).collect();
    for sub in subs {
        command = command.mut_subcommand(sub, |s| with_layers(s, layers));
    }
    command
}

/// Prints clap's error; an invalid value that came from a variable or the file is reported
/// by that name (never with the value of a hidden one).
fn clap_error(e: clap::Error, command: &clap::Command, layers: &Layers, args: &[OsString]) -> ExitCode {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if !matches!(e.kind(), ErrorKind::InvalidValue | ErrorKind::ValueValidation) {
        let _ = e.print();
        return ExitCode::from(e.exit_code().clamp(0, 255) as u8);
    }
    let Some(ContextValue::String(shown)) = e.get(ContextKind::InvalidArg) else {
        let _ = e.print();
        return ExitCode::from(2);
    };
    let long = shown.split_whitespace().next().unwrap_or_default().trim_start_matches("--").to_owned();
    let on_command_line = args
        .iter()
        .filter_map(|a| a.to_str())
        .any(|a| a.strip_prefix("--").is_some_and(|a| a == long || a.starts_with(&format!("{long}="))));
    let arg = find_arg(command, &long);
    let (Some((env, hidden)), false) = (arg, on_command_line) else {
        let _ = e.print();
        return ExitCode::from(2);
    };
    let source = if layers.in_env(&env) {
        env.clone()
    } else {
        layers.get(&env).map(|v| v.source.to_string()).unwrap_or(env.clone())
    };
    let value = match e.get(ContextKind::InvalidValue) {
        Some(ContextValue::String(v)) if !hidden => format!(" `{v}`"),
        _ => String::new(),
    };
    let why = std::error::Error::source(&e).map(|s| format!(": {s}")).unwrap_or_default();
    let valid = match e.get(ContextKind::ValidValue) {
        Some(ContextValue::Strings(v)) => format!(" (one of {})", v.join(", ")),
        _ => String::new(),
    };
    eprintln!("error: {source} has an invalid value{value} for --{long}{why}{valid}");
    ExitCode::from(2)
}

/// The variable of the flag `--long` and whether its values are hidden.
fn find_arg(command: &clap::Command, long: &str) -> Option<(String, bool)> {
    command
        .get_arguments()
        .find(|a| a.get_long() == Some(long))
        .and_then(|a| Some((a.get_env()?.to_str()?.to_owned(), a.is_hide_env_values_set())))
        .or_else(|| command.get_subcommands().find_map(|s| find_arg(s, long)))
}

async fn run(cli: Cli, config: Config) -> Result<ExitCode> {
    if let Command::Openapi = cli.command {
        println!("{}", crate::http::openapi_json());
        return Ok(ExitCode::SUCCESS);
    }
    let data_dir = cli.data_dir.clone().unwrap_or_else(default_data_dir);
    let url_source = config.source("database_url", "--database-url", "TASKYARD_DATABASE_URL");
    let database = Database::from_url(cli.database_url.as_deref(), &data_dir)
        .map_err(|e| UsageError(format!("{url_source}: {e:#}")))?;
    std::fs::create_dir_all(&data_dir).with_context(|| format!("cannot create {}", data_dir.display()))?;
    let wait = std::time::Duration::from_secs(cli.database_wait_seconds);
    let keys = configured_keys(&config.layers);
    let unmigrated = open_store(&database, wait, &url_source).await?;
    // A wrong credential key is refused with the data as it was: before any migration.
    if !matches!(cli.command, Command::Admin(_)) {
        crate::http::check_credential_keys(&unmigrated, &data_dir, keys.as_ref()).await?;
    }
    let store = unmigrated
        .migrate()
        .await
        .with_context(|| format!("cannot migrate the database {} ({url_source})", database.describe()))?;
    match cli.command {
        Command::Serve(args) => {
            let config = Config { default_branch: cli.default_branch.clone(), ..config };
            serve(store, data_dir, args, &config).await
        }
        Command::ReencryptCredentials => reencrypt(&store, &data_dir, keys.as_ref()).await,
        Command::Migrate => migrate(&store),
        Command::Admin(command) => admin(&store, command).await,
        command => {
            let credentials = crate::http::open_credentials(&store, &data_dir, keys.as_ref()).await?;
            if let Command::Agents { test } = &command {
                return agents(&store, &credentials, &data_dir, test.as_deref()).await;
            }
            dispatch(store, credentials, &data_dir, cli.default_branch, command).await
        }
    }
}

/// Opens the database (migrations not applied yet), trying again with back-off while it does
/// not answer (a container still starting), up to `wait`; anything else (a bad URL, a wrong
/// password) fails at once.
async fn open_store(
    database: &Database,
    wait: std::time::Duration,
    source: &str,
) -> Result<taskyard_core::store::Unmigrated> {
    use std::time::{Duration, Instant};
    let deadline = Instant::now() + wait;
    let mut delay = Duration::from_millis(200);
    let mut attempts = 0u32;
    loop {
        attempts += 1;
        let left = deadline.saturating_duration_since(Instant::now()).max(Duration::from_secs(1));
        let attempt = async {
            match database {
                Database::Sqlite(path) => AnyStore::sqlite_unmigrated(path)
                    .await
                    .with_context(|| format!("cannot open {}", path.display())),
                Database::Postgres(url) => AnyStore::connect_unmigrated(url).await.map_err(|e| {
                    let text = crate::config::scrub_password(&e.to_string(), url);
                    match e {
                        _ if e.is_unreachable() => anyhow::anyhow!("{text}").context(Unreachable),
                        // The URL itself is wrong: a usage error.
                        taskyard_core::store::StoreError::Invalid(_) => UsageError(text).into(),
                        _ => anyhow::anyhow!("{text}"),
                    }
                }),
            }
        };
        let result = match tokio::time::timeout(left, attempt).await {
            Ok(r) => r,
            Err(_) => Err(anyhow::anyhow!("no connection within {} s", left.as_secs()).context(Unreachable)),
        };
        let error = match result {
            Ok(store) => return Ok(store),
            Err(e) => e,
        };
        let what = database.describe();
        if !error.is::<Unreachable>() {
            return Err(error.context(format!("cannot open the database {what} ({source})")));
        }
        let reason = error.root_cause().to_string();
        if Instant::now() + delay >= deadline {
            bail!(
                "the database {what} ({source}) did not answer within {} s ({attempts} attempt(s); last: {reason}): \
                 check that it runs and is reachable, or wait longer with --database-wait-seconds \
                 (TASKYARD_DATABASE_WAIT_SECONDS)",
                wait.as_secs()
            );
        }
        tracing::warn!(database = %what, error = %reason, retry_in_ms = delay.as_millis() as u64, "the database does not answer yet");
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

/// Marks a database error as "not reachable (yet)".
#[derive(Debug, thiserror::Error)]
#[error("the database is not reachable")]
struct Unreachable;

async fn serve(store: AnyStore, data_dir: PathBuf, args: ServeArgs, config: &Config) -> Result<ExitCode> {
    let backend = store.backend();
    let mode = args.mode(config)?;
    let queue = taskyard_core::runner::queue::QueueConfig {
        max_concurrent: args.max_concurrent_runs,
        lease_ttl: std::time::Duration::from_secs(args.run_lease_seconds),
        ..Default::default()
    };
    let limits = args.limits();
    let startup = crate::http::Startup {
        fernet_keys: configured_keys(&config.layers),
        clone_repos: match args.clone_repos.as_deref() {
            Some(list) => crate::http::startup::parse_clone_repos(list),
            None => Vec::new(),
        },
        clone_repos_owner: args.clone_repos_owner.clone(),
        default_branch: config.default_branch.clone(),
        default_claude_model: args.default_claude_model.clone(),
        agent_path: None,
        agent_programs: Default::default(),
        terminal_shell: args.terminal_shell.clone(),
    };
    let options = crate::http::ServeOptions {
        port: args.port,
        data_dir: data_dir.clone(),
        store,
        mode,
        queue,
        sandbox: args.sandbox.map(Into::into),
        limits,
        startup,
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
    default_branch: Option<String>,
    command: Command,
) -> Result<ExitCode> {
    let mut config = RunnerConfig::new(data_dir);
    config.default_branch = default_branch;
    config.credentials = Some(credentials);
    // A command executes what it enqueues itself and leaves everything else (other queued
    // runs, recoveries) to the server.
    config.queue.own_runs_only = true;
    let runner = Runner::new(store.clone(), Arc::new(Bus::new()), config);
    match command {
        Command::Serve(_)
        | Command::Openapi
        | Command::Agents { .. }
        | Command::ReencryptCredentials
        | Command::Migrate
        | Command::Admin(_) => {
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
            let default_branch = runner.config().default_branch.clone();
            // The command line is the machine's own user: no address checks, as in local mode.
            let policy = taskyard_core::outbound::Policy::open();
            let target = projects::vet_remote(&url, &policy).await?;
            let project = projects::clone_remote(
                &store,
                target,
                dest,
                token,
                name,
                None,
                policy,
                default_branch,
                |p| {
                    if p.total_objects > 0 {
                        eprint!(
                            "\rreceiving objects: {}/{} ({} KiB)",
                            p.received_objects,
                            p.total_objects,
                            p.received_bytes / 1024
                        );
                    }
                    true
                },
            )
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

async fn reencrypt(
    store: &AnyStore,
    data_dir: &Path,
    keys: Option<&crate::http::ConfiguredKeys>,
) -> Result<ExitCode> {
    let credentials = crate::http::open_credentials(store, data_dir, keys).await?;
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

/// `taskyard migrate`: the store was opened (which applies what is missing); say what it did.
fn migrate(store: &AnyStore) -> Result<ExitCode> {
    let migrations = store.migrations();
    let new = migrations.iter().filter(|m| m.applied_now).count();
    for m in migrations {
        let state = if m.applied_now { "applied now" } else { "already applied" };
        println!("{:>4}  {:<40} {state}", m.version, m.description);
    }
    println!("{} database: {new} migration(s) applied now, {} in all", store.backend(), migrations.len());
    Ok(ExitCode::SUCCESS)
}

/// `taskyard admin …`: accounts, for a terminal in a container.
async fn admin(store: &AnyStore, command: AdminCommand) -> Result<ExitCode> {
    use taskyard_core::model::{NewUser, Role, UserPatch};
    use taskyard_core::store::StoreError;
    match command {
        AdminCommand::CreateUser { email, name, role, password_env } => {
            let email = checked_email(&email)?;
            let name = name.trim().to_owned();
            if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
                return Err(UsageError("--name: 1 to 100 characters".into()).into());
            }
            let role: Role = role.parse().map_err(|e| UsageError(format!("--role: {e}")))?;
            let password = read_password(password_env.as_deref())?;
            let password_hash = hash_password(password).await?;
            let new = NewUser { email: email.clone(), name, password_hash, role };
            // An admin made before anyone registered takes the first admin's place, so the
            // open first registration closes.
            let created = if role == Role::Admin {
                match store.create_first_admin(new.clone()).await {
                    Err(StoreError::Conflict(_)) => store.create_user(new).await,
                    other => other,
                }
            } else {
                store.create_user(new).await
            };
            let user = created.map_err(|e| match e {
                StoreError::Conflict(_) => anyhow::anyhow!("an account with the e-mail {email} exists"),
                e => anyhow::Error::from(e).context("cannot create the account"),
            })?;
            println!("{}  {}  {}", user.id, user.email, user.role);
        }
        AdminCommand::ResetPassword { email, password_env } => {
            let email = checked_email(&email)?;
            let Some(user) = store.find_user_by_email(&email).await? else {
                bail!("no account has the e-mail {email}");
            };
            let password = read_password(password_env.as_deref())?;
            let password_hash = hash_password(password).await?;
            let patch = UserPatch { password_hash: Some(password_hash), ..Default::default() };
            store.update_user(user.user.id, patch).await?;
            store.revoke_user_sessions(user.user.id).await?;
            println!("password of {email} changed; its sessions were ended");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn checked_email(email: &str) -> Result<String> {
    Ok(taskyard_core::auth::normalize_email(email)
        .ok_or_else(|| UsageError(format!("--email: `{}` is not an e-mail address", email.trim())))?)
}

async fn hash_password(password: String) -> Result<String> {
    tokio::task::spawn_blocking(move || taskyard_core::auth::hash_password(&password))
        .await
        .context("hashing failed")?
        .context("cannot hash the password")
}

/// The new password: from the variable `var`, else from the terminal without echo, else one
/// line of standard input. Checked as registration checks it.
fn read_password(var: Option<&str>) -> Result<String> {
    use std::io::{BufRead as _, IsTerminal as _};
    let password = match var {
        Some(var) => {
            std::env::var(var).map_err(|_| UsageError(format!("--password-env: ${var} is not set")))?
        }
        None => {
            let stdin = std::io::stdin();
            let _quiet = if stdin.is_terminal() {
                eprint!("password: ");
                Some(NoEcho::new(&stdin)?)
            } else {
                None
            };
            let mut line = String::new();
            stdin.lock().read_line(&mut line).context("cannot read the password from standard input")?;
            if stdin.is_terminal() {
                eprintln!();
            }
            line.trim_end_matches(['\n', '\r']).to_owned()
        }
    };
    if password.is_empty() {
        return Err(UsageError("no password given (standard input was empty)".into()).into());
    }
    taskyard_core::auth::check_password(&password).map_err(|e| UsageError(format!("password: {e}")))?;
    Ok(password)
}

/// The terminal's echo off while it lives.
struct NoEcho {
    fd: std::os::fd::OwnedFd,
    saved: nix::sys::termios::Termios,
}

impl std::fmt::Debug for NoEcho {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NoEcho")
    }
}

impl NoEcho {
    fn new(stdin: &std::io::Stdin) -> Result<Self> {
        use nix::sys::termios::{LocalFlags, SetArg, tcgetattr, tcsetattr};
        use std::os::fd::AsFd as _;
        let fd = stdin.as_fd().try_clone_to_owned().context("stdin")?;
        let saved = tcgetattr(&fd).context("cannot read the terminal's settings")?;
        let mut quiet = saved.clone();
        quiet.local_flags.remove(LocalFlags::ECHO);
        quiet.local_flags.insert(LocalFlags::ECHONL);
        tcsetattr(&fd, SetArg::TCSANOW, &quiet).context("cannot turn the terminal's echo off")?;
        Ok(Self { fd, saved })
    }
}

impl Drop for NoEcho {
    fn drop(&mut self) {
        let _ = nix::sys::termios::tcsetattr(&self.fd, nix::sys::termios::SetArg::TCSANOW, &self.saved);
    }
}

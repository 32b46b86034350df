//! The `taskyard` command line: projects, tasks and runs driven from a terminal, on the same
//! core the server uses. Errors are printed as one clear sentence with a non-zero exit.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, Result, bail};
use clap::{Parser, Subcommand};
use taskyard_core::events::Bus;
use taskyard_core::git;
use taskyard_core::logs::LogFollower;
use taskyard_core::model::{LogEntry, LogKind, NewProject, NewTask, ProjectId, RunId, RunStatus, TaskId};
use taskyard_core::runner::{Runner, RunnerConfig};
use taskyard_core::store::{PgStore, SqliteStore, Store};

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
    /// Add a task that runs a command (any agent CLI or script; `{prompt}` is replaced by the
    /// description).
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
        /// The command line, run by `sh -c`.
        #[arg(long)]
        command: String,
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
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TASKYARD_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
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
    let data_dir = cli.data_dir.clone().unwrap_or_else(default_data_dir);
    std::fs::create_dir_all(&data_dir).with_context(|| format!("cannot create {}", data_dir.display()))?;
    match Database::from_url(cli.database_url.as_deref(), &data_dir)? {
        Database::Sqlite(path) => {
            let store =
                SqliteStore::open(&path).await.with_context(|| format!("opening {}", path.display()))?;
            dispatch(store, &data_dir, cli.command).await
        }
        Database::Postgres(url) => {
            let store = PgStore::connect(&url).await.context("connecting to Postgres")?;
            dispatch(store, &data_dir, cli.command).await
        }
    }
}

async fn dispatch<S: Store>(store: S, data_dir: &Path, command: Command) -> Result<ExitCode> {
    let runner = Runner::new(store.clone(), Arc::new(Bus::new()), RunnerConfig::new(data_dir));
    match command {
        Command::Project(ProjectCommand::Add { path, name }) => {
            let info = tokio::task::spawn_blocking(move || git::open_local(&path)).await??;
            let project = store
                .create_project(NewProject {
                    name: name.unwrap_or_else(|| folder_name(&info.path)),
                    repo_path: info.path.display().to_string(),
                    default_branch: info.default_branch,
                    origin_url: info.origin_url,
                })
                .await?;
            println!("{}  {}  {} ({})", project.id, project.name, project.repo_path, project.default_branch);
        }
        Command::Project(ProjectCommand::Clone { url, token_env, name }) => {
            let token = match token_env {
                Some(var) => Some(std::env::var(&var).with_context(|| format!("${var} is not set"))?),
                None => None,
            };
            git::validate_remote_url(&url)?;
            let repo_name = url
                .trim_end_matches('/')
                .trim_end_matches(".git")
                .rsplit('/')
                .next()
                .unwrap_or("repo")
                .to_owned();
            let dest = data_dir
                .join("repos")
                .join(format!("{repo_name}-{}", &uuid::Uuid::now_v7().simple().to_string()[..8]));
            let clone_url = url.clone();
            let info = tokio::task::spawn_blocking(move || {
                git::clone(&clone_url, &dest, token.as_deref(), &mut |p| {
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
            })
            .await??;
            eprintln!();
            let project = store
                .create_project(NewProject {
                    name: name.unwrap_or(repo_name),
                    repo_path: info.path.display().to_string(),
                    default_branch: info.default_branch,
                    origin_url: info.origin_url,
                })
                .await?;
            println!("{}  {}  {} ({})", project.id, project.name, project.repo_path, project.default_branch);
        }
        Command::Project(ProjectCommand::List) => {
            for p in store.list_projects().await? {
                println!("{}  {}  {} ({})", p.id, p.name, p.repo_path, p.default_branch);
            }
        }
        Command::Task(TaskCommand::Add { project, title, description, command }) => {
            let task = store
                .create_task(NewTask {
                    project_id: project,
                    title,
                    description,
                    agent: "command".into(),
                    agent_config: serde_json::json!({ "command": command }).to_string(),
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
        Command::Diff { run, stat } => {
            let run = store.get_run(run).await?;
            let (Some(branch), Some(base)) = (run.branch, run.base_branch) else {
                bail!("the run has no branch yet");
            };
            let project = store.get_project(store.get_task(run.task_id).await?.project_id).await?;
            let diff = tokio::task::spawn_blocking(move || git::diff(&project.repo_path(), &base, &branch))
                .await??;
            for f in &diff.files {
                if stat {
                    println!(
                        "{:<10} +{:<5} -{:<5} {}",
                        format!("{:?}", f.status).to_lowercase(),
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
        Command::Merge { run } => {
            let run = store.get_run(run).await?;
            let (Some(branch), Some(base)) = (run.branch.clone(), run.base_branch.clone()) else {
                bail!("the run has no branch yet");
            };
            let task = store.get_task(run.task_id).await?;
            let project = store.get_project(task.project_id).await?;
            let message = format!("Merge {branch}: {}", task.title);
            let outcome = tokio::task::spawn_blocking(move || {
                git::merge(&project.repo_path(), &branch, &base, &message)
            })
            .await??;
            println!("{}", serde_json::to_string(&outcome)?);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints a run's log as it grows; Ctrl-C asks the run to stop and keeps printing until it
/// has ended.
async fn follow_to_end<S: Store>(runner: &Runner<S>, run: RunId) -> Result<ExitCode> {
    eprintln!("run {run} started; Ctrl-C stops it");
    let mut follower = LogFollower::new(runner.store().clone(), runner.bus(), run, 0).await?;
    let mut ctrl_c = std::pin::pin!(tokio::signal::ctrl_c());
    let mut stopping = false;
    loop {
        tokio::select! {
            batch = follower.next() => match batch? {
                Some(batch) => batch.iter().for_each(print_entry),
                None => break,
            },
            _ = &mut ctrl_c, if !stopping => {
                stopping = true;
                eprintln!("stopping…");
                runner.stop(run).await?;
            }
        }
    }
    let run = runner.wait(run).await?;
    eprintln!("run {}: {}{}", run.id, run.status, run.error.map(|e| format!(" ({e})")).unwrap_or_default());
    Ok(if run.status == RunStatus::Succeeded { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

fn print_entry(e: &LogEntry) {
    match e.kind {
        LogKind::Stdout => println!("{}", e.text),
        LogKind::Stderr => eprintln!("{}", e.text),
        kind => eprintln!("[{kind}] {}", e.text),
    }
}

fn folder_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "project".into())
}

//! The harness the agent end-to-end tests share: a real git repository, a runner on SQLite,
//! a mock model API, the pinned CLIs in `.tools/`, and ways to read and wait on a run.

#![allow(dead_code)] // Each test file uses a part.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use taskyard_core::events::Bus;
use taskyard_core::logs::LogFollower;
use taskyard_core::model::*;
use taskyard_core::runner::process::Boundary;
use taskyard_core::runner::{Runner, RunnerConfig};
use taskyard_core::store::{SqliteStore, Store};
use taskyard_test_support::mock_api::{Dialect, MockApi};

/// A pinned CLI in `.tools/` (`claude-code/node_modules/.bin/claude`, …); its absence is a
/// failure, never a skip.
pub fn tool(folder: &str, program: &str) -> PathBuf {
    let cli =
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../.tools/{folder}/node_modules/.bin/{program}"));
    assert!(
        cli.exists(),
        "{program} is not installed in .tools/{folder}: run `script/setup --test` (it installs the pinned CLIs with npm)"
    );
    cli
}

pub fn git(repo: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(["-c", "user.name=Test", "-c", "user.email=test@example.com"])
        .args(args)
        .current_dir(repo)
        .output()
        .expect("run git");
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

pub struct Fixture {
    pub runner: Runner<SqliteStore>,
    pub project: Project,
    pub repo: PathBuf,
    pub mock: MockApi,
    pub data: PathBuf,
    pub dir: tempfile::TempDir,
}

/// A repository with one commit on `main`, a runner over SQLite, and a mock of `dialect`.
pub async fn fixture(dialect: Dialect) -> Fixture {
    fixture_with(dialect, Boundary::Auto).await
}

/// [`fixture`] with runs kept together by `boundary`.
pub async fn fixture_with(dialect: Dialect, boundary: Boundary) -> Fixture {
    fixture_configured(dialect, |c| c.boundary = boundary).await
}

/// [`fixture`] with the runner's configuration changed by `configure`.
pub async fn fixture_configured(dialect: Dialect, configure: impl FnOnce(&mut RunnerConfig)) -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(&repo).expect("mkdir");
    git(&repo, &["init", "-q", "-b", "main"]);
    std::fs::write(repo.join("README.md"), "# demo\n").expect("write");
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "first"]);
    let store = SqliteStore::open(&dir.path().join("t.db")).await.expect("sqlite");
    let data = dir.path().join("data");
    let mut config = RunnerConfig::new(&data);
    // Only what a test gives its task: never a developer's own key.
    config.agent_env.clear();
    configure(&mut config);
    let runner = Runner::new(store.clone(), Arc::new(Bus::new()), config);
    let project = store
        .create_project(NewProject {
            name: "demo".into(),
            repo_path: repo.display().to_string(),
            default_branch: "main".into(),
            origin_url: None,
            owner: None,
        })
        .await
        .expect("project");
    let mock = MockApi::start(dialect).await.expect("mock");
    Fixture { runner, project, repo, mock, data, dir }
}

/// `base` with `extra`'s fields added (or replaced).
pub fn merged(mut base: Value, extra: Value) -> Value {
    if let Value::Object(extra) = extra {
        for (k, v) in extra {
            base[k] = v;
        }
    }
    base
}

impl Fixture {
    pub async fn task(&self, agent: &str, title: &str, settings: Value) -> Task {
        self.runner
            .store()
            .create_task(NewTask {
                project_id: self.project.id,
                title: title.into(),
                description: format!("please {title}"),
                agent: agent.into(),
                agent_config: settings.to_string(),
            })
            .await
            .expect("task")
    }

    pub async fn run(&self, task: &Task) -> Run {
        let run = self.runner.start(task.id).await.expect("start");
        self.runner.wait(run.id).await.expect("wait")
    }

    pub async fn logs(&self, run: RunId) -> Vec<LogEntry> {
        let mut all = Vec::new();
        loop {
            let after = all.last().map_or(0, |e: &LogEntry| e.seq);
            let page = self.runner.store().read_logs(run, after, 5_000).await.expect("logs");
            if page.is_empty() {
                return all;
            }
            all.extend(page);
        }
    }

    /// Follows a run's log until an entry satisfies `pred`.
    pub async fn wait_for_entry(&self, run: RunId, pred: impl Fn(&LogEntry) -> bool) -> LogEntry {
        let mut f =
            LogFollower::new(self.runner.store().clone(), self.runner.bus(), run, 0).await.expect("follow");
        while let Some(batch) = f.next().await.expect("next") {
            if let Some(e) = batch.into_iter().find(|e| pred(e)) {
                return e;
            }
        }
        panic!("the run ended without the expected entry");
    }

    /// The home a run's agent had.
    pub fn home(&self, run: RunId) -> PathBuf {
        self.data.join("homes").join(run.to_string())
    }
}

/// The entry's `data.event`.
pub fn event(e: &LogEntry) -> &str {
    e.data.as_ref().and_then(|d| d.get("event")).and_then(Value::as_str).unwrap_or_default()
}

/// The agent's entries (the runner's own notes left out) as `kind event: first line`.
pub fn agent_entries(logs: &[LogEntry]) -> Vec<String> {
    logs.iter()
        .filter(|e| e.kind != LogKind::System || e.data.is_some())
        .map(|e| format!("{} {}: {}", e.kind, event(e), e.text.lines().next().unwrap_or_default()))
        .collect()
}

/// Polls `condition` until it holds or `limit` passes: for facts no log line announces (a
/// process the agent's tool started).
pub async fn wait_until<T>(what: &str, limit: Duration, mut condition: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = condition() {
            return v;
        }
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Whether a process is alive (zombies are dead, only not reaped yet).
pub fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).map(|s| !s.contains(") Z ")).unwrap_or(false)
}

/// A process of the run `run` whose command line starts with `prefix` (NUL between
/// arguments).
pub fn run_process(run: &str, prefix: &[u8]) -> Option<i32> {
    taskyard_core::runner::process::run_processes(run, None).into_iter().find(|pid| {
        std::fs::read(format!("/proc/{pid}/cmdline")).map(|c| c.starts_with(prefix)).unwrap_or(false)
    })
}

/// A URL nothing listens on.
pub fn refused_url() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    format!("http://{}", l.local_addr().expect("addr"))
}

/// Settings with a program and an environment.
pub fn cli_settings(program: &Path, env: Value) -> Value {
    json!({ "program": program.display().to_string(), "env": env })
}

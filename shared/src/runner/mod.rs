//! The run supervisor: enqueues runs durably, and for each run its worker claims prepares the
//! worktree, starts the agent, pipes its output into the log, stops it on request, and
//! records how it ended (leftovers committed, diff stats, task moved on the board) — or,
//! by the retry policy, sends it back to wait.
//!
//! A run row is written before its process starts; every process of a run carries the
//! `TASKYARD_RUN_ID` marker so a stop (or a later sweep) finds all of them.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use nix::sys::signal::Signal;
use tokio::sync::watch;

use crate::agent::{self, AgentError, ExitInfo, Parsed, RunContext, Stream};
use crate::events::{BoardEvent, Bus};
use crate::git::{self, GitError};
use crate::model::{
    LogKind, NewRun, Project, Run, RunFinished, RunId, RunKind, RunStarted, RunStatus, Task, TaskId,
    TaskPatch, TaskStatus,
};
use crate::store::{Store, StoreError};

pub mod housekeeping;
pub mod lines;
pub mod pipeline;
pub mod policy;
pub mod process;
pub mod queue;
pub mod review;

pub use pipeline::BatchLimits;
pub use review::Merged;

/// Why a run could not be started, stopped or looked at.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// A store call failed (including "not found").
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The task's agent settings are unusable.
    #[error(transparent)]
    Agent(#[from] AgentError),
    /// A git operation failed.
    #[error(transparent)]
    Git(#[from] GitError),
    /// The request contradicts the run's or task's state.
    #[error("{0}")]
    Conflict(String),
    /// The runner cannot do this on this machine now (runs must be confined and cannot be).
    #[error("{0}")]
    Unavailable(String),
    /// A value in the request is not acceptable.
    #[error("{field}: {message}")]
    Invalid {
        /// Which field.
        field: &'static str,
        /// What is wrong with it.
        message: String,
    },
}

/// Result of runner calls.
pub type Result<T> = std::result::Result<T, RunError>;

/// How the runner works.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// Where worktrees, agent homes and temporary directories live.
    pub data_dir: PathBuf,
    /// Longest stored line; longer lines are cut into pieces of this size.
    pub max_line_bytes: usize,
    /// How log entries are batched into transactions.
    pub batch: BatchLimits,
    /// After the agent exits, how long its output pipes may stay open before the run's
    /// remaining processes are killed.
    pub drain_timeout: Duration,
    /// `PATH` given to agents.
    pub agent_path: String,
    /// The credential service (vault + resolution); without it runs get no credentials.
    pub credentials: Option<Arc<crate::credentials::Credentials>>,
    /// Replaces every adapter's own stop signals (tests use short grace periods).
    pub stop_signals: Option<Vec<(Signal, Duration)>>,
    /// Settings every agent gets on top of the base environment (API base URLs, proxies —
    /// never credentials, which come only from the resolved set). A task's own settings
    /// win over these.
    pub agent_env: BTreeMap<String, String>,
    /// What keeps a run's processes together (a PID namespace where possible).
    pub boundary: process::Boundary,
    /// Whether runs are confined (bubblewrap: the run sees its worktree, home and tmp, its
    /// repository's git metadata and the system read-only, nothing else).
    pub sandbox: crate::sandbox::Policy,
    /// Whether model credentials reach agents only as placeholders, through the loopback
    /// credential proxy (see [`crate::proxy`]); on by default.
    pub credential_proxy: bool,
    /// Whether a task's own settings are trusted with what belongs to the server (one user
    /// on their own machine, whose credentials and folders they all are): its `*_BASE_URL`
    /// with the resolved credentials, its program and `PATH` with the sandbox's view. Off, a
    /// task that names its own model endpoint sends there only credentials its own settings
    /// hold, and a sandbox shows only the server's own PATH: no member of a team can point
    /// the team's credentials at a host, or a sandbox at a folder, of their choosing.
    pub trust_task_settings: bool,
    /// The queue's worker: concurrency, leases, clock.
    pub queue: queue::QueueConfig,
    /// How much lower than the server's the agents' CPU priority is (`nice`; 0 = the same):
    /// however busy agents keep the machine, the board, the logs and the API stay quick.
    /// The scheduler weighs each process on its own, so many agents together outweigh the
    /// server unless each weighs little: the default is the lowest, 19.
    pub agent_niceness: u8,
    /// Agents run in the kernel's idle scheduling class where the system has it (Linux,
    /// `chrt`): they get the CPU time nothing else asks for, and the server's threads never
    /// wait behind them. Without it, busy agents delay the server's every wake-up.
    pub agent_idle_priority: bool,
    /// This server's stable name among replicas (read from, or made in,
    /// `<data_dir>/replica-id` when not given).
    pub replica_id: Option<String>,
    /// The model a run of an agent uses when its task names none (agent name → model).
    pub default_models: BTreeMap<String, String>,
    /// The program a run of an agent uses when its task names none (agent name → path),
    /// instead of its CLI's name looked up in `agent_path`; changed while the runner runs
    /// with [`Runner::set_default_program`]. The operator's choice, so trusted: its folder is
    /// readable in the sandbox.
    pub default_programs: BTreeMap<String, String>,
    /// The base branch of projects cloned from now on, where the repository has it.
    pub default_branch: Option<String>,
}

impl RunnerConfig {
    /// Defaults under `data_dir`; agents get this process's `PATH` and the API settings
    /// adapters name ([`agent::passthrough_env`]), nothing else of its environment.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            max_line_bytes: 1024 * 1024,
            batch: BatchLimits::default(),
            drain_timeout: Duration::from_secs(2),
            agent_path: std::env::var("PATH").unwrap_or_else(|_| "/usr/local/bin:/usr/bin:/bin".into()),
            stop_signals: None,
            credentials: None,
            agent_env: agent::passthrough_env(std::env::vars()),
            boundary: process::Boundary::default(),
            sandbox: crate::sandbox::Policy::default(),
            credential_proxy: true,
            trust_task_settings: false,
            queue: queue::QueueConfig::default(),
            replica_id: None,
            agent_niceness: 19,
            agent_idle_priority: true,
            default_models: BTreeMap::new(),
            default_programs: BTreeMap::new(),
            default_branch: None,
        }
    }

    /// This server's replica id: given, or kept in the data directory (made on first use) by
    /// the one process that holds the data directory's lock — only it may treat runs of an
    /// earlier life of that id as its own. Another process on the same data directory (a
    /// command beside a running server) gets an id of its own and the lock stays unheld.
    fn replica(&self) -> (String, Option<nix::fcntl::Flock<std::fs::File>>) {
        if let Some(id) = &self.replica_id {
            return (id.clone(), None);
        }
        let _ = std::fs::create_dir_all(&self.data_dir);
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.data_dir.join("replica.lock"))
            .ok()
            .and_then(|f| nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusiveNonblock).ok());
        if lock.is_none() {
            return (random_hex(12), None);
        }
        let path = self.data_dir.join("replica-id");
        if let Ok(id) = std::fs::read_to_string(&path)
            && !id.trim().is_empty()
        {
            return (id.trim().to_owned(), lock);
        }
        let id = random_hex(12);
        if let Err(e) = std::fs::write(&path, &id) {
            tracing::warn!(path = %path.display(), error = %e, "cannot keep the replica id; runs of this life are recovered after their leases expire");
        }
        (id, lock)
    }

    fn worktree_dir(&self, task: TaskId) -> PathBuf {
        self.data_dir.join("worktrees").join(task.to_string())
    }

    /// The agent CLI's private home (its config, sessions and caches) for one run. Per run,
    /// so no two runs — of one user or of different users — ever share a CLI's state or
    /// credentials; a follow-up gets the session it resumes carried over by its adapter.
    pub fn home_dir(&self, run: RunId) -> PathBuf {
        self.data_dir.join("homes").join(run.to_string())
    }

    fn tmp_dir(&self, run: RunId) -> PathBuf {
        self.data_dir.join("tmp").join(run.to_string())
    }

    /// Files the sandbox of one run reads but its agent cannot write (`passwd`, `group`).
    fn sandbox_dir(&self, run: RunId) -> PathBuf {
        self.data_dir.join("sandbox").join(run.to_string())
    }
}

/// How an execution's processes are kept in.
enum Isolation {
    /// Confined by bubblewrap (which gives it a PID namespace too).
    Sandbox(crate::sandbox::Bubblewrap),
    /// In a PID namespace of its own.
    PidNamespace(process::PidNamespace),
    /// By its process group and the run marker only.
    ProcessGroup,
    /// Like `ProcessGroup`, where confinement was asked for but is unavailable and accepted.
    Unconfined,
}

impl Isolation {
    fn describe(&self) -> String {
        match self {
            Self::Sandbox(_) => " (confined: bubblewrap sandbox)".into(),
            Self::PidNamespace(_) => " (in its own PID namespace)".into(),
            Self::ProcessGroup => String::new(),
            Self::Unconfined => {
                " (unconfined: this machine cannot confine runs, as the admin accepted)".into()
            }
        }
    }
}

struct Active {
    task: TaskId,
    stop: watch::Sender<Option<StopCause>>,
    done: watch::Receiver<Option<Run>>,
    /// Which execution of the run (its `tries` when claimed): a run sent back to the queue
    /// can be claimed again while the execution that sent it is still winding down, and
    /// each must only ever remove its own entry.
    execution: i64,
    /// Until when this server's lease on the run is known to hold (as claimed, then as last
    /// renewed): past it another server may take the run over.
    leased_until: chrono::DateTime<chrono::Utc>,
}

struct Inner<S: Store> {
    store: S,
    bus: Arc<Bus>,
    config: RunnerConfig,
    /// The lease owner: `<replica>/<boot>`.
    owner: String,
    /// Whether the last lease renewal failed (or took too long).
    renewal_failing: std::sync::atomic::AtomicBool,
    /// The queue settings, and when they were read.
    settings: std::sync::RwLock<(policy::QueueSettings, Option<tokio::time::Instant>)>,
    /// [`RunnerConfig::default_programs`] as they are now.
    programs: std::sync::RwLock<BTreeMap<String, String>>,
    /// Wakes the worker.
    wake: Arc<tokio::sync::Notify>,
    /// Ends the worker.
    closed: Arc<tokio::sync::Notify>,
    /// No more claims (shutting down).
    closing: std::sync::atomic::AtomicBool,
    /// Counts settled runs, for waiters.
    settled: watch::Sender<u64>,
    /// Counts the queue worker's finished rounds (the first recovers a previous life's runs).
    rounds: watch::Sender<u64>,
    /// Worktrees something holds (see [`housekeeping::WorktreeHold`]), by task.
    held: Mutex<HashMap<TaskId, usize>>,
    /// Runs enqueued through this runner (for `QueueConfig::own_runs_only`).
    enqueued: Mutex<std::collections::HashSet<RunId>>,
    /// Holds the data directory's replica id for this process.
    _replica_lock: Option<nix::fcntl::Flock<std::fs::File>>,
    /// Where every run's log batches are written, together.
    sink: std::sync::OnceLock<pipeline::LogSink>,
    /// The last count of the worktrees' disk use.
    usage: Mutex<Option<(std::time::Instant, housekeeping::WorktreeUsage)>>,
    /// How to make a PID namespace on this machine, found once, on the first run.
    pid_namespace: tokio::sync::OnceCell<Option<process::PidNamespace>>,
    /// bubblewrap on this machine, or why it cannot confine, found once.
    bubblewrap: tokio::sync::OnceCell<std::result::Result<crate::sandbox::Bubblewrap, String>>,
    /// The credential proxy, started with the first run that needs it.
    proxy: tokio::sync::OnceCell<Option<Arc<crate::proxy::CredentialProxy>>>,
    active: Mutex<HashMap<RunId, Active>>,
    repo_locks: Mutex<HashMap<PathBuf, Arc<tokio::sync::Mutex<()>>>>,
}

/// Starts, stops and watches runs. Cheap to clone.
pub struct Runner<S: Store> {
    inner: Arc<Inner<S>>,
}

impl<S: Store> Clone for Runner<S> {
    fn clone(&self) -> Self {
        Self { inner: self.inner.clone() }
    }
}

impl<S: Store> std::fmt::Debug for Runner<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner").field("active", &self.active_runs()).finish()
    }
}

impl<S: Store> Runner<S> {
    /// A runner over `store`, announcing on `bus`.
    /// Its queue worker starts at once when called inside a Tokio runtime (and the
    /// configuration asks for one); it ends when the last clone of the runner is dropped or
    /// at [`Runner::shutdown`].
    pub fn new(store: S, bus: Arc<Bus>, config: RunnerConfig) -> Self {
        let (replica, replica_lock) = config.replica();
        let owner = format!("{replica}/{}", random_hex(8));
        let start_worker = config.queue.worker;
        let programs = std::sync::RwLock::new(config.default_programs.clone());
        let inner = Inner {
            store,
            bus,
            config,
            programs,
            owner,
            renewal_failing: std::sync::atomic::AtomicBool::new(false),
            settings: std::sync::RwLock::new((policy::QueueSettings::default(), None)),
            wake: Arc::new(tokio::sync::Notify::new()),
            closed: Arc::new(tokio::sync::Notify::new()),
            closing: std::sync::atomic::AtomicBool::new(false),
            settled: watch::channel(0).0,
            rounds: watch::channel(0).0,
            held: Mutex::default(),
            usage: Mutex::default(),
            sink: std::sync::OnceLock::new(),
            enqueued: Mutex::default(),
            _replica_lock: replica_lock,
            pid_namespace: tokio::sync::OnceCell::new(),
            bubblewrap: tokio::sync::OnceCell::new(),
            proxy: tokio::sync::OnceCell::new(),
            active: Mutex::default(),
            repo_locks: Mutex::default(),
        };
        let inner = Arc::new(inner);
        if start_worker && let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(queue::worker(Arc::downgrade(&inner)));
        }
        Self { inner }
    }

    /// The store it writes to.
    pub fn store(&self) -> &S {
        &self.inner.store
    }

    /// The bus it announces on.
    pub fn bus(&self) -> &Arc<Bus> {
        &self.inner.bus
    }

    /// How many runs are executing now.
    pub fn active_runs(&self) -> usize {
        self.lock_active().len()
    }

    /// Whether a task has a run executing now.
    pub fn is_task_active(&self, task: TaskId) -> bool {
        self.lock_active().values().any(|a| a.task == task)
    }

    /// Where a task's worktree lives (whether or not it exists yet).
    pub fn worktree_path(&self, task: TaskId) -> PathBuf {
        self.inner.config.worktree_dir(task)
    }

    /// The runner's settings.
    pub fn config(&self) -> &RunnerConfig {
        &self.inner.config
    }

    fn lock_active(&self) -> std::sync::MutexGuard<'_, HashMap<RunId, Active>> {
        self.inner.active.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Enqueues a fresh run of a task with its description as the prompt.
    pub async fn start(&self, task_id: TaskId) -> Result<Run> {
        self.start_by(task_id, None).await
    }

    /// Enqueues a fresh run on behalf of a team user (whose credentials it uses).
    pub async fn start_by(&self, task_id: TaskId, by: Option<crate::model::UserId>) -> Result<Run> {
        let task = self.inner.store.get_task(task_id).await?;
        let prompt =
            if task.description.trim().is_empty() { task.title.clone() } else { task.description.clone() };
        self.launch(task, RunKind::Start, prompt, by).await
    }

    /// Continues a task with a follow-up message: a new run in the same worktree that resumes
    /// the last run's agent session where the adapter supports it.
    pub async fn follow_up(&self, task_id: TaskId, message: String) -> Result<Run> {
        self.follow_up_by(task_id, message, None).await
    }

    /// A follow-up on behalf of a team user.
    pub async fn follow_up_by(
        &self,
        task_id: TaskId,
        message: String,
        by: Option<crate::model::UserId>,
    ) -> Result<Run> {
        if message.trim().is_empty() {
            return Err(RunError::Invalid {
                field: "message",
                message: "a follow-up needs a message".into(),
            });
        }
        let task = self.inner.store.get_task(task_id).await?;
        if self.inner.store.list_runs(task_id).await?.is_empty() {
            return Err(RunError::Conflict("the task has no run to follow up; start it first".into()));
        }
        self.launch(task, RunKind::FollowUp, message, by).await
    }

    /// Stores the run (queued) and wakes the worker. A task has at most one live run: a
    /// second start while one is queued, running or waiting is a `Conflict`.
    async fn launch(
        &self,
        task: Task,
        kind: RunKind,
        prompt: String,
        by: Option<crate::model::UserId>,
    ) -> Result<Run> {
        let adapter = agent::adapter(&task.agent)?;
        adapter.validate(&agent_config(&task)?)?;
        self.sandbox().await.map_err(RunError::Unavailable)?;
        let store = &self.inner.store;
        let run = store
            .create_run(NewRun { task_id: task.id, kind, agent: task.agent.clone(), prompt, started_by: by })
            .await
            .map_err(|e| match e {
                StoreError::Conflict(m) => RunError::Conflict(m),
                other => other.into(),
            })?;
        if self.inner.config.queue.own_runs_only {
            self.inner.enqueued.lock().unwrap_or_else(PoisonError::into_inner).insert(run.id);
        }
        // Nothing is written to its log here: the worker may already have claimed it, and
        // one writer per execution keeps seqs gapless.
        let position = store.queue_position(run.id).await.ok().flatten();
        let task = store
            .update_task(
                task.id,
                TaskPatch { status: Some(TaskStatus::Queued), phase: Some(None), ..Default::default() },
            )
            .await?;
        self.inner
            .bus
            .publish_board(BoardEvent::RunUpdated { project_id: task.project_id, run: run.clone() });
        self.inner.bus.publish_board(BoardEvent::TaskUpdated { task });
        self.poke();
        Ok(Run { queue_position: position, ..run })
    }

    /// Executes a run the worker claimed, in the background.
    async fn execute_claimed(&self, run: Run) {
        let store = &self.inner.store;
        let prepared = async {
            let task = store.get_task(run.task_id).await?;
            let project = store.get_project(task.project_id).await?;
            let adapter: Arc<dyn agent::Adapter> = Arc::from(agent::adapter(&task.agent)?);
            let mut config = agent_config(&task)?;
            adapter.validate(&config)?;
            if let Some(model) = self.inner.config.default_models.get(adapter.name()) {
                fill_default(&mut config, "model", model);
            }
            if let Some(program) = self.default_program(adapter.name()) {
                fill_default(&mut config, "program", &program);
            }
            Ok::<_, RunError>((task, project, adapter, config))
        }
        .await;
        let (task, project, adapter, config) = match prepared {
            Ok(p) => p,
            Err(e) => {
                let seq = store.last_log_seq(run.id).await.unwrap_or(0);
                match store.get_task(run.task_id).await {
                    Ok(task) => {
                        self.finish(&run, &task, RunStatus::Failed, fail(e.to_string()), Some(seq)).await;
                    }
                    Err(_) => {
                        let finished =
                            RunFinished { owner: Some(self.inner.owner.clone()), ..fail(e.to_string()) };
                        let _ = store.finish_run(run.id, RunStatus::Failed, finished).await;
                    }
                }
                return;
            }
        };
        let (stop_tx, stop_rx) = watch::channel(None::<StopCause>);
        let (done_tx, done_rx) = watch::channel(None);
        let execution = run.tries;
        let leased_until = run.lease_expires_at.unwrap_or_else(|| self.lease_until());
        {
            let mut active = self.lock_active();
            // Shutdown says `closing` before it reads the active runs under this lock: a run
            // claimed just before is either among them or sees `closing` here. Such a run
            // keeps its claim, and the next start (or another server, once the lease lapses)
            // recovers it as after a crash; started now, its agent would outlive the server.
            if self.inner.closing.load(std::sync::atomic::Ordering::SeqCst) {
                tracing::info!(run = %run.id, "not started: the server is shutting down");
                return;
            }
            active.insert(
                run.id,
                Active { task: task.id, stop: stop_tx, done: done_rx, execution, leased_until },
            );
        }
        self.inner
            .bus
            .publish_board(BoardEvent::RunUpdated { project_id: task.project_id, run: run.clone() });
        let this = self.clone();
        tokio::spawn(async move {
            let id = run.id;
            let finished = this.execute(run, task, project, adapter, config, stop_rx).await;
            {
                let mut active = this.lock_active();
                if active.get(&id).is_some_and(|a| a.execution == execution) {
                    active.remove(&id);
                }
            }
            let _ = done_tx.send(Some(finished));
            this.settled();
            this.poke();
        });
    }

    /// Asks a run to stop: the agent gets its stop signals, then SIGKILL, and every process
    /// of the run is ended. A queued or waiting run is cancelled at once; a run another
    /// server executes is stopped by that server (it sees the request when it renews its
    /// lease).
    pub async fn stop(&self, run_id: RunId) -> Result<()> {
        let stop = self.lock_active().get(&run_id).map(|a| a.stop.clone());
        if let Some(stop) = stop {
            let _ = stop.send(Some(StopCause::Requested));
            return Ok(());
        }
        let store = &self.inner.store;
        let run = store.get_run(run_id).await?;
        if run.status.is_terminal() {
            return Err(RunError::Conflict(format!("the run already ended ({})", run.status)));
        }
        if run.status == RunStatus::Running {
            store.request_stop(run_id).await?;
            return Ok(());
        }
        // Queued or waiting: cancelled in the store first, so a worker cannot claim it while
        // the log says so.
        let task = store.get_task(run.task_id).await?;
        let finished = RunFinished { error: Some("stopped on request".into()), ..Default::default() };
        let ended = match store.finish_run(run_id, RunStatus::Cancelled, finished).await {
            Ok(ended) => ended,
            // Claimed in the meantime: stop it where it runs now.
            Err(StoreError::Conflict(_)) => return Box::pin(self.stop(run_id)).await,
            Err(e) => return Err(e.into()),
        };
        let seq = store.last_log_seq(run_id).await?;
        self.system_entry(run_id, seq, "run cancelled: stopped before it ran again".into()).await;
        self.announce(&ended, &task, TaskStatus::Cancelled).await;
        self.inner.bus.end_logs(run_id);
        Ok(())
    }

    /// Waits until a run has settled — ended, or waiting to be retried later — and returns it
    /// as stored.
    pub async fn wait(&self, run_id: RunId) -> Result<Run> {
        let mut settled = self.inner.settled.subscribe();
        loop {
            settled.borrow_and_update();
            let run = self.inner.store.get_run(run_id).await?;
            if !matches!(run.status, RunStatus::Queued | RunStatus::Running) {
                return Ok(run);
            }
            let _ = tokio::time::timeout(Duration::from_millis(250), settled.changed()).await;
        }
    }

    /// Runs one run to its end; never fails: every failure becomes the run's outcome.
    async fn execute(
        &self,
        run: Run,
        task: Task,
        project: Project,
        adapter: Arc<dyn agent::Adapter>,
        config: serde_json::Value,
        mut stop_rx: watch::Receiver<Option<StopCause>>,
    ) -> Run {
        let store = self.inner.store.clone();
        let bus = self.inner.bus.clone();
        let cfg = &self.inner.config;
        let (fatal_tx, mut fatal_rx) = watch::channel(None::<String>);
        let next_seq = match store.last_log_seq(run.id).await {
            Ok(seq) => seq + 1,
            Err(e) => return self.finish(&run, &task, RunStatus::Failed, fail(format!("{e}")), None).await,
        };
        // The run's credentials, and a redactor that keeps their values out of everything
        // stored or shown.
        let resolution = match &cfg.credentials {
            Some(c) => match c.resolve(&store, Some(project.id), run.started_by).await {
                Ok(r) => r,
                Err(e) => {
                    let msg = format!("could not read the credentials: {e}");
                    return self.finish(&run, &task, RunStatus::Failed, fail(msg), None).await;
                }
            },
            None => crate::credentials::Resolution::default(),
        };
        let redactor = Arc::new(crate::credentials::Redactor::new(
            resolution.values.iter().map(|(k, r)| (k.as_str(), &r.value)),
        ));
        let sink = self.inner.sink.get_or_init(|| pipeline::LogSink::start(store.clone())).clone();
        let (pipe, pipeline) = pipeline::start(
            store.clone(),
            sink,
            bus.clone(),
            run.id,
            next_seq,
            adapter.parser(),
            cfg.batch,
            fatal_tx,
            redactor.clone(),
        );
        let note = note_entry;
        use pipeline::PipeInput;
        for (tier, key) in &resolution.unreadable {
            let text = format!(
                "the {} credential {key} could not be decrypted (its encryption key was removed); set it again",
                tier.as_str()
            );
            let _ = pipe.send(note(text)).await;
        }

        // Worktree and private directories.
        let workspace = match self.prepare_workspace(&run, &task, &project).await {
            Ok(w) => w,
            Err(e) => {
                let _ = pipe.send(note(format!("could not prepare the worktree: {e}"))).await;
                drop(pipe);
                let end = pipeline.await.ok();
                let msg = format!("could not prepare the worktree: {e}");
                return self.finish(&run, &task, RunStatus::Failed, fail(msg), end.map(|e| e.last_seq)).await;
            }
        };
        // Where this execution begins: a requeue after a crash resets the worktree here.
        let start_commit = {
            let path = workspace.worktree.path.clone();
            tokio::task::spawn_blocking(move || git::head_commit(&path)).await.ok().and_then(|r| r.ok())
        };
        let home = cfg.home_dir(run.id);
        // An execution after a recovery or a quota wait continues the run's own agent session
        // when its adapter kept it (the work so far is in it); otherwise — after a wait for
        // credentials, which fails before any work — it starts over as the first did.
        let continues = run.recovery.as_deref() == Some("resume") || run.quota_waits > 0;
        let own_session = match (&run.session_id, run.tries > 1 && continues) {
            (Some(session), true) => {
                let (adapter, home, id) = (adapter.clone(), home.clone(), session.clone());
                let kept = tokio::task::spawn_blocking(move || adapter.has_session(&home, &id))
                    .await
                    .unwrap_or(false);
                kept.then(|| session.clone())
            }
            _ => None,
        };
        let resume_session = match run.kind {
            _ if own_session.is_some() => {
                let session = own_session.clone().unwrap_or_default();
                let _ =
                    pipe.send(note(format!("attempt {}: resuming agent session {session}", run.tries))).await;
                own_session.clone()
            }
            RunKind::FollowUp => {
                let (session, said) = self.carry_session(&task, &run, adapter.clone(), &home).await;
                if let Some(text) = said {
                    let _ = pipe.send(note(text)).await;
                }
                session
            }
            RunKind::Start => None,
        };
        let tmp = cfg.tmp_dir(run.id);
        let prompt = match &own_session {
            Some(_) => queue::continue_prompt(run.error.as_deref()),
            None => run.prompt.clone(),
        };
        let mut env = self.base_environment(&task, &home, &tmp);
        env.extend(resolution.values.iter().map(|(k, r)| (k.clone(), r.value.expose().to_owned())));
        for said in withhold(&mut env, adapter.name(), &project) {
            let _ = pipe.send(note(said)).await;
        }
        let mut proxy_notes = Vec::new();
        let (env, config, _grant) = match self.credential_proxy().await {
            Some(proxy) => {
                let trust = cfg.trust_task_settings;
                let (env, config, grant, secured) = secure_environment(&proxy, run.id, env, config, trust);
                if !secured.proxied.is_empty() {
                    let names = secured.proxied.join(", ");
                    proxy_notes.push(format!(
                        "credentials reach the agent as placeholders, swapped in by Taskyard's proxy: {names}"
                    ));
                }
                if !secured.withheld.is_empty() {
                    let names = secured.withheld.join(", ");
                    proxy_notes.push(format!(
                        "the task sends its model requests to a base URL of its own: {names} not given to it"
                    ));
                }
                (env, config, Some(grant))
            }
            None if cfg.credential_proxy => {
                let msg =
                    "the credential proxy could not start, so the agent cannot get its credentials; see the \
                           server log"
                        .to_owned();
                let _ = pipe.send(note(msg.clone())).await;
                drop(pipe);
                let end = pipeline.await.ok();
                return self.finish(&run, &task, RunStatus::Failed, fail(msg), end.map(|e| e.last_seq)).await;
            }
            None => (env, config, None),
        };
        let ctx = RunContext {
            prompt,
            kind: run.kind,
            resume_session,
            config,
            worktree: workspace.worktree.path.clone(),
            env,
            home,
            tmp,
        };
        let spec = match adapter.command(&ctx) {
            Ok(spec) => spec,
            Err(e) => {
                let _ = pipe.send(note(e.to_string())).await;
                drop(pipe);
                let end = pipeline.await.ok();
                return self
                    .finish(&run, &task, RunStatus::Failed, fail(e.to_string()), end.map(|e| e.last_seq))
                    .await;
            }
        };
        let prepared = {
            let (adapter, ctx) = (adapter.clone(), ctx.clone());
            tokio::task::spawn_blocking(move || adapter.prepare_home(&ctx)).await
        };
        if let Err(e) = prepared.map_err(std::io::Error::other).and_then(|r| r) {
            let msg = format!("could not prepare the agent's home: {e}");
            let _ = pipe.send(note(msg.clone())).await;
            drop(pipe);
            let end = pipeline.await.ok();
            return self.finish(&run, &task, RunStatus::Failed, fail(msg), end.map(|e| e.last_seq)).await;
        }
        let mut env = ctx.env.clone();
        env.extend(spec.env.iter().map(|(k, v)| (k.clone(), v.clone())));
        // Last, so no setting can remove the marker that lets a stop find every process.
        env.insert(process::RUN_MARKER.into(), run.id.to_string());
        let isolation = self.isolation().await;
        let _ = pipe
            .send(note(format!(
                "starting `{}` on branch {} in {}{}",
                display_command(&spec.program, &spec.args),
                workspace.worktree.branch,
                workspace.worktree.path.display(),
                isolation.as_ref().map(Isolation::describe).unwrap_or_default(),
            )))
            .await;
        for text in proxy_notes {
            let _ = pipe.send(note(text)).await;
        }
        // The person's message, in the log, so a task's runs read as one conversation.
        let _ = pipe
            .send(PipeInput::Note(Parsed::new(
                LogKind::System,
                run.prompt.clone(),
                serde_json::json!({ "event": "prompt", "run_kind": run.kind.as_str() }),
            )))
            .await;

        let path = env.get("PATH").cloned().unwrap_or_default();
        let (niceness, idle) = (cfg.agent_niceness, cfg.agent_idle_priority);
        let wrapped = match &isolation {
            Ok(Isolation::Sandbox(bwrap)) => {
                let confinement = crate::sandbox::Confinement {
                    writable: vec![workspace.worktree.path.clone(), ctx.home.clone(), ctx.tmp.clone()],
                    readable: std::env::split_paths(&cfg.agent_path)
                        .chain(self.default_programs().values().filter_map(|p| {
                            std::path::Path::new(p).parent().map(std::path::Path::to_path_buf)
                        }))
                        .collect(),
                    trust_task_paths: cfg.trust_task_settings,
                    git_worktree: Some(workspace.worktree.path.clone()),
                    etc_dir: cfg.sandbox_dir(run.id),
                    cwd: workspace.worktree.path.clone(),
                    home: ctx.home.clone(),
                    hidden: vec![cfg.data_dir.clone()],
                };
                bwrap.wrap(&spec, &confinement, &path)
            }
            Ok(Isolation::PidNamespace(ns)) => ns.wrap(&spec, &path),
            Ok(Isolation::ProcessGroup | Isolation::Unconfined) => Ok(spec.clone()),
            Err(e) => Err(std::io::Error::other(e.clone())),
        };
        let spawned = wrapped
            .and_then(|wrapped| process::lower_priority(&wrapped, &path, niceness, idle))
            .and_then(|wrapped| process::spawn(&wrapped, &env, &workspace.worktree.path));
        let mut child = match spawned {
            Ok(child) => child,
            Err(e) => {
                let msg = match isolation {
                    Err(e) => e,
                    Ok(_) => process::spawn_error(&spec.program, &e),
                };
                let _ = pipe
                    .send(PipeInput::Note(Parsed { kind: LogKind::Error, text: msg.clone(), data: None }))
                    .await;
                drop(pipe);
                let end = pipeline.await.ok();
                return self.finish(&run, &task, RunStatus::Failed, fail(msg), end.map(|e| e.last_seq)).await;
            }
        };
        let pid = child.id().map(|p| p as i32).unwrap_or(0);
        // bubblewrap's own process dies of the signals meant for the agent (and takes the
        // sandbox with it): signals go to the sandbox's processes, not to it.
        let spare = matches!(isolation, Ok(Isolation::Sandbox(_))).then_some(pid);
        let started = RunStarted {
            branch: workspace.worktree.branch.clone(),
            base_branch: workspace.worktree.base_branch.clone(),
            base_commit: workspace.worktree.base_commit.clone(),
            worktree_path: workspace.worktree.path.display().to_string(),
            pid: i64::from(pid),
            start_commit: start_commit.clone(),
        };
        let mut cause: Option<StopCause> = stop_rx.borrow().clone();
        match store.mark_run_started(run.id, started).await {
            Ok(run) => bus.publish_board(BoardEvent::RunUpdated { project_id: task.project_id, run }),
            Err(e) => {
                tracing::warn!(run = %run.id, error = %e, "run could not be marked started; stopping it");
                cause.get_or_insert(StopCause::Requested);
            }
        }
        if let Ok(task) = store
            .update_task(task.id, TaskPatch { status: Some(TaskStatus::InProgress), ..Default::default() })
            .await
        {
            bus.publish_board(BoardEvent::TaskUpdated { task });
        }

        let mut readers = tokio::task::JoinSet::new();
        for (stream, reader) in [
            (
                Stream::Stdout,
                child.stdout.take().map(|r| Box::new(r) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
            ),
            (
                Stream::Stderr,
                child.stderr.take().map(|r| Box::new(r) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
            ),
        ] {
            let Some(reader) = reader else { continue };
            readers.spawn(lines::read_lines(
                reader,
                stream,
                cfg.max_line_bytes,
                cfg.batch.read_interval,
                pipe.clone(),
            ));
        }

        // Wait for the exit, or stop it.
        let status = loop {
            if cause.is_some() {
                // A lease about to lapse leaves no time for a graceful stop: another server may
                // start the run as soon as it has.
                let at_once = matches!(cause, Some(StopCause::LeaseLost));
                break self.stop_process(&mut child, pid, adapter.as_ref(), spare, at_once).await;
            }
            tokio::select! {
                status = child.wait() => break status.ok(),
                changed = stop_rx.changed() => {
                    let requested = if changed.is_err() { Some(StopCause::Requested) } else { stop_rx.borrow().clone() };
                    if let Some(requested) = requested {
                        let why = match &requested {
                            StopCause::Shutdown => "the server is shutting down; stopping the agent",
                            StopCause::LeaseLost => "this server lost or could not renew its claim on the run; ending the agent here",
                            _ => "stop requested",
                        };
                        let _ = pipe.send(note(why.into())).await;
                        cause = Some(requested);
                    }
                }
                _ = fatal_rx.changed() => {
                    let reason = fatal_rx.borrow().clone().unwrap_or_else(|| "log storage failed".into());
                    cause = Some(StopCause::Failure(reason));
                }
            }
        };

        // Nothing of the run outlives it: background jobs still holding the pipes included.
        let drain =
            tokio::time::timeout(cfg.drain_timeout, async { while readers.join_next().await.is_some() {} });
        if drain.await.is_err() {
            let _ = pipe
                .send(note(
                    "processes of the run were still running after the agent exited; ending them".into(),
                ))
                .await;
        }
        let swept = process::sweep(&run.id.to_string(), Some(pid)).await;
        if swept > 0 {
            tracing::info!(run = %run.id, swept, "ended leftover processes of the run");
        }
        if tokio::time::timeout(Duration::from_secs(5), async {
            while readers.join_next().await.is_some() {}
        })
        .await
        .is_err()
        {
            readers.abort_all();
        }

        let exit = ExitInfo {
            code: status.and_then(|s| s.code()),
            signal: status.and_then(|s| std::os::unix::process::ExitStatusExt::signal(&s)),
            stopped: matches!(cause, Some(StopCause::Requested)),
        };
        let exit_note = match (exit.code, exit.signal) {
            (Some(code), _) => format!("agent exited with code {code}"),
            (None, Some(sig)) => format!("agent was ended by signal {sig}"),
            _ => "agent ended".to_owned(),
        };
        let _ = pipe.send(note(exit_note)).await;
        drop(pipe);
        let end = match pipeline.await {
            Ok(end) => end,
            Err(e) => {
                let msg = format!("log pipeline failed: {e}");
                return self.finish(&run, &task, RunStatus::Failed, fail(msg), None).await;
            }
        };
        let mut outcome = end.parser.outcome(exit);
        match &cause {
            Some(StopCause::Failure(reason)) => outcome = agent::Outcome::failed(reason.clone()),
            Some(StopCause::Shutdown) => {
                outcome =
                    agent::Outcome::ended(RunStatus::Interrupted, "the server shut down during the run");
            }
            Some(StopCause::LeaseLost) => {
                // Another server executes the run now; nothing more is written here.
                let _ = tokio::fs::remove_dir_all(&ctx.tmp).await;
                let _ = tokio::fs::remove_dir_all(cfg.sandbox_dir(run.id)).await;
                return store.get_run(run.id).await.unwrap_or(run);
            }
            Some(StopCause::Requested) | None => {}
        }
        if let Some(e) = &end.error {
            outcome = agent::Outcome::failed(format!("could not store the run's log: {e}"));
        }

        // Leftovers are committed so the diff, a merge or a follow-up sees all the work.
        let mut finished = RunFinished {
            exit_code: exit.code.map(i64::from),
            // The reason may quote the agent's output: it is shown like the log, redacted.
            error: outcome.error.as_deref().map(|e| redactor.redact(e).into_owned()),
            session_id: end.parser.session_id(),
            retry_at: outcome.retry_at,
            ..Default::default()
        };
        let mut seq = end.last_seq;
        match self.collect_changes(&run, &task, &workspace).await {
            Ok((head, stats, committed)) => {
                finished.head_commit = Some(head);
                finished.files_changed = Some(stats.files_changed);
                finished.insertions = Some(stats.insertions);
                finished.deletions = Some(stats.deletions);
                if let Some(commit) = committed {
                    seq = self
                        .system_entry(
                            run.id,
                            seq,
                            format!("committed changes the agent left uncommitted ({})", short(&commit)),
                        )
                        .await;
                }
            }
            Err(e) => {
                seq = self.system_entry(run.id, seq, format!("could not record the changes: {e}")).await;
            }
        }
        let _ = tokio::fs::remove_dir_all(&ctx.tmp).await;
        let _ = tokio::fs::remove_dir_all(cfg.sandbox_dir(run.id)).await;
        if finished.session_id.is_some() {
            self.prune_homes(&task, run.id).await;
        }
        if matches!(cause, Some(StopCause::Shutdown)) {
            // The run goes back to the queue and continues after the restart (or on another
            // server): its session resumed, or its worktree reset to where it began.
            let session_kept = match &finished.session_id {
                Some(id) => adapter.has_session(&self.inner.config.home_dir(run.id), id),
                None => false,
            };
            let run = Run {
                session_id: finished.session_id.clone().or(run.session_id.clone()),
                start_commit: start_commit.clone(),
                ..run
            };
            let plan = if session_kept {
                (policy::Recovery::Resume, String::new())
            } else {
                let reset = match (&run.worktree_path, &start_commit) {
                    (_, Some(commit)) => {
                        let (path, c) = (workspace.worktree.path.clone(), commit.clone());
                        let lock = self.repo_lock(&workspace.repo);
                        let _guard = lock.lock().await;
                        blocking(move || Ok(git::reset_worktree(&path, &c)?)).await
                    }
                    _ => Err(RunError::Conflict("no starting commit was recorded".into())),
                };
                match reset {
                    Ok(()) => (
                        policy::Recovery::Clean,
                        format!("its worktree was reset to {}", short(start_commit.as_deref().unwrap_or(""))),
                    ),
                    Err(e) => (
                        policy::Recovery::Interrupted(format!("its worktree could not be reset: {e}")),
                        String::new(),
                    ),
                }
            };
            let said = "the server shut down during the run".to_owned();
            return self.continue_after_cut(run, &task, plan, said, seq, finished.session_id).await;
        }
        self.finish(&run, &task, outcome.status, finished, Some(seq)).await
    }

    /// For a follow-up: the session of the task's latest run that recorded one, carried
    /// into this run's fresh home by the adapter. Returns the session to resume (none when
    /// there is nothing to resume) and a note for the log.
    async fn carry_session(
        &self,
        task: &Task,
        run: &Run,
        adapter: Arc<dyn agent::Adapter>,
        home: &Path,
    ) -> (Option<String>, Option<String>) {
        let runs = self.inner.store.list_runs(task.id).await.unwrap_or_default();
        let Some((from, session)) =
            runs.into_iter().rev().filter(|r| r.id != run.id).find_map(|r| Some((r.id, r.session_id?)))
        else {
            // Adapters of known CLIs have sessions; say why this one starts afresh.
            let note = adapter.cli().map(|_| "no earlier agent session to resume: starting a new one".into());
            return (None, note);
        };
        let from_home = self.inner.config.home_dir(from);
        let carried = {
            let (to, id) = (home.to_path_buf(), session.clone());
            tokio::task::spawn_blocking(move || adapter.carry_session(&from_home, &to, &id)).await
        };
        match carried {
            Ok(Ok(true)) => (Some(session.clone()), Some(format!("resuming agent session {session}"))),
            Ok(Ok(false)) => (
                None,
                Some(format!("the files of agent session {session} were not found: starting a new session")),
            ),
            Ok(Err(e)) => (
                None,
                Some(format!("could not carry agent session {session} over ({e}): starting a new session")),
            ),
            Err(e) => (None, Some(format!("could not carry the agent session over: {e}"))),
        }
    }

    /// Removes the homes of a task's earlier runs once a later run holds the session: only
    /// the latest session is ever resumed, so the homes stay one per task at rest.
    async fn prune_homes(&self, task: &Task, current: RunId) {
        let Ok(runs) = self.inner.store.list_runs(task.id).await else { return };
        for r in runs.into_iter().filter(|r| r.id != current && r.status.is_terminal()) {
            let home = self.inner.config.home_dir(r.id);
            if tokio::fs::try_exists(&home).await.unwrap_or(false)
                && let Err(e) = tokio::fs::remove_dir_all(&home).await
            {
                tracing::warn!(run = %r.id, error = %e, "could not remove an old agent home");
            }
        }
    }

    /// bubblewrap, when the sandbox policy asks for it: `Ok(None)` when runs are not to be
    /// confined (policy off, or unavailable and the admin accepted running unconfined), an
    /// error saying what to do when runs must be confined and cannot be.
    async fn sandbox(&self) -> std::result::Result<Option<crate::sandbox::Bubblewrap>, String> {
        use crate::sandbox::Policy;
        let cfg = &self.inner.config;
        if cfg.sandbox == Policy::Off {
            return Ok(None);
        }
        match (self.bubblewrap().await, cfg.sandbox) {
            (Ok(bwrap), _) => Ok(Some(bwrap)),
            (Err(_), Policy::IfAvailable) => Ok(None),
            (Err(why), _) => Err(format!(
                "runs on this server must be confined, and this machine cannot confine them: {why}. \
                 Install bubblewrap and allow user namespaces, or let the server run agents unconfined \
                 (--allow-unconfined)"
            )),
        }
    }

    async fn bubblewrap(&self) -> std::result::Result<crate::sandbox::Bubblewrap, String> {
        let path = self.inner.config.agent_path.clone();
        self.inner
            .bubblewrap
            .get_or_init(|| async move {
                let probed = tokio::task::spawn_blocking(move || crate::sandbox::Bubblewrap::probe(&path))
                    .await
                    .unwrap_or_else(|e| Err(e.to_string()));
                if let Err(why) = &probed {
                    tracing::warn!(%why, "runs cannot be confined on this machine");
                }
                probed
            })
            .await
            .clone()
    }

    /// The credential proxy, when runs use one (started on first use; `None` when it could
    /// not start, and runs then fail rather than get real credentials).
    pub async fn credential_proxy(&self) -> Option<Arc<crate::proxy::CredentialProxy>> {
        if !self.inner.config.credential_proxy {
            return None;
        }
        self.inner
            .proxy
            .get_or_init(|| async {
                match crate::proxy::CredentialProxy::start(crate::proxy::ProxyConfig::default()).await {
                    Ok(proxy) => Some(proxy),
                    Err(e) => {
                        tracing::error!(error = %e, "the credential proxy could not start");
                        None
                    }
                }
            })
            .await
            .clone()
    }

    /// The program runs of `agent` use when their task names none; `None`: its CLI's name,
    /// looked up in the agents' `PATH`.
    pub fn default_program(&self, agent: &str) -> Option<String> {
        self.inner.programs.read().expect("poisoned").get(agent).cloned()
    }

    /// Every agent's default program (see [`RunnerConfig::default_programs`]).
    pub fn default_programs(&self) -> BTreeMap<String, String> {
        self.inner.programs.read().expect("poisoned").clone()
    }

    /// Sets (or with `None` clears) the program runs of `agent` use when their task names
    /// none, from the next run on; runs going keep theirs.
    pub fn set_default_program(&self, agent: &str, program: Option<String>) {
        let mut programs = self.inner.programs.write().expect("poisoned");
        match program {
            Some(program) => programs.insert(agent.to_owned(), program),
            None => programs.remove(agent),
        };
    }

    /// What the agent status check and its test action see: this runner's agent `PATH` and
    /// environment, its sandbox and its credential proxy, as a run would.
    pub async fn status_options(&self) -> crate::agent::status::StatusOptions {
        let mut opts = crate::agent::status::StatusOptions::for_runner(&self.inner.config);
        for (agent, program) in self.default_programs() {
            opts.settings.insert(agent, serde_json::json!({ "program": program }));
        }
        opts.sandbox = self.sandbox().await;
        opts.proxy = match (self.inner.config.credential_proxy, self.credential_proxy().await) {
            (false, _) => Ok(None),
            (true, Some(proxy)) => Ok(Some(proxy)),
            (true, None) => {
                Err("the credential proxy could not start, so agents cannot get credentials".into())
            }
        };
        opts
    }

    /// Whether runs are confined, for `/health` and the admin console.
    pub async fn sandbox_status(&self) -> crate::sandbox::Status {
        use crate::sandbox::Policy;
        let policy = self.inner.config.sandbox;
        let probed = match policy {
            Policy::Off => Ok(()),
            _ => self.bubblewrap().await.map(|_| ()),
        };
        crate::sandbox::Status {
            policy: policy.as_str(),
            confined: policy != Policy::Off && probed.is_ok(),
            problem: match (policy, probed) {
                (Policy::Off, _) => Some("runs are not confined (the sandbox is off)".into()),
                (Policy::IfAvailable, Err(why)) => {
                    Some(format!("runs execute unconfined, as the admin accepted: {why}"))
                }
                (_, Err(why)) => Some(format!("runs are refused until they can be confined: {why}")),
                (_, Ok(())) => None,
            },
        }
    }

    /// How the next execution's processes are kept in: a sandbox, else a PID namespace, else
    /// the process group.
    async fn isolation(&self) -> std::result::Result<Isolation, String> {
        if let Some(bwrap) = self.sandbox().await? {
            return Ok(Isolation::Sandbox(bwrap));
        }
        let unconfined = self.inner.config.sandbox == crate::sandbox::Policy::IfAvailable;
        Ok(match self.boundary().await? {
            Some(ns) => Isolation::PidNamespace(ns),
            None if unconfined => Isolation::Unconfined,
            None => Isolation::ProcessGroup,
        })
    }

    /// The PID namespace runs start in, if the configured boundary uses one; an error when a
    /// namespace is required and this machine cannot make one.
    async fn boundary(&self) -> std::result::Result<Option<process::PidNamespace>, String> {
        let cfg = &self.inner.config;
        if cfg.boundary == process::Boundary::ProcessGroup {
            return Ok(None);
        }
        let path = cfg.agent_path.clone();
        let ns = self
            .inner
            .pid_namespace
            .get_or_init(|| async move {
                let ns = tokio::task::spawn_blocking(move || process::PidNamespace::probe(&path)).await.ok().flatten();
                if ns.is_none() {
                    tracing::warn!(
                        "no PID namespace can be made here (unshare missing or namespaces not allowed); runs are \
                         kept together by their process group and the run marker only"
                    );
                }
                ns
            })
            .await
            .clone();
        match (ns, cfg.boundary) {
            (None, process::Boundary::PidNamespace) => Err(
                "this machine cannot make a PID namespace for the run (unshare is missing or namespaces are not \
                 allowed), and the runner requires one"
                    .into(),
            ),
            (ns, _) => Ok(ns),
        }
    }

    async fn stop_process(
        &self,
        child: &mut tokio::process::Child,
        pgid: i32,
        adapter: &dyn agent::Adapter,
        spare: Option<i32>,
        at_once: bool,
    ) -> Option<std::process::ExitStatus> {
        let signals = self.inner.config.stop_signals.clone().unwrap_or_else(|| adapter.stop_signals());
        for (signal, grace) in signals.into_iter().filter(|_| !at_once) {
            process::signal_group_but(pgid, spare, signal);
            if let Ok(status) = tokio::time::timeout(grace, child.wait()).await {
                return status.ok();
            }
        }
        process::signal_group(pgid, Signal::SIGKILL);
        let _ = child.start_kill();
        child.wait().await.ok()
    }

    async fn prepare_workspace(&self, run: &Run, task: &Task, project: &Project) -> Result<Workspace> {
        let cfg = &self.inner.config;
        let path = cfg.worktree_dir(task.id);
        for dir in [cfg.home_dir(run.id), cfg.tmp_dir(run.id)] {
            tokio::fs::create_dir_all(&dir)
                .await
                .map_err(|e| RunError::Conflict(format!("cannot create {}: {e}", dir.display())))?;
        }
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|e| RunError::Conflict(format!("cannot create {}: {e}", parent.display())))?;
        }
        let repo = project.repo_path();
        let lock = self.repo_lock(&repo);
        let _guard = lock.lock().await;
        let previous = self.previous_worktree(task, run.id).await;
        let slug = task.slug.clone();
        let known_branch = task.branch.clone();
        let base = project.default_branch.clone();
        let worktree = blocking(move || -> Result<git::Worktree> {
            // The worktree the task's last run recorded, where it still is: under this data
            // directory, or another server's on a shared volume (a run taken over).
            if let Some(prev) = previous
                && prev.path.join(".git").exists()
            {
                return Ok(prev);
            }
            if let Some(branch) = known_branch
                && git::branch_exists(&repo, &branch)?
            {
                clear_worktree_dir(&repo, &path)?;
                return Ok(git::attach_worktree(&repo, &path, &branch, &base)?);
            }
            clear_worktree_dir(&repo, &path)?;
            // A branch of that name that is not this task's is left alone: take the next name.
            for n in 1..=100u32 {
                let branch = if n == 1 { format!("taskyard/{slug}") } else { format!("taskyard/{slug}-{n}") };
                match git::create_worktree(&repo, &path, &branch, &base) {
                    Err(GitError::BranchExists(_)) => continue,
                    other => return Ok(other?),
                }
            }
            Err(RunError::Conflict(format!("no free branch name for taskyard/{slug}")))
        })
        .await?;
        if task.branch.as_deref() != Some(worktree.branch.as_str()) {
            let task = self
                .inner
                .store
                .update_task(
                    task.id,
                    TaskPatch { branch: Some(worktree.branch.clone()), ..Default::default() },
                )
                .await?;
            self.inner.bus.publish_board(BoardEvent::TaskUpdated { task });
        }
        Ok(Workspace { repo: project.repo_path(), worktree })
    }

    /// The worktree the task's runs last recorded: an earlier run's, or this run's own from an
    /// earlier execution (a retry, or a run taken over from another server).
    async fn previous_worktree(&self, task: &Task, current: RunId) -> Option<git::Worktree> {
        let runs = self.inner.store.list_runs(task.id).await.ok()?;
        let prev = match runs.iter().find(|r| r.id == current && r.worktree_path.is_some()) {
            Some(own) => own.clone(),
            None => runs.into_iter().rev().find(|r| r.worktree_path.is_some())?,
        };
        Some(git::Worktree {
            path: PathBuf::from(prev.worktree_path?),
            branch: prev.branch?,
            base_branch: prev.base_branch?,
            base_commit: prev.base_commit?,
        })
    }

    fn repo_lock(&self, repo: &Path) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.inner.repo_locks.lock().unwrap_or_else(PoisonError::into_inner);
        locks.entry(repo.to_path_buf()).or_default().clone()
    }

    /// What every agent process of a run gets before its adapter adds its own variables: a
    /// small base, the task, a git identity, and the API settings Taskyard passes.
    fn base_environment(&self, task: &Task, home: &Path, tmp: &Path) -> BTreeMap<String, String> {
        let mut env = process::base_env(&self.inner.config.agent_path, home, tmp);
        env.insert("TASKYARD_TASK_ID".into(), task.id.to_string());
        for (k, v) in git_identity() {
            env.insert(k.into(), v);
        }
        env.extend(self.inner.config.agent_env.iter().map(|(k, v)| (k.clone(), v.clone())));
        env
    }

    async fn collect_changes(
        &self,
        run: &Run,
        task: &Task,
        ws: &Workspace,
    ) -> Result<(String, DiffStats, Option<String>)> {
        let repo = ws.repo.clone();
        let wt = ws.worktree.clone();
        let message = format!("{} (taskyard run {})", task.title, run.attempt);
        let lock = self.repo_lock(&repo);
        let _guard = lock.lock().await;
        blocking(move || -> Result<(String, DiffStats, Option<String>)> {
            let committed = git::commit_all(&wt.path, &message)?;
            let diff = git::diff(&repo, &wt.base_branch, &wt.branch)?;
            let stats = DiffStats {
                files_changed: diff.files.len() as i64,
                insertions: diff.insertions as i64,
                deletions: diff.deletions as i64,
            };
            Ok((diff.head_commit, stats, committed))
        })
        .await
    }

    async fn system_entry(&self, run: RunId, last_seq: i64, text: String) -> i64 {
        let entry = crate::model::LogEntry {
            run_id: run,
            seq: last_seq + 1,
            ts: chrono::Utc::now(),
            kind: LogKind::System,
            text,
            data: None,
        };
        match self.inner.store.append_logs(std::slice::from_ref(&entry)).await {
            Ok(()) => {
                self.inner.bus.publish_logs(
                    run,
                    crate::events::LogNotice::Appended {
                        first_seq: entry.seq,
                        last_seq: entry.seq,
                        entries: Some(vec![entry].into()),
                    },
                );
                last_seq + 1
            }
            Err(e) => {
                tracing::warn!(%run, error = %e, "could not store a system log entry");
                last_seq
            }
        }
    }

    /// Records the end of a run, moves its task and tells everyone.
    /// Settles an execution that ended as `status`: by the retry policy the run waits (auth,
    /// quota), goes back to the queue (failures the project retries), or ends.
    async fn finish(
        &self,
        run: &Run,
        task: &Task,
        status: RunStatus,
        mut finished: RunFinished,
        last_seq: Option<i64>,
    ) -> Run {
        let store = &self.inner.store;
        let bus = &self.inner.bus;
        finished.owner = Some(self.inner.owner.clone());
        let mut status = status;
        if run.status == RunStatus::Running {
            let retry_failures = match store.get_project(task.project_id).await {
                Ok(p) => project_number(&p, "retry_failures"),
                Err(_) => 0,
            };
            let decision = policy::decide(
                run,
                status,
                finished.error.clone(),
                finished.retry_at,
                &self.queue_settings(),
                retry_failures,
                self.inner.config.queue.clock.now(),
            );
            match decision {
                policy::Decision::Finish(final_status, reason) => {
                    status = final_status;
                    finished.error = reason;
                }
                policy::Decision::Wait { status: waiting, retry_at, quota_waits, note } => {
                    let requeue = crate::store::queue::Requeue {
                        status: waiting,
                        retry_at: Some(retry_at),
                        error: finished.error.clone(),
                        quota_waits,
                        recovery: None,
                        session_id: finished.session_id.clone(),
                        exit_code: finished.exit_code,
                    };
                    return self.requeue(run, task, requeue, note, last_seq, TaskStatus::Waiting).await;
                }
                policy::Decision::Requeue { note } => {
                    let requeue = crate::store::queue::Requeue {
                        status: RunStatus::Queued,
                        retry_at: None,
                        error: finished.error.clone(),
                        quota_waits: 0,
                        recovery: None,
                        session_id: finished.session_id.clone(),
                        exit_code: finished.exit_code,
                    };
                    return self.requeue(run, task, requeue, note, last_seq, TaskStatus::Queued).await;
                }
            }
        }
        let summary = match &finished.error {
            Some(e) => format!("run {status}: {e}"),
            None => format!("run {status}"),
        };
        if let Some(seq) = last_seq {
            self.system_entry(run.id, seq, summary).await;
        }
        let stored = match store.finish_run(run.id, status, finished).await {
            Ok(run) => run,
            Err(e) => {
                tracing::error!(run = %run.id, error = %e, "could not record the end of a run");
                store.get_run(run.id).await.unwrap_or_else(|_| run.clone())
            }
        };
        let column = match stored.status {
            RunStatus::Succeeded => TaskStatus::InReview,
            RunStatus::Cancelled => TaskStatus::Cancelled,
            s if s.is_waiting() => TaskStatus::Waiting,
            _ => TaskStatus::Failed,
        };
        if let Ok(task) = store
            .update_task(task.id, TaskPatch { status: Some(column), phase: Some(None), ..Default::default() })
            .await
        {
            bus.publish_board(BoardEvent::TaskUpdated { task });
        }
        bus.publish_board(BoardEvent::RunUpdated { project_id: task.project_id, run: stored.clone() });
        bus.end_logs(run.id);
        self.settled();
        stored
    }

    /// Sends a running run back to wait (or to the queue), with a log entry saying why.
    async fn requeue(
        &self,
        run: &Run,
        task: &Task,
        requeue: crate::store::queue::Requeue,
        note: String,
        last_seq: Option<i64>,
        column: TaskStatus,
    ) -> Run {
        let store = &self.inner.store;
        if let Some(seq) = last_seq {
            self.system_entry(run.id, seq, note).await;
        }
        match store.requeue_run(run.id, &self.inner.owner, requeue).await {
            Ok(stored) => {
                self.announce(&stored, task, column).await;
                self.poke();
                stored
            }
            Err(e) => {
                tracing::warn!(run = %run.id, error = %e, "could not send the run back to wait");
                store.get_run(run.id).await.unwrap_or_else(|_| run.clone())
            }
        }
    }
}

/// Why the runner ended a process itself.
#[derive(Debug, Clone, PartialEq, Eq)]
enum StopCause {
    /// A person asked for it.
    Requested,
    /// The server is shutting down.
    Shutdown,
    /// Another server took the run over, or may soon: this one failed to renew its lease.
    LeaseLost,
    /// The run cannot go on (its log cannot be stored).
    Failure(String),
}

#[derive(Debug, Clone)]
struct Workspace {
    repo: PathBuf,
    worktree: git::Worktree,
}

#[derive(Debug, Clone, Copy)]
struct DiffStats {
    files_changed: i64,
    insertions: i64,
    deletions: i64,
}

fn note_entry(text: String) -> pipeline::PipeInput {
    pipeline::PipeInput::Note(Parsed { kind: LogKind::System, text, data: None })
}

fn fail(error: String) -> RunFinished {
    RunFinished { error: Some(error), ..Default::default() }
}

/// Sets `key` of a task's agent settings to `value` unless the task names one itself.
fn fill_default(config: &mut serde_json::Value, key: &str, value: &str) {
    let named = config.get(key).and_then(serde_json::Value::as_str).is_some_and(|v| !v.trim().is_empty());
    if !named && let Some(settings) = config.as_object_mut() {
        settings.insert(key.into(), serde_json::json!(value));
    }
}

fn agent_config(task: &Task) -> Result<serde_json::Value> {
    if task.agent_config.trim().is_empty() {
        return Ok(serde_json::Value::Object(Default::default()));
    }
    serde_json::from_str(&task.agent_config)
        .map_err(|e| RunError::Agent(AgentError::InvalidConfig(format!("agent settings are not JSON: {e}"))))
}

/// Whether a project's profile turns a setting on (`{"name": true}`).
/// Takes out of a run's environment what its project does not give its agent: Claude Code
/// bills an API key per token, so it gets one only when the project says so
/// (`claude_api_key`) and otherwise works with the subscription token; forge tokens reach
/// an agent only where the project opts in (`agent_forge_tokens`) — Taskyard's own git
/// operations use them directly. Returns what to tell the log.
fn withhold(env: &mut BTreeMap<String, String>, agent: &str, project: &Project) -> Vec<String> {
    let mut said = Vec::new();
    if agent == "claude"
        && !project_allows(project, "claude_api_key")
        && env.remove("ANTHROPIC_API_KEY").is_some()
    {
        said.push(
            "ANTHROPIC_API_KEY is set but not given to Claude Code, to avoid API billing; allow it in the \
             project's settings (claude_api_key)"
                .into(),
        );
    }
    if !project_allows(project, "agent_forge_tokens") {
        let removed: Vec<&str> = FORGE_TOKENS.iter().copied().filter(|k| env.remove(*k).is_some()).collect();
        if !removed.is_empty() {
            said.push(format!(
                "{} not given to the agent (Taskyard pushes and opens pull requests itself); allow it in the \
                 project's settings (agent_forge_tokens)",
                removed.join(", ")
            ));
        }
    }
    said
}

/// Credentials for forges, which agents get only where a project opts in.
const FORGE_TOKENS: &[&str] = &["GITHUB_TOKEN", "GH_TOKEN", "GITLAB_TOKEN"];

/// The run's environment and the task's own `env` setting with every model credential
/// replaced by a placeholder of the proxy's (see [`crate::proxy`]).
pub(crate) fn secure_environment(
    proxy: &crate::proxy::CredentialProxy,
    run: RunId,
    mut env: BTreeMap<String, String>,
    mut config: serde_json::Value,
    trust_task_settings: bool,
) -> (BTreeMap<String, String>, serde_json::Value, crate::proxy::Grant, crate::proxy::Secured) {
    let mut own: BTreeMap<String, String> = config
        .get("env")
        .and_then(|e| e.as_object())
        .map(|m| m.iter().filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned()))).collect())
        .unwrap_or_default();
    let (grant, secured) = proxy.secure(run, &mut env, &mut own, trust_task_settings);
    if let Some(settings) = config.get_mut("env").and_then(|e| e.as_object_mut()) {
        for (k, v) in own {
            settings.insert(k, serde_json::Value::String(v));
        }
    }
    (env, config, grant, secured)
}

fn project_allows(project: &Project, name: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(&project.profile)
        .ok()
        .and_then(|p| p.get(name).and_then(|v| v.as_bool()))
        .unwrap_or(false)
}

/// `n` random hex digits (the random tail of a v7 UUID).
/// Makes way for a task's new worktree at `path` (a folder of the data directory's own): a
/// worktree of `repo` there is removed with its entry, its branch kept; a folder that is no
/// worktree — left by a server killed while it made one — is deleted.
fn clear_worktree_dir(repo: &Path, path: &Path) -> Result<()> {
    if !path.exists() {
        return Ok(());
    }
    match git::remove_worktree(repo, path) {
        Err(GitError::NotAWorktree(_)) => {
            tracing::warn!(path = %path.display(), "deleting a worktree folder git does not know (left by an interrupted start)");
            std::fs::remove_dir_all(path)
                .map_err(|e| RunError::Conflict(format!("cannot remove {}: {e}", path.display())))
        }
        other => Ok(other?),
    }
}

fn random_hex(n: usize) -> String {
    let id = uuid::Uuid::now_v7().simple().to_string();
    id[id.len() - n.min(16)..].to_owned()
}

/// A whole number a project's profile sets (`{"name": 2}`), else 0.
fn project_number(project: &Project, name: &str) -> u32 {
    serde_json::from_str::<serde_json::Value>(&project.profile)
        .ok()
        .and_then(|p| p.get(name).and_then(|v| v.as_u64()))
        .map_or(0, |n| n.min(100) as u32)
}

/// Runs blocking work (git2) off the async threads.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|e| Err(RunError::Conflict(format!("background task failed: {e}"))))
}

fn short(commit: &str) -> &str {
    &commit[..commit.len().min(10)]
}

/// Author and committer for commits the agent makes, from this machine's git identity.
fn git_identity() -> Vec<(&'static str, String)> {
    let (name, email) = git::default_identity();
    vec![
        ("GIT_AUTHOR_NAME", name.clone()),
        ("GIT_AUTHOR_EMAIL", email.clone()),
        ("GIT_COMMITTER_NAME", name),
        ("GIT_COMMITTER_EMAIL", email),
    ]
}

/// A command line for people to read (not to be run).
fn display_command(program: &str, args: &[String]) -> String {
    let mut s = program.to_owned();
    for a in args {
        s.push(' ');
        let shown: String = a.chars().take(120).collect();
        if a.chars().any(char::is_whitespace) || a.is_empty() {
            s.push_str(&format!("{shown:?}"));
        } else {
            s.push_str(&shown);
        }
        if a.chars().count() > 120 {
            s.push('…');
        }
    }
    s
}

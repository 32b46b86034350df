//! The worker that turns the durable queue into executions: it claims due runs within the
//! limits, renews the leases of what it executes, stops runs whose stop was asked for on
//! another server, and recovers runs whose server died (resumed, requeued from a clean
//! worktree, or marked interrupted — each with a log entry saying which).
//!
//! One worker runs per [`Runner`]; it sleeps until something is enqueued
//! ([`Runner::poke`]), a waiting run is due, a lease needs renewing, or the poll interval
//! passed (runs enqueued by another server).

use std::sync::atomic::Ordering;
use std::sync::{Arc, PoisonError, Weak};
use std::time::Duration;

use chrono::{DateTime, Utc};

use super::policy::{self, QueueSettings, Recovery};
use super::{Inner, Runner, StopCause, process};
use crate::events::BoardEvent;
use crate::model::{Run, RunFinished, RunStatus, TaskPatch, TaskStatus};
use crate::store::Store;
use crate::store::queue::{Claim, Requeue};
use crate::{agent, git};

/// The time the queue schedules by (a manual clock in tests).
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Now.
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that moves only when told to.
#[derive(Debug)]
pub struct ManualClock(std::sync::Mutex<DateTime<Utc>>);

impl ManualClock {
    /// A clock showing `at`.
    pub fn new(at: DateTime<Utc>) -> Self {
        Self(std::sync::Mutex::new(at))
    }

    /// Moves it forward.
    pub fn advance(&self, by: Duration) {
        let mut now = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        *now += chrono::Duration::from_std(by).unwrap_or_default();
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// How the worker works.
#[derive(Debug, Clone)]
pub struct QueueConfig {
    /// Runs this server executes at once, unless the `queue` setting says otherwise.
    pub max_concurrent: usize,
    /// How long a claim holds without renewal; renewed every third of it.
    pub lease_ttl: Duration,
    /// How often the queue is checked for runs enqueued elsewhere and expired leases.
    pub poll_interval: Duration,
    /// The time retries are scheduled by.
    pub clock: Arc<dyn Clock>,
    /// Whether the runner starts its worker (tools that only read the store do not).
    pub worker: bool,
    /// Execute only the runs enqueued through this runner, and recover nothing (a
    /// command-line process beside a server: the server does the rest).
    pub own_runs_only: bool,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            max_concurrent: 4,
            lease_ttl: Duration::from_secs(30),
            poll_interval: Duration::from_secs(1),
            clock: Arc::new(SystemClock),
            worker: true,
            own_runs_only: false,
        }
    }
}

/// How often the `queue` setting is read again (admins change it on any server).
const SETTINGS_TTL: Duration = Duration::from_secs(5);

/// The prompt a resumed session continues with; `why` is what stopped the last attempt.
pub fn continue_prompt(why: Option<&str>) -> String {
    let why = why.unwrap_or("Taskyard restarted while you were working");
    format!(
        "Your previous attempt at this task was cut off ({why}). Continue where you left off and finish the task."
    )
}

/// The worker's memory between rounds.
pub(super) struct WorkerState {
    last_recover: Option<tokio::time::Instant>,
    last_sweep: Option<tokio::time::Instant>,
}

/// Renews the leases every third of a lease, on its own: the worker's rounds can wait
/// long on a database that does not answer (each call up to the pool's timeout), and the
/// leases must not wait with them.
async fn lease_keeper<S: Store>(inner: Weak<Inner<S>>) {
    let Some(period) = inner.upgrade().map(|i| i.config.queue.lease_ttl / 3) else { return };
    // From start to start: a renewal that waits out its timeout does not push the next one.
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let closed = match inner.upgrade() {
            Some(strong) if !strong.closing.load(Ordering::SeqCst) => strong.closed.clone(),
            _ => return,
        };
        tokio::select! {
            _ = ticks.tick() => {}
            _ = closed.notified() => return,
        }
        let Some(strong) = inner.upgrade() else { return };
        Runner { inner: strong }.renew().await;
    }
}

/// How often idle worktrees are looked for.
const SWEEP_INTERVAL: Duration = Duration::from_secs(10 * 60);

pub(super) async fn worker<S: Store>(inner: Weak<Inner<S>>) {
    tokio::spawn(lease_keeper(inner.clone()));
    let mut state = WorkerState { last_recover: None, last_sweep: None };
    loop {
        let Some(inner) = inner.upgrade() else { return };
        if inner.closing.load(Ordering::SeqCst) {
            return;
        }
        let runner = Runner { inner };
        let sleep = runner.round(&mut state).await;
        runner.inner.rounds.send_modify(|n| *n += 1);
        let wake = runner.inner.wake.clone();
        let closed = runner.inner.closed.clone();
        drop(runner);
        tokio::select! {
            _ = wake.notified() => {}
            _ = tokio::time::sleep(sleep) => {}
            _ = closed.notified() => return,
        }
    }
}

impl<S: Store> Runner<S> {
    /// Waits for the queue worker's first round: by then the runs a previous life of this
    /// server left running are recovered (their processes swept; resumed, requeued or marked
    /// interrupted). Returns at once when this runner has no worker.
    pub async fn first_round(&self) {
        if !self.inner.config.queue.worker {
            return;
        }
        let mut rounds = self.inner.rounds.subscribe();
        let _ = rounds.wait_for(|n| *n >= 1).await;
    }

    /// Wakes the worker: something was enqueued or became due.
    pub fn poke(&self) {
        self.inner.wake.notify_one();
    }

    /// Something that wakes the worker, without keeping the runner alive.
    pub fn waker(&self) -> Arc<dyn Fn() + Send + Sync> {
        let wake = Arc::downgrade(&self.inner.wake);
        Arc::new(move || {
            if let Some(w) = wake.upgrade() {
                w.notify_one();
            }
        })
    }

    /// The lease owner this runner claims runs as.
    pub fn owner(&self) -> &str {
        &self.inner.owner
    }

    /// The queue settings in force (the `queue` setting over the defaults).
    pub fn queue_settings(&self) -> QueueSettings {
        self.inner.settings.read().unwrap_or_else(PoisonError::into_inner).0.clone()
    }

    /// Reads the `queue` setting again now (after an admin changed it here).
    pub async fn reload_queue_settings(&self) {
        let settings = match self.inner.store.get_setting(QueueSettings::KEY).await {
            Ok(Some(json)) => match serde_json::from_str::<QueueSettings>(&json) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!(error = %e, "the queue setting cannot be read; using the defaults");
                    QueueSettings::default()
                }
            },
            Ok(None) => QueueSettings::default(),
            Err(e) => {
                tracing::warn!(error = %e, "could not read the queue setting");
                return;
            }
        };
        *self.inner.settings.write().unwrap_or_else(PoisonError::into_inner) =
            (settings, Some(tokio::time::Instant::now()));
        self.poke();
    }

    fn now(&self) -> DateTime<Utc> {
        self.inner.config.queue.clock.now()
    }

    pub(super) fn lease_until(&self) -> DateTime<Utc> {
        self.now() + chrono::Duration::from_std(self.inner.config.queue.lease_ttl).unwrap_or_default()
    }

    /// One round of the worker; returns how long to sleep.
    async fn round(&self, state: &mut WorkerState) -> Duration {
        let cfg = &self.inner.config.queue;
        let fresh = self.inner.settings.read().unwrap_or_else(PoisonError::into_inner).1;
        if fresh.is_none_or(|at| at.elapsed() >= SETTINGS_TTL) {
            self.reload_queue_settings().await;
        }
        let now = tokio::time::Instant::now();
        if state.last_recover.is_none_or(|at| now - at >= (cfg.lease_ttl / 2).min(cfg.poll_interval * 5)) {
            match self.recover().await {
                Ok(recovered) if !recovered.is_empty() => {
                    let requeued = recovered.iter().filter(|r| r.status == RunStatus::Queued).count();
                    tracing::warn!(
                        requeued,
                        interrupted = recovered.len() - requeued,
                        "recovered runs a stopped server left running"
                    );
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "recovering runs failed; will try again"),
            }
            state.last_recover = Some(now);
        }
        if let Err(e) = self.claim().await {
            tracing::warn!(error = %e, "claiming runs failed; will try again");
        }
        let idle_hours = self.queue_settings().worktree_idle_hours;
        if idle_hours > 0 && state.last_sweep.is_none_or(|at| now - at >= SWEEP_INTERVAL) {
            state.last_sweep = Some(now);
            // In the background: a big worktree takes a while to check.
            let this = self.clone();
            tokio::spawn(async move {
                let idle = Duration::from_secs(u64::from(idle_hours) * 3600);
                this.sweep_worktrees(idle, this.now()).await;
            });
        }
        let mut sleep = cfg.poll_interval.min(cfg.lease_ttl / 3);
        if let Ok(Some(at)) = self.inner.store.next_retry_at().await {
            let due = (at - self.now()).to_std().unwrap_or(Duration::ZERO);
            sleep = sleep.min(due.max(Duration::from_millis(10)));
        }
        sleep
    }

    /// Claims what fits in the free slots and executes it.
    async fn claim(&self) -> crate::store::Result<()> {
        if self.inner.closing.load(Ordering::SeqCst) {
            return Ok(());
        }
        let settings = self.queue_settings();
        let max = if settings.max_concurrent > 0 {
            settings.max_concurrent as usize
        } else {
            self.inner.config.queue.max_concurrent
        };
        let free = max.saturating_sub(self.active_runs());
        if free == 0 {
            return Ok(());
        }
        let limit = |n: u32| (n > 0).then_some(n);
        let only = if self.inner.config.queue.own_runs_only {
            let mine: Vec<_> =
                self.inner.enqueued.lock().unwrap_or_else(PoisonError::into_inner).iter().copied().collect();
            if mine.is_empty() {
                return Ok(());
            }
            Some(mine)
        } else {
            None
        };
        let claim = Claim {
            owner: self.inner.owner.clone(),
            now: self.now(),
            lease_until: self.lease_until(),
            max: free,
            per_user: limit(settings.max_per_user),
            per_project: limit(settings.max_per_project),
            only,
        };
        for run in self.inner.store.claim_runs(&claim).await? {
            self.execute_claimed(run).await;
        }
        Ok(())
    }

    /// Renews the leases of what this server executes; stops runs whose stop was asked for
    /// elsewhere and, if a lease was lost (another server took the run over), the process.
    ///
    /// While renewals fail (or take longer than a quarter of a lease), the runs whose lease
    /// lapses within two fifths of a lease are ended here: before another server may take
    /// them over, so that two executions of a run never overlap — a server cut off from the
    /// database cannot reach the other's processes, nor they its. Renewed every third of a
    /// lease, a lease has two thirds left at the next renewal: one failure (fast, or slow up
    /// to the timeout) leaves the runs going, the next ends them a third of a lease early.
    async fn renew(&self) {
        let ttl = self.inner.config.queue.lease_ttl;
        if self.inner.renewal_failing.load(Ordering::SeqCst) {
            self.stop_lapsing(ttl * 2 / 5);
        }
        let until = self.lease_until();
        let renewal = self.inner.store.renew_leases(&self.inner.owner, until);
        let held = match tokio::time::timeout(ttl / 4, renewal).await {
            Ok(Ok(held)) => held,
            failed => {
                let error = match failed {
                    Ok(Err(e)) => e.to_string(),
                    _ => format!("no answer within {:.1} s", (ttl / 4).as_secs_f64()),
                };
                tracing::warn!(%error, "renewing leases failed; will try again");
                self.inner.renewal_failing.store(true, Ordering::SeqCst);
                self.stop_lapsing(ttl * 2 / 5);
                return;
            }
        };
        self.inner.renewal_failing.store(false, Ordering::SeqCst);
        let mut active = self.lock_active();
        for (id, a) in active.iter_mut() {
            match held.iter().find(|(h, _)| h == id) {
                Some((_, stop)) => {
                    a.leased_until = until;
                    if *stop {
                        let _ = a.stop.send(Some(StopCause::Requested));
                    }
                }
                // Claimed after this renewal set out: its lease is newer than the answer.
                None if a.leased_until > until => {}
                // A run missing from the answer is not this server's any more: taken over by
                // another, or sent back to wait by this execution as it winds down.
                None => {
                    let _ = a.stop.send(Some(StopCause::LeaseLost));
                }
            }
        }
    }

    /// Stops the executions whose lease lapses within `margin`.
    fn stop_lapsing(&self, margin: std::time::Duration) {
        let horizon = self.now() + chrono::Duration::from_std(margin).unwrap_or_default();
        for (id, a) in self.lock_active().iter() {
            if a.leased_until < horizon && a.stop.borrow().is_none() {
                tracing::warn!(
                    run = %id,
                    lease_until = %a.leased_until,
                    "the run's lease could not be renewed: ending it here before another server may take it over"
                );
                let _ = a.stop.send(Some(StopCause::LeaseLost));
            }
        }
    }

    /// Recovers running runs whose server died (lease expired, or a previous life of this
    /// server): each is resumed, requeued from a clean worktree, or marked interrupted.
    /// Returns the runs it handled.
    pub async fn recover(&self) -> crate::store::Result<Vec<Run>> {
        if self.inner.config.queue.own_runs_only {
            return Ok(Vec::new());
        }
        let store = &self.inner.store;
        let mut handled = Vec::new();
        for stale in store.expired_runs(self.now(), &self.inner.owner).await? {
            if self.lock_active().contains_key(&stale.id) {
                continue;
            }
            let Some(run) =
                store.take_over_run(stale.id, &self.inner.owner, self.now(), self.lease_until()).await?
            else {
                continue;
            };
            handled.push(self.recover_one(run, stale.lease_owner.as_deref()).await);
        }
        if !handled.is_empty() {
            self.poke();
        }
        Ok(handled)
    }

    /// Recovers a run taken over from `previous_owner`.
    async fn recover_one(&self, run: Run, previous_owner: Option<&str>) -> Run {
        let store = &self.inner.store;
        let killed = process::sweep(&run.id.to_string(), run.pid.map(|p| p as i32)).await;
        let mut said = match previous_owner {
            Some(owner) if owner.split('/').next() == self.inner.owner.split('/').next() => {
                "Taskyard restarted while this run was going".to_owned()
            }
            _ => "the server executing this run stopped renewing its lease".to_owned(),
        };
        if killed > 0 {
            said.push_str(&format!("; its {killed} leftover process(es) were ended"));
        }
        let Ok(task) = store.get_task(run.task_id).await else { return run };
        let last = store.last_log_seq(run.id).await.unwrap_or(0);
        if run.stop_requested {
            let seq = self.system_entry(run.id, last, format!("{said}; it was asked to stop")).await;
            let finished = RunFinished { error: Some("stopped on request".into()), ..Default::default() };
            return self.finish(&run, &task, RunStatus::Cancelled, finished, Some(seq)).await;
        }
        let plan = self.recovery_plan(&run).await;
        self.continue_after_cut(run, &task, plan, said, last, None).await
    }

    /// How a cut-off run can continue: its session, a clean worktree, or not at all.
    async fn recovery_plan(&self, run: &Run) -> (Recovery, String) {
        let session_kept = match (agent::adapter(&run.agent), &run.session_id) {
            (Ok(adapter), Some(session)) => {
                let home = self.inner.config.home_dir(run.id);
                let session = session.clone();
                tokio::task::spawn_blocking(move || adapter.has_session(&home, &session))
                    .await
                    .unwrap_or(false)
            }
            _ => false,
        };
        let (worktree_ok, detail) = if session_kept {
            (true, String::new())
        } else {
            match (&run.worktree_path, &run.start_commit) {
                (None, _) => (true, "it had not started yet".to_owned()),
                (Some(path), Some(commit)) => {
                    let (path, commit) = (std::path::PathBuf::from(path), commit.clone());
                    let lock = self.repo_lock_for_run(run).await;
                    let _guard = match &lock {
                        Some(l) => Some(l.lock().await),
                        None => None,
                    };
                    let c = commit.clone();
                    match tokio::task::spawn_blocking(move || git::reset_worktree(&path, &c)).await {
                        Ok(Ok(())) => (true, format!("its worktree was reset to {}", super::short(&commit))),
                        Ok(Err(e)) => (false, format!("its worktree could not be reset: {e}")),
                        Err(e) => (false, format!("its worktree could not be reset: {e}")),
                    }
                }
                (Some(_), None) => (false, "it has no recorded starting commit".to_owned()),
            }
        };
        (policy::recovery(run, session_kept, worktree_ok), detail)
    }

    /// Requeues (or marks interrupted) a run whose execution was cut off — by a dead server
    /// found at recovery, or by this server shutting down — and says so in its log.
    pub(super) async fn continue_after_cut(
        &self,
        run: Run,
        task: &crate::model::Task,
        (plan, detail): (Recovery, String),
        said: String,
        last_seq: i64,
        session_id: Option<String>,
    ) -> Run {
        let store = &self.inner.store;
        let (requeue, text) = match &plan {
            Recovery::Resume => (
                Some("resume"),
                format!(
                    "{said}; requeued to resume agent session {}",
                    session_id.as_deref().or(run.session_id.as_deref()).unwrap_or("?")
                ),
            ),
            Recovery::Clean if detail.is_empty() => {
                (None, format!("{said}; requeued from a clean worktree state"))
            }
            Recovery::Clean => (None, format!("{said}; requeued from a clean worktree state ({detail})")),
            Recovery::Interrupted(why) => (None, format!("{said}; marked interrupted: {why}")),
        };
        let seq = self.system_entry(run.id, last_seq, text).await;
        if let Recovery::Interrupted(why) = plan {
            let finished = RunFinished { error: Some(format!("interrupted: {why}")), ..Default::default() };
            return self.finish(&run, task, RunStatus::Interrupted, finished, Some(seq)).await;
        }
        let rq = Requeue {
            status: RunStatus::Queued,
            retry_at: None,
            error: None,
            quota_waits: run.quota_waits,
            recovery: requeue.map(str::to_owned),
            session_id,
            exit_code: None,
        };
        match store.requeue_run(run.id, &self.inner.owner, rq).await {
            Ok(requeued) => {
                self.announce(&requeued, task, TaskStatus::Queued).await;
                requeued
            }
            Err(e) => {
                tracing::warn!(run = %run.id, error = %e, "could not requeue the run");
                store.get_run(run.id).await.unwrap_or(run)
            }
        }
    }

    /// Publishes a run's new state and moves its task to `column`.
    pub(super) async fn announce(&self, run: &Run, task: &crate::model::Task, column: TaskStatus) {
        let store = &self.inner.store;
        let bus = &self.inner.bus;
        if let Ok(task) = store
            .update_task(task.id, TaskPatch { status: Some(column), phase: Some(None), ..Default::default() })
            .await
        {
            bus.publish_board(BoardEvent::TaskUpdated { task });
        }
        bus.publish_board(BoardEvent::RunUpdated { project_id: task.project_id, run: run.clone() });
        self.settled();
    }

    /// Tells waiters that a run settled (ended, or went back to waiting).
    pub(super) fn settled(&self) {
        self.inner.settled.send_modify(|n| *n = n.wrapping_add(1));
    }

    async fn repo_lock_for_run(&self, run: &Run) -> Option<Arc<tokio::sync::Mutex<()>>> {
        let task = self.inner.store.get_task(run.task_id).await.ok()?;
        let project = self.inner.store.get_project(task.project_id).await.ok()?;
        Some(self.repo_lock(&project.repo_path()))
    }

    /// Retries a waiting run now (a person pressed "retry now").
    pub async fn retry_now(&self, run: crate::model::RunId) -> super::Result<Run> {
        // The entry first: once queued, the run's next execution writes its log.
        let store = &self.inner.store;
        let waiting = store.get_run(run).await?;
        if !waiting.status.is_waiting() || waiting.status.is_terminal() {
            return Err(super::RunError::Conflict(format!("the run is {}, not waiting", waiting.status)));
        }
        let last = store.last_log_seq(run).await?;
        self.system_entry(run, last, "retry requested: queued again".into()).await;
        if self.inner.config.queue.own_runs_only {
            self.inner.enqueued.lock().unwrap_or_else(PoisonError::into_inner).insert(run);
        }
        let run = store.retry_run_now(run).await?;
        let task = store.get_task(run.task_id).await?;
        self.announce(&run, &task, TaskStatus::Queued).await;
        self.poke();
        Ok(run)
    }

    /// A credential changed in `scope`: runs waiting for credentials there are retried now.
    pub async fn credentials_changed(&self, scope: crate::store::queue::WakeScope) -> super::Result<u64> {
        let woken = self.inner.store.wake_waiting_auth(scope, self.now()).await?;
        if woken > 0 {
            tracing::info!(woken, "a credential changed; retrying runs that waited for one");
            self.poke();
        }
        Ok(woken)
    }
}

//! After and around runs: the diff of a run's branch, merging it, pushing it, and the
//! housekeeping of start-up (runs a previous process left behind) and shutdown.

use std::path::PathBuf;

use super::{Result, RunError, Runner, StopCause, blocking, process};
use crate::events::BoardEvent;
use crate::git::{self, Diff, MergeOutcome};
use crate::model::{Run, RunFinished, RunId, RunStatus, TaskPatch, TaskStatus};
use crate::store::Store;

/// What `merge` did, with the task as it is now.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Merged {
    /// What git did.
    pub outcome: MergeOutcome,
    /// The branch that was merged.
    pub branch: String,
    /// The branch it was merged into.
    pub into: String,
}

impl<S: Store> Runner<S> {
    /// What a run's branch changed against its base. While the task's worktree exists, its
    /// uncommitted and untracked files are included, so a running agent's work shows live.
    pub async fn diff(&self, run_id: RunId) -> Result<Diff> {
        let run = self.inner.store.get_run(run_id).await?;
        let (repo, branch, base) = self.branch_of(&run).await?;
        // A finished run's work is fixed: base..head as recorded, even after a merge moved the
        // base on (which would leave nothing between the branches).
        if run.status.is_terminal()
            && let (Some(from), Some(to)) = (run.base_commit.clone(), run.head_commit.clone())
        {
            return blocking(move || Ok(git::diff_commits(&repo, &from, &to)?)).await;
        }
        let worktree = run.worktree_path.map(PathBuf::from).filter(|p| p.join(".git").exists());
        blocking(move || match worktree {
            Some(wt) => Ok(git::diff_worktree(&wt, &base)?),
            None => Ok(git::diff(&repo, &base, &branch)?),
        })
        .await
    }

    /// Merges a run's branch into its base branch (fast-forward when possible) and moves the
    /// task to done. Refused while the task has a run in progress, and on conflicts (nothing
    /// changes then).
    pub async fn merge(&self, run_id: RunId) -> Result<Merged> {
        let run = self.inner.store.get_run(run_id).await?;
        self.refuse_if_busy(&run)?;
        let (repo, branch, base) = self.branch_of(&run).await?;
        let task = self.inner.store.get_task(run.task_id).await?;
        let message = format!("Merge {branch}: {}", task.title);
        let lock = self.repo_lock(&repo);
        let _guard = lock.lock().await;
        let (b, into) = (branch.clone(), base.clone());
        let outcome = blocking(move || Ok(git::merge(&repo, &b, &into, &message)?)).await?;
        let task = self
            .inner
            .store
            .update_task(
                task.id,
                TaskPatch { status: Some(TaskStatus::Done), phase: Some(None), ..Default::default() },
            )
            .await?;
        self.inner.bus.publish_board(BoardEvent::TaskUpdated { task });
        Ok(Merged { outcome, branch, into: base })
    }

    /// Pushes a run's branch to the project's `origin`.
    pub async fn push(&self, run_id: RunId, token: Option<String>) -> Result<String> {
        let run = self.inner.store.get_run(run_id).await?;
        self.refuse_if_busy(&run)?;
        let (repo, branch, _) = self.branch_of(&run).await?;
        let b = branch.clone();
        blocking(move || Ok(git::push(&repo, &b, token.as_deref())?)).await?;
        Ok(branch)
    }

    fn refuse_if_busy(&self, run: &Run) -> Result<()> {
        if self.lock_active().values().any(|a| a.task == run.task_id) {
            return Err(RunError::Conflict("the task has a run in progress; wait for it or stop it".into()));
        }
        Ok(())
    }

    async fn branch_of(&self, run: &Run) -> Result<(PathBuf, String, String)> {
        let (Some(branch), Some(base)) = (run.branch.clone(), run.base_branch.clone()) else {
            return Err(RunError::Conflict("the run has no branch yet (it never started)".into()));
        };
        let task = self.inner.store.get_task(run.task_id).await?;
        let project = self.inner.store.get_project(task.project_id).await?;
        Ok((project.repo_path(), branch, base))
    }

    /// Ends what a previous server process left running: its agents' processes are killed
    /// (found by their run marker) and the runs are marked interrupted, with a log entry
    /// saying so. Call once at start-up, before starting runs. Returns the runs it ended.
    pub async fn recover_interrupted(&self) -> Result<Vec<Run>> {
        let store = &self.inner.store;
        let mut stale = store.list_runs_by_status(RunStatus::Running).await?;
        stale.extend(store.list_runs_by_status(RunStatus::Queued).await?);
        let mut ended = Vec::new();
        for run in stale {
            if self.lock_active().contains_key(&run.id) {
                continue;
            }
            let killed = process::sweep(&run.id.to_string(), run.pid.map(|p| p as i32)).await;
            let last = store.last_log_seq(run.id).await?;
            let text = if killed > 0 {
                format!(
                    "Taskyard restarted while this run was going; its {killed} leftover process(es) were ended"
                )
            } else {
                "Taskyard restarted while this run was going".to_owned()
            };
            self.system_entry(run.id, last, text).await;
            let finished = RunFinished {
                error: Some("interrupted: the server stopped during the run; start it again".into()),
                ..Default::default()
            };
            match store.finish_run(run.id, RunStatus::Interrupted, finished).await {
                Ok(run) => {
                    let task = store.get_task(run.task_id).await.ok();
                    if let Some(project_id) = task.as_ref().map(|t| t.project_id) {
                        self.inner.bus.publish_board(BoardEvent::RunUpdated { project_id, run: run.clone() });
                    }
                    if let Ok(task) = store
                        .update_task(
                            run.task_id,
                            TaskPatch {
                                status: Some(TaskStatus::Failed),
                                phase: Some(None),
                                ..Default::default()
                            },
                        )
                        .await
                    {
                        self.inner.bus.publish_board(BoardEvent::TaskUpdated { task });
                    }
                    ended.push(run);
                }
                // Another process finished it in the meantime: nothing to recover.
                Err(e) => tracing::debug!(run = %run.id, error = %e, "run was already finished"),
            }
        }
        Ok(ended)
    }

    /// Stops every active run because the server is shutting down (they end `interrupted`),
    /// and waits for them to be recorded.
    pub async fn shutdown(&self) {
        let runs: Vec<(RunId, tokio::sync::watch::Receiver<Option<Run>>)> = {
            let active = self.lock_active();
            for a in active.values() {
                let _ = a.stop.send(Some(StopCause::Shutdown));
            }
            active.iter().map(|(id, a)| (*id, a.done.clone())).collect()
        };
        for (id, mut done) in runs {
            let _ = done.wait_for(Option::is_some).await;
            tracing::info!(run = %id, "run interrupted by shutdown");
        }
    }
}

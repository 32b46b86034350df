//! After and around runs: the diff of a run's branch, merging it, pushing it, and the
//! housekeeping of start-up (runs a previous process left behind) and shutdown.

use std::path::PathBuf;

use super::{Result, RunError, Runner, StopCause, blocking};
use crate::events::BoardEvent;
use crate::git::{self, Diff, MergeOutcome};
use crate::model::{Run, RunId, TaskPatch, TaskStatus};
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

    /// Pushes a run's branch to the project's `origin`, within the outbound policy `net`.
    pub async fn push(
        &self,
        run_id: RunId,
        token: Option<String>,
        net: crate::outbound::Policy,
    ) -> Result<String> {
        let run = self.inner.store.get_run(run_id).await?;
        self.refuse_if_busy(&run)?;
        let (repo, branch, _) = self.branch_of(&run).await?;
        let b = branch.clone();
        blocking(move || Ok(git::push(&repo, &b, token.as_deref(), &net)?)).await?;
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

    /// Stops the server's share of the work: no more claims; running agents get their stop
    /// signals and their runs go back to the queue (session resumed or worktree reset when
    /// they continue — after a restart, or on another server). Returns once all settled.
    pub async fn shutdown(&self) {
        self.inner.closing.store(true, std::sync::atomic::Ordering::SeqCst);
        self.inner.closed.notify_waiters();
        let runs: Vec<(RunId, tokio::sync::watch::Receiver<Option<Run>>)> = {
            let active = self.lock_active();
            for a in active.values() {
                let _ = a.stop.send(Some(StopCause::Shutdown));
            }
            active.iter().map(|(id, a)| (*id, a.done.clone())).collect()
        };
        for (id, mut done) in runs {
            let _ = done.wait_for(Option::is_some).await;
            tracing::info!(run = %id, "run requeued by shutdown");
        }
    }
}

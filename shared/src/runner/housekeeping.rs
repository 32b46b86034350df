//! Worktree housekeeping: a task's worktree stays while anything may need it, and goes once
//! it has been idle for the configured time — its work is committed on the task's branch, so
//! diffs, merges and later follow-ups (which attach a fresh worktree to the branch) do not
//! need the folder. Also: how much disk the worktrees use.

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::Runner;
use crate::git;
use crate::model::TaskId;
use crate::store::{Store, StoreError};

/// Disk used by the worktrees of a data directory.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct WorktreeUsage {
    /// How many task worktrees exist.
    pub count: u64,
    /// Bytes of their files (symbolic links not followed).
    pub bytes: u64,
}

/// Why a worktree was kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kept {
    /// A run of the task is queued, running or waiting.
    LiveRun,
    /// Its last run ended less than the idle time ago.
    Recent,
    /// It holds changes its branch does not.
    Uncommitted,
    /// Something is using it (a terminal).
    InUse,
}

impl<S: Store> Runner<S> {
    /// [`Runner::worktree_usage`], counted at most once per `max_age` (walking big
    /// worktrees takes a while).
    pub async fn worktree_usage_cached(&self, max_age: Duration) -> WorktreeUsage {
        let cached = *self.inner.usage.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((at, usage)) = cached
            && at.elapsed() < max_age
        {
            return usage;
        }
        let usage = self.worktree_usage().await;
        *self.inner.usage.lock().unwrap_or_else(std::sync::PoisonError::into_inner) =
            Some((std::time::Instant::now(), usage));
        usage
    }

    /// Counts the worktrees and the bytes they use.
    pub async fn worktree_usage(&self) -> WorktreeUsage {
        let root = self.inner.config.data_dir.join("worktrees");
        tokio::task::spawn_blocking(move || {
            let mut usage = WorktreeUsage::default();
            if let Ok(entries) = std::fs::read_dir(&root) {
                for entry in entries.flatten() {
                    if entry.file_type().is_ok_and(|t| t.is_dir()) {
                        usage.count += 1;
                        usage.bytes += dir_bytes(&entry.path());
                    }
                }
            }
            usage
        })
        .await
        .unwrap_or_default()
    }

    /// Keeps a task's worktree from being removed while the guard lives (a terminal open
    /// in it, say).
    pub fn hold_worktree(&self, task: TaskId) -> WorktreeHold<S> {
        *self
            .inner
            .held
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .entry(task)
            .or_default() += 1;
        WorktreeHold { runner: self.clone(), task }
    }

    /// Removes the worktrees idle for longer than `idle` at `now`; returns the tasks whose
    /// worktree went, and logs why others stayed.
    pub async fn sweep_worktrees(&self, idle: Duration, now: DateTime<Utc>) -> Vec<TaskId> {
        let root = self.inner.config.data_dir.join("worktrees");
        let Ok(mut entries) = tokio::fs::read_dir(&root).await else { return Vec::new() };
        let mut removed = Vec::new();
        while let Ok(Some(entry)) = entries.next_entry().await {
            let Ok(task) = entry.file_name().to_string_lossy().parse::<TaskId>() else { continue };
            match self.sweep_one(task, &entry.path(), idle, now).await {
                Ok(None) => removed.push(task),
                Ok(Some(why)) => tracing::debug!(%task, ?why, "worktree kept"),
                Err(e) => tracing::warn!(%task, error = %e, "could not tidy a worktree"),
            }
        }
        if !removed.is_empty() {
            tracing::info!(count = removed.len(), "removed idle worktrees");
        }
        removed
    }

    async fn sweep_one(
        &self,
        task_id: TaskId,
        path: &Path,
        idle: Duration,
        now: DateTime<Utc>,
    ) -> Result<Option<Kept>, String> {
        let store = &self.inner.store;
        let held =
            self.inner.held.lock().unwrap_or_else(std::sync::PoisonError::into_inner).contains_key(&task_id);
        if held {
            return Ok(Some(Kept::InUse));
        }
        let task = match store.get_task(task_id).await {
            Ok(t) => t,
            // The task is gone: nothing can need its folder.
            Err(StoreError::NotFound { .. }) => {
                tokio::fs::remove_dir_all(path).await.map_err(|e| e.to_string())?;
                return Ok(None);
            }
            Err(e) => return Err(e.to_string()),
        };
        let runs = store.list_runs(task.id).await.map_err(|e| e.to_string())?;
        if self.is_task_active(task.id) || runs.iter().any(|r| r.status.is_live()) {
            return Ok(Some(Kept::LiveRun));
        }
        let last_end = runs.iter().filter_map(|r| r.finished_at).max();
        let idle = chrono::Duration::from_std(idle).unwrap_or(chrono::Duration::MAX);
        if last_end.is_none_or(|end| now - end < idle) {
            return Ok(Some(Kept::Recent));
        }
        let project = store.get_project(task.project_id).await.map_err(|e| e.to_string())?;
        let lock = self.repo_lock(&project.repo_path());
        let _guard = lock.lock().await;
        let (repo, wt) = (project.repo_path(), path.to_path_buf());
        let outcome = tokio::task::spawn_blocking(move || -> Result<Option<Kept>, git::GitError> {
            if wt.join(".git").exists() && git::has_uncommitted_changes(&wt)? {
                return Ok(Some(Kept::Uncommitted));
            }
            git::remove_worktree(&repo, &wt)?;
            Ok(None)
        })
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
        if outcome.is_none() {
            tracing::info!(task = %task.id, path = %path.display(), "removed an idle worktree (its work is on its branch)");
        }
        Ok(outcome)
    }
}

/// Keeps a worktree in place while it lives.
#[derive(Debug)]
pub struct WorktreeHold<S: Store> {
    runner: Runner<S>,
    task: TaskId,
}

impl<S: Store> Drop for WorktreeHold<S> {
    fn drop(&mut self) {
        let mut held = self.runner.inner.held.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(n) = held.get_mut(&self.task) {
            *n -= 1;
            if *n == 0 {
                held.remove(&self.task);
            }
        }
    }
}

/// Bytes of the files under `dir`, without following links.
fn dir_bytes(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else { continue };
        for entry in entries.flatten() {
            let Ok(meta) = entry.path().symlink_metadata() else { continue };
            if meta.is_dir() {
                stack.push(entry.path());
            } else {
                total += meta.len();
            }
        }
    }
    total
}

//! Adding, cloning, pulling and removing projects: the git side and the store side together,
//! shared by the command line and the server.

use std::path::{Path, PathBuf};

use crate::git::{self, CloneProgress, PullOutcome, RepoInfo};
use crate::model::{NewProject, Project, ProjectId, UserId};
use crate::outbound::{Policy, Target};
use crate::runner::{Result, RunError, Runner};
use crate::store::Store;

/// Longest project name accepted.
pub const MAX_NAME_LEN: usize = 200;

/// Adds the git repository at `path` (its root) as a project.
pub async fn add_local<S: Store>(
    store: &S,
    path: &Path,
    name: Option<String>,
    owner: Option<UserId>,
) -> Result<Project> {
    let path = path.to_path_buf();
    let info = tokio::task::spawn_blocking(move || git::open_local(&path))
        .await
        .map_err(|e| RunError::Conflict(format!("background task failed: {e}")))??;
    let name = checked_name(name, &info.path)?;
    create(store, info, name, owner).await
}

/// Where clones live: `<data>/repos/<name>-<random>`.
pub fn clone_destination(data_dir: &Path, url: &str) -> PathBuf {
    let name = repo_name(url);
    let suffix = uuid::Uuid::now_v7().simple().to_string();
    data_dir.join("repos").join(format!("{name}-{}", &suffix[suffix.len() - 8..]))
}

/// The last path segment of a repository URL, without `.git`.
pub fn repo_name(url: &str) -> String {
    let name = url.trim_end_matches('/').trim_end_matches(".git").rsplit('/').next().unwrap_or("");
    let name: String = name.chars().filter(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c)).collect();
    if name.is_empty() || name.starts_with('.') { "repo".to_owned() } else { name }
}

/// Vets a repository URL against `policy` (its host resolved once, off the runtime): the
/// target [`clone_remote`] connects to.
pub async fn vet_remote(url: &str, policy: &Policy) -> Result<Target> {
    git::validate_remote_url(url)?;
    let (url, policy) = (url.to_owned(), policy.clone());
    Ok(tokio::task::spawn_blocking(move || git::vet_remote(&url, &policy))
        .await
        .map_err(|e| RunError::Conflict(format!("background task failed: {e}")))??)
}

/// Clones the vetted `target` into `dest` and adds it as a project, based on `branch` when
/// given and the repository has it (else on its own default branch). `progress` is called as
/// objects arrive; returning `false` cancels the clone.
#[allow(clippy::too_many_arguments)] // One call per front end; a struct would only rename them.
pub async fn clone_remote<S: Store>(
    store: &S,
    target: Target,
    dest: PathBuf,
    token: Option<String>,
    name: Option<String>,
    owner: Option<UserId>,
    policy: Policy,
    branch: Option<String>,
    mut progress: impl FnMut(&CloneProgress) -> bool + Send + 'static,
) -> Result<Project> {
    let target_url = target.url.clone();
    let name = checked_name(name.or_else(|| Some(repo_name(&target.url))), &dest)?;
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| RunError::Conflict(format!("cannot create {}: {e}", parent.display())))?;
    }
    let target_dir = dest.clone();
    let info = tokio::task::spawn_blocking(move || {
        git::clone_vetted(&target, &target_dir, token.as_deref(), &policy, &mut progress)
    })
    .await
    .map_err(|e| RunError::Conflict(format!("background task failed: {e}")))??;
    let info = match branch {
        Some(branch) => {
            // Vetted URLs hold no credentials.
            let url = target_url;
            tokio::task::spawn_blocking(move || match git::prefer_branch(info.clone(), &branch) {
                Ok((info, true)) => info,
                Ok((info, false)) => {
                    tracing::info!(%url, %branch, base = %info.default_branch, "the repository has no branch of the configured default name; its own is the base");
                    info
                }
                Err(e) => {
                    tracing::warn!(%url, %branch, error = %e, "cannot make the configured default branch the base");
                    info
                }
            })
            .await
            .map_err(|e| RunError::Conflict(format!("background task failed: {e}")))?
        }
        None => info,
    };
    match create(store, info, name, owner).await {
        Ok(project) => Ok(project),
        Err(e) => {
            // The clone is ours and useless without its project row.
            let _ = std::fs::remove_dir_all(&dest);
            Err(e)
        }
    }
}

/// Fast-forwards a project's checked-out branch from `origin`, within `policy`.
pub async fn pull<S: Store>(
    store: &S,
    id: ProjectId,
    token: Option<String>,
    policy: Policy,
) -> Result<PullOutcome> {
    let project = store.get_project(id).await?;
    if project.origin_url.is_none() {
        return Err(RunError::Conflict("the project has no origin remote to pull from".into()));
    }
    let repo = project.repo_path();
    tokio::task::spawn_blocking(move || git::pull(&repo, token.as_deref(), &policy))
        .await
        .map_err(|e| RunError::Conflict(format!("background task failed: {e}")))?
        .map_err(RunError::from)
}

/// Removes a project: its tasks, runs and logs, the worktrees Taskyard made for it, and the
/// clone when Taskyard made that too. A repository that was added from its own folder stays
/// where it is. Refused while one of its tasks has a run in progress.
pub async fn delete<S: Store>(runner: &Runner<S>, id: ProjectId, data_dir: &Path) -> Result<()> {
    let store = runner.store();
    let project = store.get_project(id).await?;
    let tasks = store.list_tasks(id).await?;
    if tasks.iter().any(|t| runner.is_task_active(t.id)) {
        return Err(RunError::Conflict("a task of this project has a run in progress; stop it first".into()));
    }
    let repo = project.repo_path();
    let worktrees: Vec<PathBuf> = tasks.iter().map(|t| runner.worktree_path(t.id)).collect();
    let ours = repo.starts_with(data_dir.join("repos"));
    store.delete_project(id).await?;
    tokio::task::spawn_blocking(move || {
        for wt in worktrees.iter().filter(|p| p.exists()) {
            if git::remove_worktree(&repo, wt).is_err() {
                let _ = std::fs::remove_dir_all(wt);
            }
        }
        if ours {
            let _ = std::fs::remove_dir_all(&repo);
        }
    })
    .await
    .map_err(|e| RunError::Conflict(format!("background task failed: {e}")))?;
    Ok(())
}

fn checked_name(name: Option<String>, path: &Path) -> Result<String> {
    let name = name.map(|n| n.trim().to_owned()).filter(|n| !n.is_empty()).unwrap_or_else(|| {
        path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "project".into())
    });
    if name.chars().count() > MAX_NAME_LEN || name.contains('\0') {
        return Err(RunError::Invalid {
            field: "name",
            message: format!("at most {MAX_NAME_LEN} characters"),
        });
    }
    Ok(name)
}

async fn create<S: Store>(store: &S, info: RepoInfo, name: String, owner: Option<UserId>) -> Result<Project> {
    Ok(store
        .create_project(NewProject {
            name,
            repo_path: info.path.display().to_string(),
            default_branch: info.default_branch,
            origin_url: info.origin_url,
            owner,
        })
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repo_names_come_from_the_url() {
        for (url, name) in [
            ("https://github.com/acme/widgets.git", "widgets"),
            ("https://github.com/acme/widgets/", "widgets"),
            ("http://host/a/b c", "bc"),
            ("https://host/", "host"),
            ("https://host/..", "repo"),
        ] {
            assert_eq!(repo_name(url), name, "{url}");
        }
    }
}

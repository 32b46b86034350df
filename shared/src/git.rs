//! Git operations for Taskyard: adding and cloning repositories, per-run worktrees, commits,
//! diffs, merges and pushes. Every function blocks; call them from `spawn_blocking`. Local work
//! uses git2; network operations (clone, fetch, push) run the git command line against a
//! target vetted by [`crate::outbound`], pinned to its address (see `cli`).

use std::cell::RefCell;
use std::ffi::OsString;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use git2::build::CheckoutBuilder;
use git2::{
    BranchType, CheckoutNotificationType, ConfigLevel, Delta, DiffFindOptions, DiffOptions, ErrorCode,
    IndexAddOption, Oid, Patch, Reference, Repository, RepositoryState, Signature, StatusOptions,
    WorktreeAddOptions, WorktreePruneOptions,
};
use serde::{Deserialize, Serialize};

use crate::outbound::{self, OutboundError, Policy, Target};

mod cli;

/// The largest unified diff text kept for one file; the rest is cut and the file marked
/// `truncated`, so that one giant generated file cannot blow up memory or the UI.
pub const MAX_PATCH_BYTES: usize = 512 * 1024;

/// The user name sent with an access token, as GitHub and most forges expect.
const TOKEN_USER: &str = "x-access-token";

/// Errors of the git operations, with messages fit to show to the user.
///
/// No message ever contains an access token or the credentials of a URL.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// The path does not exist.
    #[error("{} does not exist", .0.display())]
    NotFound(PathBuf),
    /// The folder is not the root of a git repository (parent folders are not searched).
    #[error(
        "{} is not the root of a git repository: pick the folder that contains `.git`",
        .0.display()
    )]
    NotARepository(PathBuf),
    /// The repository has no commit, so there is no branch to work from.
    #[error("the repository has no commits yet: make a first commit")]
    NoCommits,
    /// HEAD points at a commit rather than a branch.
    #[error("HEAD of {} is detached: check out a branch first", .0.display())]
    DetachedHead(PathBuf),
    /// The URL is not one we can clone from; `url` has any credentials removed.
    #[error("unsupported repository URL `{url}`: {reason}")]
    UnsupportedUrl {
        /// The URL, without credentials.
        url: String,
        /// Why it is refused and what is supported.
        reason: String,
    },
    /// The remote could not be reached (DNS, connection, TLS).
    #[error("cannot reach the remote: {0}")]
    Unreachable(String),
    /// The remote asked for credentials and the access token was missing or rejected.
    #[error("authentication failed: the remote needs a valid access token")]
    AuthFailed,
    /// The progress callback asked to stop.
    #[error("the operation was cancelled")]
    Cancelled,
    /// The repository has no remote called `origin`.
    #[error("the repository has no `origin` remote")]
    NoOrigin,
    /// The name cannot be a git branch name.
    #[error("`{0}` is not a valid branch name")]
    InvalidBranchName(String),
    /// A branch of that name already exists.
    #[error("branch `{0}` already exists")]
    BranchExists(String),
    /// No local branch of that name exists.
    #[error("branch `{0}` does not exist")]
    BranchNotFound(String),
    /// The branch is checked out in another working tree, which would be left stale.
    #[error("branch `{branch}` is checked out in the working tree at {}", path.display())]
    BranchCheckedOut {
        /// The branch.
        branch: String,
        /// The working tree that has it checked out.
        path: PathBuf,
    },
    /// The working tree has local changes that the operation would overwrite or ignore.
    #[error(
        "{} has uncommitted changes ({}): commit or discard them first",
        path.display(),
        list(files)
    )]
    DirtyWorkingTree {
        /// The working tree.
        path: PathBuf,
        /// The files in the way, relative to the working tree.
        files: Vec<String>,
    },
    /// The merge would conflict; nothing was changed.
    #[error("the merge has conflicts in {}", list(paths))]
    Conflicts {
        /// The conflicting paths.
        paths: Vec<String>,
    },
    /// The local and remote histories have diverged.
    #[error("the local and remote branches have diverged, so a fast-forward is not possible")]
    NotFastForward,
    /// The remote refused to update the branch.
    #[error("the remote rejected the push of `{branch}`: {reason}")]
    PushRejected {
        /// The branch.
        branch: String,
        /// The remote's reason.
        reason: String,
    },
    /// The destination exists and is not an empty directory.
    #[error("{} already exists and is not an empty directory", .0.display())]
    DestinationNotEmpty(PathBuf),
    /// The path is not a linked worktree of the repository.
    #[error("{} is not a worktree of this repository", .0.display())]
    NotAWorktree(PathBuf),
    /// Any other git or file-system error.
    #[error("git error: {0}")]
    Git(String),
}

impl GitError {
    /// Whether this is the outbound policy refusing the remote's address (not its URL's
    /// syntax), which callers may word differently for people who may not see addresses.
    pub fn is_address_refusal(&self) -> bool {
        matches!(self, GitError::UnsupportedUrl { reason, .. } if reason.ends_with(outbound::ALLOW_HINT))
    }

    /// Whether the remote failed or refused (unreachable, unauthorised, not found, stalled):
    /// what members of a team server see only as one "could not reach or read" answer.
    pub fn is_remote_failure(&self) -> bool {
        matches!(self, GitError::Unreachable(_) | GitError::AuthFailed | GitError::Git(_))
    }
}

/// The result of the git operations.
pub type Result<T> = std::result::Result<T, GitError>;

/// A local repository as Taskyard sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RepoInfo {
    /// The canonical work-tree root (the git directory for a bare repository).
    pub path: PathBuf,
    /// The branch HEAD points at.
    pub default_branch: String,
    /// The commit at the tip of `default_branch`.
    pub head_commit: String,
    /// The URL of `origin`, without any credentials.
    pub origin_url: Option<String>,
}

/// How far a clone has got, as reported by git.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CloneProgress {
    /// Objects received so far.
    pub received_objects: usize,
    /// Objects the remote will send.
    pub total_objects: usize,
    /// Deltas resolved so far.
    pub indexed_deltas: usize,
    /// Deltas to resolve.
    pub total_deltas: usize,
    /// Bytes received so far.
    pub received_bytes: usize,
}

/// What a pull did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PullOutcome {
    /// The branch already contained everything from its upstream.
    UpToDate,
    /// The branch (and its working files) moved forward.
    FastForwarded {
        /// The commit before.
        from: String,
        /// The commit after.
        to: String,
    },
}

/// A linked worktree where a run works on its own branch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Worktree {
    /// The canonical path of the worktree.
    pub path: PathBuf,
    /// The branch checked out in it.
    pub branch: String,
    /// The branch it was started from.
    pub base_branch: String,
    /// Where `branch` left `base_branch`: their merge base when the worktree was made.
    pub base_commit: String,
}

/// How a file changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum FileStatus {
    /// New file (also an untracked file in a working-tree diff).
    Added,
    /// Content or mode changed.
    Modified,
    /// File removed.
    Deleted,
    /// File moved, possibly with changes.
    Renamed,
    /// File copied, possibly with changes.
    Copied,
    /// Kind changed, e.g. a file became a symlink.
    TypeChange,
}

/// The change to one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FileDiff {
    /// The path after the change (before it, for a deleted file).
    pub path: String,
    /// The path before a rename or copy.
    pub old_path: Option<String>,
    /// How the file changed.
    pub status: FileStatus,
    /// Lines added.
    pub insertions: usize,
    /// Lines removed.
    pub deletions: usize,
    /// Whether git considers the file binary (then `patch` has no lines).
    pub binary: bool,
    /// The unified diff of this file, at most [`MAX_PATCH_BYTES`].
    pub patch: String,
    /// Whether `patch` was cut short.
    pub truncated: bool,
}

/// The changes of a branch (or worktree) since it left its base.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Diff {
    /// The merge base the diff starts from.
    pub base_commit: String,
    /// The branch tip (for a worktree diff, its HEAD; the working files are compared).
    pub head_commit: String,
    /// The changed files, in path order.
    pub files: Vec<FileDiff>,
    /// Lines added in all files.
    pub insertions: usize,
    /// Lines removed in all files.
    pub deletions: usize,
}

/// What a merge did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MergeOutcome {
    /// The target branch already contained the branch.
    AlreadyUpToDate,
    /// The target branch was moved forward to `commit`.
    FastForward {
        /// The new tip.
        commit: String,
    },
    /// A merge commit with two parents was made.
    MergeCommit {
        /// The merge commit.
        commit: String,
    },
}

/// Describes a local repository for adding it to Taskyard.
///
/// `path` must be the repository root: parent folders are not searched, so that a project
/// never silently points at a bigger repository than the user picked.
pub fn open_local(path: &Path) -> Result<RepoInfo> {
    let repo = open_repo(path)?;
    repo_info(&repo)
}

/// Checks that `url` is one Taskyard can clone: `https://` or `http://` with a host and no
/// embedded credentials.
pub fn validate_remote_url(url: &str) -> Result<()> {
    const SUPPORTED: &str = "only https:// and http:// URLs are supported";
    let refuse = |reason: &str| {
        Err(GitError::UnsupportedUrl { url: strip_credentials(url), reason: reason.to_owned() })
    };
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return refuse("the URL contains spaces or control characters");
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return if is_scp_like(url) {
            refuse(&format!(
                "SSH addresses are not supported: {SUPPORTED}; use the repository's https:// URL"
            ))
        } else {
            refuse(&format!("this is not a URL: {SUPPORTED}"))
        };
    };
    match scheme.to_ascii_lowercase().as_str() {
        "https" | "http" => {}
        "ssh" | "git+ssh" | "ssh+git" => {
            return refuse(&format!("SSH is not supported: {SUPPORTED}; use the repository's https:// URL"));
        }
        "file" => {
            return refuse(&format!(
                "file URLs are not supported: {SUPPORTED}; add a local folder as a local repository"
            ));
        }
        "git" => {
            return refuse(&format!("the git:// protocol is not supported: {SUPPORTED}"));
        }
        _ => return refuse(SUPPORTED),
    }
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    if authority.contains('@') {
        return refuse(
            "the URL contains credentials: remove them and put the access token in the token field",
        );
    }
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        match v6.split_once(']') {
            Some((host, tail)) if !host.is_empty() => match tail {
                "" => (host, None),
                _ => match tail.strip_prefix(':') {
                    Some(port) => (host, Some(port)),
                    None => return refuse("the URL's host is malformed"),
                },
            },
            _ => return refuse("the URL's host is malformed"),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return refuse("the URL has no host");
    }
    let host_ok = if authority.starts_with('[') {
        host.chars().all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
    } else {
        host.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
    };
    if !host_ok {
        return refuse("the URL's host is malformed");
    }
    if let Some(port) = port
        && !matches!(port.parse::<u16>(), Ok(p) if p > 0)
    {
        return refuse("the URL's port is not a number between 1 and 65535");
    }
    if path.trim_start_matches('/').is_empty() || path.starts_with(['?', '#']) {
        return refuse("the URL has no repository path");
    }
    if let Err(OutboundError::Invalid(reason)) = outbound::Endpoint::parse(url) {
        return refuse(&reason);
    }
    Ok(())
}

/// Vets `url` against `policy` (resolving its host once): the target every network operation
/// connects to, pinned to the addresses checked here.
pub fn vet_remote(url: &str, policy: &Policy) -> Result<Target> {
    validate_remote_url(url)?;
    outbound::vet(url, policy).map_err(|e| match e {
        OutboundError::Invalid(reason) => GitError::UnsupportedUrl { url: strip_credentials(url), reason },
        OutboundError::Forbidden { .. } => {
            GitError::UnsupportedUrl { url: strip_credentials(url), reason: e.to_string() }
        }
        OutboundError::Unresolved { .. } => GitError::Unreachable(e.to_string()),
    })
}

/// Clones `url` into `dest` and describes the result.
///
/// `dest` must not exist or be an empty directory; on any failure what the clone left there is
/// removed again. The host is vetted against `policy` first (see [`vet_remote`]). Returning
/// `false` from `progress` cancels the clone.
pub fn clone(
    url: &str,
    dest: &Path,
    token: Option<&str>,
    policy: &Policy,
    progress: &mut dyn FnMut(&CloneProgress) -> bool,
) -> Result<RepoInfo> {
    let target = vet_remote(url, policy)?;
    clone_vetted(&target, dest, token, policy, progress)
}

/// Clones an already vetted target (see [`clone`]); the connection goes to one of its vetted
/// addresses, the token only to its host, redirects are not followed, and the clone ends when
/// the remote stalls (`policy.low_speed_*`) or at `policy.deadline`.
pub fn clone_vetted(
    target: &Target,
    dest: &Path,
    token: Option<&str>,
    policy: &Policy,
    progress: &mut dyn FnMut(&CloneProgress) -> bool,
) -> Result<RepoInfo> {
    let cleanup = Cleanup::prepare(dest)?;
    tracing::debug!(url = %strip_credentials(&target.url), dest = %dest.display(), "cloning");
    let result = clone_into(target, dest, token, policy, progress);
    if result.is_err() {
        cleanup.run();
    }
    result
}

/// Fetches `origin` and fast-forwards the checked-out branch to its upstream
/// (`origin/<branch>`), updating the working files.
///
/// Local changes are kept unless the update touches them, which is refused with
/// [`GitError::DirtyWorkingTree`]; a local branch ahead of its upstream is
/// [`PullOutcome::UpToDate`]. The origin's host is vetted against `policy`.
pub fn pull(repo: &Path, token: Option<&str>, policy: &Policy) -> Result<PullOutcome> {
    let path = repo;
    let repo = open_repo(repo)?;
    let (refname, branch, local) = checked_out_branch(&repo)?;
    let remote = find_origin(&repo)?;
    let url = remote.url().map_err(|_| GitError::NoOrigin)?.to_owned();
    let mut refspecs: Vec<String> =
        remote.fetch_refspecs().or_git()?.iter().flatten().flatten().map(str::to_owned).collect();
    if refspecs.is_empty() {
        refspecs.push("+refs/heads/*:refs/remotes/origin/*".to_owned());
    }
    drop(remote);
    check_network_config(&repo, policy)?;
    let target = vet_remote(&url, policy)?;
    let mut args: Vec<OsString> = ["fetch", "--no-write-fetch-head", "--", &url].map(OsString::from).into();
    args.extend(refspecs.into_iter().map(OsString::from));
    let network = cli::Network { target: &target, token, policy };
    cli::run(Some(repo.path()), &args, &network, None)?;
    drop(repo);
    let repo = open_repo(path)?;

    let upstream_name = repo
        .branch_upstream_name(&refname)
        .ok()
        .and_then(|name| name.as_str().ok().map(str::to_owned))
        .filter(|name| name.starts_with("refs/remotes/origin/"))
        .unwrap_or_else(|| format!("refs/remotes/origin/{branch}"));
    let upstream = repo.refname_to_id(&upstream_name).map_err(|_| {
        GitError::BranchNotFound(upstream_name.trim_start_matches("refs/remotes/").to_owned())
    })?;
    if upstream == local || repo.graph_descendant_of(local, upstream).or_git()? {
        return Ok(PullOutcome::UpToDate);
    }
    if !repo.graph_descendant_of(upstream, local).or_git()? {
        return Err(GitError::NotFastForward);
    }
    move_checked_out_branch(&repo, &refname, local, upstream, "pull: fast-forward")?;
    tracing::debug!(%branch, from = %local, to = %upstream, "pulled");
    Ok(PullOutcome::FastForwarded { from: local.to_string(), to: upstream.to_string() })
}

/// Refuses, where addresses are checked, a repository whose own configuration could send
/// git elsewhere than the vetted host (URL rewrites, proxies, any `http.*` setting).
fn check_network_config(repo: &Repository, policy: &Policy) -> Result<()> {
    if !policy.check_addresses {
        return Ok(());
    }
    let config = repo.config().or_git()?;
    for level in [ConfigLevel::Local, ConfigLevel::Worktree] {
        let Ok(local) = config.open_level(level) else { continue };
        let entries = local.entries(None).or_git()?;
        let mut entries = entries;
        while let Some(entry) = entries.next() {
            let entry = entry.or_git()?;
            let name = entry.name().unwrap_or_default().to_ascii_lowercase();
            let risky = name.starts_with("url.")
                || name.starts_with("http.")
                || (name.starts_with("remote.") && (name.ends_with(".proxy") || name.ends_with(".vcs")))
                || name.starts_with("include")
                || name == "core.gitproxy"
                || name == "core.sshcommand";
            if risky {
                return Err(GitError::Git(format!(
                    "the repository's own git configuration sets `{name}`, which this server does not allow for \
                     network operations: remove it from .git/config"
                )));
            }
        }
    }
    Ok(())
}

/// Whether a local branch called `branch` exists (an invalid name never does).
pub fn branch_exists(repo: &Path, branch: &str) -> Result<bool> {
    let repo = open_repo(repo)?;
    if !git2::Branch::name_is_valid(branch).unwrap_or(false) {
        return Ok(false);
    }
    match repo.find_branch(branch, BranchType::Local) {
        Ok(_) => Ok(true),
        Err(e) if e.code() == ErrorCode::NotFound => Ok(false),
        Err(e) => Err(convert(e)),
    }
}

/// Creates the new branch `branch` at the tip of `base_branch` and a linked worktree at
/// `path` with it checked out.
///
/// `path` must not exist or be an empty directory; its parents are created. An existing
/// `branch` is [`GitError::BranchExists`], so the caller can pick another name.
pub fn create_worktree(repo: &Path, path: &Path, branch: &str, base_branch: &str) -> Result<Worktree> {
    let repo = open_repo(repo)?;
    check_branch_name(branch)?;
    if local_branch(&repo, branch).is_ok() {
        return Err(GitError::BranchExists(branch.to_owned()));
    }
    let (_, base) = local_branch(&repo, base_branch)?;
    let base_commit = repo.find_commit(base).or_git()?;
    let target = prepare_worktree_dir(path)?;
    let mut created = repo.branch(branch, &base_commit, false).map_err(|e| match e.code() {
        ErrorCode::Exists => GitError::BranchExists(branch.to_owned()),
        _ => convert(e),
    })?;
    match add_worktree(&repo, &target, created.get()) {
        Ok(path) => {
            tracing::debug!(%branch, path = %path.display(), "created worktree");
            Ok(Worktree {
                path,
                branch: branch.to_owned(),
                base_branch: base_branch.to_owned(),
                base_commit: base.to_string(),
            })
        }
        Err(e) => {
            // The branch is ours and has no commits of its own yet.
            if let Err(delete) = created.delete() {
                tracing::warn!(%branch, error = %delete, "could not delete the new branch");
            }
            Err(e)
        }
    }
}

/// Checks out the existing branch `branch` in a new linked worktree at `path` (a later run
/// of a task reuses its branch); `base_branch` is only used to compute `base_commit`.
pub fn attach_worktree(repo: &Path, path: &Path, branch: &str, base_branch: &str) -> Result<Worktree> {
    let repo = open_repo(repo)?;
    let (refname, tip) = local_branch(&repo, branch)?;
    let (_, base) = local_branch(&repo, base_branch)?;
    prune_missing_worktrees(&repo);
    if let CheckedOut::Here(at) | CheckedOut::Elsewhere(at) = checked_out(&repo, &refname)? {
        return Err(GitError::BranchCheckedOut { branch: branch.to_owned(), path: at });
    }
    let base_commit = repo.merge_base(base, tip).unwrap_or(base);
    let target = prepare_worktree_dir(path)?;
    let reference = repo.find_reference(&refname).or_git()?;
    let path = add_worktree(&repo, &target, &reference)?;
    tracing::debug!(%branch, path = %path.display(), "attached worktree");
    Ok(Worktree {
        path,
        branch: branch.to_owned(),
        base_branch: base_branch.to_owned(),
        base_commit: base_commit.to_string(),
    })
}

/// Forgets linked worktrees whose folder is gone (a server that held them is gone with its
/// disk), so their branches can be checked out again.
fn prune_missing_worktrees(repo: &Repository) {
    let Ok(names) = repo.worktrees() else { return };
    for name in names.iter() {
        let Ok(Some(name)) = name else { continue };
        if let Ok(wt) = repo.find_worktree(name)
            && wt.validate().is_err()
            && let Err(e) = wt.prune(None)
        {
            tracing::warn!(worktree = name, error = %e, "could not forget a missing worktree");
        }
    }
}

/// Deletes the linked worktree at `path` (uncommitted changes included) and its entry in the
/// repository, keeping its branch.
///
/// Works when the directory is already gone; a path that is not (or no longer) a worktree
/// of `repo` and does not exist is fine too.
pub fn remove_worktree(repo: &Path, path: &Path) -> Result<()> {
    let repo = open_repo(repo)?;
    let target = absolute_normalized(path)?;
    let Some(worktree) = find_worktree_at(&repo, &target)? else {
        return match fs::symlink_metadata(path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            _ => Err(GitError::NotAWorktree(path.to_owned())),
        };
    };
    if worktree.is_locked().or_git()? != git2::WorktreeLockStatus::Unlocked {
        return Err(GitError::Git(format!("the worktree at {} is locked", path.display())));
    }
    match fs::remove_dir_all(&target) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_error(&target, e)),
    }
    worktree.prune(Some(WorktreePruneOptions::new().valid(true))).or_git()?;
    tracing::debug!(path = %target.display(), "removed worktree");
    Ok(())
}

/// Stages every change in the worktree (new, modified and deleted files; ignored files stay
/// out) and commits it on its branch. `None` when there was nothing to commit.
///
/// The author is the repository's configured `user.name`/`user.email`, else
/// `Taskyard <taskyard@localhost>`.
pub fn commit_all(worktree: &Path, message: &str) -> Result<Option<String>> {
    let repo = open_repo(worktree)?;
    if repo.is_bare() {
        return Err(GitError::Git(format!(
            "{} is a bare repository without working files",
            worktree.display()
        )));
    }
    let parent = match repo.head() {
        Ok(head) if head.is_branch() => Some(head.peel_to_commit().or_git()?),
        Ok(_) => return Err(GitError::DetachedHead(worktree.to_owned())),
        Err(e) if matches!(e.code(), ErrorCode::UnbornBranch | ErrorCode::NotFound) => None,
        Err(e) => return Err(convert(e)),
    };
    let mut index = repo.index().or_git()?;
    // Like `git add -A`: libgit2's add-all also drops deleted files from the index.
    index.add_all(["*"], IndexAddOption::DEFAULT, None).or_git()?;
    index.write().or_git()?;
    let tree_id = index.write_tree().or_git()?;
    if parent.as_ref().is_some_and(|p| p.tree_id() == tree_id) {
        return Ok(None);
    }
    let tree = repo.find_tree(tree_id).or_git()?;
    let signature = signature(&repo)?;
    let parents: Vec<_> = parent.iter().collect();
    let id = repo.commit(Some("HEAD"), &signature, &signature, message, &tree, &parents).or_git()?;
    tracing::debug!(commit = %id, "committed");
    Ok(Some(id.to_string()))
}

/// The commit a worktree's `HEAD` points at.
pub fn head_commit(worktree: &Path) -> Result<String> {
    let repo = open_repo(worktree)?;
    let head = repo.head().or_git()?;
    Ok(head.peel_to_commit().or_git()?.id().to_string())
}

/// Whether a worktree has changes its branch does not hold (modified, staged or new files;
/// ignored files do not count).
pub fn has_uncommitted_changes(worktree: &Path) -> Result<bool> {
    let repo = open_repo(worktree)?;
    let mut options = StatusOptions::new();
    options.include_untracked(true).recurse_untracked_dirs(false).include_ignored(false);
    let statuses = repo.statuses(Some(&mut options)).or_git()?;
    Ok(!statuses.is_empty())
}

/// Puts a worktree back to `commit`: its branch points there again, tracked files are reset
/// and untracked ones (ignored ones included) removed — a clean restart of the work that
/// began at `commit`.
pub fn reset_worktree(worktree: &Path, commit: &str) -> Result<()> {
    let repo = open_repo(worktree)?;
    let oid =
        git2::Oid::from_str(commit).map_err(|e| GitError::Git(format!("bad commit id {commit}: {e}")))?;
    let target = repo.find_object(oid, None).or_git()?;
    repo.reset(&target, git2::ResetType::Hard, None).or_git()?;
    let mut options = StatusOptions::new();
    options.include_untracked(true).recurse_untracked_dirs(true).include_ignored(true);
    let statuses = repo.statuses(Some(&mut options)).or_git()?;
    let root = repo
        .workdir()
        .ok_or_else(|| GitError::Git("the worktree has no working files".into()))?
        .to_path_buf();
    for entry in statuses.iter() {
        let Ok(path) = entry.path() else { continue };
        let status = entry.status();
        if status.is_wt_new() || status.is_ignored() {
            let full = root.join(path);
            let removed = if full.is_dir() { fs::remove_dir_all(&full) } else { fs::remove_file(&full) };
            if let Err(e) = removed
                && e.kind() != std::io::ErrorKind::NotFound
            {
                return Err(io_error(&full, e));
            }
        }
    }
    tracing::debug!(%commit, path = %worktree.display(), "reset worktree");
    Ok(())
}

/// What `branch` changed since it left `base_branch`: the diff from their merge base to the
/// tip of `branch`, with renames detected.
pub fn diff(repo: &Path, base_branch: &str, branch: &str) -> Result<Diff> {
    let repo = open_repo(repo)?;
    let (_, head) = local_branch(&repo, branch)?;
    let base = merge_base(&repo, base_branch, head)?;
    let base_tree = repo.find_commit(base).and_then(|c| c.tree()).or_git()?;
    let head_tree = repo.find_commit(head).and_then(|c| c.tree()).or_git()?;
    let mut options = diff_options();
    let mut diff = repo.diff_tree_to_tree(Some(&base_tree), Some(&head_tree), Some(&mut options)).or_git()?;
    diff.find_similar(Some(DiffFindOptions::new().renames(true))).or_git()?;
    collect_diff(&diff, base, head)
}

/// What changed from commit `base` to commit `head` (full ids): the diff of a finished run,
/// which stays the same after its branch was merged or moved on.
pub fn diff_commits(repo: &Path, base: &str, head: &str) -> Result<Diff> {
    let repo = open_repo(repo)?;
    let parse =
        |id: &str| git2::Oid::from_str(id).map_err(|_| GitError::Git(format!("`{id}` is not a commit id")));
    let (base, head) = (parse(base)?, parse(head)?);
    let base_tree = repo.find_commit(base).and_then(|c| c.tree()).or_git()?;
    let head_tree = repo.find_commit(head).and_then(|c| c.tree()).or_git()?;
    let mut options = diff_options();
    let mut diff = repo.diff_tree_to_tree(Some(&base_tree), Some(&head_tree), Some(&mut options)).or_git()?;
    diff.find_similar(Some(DiffFindOptions::new().renames(true))).or_git()?;
    collect_diff(&diff, base, head)
}

/// Like [`diff`], but against the worktree's working files, uncommitted and untracked (not
/// ignored) files included: the live diff of a running task.
pub fn diff_worktree(worktree: &Path, base_branch: &str) -> Result<Diff> {
    let repo = open_repo(worktree)?;
    let head = repo
        .head()
        .and_then(|h| h.peel_to_commit())
        .map_err(|e| match e.code() {
            ErrorCode::UnbornBranch | ErrorCode::NotFound => GitError::NoCommits,
            _ => convert(e),
        })?
        .id();
    let base = merge_base(&repo, base_branch, head)?;
    let base_tree = repo.find_commit(base).and_then(|c| c.tree()).or_git()?;
    let mut options = diff_options();
    options.include_untracked(true).recurse_untracked_dirs(true).show_untracked_content(true);
    let mut diff = repo.diff_tree_to_workdir_with_index(Some(&base_tree), Some(&mut options)).or_git()?;
    diff.find_similar(Some(DiffFindOptions::new().renames(true).for_untracked(true))).or_git()?;
    collect_diff(&diff, base, head)
}

/// Merges `branch` into `into`: a fast-forward when possible, else a merge commit with
/// `message`, computed in memory.
///
/// Conflicts are [`GitError::Conflicts`] with nothing changed. When `into` is checked out in
/// this repository's working tree, its files are updated too, which is refused while tracked
/// files have uncommitted changes; `into` checked out in another worktree is refused.
pub fn merge(repo: &Path, branch: &str, into: &str, message: &str) -> Result<MergeOutcome> {
    let repo = open_repo(repo)?;
    let (_, theirs) = local_branch(&repo, branch)?;
    let (into_ref, ours) = local_branch(&repo, into)?;
    if ours == theirs || repo.graph_descendant_of(ours, theirs).or_git()? {
        return Ok(MergeOutcome::AlreadyUpToDate);
    }
    let checked_out_here = match checked_out(&repo, &into_ref)? {
        CheckedOut::Here(_) => true,
        CheckedOut::Elsewhere(path) => {
            return Err(GitError::BranchCheckedOut { branch: into.to_owned(), path });
        }
        CheckedOut::Nowhere => false,
    };
    let fast_forward = repo.graph_descendant_of(theirs, ours).or_git()?;
    let merged_index = if fast_forward {
        None
    } else {
        let ours_commit = repo.find_commit(ours).or_git()?;
        let theirs_commit = repo.find_commit(theirs).or_git()?;
        let index = repo.merge_commits(&ours_commit, &theirs_commit, None).or_git()?;
        if index.has_conflicts() {
            return Err(GitError::Conflicts { paths: conflict_paths(&index)? });
        }
        Some((index, ours_commit, theirs_commit))
    };
    if checked_out_here {
        ensure_clean(&repo)?;
    }
    let (new, outcome) = match merged_index {
        None => (theirs, MergeOutcome::FastForward { commit: theirs.to_string() }),
        Some((mut index, ours_commit, theirs_commit)) => {
            let tree_id = index.write_tree_to(&repo).or_git()?;
            let tree = repo.find_tree(tree_id).or_git()?;
            let signature = signature(&repo)?;
            let id = repo
                .commit(None, &signature, &signature, message, &tree, &[&ours_commit, &theirs_commit])
                .or_git()?;
            (id, MergeOutcome::MergeCommit { commit: id.to_string() })
        }
    };
    let log = format!("merge {branch} into {into}");
    if checked_out_here {
        move_checked_out_branch(&repo, &into_ref, ours, new, &log)?;
    } else {
        move_branch(&repo, &into_ref, ours, new, &log)?;
    }
    tracing::debug!(%branch, %into, commit = %new, "merged");
    Ok(outcome)
}

/// Pushes the local `branch` to the branch of the same name on `origin` (its push URL when
/// one is set), vetted against `policy`, and moves `origin/<branch>` along.
///
/// A remote branch with commits the local one lacks is [`GitError::NotFastForward`].
pub fn push(repo: &Path, branch: &str, token: Option<&str>, policy: &Policy) -> Result<()> {
    let repo = open_repo(repo)?;
    let (refname, tip) = local_branch(&repo, branch)?;
    let remote = find_origin(&repo)?;
    let url = match remote.pushurl() {
        Ok(Some(url)) => url.to_owned(),
        _ => remote.url().map_err(|_| GitError::NoOrigin)?.to_owned(),
    };
    drop(remote);
    check_network_config(&repo, policy)?;
    let target = vet_remote(&url, policy)?;
    let args: Vec<OsString> =
        ["push", "--porcelain", "--", &url, &format!("{refname}:{refname}")].map(OsString::from).into();
    let network = cli::Network { target: &target, token, policy };
    cli::run(Some(repo.path()), &args, &network, None)?;
    let tracking = format!("refs/remotes/origin/{branch}");
    if let Err(e) = repo.reference(&tracking, tip, true, "push") {
        tracing::warn!(%branch, error = %e, "pushed, but could not move the remote-tracking branch");
    }
    tracing::debug!(%branch, "pushed");
    Ok(())
}

/// Opens exactly the repository at `path`, without searching parent folders.
fn open_repo(path: &Path) -> Result<Repository> {
    if let Err(e) = fs::metadata(path) {
        return Err(io_error(path, e));
    }
    Repository::open(path).map_err(|e| match e.code() {
        ErrorCode::NotFound => GitError::NotARepository(path.to_owned()),
        _ => convert(e),
    })
}

/// Makes `branch` the base of a fresh clone when the remote has it: a local branch at
/// `origin/<branch>` (tracking it) unless one exists. Returns the clone's info with that base,
/// or unchanged (and `false`) when there is no such branch.
pub fn prefer_branch(info: RepoInfo, branch: &str) -> Result<(RepoInfo, bool)> {
    if info.default_branch == branch {
        return Ok((info, true));
    }
    let repo = open_repo(&info.path)?;
    let local = match repo.find_branch(branch, git2::BranchType::Local) {
        Ok(local) => local,
        Err(_) => {
            let Ok(remote) = repo.find_branch(&format!("origin/{branch}"), git2::BranchType::Remote) else {
                return Ok((info, false));
            };
            let commit = remote.get().peel_to_commit().map_err(convert)?;
            let mut local = repo.branch(branch, &commit, false).map_err(convert)?;
            local.set_upstream(Some(&format!("origin/{branch}"))).map_err(convert)?;
            local
        }
    };
    let head = local.get().peel_to_commit().map_err(convert)?.id().to_string();
    Ok((RepoInfo { default_branch: branch.to_owned(), head_commit: head, ..info }, true))
}

fn repo_info(repo: &Repository) -> Result<RepoInfo> {
    let root = repo.workdir().unwrap_or_else(|| repo.path());
    let path = fs::canonicalize(root).map_err(|e| io_error(root, e))?;
    let (_, default_branch, head) = match checked_out_branch(repo) {
        Err(GitError::DetachedHead(_)) => return Err(GitError::DetachedHead(path)),
        other => other?,
    };
    let origin_url =
        repo.find_remote("origin").ok().and_then(|remote| remote.url().ok().map(strip_credentials));
    Ok(RepoInfo { path, default_branch, head_commit: head.to_string(), origin_url })
}

/// The branch HEAD points at: its full name, short name and tip.
fn checked_out_branch(repo: &Repository) -> Result<(String, String, Oid)> {
    let head = match repo.head() {
        Ok(head) => head,
        Err(e) if matches!(e.code(), ErrorCode::UnbornBranch | ErrorCode::NotFound) => {
            return Err(GitError::NoCommits);
        }
        Err(e) => return Err(convert(e)),
    };
    let Some(refname) = head.name().ok().filter(|_| head.is_branch()) else {
        let root = repo.workdir().unwrap_or_else(|| repo.path());
        return Err(GitError::DetachedHead(root.to_owned()));
    };
    let short = refname.trim_start_matches("refs/heads/").to_owned();
    let tip = head.peel_to_commit().or_git()?.id();
    Ok((refname.to_owned(), short, tip))
}

/// The full name and tip of the local branch `name`.
fn local_branch(repo: &Repository, name: &str) -> Result<(String, Oid)> {
    let not_found = || GitError::BranchNotFound(name.to_owned());
    if !git2::Branch::name_is_valid(name).unwrap_or(false) {
        return Err(not_found());
    }
    let refname = format!("refs/heads/{name}");
    match repo.find_reference(&refname).and_then(|r| r.peel_to_commit()) {
        Ok(commit) => Ok((refname, commit.id())),
        Err(e) if matches!(e.code(), ErrorCode::NotFound | ErrorCode::InvalidSpec) => Err(not_found()),
        Err(e) => Err(convert(e)),
    }
}

fn check_branch_name(name: &str) -> Result<()> {
    // `HEAD` is a valid ref name component but would be a confusing branch.
    if name != "HEAD" && git2::Branch::name_is_valid(name).unwrap_or(false) {
        Ok(())
    } else {
        Err(GitError::InvalidBranchName(name.to_owned()))
    }
}

fn merge_base(repo: &Repository, base_branch: &str, head: Oid) -> Result<Oid> {
    let (_, base) = local_branch(repo, base_branch)?;
    repo.merge_base(base, head).map_err(|e| match e.code() {
        ErrorCode::NotFound => GitError::Git(format!("`{base_branch}` and the branch share no history")),
        _ => convert(e),
    })
}

fn find_origin(repo: &Repository) -> Result<git2::Remote<'_>> {
    repo.find_remote("origin").map_err(|e| match e.code() {
        ErrorCode::NotFound | ErrorCode::InvalidSpec => GitError::NoOrigin,
        _ => convert(e),
    })
}

fn signature(repo: &Repository) -> Result<Signature<'static>> {
    match repo.signature() {
        Ok(signature) => Ok(signature),
        Err(_) => Signature::now("Taskyard", "taskyard@localhost").or_git(),
    }
}

/// Where a branch is checked out, seen from one repository.
enum CheckedOut {
    /// In this repository's own working tree.
    Here(PathBuf),
    /// In another working tree of the same repository.
    Elsewhere(PathBuf),
    /// Nowhere.
    Nowhere,
}

fn checked_out(repo: &Repository, refname: &str) -> Result<CheckedOut> {
    fn head_is(repo: &Repository, refname: &str) -> bool {
        !repo.is_bare()
            && repo
                .find_reference("HEAD")
                .ok()
                .is_some_and(|head| head.symbolic_target().ok().flatten() == Some(refname))
    }
    let workdir = |repo: &Repository| {
        repo.workdir().map(|dir| fs::canonicalize(dir).unwrap_or_else(|_| dir.to_owned()))
    };
    let own = workdir(repo);
    if head_is(repo, refname) {
        return Ok(CheckedOut::Here(own.unwrap_or_default()));
    }
    if repo.is_worktree() {
        let main = Repository::open(repo.commondir()).or_git()?;
        if head_is(&main, refname) {
            return Ok(CheckedOut::Elsewhere(workdir(&main).unwrap_or_default()));
        }
    }
    for name in repo.worktrees().or_git()?.iter().flatten().flatten() {
        let worktree = repo.find_worktree(name).or_git()?;
        // Like libgit2, a worktree whose directory is gone no longer holds its branch.
        let Ok(linked) = Repository::open_from_worktree(&worktree) else {
            continue;
        };
        let path = workdir(&linked);
        if path != own && head_is(&linked, refname) {
            return Ok(CheckedOut::Elsewhere(path.unwrap_or_default()));
        }
    }
    Ok(CheckedOut::Nowhere)
}

/// Refuses when tracked files of the working tree have uncommitted changes.
fn ensure_clean(repo: &Repository) -> Result<()> {
    if repo.state() != RepositoryState::Clean {
        return Err(GitError::Git(format!(
            "an unfinished merge, rebase or similar is in progress in {}",
            workdir_path(repo).display()
        )));
    }
    let mut options = StatusOptions::new();
    options.include_untracked(false).include_ignored(false).exclude_submodules(true);
    let statuses = repo.statuses(Some(&mut options)).or_git()?;
    let files: Vec<String> = statuses
        .iter()
        .filter(|entry| entry.status() != git2::Status::CURRENT)
        .map(|entry| String::from_utf8_lossy(entry.path_bytes()).into_owned())
        .collect();
    if files.is_empty() {
        Ok(())
    } else {
        Err(GitError::DirtyWorkingTree { path: workdir_path(repo), files })
    }
}

fn workdir_path(repo: &Repository) -> PathBuf {
    let dir = repo.workdir().unwrap_or_else(|| repo.path());
    fs::canonicalize(dir).unwrap_or_else(|_| dir.to_owned())
}

/// Moves the branch checked out in `repo`'s working tree from `old` to `new`, updating the
/// working files first so that a refusal leaves everything as it was.
fn move_checked_out_branch(repo: &Repository, refname: &str, old: Oid, new: Oid, log: &str) -> Result<()> {
    if !repo.is_bare() {
        let target = repo.find_commit(new).or_git()?;
        let in_the_way = RefCell::new(Vec::new());
        let result = {
            let mut checkout = CheckoutBuilder::new();
            checkout.safe().notify_on(CheckoutNotificationType::CONFLICT).notify(|_, path, _, _, _| {
                if let Some(path) = path {
                    in_the_way.borrow_mut().push(path.to_string_lossy().into_owned());
                }
                true
            });
            repo.checkout_tree(target.as_object(), Some(&mut checkout))
        };
        match result {
            Ok(()) => {}
            Err(e) if e.code() == ErrorCode::Conflict => {
                return Err(GitError::DirtyWorkingTree {
                    path: workdir_path(repo),
                    files: in_the_way.into_inner(),
                });
            }
            Err(e) => return Err(convert(e)),
        }
    }
    move_branch(repo, refname, old, new, log)
}

/// Moves a branch from `old` to `new`, failing if someone else moved it meanwhile.
fn move_branch(repo: &Repository, refname: &str, old: Oid, new: Oid, log: &str) -> Result<()> {
    repo.reference_matching(refname, new, true, old, log).map(drop).map_err(|e| match e.code() {
        ErrorCode::Modified => GitError::Git(format!(
            "{} changed during the operation: try again",
            refname.trim_start_matches("refs/heads/")
        )),
        _ => convert(e),
    })
}

fn conflict_paths(index: &git2::Index) -> Result<Vec<String>> {
    let mut paths = Vec::new();
    for conflict in index.conflicts().or_git()? {
        let conflict = conflict.or_git()?;
        if let Some(entry) = conflict.our.or(conflict.their).or(conflict.ancestor) {
            paths.push(String::from_utf8_lossy(&entry.path).into_owned());
        }
    }
    paths.sort();
    paths.dedup();
    Ok(paths)
}

/// Makes `path` absolute with canonical parents, checks that it is free (an empty directory
/// is removed, since libgit2 creates the directory itself) and creates its parents.
fn prepare_worktree_dir(path: &Path) -> Result<PathBuf> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() && is_empty_dir(path)? => {
            fs::remove_dir(path).map_err(|e| io_error(path, e))?;
        }
        Ok(_) => return Err(GitError::DestinationNotEmpty(path.to_owned())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_error(path, e)),
    }
    let absolute = absolute_normalized(path)?;
    if let Some(parent) = absolute.parent() {
        fs::create_dir_all(parent).map_err(|e| io_error(parent, e))?;
    }
    absolute_normalized(path)
}

/// `path` made absolute, with its longest existing ancestor canonicalized; works for paths
/// that do not exist (any more).
fn absolute_normalized(path: &Path) -> Result<PathBuf> {
    let absolute = std::path::absolute(path).map_err(|e| io_error(path, e))?;
    let mut existing = absolute.as_path();
    let mut rest = Vec::new();
    loop {
        if let Ok(canonical) = fs::canonicalize(existing) {
            return Ok(rest.iter().rev().fold(canonical, |acc, part| acc.join(part)));
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_owned());
                existing = parent;
            }
            _ => return Ok(absolute),
        }
    }
}

fn find_worktree_at(repo: &Repository, target: &Path) -> Result<Option<git2::Worktree>> {
    for name in repo.worktrees().or_git()?.iter().flatten().flatten() {
        let worktree = repo.find_worktree(name).or_git()?;
        if absolute_normalized(worktree.path())? == target {
            return Ok(Some(worktree));
        }
    }
    Ok(None)
}

/// Adds a linked worktree at `target` (absolute, free) with `branch` checked out.
fn add_worktree(repo: &Repository, target: &Path, branch: &Reference<'_>) -> Result<PathBuf> {
    // An entry left behind by a worktree whose directory was deleted would make two entries
    // claim the same path.
    if let Some(stale) = find_worktree_at(repo, target)? {
        stale.prune(None).or_git()?;
    }
    let name = unique_worktree_name(repo, target);
    let admin_dir = repo.commondir().join("worktrees").join(&name);
    let mut options = WorktreeAddOptions::new();
    options.reference(Some(branch));
    match repo.worktree(&name, target, Some(&options)) {
        Ok(worktree) => fs::canonicalize(worktree.path()).map_err(|e| io_error(worktree.path(), e)),
        Err(e) => {
            // libgit2 leaves its half-made directories behind.
            for dir in [target, admin_dir.as_path()] {
                if let Err(e) = fs::remove_dir_all(dir)
                    && e.kind() != io::ErrorKind::NotFound
                {
                    tracing::warn!(dir = %dir.display(), error = %e, "could not clean up");
                }
            }
            Err(convert(e))
        }
    }
}

/// A name for `.git/worktrees/<name>` derived from the path's last component: a valid ref
/// name component (the name appears in refs like `worktrees/<name>/HEAD`), not yet taken.
fn unique_worktree_name(repo: &Repository, target: &Path) -> String {
    let last = target.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
    let mut base: String = last
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '-' })
        .take(64)
        .collect();
    while base.contains("..") {
        base = base.replace("..", ".");
    }
    let mut base = base.trim_matches(['.', '-']).to_owned();
    if let Some(stripped) = base.strip_suffix(".lock") {
        base = stripped.trim_end_matches('.').to_owned();
    }
    if base.is_empty() {
        base = "worktree".to_owned();
    }
    let admin = repo.commondir().join("worktrees");
    let mut name = base.clone();
    let mut n = 1;
    while admin.join(&name).exists() {
        n += 1;
        name = format!("{base}-{n}");
    }
    name
}

fn diff_options() -> DiffOptions {
    let mut options = DiffOptions::new();
    options.include_typechange(true);
    options
}

fn collect_diff(diff: &git2::Diff<'_>, base: Oid, head: Oid) -> Result<Diff> {
    let mut files = Vec::new();
    for idx in 0..diff.deltas().len() {
        let Some(delta) = diff.get_delta(idx) else {
            continue;
        };
        let status = match delta.status() {
            Delta::Added | Delta::Untracked => FileStatus::Added,
            Delta::Deleted => FileStatus::Deleted,
            Delta::Modified => FileStatus::Modified,
            Delta::Renamed => FileStatus::Renamed,
            Delta::Copied => FileStatus::Copied,
            Delta::Typechange => FileStatus::TypeChange,
            Delta::Unmodified | Delta::Ignored | Delta::Unreadable | Delta::Conflicted => continue,
        };
        let lossy = |file: git2::DiffFile<'_>| {
            file.path().map(|p| p.to_string_lossy().into_owned()).unwrap_or_default()
        };
        let (old, new) = (lossy(delta.old_file()), lossy(delta.new_file()));
        let path = if status == FileStatus::Deleted { old.clone() } else { new };
        let old_path = matches!(status, FileStatus::Renamed | FileStatus::Copied).then_some(old);
        let mut file = FileDiff {
            path,
            old_path,
            status,
            insertions: 0,
            deletions: 0,
            binary: delta.flags().is_binary(),
            patch: String::new(),
            truncated: false,
        };
        if let Some(mut patch) = Patch::from_diff(diff, idx).or_git()? {
            let (_, insertions, deletions) = patch.line_stats().or_git()?;
            file.insertions = insertions;
            file.deletions = deletions;
            file.binary = patch.delta().flags().is_binary();
            (file.patch, file.truncated) = patch_text(&mut patch)?;
        }
        files.push(file);
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(Diff {
        base_commit: base.to_string(),
        head_commit: head.to_string(),
        insertions: files.iter().map(|f| f.insertions).sum(),
        deletions: files.iter().map(|f| f.deletions).sum(),
        files,
    })
}

/// The patch as `git diff` prints it, cut at [`MAX_PATCH_BYTES`].
fn patch_text(patch: &mut Patch<'_>) -> Result<(String, bool)> {
    let mut text = String::new();
    let mut truncated = false;
    patch
        .print(&mut |_, _, line| {
            if truncated {
                return true;
            }
            let origin = line.origin();
            let content = String::from_utf8_lossy(line.content());
            let prefix = matches!(origin, '+' | '-' | ' ');
            let len = usize::from(prefix) + content.len();
            if text.len() + len > MAX_PATCH_BYTES {
                truncated = true;
                let mut rest = String::with_capacity(len);
                if prefix {
                    rest.push(origin);
                }
                rest.push_str(&content);
                let mut cut = MAX_PATCH_BYTES - text.len();
                while !rest.is_char_boundary(cut) {
                    cut -= 1;
                }
                text.push_str(&rest[..cut]);
                return true;
            }
            if prefix {
                text.push(origin);
            }
            text.push_str(&content);
            true
        })
        .or_git()?;
    Ok((text, truncated))
}

fn clone_into(
    target: &Target,
    dest: &Path,
    token: Option<&str>,
    policy: &Policy,
    progress: &mut dyn FnMut(&CloneProgress) -> bool,
) -> Result<RepoInfo> {
    // Once before git starts, so a caller can cancel even a clone that never gets going.
    if !progress(&CloneProgress::default()) {
        return Err(GitError::Cancelled);
    }
    let args: Vec<OsString> = vec![
        "clone".into(),
        "--progress".into(),
        "--origin".into(),
        "origin".into(),
        "--".into(),
        target.url.clone().into(),
        dest.as_os_str().to_owned(),
    ];
    let network = cli::Network { target, token, policy };
    let finished = cli::run(None, &args, &network, Some(&mut *progress))?;
    let mut last = finished.progress;
    if last.received_bytes == 0 {
        last.received_bytes = pack_bytes(dest);
    }
    progress(&last);
    let repo = open_repo(dest)?;
    repo_info(&repo)
}

/// The size of the packs a clone received (git prints no byte count for small transfers).
fn pack_bytes(dest: &Path) -> usize {
    fs::read_dir(dest.join(".git/objects/pack"))
        .map(|entries| {
            entries
                .flatten()
                .filter(|e| e.path().extension().is_some_and(|x| x == "pack"))
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len() as usize)
                .sum()
        })
        .unwrap_or(0)
}

/// What [`clone`] must remove again when it fails.
enum Cleanup {
    /// The directory (the highest one the clone creates) did not exist.
    Remove(PathBuf),
    /// The destination was an empty directory: empty it again.
    Empty(PathBuf),
}

impl Cleanup {
    fn prepare(dest: &Path) -> Result<Self> {
        match fs::symlink_metadata(dest) {
            Ok(meta) if meta.is_dir() && is_empty_dir(dest)? => Ok(Self::Empty(dest.to_owned())),
            Ok(_) => Err(GitError::DestinationNotEmpty(dest.to_owned())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let mut highest = dest;
                for ancestor in dest.ancestors().skip(1) {
                    if ancestor.as_os_str().is_empty() || ancestor.exists() {
                        break;
                    }
                    highest = ancestor;
                }
                Ok(Self::Remove(highest.to_owned()))
            }
            Err(e) => Err(io_error(dest, e)),
        }
    }

    fn run(self) {
        let result = match &self {
            Self::Remove(dir) => match fs::remove_dir_all(dir) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                other => other,
            },
            Self::Empty(dir) => fs::read_dir(dir).and_then(|entries| {
                for entry in entries {
                    let entry = entry?;
                    if entry.file_type()?.is_dir() {
                        fs::remove_dir_all(entry.path())?;
                    } else {
                        fs::remove_file(entry.path())?;
                    }
                }
                Ok(())
            }),
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "could not clean up after a failed clone");
        }
    }
}

fn is_empty_dir(path: &Path) -> Result<bool> {
    let mut entries = fs::read_dir(path).map_err(|e| io_error(path, e))?;
    Ok(entries.next().is_none())
}

fn convert(e: git2::Error) -> GitError {
    match e.code() {
        ErrorCode::Auth => GitError::AuthFailed,
        ErrorCode::NotFastForward => GitError::NotFastForward,
        _ => GitError::Git(redact(e.message(), None)),
    }
}

fn io_error(path: &Path, e: io::Error) -> GitError {
    match e.kind() {
        io::ErrorKind::NotFound => GitError::NotFound(path.to_owned()),
        _ => GitError::Git(format!("{}: {e}", path.display())),
    }
}

/// Converts git2 errors at this module's boundary.
trait OrGit<T> {
    fn or_git(self) -> Result<T>;
}

impl<T> OrGit<T> for std::result::Result<T, git2::Error> {
    fn or_git(self) -> Result<T> {
        self.map_err(convert)
    }
}

/// `url` without the `user:password@` part.
fn strip_credentials(url: &str) -> String {
    if let Some(start) = url.find("://").map(|i| i + 3) {
        let rest = &url[start..];
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        if let Some(at) = rest[..end].rfind('@') {
            return format!("{}{}", &url[..start], &rest[at + 1..]);
        }
    }
    url.to_owned()
}

/// Removes URL credentials and the token from a message, in case libgit2 echoes them.
fn redact(message: &str, token: Option<&str>) -> String {
    let mut out = message
        .split(' ')
        .map(|word| if word.contains("://") { strip_credentials(word) } else { word.to_owned() })
        .collect::<Vec<_>>()
        .join(" ");
    if let Some(token) = token.filter(|t| !t.is_empty()) {
        out = out.replace(token, "***");
    }
    out
}

/// `user@host:path`, the scp-like syntax git uses for SSH.
fn is_scp_like(url: &str) -> bool {
    match url.split_once(':') {
        Some((host, _)) => !host.is_empty() && !host.contains('/') && host.len() > 1,
        None => false,
    }
}

fn list(items: &[String]) -> String {
    const SHOWN: usize = 5;
    let mut text = items.iter().take(SHOWN).map(String::as_str).collect::<Vec<_>>().join(", ");
    if items.len() > SHOWN {
        text.push_str(&format!(" and {} more", items.len() - SHOWN));
    }
    text
}

/// The identity commits are made with on this machine: the global git config's user.name and
/// user.email, else `Taskyard <taskyard@localhost>`.
pub fn default_identity() -> (String, String) {
    let config = git2::Config::open_default().ok();
    let get =
        |key: &str| config.as_ref().and_then(|c| c.get_string(key).ok()).filter(|v| !v.trim().is_empty());
    (
        get("user.name").unwrap_or_else(|| "Taskyard".to_owned()),
        get("user.email").unwrap_or_else(|| "taskyard@localhost".to_owned()),
    )
}

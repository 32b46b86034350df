//! Tests of `taskyard_core::git` against real repositories in temporary folders, and a real
//! smart-HTTP server on 127.0.0.1 for clone, pull and push.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use taskyard_core::git::{
    self, CloneProgress, FileStatus, GitError, MAX_PATCH_BYTES, MergeOutcome, PullOutcome,
};
use taskyard_core::outbound::Policy;
use taskyard_test_support::git_http::GitHttpServer;
use tempfile::TempDir;

const TOKEN: &str = "s3cret-t0ken";

/// Runs the git CLI in `dir`, isolated from the user's configuration; returns trimmed stdout.
fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "Test Author")
        .env("GIT_AUTHOR_EMAIL", "author@example.com")
        .env("GIT_COMMITTER_NAME", "Test Author")
        .env("GIT_COMMITTER_EMAIL", "author@example.com")
        .output()
        .expect("run git");
    assert!(output.status.success(), "git {args:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).expect("utf-8 output").trim().to_owned()
}

fn write(path: &Path, content: impl AsRef<[u8]>) {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).expect("create parent");
    }
    fs::write(path, content).expect("write file");
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).expect("read file")
}

/// Writes `file` and commits everything; returns the new commit.
fn commit(repo: &Path, file: &str, content: &str, message: &str) -> String {
    write(&repo.join(file), content);
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "-q", "-m", message]);
    rev(repo, "HEAD")
}

fn rev(repo: &Path, rev: &str) -> String {
    git(repo, &["rev-parse", rev])
}

/// A repository at `<tmp>/repo` on `main` with one commit of `README.md`.
fn repo() -> (TempDir, PathBuf) {
    let tmp = TempDir::new().expect("tempdir");
    let path = tmp.path().join("repo");
    fs::create_dir(&path).expect("mkdir");
    init(&path);
    commit(&path, "README.md", "hello\n", "first");
    (tmp, path)
}

fn init(path: &Path) {
    git(path, &["init", "-q", "-b", "main"]);
    git(path, &["config", "user.name", "Repo User"]);
    git(path, &["config", "user.email", "repo@example.com"]);
}

fn no_progress() -> impl FnMut(&CloneProgress) -> bool {
    |_: &CloneProgress| true
}

/// The test servers listen on 127.0.0.1, which a checked policy refuses: these tests allow it
/// explicitly (the address checks stay on for every other address).
fn loopback_allowed() -> Policy {
    Policy::checked().allow_host("127.0.0.1")
}

/// A smart-HTTP server with one bare repository, `project.git`, fed from a seed repository.
struct Remote {
    server: GitHttpServer,
    _runtime: tokio::runtime::Runtime,
    seed: PathBuf,
    bare: PathBuf,
    tmp: TempDir,
}

impl Remote {
    fn start(token: Option<&str>) -> Self {
        let tmp = TempDir::new().expect("tempdir");
        let seed = tmp.path().join("seed");
        let served = tmp.path().join("served");
        fs::create_dir_all(&seed).expect("mkdir");
        fs::create_dir_all(&served).expect("mkdir");
        init(&seed);
        commit(&seed, "README.md", "hello\n", "first");
        commit(&seed, "src/lib.rs", "pub fn f() {}\n", "second");
        let bare = served.join("project.git");
        git(tmp.path(), &["clone", "-q", "--bare", "seed", "served/project.git"]);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let server = runtime
            .block_on(GitHttpServer::start(&served, token.map(str::to_owned)))
            .expect("start git server");
        Self { server, _runtime: runtime, seed, bare, tmp }
    }

    fn url(&self) -> String {
        self.server.url("project.git")
    }

    /// Commits in the seed repository and pushes it to the served repository directly.
    fn advance(&self, file: &str, content: &str) -> String {
        let id = commit(&self.seed, file, content, "upstream change");
        git(&self.seed, &["push", "-q", self.bare.to_str().expect("utf-8"), "main"]);
        id
    }

    /// A fresh clone into `<tmp>/<name>` with the given token.
    fn clone(&self, name: &str, token: Option<&str>) -> PathBuf {
        let dest = self.tmp.path().join(name);
        git::clone(&self.url(), &dest, token, &loopback_allowed(), &mut no_progress()).expect("clone");
        dest
    }
}

// ---- open_local -------------------------------------------------------------------------

#[test]
fn open_local_describes_a_repository() {
    let (_tmp, path) = repo();
    git(&path, &["remote", "add", "origin", "https://alice:hunter2@example.com/team/app.git"]);
    let info = git::open_local(&path).expect("open");
    assert_eq!(info.path, fs::canonicalize(&path).unwrap());
    assert_eq!(info.default_branch, "main");
    assert_eq!(info.head_commit, rev(&path, "HEAD"));
    assert_eq!(info.origin_url.as_deref(), Some("https://example.com/team/app.git"));
}

#[test]
fn open_local_reports_the_checked_out_branch_and_no_origin() {
    let (_tmp, path) = repo();
    git(&path, &["checkout", "-q", "-b", "feature/x"]);
    let info = git::open_local(&path).expect("open");
    assert_eq!(info.default_branch, "feature/x");
    assert_eq!(info.origin_url, None);
}

#[test]
fn open_local_rejects_a_missing_path() {
    let tmp = TempDir::new().unwrap();
    let missing = tmp.path().join("nope");
    let err = git::open_local(&missing).unwrap_err();
    assert!(matches!(&err, GitError::NotFound(p) if *p == missing), "{err:?}");
    assert!(err.to_string().contains("does not exist"), "{err}");
}

#[test]
fn open_local_rejects_a_plain_folder() {
    let tmp = TempDir::new().unwrap();
    let err = git::open_local(tmp.path()).unwrap_err();
    assert!(matches!(&err, GitError::NotARepository(p) if p == tmp.path()), "{err:?}");
}

#[test]
fn open_local_rejects_a_subfolder_of_a_repository() {
    let (_tmp, path) = repo();
    let sub = path.join("src");
    fs::create_dir(&sub).unwrap();
    let err = git::open_local(&sub).unwrap_err();
    assert!(matches!(&err, GitError::NotARepository(p) if *p == sub), "{err:?}");
    assert!(err.to_string().contains("root"), "{err}");
}

#[test]
fn open_local_rejects_a_repository_without_commits() {
    let tmp = TempDir::new().unwrap();
    init(tmp.path());
    let err = git::open_local(tmp.path()).unwrap_err();
    assert!(matches!(err, GitError::NoCommits), "{err:?}");
    assert!(err.to_string().contains("first commit"), "{err}");
}

#[test]
fn open_local_rejects_a_detached_head() {
    let (_tmp, path) = repo();
    git(&path, &["checkout", "-q", "--detach"]);
    let err = git::open_local(&path).unwrap_err();
    assert!(matches!(err, GitError::DetachedHead(_)), "{err:?}");
}

// ---- validate_remote_url ----------------------------------------------------------------

#[test]
fn validate_remote_url_accepts_only_http_urls_without_credentials() {
    for url in [
        "https://github.com/owner/repo.git",
        "https://github.com/owner/repo",
        "http://127.0.0.1:8080/x.git",
        "HTTPS://gitlab.example.com/group/sub/repo.git",
        "https://[::1]:3000/repo.git",
    ] {
        assert!(git::validate_remote_url(url).is_ok(), "{url} should be accepted");
    }
    let refused = [
        ("file:///srv/repo.git", "local"),
        ("/srv/repo.git", "not a URL"),
        ("../repo", "not a URL"),
        ("ssh://git@github.com/owner/repo.git", "SSH"),
        ("git@github.com:owner/repo.git", "SSH"),
        ("git://github.com/owner/repo.git", "git://"),
        ("ftp://example.com/repo.git", "https://"),
        ("https://", "no host"),
        ("https:///repo.git", "no host"),
        ("https://github.com", "no repository path"),
        ("https://github.com/", "no repository path"),
        ("https://github.com:99999/x.git", "port"),
        ("https://git hub.com/x.git", "spaces"),
        ("https://user:secret@github.com/owner/repo.git", "token"),
        ("https://ghp_abc@github.com/owner/repo.git", "token"),
        ("", "not a URL"),
    ];
    for (url, reason_part) in refused {
        let err = git::validate_remote_url(url).unwrap_err();
        let GitError::UnsupportedUrl { reason, .. } = &err else {
            panic!("{url}: unexpected {err:?}");
        };
        assert!(reason.contains(reason_part), "{url}: reason {reason:?} should mention {reason_part:?}");
        assert!(reason.contains("https://") || reason_part != "https://", "{url}: {reason}");
        let shown = err.to_string();
        assert!(!shown.contains("secret") && !shown.contains("ghp_abc"), "{shown}");
    }
}

// ---- clone ------------------------------------------------------------------------------

#[test]
fn clone_public_repository_over_http_reports_progress() {
    let remote = Remote::start(None);
    let dest = remote.tmp.path().join("clones/public");
    let mut calls = Vec::new();
    let info = git::clone(&remote.url(), &dest, None, &loopback_allowed(), &mut |p: &CloneProgress| {
        calls.push(*p);
        true
    })
    .expect("clone");
    assert_eq!(info.path, fs::canonicalize(&dest).unwrap());
    assert_eq!(info.default_branch, "main");
    assert_eq!(info.head_commit, rev(&remote.seed, "HEAD"));
    assert_eq!(info.origin_url.as_deref(), Some(remote.url().as_str()));
    assert_eq!(read(&dest.join("src/lib.rs")), "pub fn f() {}\n");
    let last = calls.last().expect("progress was reported");
    assert!(last.total_objects > 0, "{last:?}");
    assert_eq!(last.received_objects, last.total_objects, "{last:?}");
    assert!(last.received_bytes > 0, "{last:?}");
}

#[test]
fn clone_private_repository_with_the_token() {
    let remote = Remote::start(Some(TOKEN));
    let dest = remote.tmp.path().join("private");
    let info = git::clone(&remote.url(), &dest, Some(TOKEN), &loopback_allowed(), &mut no_progress())
        .expect("clone");
    assert_eq!(info.head_commit, rev(&remote.seed, "HEAD"));
    // The token is not stored anywhere in the clone's configuration.
    assert!(!read(&dest.join(".git/config")).contains(TOKEN));
}

#[test]
fn clone_with_a_wrong_token_fails_authentication_and_cleans_up() {
    let remote = Remote::start(Some(TOKEN));
    let dest = remote.tmp.path().join("wrong");
    let err = git::clone(&remote.url(), &dest, Some("wrong-token"), &loopback_allowed(), &mut no_progress())
        .unwrap_err();
    assert!(matches!(err, GitError::AuthFailed), "{err:?}");
    assert!(!err.to_string().contains("wrong-token"));
    assert!(!dest.exists(), "the failed clone left {}", dest.display());
}

#[test]
fn clone_without_a_token_from_a_private_repository_fails_authentication() {
    let remote = Remote::start(Some(TOKEN));
    let dest = remote.tmp.path().join("none");
    let err = git::clone(&remote.url(), &dest, None, &loopback_allowed(), &mut no_progress()).unwrap_err();
    assert!(matches!(err, GitError::AuthFailed), "{err:?}");
    assert!(!dest.exists());
}

#[test]
fn clone_from_an_unreachable_address_fails_quickly_and_cleans_up() {
    let tmp = TempDir::new().unwrap();
    let dest = tmp.path().join("a/b/clone");
    let started = Instant::now();
    let err = git::clone("http://127.0.0.1:1/x.git", &dest, None, &loopback_allowed(), &mut no_progress())
        .unwrap_err();
    assert!(matches!(err, GitError::Unreachable(_)), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(!tmp.path().join("a").exists(), "created parents were left");
}

#[test]
fn clone_of_a_missing_repository_is_a_clear_error() {
    let remote = Remote::start(None);
    let dest = remote.tmp.path().join("missing");
    let err =
        git::clone(&remote.server.url("nope.git"), &dest, None, &loopback_allowed(), &mut no_progress())
            .unwrap_err();
    assert!(err.to_string().contains("404"), "{err}");
    assert!(!dest.exists());
}

#[test]
fn clone_into_an_empty_directory_and_refuse_a_non_empty_one() {
    let remote = Remote::start(None);
    let empty = remote.tmp.path().join("empty");
    fs::create_dir(&empty).unwrap();
    git::clone(&remote.url(), &empty, None, &loopback_allowed(), &mut no_progress())
        .expect("clone into empty dir");
    assert!(empty.join("README.md").exists());

    let full = remote.tmp.path().join("full");
    write(&full.join("keep.txt"), "mine");
    let err = git::clone(&remote.url(), &full, None, &loopback_allowed(), &mut no_progress()).unwrap_err();
    assert!(matches!(&err, GitError::DestinationNotEmpty(p) if *p == full), "{err:?}");
    assert_eq!(read(&full.join("keep.txt")), "mine");
    assert_eq!(fs::read_dir(&full).unwrap().count(), 1);
}

#[test]
fn a_failed_clone_into_an_empty_directory_leaves_it_empty() {
    let remote = Remote::start(Some(TOKEN));
    let empty = remote.tmp.path().join("empty");
    fs::create_dir(&empty).unwrap();
    let err = git::clone(&remote.url(), &empty, None, &loopback_allowed(), &mut no_progress()).unwrap_err();
    assert!(matches!(err, GitError::AuthFailed), "{err:?}");
    assert!(empty.is_dir());
    assert_eq!(fs::read_dir(&empty).unwrap().count(), 0);
}

#[test]
fn clone_can_be_cancelled_from_the_progress_callback() {
    let remote = Remote::start(None);
    let dest = remote.tmp.path().join("cancelled");
    let err = git::clone(&remote.url(), &dest, None, &loopback_allowed(), &mut |_: &CloneProgress| false)
        .unwrap_err();
    assert!(matches!(err, GitError::Cancelled), "{err:?}");
    assert!(!dest.exists());
}

#[test]
fn clone_refuses_unsupported_urls_before_touching_the_destination() {
    let tmp = TempDir::new().unwrap();
    let source = tmp.path().join("source");
    fs::create_dir(&source).unwrap();
    init(&source);
    commit(&source, "a", "a", "a");
    let dest = tmp.path().join("dest");
    let url = format!("file://{}", source.display());
    let err = git::clone(&url, &dest, None, &loopback_allowed(), &mut no_progress()).unwrap_err();
    assert!(matches!(err, GitError::UnsupportedUrl { .. }), "{err:?}");
    assert!(!dest.exists());
}

// ---- pull -------------------------------------------------------------------------------

#[test]
fn pull_fast_forwards_then_is_up_to_date_then_refuses_diverged_history() {
    let remote = Remote::start(None);
    let local = remote.clone("local", None);
    let before = rev(&local, "HEAD");
    assert_eq!(git::pull(&local, None, &loopback_allowed()).unwrap(), PullOutcome::UpToDate);

    let upstream = remote.advance("README.md", "hello again\n");
    let outcome = git::pull(&local, None, &loopback_allowed()).expect("pull");
    assert_eq!(outcome, PullOutcome::FastForwarded { from: before, to: upstream.clone() });
    assert_eq!(rev(&local, "HEAD"), upstream);
    assert_eq!(read(&local.join("README.md")), "hello again\n");
    assert_eq!(git(&local, &["status", "--porcelain"]), "");
    assert_eq!(git::pull(&local, None, &loopback_allowed()).unwrap(), PullOutcome::UpToDate);

    // A local commit on top is still "up to date".
    let ahead = commit(&local, "local.txt", "mine\n", "local");
    assert_eq!(git::pull(&local, None, &loopback_allowed()).unwrap(), PullOutcome::UpToDate);

    remote.advance("upstream.txt", "theirs\n");
    let err = git::pull(&local, None, &loopback_allowed()).unwrap_err();
    assert!(matches!(err, GitError::NotFastForward), "{err:?}");
    assert_eq!(rev(&local, "HEAD"), ahead);
    assert!(!local.join("upstream.txt").exists());
}

#[test]
fn pull_refuses_to_overwrite_local_changes_but_keeps_unrelated_ones() {
    let remote = Remote::start(None);
    let local = remote.clone("local", None);
    let before = rev(&local, "HEAD");
    write(&local.join("README.md"), "local edit\n");
    remote.advance("README.md", "upstream edit\n");

    let err = git::pull(&local, None, &loopback_allowed()).unwrap_err();
    let GitError::DirtyWorkingTree { files, .. } = &err else {
        panic!("unexpected {err:?}");
    };
    assert_eq!(files, &["README.md"]);
    assert_eq!(rev(&local, "HEAD"), before);
    assert_eq!(read(&local.join("README.md")), "local edit\n");

    // Once that change is gone, an edit the update does not touch survives the pull.
    git(&local, &["checkout", "--", "README.md"]);
    write(&local.join("src/lib.rs"), "pub fn g() {}\n");
    let outcome = git::pull(&local, None, &loopback_allowed()).expect("pull");
    assert!(matches!(outcome, PullOutcome::FastForwarded { .. }));
    assert_eq!(read(&local.join("README.md")), "upstream edit\n");
    assert_eq!(read(&local.join("src/lib.rs")), "pub fn g() {}\n");
}

#[test]
fn pull_from_a_private_repository_needs_the_token() {
    let remote = Remote::start(Some(TOKEN));
    let local = remote.clone("local", Some(TOKEN));
    let upstream = remote.advance("new.txt", "new\n");
    let err = git::pull(&local, None, &loopback_allowed()).unwrap_err();
    assert!(matches!(err, GitError::AuthFailed), "{err:?}");
    let err = git::pull(&local, Some("nope"), &loopback_allowed()).unwrap_err();
    assert!(matches!(err, GitError::AuthFailed), "{err:?}");
    assert!(matches!(
        git::pull(&local, Some(TOKEN), &loopback_allowed()).unwrap(),
        PullOutcome::FastForwarded { .. }
    ));
    assert_eq!(rev(&local, "HEAD"), upstream);
}

#[test]
fn pull_without_origin_is_a_clear_error() {
    let (_tmp, path) = repo();
    let err = git::pull(&path, None, &loopback_allowed()).unwrap_err();
    assert!(matches!(err, GitError::NoOrigin), "{err:?}");
}

// ---- worktrees --------------------------------------------------------------------------

#[test]
fn create_worktree_makes_a_new_branch_with_a_slash_in_a_linked_worktree() {
    let (tmp, repo) = repo();
    let base = rev(&repo, "main");
    let path = tmp.path().join("runs/run-1");
    let wt = git::create_worktree(&repo, &path, "taskyard/fix-login", "main").expect("create");
    assert_eq!(wt.path, fs::canonicalize(&path).unwrap());
    assert_eq!(wt.branch, "taskyard/fix-login");
    assert_eq!(wt.base_branch, "main");
    assert_eq!(wt.base_commit, base);
    assert_eq!(read(&path.join("README.md")), "hello\n");
    assert_eq!(git(&path, &["symbolic-ref", "HEAD"]), "refs/heads/taskyard/fix-login");
    assert_eq!(rev(&repo, "taskyard/fix-login"), base);
    assert!(git::branch_exists(&repo, "taskyard/fix-login").unwrap());
    // The git CLI agrees that this is a healthy worktree.
    let list = git(&repo, &["worktree", "list", "--porcelain"]);
    assert!(list.contains("branch refs/heads/taskyard/fix-login"), "{list}");
    assert_eq!(git(&path, &["status", "--porcelain"]), "");
    // The main working tree still has its own branch.
    assert_eq!(git(&repo, &["symbolic-ref", "HEAD"]), "refs/heads/main");
}

#[test]
fn create_worktree_refuses_an_existing_branch_and_a_missing_base() {
    let (tmp, repo) = repo();
    git(&repo, &["branch", "taskyard/taken"]);
    let path = tmp.path().join("wt");
    let err = git::create_worktree(&repo, &path, "taskyard/taken", "main").unwrap_err();
    assert!(matches!(&err, GitError::BranchExists(b) if b == "taskyard/taken"), "{err:?}");
    assert!(!path.exists());

    let err = git::create_worktree(&repo, &path, "taskyard/new", "nope").unwrap_err();
    assert!(matches!(&err, GitError::BranchNotFound(b) if b == "nope"), "{err:?}");
    assert!(!git::branch_exists(&repo, "taskyard/new").unwrap());

    let err = git::create_worktree(&repo, &path, "bad..name", "main").unwrap_err();
    assert!(matches!(err, GitError::InvalidBranchName(_)), "{err:?}");
    assert!(!path.exists());
}

#[test]
fn create_worktree_refuses_a_non_empty_destination() {
    let (tmp, repo) = repo();
    let path = tmp.path().join("occupied");
    write(&path.join("file"), "x");
    let err = git::create_worktree(&repo, &path, "taskyard/a", "main").unwrap_err();
    assert!(matches!(err, GitError::DestinationNotEmpty(_)), "{err:?}");
    assert!(!git::branch_exists(&repo, "taskyard/a").unwrap());
}

#[test]
fn worktrees_with_the_same_folder_name_get_distinct_entries() {
    let (tmp, repo) = repo();
    let a = tmp.path().join("task-1/work");
    let b = tmp.path().join("task-2/work");
    git::create_worktree(&repo, &a, "taskyard/one", "main").expect("first");
    git::create_worktree(&repo, &b, "taskyard/two", "main").expect("second");
    let admin: Vec<_> =
        fs::read_dir(repo.join(".git/worktrees")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(admin.len(), 2, "{admin:?}");
    assert_eq!(git(&a, &["symbolic-ref", "--short", "HEAD"]), "taskyard/one");
    assert_eq!(git(&b, &["symbolic-ref", "--short", "HEAD"]), "taskyard/two");
}

#[test]
fn remove_then_attach_reuses_the_branch() {
    let (tmp, repo) = repo();
    let path = tmp.path().join("wt");
    git::create_worktree(&repo, &path, "taskyard/task-7", "main").unwrap();
    let work = commit(&path, "work.txt", "progress\n", "run 1");

    git::remove_worktree(&repo, &path).expect("remove");
    assert!(!path.exists());
    assert!(
        !repo.join(".git/worktrees").exists()
            || fs::read_dir(repo.join(".git/worktrees")).unwrap().count() == 0
    );
    assert_eq!(git(&repo, &["worktree", "list", "--porcelain"]).matches("worktree ").count(), 1);
    assert_eq!(rev(&repo, "taskyard/task-7"), work, "the branch is kept");

    // main moved on meanwhile: base_commit is where the branch left it.
    let base = rev(&repo, "main");
    commit(&repo, "other.txt", "x", "main moves");
    let again = tmp.path().join("wt-again");
    let wt = git::attach_worktree(&repo, &again, "taskyard/task-7", "main").expect("attach");
    assert_eq!(wt.branch, "taskyard/task-7");
    assert_eq!(wt.base_commit, base);
    assert_eq!(read(&again.join("work.txt")), "progress\n");
    assert_eq!(rev(&again, "HEAD"), work);
}

#[test]
fn attach_worktree_refuses_a_branch_checked_out_elsewhere_or_missing() {
    let (tmp, repo) = repo();
    let first = tmp.path().join("first");
    git::create_worktree(&repo, &first, "taskyard/busy", "main").unwrap();
    let second = tmp.path().join("second");
    let err = git::attach_worktree(&repo, &second, "taskyard/busy", "main").unwrap_err();
    assert!(
        matches!(&err, GitError::BranchCheckedOut { branch, path } if branch == "taskyard/busy" && *path == fs::canonicalize(&first).unwrap()),
        "{err:?}"
    );
    assert!(!second.exists());

    let err = git::attach_worktree(&repo, &second, "main", "main").unwrap_err();
    assert!(matches!(err, GitError::BranchCheckedOut { .. }), "{err:?}");

    let err = git::attach_worktree(&repo, &second, "taskyard/none", "main").unwrap_err();
    assert!(matches!(&err, GitError::BranchNotFound(b) if b == "taskyard/none"), "{err:?}");
}

#[test]
fn remove_worktree_prunes_an_entry_whose_directory_is_gone() {
    let (tmp, repo) = repo();
    let path = tmp.path().join("gone");
    git::create_worktree(&repo, &path, "taskyard/gone", "main").unwrap();
    fs::remove_dir_all(&path).unwrap();
    git::remove_worktree(&repo, &path).expect("remove");
    assert_eq!(git(&repo, &["worktree", "list", "--porcelain"]).matches("worktree ").count(), 1);
    assert!(git::branch_exists(&repo, "taskyard/gone").unwrap());
    // Removing it again is fine; a folder that never was a worktree is not.
    git::remove_worktree(&repo, &path).expect("idempotent");
    let stranger = tmp.path().join("stranger");
    fs::create_dir(&stranger).unwrap();
    let err = git::remove_worktree(&repo, &stranger).unwrap_err();
    assert!(matches!(err, GitError::NotAWorktree(_)), "{err:?}");
    assert!(stranger.exists());
}

#[test]
fn a_worktree_folder_deleted_by_hand_can_be_reused() {
    let (tmp, repo) = repo();
    let path = tmp.path().join("reused");
    git::create_worktree(&repo, &path, "taskyard/first", "main").unwrap();
    fs::remove_dir_all(&path).unwrap();

    git::create_worktree(&repo, &path, "taskyard/second", "main").expect("reuse the path");
    let list = git(&repo, &["worktree", "list", "--porcelain"]);
    assert_eq!(list.matches("worktree ").count(), 2, "{list}");
    assert!(!list.contains("taskyard/first"), "{list}");
    // The branch of the vanished worktree is free again.
    let other = tmp.path().join("other");
    git::attach_worktree(&repo, &other, "taskyard/first", "main").expect("attach");
}

#[test]
fn branch_exists_tells_local_branches() {
    let (_tmp, repo) = repo();
    git(&repo, &["branch", "taskyard/x"]);
    assert!(git::branch_exists(&repo, "main").unwrap());
    assert!(git::branch_exists(&repo, "taskyard/x").unwrap());
    assert!(!git::branch_exists(&repo, "taskyard/y").unwrap());
    assert!(!git::branch_exists(&repo, "bad..name").unwrap());
    let err = git::branch_exists(&repo.join("nope"), "main").unwrap_err();
    assert!(matches!(err, GitError::NotFound(_)), "{err:?}");
}

// ---- commit_all -------------------------------------------------------------------------

#[test]
fn commit_all_stages_new_modified_and_deleted_files_but_not_ignored_ones() {
    let (tmp, repo) = repo();
    commit(&repo, ".gitignore", "target/\n*.log\n", "ignore");
    commit(&repo, "old.txt", "old\n", "old");
    let path = tmp.path().join("wt");
    git::create_worktree(&repo, &path, "taskyard/c", "main").unwrap();
    let parent = rev(&path, "HEAD");

    write(&path.join("README.md"), "changed\n");
    write(&path.join("src/new.rs"), "fn new() {}\n");
    fs::remove_file(path.join("old.txt")).unwrap();
    write(&path.join("target/out.bin"), "build output");
    write(&path.join("debug.log"), "noise");

    let id = git::commit_all(&path, "run 1").unwrap().expect("a commit");
    assert_eq!(rev(&path, "HEAD"), id);
    assert_eq!(rev(&repo, "taskyard/c"), id);
    assert_eq!(rev(&path, "HEAD^"), parent);
    let files = git(&path, &["ls-tree", "-r", "--name-only", "HEAD"]);
    let files: Vec<_> = files.lines().collect();
    assert_eq!(files, [".gitignore", "README.md", "src/new.rs"]);
    assert_eq!(git(&path, &["show", "HEAD:README.md"]), "changed");
    assert_eq!(git(&path, &["log", "-1", "--format=%s|%an|%ae"]), "run 1|Repo User|repo@example.com");
    // Only the ignored files are left over.
    assert_eq!(git(&path, &["status", "--porcelain"]), "");
    // The main working tree did not move.
    assert_eq!(git(&repo, &["symbolic-ref", "--short", "HEAD"]), "main");

    assert_eq!(git::commit_all(&path, "nothing").unwrap(), None);
    assert_eq!(rev(&path, "HEAD"), id);
}

// ---- diff -------------------------------------------------------------------------------

fn long_text(lines: usize) -> String {
    (0..lines).map(|i| format!("line number {i} of a long file\n")).collect()
}

#[test]
fn diff_shows_what_the_branch_changed_since_it_left_base() {
    let (tmp, repo) = repo();
    commit(&repo, "keep.txt", "keep\n", "keep");
    commit(&repo, "gone.txt", "gone\n", "gone");
    commit(&repo, "moved.txt", &long_text(20), "moved");
    let base = rev(&repo, "main");
    let path = tmp.path().join("wt");
    git::create_worktree(&repo, &path, "taskyard/d", "main").unwrap();

    write(&path.join("README.md"), "hello\nworld\n");
    write(&path.join("added.txt"), "one\ntwo\n");
    fs::remove_file(path.join("gone.txt")).unwrap();
    fs::rename(path.join("moved.txt"), path.join("renamed.txt")).unwrap();
    write(&path.join("image.bin"), [0u8, 159, 146, 150, 0, 1, 2]);
    let head = git::commit_all(&path, "work").unwrap().unwrap();
    // Changes on main after the branch left it are not part of the branch's diff.
    commit(&repo, "main-only.txt", "main\n", "main moves on");

    let diff = git::diff(&repo, "main", "taskyard/d").expect("diff");
    assert_eq!(diff.base_commit, base);
    assert_eq!(diff.head_commit, head);
    let summary: Vec<_> = diff
        .files
        .iter()
        .map(|f| (f.path.as_str(), f.old_path.as_deref(), f.status, f.insertions, f.deletions, f.binary))
        .collect();
    assert_eq!(
        summary,
        [
            ("README.md", None, FileStatus::Modified, 1, 0, false),
            ("added.txt", None, FileStatus::Added, 2, 0, false),
            ("gone.txt", None, FileStatus::Deleted, 0, 1, false),
            ("image.bin", None, FileStatus::Added, 0, 0, true),
            ("renamed.txt", Some("moved.txt"), FileStatus::Renamed, 0, 0, false),
        ]
    );
    assert_eq!((diff.insertions, diff.deletions), (3, 1));
    let readme = &diff.files[0];
    assert!(readme.patch.starts_with("diff --git a/README.md b/README.md\n"), "{}", readme.patch);
    assert!(readme.patch.contains("@@ -1 +1,2 @@\n hello\n+world\n"), "{}", readme.patch);
    assert!(!readme.truncated);
    assert!(diff.files[3].patch.contains("Binary files"), "{}", diff.files[3].patch);
    assert!(diff.files.iter().all(|f| f.path != "main-only.txt"));

    let err = git::diff(&repo, "main", "taskyard/none").unwrap_err();
    assert!(matches!(err, GitError::BranchNotFound(_)), "{err:?}");
}

#[test]
fn diff_truncates_a_giant_patch() {
    let (tmp, repo) = repo();
    let path = tmp.path().join("wt");
    git::create_worktree(&repo, &path, "taskyard/big", "main").unwrap();
    let lines = 40_000; // about 1.3 MB of text
    write(&path.join("generated.txt"), long_text(lines));
    write(&path.join("small.txt"), "small\n");
    git::commit_all(&path, "generate").unwrap();

    let diff = git::diff(&repo, "main", "taskyard/big").unwrap();
    let big = diff.files.iter().find(|f| f.path == "generated.txt").unwrap();
    assert!(big.truncated);
    assert!(big.patch.len() <= MAX_PATCH_BYTES);
    assert!(big.patch.len() > MAX_PATCH_BYTES - 100);
    assert!(big.patch.starts_with("diff --git a/generated.txt"));
    assert_eq!(big.insertions, lines, "the counts cover the whole file");
    let small = diff.files.iter().find(|f| f.path == "small.txt").unwrap();
    assert!(!small.truncated);
}

#[test]
fn diff_worktree_includes_uncommitted_and_untracked_files() {
    let (tmp, repo) = repo();
    commit(&repo, ".gitignore", "*.log\n", "ignore");
    let base = rev(&repo, "main");
    let path = tmp.path().join("wt");
    git::create_worktree(&repo, &path, "taskyard/live", "main").unwrap();
    let head = commit(&path, "committed.txt", "c\n", "committed");
    write(&path.join("README.md"), "hello\nuncommitted\n");
    write(&path.join("notes/untracked.md"), "u1\nu2\nu3\n");
    write(&path.join("run.log"), "ignored\n");

    let diff = git::diff_worktree(&path, "main").expect("diff");
    assert_eq!(diff.base_commit, base);
    assert_eq!(diff.head_commit, head);
    let summary: Vec<_> =
        diff.files.iter().map(|f| (f.path.as_str(), f.status, f.insertions, f.deletions)).collect();
    assert_eq!(
        summary,
        [
            ("README.md", FileStatus::Modified, 1, 0),
            ("committed.txt", FileStatus::Added, 1, 0),
            ("notes/untracked.md", FileStatus::Added, 3, 0),
        ]
    );
    assert!(diff.files[2].patch.contains("+u3\n"), "{}", diff.files[2].patch);
    // Nothing was staged or committed by looking.
    assert_eq!(rev(&path, "HEAD"), head);
    assert!(git(&path, &["status", "--porcelain"]).contains("?? notes/"));
}

// ---- merge ------------------------------------------------------------------------------

#[test]
fn merge_fast_forwards_and_updates_the_main_working_tree() {
    let (tmp, repo) = repo();
    let path = tmp.path().join("wt");
    git::create_worktree(&repo, &path, "taskyard/ff", "main").unwrap();
    write(&path.join("README.md"), "merged\n");
    write(&path.join("feature.txt"), "feature\n");
    let tip = git::commit_all(&path, "feature").unwrap().unwrap();

    let outcome = git::merge(&repo, "taskyard/ff", "main", "unused").expect("merge");
    assert_eq!(outcome, MergeOutcome::FastForward { commit: tip.clone() });
    assert_eq!(rev(&repo, "main"), tip);
    assert_eq!(read(&repo.join("README.md")), "merged\n");
    assert_eq!(read(&repo.join("feature.txt")), "feature\n");
    assert_eq!(git(&repo, &["status", "--porcelain"]), "");

    assert_eq!(git::merge(&repo, "taskyard/ff", "main", "again").unwrap(), MergeOutcome::AlreadyUpToDate);
}

#[test]
fn merge_makes_a_merge_commit_when_main_moved_on() {
    let (tmp, repo) = repo();
    let path = tmp.path().join("wt");
    git::create_worktree(&repo, &path, "taskyard/mc", "main").unwrap();
    let theirs = commit(&path, "feature.txt", "feature\n", "feature");
    let ours = commit(&repo, "main.txt", "main\n", "main work");

    let outcome = git::merge(&repo, "taskyard/mc", "main", "Merge task 7").expect("merge");
    let MergeOutcome::MergeCommit { commit } = outcome else {
        panic!("unexpected {outcome:?}");
    };
    assert_eq!(rev(&repo, "main"), commit);
    assert_eq!(git(&repo, &["log", "-1", "--format=%P"]), format!("{ours} {theirs}"));
    assert_eq!(git(&repo, &["log", "-1", "--format=%B"]), "Merge task 7");
    assert_eq!(read(&repo.join("feature.txt")), "feature\n");
    assert_eq!(read(&repo.join("main.txt")), "main\n");
    assert_eq!(git(&repo, &["status", "--porcelain"]), "");
    // The branch itself did not move.
    assert_eq!(rev(&repo, "taskyard/mc"), theirs);
}

#[test]
fn merge_with_conflicts_changes_nothing() {
    let (tmp, repo) = repo();
    let path = tmp.path().join("wt");
    git::create_worktree(&repo, &path, "taskyard/cf", "main").unwrap();
    let theirs = commit(&path, "README.md", "theirs\n", "theirs");
    let ours = commit(&repo, "README.md", "ours\n", "ours");
    write(&repo.join("untracked.txt"), "still here\n");

    let err = git::merge(&repo, "taskyard/cf", "main", "merge").unwrap_err();
    let GitError::Conflicts { paths } = &err else {
        panic!("unexpected {err:?}");
    };
    assert_eq!(paths, &["README.md"]);
    assert!(err.to_string().contains("README.md"), "{err}");
    assert_eq!(rev(&repo, "main"), ours);
    assert_eq!(rev(&repo, "taskyard/cf"), theirs);
    assert_eq!(read(&repo.join("README.md")), "ours\n");
    assert_eq!(git(&repo, &["status", "--porcelain"]), "?? untracked.txt");
    assert!(!repo.join(".git/MERGE_HEAD").exists());
}

#[test]
fn merge_refuses_a_dirty_main_working_tree() {
    let (tmp, repo) = repo();
    commit(&repo, "other.txt", "other\n", "other");
    let path = tmp.path().join("wt");
    git::create_worktree(&repo, &path, "taskyard/dirty", "main").unwrap();
    commit(&path, "feature.txt", "feature\n", "feature");
    let before = rev(&repo, "main");
    write(&repo.join("other.txt"), "uncommitted edit\n");

    let err = git::merge(&repo, "taskyard/dirty", "main", "merge").unwrap_err();
    let GitError::DirtyWorkingTree { path: at, files } = &err else {
        panic!("unexpected {err:?}");
    };
    assert_eq!(*at, fs::canonicalize(&repo).unwrap());
    assert_eq!(files, &["other.txt"]);
    assert!(err.to_string().contains("other.txt"), "{err}");
    assert_eq!(rev(&repo, "main"), before);
    assert!(!repo.join("feature.txt").exists());
    assert_eq!(read(&repo.join("other.txt")), "uncommitted edit\n");
}

#[test]
fn merge_into_a_branch_that_is_not_checked_out_leaves_the_working_tree_alone() {
    let (tmp, repo) = repo();
    git(&repo, &["branch", "release"]);
    let path = tmp.path().join("wt");
    git::create_worktree(&repo, &path, "taskyard/rel", "release").unwrap();
    let tip = commit(&path, "fix.txt", "fix\n", "fix");
    // Uncommitted changes on main do not matter: main is not the target.
    write(&repo.join("README.md"), "editing main\n");

    let outcome = git::merge(&repo, "taskyard/rel", "release", "merge").unwrap();
    assert_eq!(outcome, MergeOutcome::FastForward { commit: tip.clone() });
    assert_eq!(rev(&repo, "release"), tip);
    assert!(!repo.join("fix.txt").exists());
    assert_eq!(read(&repo.join("README.md")), "editing main\n");
}

#[test]
fn merge_refuses_a_target_checked_out_in_another_worktree() {
    let (tmp, repo) = repo();
    git(&repo, &["branch", "taskyard/src"]);
    let target = tmp.path().join("target-wt");
    git::create_worktree(&repo, &target, "taskyard/target", "main").unwrap();
    let source = tmp.path().join("source-wt");
    git::attach_worktree(&repo, &source, "taskyard/src", "main").unwrap();
    commit(&source, "x.txt", "x\n", "x");
    let before = rev(&repo, "taskyard/target");

    let err = git::merge(&repo, "taskyard/src", "taskyard/target", "merge").unwrap_err();
    assert!(
        matches!(&err, GitError::BranchCheckedOut { branch, path } if branch == "taskyard/target" && *path == fs::canonicalize(&target).unwrap()),
        "{err:?}"
    );
    assert_eq!(rev(&repo, "taskyard/target"), before);

    let err = git::merge(&repo, "taskyard/none", "main", "merge").unwrap_err();
    assert!(matches!(&err, GitError::BranchNotFound(b) if b == "taskyard/none"), "{err:?}");
}

// ---- push -------------------------------------------------------------------------------

#[test]
fn push_with_a_token_then_clone_it_back() {
    let remote = Remote::start(Some(TOKEN));
    let local = remote.clone("local", Some(TOKEN));
    let wt = remote.tmp.path().join("wt");
    git::create_worktree(&local, &wt, "taskyard/pushed", "main").unwrap();
    write(&wt.join("pushed.txt"), "pushed\n");
    let tip = git::commit_all(&wt, "to push").unwrap().unwrap();

    let err = git::push(&local, "taskyard/pushed", None, &loopback_allowed()).unwrap_err();
    assert!(matches!(err, GitError::AuthFailed), "{err:?}");
    let err = git::push(&local, "taskyard/pushed", Some("bad"), &loopback_allowed()).unwrap_err();
    assert!(matches!(err, GitError::AuthFailed), "{err:?}");

    git::push(&local, "taskyard/pushed", Some(TOKEN), &loopback_allowed()).expect("push");
    assert_eq!(rev(&remote.bare, "taskyard/pushed"), tip);
    assert_eq!(rev(&local, "origin/taskyard/pushed"), tip);

    let back = remote.tmp.path().join("back");
    git::clone(&remote.url(), &back, Some(TOKEN), &loopback_allowed(), &mut no_progress()).unwrap();
    assert_eq!(rev(&back, "origin/taskyard/pushed"), tip);
    assert_eq!(git(&back, &["show", "origin/taskyard/pushed:pushed.txt"]), "pushed");
}

#[test]
fn push_refuses_a_non_fast_forward_and_needs_origin() {
    let remote = Remote::start(None);
    let local = remote.clone("local", None);
    commit(&local, "local.txt", "local\n", "local");
    let upstream = remote.advance("upstream.txt", "upstream\n");

    let err = git::push(&local, "main", None, &loopback_allowed()).unwrap_err();
    assert!(matches!(err, GitError::NotFastForward), "{err:?}");
    assert_eq!(rev(&remote.bare, "main"), upstream);

    let err = git::push(&local, "nope", None, &loopback_allowed()).unwrap_err();
    assert!(matches!(err, GitError::BranchNotFound(_)), "{err:?}");

    let (_tmp, lonely) = repo();
    let err = git::push(&lonely, "main", None, &loopback_allowed()).unwrap_err();
    assert!(matches!(err, GitError::NoOrigin), "{err:?}");
}

// ---- outbound checks ----------------------------------------------------------------------

#[test]
fn a_checked_policy_refuses_the_loopback_server_until_it_is_allowed() {
    let remote = Remote::start(None);
    let dest = remote.tmp.path().join("refused");
    let err = git::clone(&remote.url(), &dest, None, &Policy::checked(), &mut no_progress()).unwrap_err();
    let GitError::UnsupportedUrl { reason, .. } = &err else { panic!("unexpected {err:?}") };
    assert!(reason.contains("127.0.0.1") && reason.contains("loopback"), "{reason}");
    assert!(!dest.exists());
    // The same URL by another name of the same address is refused too.
    let by_name = remote.url().replace("127.0.0.1", "localhost");
    let err = git::clone(&by_name, &dest, None, &loopback_allowed(), &mut no_progress()).unwrap_err();
    assert!(matches!(err, GitError::UnsupportedUrl { .. }), "{err:?}");
    // Allowing the host, or its network, opens it.
    git::clone(&remote.url(), &dest, None, &loopback_allowed(), &mut no_progress()).expect("allowed host");
    let net = Policy::checked().allow_net("127.0.0.0/8".parse().unwrap());
    git::clone(&by_name, &remote.tmp.path().join("by-net"), None, &net, &mut no_progress())
        .expect("allowed net");
    // Local mode checks nothing.
    git::clone(&by_name, &remote.tmp.path().join("open"), None, &Policy::open(), &mut no_progress())
        .expect("open");
}

#[test]
fn odd_spellings_of_addresses_are_not_urls_we_use() {
    for url in [
        "http://2130706433/x.git",
        "http://0x7f000001/x.git",
        "http://0177.0.0.1/x.git",
        "http://127.1/x.git",
        "http://0x7f.0.0.1/x.git",
        "http://1.2.3.4.5/x.git",
        "http://127.0.0.1./x.git",
    ] {
        let err = git::validate_remote_url(url).unwrap_err();
        assert!(matches!(err, GitError::UnsupportedUrl { .. }), "{url}: {err:?}");
    }
}

/// A loopback HTTP server that answers every request with `response` and records the
/// requests' heads; stops after `max` connections or 30 s.
fn answering(response: String, max: usize) -> (u16, std::sync::mpsc::Receiver<String>) {
    use std::io::{Read as _, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        listener.set_nonblocking(true).unwrap();
        let until = Instant::now() + Duration::from_secs(30);
        let mut served = 0;
        while served < max && Instant::now() < until {
            let Ok((mut conn, _)) = listener.accept() else {
                std::thread::sleep(Duration::from_millis(10));
                continue;
            };
            served += 1;
            conn.set_nonblocking(false).unwrap();
            conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match conn.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            if head.is_empty() {
                continue; // the connect check
            }
            let _ = tx.send(String::from_utf8_lossy(&head).into_owned());
            let _ = conn.write_all(response.as_bytes());
        }
    });
    (port, rx)
}

#[test]
fn redirects_are_not_followed_and_the_token_stays_with_its_host() {
    // The second server stands for the redirect's host: it must see nothing.
    let (elsewhere, seen_elsewhere) = answering("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n".into(), 8);
    for location in [
        format!("http://localhost:{elsewhere}/y.git/info/refs?service=git-upload-pack"),
        format!("http://127.0.0.1:{elsewhere}/y.git/info/refs?service=git-upload-pack"),
        "http://169.254.169.254/latest/meta-data/".to_owned(),
    ] {
        let redirect = format!(
            "HTTP/1.1 302 Found\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        let (port, seen) = answering(redirect, 4);
        let tmp = TempDir::new().unwrap();
        let url = format!("http://127.0.0.1:{port}/x.git");
        let err =
            git::clone(&url, &tmp.path().join("c"), Some(TOKEN), &loopback_allowed(), &mut no_progress())
                .unwrap_err();
        let GitError::Unreachable(message) = &err else { panic!("{location}: unexpected {err:?}") };
        assert!(message.contains("redirect") && !message.contains(TOKEN), "{message}");
        let head = seen.recv_timeout(Duration::from_secs(5)).expect("the first host was asked");
        assert!(head.contains("Authorization: Basic"), "the token goes to its own host: {head}");
    }
    assert!(seen_elsewhere.recv_timeout(Duration::from_millis(300)).is_err(), "the redirect was followed");
}

#[test]
fn a_remote_that_never_answers_times_out_and_the_token_is_not_on_any_command_line() {
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/x.git", silent.local_addr().unwrap());
    let held = std::thread::spawn(move || {
        // Accept and hold connections, never answering.
        silent.set_nonblocking(true).unwrap();
        let mut conns = Vec::new();
        let until = Instant::now() + Duration::from_secs(20);
        while Instant::now() < until && conns.len() < 4 {
            match silent.accept() {
                Ok((c, _)) => conns.push(c),
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
        std::thread::sleep(Duration::from_secs(4));
    });
    let token = "ghp_TESTnotOnTheCommandLine0123456789";
    let mut policy = loopback_allowed();
    policy.low_speed_time = Duration::from_secs(2);
    policy.deadline = Duration::from_secs(20);
    let tmp = TempDir::new().unwrap();
    let dest = tmp.path().join("c");
    let started = Instant::now();
    let clone = std::thread::spawn(move || git::clone(&url, &dest, Some(token), &policy, &mut no_progress()));
    // While git waits, no process shows the token (or its Basic encoding) in its arguments.
    let mut looked = 0;
    while started.elapsed() < Duration::from_millis(1500) {
        for entry in fs::read_dir("/proc").unwrap().flatten() {
            if let Ok(cmdline) = fs::read(entry.path().join("cmdline")) {
                let cmdline = String::from_utf8_lossy(&cmdline);
                assert!(!cmdline.contains(token) && !cmdline.contains("Authorization"), "{cmdline}");
                looked += usize::from(cmdline.contains("x.git"));
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(looked > 0, "git was never seen running");
    let err = clone.join().unwrap().unwrap_err();
    let elapsed = started.elapsed();
    assert!(matches!(&err, GitError::Unreachable(m) if m.contains("stopped answering")), "{err:?}");
    assert!(elapsed < Duration::from_secs(10), "took {elapsed:?}");
    assert!(!err.to_string().contains(token));
    held.join().unwrap();
}

#[test]
fn the_overall_deadline_ends_a_remote_that_trickles() {
    // A server that sends a byte a second forever: faster than nothing, slower than useful.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/x.git", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        use std::io::Write as _;
        listener.set_nonblocking(true).unwrap();
        let until = Instant::now() + Duration::from_secs(15);
        let mut conns = Vec::new();
        while Instant::now() < until {
            if let Ok((mut c, _)) = listener.accept() {
                let _ = c.write_all(b"HTTP/1.1 200 OK\r\nX-Slow: ");
                conns.push(c);
            }
            for c in &mut conns {
                let _ = c.write_all(b"a");
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    });
    let mut policy = loopback_allowed();
    policy.low_speed_bytes = 1;
    policy.low_speed_time = Duration::from_secs(60);
    policy.deadline = Duration::from_secs(3);
    let tmp = TempDir::new().unwrap();
    let started = Instant::now();
    let err = git::clone(&url, &tmp.path().join("c"), None, &policy, &mut no_progress()).unwrap_err();
    assert!(matches!(&err, GitError::Unreachable(m) if m.contains("did not finish")), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(8), "{:?}", started.elapsed());
    assert!(!tmp.path().join("c").exists());
}

#[test]
fn a_checked_policy_refuses_a_repository_whose_config_rewrites_urls() {
    let remote = Remote::start(None);
    let local = remote.clone("local", None);
    git(&local, &["config", "url.http://169.254.169.254/.insteadOf", "http://127.0.0.1/"]);
    let err = git::pull(&local, None, &loopback_allowed()).unwrap_err();
    assert!(err.to_string().contains("url."), "{err}");
    // Local mode: the user's own configuration is theirs.
    git(&local, &["config", "--unset", "url.http://169.254.169.254/.insteadOf"]);
    assert_eq!(git::pull(&local, None, &Policy::open()).unwrap(), PullOutcome::UpToDate);
}

//! The runner end to end with real processes, real git repositories and a real store.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use nix::sys::signal::Signal;
use serde_json::json;
use taskyard_core::events::Bus;
use taskyard_core::logs::LogFollower;
use taskyard_core::model::*;
use taskyard_core::runner::process::{self, Boundary};
use taskyard_core::runner::{RunError, Runner, RunnerConfig};
use taskyard_core::store::{PgStore, SqliteStore, Store};
use taskyard_test_support::pg::TestDatabase;

struct Fixture<S: Store> {
    runner: Runner<S>,
    project: Project,
    repo: PathBuf,
    _dirs: Vec<tempfile::TempDir>,
}

fn git(repo: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(["-c", "user.name=Test", "-c", "user.email=test@example.com"])
        .args(args)
        .current_dir(repo)
        .output()
        .expect("run git");
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn init_repo(dir: &Path) -> PathBuf {
    let repo = dir.join("repo");
    std::fs::create_dir_all(&repo).expect("mkdir");
    git(&repo, &["init", "-q", "-b", "main"]);
    std::fs::write(repo.join("README.md"), "# demo\n").expect("write");
    std::fs::write(repo.join(".gitignore"), "target/\n").expect("write");
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "first"]);
    repo
}

async fn fixture<S: Store>(store: S) -> Fixture<S> {
    fixture_with(store, Boundary::Auto).await
}

async fn fixture_with<S: Store>(store: S, boundary: Boundary) -> Fixture<S> {
    let dirs = tempfile::tempdir().expect("tempdir");
    let repo = init_repo(dirs.path());
    let mut config = RunnerConfig::new(dirs.path().join("data"));
    config.stop_signals = Some(vec![(Signal::SIGTERM, Duration::from_secs(2))]);
    config.boundary = boundary;
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
    Fixture { runner, project, repo, _dirs: vec![dirs] }
}

async fn sqlite_fixture() -> Fixture<SqliteStore> {
    sqlite_fixture_with(Boundary::Auto).await
}

async fn sqlite_fixture_with(boundary: Boundary) -> Fixture<SqliteStore> {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(&dir.path().join("t.db")).await.expect("sqlite");
    let mut f = fixture_with(store, boundary).await;
    f._dirs.push(dir);
    f
}

impl<S: Store> Fixture<S> {
    async fn task(&self, title: &str, command: serde_json::Value) -> Task {
        self.runner
            .store()
            .create_task(NewTask {
                project_id: self.project.id,
                title: title.into(),
                description: format!("please {title}"),
                agent: "command".into(),
                agent_config: json!({ "command": command }).to_string(),
            })
            .await
            .expect("task")
    }

    async fn logs(&self, run: RunId) -> Vec<LogEntry> {
        let mut all = Vec::new();
        loop {
            let page = self
                .runner
                .store()
                .read_logs(run, all.last().map_or(0, |e: &LogEntry| e.seq), 5_000)
                .await
                .expect("logs");
            if page.is_empty() {
                return all;
            }
            all.extend(page);
        }
    }

    /// Follows a run's log until a line satisfies `pred`.
    async fn wait_for_line(&self, run: RunId, pred: impl Fn(&str) -> bool) -> String {
        let mut f =
            LogFollower::new(self.runner.store().clone(), self.runner.bus(), run, 0).await.expect("follow");
        while let Some(batch) = f.next().await.expect("next") {
            if let Some(e) = batch.iter().find(|e| pred(&e.text)) {
                return e.text.clone();
            }
        }
        panic!("the run ended without the expected line");
    }
}

fn texts(entries: &[LogEntry], kind: LogKind) -> Vec<&str> {
    entries.iter().filter(|e| e.kind == kind).map(|e| e.text.as_str()).collect()
}

macro_rules! on_both {
    ($($story:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $story() {
                    super::$story(super::sqlite_fixture().await).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $story() {
                    let db = super::TestDatabase::create().await.expect("database");
                    let store = super::PgStore::connect(&db.url).await.expect("postgres");
                    super::$story(super::fixture(store).await).await;
                }
            )*
        }
    };
}

on_both!(a_run_stores_every_line_in_order_and_records_its_work, a_follow_up_continues_in_the_same_worktree);

async fn a_run_stores_every_line_in_order_and_records_its_work<S: Store>(f: Fixture<S>) {
    let task = f
        .task(
            "write notes",
            json!("for i in $(seq 1 3000); do echo \"line $i\"; done; echo oops >&2; echo \"$TASKYARD_PROMPT\" > notes.txt"),
        )
        .await;
    let run = f.runner.start(task.id).await.expect("start");
    assert_eq!(run.status, RunStatus::Queued);
    let run = f.runner.wait(run.id).await.expect("wait");
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    assert_eq!(run.exit_code, Some(0));
    assert_eq!(run.branch.as_deref(), Some("taskyard/write-notes"));
    assert_eq!((run.files_changed, run.insertions), (Some(1), Some(1)));

    let logs = f.logs(run.id).await;
    assert!(logs.windows(2).all(|w| w[1].seq == w[0].seq + 1), "gapless seqs");
    assert_eq!(logs[0].seq, 1);
    let stdout = texts(&logs, LogKind::Stdout);
    assert_eq!(stdout.len(), 3000);
    assert!(stdout.iter().enumerate().all(|(i, l)| *l == format!("line {}", i + 1)), "every line, in order");
    assert_eq!(texts(&logs, LogKind::Stderr), ["oops"]);
    let system = texts(&logs, LogKind::System);
    assert!(system[0].starts_with("starting `sh -c"), "{system:?}");
    assert!(
        system.iter().any(|t| t.starts_with("committed changes the agent left uncommitted")),
        "{system:?}"
    );
    assert_eq!(system.last(), Some(&"run succeeded"));

    // The work is on the task's branch, not on main.
    let worktree = PathBuf::from(run.worktree_path.as_deref().expect("worktree"));
    assert_eq!(std::fs::read_to_string(worktree.join("notes.txt")).expect("notes"), "please write notes\n");
    assert_eq!(git(&f.repo, &["show", "taskyard/write-notes:notes.txt"]), "please write notes");
    assert!(!f.repo.join("notes.txt").exists());
    assert_eq!(git(&f.repo, &["rev-parse", "taskyard/write-notes"]), run.head_commit.clone().expect("head"));
    let task = f.runner.store().get_task(task.id).await.expect("task");
    assert_eq!((task.status, task.branch.as_deref()), (TaskStatus::InReview, Some("taskyard/write-notes")));
}

async fn a_follow_up_continues_in_the_same_worktree<S: Store>(f: Fixture<S>) {
    let task = f.task("two steps", json!("echo \"$TASKYARD_PROMPT\" >> steps.txt")).await;
    let first = f.runner.start(task.id).await.expect("start");
    let first = f.runner.wait(first.id).await.expect("wait");
    assert_eq!(first.status, RunStatus::Succeeded, "{:?}", first.error);
    let second = f.runner.follow_up(task.id, "and the second".into()).await.expect("follow up");
    let second = f.runner.wait(second.id).await.expect("wait");
    assert_eq!(second.status, RunStatus::Succeeded, "{:?}", second.error);
    assert_eq!((second.attempt, second.kind), (2, RunKind::FollowUp));
    assert_eq!(second.worktree_path, first.worktree_path);
    assert_eq!(second.branch, first.branch);
    assert_eq!(git(&f.repo, &["show", "taskyard/two-steps:steps.txt"]), "please two steps\nand the second");
    assert_eq!(second.files_changed, Some(1));
    assert_eq!(second.insertions, Some(2), "the diff is against the base, across both runs");
    let empty = f.runner.follow_up(task.id, "  ".into()).await;
    assert!(matches!(empty, Err(RunError::Invalid { field: "message", .. })));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_agent_fails_the_run_and_the_task() {
    let f = sqlite_fixture().await;
    let task = f.task("fail", json!(["sh", "-c", "echo before; exit 3"])).await;
    let run = f.runner.start(task.id).await.expect("start");
    let run = f.runner.wait(run.id).await.expect("wait");
    assert_eq!((run.status, run.exit_code), (RunStatus::Failed, Some(3)));
    assert_eq!(run.error.as_deref(), Some("exited with code 3"));
    assert_eq!(f.runner.store().get_task(task.id).await.expect("task").status, TaskStatus::Failed);
    assert_eq!(texts(&f.logs(run.id).await, LogKind::Stdout), ["before"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_cut_off_while_making_its_worktree_starts_cleanly_next_time() {
    let f = sqlite_fixture().await;
    let task = f.task("leftover", json!(["sh", "-c", "echo work > work.txt"])).await;
    // What a server killed inside `git worktree add` leaves: the folder, and no worktree.
    let dir = f._dirs[0].path().join("data/worktrees").join(task.id.to_string());
    std::fs::create_dir_all(dir.join("half")).expect("mkdir");
    std::fs::write(dir.join("half/file"), "partial").expect("write");
    let run = f.runner.start(task.id).await.expect("start");
    let run = f.runner.wait(run.id).await.expect("wait");
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    assert!(!dir.join("half").exists(), "the leftover is gone");
    let diff = f.runner.diff(run.id).await.expect("diff");
    let paths: Vec<&str> = diff.files.iter().map(|d| d.path.as_str()).collect();
    assert_eq!(paths, ["work.txt"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_agent_command_is_a_clear_failed_run() {
    let f = sqlite_fixture().await;
    let task = f.task("missing", json!(["taskyard-no-such-agent", "{prompt}"])).await;
    let run = f.runner.start(task.id).await.expect("start");
    let run = f.runner.wait(run.id).await.expect("wait");
    assert_eq!(run.status, RunStatus::Failed);
    let error = run.error.expect("error");
    assert!(error.contains("`taskyard-no-such-agent` was not found"), "{error}");
    let logs = f.logs(run.id).await;
    assert_eq!(texts(&logs, LogKind::Error).len(), 1);

    let not_exec = f.runner.store().create_task(NewTask {
        project_id: f.project.id,
        title: "not executable".into(),
        description: String::new(),
        agent: "command".into(),
        agent_config: json!({"command": [f.repo.join("README.md").display().to_string()]}).to_string(),
    });
    let task = not_exec.await.expect("task");
    let run = f.runner.wait(f.runner.start(task.id).await.expect("start").id).await.expect("wait");
    assert!(run.error.as_deref().unwrap_or_default().contains("is not executable"), "{:?}", run.error);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_agent_settings_are_refused_before_a_run_is_stored() {
    let f = sqlite_fixture().await;
    let mut task = f.task("bad", json!([])).await;
    assert!(matches!(f.runner.start(task.id).await, Err(RunError::Agent(_))));
    task = f
        .runner
        .store()
        .update_task(task.id, TaskPatch { agent: Some("nope".into()), ..Default::default() })
        .await
        .expect("patch");
    let err = f.runner.start(task.id).await.expect_err("unknown agent");
    assert!(err.to_string().contains("unknown agent `nope`"), "{err}");
    assert!(f.runner.store().list_runs(task.id).await.expect("runs").is_empty());
}

/// A live process whose command line is `cmdline` (arguments joined by NUL), of the run
/// `run` when given. Pids the agent prints are no use here: inside a PID namespace they are
/// the namespace's own.
fn find_process(run: Option<&str>, cmdline: &str) -> Option<i32> {
    let wanted: Vec<u8> = cmdline.split(' ').flat_map(|a| a.bytes().chain([0])).collect();
    let candidates: Vec<i32> = match run {
        Some(run) => process::run_processes(run, None),
        None => std::fs::read_dir("/proc")
            .expect("/proc")
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .collect(),
    };
    candidates
        .into_iter()
        .find(|pid| alive(*pid) && std::fs::read(format!("/proc/{pid}/cmdline")).ok() == Some(wanted.clone()))
}

fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).map(|s| !s.contains(") Z ")).unwrap_or(false)
}

/// Polls for a process (no log line can tell its pid).
async fn wait_for_process(run: Option<&str>, cmdline: &str) -> i32 {
    let start = std::time::Instant::now();
    loop {
        if let Some(pid) = find_process(run, cmdline) {
            return pid;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "`{cmdline}` never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn stop_ends_every_process_of_the_run_even_those_that_left_the_group(boundary: Boundary) {
    let f = sqlite_fixture_with(boundary).await;
    // One child stays in the group, one starts its own session (as agent tools do).
    let script = "sleep 300 & echo child; setsid sh -c 'echo escaped; exec sleep 301' & \
                  trap 'echo ignoring TERM' TERM; while true; do sleep 1; done";
    let task = f.task("stubborn", json!(script)).await;
    let run = f.runner.start(task.id).await.expect("start");
    f.wait_for_line(run.id, |l| l == "child").await;
    f.wait_for_line(run.id, |l| l == "escaped").await;
    let id = run.id.to_string();
    let pids =
        [wait_for_process(Some(&id), "sleep 300").await, wait_for_process(Some(&id), "sleep 301").await];
    let other = f.task("second run", json!("true")).await;
    assert!(f.runner.active_runs() >= 1);

    f.runner.stop(run.id).await.expect("stop");
    let run = f.runner.wait(run.id).await.expect("wait");
    assert_eq!(run.status, RunStatus::Cancelled);
    assert_eq!(run.error.as_deref(), Some("stopped on request"));
    assert!(process::run_processes(&id, run.pid.map(|p| p as i32)).is_empty(), "nothing of the run survives");
    for pid in pids {
        assert!(!alive(pid), "process {pid} survived the stop");
    }
    assert_eq!(f.runner.store().get_task(task.id).await.expect("task").status, TaskStatus::Cancelled);
    let again = f.runner.stop(run.id).await;
    assert!(matches!(again, Err(RunError::Conflict(_))), "stopping an ended run is refused");
    // The runner is free for other work.
    let r2 = f.runner.wait(f.runner.start(other.id).await.expect("start").id).await.expect("wait");
    assert_eq!(r2.status, RunStatus::Succeeded);
    assert_eq!(f.runner.active_runs(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_ends_every_process_in_a_pid_namespace() {
    stop_ends_every_process_of_the_run_even_those_that_left_the_group(Boundary::PidNamespace).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_ends_every_process_by_group_marker_and_descent() {
    stop_ends_every_process_of_the_run_even_those_that_left_the_group(Boundary::ProcessGroup).await;
}

/// A process that clears its environment, leaves the group and loses its parent is out of
/// the sweep's reach: only the PID namespace ends it.
async fn a_detached_process_without_the_marker(boundary: Boundary, n: u32) -> bool {
    let f = sqlite_fixture_with(boundary).await;
    let script = format!(
        "env -i /bin/sh -c '/usr/bin/setsid /bin/sleep {n} </dev/null >/dev/null 2>&1 &'; echo launched; \
         while true; do sleep 1; done"
    );
    let task = f.task("hide", json!(script)).await;
    let run = f.runner.start(task.id).await.expect("start");
    f.wait_for_line(run.id, |l| l == "launched").await;
    let hidden = wait_for_process(None, &format!("/bin/sleep {n}")).await;
    f.runner.stop(run.id).await.expect("stop");
    let run = f.runner.wait(run.id).await.expect("wait");
    assert_eq!(run.status, RunStatus::Cancelled);
    let survived = alive(hidden);
    if survived {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(hidden), Signal::SIGKILL);
    }
    survived
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pid_namespace_ends_even_processes_that_hid_from_the_sweep() {
    assert!(!a_detached_process_without_the_marker(Boundary::PidNamespace, 987_654).await);
    // Without the namespace the same process gets away: the reason the namespace is used
    // wherever the machine allows it.
    assert!(a_detached_process_without_the_marker(Boundary::ProcessGroup, 987_655).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn background_jobs_do_not_keep_a_finished_run_open() {
    let f = sqlite_fixture().await;
    let task = f.task("daemon", json!("sleep 300 & echo started; echo done")).await;
    let run = f.runner.wait(f.runner.start(task.id).await.expect("start").id).await.expect("wait");
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    assert_eq!(texts(&f.logs(run.id).await, LogKind::Stdout), ["started", "done"]);
    assert!(
        process::run_processes(&run.id.to_string(), run.pid.map(|p| p as i32)).is_empty(),
        "the background job was ended with the run"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn giant_lines_and_invalid_utf8_are_kept_without_breaking_the_run() {
    let f = sqlite_fixture().await;
    let task = f
        .task(
            "noisy",
            json!("head -c 50000000 /dev/zero | tr '\\0' x; echo; printf 'ok\\377\\000\\n'; echo after"),
        )
        .await;
    let run = f.runner.wait(f.runner.start(task.id).await.expect("start").id).await.expect("wait");
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    let logs = f.logs(run.id).await;
    let stdout: Vec<&LogEntry> = logs.iter().filter(|e| e.kind == LogKind::Stdout).collect();
    let pieces: Vec<&&LogEntry> = stdout.iter().take_while(|e| e.text.starts_with('x')).collect();
    assert_eq!(
        pieces.iter().map(|e| e.text.len()).sum::<usize>(),
        50_000_000,
        "every byte of the long line is kept"
    );
    assert!(pieces.iter().all(|e| e.text.len() <= 1024 * 1024), "in pieces of at most 1 MiB");
    assert_eq!(pieces.len(), 48);
    assert!(pieces[..47].iter().all(|e| e.data == Some(json!({"truncated": true}))));
    assert_eq!(pieces[47].data, None, "the last piece ends the line");
    let tail: Vec<&str> = stdout[48..].iter().map(|e| e.text.as_str()).collect();
    assert_eq!(tail, ["ok\u{FFFD}\u{FFFD}", "after"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_runs_once_at_a_time_and_branch_collisions_pick_a_free_name() {
    let f = sqlite_fixture().await;
    git(&f.repo, &["branch", "taskyard/busy"]);
    let task = f.task("busy", json!("sleep 300")).await;
    let run = f.runner.start(task.id).await.expect("start");
    let second = f.runner.start(task.id).await;
    assert!(
        matches!(second, Err(RunError::Conflict(ref m)) if m.contains("already has a run")),
        "{second:?}"
    );
    f.runner.stop(run.id).await.expect("stop");
    let run = f.runner.wait(run.id).await.expect("wait");
    assert_eq!(run.branch.as_deref(), Some("taskyard/busy-2"), "the existing branch was left alone");
    assert_eq!(f.runner.store().list_runs(task.id).await.expect("runs").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repository_that_disappeared_fails_the_run_clearly() {
    let f = sqlite_fixture().await;
    let task = f.task("gone", json!("true")).await;
    std::fs::remove_dir_all(&f.repo).expect("remove repo");
    let run = f.runner.wait(f.runner.start(task.id).await.expect("start").id).await.expect("wait");
    assert_eq!(run.status, RunStatus::Failed);
    let error = run.error.expect("error");
    assert!(error.starts_with("could not prepare the worktree"), "{error}");
    assert!(!texts(&f.logs(run.id).await, LogKind::System).is_empty());
}

/// Followers that join at random moments while batches are being appended each see every
/// entry after their start exactly once, in order — on both databases.
mod follow {
    use super::*;
    use taskyard_core::events::LogNotice;

    async fn hand_over_is_gapless<S: Store>(store: S) {
        let bus = Arc::new(Bus::new());
        let p = store
            .create_project(NewProject {
                name: "p".into(),
                repo_path: "/r".into(),
                default_branch: "main".into(),
                origin_url: None,
                owner: None,
            })
            .await
            .expect("p");
        let t = store
            .create_task(NewTask {
                project_id: p.id,
                title: "t".into(),
                description: String::new(),
                agent: "command".into(),
                agent_config: "{}".into(),
            })
            .await
            .expect("t");
        let run = store
            .create_run(NewRun {
                task_id: t.id,
                kind: RunKind::Start,
                agent: "command".into(),
                prompt: "x".into(),
                started_by: None,
            })
            .await
            .expect("run");
        const TOTAL: i64 = 20_000;
        let writer = {
            let (store, bus) = (store.clone(), bus.clone());
            tokio::spawn(async move {
                let mut seq = 0;
                let mut n = 1;
                while seq < TOTAL {
                    let batch: Vec<LogEntry> = (0..n.min(TOTAL - seq))
                        .map(|i| LogEntry {
                            run_id: run.id,
                            seq: seq + i + 1,
                            ts: chrono::Utc::now(),
                            kind: LogKind::Stdout,
                            text: format!("l{}", seq + i + 1),
                            data: None,
                        })
                        .collect();
                    seq += batch.len() as i64;
                    store.append_logs(&batch).await.expect("append");
                    let (first_seq, last_seq) = (batch[0].seq, batch[batch.len() - 1].seq);
                    // Every third notice carries no entries, as notices from another replica.
                    let entries = (n % 3 != 0).then(|| batch.into());
                    bus.publish_logs(run.id, LogNotice::Appended { first_seq, last_seq, entries });
                    n = n % 97 + 1;
                    tokio::task::yield_now().await;
                }
                store.finish_run(run.id, RunStatus::Succeeded, RunFinished::default()).await.expect("finish");
                bus.end_logs(run.id);
            })
        };
        let mut followers = Vec::new();
        for k in 0..6i64 {
            let (store, bus) = (store.clone(), bus.clone());
            followers.push(tokio::spawn(async move {
                // Join at different moments and from different places.
                for _ in 0..(k * 40) {
                    tokio::task::yield_now().await;
                }
                let after = if k % 2 == 0 { 0 } else { store.last_log_seq(run.id).await.expect("last") / 2 };
                let mut f = LogFollower::new(store, &bus, run.id, after).await.expect("follower");
                let mut expect = after + 1;
                while let Some(batch) = f.next().await.expect("next") {
                    for e in batch {
                        assert_eq!(e.seq, expect, "follower {k} got {} after {}", e.seq, expect - 1);
                        assert_eq!(e.text, format!("l{}", e.seq));
                        expect += 1;
                    }
                }
                expect - 1
            }));
        }
        writer.await.expect("writer");
        for f in followers {
            assert_eq!(f.await.expect("follower"), TOTAL, "every follower reaches the end");
        }
        // A follower that starts after the end gets the stored log and ends.
        let mut late = LogFollower::new(store.clone(), &bus, run.id, TOTAL - 5).await.expect("late");
        assert_eq!(late.next().await.expect("next").map(|b| b.len()), Some(5));
        assert!(late.next().await.expect("end").is_none());
        assert!(LogFollower::new(store, &bus, RunId::new(), 0).await.is_err(), "an unknown run is refused");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite() {
        let dir = tempfile::tempdir().expect("tempdir");
        hand_over_is_gapless(SqliteStore::open(&dir.path().join("t.db")).await.expect("sqlite")).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres() {
        let db = TestDatabase::create().await.expect("database");
        hand_over_is_gapless(PgStore::connect(&db.url).await.expect("postgres")).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_worktrees_go_and_what_may_be_needed_stays() {
    let f = sqlite_fixture().await;
    let done = f.task("finished work", json!("echo \"$TASKYARD_PROMPT\" > work.txt")).await;
    let dirty = f.task("dirty worktree", json!("echo more > work.txt")).await;
    let held = f.task("held worktree", json!("echo held > work.txt")).await;
    for t in [&done, &dirty, &held] {
        let run = f.runner.start(t.id).await.expect("start");
        assert_eq!(f.runner.wait(run.id).await.expect("wait").status, RunStatus::Succeeded);
    }
    // Someone edits the second worktree by hand after its run: that is not on the branch.
    std::fs::write(f.runner.worktree_path(dirty.id).join("notes.txt"), "mine").expect("write");
    let usage = f.runner.worktree_usage().await;
    assert_eq!(usage.count, 3);
    assert!(usage.bytes > 0);
    let hold = f.runner.hold_worktree(held.id);
    let idle = Duration::from_secs(3600);
    let now = chrono::Utc::now();
    assert!(f.runner.sweep_worktrees(idle, now).await.is_empty(), "nothing is idle for an hour yet");
    let later = now + chrono::Duration::hours(2);
    assert_eq!(f.runner.sweep_worktrees(idle, later).await, [done.id], "only the clean, idle, unheld one");
    assert!(!f.runner.worktree_path(done.id).exists());
    assert!(f.runner.worktree_path(dirty.id).join("notes.txt").exists(), "uncommitted work is kept");
    drop(hold);
    assert_eq!(f.runner.sweep_worktrees(idle, later).await, [held.id], "released, it goes too");
    assert_eq!(f.runner.worktree_usage().await.count, 1);
    // The work is on the branch, and a follow-up gets a worktree again.
    assert_eq!(git(&f.repo, &["show", "taskyard/finished-work:work.txt"]), "please finished work");
    let next = f.runner.follow_up(done.id, "again".into()).await.expect("follow up");
    let next = f.runner.wait(next.id).await.expect("wait");
    assert_eq!(next.status, RunStatus::Succeeded, "{:?}", next.error);
    assert_eq!(git(&f.repo, &["show", "taskyard/finished-work:work.txt"]), "again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agents_run_at_a_lower_cpu_priority_than_the_server() {
    let f = sqlite_fixture().await;
    // Fields 19 and 41 of /proc/<pid>/stat: the nice value and the scheduling policy.
    let stat_fields = |stat: &str| -> (i64, i64) {
        let rest: Vec<&str> = stat.rsplit(')').next().expect("stat").split_whitespace().collect();
        (rest[16].parse().expect("nice"), rest[38].parse().expect("policy"))
    };
    let task = f.task("niceness", json!("cat /proc/self/stat")).await;
    let run = f.runner.start(task.id).await.expect("start");
    let run = f.runner.wait(run.id).await.expect("wait");
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    let (own_nice, own_policy) = stat_fields(&std::fs::read_to_string("/proc/self/stat").expect("stat"));
    assert_eq!(own_policy, 0, "the test runs in the normal class");
    let logs = f.logs(run.id).await;
    let (nice, policy) = stat_fields(texts(&logs, LogKind::Stdout)[0]);
    assert_eq!(nice, (own_nice + 19).min(19), "the lowest nice value");
    // SCHED_IDLE is 5; a system without `chrt` (or that forbids the class) keeps nice alone.
    let chrt_works =
        std::process::Command::new("chrt").args(["--idle", "0", "true"]).status().is_ok_and(|s| s.success());
    assert_eq!(policy, if chrt_works { 5 } else { 0 }, "the idle scheduling class");
}

/// A run the worker claims while the runner shuts down either stops with the shutdown or is
/// never started: no agent may outlive the server. Each round shuts down a little later
/// after the start, to meet the claim at a different point.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_claimed_during_shutdown_starts_no_agent_that_outlives_it() {
    let sleeping = |token: &str| {
        std::fs::read_dir("/proc").unwrap().filter_map(Result::ok).any(|e| {
            std::fs::read(e.path().join("cmdline")).is_ok_and(|c| c == format!("sleep\0{token}\0").as_bytes())
        })
    };
    let mut started = 0;
    for delay_ms in [0u64, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512] {
        let f = sqlite_fixture().await;
        let mark = f._dirs[0].path().join("started");
        // A sleep whose length names the round, so its process is found by its command line.
        let token = format!("{}", 1000 + delay_ms);
        let task = f.task("count", json!(format!("touch {}; exec sleep {token}", mark.display()))).await;
        f.runner.start(task.id).await.expect("start");
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        f.runner.shutdown().await;
        // Whatever started must be gone now, and nothing may start later.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!sleeping(&token), "the agent of a run shut down {delay_ms} ms after its start still runs");
        started += usize::from(mark.exists());
    }
    assert!(started > 0, "no round started its agent before the shutdown: the stop path went untried");
}

//! Log pipeline throughput: one run whose agent prints 1,000,000 lines as fast as it can,
//! measured from the pipe to entries committed in the store and delivered to 10 live
//! followers, on SQLite and on Postgres. Every follower checks seq continuity and content.
//!
//! `cargo bench -p taskyard-core --bench log_pipeline` (set `BENCH_LINES` for another size).

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use taskyard_core::events::Bus;
use taskyard_core::logs::LogFollower;
use taskyard_core::model::{LogKind, NewProject, NewTask, RunStatus};
use taskyard_core::runner::{Runner, RunnerConfig};
use taskyard_core::store::{PgStore, SqliteStore, Store};
use taskyard_test_support::pg::TestDatabase;

const FOLLOWERS: usize = 10;

fn git(repo: &Path, args: &[&str]) {
    let ok = Command::new("git")
        .args(["-c", "user.name=Bench", "-c", "user.email=bench@example.com"])
        .args(args)
        .current_dir(repo)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "git {args:?} failed");
}

struct Figures {
    total: Duration,
    pipeline: Duration,
}

async fn run_once<S: Store>(store: S, lines: u64) -> Figures {
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(&repo).expect("mkdir");
    git(&repo, &["init", "-q", "-b", "main"]);
    std::fs::write(repo.join("README.md"), "bench\n").expect("write");
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "init"]);
    let runner = Runner::new(store.clone(), Arc::new(Bus::new()), RunnerConfig::new(dir.path().join("data")));
    let project = store
        .create_project(NewProject {
            name: "bench".into(),
            repo_path: repo.display().to_string(),
            default_branch: "main".into(),
            origin_url: None,
            owner: None,
        })
        .await
        .expect("project");
    let script = format!("awk 'BEGIN {{ for (i = 1; i <= {lines}; i++) print \"line \" i }}'");
    let task = store
        .create_task(NewTask {
            project_id: project.id,
            title: "print".into(),
            description: String::new(),
            agent: "command".into(),
            agent_config: json!({ "command": script }).to_string(),
        })
        .await
        .expect("task");

    let started = Instant::now();
    let run = runner.start(task.id).await.expect("start");
    let mut followers = Vec::new();
    for _ in 0..FOLLOWERS {
        let mut f = LogFollower::new(store.clone(), runner.bus(), run.id, 0).await.expect("follow");
        followers.push(tokio::spawn(async move {
            let mut expect_seq = 1;
            let mut next_line = 1u64;
            let mut first_line_at = None;
            while let Some(batch) = f.next().await.expect("next") {
                for e in batch {
                    assert_eq!(e.seq, expect_seq, "seq continuity");
                    expect_seq += 1;
                    if e.kind == LogKind::Stdout {
                        assert_eq!(e.text, format!("line {next_line}"), "content and order");
                        if next_line == 1 {
                            first_line_at = Some(Instant::now());
                        }
                        next_line += 1;
                    }
                }
            }
            (next_line - 1, first_line_at, Instant::now())
        }));
    }
    let mut first_any: Option<Instant> = None;
    let mut last_done = started;
    for f in followers {
        let (got, first, done) = f.await.expect("follower");
        assert_eq!(got, lines, "a follower missed lines");
        first_any = match (first_any, first) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        last_done = last_done.max(done);
    }
    let run = runner.wait(run.id).await.expect("wait");
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    assert_eq!(store.read_logs(run.id, 0, 1).await.expect("read")[0].seq, 1);
    Figures { total: last_done - started, pipeline: last_done - first_any.unwrap_or(started) }
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(str::to_owned))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse::<f64>().ok()))
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

fn report(backend: &str, lines: u64, f: &Figures) {
    let per_sec = |d: Duration| lines as f64 / d.as_secs_f64();
    println!(
        "{backend:>8}: {lines} lines → store + {FOLLOWERS} followers in {:.2} s = {:.0} lines/s end to end \
         ({:.0} lines/s from first line to last delivery); peak RSS so far {:.0} MiB",
        f.total.as_secs_f64(),
        per_sec(f.total),
        per_sec(f.pipeline),
        peak_rss_mib()
    );
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs it as a quick smoke test.
    let smoke = !std::env::args().any(|a| a == "--bench");
    let lines: u64 = std::env::var("BENCH_LINES").ok().and_then(|v| v.parse().ok()).unwrap_or(if smoke {
        10_000
    } else {
        1_000_000
    });
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        let dir = tempfile::tempdir().expect("tempdir");
        let sqlite = SqliteStore::open(&dir.path().join("bench.db")).await.expect("sqlite");
        let f = run_once(sqlite, lines).await;
        report("sqlite", lines, &f);

        let db = TestDatabase::create().await.expect("postgres");
        let pg = PgStore::connect(&db.url).await.expect("postgres");
        let f = run_once(pg, lines).await;
        report("postgres", lines, &f);
    });
}

//! Board read load: `GET /api/projects/{id}/board` of a project with 10,000 tasks, served by
//! the real `taskyard serve` binary on SQLite and measured with `wrk` (Debian package) on
//! loopback. Prints p50/p99 latency, requests/s, the response size, and the server's RSS
//! idle and after the load.
//!
//! `cargo bench -p taskyard-server --bench board` (needs `wrk` on PATH; `BENCH_TASKS`,
//! `BENCH_SECONDS` change the size and duration).

use std::io::{BufRead as _, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use taskyard_core::model::{NewProject, NewTask, TaskPatch, TaskStatus};
use taskyard_core::store::{SqliteStore, Store};

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).map(str::to_owned))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill").arg("-TERM").arg(self.0.id().to_string()).status();
        let _ = self.0.wait();
    }
}

fn main() {
    let smoke = !std::env::args().any(|a| a == "--bench");
    let tasks: usize = std::env::var("BENCH_TASKS").ok().and_then(|v| v.parse().ok()).unwrap_or(if smoke {
        500
    } else {
        10_000
    });
    let seconds: u64 = std::env::var("BENCH_SECONDS").ok().and_then(|v| v.parse().ok()).unwrap_or(if smoke {
        1
    } else {
        10
    });
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).expect("data dir");

    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let project_id = rt.block_on(async {
        let store = SqliteStore::open(&data.join("taskyard.db")).await.expect("sqlite");
        let project = store
            .create_project(NewProject {
                name: "bench".into(),
                repo_path: "/bench/repo".into(),
                default_branch: "main".into(),
                origin_url: None,
                owner: None,
            })
            .await
            .expect("project");
        let started = Instant::now();
        let columns = [
            TaskStatus::Backlog,
            TaskStatus::InProgress,
            TaskStatus::InReview,
            TaskStatus::Done,
            TaskStatus::Failed,
        ];
        for i in 0..tasks {
            let task = store
                .create_task(NewTask {
                    project_id: project.id,
                    title: format!("Task {i}: tidy the module and its tests"),
                    description:
                        "Refactor the parser so errors carry spans, then update the callers and add \
                                  table tests for the new messages. Keep the public API as it is."
                            .into(),
                    agent: "command".into(),
                    agent_config: r#"{"command":"make test"}"#.into(),
                })
                .await
                .expect("task");
            let status = columns[i % columns.len()];
            if status != TaskStatus::Backlog {
                store
                    .update_task(task.id, TaskPatch { status: Some(status), ..Default::default() })
                    .await
                    .expect("move");
            }
        }
        eprintln!("stored {tasks} tasks in {:.1} s", started.elapsed().as_secs_f64());
        project.id
    });

    let mut child = Command::new(env!("CARGO_BIN_EXE_taskyard"))
        .arg("--data-dir")
        .arg(&data)
        .args(["serve", "--port", "0"])
        .env("TASKYARD_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start taskyard");
    let stdout = child.stdout.take().expect("stdout");
    let server = Server(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).expect("read URL");
    let url = line.split_whitespace().last().expect("URL").to_owned();
    let (origin, token) = url.split_once("/?token=").expect("token");
    let board = format!("{origin}/api/projects/{project_id}/board");
    std::thread::sleep(Duration::from_secs(2));
    let idle = rss_kib(server.0.id());

    let cold = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{time_total} %{size_download}",
            "-H",
            "Accept-Encoding: gzip",
            "-H",
        ])
        .arg(format!("Authorization: Bearer {token}"))
        .arg(&board)
        .output()
        .expect("curl");
    let cold = String::from_utf8_lossy(&cold.stdout).to_string();
    let mut cold = cold.split_whitespace();
    let cold_ms = cold.next().and_then(|t| t.parse::<f64>().ok()).unwrap_or(f64::NAN) * 1000.0;
    let size = cold.next().unwrap_or("?").to_owned();

    let out = Command::new("wrk")
        .args(["-t1", "-c16", "--latency", "-H", "Accept-Encoding: gzip, deflate, br", "-d"])
        .arg(format!("{seconds}s"))
        .arg("-H")
        .arg(format!("Authorization: Bearer {token}"))
        .arg(&board)
        .output()
        .expect("run wrk (apt-get install wrk)");
    let report = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success() && report.contains("Requests/sec"), "wrk failed: {report}");
    assert!(!report.contains("Non-2xx"), "the board answered errors under load:\n{report}");
    let pick = |prefix: &str| {
        report
            .lines()
            .find(|l| l.trim_start().starts_with(prefix))
            .and_then(|l| l.split_whitespace().nth(1))
            .unwrap_or("?")
            .to_owned()
    };
    let loaded = rss_kib(server.0.id());
    println!(
        "board of {tasks} tasks ({size} bytes gzip, as browsers ask; first read {cold_ms:.1} ms): p50 {} p99 {} , {} requests/s \
         (wrk -t1 -c16, {seconds} s, on the same 2 cores); server RSS idle {:.1} MiB, after load {:.1} MiB",
        pick("50%"),
        pick("99%"),
        pick("Requests/sec:"),
        idle as f64 / 1024.0,
        loaded as f64 / 1024.0
    );
}

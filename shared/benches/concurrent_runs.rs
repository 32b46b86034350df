//! Concurrent runs: 200 runs of a scripted agent at once, each printing 1,000 lines/s for
//! 10 s, through the runner's queue, pipeline and store to a live follower per run, on SQLite
//! and on Postgres. Measured on the server side (this process: runner, pipelines, store,
//! followers — the agents are child processes and are not counted): CPU, RSS before and
//! during the runs, RSS per run, and the delay from the agent printing a line to a live
//! follower receiving it. Every line must arrive exactly once and in order.
//!
//! `cargo bench -p taskyard-core --bench concurrent_runs` (`BENCH_RUNS`, `BENCH_SECONDS`,
//! `BENCH_RATE` lines/s per run, `BENCH_FOLLOWED` runs with a live follower — the others are
//! checked in the store afterwards — and `BENCH_BACKENDS=sqlite,postgres` change it).
//!
//! The scripted agent is this bench binary itself (`concurrent_runs agent <lines> <rate>
//! <go-file>`): 200 Python interpreters doing 200,000 sleeps and flushed writes per second
//! need more than the machine's two cores by themselves (measured: 2.3 cores of agent CPU,
//! the machine 100% busy, so the server starved). `BENCH_AGENT=python` uses the Python
//! script below instead. Each backend is measured in a process of its own, so memory the
//! allocator kept from one does not hide the other's.
//!
//! The agents start printing together: each prints `ready`, then waits for a file the bench
//! creates once every run has said `ready`, so all of them are live at once (otherwise
//! worktree preparation, one at a time per repository, would stagger them). Each then prints
//! `seq <n> t <unix nanos>` on an absolute schedule (line n is due at start + (n-1)/rate),
//! flushing every line, as a chatty agent does. They run as the runner runs every agent (the
//! idle scheduling class, nice 19). Besides the quantiles, the report gives the slowest
//! delivery of the lines printed in each second, to show where in the run slow lines were.
//!
//! The Postgres is the test harness's ephemeral cluster (fsync off, `max_wal_size` 8 GB so
//! the WAL of this write rate does not force a checkpoint every few seconds).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::json;
use taskyard_core::events::Bus;
use taskyard_core::logs::LogFollower;
use taskyard_core::model::{LogEntry, LogKind, NewProject, NewTask, RunId, RunStatus};
use taskyard_core::runner::{Runner, RunnerConfig};
use taskyard_core::store::{PgStore, SqliteStore, Store};
use taskyard_test_support::pg::TestDatabase;

/// Targets from the requirement.
const TARGET_RSS_PER_RUN_KIB: f64 = 1024.0;
const TARGET_P99_MS: f64 = 50.0;

/// How often RSS is sampled while runs are live.
const SAMPLE_EVERY: Duration = Duration::from_millis(100);
/// RSS samples this long after the start of printing are warm-up, not steady state.
const WARM_UP: Duration = Duration::from_secs(1);

/// The scripted agent in Python (`BENCH_AGENT=python`): `ready`, wait for the go file, then `lines` lines at `rate` per second.
const AGENT: &str = r#"
import os, sys, time
lines, rate, go = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
out = sys.stdout
out.write("ready\n"); out.flush()
while not os.path.exists(go):
    time.sleep(0.005)
start = time.monotonic()
for n in range(1, lines + 1):
    wait = start + (n - 1) / rate - time.monotonic()
    if wait > 0:
        time.sleep(wait)
    out.write("seq %d t %d\n" % (n, time.time_ns()))
    out.flush()
"#;

/// The scripted agent in Rust, run as `<this binary> agent <lines> <rate> <go-file>`: the same
/// schedule as [`AGENT`].
fn agent(args: &[String]) {
    use std::io::Write;
    let lines: u64 = args[0].parse().expect("lines");
    let rate: f64 = args[1].parse().expect("rate");
    let go = Path::new(&args[2]);
    let mut out = std::io::stdout().lock();
    let mut print = |line: &str| {
        // The reader is gone (the run was stopped): nothing more to do.
        if out.write_all(line.as_bytes()).and_then(|()| out.flush()).is_err() {
            std::process::exit(1);
        }
    };
    print("ready\n");
    while !go.exists() {
        std::thread::sleep(Duration::from_millis(5));
    }
    let start = Instant::now();
    for n in 1..=lines {
        let due = start + Duration::from_secs_f64((n - 1) as f64 / rate);
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        print(&format!("seq {n} t {}\n", unix_nanos()));
    }
}

/// The agent's command line for a task.
fn agent_command(p: &Params, go: &Path) -> Vec<String> {
    let args = [p.lines().to_string(), p.rate.to_string(), go.display().to_string()];
    let mut argv = if std::env::var("BENCH_AGENT").is_ok_and(|a| a == "python") {
        vec![python(), "-c".into(), AGENT.into()]
    } else {
        let exe = std::env::current_exe().expect("this binary");
        vec![exe.display().to_string(), "agent".into()]
    };
    argv.extend(args);
    argv
}

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

/// The real interpreter behind `python3` (a pyenv shim would start a shell and pyenv per run).
fn python() -> String {
    let out = Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .expect("python3 is needed for the scripted agent");
    assert!(out.status.success(), "python3 failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[derive(Debug, Clone, Copy)]
struct Params {
    runs: usize,
    seconds: u64,
    rate: u64,
    followed: usize,
}

impl Params {
    fn lines(&self) -> u64 {
        self.seconds * self.rate
    }
}

/// Latencies in a fixed histogram (allocated and touched before the "before" RSS, so
/// collecting 2,000,000 of them does not count as memory of the runs).
struct Latencies {
    buckets: Vec<AtomicU32>,
    max_us: AtomicU64,
    count: AtomicU64,
    /// When the agents were told to go (unix nanos), and the slowest delivery of the lines
    /// printed in each second after it: where in the run the slow lines were.
    go_ns: AtomicU64,
    worst_by_second: Vec<AtomicU64>,
}

const BUCKET_US: u64 = 100;
const BUCKETS: usize = 600_000; // 60 s; slower lines land in the last bucket (max stays exact)

impl Latencies {
    fn new() -> Self {
        Self {
            buckets: (0..BUCKETS).map(|_| AtomicU32::new(0)).collect(),
            max_us: AtomicU64::new(0),
            count: AtomicU64::new(0),
            go_ns: AtomicU64::new(u64::MAX),
            worst_by_second: (0..60).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    fn record(&self, us: u64, sent_ns: u64) {
        let second = (sent_ns.saturating_sub(self.go_ns.load(Ordering::Relaxed)) / 1_000_000_000) as usize;
        self.worst_by_second[second.min(59)].fetch_max(us, Ordering::Relaxed);
        let i = ((us / BUCKET_US) as usize).min(BUCKETS - 1);
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        self.max_us.fetch_max(us, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    /// The `p`-quantile in ms (upper edge of its bucket).
    fn quantile_ms(&self, p: f64) -> f64 {
        let count = self.count.load(Ordering::Relaxed);
        if count == 0 {
            return f64::NAN;
        }
        let rank = ((count as f64 * p).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, b) in self.buckets.iter().enumerate() {
            seen += u64::from(b.load(Ordering::Relaxed));
            if seen >= rank {
                return ((i as u64 + 1) * BUCKET_US) as f64 / 1000.0;
            }
        }
        self.max_ms()
    }

    fn max_ms(&self) -> f64 {
        self.max_us.load(Ordering::Relaxed) as f64 / 1000.0
    }
}

/// Checks one run's entries as they come: seqs gapless from 1, stdout `ready` then
/// `seq 1 …` to `seq N …` each exactly once in order, nothing on stderr.
struct Checker {
    run: RunId,
    next_seq: i64,
    ready: bool,
    next_line: u64,
}

impl Checker {
    fn new(run: RunId) -> Self {
        Self { run, next_seq: 1, ready: false, next_line: 1 }
    }

    /// Feeds one entry; returns the unix nanos the agent printed it at, for a `seq` line.
    fn feed(&mut self, e: &LogEntry) -> Option<u64> {
        let run = self.run;
        assert_eq!(e.seq, self.next_seq, "run {run}: seq continuity");
        self.next_seq += 1;
        match e.kind {
            LogKind::Stdout if !self.ready => {
                assert_eq!(e.text, "ready", "run {run}: first line");
                self.ready = true;
                None
            }
            LogKind::Stdout => {
                let mut words = e.text.split(' ');
                let (Some("seq"), Some(n), Some("t"), Some(t), None) =
                    (words.next(), words.next(), words.next(), words.next(), words.next())
                else {
                    panic!("run {run}: unexpected line {:?}", e.text);
                };
                let n: u64 = n.parse().expect("line number");
                assert_eq!(n, self.next_line, "run {run}: line lost, duplicated or out of order");
                self.next_line += 1;
                Some(t.parse().expect("timestamp"))
            }
            LogKind::Stderr => panic!("run {run}: the agent failed: {}", e.text),
            _ => None,
        }
    }

    fn lines(&self) -> u64 {
        self.next_line - 1
    }
}

fn unix_nanos() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_nanos() as u64
}

/// A field of `/proc/self/status`, in KiB.
fn status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with(field)).map(str::to_owned))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|kb| kb.parse().ok()))
        .unwrap_or(0)
}

/// CPU time of this process (user + system) and of its waited-for children, from
/// `/proc/self/stat` (in USER_HZ = 100 ticks per second).
fn cpu_times() -> (Duration, Duration) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after_name = stat.rsplit_once(") ").map(|(_, rest)| rest).unwrap_or("");
    let f: Vec<u64> = after_name.split_whitespace().map(|v| v.parse().unwrap_or(0)).collect();
    let ticks = |i: usize| f.get(i).copied().unwrap_or(0);
    let to_dur = |t: u64| Duration::from_millis(t * 10);
    // Fields 14..=17 of stat(5): utime, stime, cutime, cstime (index 0 here is field 3).
    (to_dur(ticks(11) + ticks(12)), to_dur(ticks(13) + ticks(14)))
}

/// (busy, total) jiffies of the whole machine, from `/proc/stat`.
fn machine_cpu() -> (u64, u64) {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let f: Vec<u64> = stat
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .map(|v| v.parse().unwrap_or(0))
        .collect();
    let total: u64 = f.iter().take(8).sum();
    let idle = f.get(3).copied().unwrap_or(0) + f.get(4).copied().unwrap_or(0);
    (total - idle, total)
}

/// Samples VmRSS every [`SAMPLE_EVERY`] on a thread of its own until dropped.
struct RssSampler {
    samples: Arc<Mutex<Vec<(Instant, u64)>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RssSampler {
    fn start() -> Self {
        let samples = Arc::new(Mutex::new(Vec::with_capacity(100_000)));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (samples, stop) = (samples.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let rss = status_kib("VmRSS:");
                    samples.lock().expect("samples").push((Instant::now(), rss));
                    std::thread::sleep(SAMPLE_EVERY);
                }
            })
        };
        Self { samples, stop, thread: Some(thread) }
    }

    fn finish(mut self) -> Vec<(Instant, u64)> {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            t.join().expect("sampler");
        }
        std::mem::take(&mut *self.samples.lock().expect("samples"))
    }
}

struct Figures {
    lines: u64,
    streaming: Duration,
    settled: Duration,
    setup: Duration,
    latencies: Latencies,
    server_cpu: Duration,
    children_cpu: Duration,
    machine_busy: f64,
    rss_before_kib: u64,
    rss_idle_kib: u64,
    rss_steady_kib: u64,
    rss_steady_max_kib: u64,
    steady_samples: usize,
    peak_kib: u64,
}

async fn run_once<S: Store>(store: S, p: Params) -> Figures {
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(&repo).expect("mkdir");
    git(&repo, &["init", "-q", "-b", "main"]);
    std::fs::write(repo.join("README.md"), "bench\n").expect("write");
    git(&repo, &["add", "."]);
    git(&repo, &["commit", "-q", "-m", "init"]);
    let go: PathBuf = dir.path().join("go");
    let mut config = RunnerConfig::new(dir.path().join("data"));
    config.agent_env.clear();
    config.queue.max_concurrent = p.runs;
    let runner = Runner::new(store.clone(), Arc::new(Bus::new()), config);
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
    let argv = agent_command(&p, &go);
    let mut tasks = Vec::with_capacity(p.runs);
    for i in 0..p.runs {
        let task = store
            .create_task(NewTask {
                project_id: project.id,
                title: format!("chatty {i}"),
                description: "print lines".into(),
                agent: "custom".into(),
                agent_config: json!({ "command": argv }).to_string(),
            })
            .await
            .expect("task");
        tasks.push(task);
    }
    let latencies = Arc::new(Latencies::new());
    let first_done: Arc<Mutex<Option<Instant>>> = Arc::default();

    // Give the allocator a moment to settle, then the baseline.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let sampler = RssSampler::start();
    let rss_before_kib = status_kib("VmRSS:");
    let (_, children0) = cpu_times();
    let setup_started = Instant::now();

    let mut runs = Vec::with_capacity(p.runs);
    let mut followers = Vec::with_capacity(p.followed);
    for (i, task) in tasks.iter().enumerate() {
        let run = runner.start(task.id).await.expect("start");
        if i < p.followed {
            let mut f = LogFollower::new(store.clone(), runner.bus(), run.id, 0).await.expect("follow");
            let (latencies, first_done, lines) = (latencies.clone(), first_done.clone(), p.lines());
            let id = run.id;
            followers.push(tokio::spawn(async move {
                let mut check = Checker::new(id);
                let mut done_at = None;
                while let Some(batch) = f.next().await.expect("next") {
                    let now = unix_nanos();
                    for e in &batch {
                        if let Some(sent) = check.feed(e) {
                            latencies.record(now.saturating_sub(sent) / 1_000, sent);
                        }
                    }
                    if done_at.is_none() && check.lines() == lines {
                        let at = Instant::now();
                        first_done.lock().expect("first done").get_or_insert(at);
                        done_at = Some(at);
                    }
                }
                (check.lines(), done_at)
            }));
        }
        runs.push(run.id);
    }

    // Every agent is up when it has said `ready` (in the store: followed or not).
    let mut ready = vec![false; p.runs];
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        for (i, run) in runs.iter().enumerate() {
            if !ready[i] {
                let head = store.read_logs(*run, 0, 10).await.expect("read");
                ready[i] = head.iter().any(|e| e.kind == LogKind::Stdout && e.text == "ready");
                if !ready[i] {
                    let r = store.get_run(*run).await.expect("run");
                    assert!(!r.status.is_terminal(), "run {run} ended before printing: {:?}", r.error);
                }
            }
        }
        let n = ready.iter().filter(|r| **r).count();
        if n == p.runs {
            break;
        }
        assert!(Instant::now() < deadline, "only {n} of {} agents started in 300 s", p.runs);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let setup = setup_started.elapsed();
    let rss_idle_kib = status_kib("VmRSS:");
    let (cpu0, _) = cpu_times();
    let machine0 = machine_cpu();
    let go_at = Instant::now();
    latencies.go_ns.store(unix_nanos(), Ordering::Relaxed);
    std::fs::write(&go, "go").expect("go");

    let mut last_done = go_at;
    for f in followers {
        let (got, done) = f.await.expect("follower");
        assert_eq!(got, p.lines(), "a follower missed lines");
        last_done = last_done.max(done.expect("all lines delivered"));
    }
    let (cpu1, _) = cpu_times();
    let machine1 = machine_cpu();
    for run in &runs {
        let r = runner.wait(*run).await.expect("wait");
        assert_eq!(r.status, RunStatus::Succeeded, "run {run}: {:?}", r.error);
    }
    let settled = go_at.elapsed();
    let samples = sampler.finish();
    // Runs without a live follower: the same check over the store.
    for run in &runs[p.followed..] {
        let mut check = Checker::new(*run);
        let mut after = 0;
        loop {
            let page = store.read_logs(*run, after, 2_000).await.expect("read");
            let Some(last) = page.last() else { break };
            after = last.seq;
            page.iter().for_each(|e| {
                check.feed(e);
            });
        }
        assert_eq!(check.lines(), p.lines(), "run {run}: lines lost in the store");
    }
    let children_cpu = cpu_times().1 - children0;

    // Steady state: all runs printing, after the warm-up, before the first run finished.
    let first_done = first_done.lock().expect("first done").unwrap_or(last_done);
    let window = |from: Instant| -> Vec<u64> {
        samples.iter().filter(|(t, _)| *t >= from && *t <= first_done).map(|s| s.1).collect()
    };
    let mut steady = window(go_at + WARM_UP);
    if steady.is_empty() {
        steady = window(go_at);
    }
    steady.sort_unstable();
    let streaming = last_done - go_at;
    let (busy, total) = (machine1.0 - machine0.0, machine1.1 - machine0.1);
    let latencies = Arc::into_inner(latencies).expect("followers ended");
    Figures {
        lines: latencies.count.load(Ordering::Relaxed),
        streaming,
        settled,
        setup,
        latencies,
        server_cpu: cpu1 - cpu0,
        children_cpu,
        machine_busy: busy as f64 / total.max(1) as f64,
        rss_before_kib,
        rss_idle_kib,
        rss_steady_kib: steady.get(steady.len() / 2).copied().unwrap_or(0),
        rss_steady_max_kib: steady.last().copied().unwrap_or(0),
        steady_samples: steady.len(),
        peak_kib: status_kib("VmHWM:"),
    }
}

fn report(backend: &str, p: Params, f: &Figures, smoke: bool) -> bool {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let secs = f.streaming.as_secs_f64();
    let mib = |kib: u64| kib as f64 / 1024.0;
    let per_run = |kib: u64| kib.saturating_sub(f.rss_before_kib) as f64 / p.runs as f64;
    let lat = &f.latencies;
    let p99 = lat.quantile_ms(0.99);
    println!(
        "{backend:>8}: {} runs × {} s × {} lines/s on {cores} cores; {} of them with a live follower \
         (the rest checked in the store); agents started in {:.1} s, then printed together",
        p.runs,
        p.seconds,
        p.rate,
        p.followed,
        f.setup.as_secs_f64()
    );
    let total = p.lines() * p.runs as u64;
    println!(
        "{backend:>8}: lines: {total} printed and stored, all runs settled {:.2} s after the start \
         = {:.0} lines/s; {} delivered live in {secs:.2} s; none lost, duplicated or out of order",
        f.settled.as_secs_f64(),
        total as f64 / f.settled.as_secs_f64(),
        f.lines
    );
    println!(
        "{backend:>8}: latency print → live follower: p50 {:.1} ms, p90 {:.1} ms, p99 {p99:.1} ms, max {:.1} ms",
        lat.quantile_ms(0.50),
        lat.quantile_ms(0.90),
        lat.max_ms()
    );
    let worst: Vec<String> = lat
        .worst_by_second
        .iter()
        .take(secs.ceil() as usize + 1)
        .map(|us| format!("{:.0}", us.load(Ordering::Relaxed) as f64 / 1000.0))
        .collect();
    println!("{backend:>8}: slowest delivery (ms) of the lines printed in each second: {}", worst.join(" "));
    println!(
        "{backend:>8}: server CPU (this process: runner, pipelines, store, followers; agents excluded) \
         {:.1} s over {secs:.1} s = {:.0}% of one core; agents {:.1} s; machine {:.0}% busy ({cores} cores)",
        f.server_cpu.as_secs_f64(),
        100.0 * f.server_cpu.as_secs_f64() / secs,
        f.children_cpu.as_secs_f64(),
        100.0 * f.machine_busy
    );
    println!(
        "{backend:>8}: RSS before runs {:.1} MiB, all agents started and idle {:.1} MiB, steady printing \
         {:.1} MiB (median of {} samples, max {:.1} MiB); peak (VmHWM, whole process so far) {:.1} MiB",
        mib(f.rss_before_kib),
        mib(f.rss_idle_kib),
        mib(f.rss_steady_kib),
        f.steady_samples,
        mib(f.rss_steady_max_kib),
        mib(f.peak_kib)
    );
    println!(
        "{backend:>8}: per-run overhead {:.0} KiB while printing ({:.0} KiB idle)",
        per_run(f.rss_steady_kib),
        per_run(f.rss_idle_kib)
    );
    let rss_ok = per_run(f.rss_steady_kib) <= TARGET_RSS_PER_RUN_KIB;
    let p99_ok = p99 <= TARGET_P99_MS;
    let verdict = |ok: bool| if ok { "PASS" } else { "FAIL" };
    println!(
        "{backend:>8}: {} RSS ≤ 1 MiB per run; {} p99 ≤ {TARGET_P99_MS} ms; PASS no line lost{}",
        verdict(rss_ok),
        verdict(p99_ok),
        if smoke { " (smoke size: targets not enforced)" } else { "" }
    );
    rss_ok && p99_ok
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).is_some_and(|a| a == "agent") {
        return agent(&args[2..]);
    }
    // `cargo bench` passes `--bench`; `cargo test --benches` runs it as a quick smoke test.
    let smoke = !args.iter().any(|a| a == "--bench");
    let env = |name: &str, full: u64, small: u64| -> u64 {
        std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(if smoke { small } else { full })
    };
    let runs = env("BENCH_RUNS", 200, 10) as usize;
    let p = Params {
        runs,
        seconds: env("BENCH_SECONDS", 10, 1),
        rate: env("BENCH_RATE", 1_000, 1_000),
        followed: (env("BENCH_FOLLOWED", runs as u64, runs as u64) as usize).min(runs),
    };
    let backends = std::env::var("BENCH_BACKENDS").unwrap_or_else(|_| "sqlite,postgres".into());
    let backends: Vec<&str> = backends.split(',').map(str::trim).filter(|b| !b.is_empty()).collect();
    for b in &backends {
        assert!(matches!(*b, "sqlite" | "postgres"), "unknown backend {b:?} in BENCH_BACKENDS");
    }
    if backends.len() > 1 {
        // One process per backend: RSS figures of the second would start from what the
        // allocator kept of the first.
        let exe = std::env::current_exe().expect("this binary");
        let mut ok = true;
        for backend in backends {
            let status = Command::new(&exe)
                .args(&args[1..])
                .env("BENCH_BACKENDS", backend)
                .status()
                .expect("bench process");
            // 1 is a missed target (already reported); anything else is a failure.
            assert!(status.success() || status.code() == Some(1), "{backend} bench failed: {status}");
            ok &= status.success();
        }
        if !ok {
            std::process::exit(1);
        }
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let mut met = true;
    rt.block_on(async {
        if backends.contains(&"sqlite") {
            let dir = tempfile::tempdir().expect("tempdir");
            let sqlite = SqliteStore::open(&dir.path().join("bench.db")).await.expect("sqlite");
            let f = run_once(sqlite, p).await;
            met &= report("sqlite", p, &f, smoke);
        }
        if backends.contains(&"postgres") {
            let db = TestDatabase::create().await.expect("postgres");
            let pg = PgStore::connect(&db.url).await.expect("postgres");
            let f = run_once(pg, p).await;
            met &= report("postgres", p, &f, smoke);
        }
    });
    if !met && !smoke {
        eprintln!("performance targets missed (see FAIL above)");
        std::process::exit(1);
    }
}

//! Real `taskyard serve` processes for the queue's crash and cluster tests: started on
//! loopback, killed with SIGKILL, restarted on the same data; a client that keeps reading
//! run logs across restarts; and a scripted agent that records each execution in a ledger.

#![allow(dead_code)] // Each test file uses a part.

use std::collections::BTreeMap;
use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The real binary on `data`, with an environment the test controls (only `PATH`).
pub fn taskyard(data: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_taskyard"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", data)
        .arg("--data-dir")
        .arg(data);
    cmd
}

/// A running server process.
pub struct ServerProcess {
    pub child: Child,
    pub base: String,
    pub token: String,
    pub log: PathBuf,
}

impl ServerProcess {
    /// Starts `taskyard serve` on a free port with `data` (and `database_url` when given) and
    /// waits for the URL it prints. Its stderr is appended to `data/../server-<name>.log`.
    pub fn start(name: &str, data: &Path, database_url: Option<&str>, args: &[&str]) -> Self {
        Self::start_with_env(name, data, database_url, args, &[])
    }

    /// [`ServerProcess::start`] with more variables in the server's environment. A team
    /// server prints no token: `token` is empty then.
    pub fn start_with_env(
        name: &str,
        data: &Path,
        database_url: Option<&str>,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Self {
        let mut cmd = taskyard(data);
        cmd.env("TASKYARD_LOG", "info").envs(env.iter().copied());
        if let Some(url) = database_url {
            cmd.arg("--database-url").arg(url);
        }
        cmd.arg("serve").args(["--port", "0"]).args(args);
        Self::spawn(name, cmd, &data.with_file_name(format!("server-{name}.log"))).ready()
    }

    /// Spawns a prepared `taskyard … serve …` command, its stderr appended to `log`, without
    /// waiting for it to listen (replicas that must start together are all spawned first).
    pub fn spawn(name: &str, mut cmd: Command, log: &Path) -> Starting {
        let stderr = std::fs::OpenOptions::new().create(true).append(true).open(log).expect("log file");
        let mut child = cmd.stdout(Stdio::piped()).stderr(stderr).spawn().expect("spawn taskyard serve");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, urls) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.split("Open ").nth(1) {
                    let _ = tx.send(url.trim().to_owned());
                }
            }
        });
        Starting { name: name.to_owned(), child: Some(child), urls, log: log.to_path_buf() }
    }

    /// SIGKILL: no shutdown, no cleanup — as a crash.
    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// A client of this server.
    pub fn client(&self) -> Api {
        Api { http: reqwest::Client::new(), base: self.base.clone(), token: self.token.clone() }
    }
}

/// A spawned server that has not said where it listens yet.
pub struct Starting {
    name: String,
    child: Option<Child>,
    urls: std::sync::mpsc::Receiver<String>,
    log: PathBuf,
}

impl Starting {
    /// Waits (30 s at most) for the URL the server prints.
    pub fn ready(mut self) -> ServerProcess {
        let url = self.urls.recv_timeout(Duration::from_secs(30)).unwrap_or_else(|_| {
            panic!("{} printed no URL: {}", self.name, std::fs::read_to_string(&self.log).unwrap_or_default())
        });
        let url = url.trim_end_matches('/');
        let (base, token) = url.split_once("/?token=").unwrap_or((url, ""));
        let child = self.child.take().expect("spawned");
        ServerProcess { child, base: base.to_owned(), token: token.to_owned(), log: self.log.clone() }
    }
}

impl Drop for Starting {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The HTTP API of one server.
#[derive(Clone)]
pub struct Api {
    pub http: reqwest::Client,
    pub base: String,
    pub token: String,
}

impl Api {
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> reqwest::Result<(u16, Value)> {
        let mut req = self.http.request(method, format!("{}{path}", self.base)).bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.timeout(Duration::from_secs(10)).send().await?;
        let status = res.status().as_u16();
        let text = res.text().await?;
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::String(text))))
    }

    pub async fn get(&self, path: &str) -> Value {
        let (status, body) = self.send(reqwest::Method::GET, path, None).await.expect("GET");
        assert!(status < 300, "GET {path}: {status} {body}");
        body
    }

    pub async fn post(&self, path: &str, body: Value) -> Value {
        let (status, answer) = self.send(reqwest::Method::POST, path, Some(body)).await.expect("POST");
        assert!(status < 300, "POST {path}: {status} {answer}");
        answer
    }
}

pub fn git(repo: &Path, args: &[&str]) {
    let ok = Command::new("git")
        .args(["-c", "user.name=T", "-c", "user.email=t@example.com"])
        .args(args)
        .current_dir(repo)
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    assert!(ok, "git {args:?}");
}

/// A repository with one commit on `main`.
pub fn repo(at: &Path) -> PathBuf {
    std::fs::create_dir_all(at).expect("mkdir");
    git(at, &["init", "-q", "-b", "main"]);
    std::fs::write(at.join("README.md"), "# demo\n").expect("write");
    git(at, &["add", "."]);
    git(at, &["commit", "-q", "-m", "first"]);
    at.to_path_buf()
}

/// A `custom` agent that records its start and end in `ledger` (run id, pid, time in ns),
/// prints `steps` numbered lines `pause` seconds apart, writes a file and exits 0.
pub fn scripted_agent(ledger: &Path, steps: u32, pause: &str) -> Value {
    let ledger = ledger.display();
    let script = format!(
        "echo \"start $TASKYARD_RUN_ID $$ $(date +%s%N) $PWD\" >> {ledger}; i=0; \
         while [ $i -lt {steps} ]; do i=$((i+1)); echo \"step $i\"; sleep {pause}; done; \
         echo done > out.txt; echo \"end $TASKYARD_RUN_ID $$ $(date +%s%N) $PWD\" >> {ledger}"
    );
    json!({ "command": script })
}

/// One line of the ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    pub start: bool,
    pub run: String,
    pub pid: i32,
    pub at_ns: u128,
    /// The worktree it ran in (which server's data directory).
    pub dir: String,
}

pub fn read_ledger(ledger: &Path) -> Vec<Mark> {
    let text = std::fs::read_to_string(ledger).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let parts: Vec<&str> = l.split_whitespace().collect();
            let [what, run, pid, at, dir] = parts[..] else { return None };
            Some(Mark {
                start: what == "start",
                run: run.to_owned(),
                pid: pid.parse().ok()?,
                at_ns: at.parse().ok()?,
                dir: dir.to_owned(),
            })
        })
        .collect()
}

/// Now, in the ledger's unit.
pub fn now_ns() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
}

/// What a client received of each run's log: (seq, kind, text) in the order received.
pub type Received = Arc<Mutex<BTreeMap<String, Vec<(i64, String, String)>>>>;

/// A client that keeps reading every run's log from whichever server is current (`api`),
/// page by page after the last seq it has, as a reconnecting UI does. Stops when `done`.
pub fn follow_logs(
    api: Arc<Mutex<Option<Api>>>,
    runs: Vec<String>,
    received: Received,
    done: Arc<std::sync::atomic::AtomicBool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        while !done.load(std::sync::atomic::Ordering::SeqCst) {
            let current = api.lock().expect("lock").clone();
            if let Some(api) = current {
                for run in &runs {
                    let after =
                        received.lock().expect("lock").get(run).and_then(|v| v.last()).map_or(0, |e| e.0);
                    let path = format!("/api/runs/{run}/logs?after={after}&limit=1000");
                    let Ok((200, page)) = api.send(reqwest::Method::GET, &path, None).await else { continue };
                    let entries = page["entries"].as_array().cloned().unwrap_or_default();
                    let mut all = received.lock().expect("lock");
                    let list = all.entry(run.clone()).or_default();
                    for e in entries {
                        list.push((
                            e["seq"].as_i64().unwrap_or(-1),
                            e["kind"].as_str().unwrap_or("").to_owned(),
                            e["text"].as_str().unwrap_or("").to_owned(),
                        ));
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
}

/// Every entry of a run's log as stored, read through `api`.
pub async fn stored_log(api: &Api, run: &str) -> Vec<(i64, String, String)> {
    let mut all: Vec<(i64, String, String)> = Vec::new();
    loop {
        let after = all.last().map_or(0, |e| e.0);
        let page = api.get(&format!("/api/runs/{run}/logs?after={after}&limit=1000")).await;
        let entries = page["entries"].as_array().cloned().unwrap_or_default();
        if entries.is_empty() {
            return all;
        }
        for e in entries {
            all.push((
                e["seq"].as_i64().unwrap_or(-1),
                e["kind"].as_str().unwrap_or("").to_owned(),
                e["text"].as_str().unwrap_or("").to_owned(),
            ));
        }
    }
}

/// Checks that everything a client received of a run is in the stored log, in order, once.
pub fn assert_received_is_kept(
    run: &str,
    received: &[(i64, String, String)],
    stored: &[(i64, String, String)],
) {
    let seqs: Vec<i64> = stored.iter().map(|e| e.0).collect();
    assert_eq!(seqs, (1..=stored.len() as i64).collect::<Vec<_>>(), "{run}: the stored log is gapless");
    assert!(received.windows(2).all(|w| w[1].0 > w[0].0), "{run}: received in order, each once");
    for entry in received {
        let kept = stored.get((entry.0 - 1) as usize);
        assert_eq!(kept, Some(entry), "{run}: entry {} a client saw is still there, unchanged", entry.0);
    }
}

/// Waits until `check` says yes, or fails after `limit`.
pub async fn eventually<F, Fut>(limit: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A small random number generator seeded from the clock; the seed is printed so a failing
/// sequence can be replayed with `TASKYARD_TEST_SEED`.
pub struct Rng(u64);

impl Rng {
    pub fn new() -> Self {
        let seed = std::env::var("TASKYARD_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| (now_ns() as u64) | 1);
        eprintln!("random seed: TASKYARD_TEST_SEED={seed}");
        Self(seed)
    }

    /// A number in `range`.
    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        lo + (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % (hi - lo + 1))
    }
}

/// Where the test cluster of a `TestDatabase` URL listens (its unix socket: `host=/dir` and
/// `port` in the query), and the URL's user and database, for relaying it over TCP.
pub struct PgSocket {
    pub socket: PathBuf,
    pub user: String,
    pub name: String,
}

impl PgSocket {
    pub fn of(db_url: &str) -> Self {
        let query = db_url.split_once('?').map(|(_, q)| q).unwrap_or_default();
        let get = |key: &str| {
            query.split('&').find_map(|kv| kv.strip_prefix(&format!("{key}="))).map(str::to_owned)
        };
        let socket = Path::new(&get("host").expect("host= in the test URL"))
            .join(format!(".s.PGSQL.{}", get("port").unwrap_or_else(|| "5432".into())));
        let name = db_url.split('/').nth(3).and_then(|p| p.split('?').next()).expect("database").to_owned();
        let user =
            db_url.split("://").nth(1).and_then(|r| r.split(['@', ':']).next()).expect("user").to_owned();
        Self { socket, user, name }
    }

    /// A URL reaching the database through `addr` (a relay to the socket).
    pub fn url_at(&self, addr: std::net::SocketAddr) -> String {
        format!("postgres://{}@{addr}/{}", self.user, self.name)
    }
}

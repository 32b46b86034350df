//! A real, ephemeral Postgres for tests: one cluster per test process, started from the
//! installed binaries (initdb + pg_ctl, unix socket only), and a fresh database per test.
//!
//! With `TEST_DATABASE_URL` set, databases are created on that server instead. The cluster
//! is removed by a guardian process that waits for this process to end (however it ends).

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Mutex, OnceLock};

use anyhow::{Context, Result, anyhow, bail};
use sqlx::Connection as _;
use sqlx::postgres::PgConnection;

/// A database that exists for one test; dropped (best effort) when this value is dropped.
#[derive(Debug)]
pub struct TestDatabase {
    /// Connection URL of the database.
    pub url: String,
    admin_url: String,
    name: String,
}

impl TestDatabase {
    /// Creates a new, empty database with a unique name.
    pub async fn create() -> Result<Self> {
        let admin_url = match std::env::var("TEST_DATABASE_URL") {
            Ok(url) if !url.is_empty() => url,
            _ => {
                let cluster = tokio::task::spawn_blocking(cluster)
                    .await
                    .context("starting the test cluster panicked")?;
                cluster.map_err(|e| anyhow!("{e}"))?.admin_url.clone()
            }
        };
        let name = format!("taskyard_test_{}", uuid::Uuid::now_v7().simple());
        let mut conn = PgConnection::connect(&admin_url)
            .await
            .with_context(|| format!("connecting to the test server for {name}"))?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
            .execute(&mut conn)
            .await
            .context("CREATE DATABASE")?;
        conn.close().await.ok();
        let url = with_database(&admin_url, &name)?;
        Ok(Self { url, admin_url, name })
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // An ephemeral cluster goes away whole; only a shared server needs the clean-up.
        if std::env::var_os("TEST_DATABASE_URL").is_none() {
            return;
        }
        let (admin_url, name) = (self.admin_url.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            rt.block_on(async {
                let mut conn = PgConnection::connect(&admin_url).await.ok()?;
                sqlx::query(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")))
                    .execute(&mut conn)
                    .await
                    .ok()
            })
        })
        .join();
    }
}

/// Replaces the database name in a Postgres URL, keeping user, host and query parameters.
fn with_database(url: &str, db: &str) -> Result<String> {
    let (scheme_host, rest) = url
        .split_once("://")
        .map(|(scheme, rest)| {
            let path_at = rest.find(['/', '?']).unwrap_or(rest.len());
            (format!("{scheme}://{}", &rest[..path_at]), rest[path_at..].to_owned())
        })
        .ok_or_else(|| anyhow!("TEST_DATABASE_URL is not a URL"))?;
    let query = rest.split_once('?').map(|(_, q)| format!("?{q}")).unwrap_or_default();
    Ok(format!("{scheme_host}/{db}{query}"))
}

struct Cluster {
    admin_url: String,
    // Closing this pipe (at process exit) tells the guardian to stop and remove the cluster.
    _guardian: Mutex<std::process::ChildStdin>,
}

fn cluster() -> Result<&'static Cluster, String> {
    static CLUSTER: OnceLock<Result<Cluster, String>> = OnceLock::new();
    CLUSTER.get_or_init(|| start_cluster().map_err(|e| format!("{e:#}"))).as_ref().map_err(Clone::clone)
}

/// Where the server binaries are: `TASKYARD_PG_BIN`, else the newest
/// `/usr/lib/postgresql/<version>/bin` (Debian), else `PATH`.
fn pg_bin_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("TASKYARD_PG_BIN") {
        return Some(PathBuf::from(dir));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let v = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

fn tool(bin: &Option<PathBuf>, name: &str) -> PathBuf {
    bin.as_ref().map(|b| b.join(name)).unwrap_or_else(|| PathBuf::from(name))
}

/// Postgres refuses to run as root: then the cluster runs as the `postgres` user.
fn run_as() -> Option<nix::unistd::User> {
    if !nix::unistd::geteuid().is_root() {
        return None;
    }
    nix::unistd::User::from_name("postgres").ok().flatten()
}

fn command(user: &Option<nix::unistd::User>, program: &Path) -> Command {
    match user {
        Some(u) => {
            let mut c = Command::new("runuser");
            c.arg("-u").arg(&u.name).arg("--").arg(program);
            c
        }
        None => Command::new(program),
    }
}

fn start_cluster() -> Result<Cluster> {
    let bin = pg_bin_dir();
    let user = run_as();
    if nix::unistd::geteuid().is_root() && user.is_none() {
        bail!(
            "running as root and no `postgres` user exists: install the postgresql package or set TEST_DATABASE_URL"
        );
    }
    let root = tempfile::Builder::new().prefix("taskyard-pg-").tempdir()?.keep();
    let data = root.join("data");
    let sock = root.join("sock");
    std::fs::create_dir_all(&sock)?;
    if let Some(u) = &user {
        for p in [&root, &sock] {
            nix::unistd::chown(p.as_path(), Some(u.uid), Some(u.gid))?;
        }
    }

    let initdb = tool(&bin, "initdb");
    let out = command(&user, &initdb)
        .args(["-D"])
        .arg(&data)
        .args(["-U", "taskyard", "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C"])
        .output()
        .with_context(|| format!("running {} (is the postgresql package installed?)", initdb.display()))?;
    if !out.status.success() {
        bail!("initdb failed: {}", String::from_utf8_lossy(&out.stderr));
    }

    let pg_ctl = tool(&bin, "pg_ctl");
    let log = root.join("postgres.log");
    // Durability is not under test here (fsync off); a large WAL budget keeps bulk log
    // writes (the benchmarks) from forcing a checkpoint every few seconds.
    let opts = format!(
        "-k {} -c listen_addresses='' -p 5432 -c fsync=off -c synchronous_commit=off \
         -c full_page_writes=off -c max_connections=400 -c max_wal_size=8GB",
        sock.display()
    );
    let out = command(&user, &pg_ctl)
        .arg("-D")
        .arg(&data)
        .arg("-o")
        .arg(&opts)
        .arg("-l")
        .arg(&log)
        .args(["-w", "-t", "60", "start"])
        .stdin(Stdio::null())
        .output()
        .context("running pg_ctl start")?;
    if !out.status.success() {
        let log = std::fs::read_to_string(&log).unwrap_or_default();
        bail!("pg_ctl start failed: {}{log}", String::from_utf8_lossy(&out.stderr));
    }

    // The guardian outlives a crashed or killed test process and removes the cluster then.
    let stop = match &user {
        Some(u) => format!("runuser -u {} -- ", u.name),
        None => String::new(),
    };
    let script = format!(
        "cat >/dev/null; {stop}'{}' -D '{}' -m immediate stop >/dev/null 2>&1; rm -rf '{}'",
        pg_ctl.display(),
        data.display(),
        root.display()
    );
    let mut guardian = {
        use std::os::unix::process::CommandExt as _;
        Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .context("starting the cluster guardian")?
    };
    let mut stdin = guardian.stdin.take().context("guardian stdin")?;
    stdin.flush().ok();

    let admin_url = format!("postgres://taskyard@localhost:5432/postgres?host={}", sock.display());
    Ok(Cluster { admin_url, _guardian: Mutex::new(stdin) })
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn database_name_is_replaced_keeping_the_rest() {
        assert_eq!(
            with_database("postgres://u:p@h:5/postgres?sslmode=disable", "t1").ok(),
            Some("postgres://u:p@h:5/t1?sslmode=disable".to_owned())
        );
        assert_eq!(with_database("postgres://h", "t2").ok(), Some("postgres://h/t2".to_owned()));
        assert_eq!(
            with_database("postgres://taskyard@localhost:5432/postgres?host=/tmp/x", "t3").ok(),
            Some("postgres://taskyard@localhost:5432/t3?host=/tmp/x".to_owned())
        );
    }
}

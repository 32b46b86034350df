//! The configuration of the real binary: flags over the environment over aliases over the
//! config file, every bad input refused by the name the operator wrote (exit 2 for usage, 1
//! for failures), the database waited for, credential keys from the environment, the
//! account and migration commands, `CLONE_REPOS`, and what `/health` tells an operator.

mod common;

use std::io::{BufRead as _, Write as _};
use std::path::Path;
use std::process::{Output, Stdio};
use std::time::Duration;

use base64::Engine as _;
use common::*;
use serde_json::{Value, json};
use taskyard_test_support::git_http::GitHttpServer;
use taskyard_test_support::pg::TestDatabase;

/// An obviously fake signing key of the right length.
const FAKE_SECRET: &str = "test-only-signing-key-0123456789abcdefghijklmnop";

fn run(data: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut cmd = taskyard(data);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.args(args).stdin(Stdio::null()).output().expect("run taskyard")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn fernet_key(byte: u8) -> String {
    base64::engine::general_purpose::URL_SAFE.encode([byte; 32])
}

/// Asserts a refusal with `code` whose message names `name`.
#[track_caller]
fn refused(out: &Output, code: i32, name: &str) -> String {
    let err = stderr(out);
    assert_eq!(out.status.code(), Some(code), "{err}");
    assert!(err.contains(name), "the message should name {name}: {err}");
    err
}

#[test]
fn bad_values_are_refused_by_the_name_they_were_given() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    refused(&run(&data, &[("WEB_PORT", "eighty")], &["serve"]), 2, "WEB_PORT");
    refused(&run(&data, &[("TASKYARD_PORT", "eighty")], &["serve"]), 2, "TASKYARD_PORT");
    // An empty variable counts as unset: the alias behind it is the one at fault.
    let err =
        refused(&run(&data, &[("TASKYARD_PORT", ""), ("WEB_PORT", "eighty")], &["serve"]), 2, "WEB_PORT");
    assert!(!err.contains("TASKYARD_PORT has"), "{err}");
    refused(
        &run(&data, &[("JWT_ACCESS_TOKEN_EXPIRE_MINUTES", "0")], &["serve"]),
        2,
        "JWT_ACCESS_TOKEN_EXPIRE_MINUTES",
    );
    refused(
        &run(&data, &[("JWT_REFRESH_TOKEN_EXPIRE_DAYS", "-1")], &["serve"]),
        2,
        "JWT_REFRESH_TOKEN_EXPIRE_DAYS",
    );
    refused(&run(&data, &[("TASKYARD_SANDBOX", "maybe")], &["serve"]), 2, "TASKYARD_SANDBOX");

    // A config file: a bad value names its line's variable and the file; an unknown name is
    // refused with the closest known one.
    let file = dir.path().join("taskyard.env");
    std::fs::write(&file, "# comment\nWEB_PORT=x1\n").expect("write");
    let err =
        refused(&run(&data, &[], &["--config", file.to_str().expect("utf-8"), "serve"]), 2, "WEB_PORT in ");
    assert!(err.contains("taskyard.env"), "{err}");
    std::fs::write(&file, "TASKYARD_MAX_CONCURENT_RUNS=3\n").expect("write");
    let err = refused(
        &run(&data, &[("TASKYARD_CONFIG", file.to_str().expect("utf-8"))], &["migrate"]),
        2,
        "TASKYARD_MAX_CONCURENT_RUNS",
    );
    assert!(err.contains("did you mean TASKYARD_MAX_CONCURRENT_RUNS"), "{err}");
    refused(
        &run(&data, &[("TASKYARD_CONFIG", "/nonexistent/taskyard.env")], &["migrate"]),
        2,
        "TASKYARD_CONFIG",
    );

    // Team mode's signing key: missing, short, an example value — each named.
    refused(&run(&data, &[], &["serve", "--auth", "team"]), 2, "TASKYARD_JWT_SECRET");
    refused(
        &run(&data, &[("JWT_SECRET_KEY", "too-short")], &["serve", "--auth", "team"]),
        2,
        "JWT_SECRET_KEY",
    );
    let err = refused(
        &run(
            &data,
            &[("TASKYARD_JWT_SECRET", "change-me-to-a-long-random-string")],
            &["serve", "--auth", "team"],
        ),
        2,
        "TASKYARD_JWT_SECRET",
    );
    assert!(err.contains("example"), "{err}");
    std::fs::write(&file, "TASKYARD_AUTH=team\nJWT_SECRET_KEY=short\n").expect("write");
    refused(&run(&data, &[], &["--config", file.to_str().expect("utf-8"), "serve"]), 2, "JWT_SECRET_KEY in ");

    let key_file = dir.path().join("jwt.key");
    std::fs::write(&key_file, "short\n").expect("write");
    let err = refused(
        &run(
            &data,
            &[("TASKYARD_JWT_SECRET_FILE", key_file.to_str().expect("utf-8"))],
            &["serve", "--auth", "team"],
        ),
        2,
        "jwt.key",
    );
    assert!(err.contains("5 bytes"), "{err}");

    // A log filter that is not one: a warning naming the alias, and the command still runs.
    let out = run(&data, &[("LOG_LEVEL", "info,[")], &["migrate"]);
    assert!(
        out.status.success() && stderr(&out).contains("LOG_LEVEL is not a log filter"),
        "{}",
        stderr(&out)
    );

    // A malformed database URL: refused at once, named, the password never shown.
    for url in ["mysql://admin:hunter2-fake@db/x", "postgres://admin:hunter2-fake@db:99999999/x"] {
        let err = refused(&run(&data, &[("DATABASE_URL", url)], &["migrate"]), 2, "DATABASE_URL");
        assert!(!err.contains("hunter2-fake"), "{err}");
    }
    let err = refused(
        &run(&data, &[], &["--database-url", "mysql://u:hunter2-fake@h/x", "migrate"]),
        2,
        "--database-url",
    );
    assert!(!err.contains("hunter2-fake"), "{err}");
}

#[test]
fn an_unreachable_database_is_given_up_on_after_the_wait_naming_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let free = std::net::TcpListener::bind("127.0.0.1:0").expect("port").local_addr().expect("addr").port();
    let url = format!("postgres://taskyard:hunter2-fake@127.0.0.1:{free}/taskyard");
    let started = std::time::Instant::now();
    let out = run(
        &dir.path().join("data"),
        &[("DATABASE_URL", &url), ("TASKYARD_DATABASE_WAIT_SECONDS", "2")],
        &["migrate"],
    );
    let err = refused(&out, 1, "DATABASE_URL");
    assert!(err.contains("did not answer within 2 s"), "{err}");
    assert!(!err.contains("hunter2-fake"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(20), "bounded: {:?}", started.elapsed());
}

/// Forwards TCP connections on `listener` to the Postgres of `url` (a unix socket).
async fn forward(listener: tokio::net::TcpListener, socket: std::path::PathBuf) {
    loop {
        let Ok((mut tcp, _)) = listener.accept().await else { return };
        let socket = socket.clone();
        tokio::spawn(async move {
            if let Ok(mut unix) = tokio::net::UnixStream::connect(&socket).await {
                let _ = tokio::io::copy_bidirectional(&mut tcp, &mut unix).await;
            }
        });
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_that_comes_up_late_is_waited_for_and_migrations_are_reported() {
    let db = TestDatabase::create().await.expect("database");
    // The test cluster listens on a unix socket: `host=/dir` in the URL's query, port 5432
    // unless given.
    let pg = PgSocket::of(&db.url);
    let port_now =
        std::net::TcpListener::bind("127.0.0.1:0").expect("port").local_addr().expect("addr").port();
    let url = pg.url_at(([127, 0, 0, 1], port_now).into());
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let mut child = taskyard(&data)
        .env("DATABASE_URL", &url)
        .env("TASKYARD_LOG", "warn")
        .arg("migrate")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    // Once it said it waits, the database comes up.
    let errors = child.stderr.take().expect("stderr");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(errors).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let waiting = rx.recv_timeout(Duration::from_secs(30)).expect("a line");
    assert!(waiting.contains("does not answer yet"), "{waiting}");
    let listener =
        tokio::net::TcpListener::bind(("127.0.0.1", port_now)).await.expect("bind the database port");
    tokio::spawn(forward(listener, pg.socket));
    let out =
        tokio::task::spawn_blocking(move || child.wait_with_output()).await.expect("join").expect("wait");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("postgres database: 6 migration(s) applied now"), "{stdout}");

    // Again: nothing new.
    let again = run(&data, &[("DATABASE_URL", &db.url)], &["migrate"]);
    let stdout = String::from_utf8_lossy(&again.stdout).into_owned();
    assert!(again.status.success() && stdout.contains(": 0 migration(s) applied now"), "{stdout}");
    assert!(stdout.contains("already applied"), "{stdout}");

    // The account commands work on Postgres too.
    let created = taskyard(&data)
        .env("DATABASE_URL", &db.url)
        .env("PW", "postgres password 1")
        .args(["admin", "create-user", "--email", "pg@example.com", "--name", "Pg", "--password-env", "PW"])
        .output()
        .expect("create-user");
    assert!(created.status.success(), "{}", stderr(&created));
    let taken = taskyard(&data)
        .env("DATABASE_URL", &db.url)
        .env("PW", "postgres password 1")
        .args(["admin", "create-user", "--email", "pg@example.com", "--name", "Pg", "--password-env", "PW"])
        .output()
        .expect("create-user");
    refused(&taken, 1, "exists");
    let reset = taskyard(&data)
        .env("DATABASE_URL", &db.url)
        .env("PW", "postgres password 2")
        .args(["admin", "reset-password", "--email", "pg@example.com", "--password-env", "PW"])
        .output()
        .expect("reset-password");
    assert!(reset.status.success(), "{}", stderr(&reset));
}

#[test]
fn migrate_on_sqlite_applies_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let first = run(&data, &[], &["migrate"]);
    let out = String::from_utf8_lossy(&first.stdout).into_owned();
    assert!(first.status.success() && out.contains("sqlite database: 6 migration(s) applied now"), "{out}");
    let second = run(&data, &[], &["migrate"]);
    let out = String::from_utf8_lossy(&second.stdout).into_owned();
    assert!(out.contains("0 migration(s) applied now, 6 in all"), "{out}");
}

#[test]
fn a_wrong_credential_key_refuses_to_start_and_changes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let (right, wrong) = (fernet_key(1), fernet_key(2));
    // A credential stored with the right key (imported from the environment).
    let token = ("CLAUDE_CODE_OAUTH_TOKEN", "sk-ant-oat01-fake-token-for-tests-0000");
    let first = run(&data, &[("CREDENTIAL_ENCRYPTION_KEY", &right), token], &["agents"]);
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(!data.join("fernet.key").exists(), "a configured key makes no key file");

    // Another token in the environment: with the wrong key nothing is imported either.
    let other = ("CLAUDE_CODE_OAUTH_TOKEN", "sk-ant-oat01-fake-token-for-tests-1111");
    let out = run(&data, &[("CREDENTIAL_ENCRYPTION_KEY", &wrong), other], &["agents"]);
    let err = refused(&out, 1, "CREDENTIAL_ENCRYPTION_KEY");
    assert!(err.contains("nothing was changed"), "{err}");
    let out = run(&data, &[("TASKYARD_FERNET_KEYS", "not-a-fernet-key")], &["agents"]);
    refused(&out, 1, "TASKYARD_FERNET_KEYS");
    // Without any key the data directory's key file would be made; with credentials stored,
    // that is refused rather than done.
    let out = run(&data, &[], &["agents"]);
    refused(&out, 1, "fernet.key");
    assert!(!data.join("fernet.key").exists(), "no key file was made");

    let ok = run(&data, &[("CREDENTIAL_ENCRYPTION_KEY", &right)], &["agents"]);
    let out = String::from_utf8_lossy(&ok.stdout).into_owned();
    assert!(ok.status.success() && out.contains("CLAUDE_CODE_OAUTH_TOKEN sk-ant-oat01-…0000"), "{out}");
}

#[tokio::test]
async fn a_wrong_credential_key_is_refused_before_any_migration_runs() {
    use sqlx::sqlite::SqliteConnectOptions;
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).expect("data dir");
    // A data directory of an earlier version: the schema up to 0005, one stored credential.
    let older = dir.path().join("migrations");
    std::fs::create_dir_all(&older).expect("dir");
    let all = Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations/sqlite");
    let mut files: Vec<_> =
        std::fs::read_dir(&all).expect("migrations").map(|e| e.expect("entry").path()).collect();
    files.sort();
    for file in &files[..files.len() - 1] {
        std::fs::copy(file, older.join(file.file_name().expect("name"))).expect("copy");
    }
    let options = SqliteConnectOptions::new().filename(data.join("taskyard.db")).create_if_missing(true);
    let pool = sqlx::SqlitePool::connect_with(options).await.expect("open");
    sqlx::migrate::Migrator::new(older.as_path()).await.expect("migrator").run(&pool).await.expect("migrate");
    let right = fernet_key(1);
    let vault = taskyard_core::credentials::Vault::new(std::slice::from_ref(&right)).expect("vault");
    sqlx::query(
        "INSERT INTO credentials (id, tier, scope_id, key, value, locked, updated_at) \
         VALUES (?, 'global', ?, 'CLAUDE_CODE_OAUTH_TOKEN', ?, 0, ?)",
    )
    .bind(uuid::Uuid::now_v7())
    .bind(uuid::Uuid::nil())
    .bind(vault.encrypt("sk-ant-oat01-fake-token-for-tests-2222"))
    .bind(chrono::Utc::now())
    .execute(&pool)
    .await
    .expect("insert");
    let applied = || async {
        sqlx::query_scalar::<_, i64>("SELECT count(*) FROM _sqlx_migrations")
            .fetch_one(&pool)
            .await
            .expect("count")
    };
    let before = applied().await;
    assert_eq!(before as usize, files.len() - 1);

    for command in [&["migrate"][..], &["serve", "--port", "0"], &["agents"]] {
        let out = run(&data, &[("CREDENTIAL_ENCRYPTION_KEY", &fernet_key(2))], command);
        let err = refused(&out, 1, "CREDENTIAL_ENCRYPTION_KEY");
        assert!(err.contains("nothing was changed"), "{command:?}: {err}");
        assert_eq!(applied().await, before, "{command:?} migrated before checking the key: {err}");
    }
    // Without a configured key and without the key file: refused too, and no key file made.
    let out = run(&data, &[], &["migrate"]);
    refused(&out, 1, "fernet.key");
    assert!(!data.join("fernet.key").exists());
    assert_eq!(applied().await, before);

    // The right key: the missing migration is applied and the credential reads.
    let out = run(&data, &[("CREDENTIAL_ENCRYPTION_KEY", &right)], &["migrate"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success() && text.contains("1 migration(s) applied now"), "{text}{}", stderr(&out));
    let ok = run(&data, &[("CREDENTIAL_ENCRYPTION_KEY", &right)], &["agents"]);
    let text = String::from_utf8_lossy(&ok.stdout).into_owned();
    assert!(ok.status.success() && text.contains("CLAUDE_CODE_OAUTH_TOKEN sk-ant-oat01-…2222"), "{text}");
}

/// Starts a team server with `env` (and the fake signing key through its alias) on a free
/// port, its stderr in `log`.
fn team_server(data: &Path, env: &[(&str, &str)], log: &Path) -> ServerProcess {
    let mut cmd = taskyard(data);
    cmd.env("JWT_SECRET_KEY", FAKE_SECRET).env("TASKYARD_AUTH", "team").env("WEB_PORT", "0");
    cmd.envs(env.iter().copied()).arg("serve");
    ServerProcess::spawn("team", cmd, log).ready()
}

/// A local server started from a prepared command (its environment).
fn local_server(cmd: std::process::Command, log: &Path) -> ServerProcess {
    local_spawn(cmd, log).ready()
}

fn local_spawn(mut cmd: std::process::Command, log: &Path) -> Starting {
    cmd.env("TASKYARD_LOG", "info").args(["serve", "--port", "0"]);
    ServerProcess::spawn("local", cmd, log)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aliases_serve_a_team_server_and_health_tells_the_operator_what_it_has() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let log = dir.path().join("server.log");
    let server = team_server(
        &data,
        &[
            ("TASKYARD_PROT", "1"),
            // Empty, as compose passes `NAME=` lines of `.env`: unset.
            ("TASKYARD_MAX_CONNECTIONS", ""),
            ("TASKYARD_PUBLIC_URL", ""),
            ("TASKYARD_MAX_CONCURRENT_RUNS", "2"),
            ("JWT_REFRESH_TOKEN_EXPIRE_DAYS", "3"),
            ("ANTHROPIC_API_KEY", "sk-ant-api03-fake-key-for-tests-0000"),
        ],
        &log,
    );
    let base = server.base.clone();
    let http = reqwest::Client::new();
    let health: Value =
        http.get(format!("{base}/health")).send().await.expect("health").json().await.expect("json");
    assert_eq!(health["status"], "ok");
    assert_eq!(health["version"], env!("CARGO_PKG_VERSION"));
    assert!(health["uptime_seconds"].is_u64());
    assert_eq!(health["active_runs"], 0);
    assert_eq!(health["queued_runs"], 0);
    assert_eq!(health["waiting_runs"], 0);
    assert_eq!(health["database"], "sqlite");
    assert_eq!(health["database_reachable"], true);
    let agents = health["agents"].as_array().expect("agents");
    let claude = agents.iter().find(|a| a["name"] == "claude").expect("claude");
    assert_eq!(claude["authenticated"], true, "{health}");
    assert!(claude["installed"].is_boolean());
    let codex = agents.iter().find(|a| a["name"] == "codex").expect("codex");
    assert_eq!(codex["authenticated"], false, "{health}");
    assert!(!health.to_string().contains("fake-key"), "no value shows: {health}");
    let ready = http.get(format!("{base}/ready")).send().await.expect("ready");
    assert_eq!(ready.status(), 200);
    let ready: Value = ready.json().await.expect("json");
    assert_eq!(
        (ready["status"].as_str(), ready["database_reachable"].as_bool()),
        (Some("ready"), Some(true))
    );

    // The refresh cookie lives as long as JWT_REFRESH_TOKEN_EXPIRE_DAYS says.
    let res = http
        .post(format!("{base}/api/auth/register"))
        .json(&json!({"email": "admin@example.com", "name": "Admin", "password": "correct horse battery"}))
        .send()
        .await
        .expect("register");
    assert_eq!(res.status(), 201);
    let cookie = res
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(";");
    assert!(cookie.contains(&format!("Max-Age={}", 3 * 24 * 3600)), "{cookie}");
    server.kill9();
    let log = std::fs::read_to_string(&log).expect("log");
    assert!(log.contains("unknown variable TASKYARD_PROT is ignored (did you mean TASKYARD_PORT?)"), "{log}");
    assert!(!log.contains("fake-key") && !log.contains(FAKE_SECRET), "no secret in the log");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_environment_wins_over_an_alias_and_says_so() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let log = dir.path().join("server.log");
    let file = dir.path().join("taskyard.env");
    // The file would pick another port; the environment's TASKYARD_PORT (0) wins over both.
    std::fs::write(&file, "TASKYARD_PORT=1\nTASKYARD_MAX_CONCURRENT_RUNS=1\n").expect("write");
    let server = team_server(
        &data,
        &[("TASKYARD_PORT", "0"), ("WEB_PORT", "1"), ("TASKYARD_CONFIG", file.to_str().expect("utf-8"))],
        &log,
    );
    let base = server.base.clone();
    let health: Value =
        reqwest::get(format!("{base}/health")).await.expect("health").json().await.expect("json");
    assert_eq!(health["status"], "ok");
    server.kill9();
    let log = std::fs::read_to_string(&log).expect("log");
    assert!(
        log.contains("WEB_PORT and TASKYARD_PORT are both set and differ: TASKYARD_PORT is used"),
        "{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_are_made_and_reset_from_the_terminal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let admin = |args: &[&str], stdin: &str| {
        let mut child = taskyard(&data)
            .arg("admin")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn");
        child.stdin.take().expect("stdin").write_all(stdin.as_bytes()).expect("write");
        child.wait_with_output().expect("wait")
    };
    let out = admin(
        &["create-user", "--email", "Ops@Example.com", "--name", "Ops", "--role", "admin"],
        "first password 1\n",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let printed = String::from_utf8_lossy(&out.stdout).into_owned() + &stderr(&out);
    assert!(
        printed.contains("ops@example.com") && !printed.contains("first password"),
        "never echoed: {printed}"
    );

    // Bad input: exit 2 naming what is wrong; a taken address and an unknown one: exit 1.
    refused(&admin(&["create-user", "--email", "nope", "--name", "X"], "long enough pw\n"), 2, "--email");
    refused(&admin(&["create-user", "--email", "m@example.com", "--name", "X"], "short\n"), 2, "password");
    refused(&admin(&["create-user", "--email", "m@example.com", "--name", "X"], ""), 2, "password");
    refused(
        &admin(&["create-user", "--email", "m@example.com", "--name", "X", "--role", "owner"], ""),
        2,
        "--role",
    );
    refused(
        &admin(&["create-user", "--email", "ops@example.com", "--name", "X"], "long enough pw\n"),
        1,
        "exists",
    );
    refused(
        &admin(&["reset-password", "--email", "who@example.com"], "long enough pw\n"),
        1,
        "who@example.com",
    );
    let mut cmd = taskyard(&data);
    let out = cmd
        .env("NEW_PASSWORD", "second password 2")
        .args(["admin", "reset-password", "--email", "ops@example.com", "--password-env", "NEW_PASSWORD"])
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", stderr(&out));

    let log = dir.path().join("server.log");
    let server = team_server(&data, &[], &log);
    let base = server.base.clone();
    let http = reqwest::Client::new();
    let login = |password: &'static str| {
        http.post(format!("{base}/api/auth/login"))
            .json(&json!({"email": "ops@example.com", "password": password}))
            .send()
    };
    assert_eq!(login("first password 1").await.expect("login").status(), 401);
    assert_eq!(login("second password 2").await.expect("login").status(), 200);
    // The admin made from the terminal took the first admin's place: registration is closed.
    let res = http
        .post(format!("{base}/api/auth/register"))
        .json(&json!({"email": "late@example.com", "name": "Late", "password": "correct horse battery"}))
        .send()
        .await
        .expect("register");
    assert_eq!(res.status(), 403);
    server.kill9();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clone_repos_clones_once_with_the_global_token_and_skips_bad_entries() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("git");
    std::fs::create_dir_all(&root).expect("mkdir");
    let work = repo(&dir.path().join("work"));
    let ok = std::process::Command::new("git")
        .args(["clone", "-q", "--bare"])
        .arg(&work)
        .arg(root.join("demo.git"))
        .status()
        .expect("git");
    assert!(ok.success());
    // A second branch, which DEFAULT_BRANCH makes the project's base.
    git(&work, &["branch", "develop"]);
    git(&work, &["push", "-q", root.join("demo.git").to_str().expect("utf-8"), "develop"]);
    let token = "ghp_fake_token_for_tests_000000000000";
    let git = GitHttpServer::start(&root, Some(token.into())).await.expect("git server");
    let free = std::net::TcpListener::bind("127.0.0.1:0").expect("port").local_addr().expect("addr").port();
    let list = format!(
        "not a url, {}, http://127.0.0.1:{free}/gone.git, {}",
        git.url("demo.git"),
        git.url("missing.git")
    );
    let data = dir.path().join("data");
    let env = [("CLONE_REPOS", list.as_str()), ("GITHUB_TOKEN", token), ("DEFAULT_BRANCH", "develop")];

    for life in ["first", "second"] {
        let mut cmd = taskyard(&data);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let log = dir.path().join(format!("server-{life}.log"));
        let server = local_server(cmd, &log);
        let api = server.client();
        let projects = eventually_value(Duration::from_secs(30), || {
            let api = api.clone();
            async move {
                let p = api.get("/api/projects").await;
                (p.as_array().map(Vec::len) == Some(1)).then_some(p)
            }
        })
        .await;
        assert_eq!(projects[0]["name"], "demo");
        assert_eq!(projects[0]["default_branch"], "develop");
        assert!(projects[0]["origin_url"].as_str().is_some_and(|u| !u.contains(token)));
        // The bad entries were logged by name, without the token.
        let text = wait_for_log(&log, "missing.git", Duration::from_secs(30));
        assert!(text.contains("not a url") && text.contains("gone.git"), "{text}");
        assert!(!text.contains(token), "the token never shows");
        if life == "second" {
            assert!(text.contains("already cloned"), "{text}");
        }
        drop(server);
    }
}

async fn eventually_value<F, Fut>(within: Duration, mut f: F) -> Value
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<Value>>,
{
    let deadline = std::time::Instant::now() + within;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(std::time::Instant::now() < deadline, "not within {within:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn wait_for_log(log: &Path, needle: &str, within: Duration) -> String {
    let deadline = std::time::Instant::now() + within;
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if text.contains(needle) {
            return text;
        }
        assert!(std::time::Instant::now() < deadline, "{needle} not in the log: {text}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claude_runs_without_a_model_get_auto_build_model() {
    let dir = tempfile::tempdir().expect("tempdir");
    let work = repo(&dir.path().join("work"));
    // A stand-in for the CLI that records its command line.
    let args_file = dir.path().join("args.txt");
    let program = dir.path().join("fake-claude");
    std::fs::write(&program, format!("#!/bin/sh\necho \"$@\" >> {}\n", args_file.display())).expect("write");
    std::fs::set_permissions(&program, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
    let data = dir.path().join("data");
    let mut cmd = taskyard(&data);
    cmd.env("AUTO_BUILD_MODEL", "fake-default-model")
        .env("CLAUDE_CODE_OAUTH_TOKEN", "sk-ant-oat01-fake-for-tests-0000");
    let server = local_server(cmd, &dir.path().join("server.log"));
    let api = server.client();
    let project = api.post("/api/projects", json!({"path": work.display().to_string()})).await;
    let pid = project["id"].as_str().expect("id").to_owned();
    for (title, settings) in [
        ("default", json!({"program": program.display().to_string()})),
        ("own", json!({"program": program.display().to_string(), "model": "own-model"})),
    ] {
        let task = api
            .post(
                &format!("/api/projects/{pid}/tasks"),
                json!({"title": title, "agent": "claude", "agent_config": settings}),
            )
            .await;
        let run = api.post(&format!("/api/tasks/{}/runs", task["id"].as_str().expect("id")), json!({})).await;
        let run = run["id"].as_str().expect("id").to_owned();
        eventually_value(Duration::from_secs(30), || {
            let api = api.clone();
            let run = run.clone();
            async move {
                let r = api.get(&format!("/api/runs/{run}")).await;
                (!matches!(r["status"].as_str(), Some("queued" | "running"))).then_some(r)
            }
        })
        .await;
    }
    let args = std::fs::read_to_string(&args_file).expect("the CLI ran");
    let lines: Vec<&str> = args.lines().collect();
    assert_eq!(lines.len(), 2, "{args}");
    assert!(lines[0].contains("--model fake-default-model"), "{args}");
    assert!(lines[1].contains("--model own-model") && !lines[1].contains("fake-default-model"), "{args}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clone_repos_on_a_team_server_waits_for_its_owner_and_keeps_the_outbound_rules() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("git");
    std::fs::create_dir_all(&root).expect("mkdir");
    let work = repo(&dir.path().join("work"));
    let bare = root.join("team.git");
    git(dir.path(), &["clone", "-q", "--bare", work.to_str().expect("utf-8"), bare.to_str().expect("utf-8")]);
    let git_server = GitHttpServer::start(&root, None).await.expect("git server");
    let data = dir.path().join("data");
    let member = taskyard(&data)
        .env("MEMBER_PASSWORD", "member password 1")
        .args([
            "admin",
            "create-user",
            "--email",
            "m@example.com",
            "--name",
            "M",
            "--password-env",
            "MEMBER_PASSWORD",
        ])
        .output()
        .expect("create-user");
    assert!(member.status.success(), "{}", stderr(&member));
    let url = git_server.url("team.git");
    let http = reqwest::Client::new();
    let login = async |base: &str, email: &str, password: &str| -> String {
        let res = http
            .post(format!("{base}/api/auth/login"))
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
            .expect("login");
        assert_eq!(res.status(), 200);
        res.json::<Value>().await.expect("json")["access_token"].as_str().expect("token").to_owned()
    };

    // First life: no admin yet, so the clone waits; once one registers, the server's outbound
    // rules refuse the loopback remote — as they would refuse it to the API.
    let log = dir.path().join("first.log");
    let first = team_server(&data, &[("CLONE_REPOS", &url)], &log);
    let base = first.base.clone();
    wait_for_log(&log, "CLONE_REPOS waits for the first admin", Duration::from_secs(30));
    let res = http
        .post(format!("{base}/api/auth/register"))
        .json(&json!({"email": "admin@example.com", "name": "Admin", "password": "admin password 1"}))
        .send()
        .await
        .expect("register");
    assert_eq!(res.status(), 201);
    let text = wait_for_log(&log, "refused or unreachable", Duration::from_secs(30));
    assert!(text.contains("team.git"), "{text}");
    let admin = login(&base, "admin@example.com", "admin password 1").await;
    let res = http
        .put(format!("{base}/api/settings/security"))
        .bearer_auth(&admin)
        .json(&json!({"allowed_cidrs": ["127.0.0.1/32"]}))
        .send()
        .await
        .expect("settings");
    assert_eq!(res.status(), 200);
    first.kill9();

    // Second life: allowed now, and owned by the account TASKYARD_CLONE_REPOS_OWNER names.
    let log = dir.path().join("second.log");
    let second =
        team_server(&data, &[("CLONE_REPOS", &url), ("TASKYARD_CLONE_REPOS_OWNER", "M@example.com")], &log);
    let base = second.base.clone();
    wait_for_log(&log, "CLONE_REPOS: cloned", Duration::from_secs(30));
    let member = login(&base, "m@example.com", "member password 1").await;
    let projects: Value = http
        .get(format!("{base}/api/projects"))
        .bearer_auth(&member)
        .send()
        .await
        .expect("projects")
        .json()
        .await
        .expect("json");
    let projects = projects.as_array().expect("list");
    assert_eq!(projects.len(), 1, "{projects:?}");
    assert_eq!(projects[0]["name"], "team");
    second.kill9();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_starting_together_keep_one_project_per_clone_repos_entry() {
    let db = TestDatabase::create().await.expect("database");
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("git");
    std::fs::create_dir_all(&root).expect("mkdir");
    let work = repo(&dir.path().join("work"));
    git(
        dir.path(),
        &[
            "clone",
            "-q",
            "--bare",
            work.to_str().expect("utf-8"),
            root.join("shared.git").to_str().expect("utf-8"),
        ],
    );
    let git_server = GitHttpServer::start(&root, None).await.expect("git server");
    let url = git_server.url("shared.git");
    let starting: Vec<Starting> = ["a", "b"]
        .into_iter()
        .map(|name| {
            let mut cmd = taskyard(&dir.path().join(format!("data-{name}")));
            cmd.env("DATABASE_URL", &db.url).env("CLONE_REPOS", &url);
            let log = dir.path().join(format!("server-{name}.log"));
            local_spawn(cmd, &log)
        })
        .collect();
    let servers: Vec<ServerProcess> = starting.into_iter().map(Starting::ready).collect();
    // Each server has decided once its log says so; then one project is left.
    for name in ["a", "b"] {
        let log = dir.path().join(format!("server-{name}.log"));
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            let outcomes = ["CLONE_REPOS: cloned", "already cloned", "keeping that one"];
            if let Some(outcome) = outcomes.into_iter().find(|n| text.contains(n)) {
                eprintln!("server {name}: {outcome}");
                break;
            }
            assert!(std::time::Instant::now() < deadline, "{name} never decided: {text}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let projects = servers[0].client().get("/api/projects").await;
    assert_eq!(projects.as_array().map(Vec::len), Some(1), "{projects}");
}

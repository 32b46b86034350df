//! Upgrading a database keeps what it holds: logs stored a row per line by earlier versions
//! read back the same, seq by seq, after the move to a row per batch — on SQLite and Postgres.

use chrono::{DateTime, Utc};
use serde_json::json;
use taskyard_core::model::{LogKind, RunId};
use taskyard_core::store::{PgStore, SqliteStore, Store};
use taskyard_test_support::pg::TestDatabase;
use uuid::Uuid;

/// The migrations of `backend` before `before` (e.g. `0006`), in a folder of their own.
fn migrations_before(backend: &str, before: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let source = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations").join(backend);
    for entry in std::fs::read_dir(&source).expect("migrations") {
        let entry = entry.expect("entry");
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.as_str() < before {
            std::fs::copy(entry.path(), dir.path().join(&name)).expect("copy");
        }
    }
    dir
}

struct Old {
    project: Uuid,
    task: Uuid,
    run: Uuid,
    now: DateTime<Utc>,
    lines: Vec<(i64, &'static str, &'static str, Option<serde_json::Value>)>,
}

fn old_rows() -> Old {
    Old {
        project: Uuid::now_v7(),
        task: Uuid::now_v7(),
        run: Uuid::now_v7(),
        now: "2026-11-20T10:11:12.123456Z".parse().expect("time"),
        lines: vec![
            (1, "system", "starting the agent", None),
            (2, "stdout", "line with \"quotes\", a tab\tand ünïcode", None),
            (3, "tool_use", "Bash: ls", Some(json!({"tool": "Bash", "input": {"command": "ls"}}))),
            (4, "stderr", "", Some(json!({"truncated": true}))),
        ],
    }
}

async fn check<S: Store>(store: &S, old: &Old) {
    let run = RunId(old.run);
    let logs = store.read_logs(run, 0, 100).await.expect("logs");
    assert_eq!(logs.len(), old.lines.len());
    for (entry, (seq, kind, text, data)) in logs.iter().zip(&old.lines) {
        assert_eq!(entry.seq, *seq);
        assert_eq!(entry.kind, kind.parse::<LogKind>().expect("kind"));
        assert_eq!(entry.text, *text);
        assert_eq!(entry.data, *data);
        assert_eq!(entry.ts, old.now, "seq {seq}");
    }
    assert_eq!(store.last_log_seq(run).await.expect("last"), 4);
    assert_eq!(
        store.read_logs(run, 2, 1).await.expect("page").iter().map(|e| e.seq).collect::<Vec<_>>(),
        [3]
    );
    // The log goes on after the moved rows.
    let next = taskyard_core::model::LogEntry {
        run_id: run,
        seq: 5,
        ts: Utc::now(),
        kind: LogKind::System,
        text: "after the upgrade".into(),
        data: None,
    };
    store.append_logs(&[next]).await.expect("append");
    assert_eq!(store.read_logs(run, 4, 10).await.expect("tail")[0].text, "after the upgrade");
}

/// Migrates `pool` to the last version that stored a log row per line and writes a
/// project, task, run and `old`'s log lines the way that version did. A macro, as the pools
/// of the two databases are different types.
macro_rules! at_version_5 {
    ($pool:expr, $backend:literal, $old:expr) => {{
        let (pool, old) = (&$pool, &$old);
        let migs = migrations_before($backend, "0006");
        sqlx::migrate::Migrator::new(migs.path()).await.expect("migrator").run(pool).await.expect("migrate");
        sqlx::query(
            "INSERT INTO projects (id, name, repo_path, default_branch, created_at, updated_at)
             VALUES ($1, 'p', '/r', 'main', $2, $2)",
        )
        .bind(old.project)
        .bind(old.now)
        .execute(pool)
        .await
        .expect("project");
        sqlx::query(
            "INSERT INTO tasks (id, project_id, title, description, slug, status, position, agent, agent_config,
                                created_at, updated_at)
             VALUES ($1, $2, 't', '', 't', 'done', 1, 'custom', '{}', $3, $3)",
        )
        .bind(old.task)
        .bind(old.project)
        .bind(old.now)
        .execute(pool)
        .await
        .expect("task");
        sqlx::query(
            "INSERT INTO runs (id, task_id, attempt, kind, status, agent, prompt, created_at, queued_at)
             VALUES ($1, $2, 1, 'start', 'succeeded', 'custom', 'p', $3, $3)",
        )
        .bind(old.run)
        .bind(old.task)
        .bind(old.now)
        .execute(pool)
        .await
        .expect("run");
        for (seq, kind, text, data) in &old.lines {
            sqlx::query("INSERT INTO run_logs (run_id, seq, ts, kind, text, data) VALUES ($1, $2, $3, $4, $5, $6)")
                .bind(old.run)
                .bind(seq)
                .bind(old.now)
                .bind(kind)
                .bind(text)
                .bind(data.as_ref().map(|d| d.to_string()))
                .execute(pool)
                .await
                .expect("log");
        }
    }};
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_logs_of_earlier_versions_are_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("t.db");
    let old = old_rows();
    {
        let options = sqlx::sqlite::SqliteConnectOptions::new().filename(&path).create_if_missing(true);
        let pool = sqlx::SqlitePool::connect_with(options).await.expect("pool");
        at_version_5!(pool, "sqlite", old);
        pool.close().await;
    }
    let store = SqliteStore::open(&path).await.expect("upgrade");
    check(&store, &old).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_logs_of_earlier_versions_are_kept() {
    let db = TestDatabase::create().await.expect("test database");
    let old = old_rows();
    {
        let pool = sqlx::PgPool::connect(&db.url).await.expect("pool");
        at_version_5!(pool, "postgres", old);
        pool.close().await;
    }
    let store = PgStore::connect(&db.url).await.expect("upgrade");
    check(&store, &old).await;
}

/// Stores one credential the way version 5 did.
macro_rules! credential_at_version_5 {
    ($pool:expr, $backend:literal) => {{
        let pool = &$pool;
        let migs = migrations_before($backend, "0006");
        sqlx::migrate::Migrator::new(migs.path()).await.expect("migrator").run(pool).await.expect("migrate");
        sqlx::query(
            "INSERT INTO credentials (id, tier, scope_id, key, value, locked, updated_at)
             VALUES ($1, 'global', $2, 'GITHUB_TOKEN', 'gAAAA-an-encrypted-value', $3, $4)",
        )
        .bind(Uuid::now_v7())
        .bind(Uuid::nil())
        .bind(false)
        .bind(Utc::now())
        .execute(pool)
        .await
        .expect("credential");
    }};
}

/// Opened unmigrated, a database is read as found — nothing created on a new one, version
/// 5's credentials on an old one, no migration applied — and migrating afterwards applies
/// just what was missing.
async fn unmigrated_reads_the_data_as_found(empty_url: &str, old_url: &str) {
    use taskyard_core::store::AnyStore;
    let fresh = AnyStore::connect_unmigrated(empty_url).await.expect("open");
    assert_eq!(fresh.credential_values().await.expect("values"), Vec::<String>::new());
    let store = fresh.migrate().await.expect("migrate");
    assert!(store.migrations().iter().all(|m| m.applied_now), "a new database gets every migration");

    let old = AnyStore::connect_unmigrated(old_url).await.expect("open old");
    assert_eq!(old.credential_values().await.expect("values"), ["gAAAA-an-encrypted-value"]);
    // Reading changed nothing: the check can run again and sees the same.
    assert_eq!(old.credential_values().await.expect("values again"), ["gAAAA-an-encrypted-value"]);
    let store = old.migrate().await.expect("migrate old");
    let now: Vec<i64> = store.migrations().iter().filter(|m| m.applied_now).map(|m| m.version).collect();
    assert_eq!(now, [6], "only what was missing");
    let stored = store.all_credentials().await.expect("credentials");
    assert_eq!(stored.iter().map(|c| c.key.as_str()).collect::<Vec<_>>(), ["GITHUB_TOKEN"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_unmigrated_reads_the_data_as_found() {
    let dir = tempfile::tempdir().expect("tempdir");
    let old = dir.path().join("old.db");
    {
        let options = sqlx::sqlite::SqliteConnectOptions::new().filename(&old).create_if_missing(true);
        let pool = sqlx::SqlitePool::connect_with(options).await.expect("pool");
        credential_at_version_5!(pool, "sqlite");
        pool.close().await;
    }
    let empty = format!("sqlite://{}", dir.path().join("new.db").display());
    unmigrated_reads_the_data_as_found(&empty, &format!("sqlite://{}", old.display())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_unmigrated_reads_the_data_as_found() {
    let (empty, old) = (TestDatabase::create().await.expect("db"), TestDatabase::create().await.expect("db"));
    {
        let pool = sqlx::PgPool::connect(&old.url).await.expect("pool");
        credential_at_version_5!(pool, "postgres");
        pool.close().await;
    }
    unmigrated_reads_the_data_as_found(&empty.url, &old.url).await;
}

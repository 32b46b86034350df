//! The store story: every behaviour of [`Store`], run unchanged against SQLite and Postgres.

use std::collections::HashSet;

use chrono::Utc;
use serde_json::json;
use taskyard_core::model::*;
use taskyard_core::store::queue::{Claim, Requeue, WakeScope};
use taskyard_core::store::{PgStore, SqliteStore, Store, StoreError};
use taskyard_test_support::pg::TestDatabase;

/// Runs each story on a fresh SQLite file and on a fresh Postgres database.
macro_rules! stories {
    ($($story:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $story() {
                    let dir = tempfile::tempdir().expect("tempdir");
                    let store = super::SqliteStore::open(&dir.path().join("t.db")).await.expect("open sqlite");
                    super::$story(store).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $story() {
                    let db = super::TestDatabase::create().await.expect("test database");
                    let store = super::PgStore::connect(&db.url).await.expect("connect postgres");
                    super::$story(store).await;
                }
            )*
        }
    };
}

stories!(
    projects_are_created_listed_and_deleted,
    a_repository_is_added_once,
    tasks_get_unique_slugs_and_board_positions,
    tasks_are_patched_field_by_field,
    board_columns_are_counted_and_paged,
    bad_text_is_refused_and_nothing_is_lost,
    runs_number_their_attempts_and_follow_their_lifecycle,
    concurrent_run_creation_gets_distinct_attempts,
    logs_are_appended_in_batches_and_read_by_range,
    a_failed_batch_stores_nothing,
    batches_of_many_runs_land_each_on_their_own,
    deleting_a_project_removes_its_tasks_runs_and_logs,
    the_first_admin_is_created_once_even_when_racing,
    invites_are_single_use_bound_and_expiring,
    refresh_tokens_rotate_once_and_reuse_revokes_the_family,
    members_see_only_their_projects,
    the_audit_log_pages_newest_first,
    credentials_are_kept_per_tier_and_scope,
    the_servers_credential_variables_are_imported_into_the_global_tier_once,
    the_queue_claims_in_order_within_limits_under_leases,
    waiting_runs_come_back_when_due_retried_or_woken,
);

fn new_project(path: &str) -> NewProject {
    NewProject {
        name: "demo".into(),
        repo_path: path.into(),
        default_branch: "main".into(),
        origin_url: None,
        owner: None,
    }
}

fn new_task(project: ProjectId, title: &str) -> NewTask {
    NewTask {
        project_id: project,
        title: title.into(),
        description: format!("do {title}"),
        agent: "command".into(),
        agent_config: r#"{"command":["true"]}"#.into(),
    }
}

fn entry(run: RunId, seq: i64, text: &str) -> LogEntry {
    LogEntry { run_id: run, seq, ts: Utc::now(), kind: LogKind::Stdout, text: text.into(), data: None }
}

fn claim_for(owner: &str, max: usize) -> Claim {
    let now = Utc::now();
    Claim {
        owner: owner.into(),
        now,
        lease_until: now + chrono::Duration::seconds(30),
        max,
        per_user: None,
        per_project: None,
        only: None,
    }
}

fn started_at(pid: i64) -> RunStarted {
    RunStarted {
        branch: "taskyard/setup".into(),
        base_branch: "main".into(),
        base_commit: "abc123".into(),
        worktree_path: "/data/worktrees/1".into(),
        pid,
        start_commit: Some("abc123".into()),
    }
}

async fn setup_run<S: Store>(s: &S) -> (Project, Task, Run) {
    let p = s.create_project(new_project("/repos/setup")).await.expect("project");
    let t = s.create_task(new_task(p.id, "setup")).await.expect("task");
    let r = start_run(s, t.id).await;
    (p, t, r)
}

/// A new run of `task`.
async fn start_run<S: Store>(s: &S, task: TaskId) -> Run {
    s.create_run(NewRun {
        task_id: task,
        kind: RunKind::Start,
        agent: "command".into(),
        prompt: "go".into(),
        started_by: None,
    })
    .await
    .expect("run")
}

async fn projects_are_created_listed_and_deleted<S: Store>(s: S) {
    s.ping().await.expect("ping");
    assert!(s.list_projects(Scope::All).await.expect("list").is_empty());
    let a = s.create_project(new_project("/repos/a")).await.expect("create a");
    let b = s
        .create_project(NewProject {
            origin_url: Some("https://example.com/b.git".into()),
            ..new_project("/repos/b")
        })
        .await
        .expect("create b");
    assert_eq!(s.get_project(a.id).await.expect("get"), a);
    assert_eq!(b.origin_url.as_deref(), Some("https://example.com/b.git"));
    let listed: Vec<ProjectId> =
        s.list_projects(Scope::All).await.expect("list").iter().map(|p| p.id).collect();
    assert_eq!(listed, vec![a.id, b.id]);
    assert_eq!(a.profile, "{}");
    let profiled = s.set_project_profile(a.id, r#"{"agent_forge_tokens":true}"#).await.expect("profile");
    assert_eq!(profiled.profile, r#"{"agent_forge_tokens":true}"#);
    assert_eq!(s.get_project(a.id).await.expect("get").profile, profiled.profile);
    assert!(matches!(s.set_project_profile(a.id, "[1]").await, Err(StoreError::Invalid(_))));
    assert!(matches!(s.set_project_profile(ProjectId::new(), "{}").await, Err(StoreError::NotFound { .. })));
    s.delete_project(a.id).await.expect("delete");
    assert!(matches!(s.get_project(a.id).await, Err(StoreError::NotFound { entity: "project", .. })));
    assert!(matches!(s.delete_project(a.id).await, Err(StoreError::NotFound { .. })));
    assert_eq!(s.list_projects(Scope::All).await.expect("list").len(), 1);
}

async fn a_repository_is_added_once<S: Store>(s: S) {
    s.create_project(new_project("/repos/same")).await.expect("first");
    let err = s.create_project(new_project("/repos/same")).await.expect_err("second must fail");
    assert!(matches!(err, StoreError::Conflict(ref m) if m.contains("/repos/same")), "{err}");
    assert_eq!(s.list_projects(Scope::All).await.expect("list").len(), 1);
}

async fn tasks_get_unique_slugs_and_board_positions<S: Store>(s: S) {
    let p = s.create_project(new_project("/repos/t")).await.expect("project");
    let other = s.create_project(new_project("/repos/other")).await.expect("project");
    let t1 = s.create_task(new_task(p.id, "Fix login")).await.expect("t1");
    let t2 = s.create_task(new_task(p.id, "Fix login!")).await.expect("t2");
    let t3 = s.create_task(new_task(p.id, "fix   LOGIN")).await.expect("t3");
    let t4 = s.create_task(new_task(other.id, "Fix login")).await.expect("t4");
    assert_eq!([&t1.slug, &t2.slug, &t3.slug], ["fix-login", "fix-login-2", "fix-login-3"]);
    assert_eq!(t4.slug, "fix-login", "slugs are unique per project only");
    assert_eq!(t1.status, TaskStatus::Backlog);
    assert!(t1.position < t2.position && t2.position < t3.position);
    assert_eq!(s.get_task(t2.id).await.expect("get"), t2);
    let ids: Vec<TaskId> = s.list_tasks(p.id).await.expect("list").iter().map(|t| t.id).collect();
    assert_eq!(ids, vec![t1.id, t2.id, t3.id]);
    let missing = s.create_task(new_task(ProjectId::new(), "orphan")).await;
    assert!(matches!(missing, Err(StoreError::NotFound { entity: "project", .. })));
}

async fn tasks_are_patched_field_by_field<S: Store>(s: S) {
    let p = s.create_project(new_project("/repos/patch")).await.expect("project");
    let t = s.create_task(new_task(p.id, "Patch me")).await.expect("task");
    let moved = s
        .update_task(
            t.id,
            TaskPatch {
                status: Some(TaskStatus::InProgress),
                phase: Some(Some(TaskPhase::Code)),
                position: Some(0.5),
                ..Default::default()
            },
        )
        .await
        .expect("move");
    assert_eq!(
        (moved.status, moved.phase, moved.position),
        (TaskStatus::InProgress, Some(TaskPhase::Code), 0.5)
    );
    assert_eq!(moved.title, t.title, "untouched fields stay");
    assert!(moved.updated_at >= t.updated_at);
    let renamed = s
        .update_task(
            t.id,
            TaskPatch {
                title: Some("Renamed".into()),
                branch: Some("taskyard/patch-me".into()),
                ..Default::default()
            },
        )
        .await
        .expect("rename");
    assert_eq!(renamed.title, "Renamed");
    assert_eq!(renamed.phase, Some(TaskPhase::Code), "phase kept when not in the patch");
    assert_eq!(renamed.branch.as_deref(), Some("taskyard/patch-me"));
    assert_eq!(renamed.slug, t.slug, "the slug (and so the branch name) never changes");
    let cleared =
        s.update_task(t.id, TaskPatch { phase: Some(None), ..Default::default() }).await.expect("clear");
    assert_eq!(cleared.phase, None);
    assert_eq!(s.get_task(t.id).await.expect("get"), cleared);
    let missing = s.update_task(TaskId::new(), TaskPatch::default()).await;
    assert!(matches!(missing, Err(StoreError::NotFound { entity: "task", .. })));
    s.delete_task(t.id).await.expect("delete");
    assert!(matches!(s.get_task(t.id).await, Err(StoreError::NotFound { .. })));
}

async fn bad_text_is_refused_and_nothing_is_lost<S: Store>(s: S) {
    let (p, t, r) = setup_run(&s).await;
    assert!(matches!(s.create_task(new_task(p.id, "nul\0byte")).await, Err(StoreError::Invalid(_))));
    let bad = s.update_task(t.id, TaskPatch { position: Some(f64::NAN), ..Default::default() }).await;
    assert!(matches!(bad, Err(StoreError::Invalid(_))));
    s.append_logs(&[entry(r.id, 1, "kept")]).await.expect("first batch");
    let batch = [entry(r.id, 2, "fine"), entry(r.id, 3, "bad\0")];
    assert!(matches!(s.append_logs(&batch).await, Err(StoreError::Invalid(_))));
    let logs = s.read_logs(r.id, 0, 100).await.expect("read");
    assert_eq!(logs.iter().map(|e| e.text.as_str()).collect::<Vec<_>>(), ["kept"]);
    assert_eq!(s.get_task(t.id).await.expect("task").title, "setup");
}

async fn runs_number_their_attempts_and_follow_their_lifecycle<S: Store>(s: S) {
    let (_p, t, r1) = setup_run(&s).await;
    assert_eq!((r1.attempt, r1.status, r1.kind), (1, RunStatus::Queued, RunKind::Start));
    let early = s.mark_run_started(r1.id, started_at(1)).await;
    assert!(matches!(early, Err(StoreError::Conflict(_))), "a queued run is claimed before it starts");
    let claimed = s.claim_runs(&claim_for("replica-a/1", 4)).await.expect("claim");
    assert_eq!(claimed.iter().map(|r| (r.id, r.tries)).collect::<Vec<_>>(), [(r1.id, 1)]);
    assert_eq!(claimed[0].lease_owner.as_deref(), Some("replica-a/1"));
    let started = s.mark_run_started(r1.id, started_at(4242)).await.expect("start");
    assert_eq!(started.status, RunStatus::Running);
    assert_eq!(started.pid, Some(4242));
    assert_eq!(started.start_commit.as_deref(), Some("abc123"));
    assert!(started.started_at.is_some());
    assert_eq!(s.list_runs_by_status(RunStatus::Running).await.expect("by status").len(), 1);

    let stolen = s
        .finish_run(
            r1.id,
            RunStatus::Failed,
            RunFinished { owner: Some("replica-b/1".into()), ..Default::default() },
        )
        .await;
    assert!(matches!(stolen, Err(StoreError::Conflict(ref m)) if m.contains("another server")), "{stolen:?}");
    let finished = s
        .finish_run(
            r1.id,
            RunStatus::Succeeded,
            RunFinished {
                owner: Some("replica-a/1".into()),
                exit_code: Some(0),
                session_id: Some("sess-1".into()),
                head_commit: Some("def456".into()),
                files_changed: Some(2),
                insertions: Some(10),
                deletions: Some(3),
                ..Default::default()
            },
        )
        .await
        .expect("finish");
    assert_eq!(finished.status, RunStatus::Succeeded);
    assert_eq!(
        (finished.files_changed, finished.insertions, finished.deletions),
        (Some(2), Some(10), Some(3))
    );
    assert_eq!(finished.session_id.as_deref(), Some("sess-1"));
    assert!(finished.finished_at.is_some());
    let twice = s.finish_run(r1.id, RunStatus::Failed, RunFinished::default()).await;
    assert!(matches!(twice, Err(StoreError::Conflict(_))), "a finished run never changes");
    assert_eq!(s.get_run(r1.id).await.expect("get").status, RunStatus::Succeeded);
    let not_final = s.finish_run(r1.id, RunStatus::Running, RunFinished::default()).await;
    assert!(matches!(not_final, Err(StoreError::Invalid(_))));

    let r2 = s
        .create_run(NewRun {
            task_id: t.id,
            kind: RunKind::FollowUp,
            agent: "command".into(),
            prompt: "more".into(),
            started_by: None,
        })
        .await
        .expect("r2");
    assert_eq!((r2.attempt, r2.kind), (2, RunKind::FollowUp));
    let cancelled = s
        .finish_run(
            r2.id,
            RunStatus::Cancelled,
            RunFinished { error: Some("stopped before start".into()), ..Default::default() },
        )
        .await
        .expect("cancel queued");
    assert_eq!(cancelled.error.as_deref(), Some("stopped before start"));
    assert_eq!(cancelled.retry_at, None);

    // The agent-specific endings are final states too, and a quota's reset time is kept.
    let resets = chrono::DateTime::parse_from_rfc3339("2030-01-02T01:58:00.123456789Z")
        .expect("time")
        .with_timezone(&chrono::Utc);
    for (status, retry_at) in [
        (RunStatus::QuotaExceeded, Some(resets)),
        (RunStatus::AuthRequired, None),
        (RunStatus::Billing, None),
        (RunStatus::ServerError, None),
        (RunStatus::MaxTurns, None),
    ] {
        let r = s
            .create_run(NewRun {
                task_id: t.id,
                kind: RunKind::Start,
                agent: "claude".into(),
                prompt: "p".into(),
                started_by: None,
            })
            .await
            .expect("run");
        let done =
            s.finish_run(r.id, status, RunFinished { retry_at, ..Default::default() }).await.expect("finish");
        assert!(status.is_terminal());
        assert_eq!(done.status, status);
        let stored = s.get_run(r.id).await.expect("get");
        assert_eq!(stored.status, status);
        let expect = retry_at.map(|t| chrono::SubsecRound::trunc_subsecs(t, 6));
        assert_eq!(stored.retry_at, expect, "{status}: kept to the microsecond");
    }
    let late_start = s.mark_run_started(r2.id, started_at(1)).await;
    assert!(matches!(late_start, Err(StoreError::Conflict(ref m)) if m.contains("cancelled")));
    let runs: Vec<i64> = s.list_runs(t.id).await.expect("list").iter().map(|r| r.attempt).collect();
    assert_eq!(runs, vec![1, 2, 3, 4, 5, 6, 7]);
    assert!(matches!(s.get_run(RunId::new()).await, Err(StoreError::NotFound { entity: "run", .. })));
    let orphan = s
        .create_run(NewRun {
            task_id: TaskId::new(),
            kind: RunKind::Start,
            agent: "x".into(),
            prompt: "y".into(),
            started_by: None,
        })
        .await;
    assert!(matches!(orphan, Err(StoreError::NotFound { entity: "task", .. })));
}

async fn concurrent_run_creation_gets_distinct_attempts<S: Store>(s: S) {
    let (_p, t, first) = setup_run(&s).await;
    let new_run = |i: usize| NewRun {
        task_id: t.id,
        kind: RunKind::Start,
        agent: "command".into(),
        prompt: format!("p{i}"),
        started_by: None,
    };
    // A task has one live run: every start while one is queued is refused.
    let refused = s.create_run(new_run(0)).await;
    assert!(
        matches!(refused, Err(StoreError::Conflict(ref m)) if m.contains("already has a run")),
        "{refused:?}"
    );
    s.finish_run(first.id, RunStatus::Cancelled, RunFinished::default()).await.expect("cancel");
    // Of starts racing for a task with none, exactly one wins; attempts stay distinct.
    let mut attempts = HashSet::from([first.attempt]);
    for round in 0..3 {
        let mut handles = Vec::new();
        for i in 0..8 {
            let s = s.clone();
            let new = new_run(round * 8 + i);
            handles.push(tokio::spawn(async move { s.create_run(new).await }));
        }
        let mut won = Vec::new();
        for h in handles {
            match h.await.expect("join") {
                Ok(run) => won.push(run),
                Err(StoreError::Conflict(_)) => {}
                Err(e) => panic!("unexpected error: {e}"),
            }
        }
        assert_eq!(won.len(), 1, "one live run per task");
        assert!(attempts.insert(won[0].attempt), "attempt {} given twice", won[0].attempt);
        s.finish_run(won[0].id, RunStatus::Cancelled, RunFinished::default()).await.expect("cancel");
    }
    assert_eq!(attempts, (1..=4).collect::<HashSet<i64>>());
}

async fn logs_are_appended_in_batches_and_read_by_range<S: Store>(s: S) {
    let (_p, _t, r) = setup_run(&s).await;
    let (_p2, _t2, other) = {
        let p = s.create_project(new_project("/repos/logs2")).await.expect("p");
        let t = s.create_task(new_task(p.id, "other")).await.expect("t");
        let r = s
            .create_run(NewRun {
                task_id: t.id,
                kind: RunKind::Start,
                agent: "command".into(),
                prompt: "go".into(),
                started_by: None,
            })
            .await
            .expect("r");
        (p, t, r)
    };
    assert_eq!(s.last_log_seq(r.id).await.expect("last"), 0);
    assert!(s.read_logs(r.id, 0, 10).await.expect("empty").is_empty());
    s.append_logs(&[]).await.expect("empty batch is fine");

    // Batches larger than one statement's worth of rows, with structured data and odd text.
    let mut seq = 0;
    for batch_len in [1, 999, 2_500] {
        let batch: Vec<LogEntry> = (0..batch_len)
            .map(|_| {
                seq += 1;
                let mut e = entry(r.id, seq, &format!("line {seq} ünï \u{fffd} 'quote' \"dq\""));
                if seq % 100 == 0 {
                    e.kind = LogKind::ToolUse;
                    e.data = Some(json!({"name": "Write", "input": {"file_path": "src/main.rs"}, "n": seq}));
                }
                e
            })
            .collect();
        s.append_logs(&batch).await.expect("append");
    }
    s.append_logs(&[entry(other.id, 1, "other run")]).await.expect("other run");
    assert_eq!(s.last_log_seq(r.id).await.expect("last"), 3_500);
    assert_eq!(s.last_log_seq(other.id).await.expect("last other"), 1);

    let page = s.read_logs(r.id, 0, 10).await.expect("page");
    assert_eq!(page.iter().map(|e| e.seq).collect::<Vec<_>>(), (1..=10).collect::<Vec<_>>());
    assert_eq!(page[0].text, "line 1 ünï \u{fffd} 'quote' \"dq\"");
    let tail = s.read_logs(r.id, 3_495, 100).await.expect("tail");
    assert_eq!(tail.iter().map(|e| e.seq).collect::<Vec<_>>(), (3_496..=3_500).collect::<Vec<_>>());
    let hundredth = &s.read_logs(r.id, 99, 1).await.expect("one")[0];
    assert_eq!(hundredth.kind, LogKind::ToolUse);
    assert_eq!(hundredth.data.as_ref().and_then(|d| d["input"]["file_path"].as_str()), Some("src/main.rs"));
    let all = s.read_logs(r.id, 0, usize::MAX).await.expect("capped page");
    assert_eq!(all.len(), 3_500, "a page is capped at MAX_LOG_PAGE (5000), so all 3500 fit");
    assert!(all.windows(2).all(|w| w[1].seq == w[0].seq + 1), "in order, no gaps");
    assert!(all.iter().all(|e| e.run_id == r.id));
    assert!(s.read_logs(r.id, 3_500, 10).await.expect("after end").is_empty());
}

async fn a_failed_batch_stores_nothing<S: Store>(s: S) {
    let (_p, _t, r) = setup_run(&s).await;
    s.append_logs(&[entry(r.id, 1, "a"), entry(r.id, 2, "b")]).await.expect("first");
    // seq 3 and 4 are new but 2 repeats: the whole batch is refused.
    let dup = s.append_logs(&[entry(r.id, 3, "c"), entry(r.id, 2, "dup"), entry(r.id, 4, "d")]).await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");
    let texts: Vec<String> =
        s.read_logs(r.id, 0, 10).await.expect("read").into_iter().map(|e| e.text).collect();
    assert_eq!(texts, ["a", "b"]);
    let unknown_run = s.append_logs(&[entry(RunId::new(), 1, "x")]).await;
    assert!(unknown_run.is_err(), "logs of a run that does not exist are refused");
}

async fn batches_of_many_runs_land_each_on_their_own<S: Store>(s: S) {
    let project = s.create_project(new_project("/repos/many")).await.expect("project");
    let mut runs = Vec::new();
    for i in 0..4 {
        let task = s.create_task(new_task(project.id, &format!("t{i}"))).await.expect("task");
        runs.push(start_run(&s, task.id).await.id);
    }
    let batch = |run: RunId, seqs: std::ops::RangeInclusive<i64>| -> Vec<LogEntry> {
        seqs.map(|n| entry(run, n, &format!("{run} {n}"))).collect()
    };
    assert!(s.append_log_batches(&[]).await.expect("nothing").is_empty());
    // Run 1 already holds seqs 1..=3 (another writer got there).
    s.append_logs(&batch(runs[1], 1..=3)).await.expect("earlier");

    let outcome = s
        .append_log_batches(&[
            batch(runs[0], 1..=5),
            batch(runs[1], 3..=4), // overlaps what is stored
            vec![entry(runs[2], 1, "bad \0 text"), entry(runs[2], 2, "fine")],
            batch(runs[3], 1..=2),
            Vec::new(),
        ])
        .await
        .expect("append");
    assert!(outcome[0].is_ok(), "{:?}", outcome[0]);
    assert!(matches!(outcome[1], Err(StoreError::Conflict(_))), "{:?}", outcome[1]);
    assert!(matches!(outcome[2], Err(StoreError::Invalid(_))), "{:?}", outcome[2]);
    assert!(outcome[3].is_ok(), "{:?}", outcome[3]);
    assert!(matches!(outcome[4], Err(StoreError::Invalid(_))), "an empty batch: {:?}", outcome[4]);
    // Each batch landed whole or not at all; the refused ones left nothing behind.
    assert_eq!(s.last_log_seq(runs[0]).await.expect("0"), 5);
    assert_eq!(s.last_log_seq(runs[1]).await.expect("1"), 3);
    assert_eq!(s.last_log_seq(runs[2]).await.expect("2"), 0);
    assert_eq!(s.last_log_seq(runs[3]).await.expect("3"), 2);
    let texts: Vec<String> =
        s.read_logs(runs[1], 0, 10).await.expect("read").into_iter().map(|e| e.text).collect();
    assert_eq!(texts, [1, 2, 3].map(|n| format!("{} {n}", runs[1])));

    // A batch must be one run's consecutive entries.
    let mixed = vec![entry(runs[0], 6, "a"), entry(runs[3], 3, "b")];
    let gap = vec![entry(runs[0], 6, "a"), entry(runs[0], 8, "b")];
    let outcome = s.append_log_batches(&[mixed, gap, batch(runs[0], 6..=7)]).await.expect("append");
    assert!(matches!(outcome[0], Err(StoreError::Invalid(_))), "{:?}", outcome[0]);
    assert!(matches!(outcome[1], Err(StoreError::Invalid(_))), "{:?}", outcome[1]);
    assert!(outcome[2].is_ok(), "{:?}", outcome[2]);

    // More batches than one statement holds: one transaction of several statements.
    let many: Vec<Vec<LogEntry>> = (0..2_500).map(|i| batch(runs[3], 3 + i..=3 + i)).collect();
    // Several batches of one run in one call land in order after what is stored.
    let outcome = s.append_log_batches(&many).await.expect("many");
    assert!(outcome.iter().all(|o| o.is_ok()), "{:?}", outcome.iter().find(|o| o.is_err()));
    assert_eq!(s.last_log_seq(runs[3]).await.expect("3"), 2_502);
    let all = s.read_logs(runs[3], 0, usize::MAX).await.expect("all");
    assert_eq!(all.iter().map(|e| e.seq).collect::<Vec<_>>(), (1..=2_502).collect::<Vec<_>>());
}

async fn deleting_a_project_removes_its_tasks_runs_and_logs<S: Store>(s: S) {
    let (p, t, r) = setup_run(&s).await;
    s.append_logs(&[entry(r.id, 1, "x")]).await.expect("log");
    s.delete_project(p.id).await.expect("delete");
    assert!(matches!(s.get_task(t.id).await, Err(StoreError::NotFound { .. })));
    assert!(matches!(s.get_run(r.id).await, Err(StoreError::NotFound { .. })));
    assert!(s.read_logs(r.id, 0, 10).await.expect("read").is_empty());
}

async fn board_columns_are_counted_and_paged<S: Store>(s: S) {
    let p = s.create_project(new_project("/repos/board")).await.expect("project");
    let other = s.create_project(new_project("/repos/board2")).await.expect("project");
    s.create_task(new_task(other.id, "elsewhere")).await.expect("other");
    let mut backlog = Vec::new();
    for i in 0..7 {
        backlog.push(s.create_task(new_task(p.id, &format!("task {i}"))).await.expect("task"));
    }
    // Two tasks share a position: the id breaks the tie, so paging never skips or repeats.
    for t in &backlog[5..7] {
        s.update_task(t.id, TaskPatch { position: Some(2.5), ..Default::default() }).await.expect("move");
    }
    s.update_task(backlog[0].id, TaskPatch { status: Some(TaskStatus::Done), ..Default::default() })
        .await
        .expect("done");
    let mut counts = s.count_tasks_by_status(p.id).await.expect("counts");
    counts.sort_by_key(|(status, _)| status.as_str());
    assert_eq!(counts, vec![(TaskStatus::Backlog, 6), (TaskStatus::Done, 1)]);

    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = s.list_column(p.id, TaskStatus::Backlog, after, 4).await.expect("page");
        if page.is_empty() {
            break;
        }
        assert!(page.len() <= 4);
        after = page.last().map(|t| (t.position, t.id));
        seen.extend(page.into_iter().map(|t| (t.position, t.id)));
    }
    assert_eq!(seen.len(), 6, "every backlog task exactly once");
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "board order: position, then id");
    assert_eq!(seen[0].0, 2.0, "task 1 keeps position 2; task 0 moved out");
    let done = s.list_column(p.id, TaskStatus::Done, None, 10).await.expect("done column");
    assert_eq!(done.iter().map(|t| t.id).collect::<Vec<_>>(), vec![backlog[0].id]);
    assert!(s.list_column(p.id, TaskStatus::Failed, None, 10).await.expect("empty").is_empty());
}

mod team {
    use super::*;
    use chrono::Duration;
    use taskyard_core::store::{NewSessionToken, Rotation};

    fn new_user(email: &str) -> NewUser {
        NewUser {
            email: email.into(),
            name: "Ada".into(),
            password_hash: "$argon2id$fake".into(),
            role: Role::Member,
        }
    }

    fn token(user: UserId, family: uuid::Uuid, hash: &str, valid_for: Duration) -> NewSessionToken {
        NewSessionToken { token_hash: hash.into(), family, user, expires_at: Utc::now() + valid_for }
    }

    pub async fn the_first_admin_is_created_once_even_when_racing<S: Store>(s: S) {
        assert_eq!(s.count_users().await.expect("count"), 0);
        assert!(s.can_register(None, "a@example.com").await.expect("open"), "open until a first admin");
        let (a, b) = tokio::join!(
            s.create_first_admin(new_user("a@example.com")),
            s.create_first_admin(new_user("b@example.com"))
        );
        let wins = [&a, &b].iter().filter(|r| r.is_ok()).count();
        assert_eq!(wins, 1, "exactly one first admin: {a:?} {b:?}");
        let admin = a.or(b).expect("winner");
        assert_eq!(admin.role, Role::Admin);
        let late = s.create_first_admin(new_user("c@example.com")).await;
        assert!(matches!(late, Err(StoreError::Conflict(_))));
        assert!(!s.can_register(None, "c@example.com").await.expect("closed"), "closed after");
        assert_eq!(s.count_users().await.expect("count"), 1);
        let dup = s.create_user(new_user(&admin.email)).await;
        assert!(matches!(dup, Err(StoreError::Conflict(_))), "e-mails are unique");
        let record = s.find_user_by_email(&admin.email).await.expect("find").expect("record");
        assert_eq!((record.user.id, record.password_hash.as_str()), (admin.id, "$argon2id$fake"));
        assert!(!format!("{record:?}").contains("argon2"), "Debug hides the hash");
        assert!(s.find_user_by_email("nobody@example.com").await.expect("find").is_none());
    }

    pub async fn invites_are_single_use_bound_and_expiring<S: Store>(s: S) {
        let admin = s.create_first_admin(new_user("admin@example.com")).await.expect("admin");
        let invite = |hash: &str, email: Option<&str>, role: Role, valid: Duration| NewInvite {
            code_hash: hash.into(),
            email: email.map(str::to_owned),
            role,
            created_by: admin.id,
            expires_at: Utc::now() + valid,
        };
        let open =
            s.create_invite(invite("h-open", None, Role::Admin, Duration::hours(1))).await.expect("invite");
        assert_eq!((open.role, open.used_at), (Role::Admin, None));
        // Asking uses nothing.
        assert!(s.can_register(Some("h-open"), "b@example.com").await.expect("usable"));
        assert!(s.can_register(Some("h-open"), "b@example.com").await.expect("still usable"));
        assert!(!s.can_register(Some("h-none"), "b@example.com").await.expect("unknown"));
        let user = s.register_with_invite("h-open", new_user("b@example.com")).await.expect("register");
        assert!(!s.can_register(Some("h-open"), "c@example.com").await.expect("used"));
        assert_eq!(user.role, Role::Admin, "the invite's role wins");
        let again = s.register_with_invite("h-open", new_user("c@example.com")).await;
        assert!(matches!(again, Err(StoreError::Invalid(ref m)) if m == "invalid invite"), "single use");
        let used =
            s.list_invites().await.expect("list").into_iter().find(|i| i.id == open.id).expect("listed");
        assert_eq!(used.used_by, Some(user.id));
        assert!(
            matches!(s.revoke_invite(open.id).await, Err(StoreError::Conflict(_))),
            "a used invite stays used"
        );

        s.create_invite(invite("h-bound", Some("d@example.com"), Role::Member, Duration::hours(1)))
            .await
            .expect("bound");
        assert!(!s.can_register(Some("h-bound"), "e@example.com").await.expect("bound"));
        assert!(s.can_register(Some("h-bound"), "d@example.com").await.expect("bound"));
        let wrong = s.register_with_invite("h-bound", new_user("e@example.com")).await;
        assert!(matches!(wrong, Err(StoreError::Invalid(_))), "bound to another e-mail");
        s.register_with_invite("h-bound", new_user("d@example.com")).await.expect("right e-mail");

        s.create_invite(invite("h-old", None, Role::Member, Duration::seconds(-1))).await.expect("expired");
        assert!(!s.can_register(Some("h-old"), "f@example.com").await.expect("expired"));
        assert!(matches!(
            s.register_with_invite("h-old", new_user("f@example.com")).await,
            Err(StoreError::Invalid(_))
        ));
        let revoked =
            s.create_invite(invite("h-rev", None, Role::Member, Duration::hours(1))).await.expect("invite");
        assert!(s.revoke_invite(revoked.id).await.expect("revoke").revoked_at.is_some());
        assert!(matches!(
            s.register_with_invite("h-rev", new_user("g@example.com")).await,
            Err(StoreError::Invalid(_))
        ));
        assert!(matches!(
            s.register_with_invite("h-none", new_user("h@example.com")).await,
            Err(StoreError::Invalid(_))
        ));

        // A taken e-mail fails the registration and leaves the invite unused.
        s.create_invite(invite("h-dup", None, Role::Member, Duration::hours(1))).await.expect("invite");
        assert!(matches!(
            s.register_with_invite("h-dup", new_user("d@example.com")).await,
            Err(StoreError::Conflict(_))
        ));
        s.register_with_invite("h-dup", new_user("i@example.com")).await.expect("still usable");
        assert!(matches!(s.revoke_invite(InviteId::new()).await, Err(StoreError::NotFound { .. })));
    }

    pub async fn refresh_tokens_rotate_once_and_reuse_revokes_the_family<S: Store>(s: S) {
        let user = s.create_first_admin(new_user("a@example.com")).await.expect("user");
        let family = uuid::Uuid::now_v7();
        s.create_session_token(token(user.id, family, "t1", Duration::days(1))).await.expect("t1");
        let r = s
            .rotate_session_token("t1", token(user.id, family, "t2", Duration::days(1)))
            .await
            .expect("rotate");
        assert_eq!(r, Rotation::Rotated { user: user.id, family });
        // t1 again: stolen. The family (t2 included) is revoked.
        let r = s
            .rotate_session_token("t1", token(user.id, family, "t3", Duration::days(1)))
            .await
            .expect("reuse");
        assert_eq!(r, Rotation::Reused { user: user.id, family });
        let r = s
            .rotate_session_token("t2", token(user.id, family, "t4", Duration::days(1)))
            .await
            .expect("after reuse");
        assert!(matches!(r, Rotation::Reused { .. }), "the legitimate successor died with the family");
        assert_eq!(
            s.rotate_session_token("nope", token(user.id, family, "t5", Duration::days(1)))
                .await
                .expect("unknown"),
            Rotation::Invalid
        );

        let f2 = uuid::Uuid::now_v7();
        s.create_session_token(token(user.id, f2, "old", Duration::seconds(-5))).await.expect("expired");
        assert_eq!(
            s.rotate_session_token("old", token(user.id, f2, "x", Duration::days(1))).await.expect("expired"),
            Rotation::Invalid
        );

        // Two uses of one token at the same moment: one rotates, the other is a reuse.
        let f3 = uuid::Uuid::now_v7();
        s.create_session_token(token(user.id, f3, "race", Duration::days(1))).await.expect("race");
        let (a, b) = tokio::join!(
            s.rotate_session_token("race", token(user.id, f3, "race-a", Duration::days(1))),
            s.rotate_session_token("race", token(user.id, f3, "race-b", Duration::days(1)))
        );
        let outcomes = [a.expect("a"), b.expect("b")];
        assert_eq!(
            outcomes.iter().filter(|o| matches!(o, Rotation::Rotated { .. })).count(),
            1,
            "{outcomes:?}"
        );

        // A live session vouches for its own user only.
        let other = s.create_user(new_user("other@example.com")).await.expect("other");
        let mine = uuid::Uuid::now_v7();
        s.create_session_token(token(user.id, mine, "mine", Duration::days(1))).await.expect("t");
        assert!(s.session_active(mine, user.id).await.expect("active"));
        assert!(!s.session_active(mine, other.id).await.expect("foreign"), "another user's session");

        let f4 = uuid::Uuid::now_v7();
        s.create_session_token(token(user.id, f4, "logout", Duration::days(1))).await.expect("t");
        s.revoke_session(f4).await.expect("logout");
        assert!(!s.session_active(f4, user.id).await.expect("ended"));
        assert!(matches!(
            s.rotate_session_token("logout", token(user.id, f4, "y", Duration::days(1))).await.expect("r"),
            Rotation::Reused { .. }
        ));
        let f5 = uuid::Uuid::now_v7();
        s.create_session_token(token(user.id, f5, "all", Duration::days(1))).await.expect("t");
        s.revoke_user_sessions(user.id).await.expect("revoke all");
        assert!(!matches!(
            s.rotate_session_token("all", token(user.id, f5, "z", Duration::days(1))).await.expect("r"),
            Rotation::Rotated { .. }
        ));
    }

    pub async fn members_see_only_their_projects<S: Store>(s: S) {
        let admin = s.create_first_admin(new_user("admin@example.com")).await.expect("admin");
        let a = s.create_user(new_user("a@example.com")).await.expect("a");
        let b = s.create_user(new_user("b@example.com")).await.expect("b");
        let pa =
            s.create_project(NewProject { owner: Some(a.id), ..new_project("/repos/a") }).await.expect("pa");
        let pb =
            s.create_project(NewProject { owner: Some(b.id), ..new_project("/repos/b") }).await.expect("pb");
        let ids = |v: Vec<Project>| v.into_iter().map(|p| p.id).collect::<Vec<_>>();
        assert_eq!(ids(s.list_projects(Scope::Member(a.id)).await.expect("a")), vec![pa.id]);
        assert_eq!(ids(s.list_projects(Scope::Member(b.id)).await.expect("b")), vec![pb.id]);
        assert_eq!(ids(s.list_projects(Scope::All).await.expect("all")), vec![pa.id, pb.id]);
        assert_eq!(s.project_role(pa.id, a.id).await.expect("role"), Some(ProjectRole::Owner));
        assert_eq!(s.project_role(pa.id, b.id).await.expect("role"), None);
        s.set_member(pa.id, b.id, ProjectRole::Member).await.expect("add b");
        assert_eq!(s.project_role(pa.id, b.id).await.expect("role"), Some(ProjectRole::Member));
        s.set_member(pa.id, b.id, ProjectRole::Owner).await.expect("promote");
        let members = s.list_members(pa.id).await.expect("members");
        assert_eq!(
            members.iter().map(|m| (m.email.as_str(), m.role)).collect::<Vec<_>>(),
            [("a@example.com", ProjectRole::Owner), ("b@example.com", ProjectRole::Owner)]
        );
        s.remove_member(pa.id, b.id).await.expect("remove");
        assert!(matches!(s.remove_member(pa.id, b.id).await, Err(StoreError::NotFound { .. })));
        assert!(matches!(
            s.set_member(pa.id, UserId::new(), ProjectRole::Member).await,
            Err(StoreError::NotFound { .. })
        ));

        let changed = s
            .update_user(
                a.id,
                UserPatch {
                    role: Some(Role::Admin),
                    disabled: Some(true),
                    name: Some("A".into()),
                    password_hash: None,
                },
            )
            .await
            .expect("update");
        assert_eq!((changed.role, changed.disabled, changed.name.as_str()), (Role::Admin, true, "A"));
        s.update_user(a.id, UserPatch { password_hash: Some("$argon2id$new".into()), ..Default::default() })
            .await
            .expect("pw");
        assert_eq!(s.get_user_record(a.id).await.expect("record").password_hash, "$argon2id$new");
        s.delete_user(a.id).await.expect("delete");
        assert!(s.list_members(pa.id).await.expect("members").is_empty(), "memberships go with the user");
        assert!(matches!(s.get_user(a.id).await, Err(StoreError::NotFound { .. })));
        assert_eq!(
            s.list_users().await.expect("users").iter().map(|u| u.id).collect::<Vec<_>>(),
            vec![admin.id, b.id]
        );
    }

    pub async fn the_audit_log_pages_newest_first<S: Store>(s: S) {
        let mut ids = Vec::new();
        for i in 0..5 {
            let e = AuditEntry {
                id: uuid::Uuid::now_v7(),
                at: Utc::now(),
                actor_id: None,
                actor: Some("a@example.com".into()),
                action: format!("action{i}"),
                target: None,
                ip: Some("127.0.0.1".into()),
                details: None,
            };
            ids.push(e.id);
            s.append_audit(e).await.expect("append");
        }
        let first = s.list_audit(None, 3).await.expect("page");
        assert_eq!(
            first.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(),
            ["action4", "action3", "action2"]
        );
        let rest = s.list_audit(Some(first[2].id), 10).await.expect("page");
        assert_eq!(rest.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(), ["action1", "action0"]);
    }
}

use team::*;

async fn credentials_are_kept_per_tier_and_scope<S: Store>(s: S) {
    use taskyard_core::credentials::{Tier, scope_id};
    let user = s
        .create_first_admin(NewUser {
            email: "a@example.com".into(),
            name: "A".into(),
            password_hash: "x".into(),
            role: Role::Admin,
        })
        .await
        .expect("user");
    let p = s.create_project(new_project("/repos/creds")).await.expect("project");
    let global = scope_id(Tier::Global, None);
    let g = s
        .put_credential(Tier::Global, global, "GITHUB_TOKEN", "gAAAA-token-1", true, Some(user.id))
        .await
        .expect("put");
    assert_eq!(
        (g.tier, g.locked, g.scope_id, g.updated_by),
        (Tier::Global, true, uuid::Uuid::nil(), Some(user.id))
    );
    // Setting it again replaces the value (one row per tier, scope and key).
    let g2 = s
        .put_credential(Tier::Global, global, "GITHUB_TOKEN", "gAAAA-token-2", false, None)
        .await
        .expect("replace");
    assert_eq!((g2.value.as_str(), g2.locked), ("gAAAA-token-2", false));
    s.put_credential(Tier::User, user.id.0, "GITHUB_TOKEN", "gAAAA-user", false, None)
        .await
        .expect("user tier");
    s.put_credential(Tier::Project, p.id.0, "ANTHROPIC_API_KEY", "gAAAA-project", false, None)
        .await
        .expect("project tier");
    assert_eq!(s.list_credentials(Tier::Global, global).await.expect("list").len(), 1);
    let mine = s.list_credentials(Tier::User, user.id.0).await.expect("list");
    assert_eq!(mine.iter().map(|c| c.value.as_str()).collect::<Vec<_>>(), ["gAAAA-user"]);
    assert!(s.list_credentials(Tier::User, p.id.0).await.expect("list").is_empty(), "scopes do not mix");
    assert_eq!(s.all_credentials().await.expect("all").len(), 3);
    s.reencrypt_credential(g2.id, "gAAAA-rotated").await.expect("reencrypt");
    assert_eq!(s.list_credentials(Tier::Global, global).await.expect("list")[0].value, "gAAAA-rotated");
    s.delete_credential(Tier::User, user.id.0, "GITHUB_TOKEN").await.expect("delete");
    assert!(matches!(
        s.delete_credential(Tier::User, user.id.0, "GITHUB_TOKEN").await,
        Err(StoreError::NotFound { .. })
    ));

    assert_eq!(s.get_setting("allowed_credentials").await.expect("get"), None);
    s.put_setting("allowed_credentials", r#"["MY_KEY"]"#).await.expect("put");
    s.put_setting("allowed_credentials", r#"["MY_KEY","OTHER"]"#).await.expect("replace");
    assert_eq!(
        s.get_setting("allowed_credentials").await.expect("get").as_deref(),
        Some(r#"["MY_KEY","OTHER"]"#)
    );
}

async fn the_servers_credential_variables_are_imported_into_the_global_tier_once<S: Store>(s: S) {
    use taskyard_core::credentials::{Credentials, Imported, Tier, Vault};
    let service = Credentials::new(Vault::new(&[Vault::generate_key()]).expect("vault"));
    let env = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    };
    let first = env(&[
        ("CLAUDE_CODE_OAUTH_TOKEN", "sk-ant-oat01-TEST-import-0001"),
        ("GITHUB_TOKEN", ""),
        ("PATH", "/usr/bin"),
        ("DATABASE_URL", "postgres://not-a-credential"),
        ("ANTHROPIC_AUTH_TOKEN", "not a known key"),
    ]);
    let report = service.import_environment(&s, first.clone()).await.expect("import");
    assert_eq!(report, Imported { imported: vec!["CLAUDE_CODE_OAUTH_TOKEN".into()], skipped: vec![] });
    let global = s.list_credentials(Tier::Global, uuid::Uuid::nil()).await.expect("list");
    assert_eq!(global.len(), 1, "only known, non-empty keys are imported");
    assert!(!global[0].locked && !global[0].value.contains("TEST-import"), "stored encrypted, unlocked");
    assert!(
        service
            .redactor()
            .redact("token sk-ant-oat01-TEST-import-0001 here")
            .contains("[redacted:CLAUDE_CODE_OAUTH_TOKEN]"),
        "an imported value is redacted at once"
    );
    // A restart with the same environment changes nothing and reports nothing.
    assert_eq!(service.import_environment(&s, first).await.expect("again"), Imported::default());
    // A different value in the environment does not replace what was stored.
    let changed = env(&[("CLAUDE_CODE_OAUTH_TOKEN", "sk-ant-oat01-TEST-import-0002")]);
    let report = service.import_environment(&s, changed).await.expect("changed");
    assert_eq!(report.skipped, ["CLAUDE_CODE_OAUTH_TOKEN"]);
    let resolved = service.resolve(&s, None, None).await.expect("resolve");
    assert_eq!(resolved.values["CLAUDE_CODE_OAUTH_TOKEN"].value.expose(), "sk-ant-oat01-TEST-import-0001");
}

async fn queued_run<S: Store>(s: &S, project: ProjectId, title: &str, by: Option<UserId>) -> Run {
    let t = s.create_task(new_task(project, title)).await.expect("task");
    s.create_run(NewRun {
        task_id: t.id,
        kind: RunKind::Start,
        agent: "command".into(),
        prompt: "go".into(),
        started_by: by,
    })
    .await
    .expect("run")
}

async fn the_queue_claims_in_order_within_limits_under_leases<S: Store>(s: S) {
    let p1 = s.create_project(new_project("/repos/q1")).await.expect("project");
    let p2 = s.create_project(new_project("/repos/q2")).await.expect("project");
    let alice = s
        .create_first_admin(NewUser {
            email: "alice@example.com".into(),
            name: "Q".into(),
            password_hash: "$argon2id$fake".into(),
            role: Role::Member,
        })
        .await
        .expect("user")
        .id;
    let mut runs = Vec::new();
    for (i, (p, u)) in
        [(p1.id, Some(alice)), (p1.id, Some(alice)), (p2.id, Some(alice)), (p2.id, None), (p1.id, None)]
            .into_iter()
            .enumerate()
    {
        runs.push(queued_run(&s, p, &format!("q{i}"), u).await);
    }
    let positions: Vec<Option<i64>> = futures::future::join_all(runs.iter().map(|r| s.queue_position(r.id)))
        .await
        .into_iter()
        .map(|p| p.expect("pos"))
        .collect();
    assert_eq!(positions, [Some(1), Some(2), Some(3), Some(4), Some(5)]);

    // One per user and two per project: alice's first, then the unowned ones.
    let limited = Claim { per_user: Some(1), per_project: Some(2), ..claim_for("a/1", 10) };
    let first: Vec<RunId> = s.claim_runs(&limited).await.expect("claim").iter().map(|r| r.id).collect();
    assert_eq!(first, [runs[0].id, runs[3].id, runs[4].id]);
    assert_eq!(s.queue_position(runs[1].id).await.expect("pos"), Some(1), "claimed runs leave the queue");
    assert_eq!(s.queue_position(runs[0].id).await.expect("pos"), None);
    // Nothing more fits while those run, on any worker.
    assert!(s.claim_runs(&Claim { owner: "b/1".into(), ..limited.clone() }).await.expect("claim").is_empty());
    // Without limits a second worker takes the rest, never a claimed run.
    let second: Vec<RunId> =
        s.claim_runs(&claim_for("b/1", 10)).await.expect("claim").iter().map(|r| r.id).collect();
    assert_eq!(second, [runs[1].id, runs[2].id]);
    assert!(s.claim_runs(&claim_for("c/1", 10)).await.expect("claim").is_empty());

    // Leases: renewal answers what is held and whether a stop was asked for.
    s.request_stop(runs[1].id).await.expect("stop");
    let later = Utc::now() + chrono::Duration::seconds(60);
    let mut held = s.renew_leases("b/1", later).await.expect("renew");
    held.sort();
    let mut expect = vec![(runs[1].id, true), (runs[2].id, false)];
    expect.sort();
    assert_eq!(held, expect);
    // Expired leases are found and taken over once; a previous life of a replica at once.
    let after_a = Utc::now() + chrono::Duration::seconds(45);
    let expired: Vec<RunId> =
        s.expired_runs(after_a, "z/1").await.expect("expired").iter().map(|r| r.id).collect();
    assert_eq!(expired, [runs[0].id, runs[3].id, runs[4].id], "a/1 stopped renewing; b/1 renewed");
    let restarted: Vec<RunId> =
        s.expired_runs(Utc::now(), "b/2").await.expect("own").iter().map(|r| r.id).collect();
    assert_eq!(restarted.len(), 2, "b's earlier life held two runs: {restarted:?}");
    let took = s.take_over_run(runs[0].id, "z/1", after_a, later).await.expect("take").expect("taken");
    assert_eq!((took.lease_owner.as_deref(), took.recoveries), (Some("z/1"), 1));
    assert!(s.take_over_run(runs[0].id, "y/1", after_a, later).await.expect("again").is_none(), "taken once");
    // Only the holder requeues; the run goes back with its place kept by a new queue time.
    let rq = Requeue {
        status: RunStatus::Queued,
        retry_at: None,
        error: None,
        quota_waits: 0,
        recovery: Some("resume".into()),
        session_id: Some("sess".into()),
        exit_code: None,
    };
    assert!(matches!(s.requeue_run(runs[0].id, "a/1", rq.clone()).await, Err(StoreError::Conflict(_))));
    let back = s.requeue_run(runs[0].id, "z/1", rq).await.expect("requeue");
    assert_eq!(
        (back.status, back.lease_owner, back.recovery.as_deref()),
        (RunStatus::Queued, None, Some("resume"))
    );
    assert_eq!(back.session_id.as_deref(), Some("sess"));
    let again = s.claim_runs(&claim_for("z/1", 10)).await.expect("claim");
    assert_eq!((again.len(), again[0].tries), (1, 2), "executed a second time");
}

async fn waiting_runs_come_back_when_due_retried_or_woken<S: Store>(s: S) {
    let p = s.create_project(new_project("/repos/w")).await.expect("project");
    let other = s.create_project(new_project("/repos/w2")).await.expect("project");
    let bob = s
        .create_first_admin(NewUser {
            email: "bob@example.com".into(),
            name: "Q".into(),
            password_hash: "$argon2id$fake".into(),
            role: Role::Member,
        })
        .await
        .expect("user")
        .id;
    let auth = queued_run(&s, p.id, "auth", Some(bob)).await;
    let quota = queued_run(&s, other.id, "quota", None).await;
    assert_eq!(s.claim_runs(&claim_for("w/1", 10)).await.expect("claim").len(), 2);
    let now = Utc::now();
    let in_5_min = now + chrono::Duration::minutes(5);
    let wait = |status, retry_at| Requeue {
        status,
        retry_at: Some(retry_at),
        error: Some("why".into()),
        quota_waits: 1,
        recovery: None,
        session_id: None,
        exit_code: Some(1),
    };
    let waiting = s.requeue_run(auth.id, "w/1", wait(RunStatus::WaitingAuth, in_5_min)).await.expect("wait");
    assert_eq!((waiting.status, waiting.error.as_deref()), (RunStatus::WaitingAuth, Some("why")));
    s.requeue_run(quota.id, "w/1", wait(RunStatus::WaitingQuota, now + chrono::Duration::hours(1)))
        .await
        .expect("wait");
    assert!(!RunStatus::WaitingAuth.is_terminal() && RunStatus::WaitingAuth.is_waiting());
    assert_eq!(s.next_retry_at().await.expect("next"), Some(chrono::SubsecRound::trunc_subsecs(in_5_min, 6)));
    assert!(s.claim_runs(&claim_for("w/1", 10)).await.expect("claim").is_empty(), "not due yet");
    let due = Claim { now: in_5_min + chrono::Duration::seconds(1), ..claim_for("w/1", 10) };
    let claimed = s.claim_runs(&due).await.expect("claim");
    assert_eq!(claimed.iter().map(|r| r.id).collect::<Vec<_>>(), [auth.id], "due at its retry time");
    s.requeue_run(auth.id, "w/1", wait(RunStatus::WaitingAuth, in_5_min)).await.expect("wait");

    // A credential change wakes runs waiting for credentials in its scope only.
    assert_eq!(s.wake_waiting_auth(WakeScope::Project(other.id), now).await.expect("wake"), 0);
    assert_eq!(s.wake_waiting_auth(WakeScope::User(bob), now).await.expect("wake"), 1);
    assert_eq!(s.claim_runs(&claim_for("w/1", 10)).await.expect("claim").len(), 1, "woken");
    s.requeue_run(auth.id, "w/1", wait(RunStatus::WaitingAuth, in_5_min)).await.expect("wait");
    assert_eq!(s.wake_waiting_auth(WakeScope::All, now).await.expect("wake"), 1, "quota waits are not woken");

    // "Retry now" turns a waiting run queued; anything else is a conflict.
    let retried = s.retry_run_now(quota.id).await.expect("retry");
    assert_eq!((retried.status, retried.retry_at), (RunStatus::Queued, None));
    assert!(matches!(s.retry_run_now(quota.id).await, Err(StoreError::Conflict(_))));
    // Waiting and queued runs can be cancelled by anyone; they are not running.
    let cancelled =
        s.finish_run(quota.id, RunStatus::Cancelled, RunFinished::default()).await.expect("cancel");
    assert_eq!(cancelled.status, RunStatus::Cancelled);
    s.finish_run(auth.id, RunStatus::Cancelled, RunFinished::default()).await.expect("cancel waiting");
}

/// SQLite has one writer at a time: a log append that finds another connection writing
/// waits for it (in steps of a millisecond, not SQLite's growing sleeps) and then lands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_append_waits_for_another_sqlite_writer() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = SqliteStore::open(&dir.path().join("t.db")).await.expect("open sqlite");
    let (_p, _t, r) = setup_run(&s).await;
    let mut writer = s.pool().begin_with("BEGIN IMMEDIATE").await.expect("take the write lock");
    let append = tokio::spawn({
        let s = s.clone();
        async move { s.append_log_batches(&[vec![entry(r.id, 1, "after the other writer")]]).await }
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(!append.is_finished(), "the append waits while another connection writes");
    sqlx::query("UPDATE projects SET name = name").execute(&mut *writer).await.expect("write");
    writer.commit().await.expect("commit");
    let outcome = tokio::time::timeout(std::time::Duration::from_secs(5), append)
        .await
        .expect("the append lands once the lock is free")
        .expect("join")
        .expect("append");
    assert!(outcome[0].is_ok(), "{:?}", outcome[0]);
    assert_eq!(s.read_logs(r.id, 0, 10).await.expect("read")[0].text, "after the other writer");
}

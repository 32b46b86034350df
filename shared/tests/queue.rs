//! The run queue's retry policy with a manual clock, driven through the real Claude Code CLI
//! against the mock API: waiting for credentials (every 5 minutes, and at once when one is
//! set), quota backoff (1 h, ×1.5, capped at 4 h), and giving up after the maximum attempts
//! with a message that says what to do.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use serde_json::{Value, json};
use taskyard_core::credentials::{Credentials, Tier, Vault};
use taskyard_core::model::*;
use taskyard_core::runner::policy::QueueSettings;
use taskyard_core::runner::queue::{Clock, ManualClock};
use taskyard_core::store::Store;
use taskyard_core::store::queue::WakeScope;
use taskyard_test_support::mock_api::{ApiError, Dialect, Scenario};

const API_KEY: &str = "sk-ant-api03-TEST-not-a-real-key-000000000000000000000000";
const OAUTH_TOKEN: &str = "sk-ant-oat01-TEST-queue-token-0000000000000000000000000000";

fn settings(base_url: &str, credential: Option<(&str, &str)>) -> Value {
    let mut env = json!({ "ANTHROPIC_BASE_URL": base_url });
    if let Some((name, value)) = credential {
        env[name] = json!(value);
    }
    merged(cli_settings(&tool("claude-code", "claude"), env), json!({ "api_retries": 0 }))
}

struct Queue {
    f: Fixture,
    clock: Arc<ManualClock>,
    credentials: Arc<Credentials>,
}

async fn queue(settings: QueueSettings) -> Queue {
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let credentials = Arc::new(Credentials::new(Vault::new(&[Vault::generate_key()]).expect("vault")));
    let (c, k) = (clock.clone(), credentials.clone());
    let f = fixture_configured(Dialect::Anthropic, move |config| {
        config.queue.clock = c;
        config.credentials = Some(k);
        // The mock is named by each task (as a single user's tasks may name a gateway).
        config.trust_task_settings = true;
    })
    .await;
    let store = f.runner.store();
    store
        .put_setting(QueueSettings::KEY, &serde_json::to_string(&settings).expect("json"))
        .await
        .expect("setting");
    f.runner.reload_queue_settings().await;
    Queue { f, clock, credentials }
}

impl Queue {
    /// Waits until the run has executed `tries` times and settled.
    async fn settled_after(&self, run: RunId, tries: i64) -> Run {
        let deadline = std::time::Instant::now() + Duration::from_secs(90);
        loop {
            let r = self.f.runner.store().get_run(run).await.expect("run");
            if r.tries >= tries && !matches!(r.status, RunStatus::Queued | RunStatus::Running) {
                assert_eq!(r.tries, tries, "executed once per due retry");
                return r;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "run stuck as {} after {} tries",
                r.status,
                r.tries
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Moves the clock to the run's retry time (plus `extra`) and wakes the worker.
    fn until_due(&self, run: &Run, extra: Duration) {
        let at = run.retry_at.expect("a retry time");
        let by = (at - self.clock.now()).to_std().unwrap_or_default() + extra;
        self.clock.advance(by);
        self.f.runner.poke();
    }

    fn minutes_until_retry(&self, run: &Run) -> f64 {
        (run.retry_at.expect("retry time") - self.clock.now()).num_milliseconds() as f64 / 60_000.0
    }

    async fn system_texts(&self, run: RunId) -> Vec<String> {
        self.f.logs(run).await.into_iter().filter(|e| e.kind == LogKind::System).map(|e| e.text).collect()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_without_credentials_waits_and_goes_on_as_soon_as_one_is_set() {
    let q = queue(QueueSettings::default()).await;
    let url = q.f.mock.scenario("ok", Scenario::text("done"));
    let task = q.f.task("claude", "no login", settings(&url, None)).await;
    let run = q.f.run(&task).await;
    assert_eq!((run.status, run.tries), (RunStatus::WaitingAuth, 1), "{:?}", run.error);
    assert!(run.error.as_deref().is_some_and(|e| e.contains("Not logged in")), "{:?}", run.error);
    assert!((q.minutes_until_retry(&run) - 5.0).abs() < 0.01, "retried every 5 minutes");
    assert_eq!(q.f.runner.store().get_task(task.id).await.expect("task").status, TaskStatus::Waiting);
    let texts = q.system_texts(run.id).await;
    let note = texts.iter().find(|t| t.starts_with("waiting for credentials")).expect("a note in the log");
    assert!(note.contains("attempt 1 of 20") && note.contains("CLAUDE_CODE_OAUTH_TOKEN"), "{note}");

    // Not due a minute early.
    q.clock.advance(Duration::from_secs(4 * 60));
    q.f.runner.poke();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(q.f.runner.store().get_run(run.id).await.expect("run").tries, 1);
    // Due at five minutes: tried again, and waits again.
    q.until_due(&run, Duration::from_secs(1));
    let run = q.settled_after(run.id, 2).await;
    assert_eq!(run.status, RunStatus::WaitingAuth);
    assert!((q.minutes_until_retry(&run) - 5.0).abs() < 0.01);

    // A credential is set: the run goes on at once, long before its retry time.
    let store = q.f.runner.store();
    let encrypted = q.credentials.vault().encrypt(OAUTH_TOKEN);
    store
        .put_credential(Tier::Global, uuid::Uuid::nil(), "CLAUDE_CODE_OAUTH_TOKEN", &encrypted, false, None)
        .await
        .expect("put");
    q.credentials.reload(store).await.expect("reload");
    assert_eq!(q.f.runner.credentials_changed(WakeScope::All).await.expect("wake"), 1);
    let run = q.settled_after(run.id, 3).await;
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    assert_eq!(run.attempt, 1, "one run, executed three times");
    let call = q.f.mock.model_calls("ok").pop().expect("the model was called");
    assert_eq!(call.header("authorization"), Some(format!("Bearer {OAUTH_TOKEN}").as_str()));
    let logs = q.f.logs(run.id).await;
    assert!(logs.windows(2).all(|w| w[1].seq == w[0].seq + 1), "one gapless log across the executions");
    assert_eq!(q.f.runner.store().get_task(task.id).await.expect("task").status, TaskStatus::InReview);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quota_waits_grow_by_half_up_to_four_hours_then_the_run_fails_saying_what_to_do() {
    let q = queue(QueueSettings { max_attempts: 7, ..QueueSettings::default() }).await;
    let url = q.f.mock.scenario("limited", Scenario::Fail(ApiError::RateLimited));
    let task = q.f.task("claude", "limited", settings(&url, Some(("ANTHROPIC_API_KEY", API_KEY)))).await;
    let mut run = q.f.run(&task).await;
    // No reset time reported: 1 h, then ×1.5 each time, capped at 4 h.
    for (i, minutes) in [60.0, 90.0, 135.0, 202.5, 240.0, 240.0].into_iter().enumerate() {
        let tries = i as i64 + 1;
        assert_eq!((run.status, run.tries), (RunStatus::WaitingQuota, tries), "{:?}", run.error);
        let wait = q.minutes_until_retry(&run);
        assert!((wait - minutes).abs() < 0.01, "wait {tries}: {wait} minutes, expected {minutes}");
        assert_eq!(run.quota_waits, tries);
        q.until_due(&run, Duration::from_secs(1));
        run = q.settled_after(run.id, tries + 1).await;
    }
    assert_eq!(run.status, RunStatus::Failed);
    let error = run.error.expect("why");
    assert!(error.contains("gave up after 7 attempts") && error.contains("usage limit"), "{error}");
    assert_eq!(q.f.runner.store().get_task(task.id).await.expect("task").status, TaskStatus::Failed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_still_missing_after_the_last_attempt_fail_the_run_with_the_fix() {
    let q = queue(QueueSettings { max_attempts: 2, ..QueueSettings::default() }).await;
    let url = q.f.mock.scenario("ok", Scenario::text("done"));
    let task = q.f.task("claude", "never logged in", settings(&url, None)).await;
    let run = q.f.run(&task).await;
    assert_eq!(run.status, RunStatus::WaitingAuth);
    // "Retry now" does not wait for the clock.
    q.f.runner.retry_now(run.id).await.expect("retry now");
    let run = q.settled_after(run.id, 2).await;
    assert_eq!(run.status, RunStatus::Failed);
    let error = run.error.expect("why");
    assert!(
        error.contains("gave up after 2 attempts")
            && error.contains("Set a Claude OAuth token (claude setup-token): Settings → Credentials"),
        "{error}"
    );
    let again = q.f.runner.retry_now(run.id).await;
    assert!(again.is_err(), "a failed run is not waiting");
}

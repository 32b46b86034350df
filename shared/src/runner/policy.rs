//! What happens after an execution ends: the run finishes, or waits and is retried. Pure
//! functions of the outcome, the run's history, the settings and the time, so the schedules
//! are tested with any clock.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::{Run, RunStatus};

/// The queue's settings: limits and the retry policy. Servers keep them as the `queue`
/// setting (admins change them at run time); fields left out take their defaults.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct QueueSettings {
    /// Runs one server executes at once (0 = the server's own configuration).
    #[schema(maximum = 2_147_483_647)]
    pub max_concurrent: u32,
    /// Runs one user may have running at once across all servers (0 = no limit).
    #[schema(maximum = 2_147_483_647)]
    pub max_per_user: u32,
    /// Runs one project may have running at once across all servers (0 = no limit).
    #[schema(maximum = 2_147_483_647)]
    pub max_per_project: u32,
    /// Executions of one run before it fails instead of waiting again.
    #[schema(minimum = 1, maximum = 2_147_483_647)]
    pub max_attempts: u32,
    /// Seconds between retries of a run waiting for credentials.
    #[schema(minimum = 10, maximum = 9_223_372_036_854_775_807_u64)]
    pub auth_retry_seconds: u64,
    /// Seconds of the first quota wait when the agent reported no reset time.
    #[schema(minimum = 10, maximum = 9_223_372_036_854_775_807_u64)]
    pub quota_retry_seconds: u64,
    /// Each further quota wait is this much longer.
    #[schema(minimum = 1, maximum = 10)]
    pub quota_backoff: f64,
    /// The longest quota wait, in seconds.
    #[schema(minimum = 10, maximum = 9_223_372_036_854_775_807_u64)]
    pub quota_max_seconds: u64,
    /// Hours an idle worktree of a finished task is kept (0 = forever).
    #[schema(maximum = 2_147_483_647)]
    pub worktree_idle_hours: u32,
}

impl Default for QueueSettings {
    fn default() -> Self {
        Self {
            max_concurrent: 0,
            max_per_user: 0,
            max_per_project: 0,
            max_attempts: 20,
            auth_retry_seconds: 5 * 60,
            quota_retry_seconds: 60 * 60,
            quota_backoff: 1.5,
            quota_max_seconds: 4 * 60 * 60,
            worktree_idle_hours: 7 * 24,
        }
    }
}

impl QueueSettings {
    /// The setting's key in the store.
    pub const KEY: &'static str = "queue";

    /// Refuses values that would stop the queue or retry in a busy loop.
    pub fn validate(&self) -> Result<(), String> {
        if self.max_attempts == 0 {
            return Err("max_attempts must be at least 1".into());
        }
        // The document states these as 32- and 64-bit signed integers (as most clients read
        // them); larger values are refused rather than kept where no client could show them.
        let counts = [self.max_concurrent, self.max_per_user, self.max_per_project, self.max_attempts];
        if counts.into_iter().chain([self.worktree_idle_hours]).any(|n| n > i32::MAX as u32) {
            return Err(format!("counts and hours must be at most {}", i32::MAX));
        }
        let waits = [self.auth_retry_seconds, self.quota_retry_seconds, self.quota_max_seconds];
        if waits.into_iter().any(|n| n > i64::MAX as u64) {
            return Err(format!("waits must be at most {} seconds", i64::MAX));
        }
        if self.auth_retry_seconds < 10 || self.quota_retry_seconds < 10 {
            return Err("retries must be at least 10 seconds apart".into());
        }
        if !(1.0..=10.0).contains(&self.quota_backoff) {
            return Err("quota_backoff must be between 1 and 10".into());
        }
        if self.quota_max_seconds < self.quota_retry_seconds {
            return Err("quota_max_seconds must not be below quota_retry_seconds".into());
        }
        Ok(())
    }

    /// The wait before retry number `waits + 1` of a quota-limited run.
    pub fn quota_wait(&self, waits: i64) -> Duration {
        let secs = self.quota_retry_seconds as f64 * self.quota_backoff.powi(waits.clamp(0, 64) as i32);
        Duration::from_secs_f64(secs.min(self.quota_max_seconds as f64))
    }
}

/// What becomes of a run whose execution ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// It ends with this status and reason.
    Finish(RunStatus, Option<String>),
    /// It waits (`waiting_auth` / `waiting_quota`) until `retry_at`; `note` says so in its log.
    Wait { status: RunStatus, retry_at: DateTime<Utc>, quota_waits: i64, note: String },
    /// It goes back to the queue at once (a plain failure the profile retries).
    Requeue { note: String },
}

/// Decides after an execution of `run` ended as `status` (the adapter's verdict) with
/// `reason` and the agent's reported reset time. `retry_failures` is how many plain failures
/// the project's profile retries.
pub fn decide(
    run: &Run,
    status: RunStatus,
    reason: Option<String>,
    reported_reset: Option<DateTime<Utc>>,
    settings: &QueueSettings,
    retry_failures: u32,
    now: DateTime<Utc>,
) -> Decision {
    let attempts_left = run.tries < i64::from(settings.max_attempts);
    let attempt = format!("attempt {} of {}", run.tries, settings.max_attempts);
    match status {
        RunStatus::AuthRequired if attempts_left => {
            let retry_at = now + chrono::Duration::seconds(settings.auth_retry_seconds as i64);
            Decision::Wait {
                status: RunStatus::WaitingAuth,
                retry_at,
                quota_waits: 0,
                note: format!(
                    "waiting for credentials ({attempt}): retrying at {} or as soon as a credential changes. {}",
                    retry_at.format("%H:%M:%S UTC"),
                    auth_hint(&run.agent)
                ),
            }
        }
        RunStatus::AuthRequired => Decision::Finish(
            RunStatus::Failed,
            Some(format!(
                "gave up after {} attempts: the agent has no valid credentials. {}",
                run.tries,
                auth_hint(&run.agent)
            )),
        ),
        RunStatus::QuotaExceeded if attempts_left => {
            let backoff = now
                + chrono::Duration::from_std(settings.quota_wait(run.quota_waits))
                    .unwrap_or(chrono::Duration::hours(4));
            let (retry_at, why) = match reported_reset {
                Some(at) if at > now => (at, "the reset time the agent reported"),
                _ => (backoff, "no reset time was reported"),
            };
            Decision::Wait {
                status: RunStatus::WaitingQuota,
                retry_at,
                quota_waits: run.quota_waits + 1,
                note: format!(
                    "usage limit reached ({attempt}): retrying at {} ({why})",
                    retry_at.format("%Y-%m-%d %H:%M:%S UTC")
                ),
            }
        }
        RunStatus::QuotaExceeded => Decision::Finish(
            RunStatus::Failed,
            Some(format!(
                "gave up after {} attempts: the agent's usage limit was still reached. Wait for the limit to \
                 reset or raise it with the provider, then start the task again.",
                run.tries
            )),
        ),
        RunStatus::Failed | RunStatus::ServerError | RunStatus::MaxTurns
            if run.tries <= i64::from(retry_failures) && attempts_left =>
        {
            let why = reason.as_deref().unwrap_or("it failed");
            Decision::Requeue {
                note: format!(
                    "{why}; retrying (the project retries failed runs {retry_failures} time(s), {attempt})"
                ),
            }
        }
        other => Decision::Finish(other, reason),
    }
}

/// What to set so an agent can log in.
pub fn auth_hint(agent: &str) -> &'static str {
    match agent {
        "claude" => {
            "Set a Claude OAuth token (claude setup-token): Settings → Credentials → CLAUDE_CODE_OAUTH_TOKEN."
        }
        "codex" => "Set an OpenAI API key: Settings → Credentials → OPENAI_API_KEY.",
        "gemini" => "Set a Gemini API key: Settings → Credentials → GOOGLE_API_KEY.",
        _ => "Set the credential the agent needs: Settings → Credentials.",
    }
}

/// How a run whose server died (or stopped) continues.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recovery {
    /// Its agent session is resumed in its worktree.
    Resume,
    /// It starts again from the worktree's state when its execution began.
    Clean,
    /// It cannot continue; the reason says why.
    Interrupted(String),
}

/// Most recoveries of one run: a run that keeps taking its server down ends as interrupted.
pub const MAX_RECOVERIES: i64 = 3;

/// Picks how a run continues after its execution was cut off. `session_kept` says whether
/// its adapter can resume the session it recorded; `worktree_ok` whether its worktree can be
/// reset to where the execution began (or it never began).
pub fn recovery(run: &Run, session_kept: bool, worktree_ok: bool) -> Recovery {
    if run.recoveries > MAX_RECOVERIES {
        return Recovery::Interrupted(format!(
            "it was recovered {MAX_RECOVERIES} times and its server stopped again each time; start it again"
        ));
    }
    if session_kept {
        Recovery::Resume
    } else if worktree_ok {
        Recovery::Clean
    } else {
        Recovery::Interrupted("its worktree is gone, so it cannot start again cleanly; start it again".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(tries: i64, quota_waits: i64, recoveries: i64) -> Run {
        let json = serde_json::json!({
            "id": uuid::Uuid::nil(), "task_id": uuid::Uuid::nil(), "attempt": 1, "kind": "start",
            "status": "running", "agent": "claude", "prompt": "p", "created_at": "2026-01-01T00:00:00Z",
            "queued_at": "2026-01-01T00:00:00Z", "tries": tries, "quota_waits": quota_waits,
            "recoveries": recoveries, "stop_requested": false,
            "branch": null, "base_branch": null, "base_commit": null, "worktree_path": null, "pid": null,
            "exit_code": null, "error": null, "session_id": null, "head_commit": null, "files_changed": null,
            "insertions": null, "deletions": null, "retry_at": null, "started_at": null, "finished_at": null,
            "started_by": null, "lease_owner": null, "lease_expires_at": null, "start_commit": null,
            "recovery": null, "queue_position": null
        });
        serde_json::from_value(json).expect("run")
    }

    fn now() -> DateTime<Utc> {
        "2026-11-24T10:00:00Z".parse().expect("time")
    }

    #[test]
    fn a_reported_reset_time_wins_over_the_backoff_unless_it_has_passed() {
        let s = QueueSettings::default();
        let reset = now() + chrono::Duration::minutes(17);
        let d = decide(&run(1, 3, 0), RunStatus::QuotaExceeded, None, Some(reset), &s, 0, now());
        assert!(
            matches!(d, Decision::Wait { status: RunStatus::WaitingQuota, retry_at, quota_waits: 4, .. } if retry_at == reset)
        );
        let past = now() - chrono::Duration::minutes(1);
        let d = decide(&run(1, 0, 0), RunStatus::QuotaExceeded, None, Some(past), &s, 0, now());
        assert!(
            matches!(d, Decision::Wait { retry_at, .. } if retry_at == now() + chrono::Duration::hours(1))
        );
    }

    #[test]
    fn plain_failures_are_retried_only_as_often_as_the_profile_says() {
        let s = QueueSettings::default();
        let failed = |tries, retries| {
            decide(&run(tries, 0, 0), RunStatus::Failed, Some("boom".into()), None, &s, retries, now())
        };
        assert_eq!(failed(1, 0), Decision::Finish(RunStatus::Failed, Some("boom".into())));
        assert!(matches!(failed(1, 2), Decision::Requeue { .. }));
        assert!(matches!(failed(2, 2), Decision::Requeue { .. }));
        assert_eq!(failed(3, 2), Decision::Finish(RunStatus::Failed, Some("boom".into())));
        let ok = decide(&run(1, 0, 0), RunStatus::Succeeded, None, None, &s, 5, now());
        assert_eq!(ok, Decision::Finish(RunStatus::Succeeded, None));
    }

    #[test]
    fn a_cut_off_run_resumes_restarts_clean_or_is_interrupted() {
        assert_eq!(recovery(&run(1, 0, 1), true, true), Recovery::Resume);
        assert_eq!(recovery(&run(1, 0, 1), false, true), Recovery::Clean);
        assert!(matches!(recovery(&run(1, 0, 1), false, false), Recovery::Interrupted(_)));
        assert!(matches!(recovery(&run(1, 0, MAX_RECOVERIES + 1), true, true), Recovery::Interrupted(_)));
    }

    #[test]
    fn settings_that_would_stall_or_spin_the_queue_are_refused() {
        assert!(QueueSettings::default().validate().is_ok());
        assert!(QueueSettings { max_attempts: 0, ..Default::default() }.validate().is_err());
        assert!(QueueSettings { auth_retry_seconds: 1, ..Default::default() }.validate().is_err());
        assert!(QueueSettings { quota_backoff: 0.5, ..Default::default() }.validate().is_err());
        let capped = QueueSettings { quota_max_seconds: 60, ..Default::default() };
        assert!(capped.validate().is_err());
        assert_eq!(QueueSettings::default().quota_wait(100), Duration::from_secs(4 * 3600));
    }
}

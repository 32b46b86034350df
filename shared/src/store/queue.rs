//! The durable run queue's storage: claims under concurrency limits with leases, lease
//! renewal and take-over, requeues into waiting states, and queue positions.
//!
//! The SQL is written once ([`queue_store_methods!`]) and expanded by both backends with
//! their own transaction start and row locking: Postgres claims with `FOR UPDATE SKIP LOCKED`
//! (and, when per-user or per-project limits apply, a transaction-scoped advisory lock so two
//! replicas cannot both take a user's last slot); SQLite has one writer and takes its write
//! lock up front (`BEGIN IMMEDIATE`).

use std::collections::HashMap;

use chrono::{DateTime, Utc};

use crate::model::{ProjectId, RunId, RunStatus, UserId};

/// What a worker asks the queue for.
#[derive(Debug, Clone)]
pub struct Claim {
    /// The worker's process (lease owner).
    pub owner: String,
    /// The time due retries are compared with.
    pub now: DateTime<Utc>,
    /// Until when the claimed runs' leases hold unless renewed.
    pub lease_until: DateTime<Utc>,
    /// At most this many runs.
    pub max: usize,
    /// At most this many running runs per user, across all servers.
    pub per_user: Option<u32>,
    /// At most this many running runs per project, across all servers.
    pub per_project: Option<u32>,
    /// Only these runs (a command-line process executes just what it enqueued).
    pub only: Option<Vec<RunId>>,
}

/// How a running run goes back to waiting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requeue {
    /// `Queued`, `WaitingAuth` or `WaitingQuota`.
    pub status: RunStatus,
    /// When a waiting run is due.
    pub retry_at: Option<DateTime<Utc>>,
    /// Why it waits (shown on the task).
    pub error: Option<String>,
    /// Consecutive quota waits so far.
    pub quota_waits: i64,
    /// `resume` when the next execution continues the agent's session.
    pub recovery: Option<String>,
    /// The agent session, when known.
    pub session_id: Option<String>,
    /// The exit code of the execution that ended, if it exited.
    pub exit_code: Option<i64>,
}

/// Whose runs waiting for credentials a credential change wakes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WakeScope {
    /// Every run (a global credential changed).
    All,
    /// Runs started by this user.
    User(UserId),
    /// Runs of this project's tasks.
    Project(ProjectId),
}

/// How many live runs are in each state, across all servers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct QueueCounts {
    /// Waiting for a worker.
    pub queued: i64,
    /// Executing on some server.
    pub running: i64,
    /// Waiting for credentials.
    pub waiting_auth: i64,
    /// Waiting for a usage limit to reset.
    pub waiting_quota: i64,
}

/// A queued run as the claim sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    /// The run.
    pub id: RunId,
    /// Its task's project.
    pub project: ProjectId,
    /// Who started it.
    pub user: Option<UserId>,
}

/// The `LIKE` pattern of lease owners that are earlier lives of `owner`'s server: owners are
/// `<replica>/<boot>`, and runs a replica held before it restarted are recovered at once
/// instead of after their lease expires.
pub fn previous_lives(owner: &str) -> String {
    match owner.split_once('/') {
        Some((replica, _)) => format!("{replica}/%"),
        None => owner.to_owned(),
    }
}

/// How many candidates one claim looks at: enough that runs blocked by a limit do not hide
/// the ones behind them.
pub const CLAIM_WINDOW: i64 = 1_000;

/// Picks, in queue order, the candidates that fit: at most `claim.max`, and no user or
/// project above its limit counting the runs already `running`.
pub fn select_claims(candidates: &[Candidate], running: &[Candidate], claim: &Claim) -> Vec<RunId> {
    let mut per_user: HashMap<UserId, u32> = HashMap::new();
    let mut per_project: HashMap<ProjectId, u32> = HashMap::new();
    for r in running {
        if let Some(u) = r.user {
            *per_user.entry(u).or_default() += 1;
        }
        *per_project.entry(r.project).or_default() += 1;
    }
    let mut picked = Vec::new();
    for c in candidates {
        if picked.len() >= claim.max {
            break;
        }
        if claim.only.as_ref().is_some_and(|only| !only.contains(&c.id)) {
            continue;
        }
        let user_full = match (claim.per_user, c.user) {
            (Some(limit), Some(u)) => per_user.get(&u).copied().unwrap_or(0) >= limit,
            _ => false,
        };
        let project_full =
            claim.per_project.is_some_and(|limit| per_project.get(&c.project).copied().unwrap_or(0) >= limit);
        if user_full || project_full {
            continue;
        }
        if let Some(u) = c.user {
            *per_user.entry(u).or_default() += 1;
        }
        *per_project.entry(c.project).or_default() += 1;
        picked.push(c.id);
    }
    picked
}

/// The queue's SQL, expanded by each backend: `$begin` starts the claim's transaction,
/// `$lock` locks candidate rows, `$serialize` (a statement or empty) serializes claims that
/// count other servers' runs.
macro_rules! queue_store_methods {
    (begin = $begin:literal, lock = $lock:literal, serialize = $serialize:literal) => {
        async fn claim_runs(&self, claim: &$crate::store::queue::Claim) -> Result<Vec<Run>> {
            use $crate::store::queue::{CLAIM_WINDOW, Candidate, select_claims};
            if claim.max == 0 {
                return Ok(Vec::new());
            }
            let mut tx = self.pool.begin_with($begin).await?;
            let limited = claim.per_user.is_some() || claim.per_project.is_some();
            if limited && !$serialize.is_empty() {
                sqlx::query($serialize).execute(&mut *tx).await?;
            }
            let running: Vec<(RunId, ProjectId, Option<UserId>)> = if limited {
                sqlx::query_as(
                    "SELECT r.id, t.project_id, r.started_by FROM runs r JOIN tasks t ON t.id = r.task_id
                     WHERE r.status = $1",
                )
                .bind(RunStatus::Running.as_str())
                .fetch_all(&mut *tx)
                .await?
            } else {
                Vec::new()
            };
            let candidates: Vec<(RunId, ProjectId, Option<UserId>)> = sqlx::query_as(concat!(
                "SELECT r.id, t.project_id, r.started_by FROM runs r JOIN tasks t ON t.id = r.task_id
                 WHERE r.status = $1 OR (r.status IN ($2, $3) AND r.retry_at <= $4)
                 ORDER BY r.queued_at, r.id LIMIT $5 ",
                $lock
            ))
            .bind(RunStatus::Queued.as_str())
            .bind(RunStatus::WaitingAuth.as_str())
            .bind(RunStatus::WaitingQuota.as_str())
            .bind(claim.now)
            .bind(CLAIM_WINDOW)
            .fetch_all(&mut *tx)
            .await?;
            let as_candidate =
                |(id, project, user): (RunId, ProjectId, Option<UserId>)| Candidate { id, project, user };
            let running: Vec<Candidate> = running.into_iter().map(as_candidate).collect();
            let candidates: Vec<Candidate> = candidates.into_iter().map(as_candidate).collect();
            let mut claimed = Vec::new();
            for id in select_claims(&candidates, &running, claim) {
                let run = sqlx::query_as::<_, Run>(
                    "UPDATE runs SET status = $2, lease_owner = $3, lease_expires_at = $4, tries = tries + 1,
                                     stop_requested = FALSE, started_at = NULL, pid = NULL
                     WHERE id = $1 AND (status = $5 OR (status IN ($6, $7) AND retry_at <= $8))
                     RETURNING *",
                )
                .bind(id)
                .bind(RunStatus::Running.as_str())
                .bind(&claim.owner)
                .bind($crate::store::stored_precision(claim.lease_until))
                .bind(RunStatus::Queued.as_str())
                .bind(RunStatus::WaitingAuth.as_str())
                .bind(RunStatus::WaitingQuota.as_str())
                .bind(claim.now)
                .fetch_optional(&mut *tx)
                .await?;
                claimed.extend(run);
            }
            tx.commit().await?;
            Ok(claimed)
        }

        async fn renew_leases(&self, owner: &str, until: DateTime<Utc>) -> Result<Vec<(RunId, bool)>> {
            Ok(sqlx::query_as(
                "UPDATE runs SET lease_expires_at = $3 WHERE lease_owner = $1 AND status = $2
                 RETURNING id, stop_requested",
            )
            .bind(owner)
            .bind(RunStatus::Running.as_str())
            .bind($crate::store::stored_precision(until))
            .fetch_all(&self.pool)
            .await?)
        }

        async fn expired_runs(&self, now: DateTime<Utc>, owner: &str) -> Result<Vec<Run>> {
            Ok(sqlx::query_as::<_, Run>(
                "SELECT * FROM runs WHERE status = $1
                   AND (lease_expires_at IS NULL OR lease_expires_at < $2 OR lease_owner IS NULL
                        OR (lease_owner LIKE $3 AND lease_owner <> $4))
                 ORDER BY queued_at, id",
            )
            .bind(RunStatus::Running.as_str())
            .bind(now)
            .bind($crate::store::queue::previous_lives(owner))
            .bind(owner)
            .fetch_all(&self.pool)
            .await?)
        }

        async fn take_over_run(
            &self,
            id: RunId,
            owner: &str,
            now: DateTime<Utc>,
            until: DateTime<Utc>,
        ) -> Result<Option<Run>> {
            Ok(sqlx::query_as::<_, Run>(
                "UPDATE runs SET lease_owner = $2, lease_expires_at = $3, recoveries = recoveries + 1
                 WHERE id = $1 AND status = $4
                   AND (lease_expires_at IS NULL OR lease_expires_at < $5 OR lease_owner IS NULL
                        OR (lease_owner LIKE $6 AND lease_owner <> $2))
                 RETURNING *",
            )
            .bind(id)
            .bind(owner)
            .bind($crate::store::stored_precision(until))
            .bind(RunStatus::Running.as_str())
            .bind(now)
            .bind($crate::store::queue::previous_lives(owner))
            .fetch_optional(&self.pool)
            .await?)
        }

        async fn requeue_run(
            &self,
            id: RunId,
            owner: &str,
            requeue: $crate::store::queue::Requeue,
        ) -> Result<Run> {
            if !matches!(requeue.status, RunStatus::Queued | RunStatus::WaitingAuth | RunStatus::WaitingQuota) {
                return Err(StoreError::Invalid(format!("a run cannot be requeued as {}", requeue.status)));
            }
            if let Some(e) = &requeue.error {
                $crate::store::check_text("error", e)?;
            }
            let row = sqlx::query_as::<_, Run>(
                "UPDATE runs SET status = $3, retry_at = $4, error = $5, quota_waits = $6, recovery = $7,
                                 session_id = COALESCE($8, session_id), queued_at = $9,
                                 lease_owner = NULL, lease_expires_at = NULL, pid = NULL, exit_code = $11
                 WHERE id = $1 AND status = $10 AND lease_owner = $2 RETURNING *",
            )
            .bind(id)
            .bind(owner)
            .bind(requeue.status.as_str())
            .bind(requeue.retry_at.map($crate::store::stored_precision))
            .bind(&requeue.error)
            .bind(requeue.quota_waits)
            .bind(&requeue.recovery)
            .bind(&requeue.session_id)
            .bind($crate::store::now())
            .bind(RunStatus::Running.as_str())
            .bind(requeue.exit_code)
            .fetch_optional(&self.pool)
            .await?;
            match row {
                Some(run) => Ok(run),
                None => {
                    let run = self.get_run(id).await?;
                    Err(StoreError::Conflict(format!(
                        "run {id} is {} and no longer held by this server",
                        run.status
                    )))
                }
            }
        }

        async fn retry_run_now(&self, id: RunId) -> Result<Run> {
            let row = sqlx::query_as::<_, Run>(
                "UPDATE runs SET status = $2, retry_at = NULL WHERE id = $1 AND status IN ($3, $4) RETURNING *",
            )
            .bind(id)
            .bind(RunStatus::Queued.as_str())
            .bind(RunStatus::WaitingAuth.as_str())
            .bind(RunStatus::WaitingQuota.as_str())
            .fetch_optional(&self.pool)
            .await?;
            match row {
                Some(run) => Ok(run),
                None => {
                    let run = self.get_run(id).await?;
                    Err(StoreError::Conflict(format!("run {id} is {}, not waiting", run.status)))
                }
            }
        }

        async fn wake_waiting_auth(
            &self,
            scope: $crate::store::queue::WakeScope,
            now: DateTime<Utc>,
        ) -> Result<u64> {
            use $crate::store::queue::WakeScope;
            let (filter, id) = match scope {
                WakeScope::All => ("", None),
                WakeScope::User(u) => (" AND started_by = $4", Some(u.0)),
                WakeScope::Project(p) => {
                    (" AND task_id IN (SELECT id FROM tasks WHERE project_id = $4)", Some(p.0))
                }
            };
            let sql = format!(
                "UPDATE runs SET retry_at = $2 WHERE status = $1 AND (retry_at IS NULL OR retry_at > $3){filter}"
            );
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
                .bind(RunStatus::WaitingAuth.as_str())
                .bind($crate::store::stored_precision(now))
                .bind(now);
            if let Some(id) = id {
                query = query.bind(id);
            }
            Ok(query.execute(&self.pool).await?.rows_affected())
        }

        async fn queue_position(&self, id: RunId) -> Result<Option<i64>> {
            let run = self.get_run(id).await?;
            if run.status != RunStatus::Queued {
                return Ok(None);
            }
            let (ahead,): (i64,) = sqlx::query_as(
                "SELECT COUNT(*) FROM runs WHERE status = $1 AND (queued_at < $2 OR (queued_at = $2 AND id < $3))",
            )
            .bind(RunStatus::Queued.as_str())
            .bind(run.queued_at)
            .bind(id)
            .fetch_one(&self.pool)
            .await?;
            Ok(Some(ahead + 1))
        }

        async fn set_run_session(&self, id: RunId, session: &str) -> Result<()> {
            sqlx::query("UPDATE runs SET session_id = $2 WHERE id = $1")
                .bind(id)
                .bind(session)
                .execute(&self.pool)
                .await?;
            Ok(())
        }

        async fn request_stop(&self, id: RunId) -> Result<()> {
            sqlx::query("UPDATE runs SET stop_requested = TRUE WHERE id = $1 AND status = $2")
                .bind(id)
                .bind(RunStatus::Running.as_str())
                .execute(&self.pool)
                .await?;
            Ok(())
        }

        async fn queue_counts(&self) -> Result<$crate::store::queue::QueueCounts> {
            let rows: Vec<(String, i64)> = sqlx::query_as(
                "SELECT status, COUNT(*) FROM runs WHERE status IN ($1, $2, $3, $4) GROUP BY status",
            )
            .bind(RunStatus::Queued.as_str())
            .bind(RunStatus::Running.as_str())
            .bind(RunStatus::WaitingAuth.as_str())
            .bind(RunStatus::WaitingQuota.as_str())
            .fetch_all(&self.pool)
            .await?;
            let mut counts = $crate::store::queue::QueueCounts::default();
            for (status, n) in rows {
                match status.parse::<RunStatus>() {
                    Ok(RunStatus::Queued) => counts.queued = n,
                    Ok(RunStatus::Running) => counts.running = n,
                    Ok(RunStatus::WaitingAuth) => counts.waiting_auth = n,
                    Ok(RunStatus::WaitingQuota) => counts.waiting_quota = n,
                    _ => {}
                }
            }
            Ok(counts)
        }

        async fn next_retry_at(&self) -> Result<Option<DateTime<Utc>>> {
            let (at,): (Option<DateTime<Utc>>,) =
                sqlx::query_as("SELECT MIN(retry_at) FROM runs WHERE status IN ($1, $2)")
                    .bind(RunStatus::WaitingAuth.as_str())
                    .bind(RunStatus::WaitingQuota.as_str())
                    .fetch_one(&self.pool)
                    .await?;
            Ok(at)
        }
    };
}

pub(crate) use queue_store_methods;

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(max: usize, per_user: Option<u32>, per_project: Option<u32>) -> Claim {
        Claim {
            owner: "w".into(),
            now: Utc::now(),
            lease_until: Utc::now(),
            max,
            per_user,
            per_project,
            only: None,
        }
    }

    #[test]
    fn claims_follow_queue_order_within_every_limit() {
        let (p1, p2) = (ProjectId::new(), ProjectId::new());
        let (u1, u2) = (UserId::new(), UserId::new());
        let c = |project, user| Candidate { id: RunId::new(), project, user };
        let queue = [c(p1, Some(u1)), c(p1, Some(u1)), c(p2, Some(u1)), c(p2, Some(u2)), c(p1, None)];
        let ids = |picked: &[usize]| picked.iter().map(|&i| queue[i].id).collect::<Vec<_>>();
        assert_eq!(select_claims(&queue, &[], &claim(3, None, None)), ids(&[0, 1, 2]), "the global limit");
        assert_eq!(select_claims(&queue, &[], &claim(9, Some(1), None)), ids(&[0, 3, 4]), "one per user");
        assert_eq!(select_claims(&queue, &[], &claim(9, None, Some(1))), ids(&[0, 2]), "one per project");
        // Runs already running elsewhere count.
        let running = [c(p2, Some(u2))];
        assert_eq!(select_claims(&queue, &running, &claim(9, Some(1), Some(2))), ids(&[0, 4]));
        assert!(select_claims(&queue, &[], &claim(0, None, None)).is_empty());
        let only = Claim { only: Some(vec![queue[2].id]), ..claim(9, None, None) };
        assert_eq!(select_claims(&queue, &[], &only), ids(&[2]), "only the runs asked for");
    }
}

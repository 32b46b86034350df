//! The domain model: projects, tasks, runs and log entries, with their ids and states.
//! Plain data shared by the store, the runner and the server; no I/O here.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, sqlx::Type, utoipa::ToSchema)]
        #[serde(transparent)]
        #[sqlx(transparent)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A new, time-ordered (v7) id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

id_type!(
    /// Identifies a project (one git repository).
    ProjectId
);
id_type!(
    /// Identifies a task on a project's board.
    TaskId
);
id_type!(
    /// Identifies one run (an attempt or a follow-up) of a task.
    RunId
);

/// Error for a state name that is not one of an enum's values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} `{value}`")]
pub struct UnknownValue {
    /// What was being parsed ("task status", …).
    pub kind: &'static str,
    /// The text that did not match.
    pub value: String,
}

/// Declares a string-valued enum with `as_str`, `FromStr`, `TryFrom<String>` and serde in
/// snake_case; the store keeps these as TEXT so new states need no schema change.
macro_rules! text_enum {
    ($(#[$doc:meta])* $name:ident, $what:literal { $($(#[$vdoc:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vdoc])* $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stored and serialized name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownValue;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(UnknownValue { kind: $what, value: s.to_owned() }),
                }
            }
        }

        impl TryFrom<String> for $name {
            type Error = UnknownValue;
            fn try_from(s: String) -> Result<Self, UnknownValue> {
                s.parse()
            }
        }
    };
}

text_enum!(
    /// The board column a task is in (DESIGN.md "Board").
    TaskStatus, "task status" {
        /// Written down, not started.
        Backlog => "backlog",
        /// A run is waiting for a worker.
        Queued => "queued",
        /// A run is executing.
        InProgress => "in_progress",
        /// The last run finished; its diff waits for a person.
        InReview => "in_review",
        /// Merged or closed.
        Done => "done",
        /// Waiting for credentials or quota; retried later.
        Waiting => "waiting",
        /// The last run failed.
        Failed => "failed",
        /// The last run was stopped by a person.
        Cancelled => "cancelled",
    }
);

text_enum!(
    /// What an in-progress task is doing, when the agent reports it.
    TaskPhase, "task phase" {
        /// Planning the change.
        Plan => "plan",
        /// Writing code.
        Code => "code",
        /// Checking the work.
        Qa => "qa",
        /// Fixing what checks found.
        Fix => "fix",
    }
);

text_enum!(
    /// The lifecycle of one run.
    RunStatus, "run status" {
        /// Stored, waiting for a worker (its place in the queue is `queued_at`).
        Queued => "queued",
        /// Claimed by a server (the lease's owner), which runs the agent.
        Running => "running",
        /// The agent had no valid credentials; the run waits and is retried at `retry_at`
        /// (every few minutes, and at once when a credential it would use changes).
        WaitingAuth => "waiting_auth",
        /// The agent hit a usage limit; the run waits until `retry_at` (the reported reset
        /// time, else a growing backoff) and is retried.
        WaitingQuota => "waiting_quota",
        /// The agent exited successfully.
        Succeeded => "succeeded",
        /// The agent (or its set-up) failed.
        Failed => "failed",
        /// Stopped on request.
        Cancelled => "cancelled",
        /// The process that supervised it died; it was neither resumed nor requeued.
        Interrupted => "interrupted",
        /// The agent had no valid credentials (none, rejected or revoked). An adapter's
        /// verdict: the queue turns it into `waiting_auth` (or `failed` once attempts run out);
        /// runs stored by older versions may still hold it as a final status.
        AuthRequired => "auth_required",
        /// The agent hit a usage or rate limit (`retry_at` holds the reset time when the agent
        /// reported one). An adapter's verdict: the queue turns it into `waiting_quota`.
        QuotaExceeded => "quota_exceeded",
        /// The account has no credit left: a person must pay before anything works.
        Billing => "billing",
        /// The agent's API failed on its side or could not be reached (overloaded, 5xx,
        /// connection refused); usually temporary.
        ServerError => "server_error",
        /// The agent stopped because it reached its turn limit; its work so far is kept.
        MaxTurns => "max_turns",
    }
);

impl RunStatus {
    /// A finished run never changes status again.
    pub fn is_terminal(self) -> bool {
        !self.is_live()
    }

    /// Not ended: queued, running, or waiting to be retried. A task has at most one.
    pub fn is_live(self) -> bool {
        matches!(
            self,
            RunStatus::Queued | RunStatus::Running | RunStatus::WaitingAuth | RunStatus::WaitingQuota
        )
    }

    /// Ended for a reason outside the task that time or a person's action elsewhere (a login,
    /// a quota reset) can clear: the task waits rather than fails.
    pub fn is_waiting(self) -> bool {
        matches!(
            self,
            RunStatus::AuthRequired
                | RunStatus::QuotaExceeded
                | RunStatus::WaitingAuth
                | RunStatus::WaitingQuota
        )
    }
}

text_enum!(
    /// Why a run exists.
    RunKind, "run kind" {
        /// A fresh attempt at the task.
        Start => "start",
        /// A follow-up message continuing an earlier run's session in the same worktree.
        FollowUp => "follow_up",
    }
);

text_enum!(
    /// The kind of a log entry: where a plain line came from, or what an agent event means.
    LogKind, "log kind" {
        /// A line the process wrote to stdout.
        Stdout => "stdout",
        /// A line the process wrote to stderr.
        Stderr => "stderr",
        /// A message from Taskyard itself about the run (start, exit, stop, recovery).
        System => "system",
        /// Agent session start (session id, model, tools).
        Init => "init",
        /// Text the agent wrote to the person.
        Assistant => "assistant",
        /// The agent's visible reasoning.
        Thinking => "thinking",
        /// A tool call.
        ToolUse => "tool_use",
        /// The result of a tool call.
        ToolResult => "tool_result",
        /// The agent's final result with cost and usage.
        Result => "result",
        /// An error reported by the agent or the runner.
        Error => "error",
        /// An agent line Taskyard does not understand, kept verbatim.
        Raw => "raw",
    }
);

/// A git repository Taskyard runs tasks in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Project {
    /// Its id.
    pub id: ProjectId,
    /// Display name.
    pub name: String,
    /// Absolute path of the repository's working tree.
    pub repo_path: String,
    /// The branch runs start from and merge into.
    pub default_branch: String,
    /// The `origin` remote, if it was cloned or has one (never with credentials).
    pub origin_url: Option<String>,
    /// When it was added.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Project settings (JSON): `{"claude_api_key": true}` lets Claude Code use
    /// ANTHROPIC_API_KEY (API billing); by default it gets only CLAUDE_CODE_OAUTH_TOKEN.
    #[serde(with = "json_text")]
    #[schema(value_type = Object)]
    pub profile: String,
}

impl Project {
    /// The repository path as a filesystem path.
    pub fn repo_path(&self) -> PathBuf {
        PathBuf::from(&self.repo_path)
    }
}

/// What is needed to add a project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewProject {
    /// Display name.
    pub name: String,
    /// Absolute path of the repository's working tree.
    pub repo_path: String,
    /// The branch runs start from and merge into.
    pub default_branch: String,
    /// The `origin` remote, without credentials.
    pub origin_url: Option<String>,
    /// On a team server, the user who added it (becomes its owner).
    pub owner: Option<UserId>,
}

/// A card on the board: a piece of work handed to an agent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Task {
    /// Its id.
    pub id: TaskId,
    /// The project it belongs to.
    pub project_id: ProjectId,
    /// Short title.
    pub title: String,
    /// What the agent is asked to do.
    pub description: String,
    /// Unique within the project; names the task's branch `taskyard/<slug>`.
    pub slug: String,
    /// Board column.
    #[sqlx(try_from = "String")]
    pub status: TaskStatus,
    /// Sub-state while in progress.
    #[sqlx(try_from = "OptionText")]
    pub phase: Option<TaskPhase>,
    /// Order within its column (smaller first).
    pub position: f64,
    /// Which agent adapter runs it (`command`, `claude`, …).
    pub agent: String,
    /// Adapter settings (command line, model, permission mode, …): a JSON object, kept as
    /// JSON text in the store.
    #[serde(with = "json_text")]
    #[schema(value_type = Object)]
    pub agent_config: String,
    /// The git branch its runs work on, once the first run created it.
    pub branch: Option<String>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// Serializes a string that holds JSON as that JSON value (and back), so API clients see an
/// object while the store keeps text.
mod json_text {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(text: &str, s: S) -> Result<S::Ok, S::Error> {
        match serde_json::from_str::<&serde_json::value::RawValue>(text) {
            Ok(raw) => raw.serialize(s),
            Err(_) => serde_json::Value::Object(Default::default()).serialize(s),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        let value = serde_json::Value::deserialize(d)?;
        Ok(value.to_string())
    }
}

/// A nullable TEXT column holding an optional text enum.
#[derive(Debug)]
pub struct OptionText(pub Option<String>);

impl<DB: sqlx::Database> sqlx::Type<DB> for OptionText
where
    Option<String>: sqlx::Type<DB>,
    String: sqlx::Type<DB>,
{
    fn type_info() -> DB::TypeInfo {
        <String as sqlx::Type<DB>>::type_info()
    }
    fn compatible(ty: &DB::TypeInfo) -> bool {
        <String as sqlx::Type<DB>>::compatible(ty)
    }
}

impl<'r, DB: sqlx::Database> sqlx::Decode<'r, DB> for OptionText
where
    Option<String>: sqlx::Decode<'r, DB>,
{
    fn decode(value: DB::ValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
        Ok(OptionText(<Option<String> as sqlx::Decode<'r, DB>>::decode(value)?))
    }
}

impl TryFrom<OptionText> for Option<TaskPhase> {
    type Error = UnknownValue;
    fn try_from(v: OptionText) -> Result<Self, Self::Error> {
        v.0.map(|s| s.parse()).transpose()
    }
}

/// What is needed to create a task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewTask {
    /// The project it belongs to.
    pub project_id: ProjectId,
    /// Short title.
    pub title: String,
    /// What the agent is asked to do.
    pub description: String,
    /// Which agent adapter runs it.
    pub agent: String,
    /// Adapter settings as JSON text.
    pub agent_config: String,
}

/// A partial update of a task; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TaskPatch {
    /// New title.
    pub title: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New column.
    pub status: Option<TaskStatus>,
    /// New phase (`Some(None)` clears it).
    pub phase: Option<Option<TaskPhase>>,
    /// New position within the column.
    pub position: Option<f64>,
    /// New agent adapter.
    pub agent: Option<String>,
    /// New adapter settings.
    pub agent_config: Option<String>,
    /// The task's branch.
    pub branch: Option<String>,
}

/// A run: one piece of agent work on a task, from enqueue to its final status. It may execute
/// several times (after waiting for credentials or a quota, or after its server died); its log
/// continues across them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Run {
    /// Its id.
    pub id: RunId,
    /// The task it works on.
    pub task_id: TaskId,
    /// 1 for the task's first run, then 2, 3, …
    pub attempt: i64,
    /// A fresh start or a follow-up.
    #[sqlx(try_from = "String")]
    pub kind: RunKind,
    /// Lifecycle state.
    #[sqlx(try_from = "String")]
    pub status: RunStatus,
    /// The adapter that runs it.
    pub agent: String,
    /// The prompt (task description or follow-up message).
    pub prompt: String,
    /// The branch it works on.
    pub branch: Option<String>,
    /// The branch it started from and diffs against.
    pub base_branch: Option<String>,
    /// The base branch's commit when the worktree was made.
    pub base_commit: Option<String>,
    /// Where its worktree is.
    pub worktree_path: Option<String>,
    /// Process id (= process group id) of the agent while it runs.
    pub pid: Option<i64>,
    /// Exit code, when the process exited normally.
    pub exit_code: Option<i64>,
    /// A person-readable reason when it did not succeed.
    pub error: Option<String>,
    /// The agent's session id, for follow-ups that resume it.
    pub session_id: Option<String>,
    /// The branch tip after the run (leftovers committed).
    pub head_commit: Option<String>,
    /// Files changed against the base when it finished.
    pub files_changed: Option<i64>,
    /// Lines added against the base when it finished.
    pub insertions: Option<i64>,
    /// Lines removed against the base when it finished.
    pub deletions: Option<i64>,
    /// When the agent said it can work again (a quota's reset time), if it said so.
    pub retry_at: Option<DateTime<Utc>>,
    /// When it was stored.
    pub created_at: DateTime<Utc>,
    /// When its process started.
    pub started_at: Option<DateTime<Utc>>,
    /// When it reached a terminal status.
    pub finished_at: Option<DateTime<Utc>>,
    /// On a team server, the user who started it.
    pub started_by: Option<UserId>,
    /// Its place in the queue: when it was (last) enqueued.
    pub queued_at: DateTime<Utc>,
    /// How many times it has executed (1 on its first execution).
    pub tries: i64,
    /// Consecutive quota waits (the backoff grows with each).
    pub quota_waits: i64,
    /// The server process executing it (a lease), while running.
    pub lease_owner: Option<String>,
    /// Until when the lease holds unless renewed.
    pub lease_expires_at: Option<DateTime<Utc>>,
    /// The worktree's commit when the current execution began.
    pub start_commit: Option<String>,
    /// `resume` when the next execution continues the agent's own session after a recovery.
    pub recovery: Option<String>,
    /// How often it was recovered after the server executing it died.
    pub recoveries: i64,
    /// A stop was asked for while another server executes it.
    pub stop_requested: bool,
    /// For a queued run: how many runs are ahead of it plus one (filled in by readers that
    /// show it; not stored).
    #[sqlx(skip)]
    pub queue_position: Option<i64>,
}

/// What is needed to store a new run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewRun {
    /// The task it works on.
    pub task_id: TaskId,
    /// A fresh start or a follow-up.
    pub kind: RunKind,
    /// The adapter that runs it.
    pub agent: String,
    /// The prompt.
    pub prompt: String,
    /// On a team server, the user who started it (their credentials are used).
    pub started_by: Option<UserId>,
}

/// Facts recorded when a run's process starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunStarted {
    /// The branch it works on.
    pub branch: String,
    /// The branch it started from.
    pub base_branch: String,
    /// The base's commit.
    pub base_commit: String,
    /// Its worktree.
    pub worktree_path: String,
    /// Process (group) id.
    pub pid: i64,
    /// The worktree's commit as the execution begins (a requeue resets to it).
    pub start_commit: Option<String>,
}

/// Facts recorded when a run reaches a terminal status.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunFinished {
    /// Exit code, when there was a normal exit.
    pub exit_code: Option<i64>,
    /// Why it did not succeed.
    pub error: Option<String>,
    /// The agent session, for follow-ups.
    pub session_id: Option<String>,
    /// Branch tip after leftovers were committed.
    pub head_commit: Option<String>,
    /// Diff stats against the base.
    pub files_changed: Option<i64>,
    /// Lines added.
    pub insertions: Option<i64>,
    /// Lines removed.
    pub deletions: Option<i64>,
    /// When the agent can work again (a quota's reset time), if it said so.
    pub retry_at: Option<DateTime<Utc>>,
    /// The server finishing a running run: it must still hold the run's lease, so a
    /// server that lost it (another took the run over) cannot end it.
    pub owner: Option<String>,
}

/// One entry of a run's log, addressed by `(run_id, seq)` everywhere.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LogEntry {
    /// The run it belongs to.
    pub run_id: RunId,
    /// Position in the run's log: 1, 2, 3, … without gaps.
    pub seq: i64,
    /// When the line was read.
    pub ts: DateTime<Utc>,
    /// What it is.
    pub kind: LogKind,
    /// Human-readable text (the line itself for plain output).
    pub text: String,
    /// Structured details (agent events), if any.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub data: Option<serde_json::Value>,
}

id_type!(
    /// Identifies a user of a team server.
    UserId
);
id_type!(
    /// Identifies an invite.
    InviteId
);

text_enum!(
    /// What a user may do on a team server.
    Role, "role" {
        /// Everything, including users, invites, all projects and settings.
        Admin => "admin",
        /// Their own projects and those they were added to.
        Member => "member",
    }
);

text_enum!(
    /// What a member may do in one project.
    ProjectRole, "project role" {
        /// Everything in the project, including its members and deleting it.
        Owner => "owner",
        /// Tasks and runs.
        Member => "member",
    }
);

/// A person on a team server (never with the password hash: see [`UserRecord`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct User {
    /// Their id.
    pub id: UserId,
    /// Sign-in address, lower case.
    pub email: String,
    /// Display name.
    pub name: String,
    /// What they may do.
    #[sqlx(try_from = "String")]
    pub role: Role,
    /// A disabled user cannot sign in and their sessions end.
    pub disabled: bool,
    /// When they registered.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// A user with their password hash, for sign-in only.
#[derive(Clone, PartialEq, sqlx::FromRow)]
pub struct UserRecord {
    /// The user.
    #[sqlx(flatten)]
    pub user: User,
    /// argon2id PHC string.
    pub password_hash: String,
}

impl fmt::Debug for UserRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserRecord").field("user", &self.user).field("password_hash", &"***").finish()
    }
}

/// What is needed to create a user.
#[derive(Clone, PartialEq, Eq)]
pub struct NewUser {
    /// Sign-in address, already normalised.
    pub email: String,
    /// Display name.
    pub name: String,
    /// argon2id PHC string.
    pub password_hash: String,
    /// Their role.
    pub role: Role,
}

impl fmt::Debug for NewUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewUser")
            .field("email", &self.email)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

/// Changes to a user; `None` leaves a field as it is.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct UserPatch {
    /// New display name.
    pub name: Option<String>,
    /// New role.
    pub role: Option<Role>,
    /// Disable or enable.
    pub disabled: Option<bool>,
    /// New password hash.
    pub password_hash: Option<String>,
}

impl fmt::Debug for UserPatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserPatch")
            .field("name", &self.name)
            .field("role", &self.role)
            .field("disabled", &self.disabled)
            .field("password_hash", &self.password_hash.as_ref().map(|_| "***"))
            .finish()
    }
}

/// An invitation to register (the code itself is shown once and stored hashed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Invite {
    /// Its id.
    pub id: InviteId,
    /// When set, only this address can use it.
    pub email: Option<String>,
    /// The role the new user gets.
    #[sqlx(try_from = "String")]
    pub role: Role,
    /// Who created it.
    pub created_by: Option<UserId>,
    /// When.
    pub created_at: DateTime<Utc>,
    /// After this it cannot be used.
    pub expires_at: DateTime<Utc>,
    /// When it was used.
    pub used_at: Option<DateTime<Utc>>,
    /// Who used it.
    pub used_by: Option<UserId>,
    /// When an admin revoked it.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// What is needed to create an invite.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewInvite {
    /// SHA-256 of the code.
    pub code_hash: String,
    /// Bound to this address, if set.
    pub email: Option<String>,
    /// The new user's role.
    pub role: Role,
    /// The admin who made it.
    pub created_by: UserId,
    /// Expiry.
    pub expires_at: DateTime<Utc>,
}

/// A member of a project.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Member {
    /// The user.
    pub user_id: UserId,
    /// Their address.
    pub email: String,
    /// Their name.
    pub name: String,
    /// What they may do in the project.
    #[sqlx(try_from = "String")]
    pub role: ProjectRole,
}

/// One line of the audit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct AuditEntry {
    /// Its id (time-ordered).
    pub id: Uuid,
    /// When.
    pub at: DateTime<Utc>,
    /// Who did it, if known.
    pub actor_id: Option<UserId>,
    /// Their address at the time (or what was typed, for failed sign-ins).
    pub actor: Option<String>,
    /// What happened: `login`, `login_failed`, `register`, `role_changed`, …
    pub action: String,
    /// What it was done to.
    pub target: Option<String>,
    /// From which client address.
    pub ip: Option<String>,
    /// More, in words.
    pub details: Option<String>,
}

/// Which projects a caller may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Every project (local mode's owner, admins).
    All,
    /// Projects the user is a member of.
    Member(UserId),
}

/// Turns a task title into a branch-safe slug: lowercase ASCII words joined by `-`, at most
/// 48 characters, never empty.
pub fn slugify(title: &str) -> String {
    let mut slug = String::new();
    let mut dash = false;
    for c in title.chars() {
        if c.is_ascii_alphanumeric() {
            if dash && !slug.is_empty() {
                slug.push('-');
            }
            dash = false;
            slug.push(c.to_ascii_lowercase());
        } else {
            dash = true;
        }
        if slug.len() >= 48 {
            break;
        }
    }
    let slug = slug.trim_end_matches('-').to_owned();
    if slug.is_empty() { "task".to_owned() } else { slug }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugify_makes_branch_safe_names() {
        for (input, expect) in [
            ("Fix the login page", "fix-the-login-page"),
            ("  Add  OAuth2 / SSO!! ", "add-oauth2-sso"),
            ("Ünïcödé only", "n-c-d-only"),
            ("", "task"),
            ("///", "task"),
            ("refactor: store -> sqlx", "refactor-store-sqlx"),
        ] {
            assert_eq!(slugify(input), expect, "input {input:?}");
        }
        let long = slugify(&"word ".repeat(40));
        assert!(long.len() <= 48, "{long}");
        assert!(!long.ends_with('-'));
    }

    #[test]
    fn text_enums_round_trip() {
        for s in TaskStatus::ALL {
            assert_eq!(s.as_str().parse::<TaskStatus>(), Ok(*s));
            assert_eq!(serde_json::to_value(s).ok(), Some(serde_json::json!(s.as_str())));
        }
        for s in RunStatus::ALL {
            assert_eq!(s.as_str().parse::<RunStatus>(), Ok(*s));
        }
        for s in LogKind::ALL {
            assert_eq!(s.as_str().parse::<LogKind>(), Ok(*s));
        }
        assert!("nope".parse::<TaskStatus>().is_err());
    }
}

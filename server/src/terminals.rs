//! The server's terminals: sessions of `taskyard_core::terminal`, each owned by one user and
//! opened in a project's root or a task's worktree (which it holds, so housekeeping leaves it);
//! single-use tickets for their sockets; and the limits and the reaper that keep them
//! bounded. A session outlives its socket: a client that comes back within the grace period
//! reattaches where it was; one that does not, loses it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use taskyard_core::model::{ProjectId, TaskId};
use taskyard_core::runner::housekeeping::WorktreeHold;
use taskyard_core::store::AnyStore;
use taskyard_core::terminal::{Limits as SessionLimits, Session, Spec};
use tokio::sync::watch;
use uuid::Uuid;

use crate::http::error::ApiError;

/// How many terminals there may be and how long they wait for their client.
#[derive(Debug, Clone, Copy)]
pub struct TerminalLimits {
    /// Open terminals per user.
    pub per_user: usize,
    /// Open terminals in all.
    pub total: usize,
    /// How long a terminal without a client stays for it to come back.
    pub grace: Duration,
    /// How long a ticket is good for.
    pub ticket_ttl: Duration,
}

impl Default for TerminalLimits {
    fn default() -> Self {
        Self {
            per_user: 4,
            total: 32,
            grace: Duration::from_secs(10 * 60),
            ticket_ttl: Duration::from_secs(30),
        }
    }
}

/// Tickets waiting to be used, at most (a caller asking for more than it uses cannot grow the
/// table without end).
const MAX_TICKETS: usize = 1024;

/// One open terminal.
pub struct Terminal {
    pub id: Uuid,
    /// Its user (local mode's owner is the nil id).
    pub owner: Uuid,
    pub project_id: ProjectId,
    pub task_id: Option<TaskId>,
    /// Where the shell started.
    pub cwd: PathBuf,
    /// The shell.
    pub shell: String,
    pub created_at: DateTime<Utc>,
    pub session: Session,
    /// Which attachment is current (a newer one takes over), and when the last one ended.
    attachment: watch::Sender<u64>,
    detached_at: Mutex<Option<Instant>>,
    _hold: Option<WorktreeHold<AnyStore>>,
}

impl std::fmt::Debug for Terminal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Terminal").field("id", &self.id).field("owner", &self.owner).finish_non_exhaustive()
    }
}

impl Terminal {
    /// Makes the caller the terminal's one client; the one before sees its attachment end.
    pub fn attach(&self) -> (u64, watch::Receiver<u64>) {
        let mut current = 0;
        self.attachment.send_modify(|n| {
            *n += 1;
            current = *n;
        });
        *self.detached_at.lock().unwrap_or_else(PoisonError::into_inner) = None;
        (current, self.attachment.subscribe())
    }

    /// The client of attachment `which` left; the grace period starts unless a newer one
    /// came.
    pub fn detach(&self, which: u64) {
        if *self.attachment.borrow() == which {
            *self.detached_at.lock().unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
        }
    }

    /// Whether a client is attached now.
    pub fn attached(&self) -> bool {
        self.detached_at.lock().unwrap_or_else(PoisonError::into_inner).is_none()
    }

    fn abandoned(&self, now: Instant, grace: Duration) -> bool {
        let detached = *self.detached_at.lock().unwrap_or_else(PoisonError::into_inner);
        detached.is_some_and(|at| now.duration_since(at) >= grace || self.session.exit().is_some())
    }
}

#[derive(Debug)]
struct Ticket {
    terminal: Uuid,
    owner: Uuid,
    expires: Instant,
}

/// Every open terminal of this server.
#[derive(Debug)]
pub struct Terminals {
    limits: TerminalLimits,
    open: Mutex<HashMap<Uuid, Arc<Terminal>>>,
    tickets: Mutex<HashMap<String, Ticket>>,
    shell: std::sync::OnceLock<String>,
}

/// What a new terminal is.
#[derive(Debug)]
pub struct NewTerminal {
    pub owner: Uuid,
    pub project_id: ProjectId,
    pub task_id: Option<TaskId>,
    pub spec: Spec,
    pub hold: Option<WorktreeHold<AnyStore>>,
}

impl Terminals {
    pub fn new(limits: TerminalLimits) -> Arc<Self> {
        Arc::new(Self {
            limits,
            open: Mutex::default(),
            tickets: Mutex::default(),
            shell: Default::default(),
        })
    }

    /// Sets the shell terminals run (once, at start-up).
    pub fn set_shell(&self, shell: &str) {
        let _ = self.shell.set(shell.to_owned());
    }

    /// The shell the operator chose, if any.
    pub fn shell(&self) -> Option<&str> {
        self.shell.get().map(String::as_str)
    }

    pub fn limits(&self) -> TerminalLimits {
        self.limits
    }

    fn lock_open(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Arc<Terminal>>> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts a terminal, unless its user or the server has as many as allowed (429, 503).
    /// It starts detached: its first client has the grace period to come.
    pub fn open(&self, new: NewTerminal) -> Result<Arc<Terminal>, ApiError> {
        let mut open = self.lock_open();
        if open.len() >= self.limits.total {
            return Err(ApiError::unavailable(format!(
                "the server has {} terminals open, as many as it allows; try again later",
                open.len()
            )));
        }
        let mine = open.values().filter(|t| t.owner == new.owner).count();
        if mine >= self.limits.per_user {
            return Err(ApiError::too_many(
                format!("you have {mine} terminals open, as many as allowed: close one first"),
                Duration::from_secs(1),
            ));
        }
        let session = Session::spawn(&new.spec, SessionLimits::default())
            .map_err(|e| ApiError::invalid("shell", format!("the terminal did not start: {e}")))?;
        let terminal = Arc::new(Terminal {
            id: Uuid::now_v7(),
            owner: new.owner,
            project_id: new.project_id,
            task_id: new.task_id,
            cwd: new.spec.cwd.clone(),
            shell: new.spec.program.clone(),
            created_at: Utc::now(),
            session,
            attachment: watch::channel(0).0,
            detached_at: Mutex::new(Some(Instant::now())),
            _hold: new.hold,
        });
        open.insert(terminal.id, terminal.clone());
        Ok(terminal)
    }

    /// The terminals of `owner`, or every one (`None`: an admin's view), oldest first.
    pub fn list(&self, owner: Option<Uuid>) -> Vec<Arc<Terminal>> {
        let mut list: Vec<_> =
            self.lock_open().values().filter(|t| owner.is_none_or(|o| t.owner == o)).cloned().collect();
        list.sort_by_key(|t| t.id);
        list
    }

    /// A terminal of `owner` (`None`: any); another user's is as unknown as a missing one.
    pub fn get(&self, id: Uuid, owner: Option<Uuid>) -> Result<Arc<Terminal>, ApiError> {
        self.lock_open()
            .get(&id)
            .filter(|t| owner.is_none_or(|o| t.owner == o))
            .cloned()
            .ok_or_else(|| ApiError::not_found(format!("terminal {id} not found")))
    }

    /// Closes a terminal: its shell and everything it started end.
    pub fn close(&self, id: Uuid) {
        let gone = self.lock_open().remove(&id);
        if let Some(terminal) = gone {
            terminal.session.close();
        }
        self.tickets.lock().unwrap_or_else(PoisonError::into_inner).retain(|_, t| t.terminal != id);
    }

    /// Closes every terminal of `owner` (signed out, disabled, deleted).
    pub fn close_all_of(&self, owner: Uuid) {
        for terminal in self.list(Some(owner)) {
            self.close(terminal.id);
        }
    }

    /// A ticket for one socket to terminal `id`, good for [`TerminalLimits::ticket_ttl`].
    pub fn ticket(&self, id: Uuid, owner: Uuid) -> Result<String, ApiError> {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(ApiError::internal)?;
        let ticket: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let now = Instant::now();
        let mut tickets = self.tickets.lock().unwrap_or_else(PoisonError::into_inner);
        tickets.retain(|_, t| t.expires > now);
        if tickets.len() >= MAX_TICKETS {
            return Err(ApiError::too_many(
                "too many unused terminal tickets; try again shortly",
                self.limits.ticket_ttl,
            ));
        }
        tickets.insert(ticket.clone(), Ticket { terminal: id, owner, expires: now + self.limits.ticket_ttl });
        Ok(ticket)
    }

    /// Uses up `ticket`: the terminal it opens, if it is still good and for that terminal.
    pub fn redeem(&self, ticket: &str, id: Uuid) -> Option<Arc<Terminal>> {
        let found = self.tickets.lock().unwrap_or_else(PoisonError::into_inner).remove(ticket)?;
        if found.terminal != id || found.expires <= Instant::now() {
            return None;
        }
        self.get(id, Some(found.owner)).ok()
    }

    /// Closes the terminals whose client has been away longer than the grace period, or whose
    /// shell exited with no client to see it; returns how many went.
    pub fn sweep(&self, now: Instant) -> usize {
        let gone: Vec<Uuid> =
            self.lock_open().values().filter(|t| t.abandoned(now, self.limits.grace)).map(|t| t.id).collect();
        for id in &gone {
            self.close(*id);
        }
        gone.len()
    }

    /// Sweeps every few seconds until `stop`, then closes every terminal.
    pub fn reap(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        tokio::spawn(async move {
            let period = (self.limits.grace / 4).clamp(Duration::from_millis(200), Duration::from_secs(30));
            let mut timer = tokio::time::interval(period);
            loop {
                tokio::select! {
                    _ = timer.tick() => {
                        let n = self.sweep(Instant::now());
                        if n > 0 {
                            tracing::info!(count = n, "closed terminals nobody came back to");
                        }
                    }
                    _ = stop.wait_for(|s| *s) => break,
                }
            }
            for terminal in self.list(None) {
                self.close(terminal.id);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_terminal(owner: Uuid, dir: &std::path::Path) -> NewTerminal {
        let env = [("PATH", "/usr/bin:/bin")].map(|(k, v)| (k.to_owned(), v.to_owned())).into();
        NewTerminal {
            owner,
            project_id: ProjectId(Uuid::now_v7()),
            task_id: None,
            spec: Spec::shell("/bin/sh", dir, env),
            hold: None,
        }
    }

    #[tokio::test]
    async fn a_terminal_nobody_comes_back_to_is_closed_and_an_attached_one_stays() {
        let dir = tempfile::tempdir().unwrap();
        let limits = TerminalLimits { grace: Duration::from_millis(200), ..TerminalLimits::default() };
        let terminals = Terminals::new(limits);
        let owner = Uuid::now_v7();
        let left = terminals.open(new_terminal(owner, dir.path())).unwrap();
        let watched = terminals.open(new_terminal(owner, dir.path())).unwrap();
        let (which, _) = watched.attach();
        assert_eq!(terminals.sweep(Instant::now()), 0, "within the grace period");
        assert_eq!(terminals.sweep(Instant::now() + Duration::from_millis(250)), 1);
        assert!(terminals.get(left.id, Some(owner)).is_err(), "the one left alone is closed");
        assert!(terminals.get(watched.id, Some(owner)).is_ok(), "the attached one stays");
        watched.detach(which);
        assert_eq!(terminals.sweep(Instant::now() + Duration::from_millis(250)), 1);
        assert!(terminals.list(None).is_empty());
    }

    #[tokio::test]
    async fn tickets_expire_are_used_once_and_belong_to_their_owner() {
        let dir = tempfile::tempdir().unwrap();
        let limits = TerminalLimits { ticket_ttl: Duration::from_millis(100), ..TerminalLimits::default() };
        let terminals = Terminals::new(limits);
        let (owner, other) = (Uuid::now_v7(), Uuid::now_v7());
        let terminal = terminals.open(new_terminal(owner, dir.path())).unwrap();
        let ticket = terminals.ticket(terminal.id, owner).unwrap();
        assert_eq!(ticket.len(), 64);
        assert!(terminals.redeem(&ticket, terminal.id).is_some());
        assert!(terminals.redeem(&ticket, terminal.id).is_none(), "used once");
        let stale = terminals.ticket(terminal.id, owner).unwrap();
        std::thread::sleep(Duration::from_millis(150));
        assert!(terminals.redeem(&stale, terminal.id).is_none(), "expired");
        // A ticket made out for another user opens nothing of this owner's.
        let foreign = terminals.ticket(terminal.id, other).unwrap();
        assert!(terminals.redeem(&foreign, terminal.id).is_none());
        // Closing a terminal spends its tickets.
        let unused = terminals.ticket(terminal.id, owner).unwrap();
        terminals.close(terminal.id);
        assert!(terminals.redeem(&unused, terminal.id).is_none());
    }

    #[tokio::test]
    async fn limits_per_user_and_in_all_say_how_many() {
        let dir = tempfile::tempdir().unwrap();
        let limits = TerminalLimits { per_user: 2, total: 3, ..TerminalLimits::default() };
        let terminals = Terminals::new(limits);
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        terminals.open(new_terminal(a, dir.path())).unwrap();
        terminals.open(new_terminal(a, dir.path())).unwrap();
        let refused = terminals.open(new_terminal(a, dir.path())).unwrap_err();
        assert_eq!(refused.status(), axum::http::StatusCode::TOO_MANY_REQUESTS);
        terminals.open(new_terminal(b, dir.path())).unwrap();
        let full = terminals.open(new_terminal(b, dir.path())).unwrap_err();
        assert_eq!(full.status(), axum::http::StatusCode::SERVICE_UNAVAILABLE);
        terminals.close_all_of(a);
        assert_eq!(terminals.list(Some(a)).len(), 0);
        assert_eq!(terminals.list(None).len(), 1);
    }
}

//! Log readers: a run's entries after a given seq from the store, then live from the bus,
//! with no gap and no duplicate at the hand-over.
//!
//! The reader subscribes before it reads the store, and every notice is published after its
//! entries are committed, so whatever the store did not return yet arrives on the channel. A
//! cursor (the last seq delivered) drops what was already delivered; a gap or a lag sends the
//! reader back to the store, which is the truth.

use std::sync::Arc;

use tokio::sync::broadcast::{Receiver, error::RecvError};

use crate::events::{Bus, LogNotice};
use crate::model::{LogEntry, RunId};
use crate::store::{Result, Store};

/// Entries fetched per store read while catching up.
const CATCH_UP_PAGE: usize = 2_000;

/// Follows one run's log. See the module docs for the guarantees.
#[derive(Debug)]
pub struct LogFollower<S: Store> {
    store: S,
    run: RunId,
    rx: Receiver<LogNotice>,
    cursor: i64,
    /// The store has nothing after `cursor` as far as we know.
    caught_up: bool,
    /// No entry will be added to this run any more.
    ended: bool,
}

impl<S: Store> LogFollower<S> {
    /// Starts following `run` after `after` (0 for the whole log). Fails if the run does not
    /// exist.
    pub async fn new(store: S, bus: &Bus, run: RunId, after: i64) -> Result<Self> {
        let rx = bus.subscribe_logs(run);
        // Checked after subscribing: a run that ends later announces it on `rx`.
        let ended = store.get_run(run).await?.status.is_terminal();
        Ok(Self { store, run, rx, cursor: after.max(0), caught_up: false, ended })
    }

    /// The last seq handed out.
    pub fn cursor(&self) -> i64 {
        self.cursor
    }

    /// The next entries, in order, each exactly once; `None` once the run has ended and
    /// everything was delivered.
    pub async fn next(&mut self) -> Result<Option<Vec<LogEntry>>> {
        loop {
            if !self.caught_up {
                let page = self.store.read_logs(self.run, self.cursor, CATCH_UP_PAGE).await?;
                if let Some(last) = page.last() {
                    self.cursor = last.seq;
                    return Ok(Some(page));
                }
                self.caught_up = true;
            }
            if self.ended {
                return Ok(None);
            }
            match self.rx.recv().await {
                Ok(LogNotice::Appended { first_seq, last_seq, entries }) => {
                    if last_seq <= self.cursor {
                        continue;
                    }
                    match entries {
                        Some(entries) if first_seq <= self.cursor + 1 => {
                            return Ok(Some(self.take_after_cursor(&entries)));
                        }
                        // A gap before this batch, or a notice without entries: read the store.
                        _ => self.caught_up = false,
                    }
                }
                Ok(LogNotice::Ended) | Err(RecvError::Closed) => {
                    self.ended = true;
                    self.caught_up = false;
                }
                Err(RecvError::Lagged(_)) => self.caught_up = false,
            }
        }
    }

    fn take_after_cursor(&mut self, entries: &Arc<[LogEntry]>) -> Vec<LogEntry> {
        let fresh: Vec<LogEntry> = entries.iter().filter(|e| e.seq > self.cursor).cloned().collect();
        if let Some(last) = fresh.last() {
            self.cursor = last.seq;
        }
        fresh
    }
}

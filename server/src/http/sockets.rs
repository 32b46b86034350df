//! The cap on open WebSockets, in all and per user: a socket lives for hours, so the
//! connection cap alone would let one user hold every slot.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use uuid::Uuid;

use super::error::ApiError;

/// Open sockets, counted per user (local mode's owner is one user: the nil id).
#[derive(Debug)]
pub struct Sockets {
    max_total: usize,
    max_per_user: usize,
    open: Mutex<HashMap<Uuid, usize>>,
    ping: Duration,
}

impl Sockets {
    /// A cap of `max_total` sockets, `max_per_user` of them for one user, each pinged every
    /// `ping`.
    pub fn new(max_total: usize, max_per_user: usize, ping: Duration) -> Arc<Self> {
        Arc::new(Self { max_total, max_per_user, open: Mutex::new(HashMap::new()), ping })
    }

    /// A timer for an open socket's pings: the first after one period.
    pub fn pings(&self) -> tokio::time::Interval {
        let period = self.ping.max(Duration::from_millis(100));
        let mut timer = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        timer
    }

    /// A slot for one more socket of `user`, held until the guard is dropped; `503` when
    /// either cap is reached.
    pub fn open(self: &Arc<Self>, user: Uuid) -> Result<SocketSlot, ApiError> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let total: usize = open.values().sum();
        if total >= self.max_total {
            return Err(ApiError::unavailable("the server has too many open sockets; try again later"));
        }
        let mine = open.entry(user).or_default();
        if *mine >= self.max_per_user {
            return Err(ApiError::unavailable(
                "you have too many open sockets (close other tabs); try again later",
            ));
        }
        *mine += 1;
        Ok(SocketSlot { sockets: self.clone(), user })
    }
}

/// One open socket's place; freed on drop.
#[derive(Debug)]
pub struct SocketSlot {
    sockets: Arc<Sockets>,
    user: Uuid,
}

impl Drop for SocketSlot {
    fn drop(&mut self) {
        let mut open = self.sockets.open.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = open.get_mut(&self.user) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.user);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockets_are_capped_per_user_and_in_all() {
        let sockets = Sockets::new(3, 2, Duration::from_secs(25));
        let (a, b) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let a1 = sockets.open(a).expect("a1");
        let _a2 = sockets.open(a).expect("a2");
        assert!(sockets.open(a).is_err(), "a third socket of one user");
        let _b1 = sockets.open(b).expect("b1");
        assert!(sockets.open(b).is_err(), "three in all");
        drop(a1);
        assert!(sockets.open(b).is_ok(), "a closed socket frees its place");
    }
}

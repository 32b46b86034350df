//! Password hashing and checking through a small pool: each argon2 call takes 19 MiB and a
//! core for a while, so at most `permits` run at once (memory stays under permits × 19 MiB
//! however many sign-ins arrive) and a request that waits too long for its turn is answered
//! `503` instead of queueing without end.

use std::time::Duration;

use taskyard_core::auth;
use tokio::sync::Semaphore;

use super::error::ApiError;

/// The pool.
#[derive(Debug)]
pub struct Passwords {
    permits: Semaphore,
    wait: Duration,
}

impl Default for Passwords {
    fn default() -> Self {
        Self::new(2, Duration::from_secs(5))
    }
}

impl Passwords {
    /// At most `permits` hashes at once; a caller waits at most `wait` for its turn.
    pub fn new(permits: usize, wait: Duration) -> Self {
        Self { permits: Semaphore::new(permits.max(1)), wait }
    }

    /// An argon2id hash of `password`.
    pub async fn hash(&self, password: String) -> Result<String, ApiError> {
        self.run(move || auth::hash_password(&password)).await?.map_err(ApiError::internal)
    }

    /// Whether `password` matches `hash`; with no hash (an unknown account) one verification
    /// is spent all the same, so the answer takes as long.
    pub async fn verify(&self, hash: Option<String>, password: String) -> Result<bool, ApiError> {
        self.run(move || match hash {
            Some(h) => auth::verify_password(&h, &password),
            None => {
                auth::verify_nothing(&password);
                false
            }
        })
        .await
    }

    async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T, ApiError> {
        let busy = || ApiError::unavailable("the server is busy checking passwords; try again in a moment");
        let _permit = tokio::time::timeout(self.wait, self.permits.acquire())
            .await
            .map_err(|_| busy())?
            .map_err(|_| busy())?;
        tokio::task::spawn_blocking(work).await.map_err(ApiError::internal)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn callers_beyond_the_pool_wait_then_get_503() {
        let pool = std::sync::Arc::new(Passwords::new(1, Duration::from_millis(50)));
        let held = pool.permits.acquire().await.expect("permit");
        let refused = pool.verify(None, "x".repeat(12)).await.expect_err("busy");
        assert_eq!(refused.status(), axum::http::StatusCode::SERVICE_UNAVAILABLE);
        drop(held);
        assert!(!pool.verify(None, "x".repeat(12)).await.expect("verified"));
    }
}

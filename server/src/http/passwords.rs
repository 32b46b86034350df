//! Password hashing and checking through a small pool: each argon2 call takes 19 MiB and a
//! core for a while, so at most `permits` run at once (memory stays under permits × 19 MiB
//! however many sign-ins arrive) and a request that waits too long for its turn is answered
//! `503` instead of queueing without end.
//!
//! The hashes run on threads of their own, one per permit, each reusing one 19 MiB working
//! memory ([`auth::HashMemory`]) rather than `spawn_blocking` with an allocation per call:
//! glibc kept freed 19 MiB blocks resident, and the server grew by about 19 MiB per
//! sign-in (measured: 64 registrations through two permits peaked at 310 MB).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use taskyard_core::auth;
use tokio::sync::Semaphore;

use super::error::ApiError;

/// Work for a hashing thread, in its kept memory.
type Job = Box<dyn FnOnce(&mut auth::HashMemory) + Send>;

/// The pool.
#[derive(Debug)]
pub struct Passwords {
    permits: Semaphore,
    wait: Duration,
    jobs: std::sync::mpsc::Sender<Job>,
}

impl Default for Passwords {
    fn default() -> Self {
        Self::new(2, Duration::from_secs(5))
    }
}

impl Passwords {
    /// At most `permits` hashes at once; a caller waits at most `wait` for its turn.
    pub fn new(permits: usize, wait: Duration) -> Self {
        let permits = permits.max(1);
        let (jobs, queue) = std::sync::mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..permits {
            let queue = queue.clone();
            // A thread that cannot start leaves the others to do the work.
            let _ = std::thread::Builder::new().name(format!("taskyard-argon2-{i}")).spawn(move || {
                // Allocated at the first job: a pool nobody uses costs no memory.
                let mut memory: Option<auth::HashMemory> = None;
                // Ends when the pool is dropped (the channel closes). The lock is held only
                // while waiting for a job, never while running one.
                loop {
                    let next = queue.lock().unwrap_or_else(PoisonError::into_inner).recv();
                    match next {
                        Ok(job) => job(memory.get_or_insert_with(auth::HashMemory::default)),
                        Err(_) => break,
                    }
                }
            });
        }
        Self { permits: Semaphore::new(permits), wait, jobs }
    }

    /// An argon2id hash of `password`.
    pub async fn hash(&self, password: String) -> Result<String, ApiError> {
        self.run(move |memory| auth::hash_password_in(memory, &password)).await?.map_err(ApiError::internal)
    }

    /// Whether `password` matches `hash`; with no hash (an unknown account) one verification
    /// is spent all the same, so the answer takes as long.
    pub async fn verify(&self, hash: Option<String>, password: String) -> Result<bool, ApiError> {
        self.run(move |memory| match hash {
            Some(h) => auth::verify_password_in(memory, &h, &password),
            None => {
                auth::verify_nothing_in(memory, &password);
                false
            }
        })
        .await
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut auth::HashMemory) -> T + Send + 'static,
    ) -> Result<T, ApiError> {
        let busy = || ApiError::unavailable("the server is busy checking passwords; try again in a moment");
        let _permit = tokio::time::timeout(self.wait, self.permits.acquire())
            .await
            .map_err(|_| busy())?
            .map_err(|_| busy())?;
        let (done, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |memory| {
            let _ = done.send(work(memory));
        });
        self.jobs.send(job).map_err(|_| ApiError::internal("the password threads are gone"))?;
        result.await.map_err(|_| ApiError::internal("a password thread failed"))
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

//! Cancellation and deadlines: [`CancelFlag`], set by `cancel`, by stopping
//! a job or by shutting the node down, and [`until`], a future that
//! completes at a deadline.
//!
//! A flag is read in two places: the preemption tick, while guest code runs
//! (see `sandbox`), and every blocking host call (`get`, `wait`), which
//! races its wait against [`CancelFlag::wait`] so that a blocked guest is
//! woken at once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// A task's (or a job driver's) cancellation: a flag that the preemption
/// tick checks while guest code runs, and a notification that wakes the
/// task at once where it is blocked in the host (`get`, `wait`).
#[derive(Debug, Default)]
pub(crate) struct CancelFlag {
    set: AtomicBool,
    notify: tokio::sync::Notify,
}

impl CancelFlag {
    /// Set the flag and wake whoever waits for it.
    pub(crate) fn set(&self) {
        self.set.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    /// Whether it is set.
    pub(crate) fn is_set(&self) -> bool {
        self.set.load(Ordering::SeqCst)
    }

    /// Completes once the flag is set.
    pub(crate) async fn wait(&self) {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            // Registered before the check, so a `set` in between still wakes us.
            notified.as_mut().enable();
            if self.is_set() {
                return;
            }
            notified.await;
        }
    }
}

/// A point in time and the limit it stands for (shown in errors).
pub(crate) type Deadline = Option<(Instant, Duration)>;

/// Completes at `deadline` (never, without one) with its limit.
pub(crate) async fn until(deadline: Deadline) -> Duration {
    match deadline {
        Some((at, limit)) => {
            tokio::time::sleep_until(at.into()).await;
            limit
        }
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test]
    async fn a_waiter_registered_before_the_flag_is_set_wakes() {
        let flag = Arc::new(CancelFlag::default());
        let waiter = tokio::spawn({
            let flag = flag.clone();
            async move { flag.wait().await }
        });
        tokio::task::yield_now().await;
        assert!(!flag.is_set());
        flag.set();
        waiter.await.unwrap();
        // And a wait after the fact returns at once.
        flag.wait().await;
    }

    #[tokio::test(start_paused = true)]
    async fn until_completes_at_the_deadline_with_its_limit() {
        let limit = Duration::from_secs(5);
        let start = tokio::time::Instant::now();
        let got = until(Some((Instant::now() + limit, limit))).await;
        assert_eq!(got, limit);
        assert!(start.elapsed() >= limit);
        // No deadline: never.
        let never = tokio::time::timeout(Duration::from_secs(3600), until(None)).await;
        assert!(never.is_err());
    }
}

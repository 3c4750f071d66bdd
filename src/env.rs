//! The environment production code takes time and tasks from.
//!
//! The election code and the ZooKeeper client model never call `tokio::time` or
//! `std::time` directly: they go through [`Environment`]. In production that is [`TokioEnv`],
//! a thin layer over tokio and the OS clocks; inside the simulator it is the host's simulated
//! clock (`sim::clock`), which can be offset, drift, jump and be paused with its host.

use std::future::Future;
use std::pin::pin;
use std::time::Duration;

/// Time and tasks for code that runs on one host.
pub trait Environment: Clone + Send + Sync + 'static {
    /// This host's monotonic clock: time since an arbitrary origin. Never goes backwards.
    fn now(&self) -> Duration;

    /// This host's wall clock, in milliseconds since the Unix epoch. May jump either way.
    fn wall_millis(&self) -> i64;

    /// Sleeps until this host's monotonic clock reads `deadline`.
    fn sleep_until(&self, deadline: Duration) -> impl Future<Output = ()> + Send;

    /// Runs a task on this host; it stops when the host's process dies.
    fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static;

    /// Sleeps for `duration` of this host's monotonic clock.
    fn sleep(&self, duration: Duration) -> impl Future<Output = ()> + Send {
        self.sleep_until(self.now() + duration)
    }
}

/// The deadline elapsed before the operation completed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Elapsed;

impl std::fmt::Display for Elapsed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("deadline elapsed")
    }
}

/// Runs `future` for at most `duration` of the host's monotonic clock.
pub async fn timeout<E: Environment, F: Future>(
    env: &E,
    duration: Duration,
    future: F,
) -> Result<F::Output, Elapsed> {
    let deadline = env.now() + duration;
    let mut future = pin!(future);
    let mut sleep = pin!(env.sleep_until(deadline));
    std::future::poll_fn(|cx| {
        if let std::task::Poll::Ready(v) = future.as_mut().poll(cx) {
            return std::task::Poll::Ready(Ok(v));
        }
        if sleep.as_mut().poll(cx).is_ready() {
            return std::task::Poll::Ready(Err(Elapsed));
        }
        std::task::Poll::Pending
    })
    .await
}

/// A periodic ticker on the host's monotonic clock. Missed ticks are not replayed: after a
/// pause the next tick comes at once, then the period resumes from there (tokio's `Delay`
/// behaviour), so a resumed process does not burst.
pub struct Interval<E: Environment> {
    env: E,
    period: Duration,
    next: Duration,
}

impl<E: Environment> Interval<E> {
    /// The first tick fires immediately.
    pub fn new(env: E, period: Duration) -> Self {
        assert!(!period.is_zero(), "interval period must be positive");
        let next = env.now();
        Interval { env, period, next }
    }

    pub async fn tick(&mut self) {
        self.env.sleep_until(self.next).await;
        let now = self.env.now();
        self.next = if now > self.next + self.period {
            now + self.period
        } else {
            self.next + self.period
        };
    }
}

/// Production environment: tokio's timer and the OS clocks.
#[derive(Clone, Debug)]
pub struct TokioEnv {
    origin: tokio::time::Instant,
}

impl TokioEnv {
    pub fn new() -> Self {
        TokioEnv {
            origin: tokio::time::Instant::now(),
        }
    }
}

impl Default for TokioEnv {
    fn default() -> Self {
        Self::new()
    }
}

impl Environment for TokioEnv {
    fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    fn wall_millis(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
    }

    fn sleep_until(&self, deadline: Duration) -> impl Future<Output = ()> + Send {
        tokio::time::sleep_until(self.origin + deadline)
    }

    fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        tokio::spawn(task);
    }
}

//! The environment production code takes time and tasks from.
//!
//! The election code and the ZooKeeper client model never call `tokio::time` or
//! `std::time` directly: they go through [`Environment`]. In production that is [`TokioEnv`],
//! a thin layer over tokio and the OS clocks (optionally behind an adjustable clock, for live
//! mode's clock faults: [`TokioEnv::adjustable`]); inside the simulator it is the host's
//! simulated clock (`sim::clock`), which can be offset, drift, jump and be paused with its host.

use crate::coverage::Point;
use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, Mutex};
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

    /// The code passed a named edge case ([`crate::coverage`]). Production records nothing;
    /// the simulator adds the point to its run's coverage. Must change nothing else: no
    /// waiting, no randomness, no trace.
    fn reach(&self, point: Point) {
        let _ = point;
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
///
/// [`TokioEnv::new`] reads the OS clocks directly. [`TokioEnv::adjustable`] puts an adjustable
/// clock in front of them, as the simulator gives every host (`sim::clock`): the monotonic
/// clock can jump forward and drift, the wall clock can be offset and stepped either way. Live
/// mode uses it to play a scenario's clock faults on real processes; production embedders use
/// [`TokioEnv::new`], which costs no more than the OS clocks.
#[derive(Clone, Debug)]
pub struct TokioEnv {
    origin: tokio::time::Instant,
    clock: Option<Arc<AdjustableClock>>,
}

impl TokioEnv {
    pub fn new() -> Self {
        TokioEnv {
            origin: tokio::time::Instant::now(),
            clock: None,
        }
    }

    /// An environment whose clocks the returned [`ClockControl`] adjusts. Until it does, they
    /// read as [`TokioEnv::new`]'s. Clones of the environment share the clock.
    pub fn adjustable() -> (TokioEnv, ClockControl) {
        let (changes, _) = tokio::sync::watch::channel(0);
        let clock = Arc::new(AdjustableClock {
            model: Mutex::new(ClockModel::default()),
            changes,
        });
        let env = TokioEnv {
            origin: tokio::time::Instant::now(),
            clock: Some(clock.clone()),
        };
        let control = ClockControl {
            origin: env.origin,
            clock,
        };
        (env, control)
    }
}

impl Default for TokioEnv {
    fn default() -> Self {
        Self::new()
    }
}

impl Environment for TokioEnv {
    fn now(&self) -> Duration {
        let real = self.origin.elapsed();
        match &self.clock {
            None => real,
            Some(clock) => clock.model().mono_at(real),
        }
    }

    fn wall_millis(&self) -> i64 {
        let system = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        match &self.clock {
            None => system,
            Some(clock) => clock.model().wall_from(system, self.origin.elapsed()),
        }
    }

    fn sleep_until(&self, deadline: Duration) -> impl Future<Output = ()> + Send {
        let (origin, clock) = (self.origin, self.clock.clone());
        async move {
            match clock {
                None => tokio::time::sleep_until(origin + deadline).await,
                Some(clock) => clock.sleep_until(origin, deadline).await,
            }
        }
    }

    fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        tokio::spawn(task);
    }
}

/// Adjusts the clocks of a [`TokioEnv::adjustable`] environment, as the simulator's clock
/// faults adjust a host's clock (`clock-jump`, `clock-offset`, `clock-drift`, `clock-reset`).
/// Cheap to clone; every clone adjusts the same clock.
#[derive(Clone, Debug)]
pub struct ClockControl {
    origin: tokio::time::Instant,
    clock: Arc<AdjustableClock>,
}

/// A clock change that would break a clock's contract.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ClockChangeError {
    #[error("drift rate must be a finite number greater than 0, got {0}")]
    BadRate(f64),
}

/// What an adjustable clock reads and how it is set, for reports.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClockReading {
    /// The environment's monotonic clock ([`Environment::now`]).
    pub mono: Duration,
    /// How far the monotonic clock is ahead of the OS's (jumps and drift), in nanoseconds;
    /// negative if a slow drift left it behind.
    pub mono_ahead_nanos: i128,
    /// The environment's wall clock ([`Environment::wall_millis`]).
    pub wall_millis: i64,
    /// The wall clock's offset on top of the monotonic clock's lead.
    pub wall_offset_millis: i64,
    /// The monotonic clock's rate (1.0 = the OS's).
    pub rate: f64,
}

impl ClockControl {
    /// Steps the monotonic clock forward (a VM resumed after a host-side pause or migration):
    /// every sleeper whose deadline the jump passed wakes at once, as a simulated host's
    /// timers do. The wall clock moves with it.
    pub fn jump_monotonic(&self, by: Duration) {
        self.change(true, |m, real| {
            m.rebase(real);
            m.mono_base += by;
        });
    }

    /// Steps the wall clock by `delta_millis` (either way), as `date -s` or an NTP step would.
    /// The monotonic clock is not affected.
    pub fn jump_wall(&self, delta_millis: i64) {
        self.change(false, |m, _| {
            m.wall_offset_millis = m.wall_offset_millis.saturating_add(delta_millis)
        });
    }

    /// Sets the wall clock's constant offset (the monotonic clock's lead comes on top).
    pub fn set_wall_offset(&self, offset_millis: i64) {
        self.change(false, |m, _| m.wall_offset_millis = offset_millis);
    }

    /// Makes both clocks run at `rate` × the OS's from now on (1.0002 = +200 ppm).
    pub fn set_drift(&self, rate: f64) -> Result<(), ClockChangeError> {
        if !rate.is_finite() || rate <= 0.0 {
            return Err(ClockChangeError::BadRate(rate));
        }
        self.change(true, |m, real| {
            m.rebase(real);
            m.rate = rate;
        });
        Ok(())
    }

    /// Back to rate 1 and no wall offset. The monotonic clock keeps its reading (it never
    /// goes back), so the lead its jumps built up stays, in the wall clock as well: as the
    /// simulator's `clock-reset`.
    pub fn reset(&self) {
        self.change(true, |m, real| {
            m.rebase(real);
            m.rate = 1.0;
            m.wall_offset_millis = 0;
        });
    }

    /// The clocks now.
    pub fn reading(&self) -> ClockReading {
        let system = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        let real = self.origin.elapsed();
        let model = self.clock.model();
        let mono = model.mono_at(real);
        ClockReading {
            mono,
            mono_ahead_nanos: mono.as_nanos() as i128 - real.as_nanos() as i128,
            wall_millis: model.wall_from(system, real),
            wall_offset_millis: model.wall_offset_millis,
            rate: model.rate,
        }
    }

    /// Changes the model; a change of the monotonic clock wakes every sleeper to re-compute
    /// when it is due.
    fn change(&self, monotonic: bool, f: impl FnOnce(&mut ClockModel, Duration)) {
        let real = self.origin.elapsed();
        f(&mut self.clock.model(), real);
        if monotonic {
            self.clock
                .changes
                .send_modify(|generation| *generation += 1);
        }
    }
}

#[derive(Debug)]
struct AdjustableClock {
    model: Mutex<ClockModel>,
    /// Bumped by every change of the monotonic clock: sleepers re-compute their deadline.
    changes: tokio::sync::watch::Sender<u64>,
}

impl AdjustableClock {
    fn model(&self) -> std::sync::MutexGuard<'_, ClockModel> {
        // The model is plain data, consistent after every statement: a panic elsewhere while
        // the lock was held leaves nothing half-changed.
        self.model.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn sleep_until(&self, origin: tokio::time::Instant, deadline: Duration) {
        let mut changes = self.changes.subscribe();
        loop {
            changes.borrow_and_update();
            let wake = {
                let model = self.model();
                if model.mono_at(origin.elapsed()) >= deadline {
                    return;
                }
                origin.checked_add(model.real_time_of(deadline))
            };
            match wake {
                Some(wake) => tokio::select! {
                    () = tokio::time::sleep_until(wake) => {}
                    _ = changes.changed() => {}
                },
                // Too far to wait for on the OS's clock: only a clock change can bring it.
                None => {
                    let _ = changes.changed().await;
                }
            }
        }
    }
}

/// The monotonic clock reads `mono_base` at `real_base` of the OS's (both since the
/// environment's origin) and advances at `rate`; the wall clock is the OS's plus the monotonic
/// clock's lead plus `wall_offset_millis`.
#[derive(Clone, Copy, Debug, PartialEq)]
struct ClockModel {
    real_base: Duration,
    mono_base: Duration,
    rate: f64,
    wall_offset_millis: i64,
}

impl Default for ClockModel {
    fn default() -> Self {
        ClockModel {
            real_base: Duration::ZERO,
            mono_base: Duration::ZERO,
            rate: 1.0,
            wall_offset_millis: 0,
        }
    }
}

impl ClockModel {
    fn mono_at(&self, real: Duration) -> Duration {
        let elapsed = real.saturating_sub(self.real_base);
        if self.rate == 1.0 {
            return self.mono_base + elapsed;
        }
        self.mono_base + Duration::from_nanos((elapsed.as_nanos() as f64 * self.rate) as u64)
    }

    /// The first OS reading (since the origin) at which the monotonic clock reads `mono`.
    fn real_time_of(&self, mono: Duration) -> Duration {
        let ahead = mono.saturating_sub(self.mono_base);
        if self.rate == 1.0 {
            return self.real_base.saturating_add(ahead);
        }
        let nanos = (ahead.as_nanos() as f64 / self.rate).ceil();
        self.real_base
            .saturating_add(Duration::from_nanos(nanos.min(u64::MAX as f64) as u64))
    }

    fn rebase(&mut self, real: Duration) {
        self.mono_base = self.mono_at(real);
        self.real_base = real;
    }

    /// The wall clock, given the OS's wall clock `system_millis` read at `real`.
    fn wall_from(&self, system_millis: i64, real: Duration) -> i64 {
        let ahead_nanos = self.mono_at(real).as_nanos() as i128 - real.as_nanos() as i128;
        let ahead_millis = (ahead_nanos / 1_000_000) as i64;
        system_millis
            .saturating_add(ahead_millis)
            .saturating_add(self.wall_offset_millis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
    }

    #[test]
    fn a_monotonic_jump_wakes_a_sleeper_whose_deadline_it_passed() {
        runtime().block_on(async {
            let (env, clock) = TokioEnv::adjustable();
            let started = Instant::now();
            let deadline = env.now() + Duration::from_secs(3600);
            let sleeper = tokio::spawn({
                let env = env.clone();
                async move { env.sleep_until(deadline).await }
            });
            // One not yet due after the jump sleeps on.
            let later = tokio::spawn({
                let env = env.clone();
                let deadline = deadline + Duration::from_secs(3600);
                async move { env.sleep_until(deadline).await }
            });
            tokio::time::sleep(Duration::from_millis(20)).await;
            assert!(!sleeper.is_finished());
            clock.jump_monotonic(Duration::from_secs(3600));
            tokio::time::timeout(Duration::from_secs(2), sleeper)
                .await
                .expect("woken at once")
                .unwrap();
            assert!(started.elapsed() < Duration::from_secs(2));
            assert!(env.now() >= deadline);
            tokio::time::sleep(Duration::from_millis(20)).await;
            assert!(!later.is_finished());
            later.abort();
        });
    }

    #[test]
    fn a_sleeper_wakes_on_time_without_changes_and_after_a_drift_change() {
        runtime().block_on(async {
            let (env, clock) = TokioEnv::adjustable();
            let started = Instant::now();
            env.sleep(Duration::from_millis(50)).await;
            assert!(started.elapsed() >= Duration::from_millis(50));
            // Twice as fast: 200 ms of the clock in about 100 ms of the OS's.
            clock.set_drift(2.0).unwrap();
            let started = Instant::now();
            let before = env.now();
            env.sleep(Duration::from_millis(200)).await;
            let took = started.elapsed();
            assert!(env.now() >= before + Duration::from_millis(200));
            assert!(took >= Duration::from_millis(95), "{took:?}");
            assert!(took < Duration::from_millis(190), "{took:?}");
            assert!(clock.set_drift(0.0).is_err());
            assert!(clock.set_drift(f64::NAN).is_err());
        });
    }

    #[test]
    fn wall_offset_jumps_and_reset() {
        runtime().block_on(async {
            let (env, clock) = TokioEnv::adjustable();
            let system = TokioEnv::new();
            let near = |a: i64, b: i64| (a - b).abs() < 200;
            assert!(near(env.wall_millis(), system.wall_millis()));
            clock.set_wall_offset(-5_000);
            assert!(near(env.wall_millis(), system.wall_millis() - 5_000));
            clock.jump_wall(2_000);
            assert!(near(env.wall_millis(), system.wall_millis() - 3_000));
            let mono = env.now();
            // The wall clock moves with a monotonic jump (as the simulator's).
            clock.jump_monotonic(Duration::from_secs(60));
            assert!(env.now() >= mono + Duration::from_secs(60));
            assert!(near(env.wall_millis(), system.wall_millis() + 57_000));
            let reading = clock.reading();
            assert_eq!(reading.wall_offset_millis, -3_000);
            assert!(reading.mono_ahead_nanos >= 60_000_000_000);
            // Reset drops the offset; the monotonic clock never goes back.
            let mono = env.now();
            clock.reset();
            assert!(env.now() >= mono);
            assert!(near(env.wall_millis(), system.wall_millis() + 60_000));
        });
    }

    #[test]
    fn the_plain_environment_reads_the_os_clocks() {
        runtime().block_on(async {
            let env = TokioEnv::new();
            let started = Instant::now();
            env.sleep(Duration::from_millis(30)).await;
            assert!(started.elapsed() >= Duration::from_millis(30));
            assert!(env.now() >= Duration::from_millis(30));
        });
    }
}

//! Per-host clocks over madsim's single global clock.
//!
//! madsim (like every simulator we weighed) has one clock for the whole world; ZooKeeper
//! elections break on *different* hosts disagreeing about time. So each simulated host gets a
//! [`HostClock`]: a monotonic clock that runs at its own rate (drift) and can jump forward
//! (a VM resumed after migration), and a wall clock on top of it with an offset, backward and
//! forward steps and strobing. Every simulated timer — election code, ZooKeeper client,
//! ZooKeeper servers, databases — sleeps on its host's clock through [`SimEnv`].
//!
//! True simulated time (madsim's) is what checkers judge by; a host's clock is what the code
//! running on it believes.

use crate::env::Environment;
use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

/// Wall-clock reading of every host at true time zero with no offset: 2026-01-01T00:00:00Z.
pub const WALL_EPOCH_MILLIS: i64 = 1_767_225_600_000;

/// True simulated time: elapsed since the simulation started.
pub fn true_now() -> Duration {
    madsim::time::TimeHandle::current().elapsed()
}

/// Sleeps until true simulated time `at`, to the nanosecond. (madsim's own `sleep_until`
/// rounds every sleep up to at least 1 ms, as tokio does; links inside a site are faster.)
pub async fn sleep_until_true(at: Duration) {
    TrueClock::current().sleep_until(at).await
}

/// madsim's clock, looked up once and kept. `madsim::time::TimeHandle::current()` clones the
/// handle out of the runtime's context on every call; hosts and the network read the time for
/// every packet and timer, where that lookup was a tenth of a busy world's run time.
#[derive(Clone)]
pub struct TrueClock(Option<madsim::time::TimeHandle>);

impl TrueClock {
    /// The running simulation's clock (outside one, every call looks it up again).
    pub fn current() -> Self {
        TrueClock(madsim::time::TimeHandle::try_current())
    }

    /// True simulated time: elapsed since the simulation started.
    pub fn now(&self) -> Duration {
        match &self.0 {
            Some(time) => time.elapsed(),
            None => true_now(),
        }
    }

    /// Wakes `waker` at true simulated time `at` (at once if that has passed), without a
    /// future to keep: for queues that know when their next item is due.
    pub fn wake_at(&self, at: Duration, waker: &std::task::Waker) {
        let looked_up;
        let time = match &self.0 {
            Some(time) => time,
            None => {
                looked_up = madsim::time::TimeHandle::current();
                &looked_up
            }
        };
        let deadline = time.now_instant() - time.elapsed() + at;
        let mut sleep = time.sleep_until(deadline);
        std::pin::Pin::new(&mut sleep).reset(deadline);
        let mut cx = std::task::Context::from_waker(waker);
        if std::pin::Pin::new(&mut sleep).poll(&mut cx).is_ready() {
            waker.wake_by_ref();
        }
    }

    /// Sleeps until true simulated time `at`, to the nanosecond.
    pub async fn sleep_until(&self, at: Duration) {
        let looked_up;
        let time = match &self.0 {
            Some(time) => time,
            None => {
                looked_up = madsim::time::TimeHandle::current();
                &looked_up
            }
        };
        let deadline = time.now_instant() - time.elapsed() + at;
        let mut sleep = pin!(time.sleep_until(deadline));
        sleep.as_mut().reset(deadline);
        // madsim's `Sleep` adds a timer entry every time it is polled while pending, and a
        // task that also waits on a mailbox polls its armed sleep for every packet: poll it
        // again only for a waker its timer would not wake.
        let mut armed_for: Option<std::task::Waker> = None;
        std::future::poll_fn(|cx| {
            if sleep.is_elapsed() {
                return std::task::Poll::Ready(());
            }
            if armed_for.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                return std::task::Poll::Pending;
            }
            let poll = sleep.as_mut().poll(cx);
            if poll.is_pending() {
                armed_for = Some(cx.waker().clone());
            }
            poll
        })
        .await
    }
}

impl std::fmt::Debug for TrueClock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TrueClock")
    }
}

/// Wall clock strobe: the wall clock flips between its value and value + `delta` every
/// `period` until `until` (true time) — Jepsen's clock strobe.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Strobe {
    delta_millis: i64,
    period: Duration,
    start: Duration,
    until: Duration,
}

#[derive(Clone, Debug, PartialEq)]
struct ClockModel {
    /// Monotonic reading `mono_base` at true time `true_base`, advancing at `rate`.
    true_base: Duration,
    mono_base: Duration,
    rate: f64,
    /// wall = epoch + monotonic + wall_offset (+ strobe).
    wall_offset_millis: i64,
    strobe: Option<Strobe>,
}

impl ClockModel {
    fn mono_at(&self, t: Duration) -> Duration {
        let dt = t.saturating_sub(self.true_base).as_nanos() as f64 * self.rate;
        self.mono_base + Duration::from_nanos(dt as u64)
    }

    /// The first true time at which the monotonic clock reads at least `mono`.
    fn true_time_of(&self, mono: Duration) -> Duration {
        let ahead = mono.saturating_sub(self.mono_base).as_nanos() as f64 / self.rate;
        self.true_base + Duration::from_nanos(ahead.ceil() as u64 + 1)
    }

    fn wall_at(&self, t: Duration) -> i64 {
        let mut wall =
            WALL_EPOCH_MILLIS + self.mono_at(t).as_millis() as i64 + self.wall_offset_millis;
        if let Some(s) = self.strobe
            && t >= s.start
            && t < s.until
            && ((t - s.start).as_nanos() / s.period.as_nanos().max(1)) % 2 == 1
        {
            wall += s.delta_millis;
        }
        wall
    }

    /// Re-anchors at true time `t`, so a new rate applies from `t` on only.
    fn rebase(&mut self, t: Duration) {
        self.mono_base = self.mono_at(t);
        self.true_base = t;
    }
}

/// Errors of clock faults that would break a clock's contract.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ClockError {
    #[error("drift rate must be a finite number greater than 0, got {0}")]
    BadRate(f64),
    #[error("a monotonic clock cannot jump backwards ({0} ms)")]
    MonotonicBackwards(i64),
    #[error("strobe period must be positive")]
    BadStrobePeriod,
}

/// One host's clocks. Cloning shares the clock.
#[derive(Clone, Debug)]
pub struct HostClock {
    model: Arc<Mutex<ClockModel>>,
    /// Woken on every clock fault so sleepers re-compute their true-time deadline.
    changed: Arc<Notify>,
    time: TrueClock,
}

impl Default for HostClock {
    fn default() -> Self {
        Self::new()
    }
}

impl HostClock {
    /// A perfect clock: monotonic = true time, wall = epoch + true time.
    pub fn new() -> Self {
        HostClock {
            model: Arc::new(Mutex::new(ClockModel {
                true_base: Duration::ZERO,
                mono_base: Duration::ZERO,
                rate: 1.0,
                wall_offset_millis: 0,
                strobe: None,
            })),
            changed: Arc::new(Notify::new()),
            time: TrueClock::current(),
        }
    }

    fn model(&self) -> std::sync::MutexGuard<'_, ClockModel> {
        self.model.lock().expect("clock lock poisoned")
    }

    /// The host's monotonic clock now.
    pub fn mono_now(&self) -> Duration {
        self.model().mono_at(self.time.now())
    }

    /// The host's wall clock now, in ms since the Unix epoch.
    pub fn wall_now_millis(&self) -> i64 {
        self.model().wall_at(self.time.now())
    }

    /// Sets the wall clock's constant offset from true time.
    pub fn set_offset(&self, offset_millis: i64) {
        self.model().wall_offset_millis = offset_millis;
        self.changed.notify_waiters();
    }

    /// Makes both clocks run at `rate` × true time from now on (1.0002 = +200 ppm, 1.5 = a
    /// broken clock).
    pub fn set_drift(&self, rate: f64) -> Result<(), ClockError> {
        if !rate.is_finite() || rate <= 0.0 {
            return Err(ClockError::BadRate(rate));
        }
        let now = self.time.now();
        let mut m = self.model();
        m.rebase(now);
        m.rate = rate;
        drop(m);
        self.changed.notify_waiters();
        Ok(())
    }

    /// Steps the wall clock by `delta_millis` (either way), as `date -s` or an NTP step would.
    /// The monotonic clock is not affected.
    pub fn jump_wall(&self, delta_millis: i64) {
        self.model().wall_offset_millis += delta_millis;
        self.changed.notify_waiters();
    }

    /// Steps the monotonic clock forward (a VM resumed after a host-side pause or migration):
    /// timers due within the jump fire at once. The wall clock moves with it.
    pub fn jump_monotonic(&self, delta_millis: i64) -> Result<(), ClockError> {
        if delta_millis < 0 {
            return Err(ClockError::MonotonicBackwards(delta_millis));
        }
        let now = self.time.now();
        let mut m = self.model();
        m.rebase(now);
        m.mono_base += Duration::from_millis(delta_millis as u64);
        drop(m);
        self.changed.notify_waiters();
        Ok(())
    }

    /// Flips the wall clock by `delta_millis` every `period` for `duration` from now.
    pub fn strobe(
        &self,
        delta_millis: i64,
        period: Duration,
        duration: Duration,
    ) -> Result<(), ClockError> {
        if period.is_zero() {
            return Err(ClockError::BadStrobePeriod);
        }
        let now = self.time.now();
        self.model().strobe = Some(Strobe {
            delta_millis,
            period,
            start: now,
            until: now + duration,
        });
        self.changed.notify_waiters();
        Ok(())
    }

    /// Back to rate 1, no offset, no strobe (the monotonic reading keeps its value).
    pub fn reset(&self) {
        let now = self.time.now();
        let mut m = self.model();
        m.rebase(now);
        m.rate = 1.0;
        m.wall_offset_millis = 0;
        m.strobe = None;
        drop(m);
        self.changed.notify_waiters();
    }

    /// Sleeps until the monotonic clock reads `deadline`. A clock fault during the sleep
    /// (drift change, jump) moves the wake-up accordingly.
    pub async fn sleep_until(&self, deadline: Duration) {
        loop {
            let mut notified = pin!(self.changed.notified());
            notified.as_mut().enable();
            let wake_at = {
                let m = self.model();
                let now = self.time.now();
                if m.mono_at(now) >= deadline {
                    return;
                }
                m.true_time_of(deadline)
            };
            let mut sleep = pin!(self.time.sleep_until(wake_at));
            std::future::poll_fn(|cx| {
                if sleep.as_mut().poll(cx).is_ready() || notified.as_mut().poll(cx).is_ready() {
                    std::task::Poll::Ready(())
                } else {
                    std::task::Poll::Pending
                }
            })
            .await;
        }
    }
}

/// The [`Environment`] of code running on a simulated host.
#[derive(Clone, Debug)]
pub struct SimEnv {
    clock: HostClock,
    /// The host's madsim node: tasks spawned through this environment run there (and pause and
    /// die with the host) whoever calls `spawn` — the supervisor included.
    node: madsim::task::NodeId,
}

impl SimEnv {
    pub fn new(clock: HostClock, node: madsim::task::NodeId) -> Self {
        SimEnv { clock, node }
    }
    pub fn clock(&self) -> &HostClock {
        &self.clock
    }
}

impl Environment for SimEnv {
    fn now(&self) -> Duration {
        self.clock.mono_now()
    }

    fn wall_millis(&self) -> i64 {
        self.clock.wall_now_millis()
    }

    fn sleep_until(&self, deadline: Duration) -> impl Future<Output = ()> + Send {
        let clock = self.clock.clone();
        async move { clock.sleep_until(deadline).await }
    }

    /// Spawns on this host's node, in its current incarnation.
    fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        match madsim::runtime::Handle::current().get_node(self.node) {
            Some(node) => drop(node.spawn(task)),
            None => drop(madsim::task::spawn(task)),
        }
    }
}

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

use crate::coverage::{Point, SharedReached};
use crate::env::Environment;
use crate::sim::alarm::Alarm;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

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
/// The handle comes with the instant madsim's clock started from, so that a timer's deadline
/// is one addition (madsim's clock takes a lock for every reading).
#[derive(Clone)]
pub struct TrueClock(Option<(madsim::time::TimeHandle, std::time::Instant)>);

impl TrueClock {
    /// The running simulation's clock (outside one, every call looks it up again).
    pub fn current() -> Self {
        TrueClock(madsim::time::TimeHandle::try_current().map(|time| {
            let start = started(&time);
            (time, start)
        }))
    }

    /// True simulated time: elapsed since the simulation started.
    pub fn now(&self) -> Duration {
        match &self.0 {
            Some((time, _)) => time.elapsed(),
            None => true_now(),
        }
    }

    fn with_handle<T>(
        &self,
        f: impl FnOnce(&madsim::time::TimeHandle, std::time::Instant) -> T,
    ) -> T {
        match &self.0 {
            Some((time, start)) => f(time, *start),
            None => {
                let time = madsim::time::TimeHandle::current();
                f(&time, started(&time))
            }
        }
    }

    /// A timer that wakes `waker` at true time `at`; `None` if that has come.
    fn alarm(&self, at: Duration, waker: &Waker) -> Option<Alarm> {
        self.with_handle(|time, start| Alarm::arm(time, start + at, waker))
    }

    /// Wakes `waker` at true simulated time `at` (at once if that has passed), for queues
    /// that know when their next item is due. Not called off: the queue's task is woken
    /// even if the item went meanwhile.
    pub fn wake_at(&self, at: Duration, waker: &Waker) {
        if !self.with_handle(|time, start| crate::sim::alarm::set_timer(time, start + at, waker)) {
            waker.wake_by_ref();
        }
    }

    /// Sleeps until true simulated time `at`, to the nanosecond.
    pub fn sleep_until(&self, at: Duration) -> TrueSleep {
        TrueSleep {
            time: self.clone(),
            at,
            alarm: None,
        }
    }
}

/// The instant madsim's clock started from (its readings are that plus the time elapsed).
fn started(time: &madsim::time::TimeHandle) -> std::time::Instant {
    time.now_instant() - time.elapsed()
}

/// The future of [`TrueClock::sleep_until`].
pub struct TrueSleep {
    time: TrueClock,
    at: Duration,
    /// Kept while it wakes the task that polls: a task that also waits on a mailbox polls
    /// its sleep for every packet, and a timer per poll would pile up.
    alarm: Option<Alarm>,
}

impl Future for TrueSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.time.now() >= self.at {
            return Poll::Ready(());
        }
        if self.alarm.as_ref().is_some_and(|a| a.wakes(cx.waker())) {
            return Poll::Pending;
        }
        self.alarm = self.time.alarm(self.at, cx.waker());
        if self.alarm.is_none() {
            return Poll::Ready(());
        }
        Poll::Pending
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
        let elapsed = t.saturating_sub(self.true_base);
        // Most clocks never drift: no float arithmetic for them (the result is the same).
        if self.rate == 1.0 {
            return self.mono_base + elapsed;
        }
        let dt = elapsed.as_nanos() as u64 as f64 * self.rate;
        self.mono_base + Duration::from_nanos(dt as u64)
    }

    /// The first true time at which the monotonic clock reads at least `mono`.
    fn true_time_of(&self, mono: Duration) -> Duration {
        let ahead = mono.saturating_sub(self.mono_base);
        if self.rate == 1.0 {
            return self.true_base + ahead + Duration::from_nanos(1);
        }
        let ahead = ahead.as_nanos() as u64 as f64 / self.rate;
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
    inner: Arc<HostClockInner>,
}

#[derive(Debug)]
struct HostClockInner {
    state: Mutex<ClockState>,
    time: TrueClock,
}

#[derive(Debug)]
struct ClockState {
    model: ClockModel,
    /// Bumped by every change of the monotonic clock: sleepers re-compute their true-time
    /// deadline.
    generation: u64,
    /// The tasks sleeping on the monotonic clock, woken by every change of it.
    sleepers: Sleepers,
}

/// Wakers of the sleeping tasks, in reusable slots.
#[derive(Debug, Default)]
struct Sleepers {
    slots: Vec<Option<Waker>>,
    free: Vec<usize>,
}

impl Sleepers {
    fn insert(&mut self, waker: Waker) -> usize {
        match self.free.pop() {
            Some(slot) => {
                self.slots[slot] = Some(waker);
                slot
            }
            None => {
                self.slots.push(Some(waker));
                self.slots.len() - 1
            }
        }
    }

    fn remove(&mut self, slot: usize) {
        self.slots[slot] = None;
        self.free.push(slot);
    }

    fn wake_all(&self) {
        for waker in self.slots.iter().flatten() {
            waker.wake_by_ref();
        }
    }
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
            inner: Arc::new(HostClockInner {
                state: Mutex::new(ClockState {
                    model: ClockModel {
                        true_base: Duration::ZERO,
                        mono_base: Duration::ZERO,
                        rate: 1.0,
                        wall_offset_millis: 0,
                        strobe: None,
                    },
                    generation: 0,
                    sleepers: Sleepers::default(),
                }),
                time: TrueClock::current(),
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, ClockState> {
        self.inner.state.lock().expect("clock lock poisoned")
    }

    fn true_now(&self) -> Duration {
        self.inner.time.now()
    }

    /// The host's monotonic clock now.
    pub fn mono_now(&self) -> Duration {
        self.state().model.mono_at(self.true_now())
    }

    /// The true time at which the monotonic clock will read `mono`, as the clock runs now (a
    /// later clock fault moves it; now, if the clock reads `mono` already).
    pub fn true_time_of(&self, mono: Duration) -> Duration {
        let now = self.true_now();
        self.state().model.true_time_of(mono).max(now)
    }

    /// The host's wall clock now, in ms since the Unix epoch.
    pub fn wall_now_millis(&self) -> i64 {
        self.state().model.wall_at(self.true_now())
    }

    /// Changes the model; a change of the monotonic clock wakes every sleeper to re-compute
    /// when it is due (wall-clock changes wake nobody: nothing sleeps on the wall clock).
    fn change(&self, monotonic: bool, f: impl FnOnce(&mut ClockModel, Duration)) {
        let now = self.true_now();
        let mut state = self.state();
        f(&mut state.model, now);
        if monotonic {
            state.generation += 1;
            state.sleepers.wake_all();
        }
    }

    /// Sets the wall clock's constant offset from true time.
    pub fn set_offset(&self, offset_millis: i64) {
        self.change(false, |m, _| m.wall_offset_millis = offset_millis);
    }

    /// Makes both clocks run at `rate` × true time from now on (1.0002 = +200 ppm, 1.5 = a
    /// broken clock).
    pub fn set_drift(&self, rate: f64) -> Result<(), ClockError> {
        if !rate.is_finite() || rate <= 0.0 {
            return Err(ClockError::BadRate(rate));
        }
        self.change(true, |m, now| {
            m.rebase(now);
            m.rate = rate;
        });
        Ok(())
    }

    /// Steps the wall clock by `delta_millis` (either way), as `date -s` or an NTP step would.
    /// The monotonic clock is not affected.
    pub fn jump_wall(&self, delta_millis: i64) {
        self.change(false, |m, _| m.wall_offset_millis += delta_millis);
    }

    /// Steps the monotonic clock forward (a VM resumed after a host-side pause or migration):
    /// timers due within the jump fire at once. The wall clock moves with it.
    pub fn jump_monotonic(&self, delta_millis: i64) -> Result<(), ClockError> {
        if delta_millis < 0 {
            return Err(ClockError::MonotonicBackwards(delta_millis));
        }
        self.change(true, |m, now| {
            m.rebase(now);
            m.mono_base += Duration::from_millis(delta_millis as u64);
        });
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
        self.change(false, |m, now| {
            m.strobe = Some(Strobe {
                delta_millis,
                period,
                start: now,
                until: now + duration,
            })
        });
        Ok(())
    }

    /// Back to rate 1, no offset, no strobe (the monotonic reading keeps its value).
    pub fn reset(&self) {
        self.change(true, |m, now| {
            m.rebase(now);
            m.rate = 1.0;
            m.wall_offset_millis = 0;
            m.strobe = None;
        });
    }

    /// Sleeps until the monotonic clock reads `deadline`. A clock fault during the sleep
    /// (drift change, jump) moves the wake-up accordingly.
    pub fn sleep_until(&self, deadline: Duration) -> HostSleep {
        HostSleep {
            clock: self.clone(),
            deadline,
            slot: None,
            alarm: None,
        }
    }
}

/// The future of [`HostClock::sleep_until`].
pub struct HostSleep {
    clock: HostClock,
    /// On the host's monotonic clock.
    deadline: Duration,
    /// Where the task's waker is kept for clock faults, while it sleeps.
    slot: Option<usize>,
    /// The timer at the true time the deadline falls on, for the clock's generation it was
    /// computed in.
    alarm: Option<(u64, Alarm)>,
}

impl Future for HostSleep {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        let now = this.clock.true_now();
        // A replaced waker is dropped after the lock: it may hold the last reference to a
        // task whose futures sleep on this clock too.
        let mut _replaced: Option<Waker> = None;
        let mut state = this.clock.state();
        if state.model.mono_at(now) >= this.deadline {
            if let Some(slot) = this.slot.take() {
                state.sleepers.remove(slot);
            }
            return Poll::Ready(());
        }
        match this.slot {
            Some(slot) => {
                let kept = &mut state.sleepers.slots[slot];
                if !kept.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                    _replaced = kept.replace(cx.waker().clone());
                }
            }
            None => this.slot = Some(state.sleepers.insert(cx.waker().clone())),
        }
        let generation = state.generation;
        let armed = this
            .alarm
            .as_ref()
            .is_some_and(|(g, alarm)| *g == generation && alarm.wakes(cx.waker()));
        if !armed {
            let at = state.model.true_time_of(this.deadline);
            drop(state);
            match this.clock.inner.time.alarm(at, cx.waker()) {
                Some(alarm) => this.alarm = Some((generation, alarm)),
                // Cannot happen (`at` is after now), but a missed wake-up would hang.
                None => cx.waker().wake_by_ref(),
            }
        }
        Poll::Pending
    }
}

impl Drop for HostSleep {
    fn drop(&mut self) {
        if let Some(slot) = self.slot.take() {
            self.clock.state().sleepers.remove(slot);
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
    /// The run's coverage (its world's), where [`Environment::reach`] records.
    coverage: Arc<SharedReached>,
}

impl SimEnv {
    pub fn new(clock: HostClock, node: madsim::task::NodeId, coverage: Arc<SharedReached>) -> Self {
        SimEnv {
            clock,
            node,
            coverage,
        }
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
        self.clock.sleep_until(deadline)
    }

    fn reach(&self, point: Point) {
        self.coverage.insert(point);
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

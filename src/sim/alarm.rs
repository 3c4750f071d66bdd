//! Timers on madsim's clock that can be called off.
//!
//! madsim keeps a timer until its time comes and then wakes the waker it was given, whether
//! or not anyone still waits: a timeout that lost its race (nearly every request timeout
//! does) would wake its task once more, for nothing, a full task poll. An [`Alarm`] wakes
//! through a flag that its sleep clears when it is dropped.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Wake, Waker};
use std::time::Instant;

struct Bell {
    armed: AtomicBool,
    waker: Waker,
}

impl Wake for Bell {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if self.armed.load(Ordering::Relaxed) {
            self.waker.wake_by_ref();
        }
    }
}

/// A timer that wakes one task at a true simulated time, unless dropped first.
pub(crate) struct Alarm {
    bell: Arc<Bell>,
}

impl Alarm {
    /// Arms a timer for madsim's instant `deadline` that wakes `waker`; `None` if it has come
    /// already.
    pub(crate) fn arm(
        time: &madsim::time::TimeHandle,
        deadline: Instant,
        waker: &Waker,
    ) -> Option<Self> {
        let bell = Arc::new(Bell {
            armed: AtomicBool::new(true),
            waker: waker.clone(),
        });
        set_timer(time, deadline, &Waker::from(bell.clone())).then_some(Alarm { bell })
    }

    /// Whether this alarm wakes the task `waker` belongs to.
    pub(crate) fn wakes(&self, waker: &Waker) -> bool {
        self.bell.waker.will_wake(waker)
    }
}

/// Has madsim wake `waker` at its instant `deadline`, for good; false if that has come already.
pub(crate) fn set_timer(time: &madsim::time::TimeHandle, deadline: Instant, waker: &Waker) -> bool {
    // madsim's `sleep_until` rounds a sleep up to at least 1 ms (as tokio does); links
    // inside a site are faster, so the deadline is set again, to the nanosecond.
    let mut sleep = time.sleep_until(deadline);
    std::pin::Pin::new(&mut sleep).reset(deadline);
    let mut cx = Context::from_waker(waker);
    std::future::Future::poll(std::pin::Pin::new(&mut sleep), &mut cx).is_pending()
}

impl Drop for Alarm {
    fn drop(&mut self) {
        self.bell.armed.store(false, Ordering::Relaxed);
    }
}

//! A bound port's receive queue.
//!
//! A packet goes into its receiver's inbox when it is sent, stamped with the true time it
//! arrives, and the receiving task is woken by a timer at that time: one wake of the task that
//! reads it and no task of the network's in between (a delivery task per link cost two more
//! task polls and a notifier per packet). The network still decides, when the receiver reads
//! a packet, whether a link cut meanwhile holds it back (see `sim::world::mailbox`).

use crate::sim::clock::TrueClock;
use crate::sim::net::{HostId, Packet};
use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

/// A packet on its way, with when it arrives.
#[derive(Debug)]
pub(crate) struct InFlight {
    /// True simulated time of arrival.
    pub(crate) at: Duration,
    /// The network's send counter: orders packets that arrive at the same time.
    pub(crate) seq: u64,
    /// Already reached the host (the process has not read it yet): a cut that starts now
    /// cannot hold it back any more.
    pub(crate) arrived: bool,
    /// Boxed: an inbox moves its items about, and a packet is 200 bytes.
    pub(crate) packet: Box<Packet>,
}

impl InFlight {
    fn key(&self) -> (Duration, u64) {
        (self.at, self.seq)
    }

    /// Still on the wire at `now`.
    pub(crate) fn on_the_wire(&self, now: Duration) -> bool {
        !self.arrived && self.at > now
    }
}

/// Inserts `item` into a queue kept in (arrival time, sequence) order. Packets mostly come in
/// that order, so the place is searched from the back.
pub(crate) fn insert_in_order(queue: &mut VecDeque<InFlight>, item: InFlight) -> usize {
    let key = item.key();
    let mut index = queue.len();
    while index > 0 && queue[index - 1].key() > key {
        index -= 1;
    }
    queue.insert(index, item);
    index
}

pub(crate) struct Inbox {
    state: Mutex<InboxState>,
    time: TrueClock,
}

struct InboxState {
    /// In (arrival time, sequence) order.
    queue: VecDeque<InFlight>,
    /// The task that last waited for a packet.
    waker: Option<Waker>,
    /// Arrival times a timer is armed for with `waker`, so none is armed twice.
    armed: Vec<Duration>,
    /// False once the port is unbound (the process died or dropped its mailbox).
    open: bool,
}

impl Inbox {
    pub(crate) fn new(time: TrueClock) -> Self {
        Inbox {
            state: Mutex::new(InboxState {
                queue: VecDeque::new(),
                waker: None,
                armed: Vec::new(),
                open: true,
            }),
            time,
        }
    }

    fn lock(&self) -> MutexGuard<'_, InboxState> {
        self.state.lock().expect("inbox lock poisoned")
    }

    /// Queues a packet; wakes the receiver when it arrives if it is the next to.
    pub(crate) fn push(&self, item: InFlight) {
        let mut state = self.lock();
        let at = item.at;
        if insert_in_order(&mut state.queue, item) == 0 {
            self.arm(&mut state, at);
        }
    }

    /// Makes sure the waiting task is woken at `at`.
    fn arm(&self, state: &mut InboxState, at: Duration) {
        let Some(waker) = &state.waker else { return };
        if state.armed.contains(&at) {
            return;
        }
        state.armed.push(at);
        self.time.wake_at(at, waker);
    }

    /// The next packet that has arrived by now; `Ready(None)` once the port is unbound and
    /// nothing is left. Otherwise the task is woken when the next one arrives.
    pub(crate) fn poll_next(&self, cx: &mut Context<'_>) -> Poll<Option<InFlight>> {
        let now = self.time.now();
        let mut state = self.lock();
        if let Some(front) = state.queue.front()
            && front.at <= now
        {
            return Poll::Ready(state.queue.pop_front());
        }
        if !state.open {
            return Poll::Ready(None);
        }
        if !state
            .waker
            .as_ref()
            .is_some_and(|w| w.will_wake(cx.waker()))
        {
            state.waker = Some(cx.waker().clone());
            state.armed.clear();
        }
        state.armed.retain(|at| *at > now);
        if let Some(at) = state.queue.front().map(|front| front.at) {
            self.arm(&mut state, at);
        }
        Poll::Pending
    }

    /// The next packet that has arrived by now, if any.
    pub(crate) fn take_arrived(&self) -> Option<InFlight> {
        let now = self.time.now();
        let mut state = self.lock();
        match state.queue.front() {
            Some(front) if front.at <= now => state.queue.pop_front(),
            _ => None,
        }
    }

    /// Unbinds: returns every queued packet, and the waiting task's waker (to be woken, or
    /// dropped, outside any lock of the network's).
    pub(crate) fn close(&self) -> (VecDeque<InFlight>, Option<Waker>) {
        let mut state = self.lock();
        state.open = false;
        state.armed.clear();
        (std::mem::take(&mut state.queue), state.waker.take())
    }

    /// A cut from the hosts `cut_from` starts now: what they sent that reached this host
    /// already stays readable.
    pub(crate) fn mark_arrived(&self, now: Duration, cut_from: impl Fn(HostId) -> bool) {
        let mut state = self.lock();
        for item in state.queue.iter_mut() {
            if item.at > now {
                break;
            }
            if cut_from(item.packet.from.host) {
                item.arrived = true;
            }
        }
    }

    /// Packets still on the wire at `now` that `pick` selects.
    pub(crate) fn any_on_the_wire(&self, now: Duration, pick: impl Fn(&Packet) -> bool) -> bool {
        self.lock()
            .queue
            .iter()
            .any(|item| item.on_the_wire(now) && pick(&item.packet))
    }

    /// Drops the packets still on the wire at `now` that `pick` selects; returns how many.
    pub(crate) fn drop_on_the_wire(&self, now: Duration, pick: impl Fn(&Packet) -> bool) -> u64 {
        let mut state = self.lock();
        let before = state.queue.len();
        state
            .queue
            .retain(|item| !(item.on_the_wire(now) && pick(&item.packet)));
        (before - state.queue.len()) as u64
    }
}

//! The state of one directed link between two hosts, and what the relays count on it.
//!
//! A link is shared by every relay whose bytes travel it: the relay from `a` to `b` sends its
//! client's bytes over link (a, b) and the answers over link (b, a). Relays read the state on
//! every chunk, so a change applies at once to connections already open, as a change of the
//! network would.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// What a directed link between two hosts does to the bytes sent over it.
///
/// The default is a perfect link: not cut, no delay, no loss.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LinkState {
    /// Bytes wait in the relay (as unacknowledged data waits in a sender's buffer) and new
    /// connections are not made, until the cut heals.
    pub cut: bool,
    /// One-way latency added to every chunk.
    pub delay: Duration,
    /// Every chunk also waits a uniform draw in `0..=jitter`, never overtaking an earlier one.
    pub jitter: Duration,
    /// Probability that a chunk is "lost" and costs a retransmission timeout (200 ms, doubling
    /// while its retransmissions are lost too; see `timing.rs`); 0 for none.
    pub loss: f64,
}

/// What went over one directed link, all relays together.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkCounters {
    /// Connections opened in this direction (a client on `from` connecting to `to`),
    /// including those a cut or a blackhole kept from reaching their target.
    pub connections: u64,
    /// Bytes delivered over the link.
    pub bytes: u64,
    /// Bytes read from the sender and thrown away because an end of the link was blackholed.
    pub discarded: u64,
}

/// A directed link: its state (the current one and the configured one that healing returns
/// to) and its counters.
#[derive(Debug, Default)]
pub(crate) struct Link {
    state: Mutex<States>,
    connections: AtomicU64,
    bytes: AtomicU64,
    discarded: AtomicU64,
}

#[derive(Debug, Default)]
struct States {
    base: LinkState,
    current: LinkState,
}

impl Link {
    pub(crate) fn state(&self) -> LinkState {
        self.lock().current
    }

    pub(crate) fn base(&self) -> LinkState {
        self.lock().base
    }

    pub(crate) fn set(&self, state: LinkState) {
        self.lock().current = state;
    }

    /// Sets the configured state and makes it the current one.
    pub(crate) fn set_base(&self, state: LinkState) {
        let mut states = self.lock();
        states.base = state;
        states.current = state;
    }

    /// Applies `change` to the current state, given the base.
    pub(crate) fn update(&self, change: impl FnOnce(&LinkState, &mut LinkState)) {
        let mut states = self.lock();
        let States { base, current } = &mut *states;
        change(base, current);
    }

    pub(crate) fn count_connection(&self) {
        self.connections.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn count_bytes(&self, n: usize) {
        self.bytes.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub(crate) fn count_discarded(&self, n: usize) {
        self.discarded.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub(crate) fn counters(&self) -> LinkCounters {
        LinkCounters {
            connections: self.connections.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            discarded: self.discarded.load(Ordering::Relaxed),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, States> {
        // The state is plain data: a panic elsewhere cannot leave it half-written.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Whether a host is blackholed, and how many times it has been: a connection that was open
/// while its host was blackholed stays dead after the blackhole lifts, so each connection
/// remembers the count it started with.
#[derive(Debug, Default)]
pub(crate) struct Host {
    blackholed: AtomicBool,
    epoch: AtomicU64,
    /// No process runs on the host (the runner crashed or has not yet started it).
    down: AtomicBool,
}

impl Host {
    pub(crate) fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::SeqCst);
    }

    pub(crate) fn down(&self) -> bool {
        self.down.load(Ordering::SeqCst)
    }

    pub(crate) fn set_blackholed(&self, on: bool) {
        if on && !self.blackholed.swap(true, Ordering::SeqCst) {
            self.epoch.fetch_add(1, Ordering::SeqCst);
        } else if !on {
            self.blackholed.store(false, Ordering::SeqCst);
        }
    }

    pub(crate) fn blackholed(&self) -> bool {
        self.blackholed.load(Ordering::SeqCst)
    }

    /// The number of times the host has been blackholed so far.
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }
}

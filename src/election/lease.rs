//! The master's quorum-confirmed lease: how long a master may go on acting on the evidence
//! that the ensemble's leader still held its session.
//!
//! A client can be told "connected" by a server that has lost the quorum: a follower cut from
//! its leader notices only after syncLimit·tickTime, and goes on answering pings and reads
//! meanwhile, while the leader expires the session after the session timeout T and the other
//! node claims. So being connected is no proof of holding the session. A `sync` is: the
//! session's server forwards it to the leader and relays the leader's answer, which comes
//! after every transaction proposed before it, a session's closeSession included (and the
//! server closes the session's connection when it applies that). A sync *sent* at `s` (the
//! node's monotonic clock) and answered proves the leader held the session at some moment after
//! `s`, in contact with the session's server.
//!
//! The master renews every [`MasterLease::renew_every`] and is demoted once no renewal sent
//! within the last [`MasterLease::length`] was answered. The bound is argued in the module
//! docs of [`super`] ("Timing assumption").

use super::role::FencingToken;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The lease as a fraction of the negotiated session timeout: 2/5, the crate's own
/// connection timeout, so a zombie connection stops a master no later than a broken one does.
const LEASE_NUMERATOR: u32 = 2;
const LEASE_DENOMINATOR: u32 = 5;

/// Renewals per lease: a master survives three lost or slow renewals in a row.
const RENEWALS_PER_LEASE: u32 = 4;

/// The lease of a master on its current session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MasterLease {
    length: Duration,
    /// When (node clock) the newest answered confirmation was sent.
    confirmed_from: Duration,
}

impl MasterLease {
    /// The lease of a master whose claim (a write the leader committed) was sent at `sent_at`,
    /// on a session whose negotiated timeout is `session_timeout`.
    pub fn granted(session_timeout: Duration, sent_at: Duration) -> Self {
        MasterLease {
            length: session_timeout * LEASE_NUMERATOR / LEASE_DENOMINATOR,
            confirmed_from: sent_at,
        }
    }

    pub fn length(&self) -> Duration {
        self.length
    }

    pub fn renew_every(&self) -> Duration {
        self.length / RENEWALS_PER_LEASE
    }

    /// When the lease runs out unless a confirmation sent before then is answered.
    pub fn expires_at(&self) -> Duration {
        self.confirmed_from.saturating_add(self.length)
    }

    /// When the next renewal is due.
    pub fn renewal_due_at(&self) -> Duration {
        self.confirmed_from.saturating_add(self.renew_every())
    }

    pub fn expired(&self, now: Duration) -> bool {
        now >= self.expires_at()
    }

    /// A confirmation sent at `sent_at` was answered. An answer to an older confirmation than
    /// the newest one counted changes nothing.
    pub fn confirmed(&mut self, sent_at: Duration) {
        self.confirmed_from = self.confirmed_from.max(sent_at);
    }
}

/// The grant the selector acts under and when its lease runs out, for the node's guarded work
/// to check before each action ([`ZkSelector::acting_until`](super::ZkSelector::acting_until)).
/// The selector sets it on promotion, moves it on each renewal and clears it before the role
/// watch stops saying Master. Clones share it.
#[derive(Clone, Debug, Default)]
pub(crate) struct SharedLease(Arc<Mutex<Option<(FencingToken, Duration)>>>);

impl SharedLease {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(FencingToken, Duration)>> {
        // The value is a plain pair: a panic elsewhere cannot leave it half-written.
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Acting under `token` until `expires_at` (monotonic clock).
    pub(crate) fn set(&self, token: FencingToken, expires_at: Duration) {
        *self.lock() = Some((token, expires_at));
    }

    pub(crate) fn clear(&self) {
        *self.lock() = None;
    }

    /// When the lease of grant `token` runs out; `None` unless that grant is the current one.
    pub(crate) fn expires_at(&self, token: FencingToken) -> Option<Duration> {
        (*self.lock()).and_then(|(current, at)| (current == token).then_some(at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: f64) -> Duration {
        Duration::from_secs_f64(s)
    }

    #[test]
    fn lease_runs_from_the_send_time_of_the_newest_answered_confirmation() {
        let mut lease = MasterLease::granted(secs(4.0), secs(10.0));
        assert_eq!(lease.length(), secs(1.6));
        assert_eq!(lease.renew_every(), secs(0.4));
        assert_eq!(lease.renewal_due_at(), secs(10.4));
        assert!(!lease.expired(secs(11.599)));
        assert!(lease.expired(secs(11.6)));
        // Answered late: the lease counts from the send time, not the answer.
        lease.confirmed(secs(10.4));
        assert_eq!(lease.expires_at(), secs(12.0));
        // A stale answer does not move the lease back.
        lease.confirmed(secs(10.2));
        assert_eq!(lease.expires_at(), secs(12.0));
    }

    #[test]
    fn the_shared_lease_answers_only_for_the_current_grant() {
        let shared = SharedLease::default();
        let (old, new) = (FencingToken(7), FencingToken(9));
        assert_eq!(shared.expires_at(old), None);
        shared.set(old, secs(3.0));
        assert_eq!(shared.expires_at(old), Some(secs(3.0)));
        shared.set(new, secs(5.0));
        assert_eq!(
            shared.expires_at(old),
            None,
            "a superseded grant has no lease"
        );
        assert_eq!(shared.expires_at(new), Some(secs(5.0)));
        shared.clear();
        assert_eq!(shared.expires_at(new), None);
    }

    #[test]
    fn lease_ends_a_quarter_of_the_session_timeout_before_the_earliest_expiry() {
        // The bound of the module docs: a confirmation sent at `s` and answered means the
        // leader cannot expire the session before s + T − tickTime/2 − renew_every, and
        // ZooKeeper allows no session timeout below 2·tickTime. The lease ends T/4 earlier,
        // which is the time the node has to stop acting after its demotion.
        for t in [4.0, 8.0, 16.0, 40.0] {
            let t = secs(t);
            let lease = MasterLease::granted(t, Duration::ZERO);
            let longest_tick = t / 2;
            let earliest_expiry = t - longest_tick / 2 - lease.renew_every();
            let margin = earliest_expiry - lease.expires_at();
            assert_eq!(margin, t / 4, "T = {t:?}");
        }
    }
}

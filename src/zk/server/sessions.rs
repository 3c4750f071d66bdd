//! The leader's session tracker: tick-bucketed expiry (ZooKeeper's `ExpiryQueue` and
//! `SessionTrackerImpl`).
//!
//! A touch moves a session to the bucket of the first tick boundary strictly after
//! `now + timeout`; when the monotonic clock reaches a bucket's time, every session in it
//! expires. So a session expires between T and T + tick after the last touch the leader
//! processed. Only the leader keeps one, and a new leader starts every session afresh.

use crate::zk::types::{ErrorCode, SessionId};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// Sessions grouped by the tick boundary at which they expire.
#[derive(Debug)]
pub struct ExpiryQueue {
    tick: Duration,
    expiry_of: BTreeMap<SessionId, Duration>,
    buckets: BTreeMap<Duration, BTreeSet<SessionId>>,
}

impl ExpiryQueue {
    pub fn new(tick: Duration) -> Self {
        ExpiryQueue {
            tick: tick.max(Duration::from_millis(1)),
            expiry_of: BTreeMap::new(),
            buckets: BTreeMap::new(),
        }
    }

    /// The first multiple of the tick strictly after `t`.
    fn round_to_next_interval(&self, t: Duration) -> Duration {
        let tick = self.tick.as_nanos();
        let n = t.as_nanos() / tick + 1;
        Duration::from_nanos((n * tick) as u64)
    }

    /// (Re)schedules `id` to expire `timeout` after `now`, rounded up to a tick boundary.
    pub fn update(&mut self, id: SessionId, now: Duration, timeout: Duration) -> Duration {
        let at = self.round_to_next_interval(now + timeout);
        if let Some(prev) = self.expiry_of.insert(id, at) {
            if prev == at {
                return at;
            }
            self.remove_from_bucket(id, prev);
        }
        self.buckets.entry(at).or_default().insert(id);
        at
    }

    fn remove_from_bucket(&mut self, id: SessionId, at: Duration) {
        if let Some(bucket) = self.buckets.get_mut(&at) {
            bucket.remove(&id);
            if bucket.is_empty() {
                self.buckets.remove(&at);
            }
        }
    }

    pub fn remove(&mut self, id: SessionId) {
        if let Some(at) = self.expiry_of.remove(&id) {
            self.remove_from_bucket(id, at);
        }
    }

    /// When the next bucket expires.
    pub fn next_expiration(&self) -> Option<Duration> {
        self.buckets.keys().next().copied()
    }

    /// Takes every session whose bucket time has come.
    pub fn take_expired(&mut self, now: Duration) -> Vec<SessionId> {
        let mut expired = Vec::new();
        while let Some((&at, _)) = self.buckets.iter().next() {
            if at > now {
                break;
            }
            let bucket = self.buckets.remove(&at).unwrap_or_default();
            for id in bucket {
                self.expiry_of.remove(&id);
                expired.push(id);
            }
        }
        expired
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct TrackedSession {
    timeout: Duration,
    /// The server whose client owns the session; set by the first request after a leader
    /// change, moved by a revalidation.
    owner: Option<u64>,
    /// Expired or closed, waiting for its closeSession txn to commit.
    closing: bool,
}

#[derive(Debug)]
pub struct SessionTracker {
    queue: ExpiryQueue,
    sessions: BTreeMap<SessionId, TrackedSession>,
}

impl SessionTracker {
    pub fn new(tick: Duration) -> Self {
        SessionTracker {
            queue: ExpiryQueue::new(tick),
            sessions: BTreeMap::new(),
        }
    }

    /// Starts tracking a session (new, or known from the database when a leader takes over).
    pub fn add(&mut self, id: SessionId, timeout_ms: u32, owner: Option<u64>, now: Duration) {
        let timeout = Duration::from_millis(timeout_ms as u64);
        self.sessions.insert(
            id,
            TrackedSession {
                timeout,
                owner,
                closing: false,
            },
        );
        self.queue.update(id, now, timeout);
    }

    /// Extends a live session; false if it is unknown or closing.
    pub fn touch(&mut self, id: SessionId, now: Duration) -> bool {
        match self.sessions.get(&id) {
            Some(s) if !s.closing => {
                self.queue.update(id, now, s.timeout);
                true
            }
            _ => false,
        }
    }

    /// A reconnect: touches with the newly negotiated timeout and moves the owner.
    pub fn revalidate(
        &mut self,
        id: SessionId,
        timeout_ms: u32,
        owner: u64,
        now: Duration,
    ) -> bool {
        match self.sessions.get_mut(&id) {
            Some(s) if !s.closing => {
                s.timeout = Duration::from_millis(timeout_ms as u64);
                s.owner = Some(owner);
                let timeout = s.timeout;
                self.queue.update(id, now, timeout);
                true
            }
            _ => false,
        }
    }

    /// May `owner`'s client write on this session? (`checkSession`)
    pub fn check(&mut self, id: SessionId, owner: u64) -> Result<(), ErrorCode> {
        match self.sessions.get_mut(&id) {
            None => Err(ErrorCode::SessionExpired),
            Some(s) if s.closing => Err(ErrorCode::SessionExpired),
            Some(s) => match s.owner {
                None => {
                    s.owner = Some(owner);
                    Ok(())
                }
                Some(o) if o == owner => Ok(()),
                Some(_) => Err(ErrorCode::SessionMoved),
            },
        }
    }

    pub fn is_closing(&self, id: SessionId) -> bool {
        self.sessions.get(&id).is_some_and(|s| s.closing)
    }

    /// Marks a session as closing (no more touches); its closeSession txn is on its way.
    pub fn set_closing(&mut self, id: SessionId) {
        if let Some(s) = self.sessions.get_mut(&id) {
            s.closing = true;
        }
        self.queue.remove(id);
    }

    pub fn remove(&mut self, id: SessionId) {
        self.sessions.remove(&id);
        self.queue.remove(id);
    }

    pub fn next_expiration(&self) -> Option<Duration> {
        self.queue.next_expiration()
    }

    /// Sessions whose time has come, marked closing.
    pub fn take_expired(&mut self, now: Duration) -> Vec<SessionId> {
        let expired = self.queue.take_expired(now);
        for id in &expired {
            if let Some(s) = self.sessions.get_mut(id) {
                s.closing = true;
            }
        }
        expired
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TICK: Duration = Duration::from_millis(2000);

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn expiry_is_the_next_tick_boundary_strictly_after_now_plus_timeout() {
        let mut q = ExpiryQueue::new(TICK);
        assert_eq!(q.update(1, ms(0), ms(6000)), ms(8000));
        assert_eq!(q.update(2, ms(1999), ms(6000)), ms(8000));
        assert_eq!(q.update(3, ms(2000), ms(6000)), ms(10000));
        assert_eq!(q.next_expiration(), Some(ms(8000)));
    }

    #[test]
    fn a_session_expires_between_t_and_t_plus_tick_after_its_last_touch() {
        for touch in [0u64, 1, 999, 1999, 2000, 3456] {
            let mut t = SessionTracker::new(TICK);
            t.add(7, 6000, None, ms(0));
            t.touch(7, ms(touch));
            let at = t.next_expiration().expect("scheduled");
            assert!(
                at > ms(touch + 6000) && at <= ms(touch + 8000),
                "touch {touch}: {at:?}"
            );
            assert!(t.take_expired(at - ms(1)).is_empty());
            assert_eq!(t.take_expired(at), vec![7]);
            assert!(t.is_closing(7));
            assert!(!t.touch(7, at), "closing sessions cannot be touched");
        }
    }

    #[test]
    fn touches_move_a_session_between_buckets() {
        let mut t = SessionTracker::new(TICK);
        t.add(1, 4000, None, ms(0));
        t.add(2, 4000, None, ms(0));
        t.touch(1, ms(5000));
        assert_eq!(t.take_expired(ms(6000)), vec![2]);
        assert!(t.take_expired(ms(9999)).is_empty());
        assert_eq!(t.take_expired(ms(10000)), vec![1]);
        assert_eq!(t.next_expiration(), None);
    }

    #[test]
    fn owner_is_set_once_and_moved_by_revalidation() {
        let mut t = SessionTracker::new(TICK);
        t.add(1, 4000, None, ms(0));
        assert_eq!(t.check(1, 3), Ok(()));
        assert_eq!(t.check(1, 2), Err(ErrorCode::SessionMoved));
        assert!(t.revalidate(1, 4000, 2, ms(10)));
        assert_eq!(t.check(1, 2), Ok(()));
        assert_eq!(t.check(9, 2), Err(ErrorCode::SessionExpired));
        t.set_closing(1);
        assert_eq!(t.check(1, 2), Err(ErrorCode::SessionExpired));
        assert!(!t.revalidate(1, 4000, 2, ms(20)));
    }
}

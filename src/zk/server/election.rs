//! FastLeaderElection (ZooKeeper's `lookForLeader`) as a state machine driven by
//! notifications and timers. It only decides; the server sends what it says and switches role.
//!
//! A vote is (epoch, last zxid, server id), larger wins in that order. A LOOKING server adopts
//! any better vote it hears and re-broadcasts; once a quorum of its round agrees with its
//! proposal it waits `finalize_wait` for a better vote and then decides. Votes from servers
//! already FOLLOWING/LEADING decide at once when a quorum of them agrees and the leader itself
//! says LEADING. Unanswered rounds re-broadcast with a timeout doubling 200 ms → 60 s.
//! Observers propose nobody and never win.

use crate::zk::peer::{Notification, PeerState};
use crate::zk::server::config::Quorum;
use crate::zk::types::Zxid;
use std::collections::BTreeMap;
use std::time::Duration;

/// Longest gap between re-broadcasts (`maxNotificationInterval`).
pub const MAX_NOTIFICATION_INTERVAL: Duration = Duration::from_secs(60);

/// A proposal: who should lead, and how recent that server's history is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Vote {
    pub leader: Option<u64>,
    pub zxid: Zxid,
    pub peer_epoch: u32,
}

impl Vote {
    fn of(n: &Notification) -> Vote {
        Vote {
            leader: n.leader,
            zxid: n.zxid,
            peer_epoch: n.peer_epoch,
        }
    }
}

/// `totalOrderPredicate`: is `new` a better vote than `current`?
pub fn better(new: &Vote, current: &Vote, quorum: &Quorum) -> bool {
    let Some(new_leader) = new.leader else {
        return false;
    };
    if !quorum.is_voter(new_leader) {
        return false;
    }
    match current.leader {
        None => true,
        Some(cur) => {
            (new.peer_epoch, new.zxid, new_leader) > (current.peer_epoch, current.zxid, cur)
        }
    }
}

/// `Vote.equals`: LOOKING votes must match entirely; votes of settled servers agree when
/// they name the same leader and epoch (servers that joined later differ in zxid and round).
fn same_vote(a: &Notification, b: &Notification) -> bool {
    if a.state == PeerState::Looking || b.state == PeerState::Looking {
        a.leader == b.leader
            && a.zxid == b.zxid
            && a.election_epoch == b.election_epoch
            && a.peer_epoch == b.peer_epoch
    } else {
        a.leader == b.leader && a.peer_epoch == b.peer_epoch
    }
}

/// The outcome of an election: whom to follow (or to lead, if it is this server) and the
/// vote this server keeps answering with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    pub leader: u64,
    pub vote: Vote,
    pub election_epoch: u64,
}

/// What a step asks the server to do.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Step {
    /// Notifications to send, by target server id.
    pub send: Vec<(u64, Notification)>,
    pub decided: Option<Decision>,
}

#[derive(Debug)]
pub struct Election {
    me: u64,
    /// This server's own vote when it started looking.
    init: Vote,
    pub logical_clock: u64,
    proposal: Vote,
    recv: BTreeMap<u64, Notification>,
    out_of_election: BTreeMap<u64, Notification>,
    notification_timeout: Duration,
    resend_at: Duration,
    finalize_wait: Duration,
    /// Set while waiting for a better vote after a quorum agreed.
    finalize_at: Option<Duration>,
}

impl Election {
    /// Starts a round: bumps the logical clock, proposes itself (voters) or nobody
    /// (observers) and broadcasts.
    #[allow(clippy::too_many_arguments)]
    pub fn start(
        me: u64,
        last_zxid: Zxid,
        current_epoch: u32,
        previous_clock: u64,
        quorum: &Quorum,
        finalize_wait: Duration,
        now: Duration,
    ) -> (Election, Step) {
        let init = if quorum.is_voter(me) {
            Vote {
                leader: Some(me),
                zxid: last_zxid,
                peer_epoch: current_epoch,
            }
        } else {
            Vote {
                leader: None,
                zxid: Zxid::MIN,
                peer_epoch: 0,
            }
        };
        let mut e = Election {
            me,
            init,
            logical_clock: previous_clock + 1,
            proposal: init,
            recv: BTreeMap::new(),
            out_of_election: BTreeMap::new(),
            notification_timeout: finalize_wait,
            resend_at: now + finalize_wait,
            finalize_wait,
            finalize_at: None,
        };
        let mut step = Step::default();
        e.broadcast(quorum, now, &mut step);
        (e, step)
    }

    /// The notification this server sends while looking.
    pub fn notification(&self) -> Notification {
        Notification {
            leader: self.proposal.leader,
            zxid: self.proposal.zxid,
            election_epoch: self.logical_clock,
            peer_epoch: self.proposal.peer_epoch,
            state: PeerState::Looking,
            sid: self.me,
        }
    }

    /// Sends the current proposal to every other voter; a voter's own vote counts at once
    /// (ZooKeeper delivers it to itself through the same queue).
    fn broadcast(&mut self, quorum: &Quorum, now: Duration, step: &mut Step) {
        let n = self.notification();
        for sid in quorum.voters() {
            if sid != self.me {
                step.send.push((sid, n));
            }
        }
        if quorum.is_voter(self.me) {
            self.recv.insert(self.me, n);
            self.check_looking_quorum(quorum, now);
        }
    }

    /// Starts the finalize wait once a quorum of this round agrees with the proposal.
    fn check_looking_quorum(&mut self, quorum: &Quorum, now: Duration) {
        let target = self.notification();
        let agree = self
            .recv
            .iter()
            .filter(|(_, v)| same_vote(v, &target))
            .map(|(s, _)| *s);
        if self.finalize_at.is_none() && quorum.contains_quorum(agree) {
            self.finalize_at = Some(now + self.finalize_wait);
        }
    }

    /// Handles a notification from another server.
    pub fn on_notification(&mut self, n: Notification, quorum: &Quorum, now: Duration) -> Step {
        let mut step = Step::default();
        // Any notification restarts the poll for the next one.
        self.resend_at = now + self.notification_timeout;
        if !quorum.is_voter(n.sid) || !n.leader.is_some_and(|l| quorum.is_voter(l)) {
            return step;
        }
        if self.finalize_at.is_some() {
            if better(&Vote::of(&n), &self.proposal, quorum) {
                // A better vote came in while finalizing: back to the main loop with it.
                self.finalize_at = None;
            } else {
                // Dropped, and the finalize poll starts over.
                self.finalize_at = Some(now + self.finalize_wait);
                return step;
            }
        }
        match n.state {
            PeerState::Looking => self.on_looking(n, quorum, now, &mut step),
            PeerState::Observing => {}
            PeerState::Following | PeerState::Leading => self.on_settled(n, quorum, &mut step),
        }
        step
    }

    fn on_looking(&mut self, n: Notification, quorum: &Quorum, now: Duration, step: &mut Step) {
        if n.election_epoch > self.logical_clock {
            self.logical_clock = n.election_epoch;
            self.recv.clear();
            self.proposal = if better(&Vote::of(&n), &self.init, quorum) {
                Vote::of(&n)
            } else {
                self.init
            };
            self.broadcast(quorum, now, step);
        } else if n.election_epoch < self.logical_clock {
            // A straggler from an older round: tell it where we are.
            step.send.push((n.sid, self.notification()));
            return;
        } else if better(&Vote::of(&n), &self.proposal, quorum) {
            self.proposal = Vote::of(&n);
            self.broadcast(quorum, now, step);
        }
        self.recv.insert(n.sid, n);
        self.check_looking_quorum(quorum, now);
    }

    fn on_settled(&mut self, n: Notification, quorum: &Quorum, step: &mut Step) {
        let Some(leader) = n.leader else { return };
        if n.election_epoch == self.logical_clock {
            self.recv.insert(n.sid, n);
            if self.agreed(&self.recv, &n, quorum)
                && self.leader_confirmed(&self.recv, leader, n.election_epoch)
            {
                step.decided = Some(self.decide_on(&n));
                return;
            }
        }
        self.out_of_election.insert(n.sid, n);
        if self.agreed(&self.out_of_election, &n, quorum)
            && self.leader_confirmed(&self.out_of_election, leader, n.election_epoch)
        {
            self.logical_clock = n.election_epoch;
            step.decided = Some(self.decide_on(&n));
        }
    }

    fn agreed(
        &self,
        votes: &BTreeMap<u64, Notification>,
        n: &Notification,
        quorum: &Quorum,
    ) -> bool {
        quorum.contains_quorum(
            votes
                .iter()
                .filter(|(_, v)| same_vote(v, n))
                .map(|(s, _)| *s),
        )
    }

    /// `checkLeader`: another server may be followed only once it says it leads; this server
    /// may lead on settled votes only of its own round.
    fn leader_confirmed(
        &self,
        votes: &BTreeMap<u64, Notification>,
        leader: u64,
        election_epoch: u64,
    ) -> bool {
        if leader != self.me {
            votes
                .get(&leader)
                .is_some_and(|v| v.state == PeerState::Leading)
        } else {
            self.logical_clock == election_epoch
        }
    }

    fn decide_on(&self, n: &Notification) -> Decision {
        Decision {
            leader: n.leader.unwrap_or(self.me),
            vote: Vote::of(n),
            election_epoch: n.election_epoch,
        }
    }

    /// When the next timer of this election is due.
    pub fn next_deadline(&self) -> Duration {
        match self.finalize_at {
            Some(at) => at,
            None => self.resend_at,
        }
    }

    /// Fires due timers: decides after a quiet finalize wait, re-broadcasts after a quiet
    /// notification timeout (doubling it).
    pub fn on_timer(&mut self, quorum: &Quorum, now: Duration) -> Step {
        let mut step = Step::default();
        if let Some(at) = self.finalize_at {
            if now >= at
                && let Some(leader) = self.proposal.leader
            {
                step.decided = Some(Decision {
                    leader,
                    vote: self.proposal,
                    election_epoch: self.logical_clock,
                });
            }
            return step;
        }
        if now >= self.resend_at {
            self.broadcast(quorum, now, &mut step);
            self.notification_timeout =
                (self.notification_timeout * 2).min(MAX_NOTIFICATION_INTERVAL);
            self.resend_at = now + self.notification_timeout;
        }
        step
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FW: Duration = Duration::from_millis(200);

    fn quorum() -> Quorum {
        crate::zk::server::config::ServerConfig::new(
            1,
            vec![
                (1, crate::sim::net::HostId(0)),
                (2, crate::sim::net::HostId(1)),
                (3, crate::sim::net::HostId(2)),
            ],
            vec![(4, crate::sim::net::HostId(3))],
            Duration::from_millis(2000),
            10,
            5,
        )
        .quorum()
    }

    fn looking(sid: u64, leader: u64, zxid: Zxid, epoch: u32, round: u64) -> Notification {
        Notification {
            leader: Some(leader),
            zxid,
            election_epoch: round,
            peer_epoch: epoch,
            state: PeerState::Looking,
            sid,
        }
    }

    #[test]
    fn votes_order_by_epoch_then_zxid_then_id() {
        let q = quorum();
        let v = |l, z, e| Vote {
            leader: Some(l),
            zxid: z,
            peer_epoch: e,
        };
        assert!(better(&v(1, 5, 2), &v(3, 9, 1), &q));
        assert!(better(&v(1, 9, 1), &v(3, 5, 1), &q));
        assert!(better(&v(3, 5, 1), &v(1, 5, 1), &q));
        assert!(
            !better(&v(4, 99, 9), &v(1, 0, 0), &q),
            "observers never win"
        );
    }

    #[test]
    fn decides_after_quorum_and_a_quiet_finalize_wait() {
        let q = quorum();
        let t0 = Duration::from_secs(1);
        let (mut e, step) = Election::start(1, 10, 1, 0, &q, FW, t0);
        assert_eq!(step.send.len(), 2);
        // Server 3 has the same history and a larger id: 1 adopts 3's vote.
        let s = e.on_notification(looking(3, 3, 10, 1, 1), &q, t0);
        assert_eq!(s.send.len(), 2);
        assert_eq!(e.notification().leader, Some(3));
        assert_eq!(e.next_deadline(), t0 + FW);
        assert!(
            e.on_timer(&q, t0 + FW - Duration::from_millis(1))
                .decided
                .is_none()
        );
        let d = e.on_timer(&q, t0 + FW).decided.expect("decided");
        assert_eq!(d.leader, 3);
        assert_eq!(d.election_epoch, 1);
    }

    #[test]
    fn a_better_vote_during_finalize_reopens_the_round() {
        let q = quorum();
        let t0 = Duration::ZERO;
        let (mut e, _) = Election::start(2, 10, 1, 0, &q, FW, t0);
        e.on_notification(looking(1, 2, 10, 1, 1), &q, t0);
        assert_eq!(e.next_deadline(), t0 + FW, "quorum {{1,2}} agrees on 2");
        let s = e.on_notification(looking(3, 3, 11, 1, 1), &q, t0 + Duration::from_millis(50));
        assert_eq!(e.notification().leader, Some(3));
        assert!(!s.send.is_empty());
        assert!(s.decided.is_none());
    }

    #[test]
    fn joins_an_established_leader_from_settled_votes() {
        let q = quorum();
        let t0 = Duration::ZERO;
        let (mut e, _) = Election::start(1, 0, 0, 0, &q, FW, t0);
        let mut leading = looking(3, 3, 50, 2, 7);
        leading.state = PeerState::Leading;
        let mut following = looking(2, 3, 40, 2, 6);
        following.state = PeerState::Following;
        assert!(e.on_notification(following, &q, t0).decided.is_none());
        let d = e.on_notification(leading, &q, t0).decided.expect("decided");
        assert_eq!(d.leader, 3);
        assert_eq!(e.logical_clock, 7);
    }

    #[test]
    fn an_observer_follows_the_voters_and_resends_with_backoff() {
        let q = quorum();
        let t0 = Duration::ZERO;
        let (mut e, step) = Election::start(4, 0, 0, 0, &q, FW, t0);
        assert_eq!(step.send.len(), 3);
        assert_eq!(e.notification().leader, None);
        let s = e.on_timer(&q, t0 + FW);
        assert_eq!(s.send.len(), 3);
        assert_eq!(e.next_deadline(), t0 + FW + FW * 2);
        e.on_notification(looking(1, 3, 9, 1, 1), &q, t0 + FW);
        e.on_notification(looking(3, 3, 9, 1, 1), &q, t0 + FW);
        let d = e.on_timer(&q, t0 + FW * 2).decided.expect("decided");
        assert_eq!(d.leader, 3);
    }
}

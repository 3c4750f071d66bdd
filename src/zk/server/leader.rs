//! The leading role (ZooKeeper's `Leader` with its `LearnerHandler`s and the leader's request
//! processors).
//!
//! Establishment: learners connect and report their accepted epoch; once a quorum of voters
//! is connected the new epoch is max + 1; after a quorum of ACKEPOCHs every learner is synced
//! (DIFF of missing txns, TRUNC of extra ones, or SNAP), sent the proposals in flight and
//! NEWLEADER; a quorum of NEWLEADER acks establishes the leader, which then sends UPTODATE
//! and starts serving. Each phase must finish within initLimit ticks.
//!
//! Broadcast: requests become txns, logged and proposed to followers; a quorum of acks
//! commits them in zxid order (observers get INFORM). Every tickTime/2 the leader pings its
//! learners; every tick it checks that a quorum of voters was heard within syncLimit ticks,
//! or abdicates. It alone expires sessions and reaps containers.

use crate::coverage::Point;
use crate::sim::world::HostStatus;
use crate::zk::peer::{ForwardedRequest, Origin, Outcome, RequestKind, SyncData, ZabMsg};
use crate::zk::server::connections::{Completion, ToLeader};
use crate::zk::server::sessions::SessionTracker;
use crate::zk::server::sync::{self, SyncPlan};
use crate::zk::server::{Leave, Node};
use crate::zk::tree::{Txn, TxnKind};
use crate::zk::types::{ErrorCode, SessionId, Zxid, make_zxid};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

/// Committed txns the leader keeps for DIFF syncs (ZooKeeper's `commitLogCount`).
pub const COMMITTED_LOG_MAX: usize = 500;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    /// Waiting for a quorum of voters to connect (`getEpochToPropose`).
    Gathering,
    /// Waiting for a quorum of ACKEPOCHs (`waitForEpochAck`).
    EpochAcks,
    /// Waiting for a quorum of NEWLEADER acks (`waitForNewLeaderAck`).
    NewLeaderAcks,
    Established,
}

/// How far one learner connection has come.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Stage {
    /// Sent its info; waits for the epoch.
    Connected,
    EpochAcked,
    /// Sync data and NEWLEADER sent; it receives proposals and commits from now on.
    Syncing,
    /// Acknowledged NEWLEADER; waits for UPTODATE.
    Synced,
    Active,
}

#[derive(Debug)]
struct Handler {
    conn: u64,
    observer: bool,
    stage: Stage,
    /// The tick by which this learner must be heard again (`tickOfNextAckDeadline`).
    ack_deadline: u64,
    /// The socket read timeout: silent until then, the connection is dropped (initLimit
    /// ticks until it acks NEWLEADER, syncLimit ticks after).
    read_deadline: Duration,
    last_zxid: Zxid,
}

#[derive(Debug)]
struct Outstanding {
    txn: Txn,
    origin: Option<Origin>,
    acks: BTreeSet<u64>,
    /// Sync requests answered when this proposal commits.
    syncs: Vec<Origin>,
}

#[derive(Debug)]
pub struct Leader {
    me: u64,
    phase: Phase,
    phase_deadline: Duration,
    /// (current epoch, last zxid) when leading began: no voter may be ahead of it.
    summary: (u32, Zxid),
    epoch: u32,
    handlers: BTreeMap<u64, Handler>,
    /// Accepted epochs of the servers connected while gathering, this one included.
    gathered: BTreeMap<u64, u32>,
    epoch_acks: BTreeSet<u64>,
    new_leader_acks: BTreeSet<u64>,
    next_counter: u32,
    outstanding: BTreeMap<Zxid, Outstanding>,
    history: VecDeque<Txn>,
    tracker: SessionTracker,
    next_ping: Duration,
    half_ticks: u64,
    /// The leader's tick counter: +1 every tickTime of its clock, missed ticks not replayed
    /// (so a clock jump counts as one tick, as ZooKeeper's `wait(tickTime / 2)` loop does).
    tick: u64,
    next_container_check: Duration,
    containers_in_flight: BTreeSet<String>,
}

impl Leader {
    pub fn new(node: &mut Node, now: Duration) -> Leader {
        let last = node.db.last_zxid();
        let me = node.cfg.id;
        let mut gathered = BTreeMap::new();
        gathered.insert(me, node.storage.accepted_epoch());
        node.trace(format_args!(
            "leading: gathering followers, last zxid {last:#x}"
        ));
        Leader {
            me,
            phase: Phase::Gathering,
            phase_deadline: now + node.tick() * node.cfg.init_limit,
            summary: (node.storage.current_epoch(), last),
            epoch: 0,
            handlers: BTreeMap::new(),
            gathered,
            epoch_acks: BTreeSet::new(),
            new_leader_acks: BTreeSet::new(),
            next_counter: 1,
            outstanding: BTreeMap::new(),
            history: node.storage.tail(last, COMMITTED_LOG_MAX).into(),
            tracker: SessionTracker::new(node.tick()),
            next_ping: now + node.tick() / 2,
            half_ticks: 0,
            tick: 0,
            next_container_check: now + node.cfg.container_check_interval,
            containers_in_flight: BTreeSet::new(),
        }
    }

    pub fn next_deadline(&self) -> Duration {
        let mut at = self.next_ping;
        if self.phase != Phase::Established {
            at = at.min(self.phase_deadline);
        } else {
            at = at.min(self.next_container_check);
            if let Some(e) = self.tracker.next_expiration() {
                at = at.min(e);
            }
        }
        at
    }

    fn send(&self, node: &Node, sid: u64, msg: ZabMsg) {
        if let Some(h) = self.handlers.get(&sid) {
            node.send_zab(sid, h.conn, msg);
        }
    }

    /// Moves through the establishment phases as far as the quorums allow.
    pub fn progress(&mut self, node: &mut Node, now: Duration) {
        let init = node.tick() * node.cfg.init_limit;
        if self.phase == Phase::Gathering
            && node.quorum.contains_quorum(self.gathered.keys().copied())
        {
            self.epoch = self.gathered.values().copied().max().unwrap_or(0) + 1;
            node.storage.set_accepted_epoch(self.epoch);
            self.phase = Phase::EpochAcks;
            self.phase_deadline = now + init;
            self.epoch_acks.insert(self.me);
            let waiting: Vec<u64> = self.sids_at(Stage::Connected);
            for sid in waiting {
                self.send(node, sid, ZabMsg::LeaderInfo { epoch: self.epoch });
            }
        }
        if self.phase == Phase::EpochAcks
            && node.quorum.contains_quorum(self.epoch_acks.iter().copied())
        {
            node.storage.set_current_epoch(self.epoch);
            self.phase = Phase::NewLeaderAcks;
            self.phase_deadline = now + init;
            self.new_leader_acks.insert(self.me);
            for sid in self.sids_at(Stage::EpochAcked) {
                self.sync_learner(node, sid);
            }
        }
        if self.phase == Phase::NewLeaderAcks
            && node
                .quorum
                .contains_quorum(self.new_leader_acks.iter().copied())
        {
            self.establish(node, now);
        }
    }

    fn sids_at(&self, stage: Stage) -> Vec<u64> {
        self.handlers
            .iter()
            .filter(|(_, h)| h.stage == stage)
            .map(|(s, _)| *s)
            .collect()
    }

    fn establish(&mut self, node: &mut Node, now: Duration) {
        self.phase = Phase::Established;
        // Every session starts afresh under a new leader.
        for (&id, &timeout) in &node.db.sessions {
            self.tracker.add(id, timeout, None, now);
        }
        for sid in self.sids_at(Stage::Synced) {
            self.send(node, sid, ZabMsg::UpToDate);
            if let Some(h) = self.handlers.get_mut(&sid) {
                h.stage = Stage::Active;
            }
        }
        node.serving = true;
        let world = &node.ctx.world;
        // Not the ensemble's first leader, and the pairs' nodes stand without a master.
        if world.metric("zk.leader_changes") > 0 && world.standby_without_master() {
            world.reach(Point::ZkLeaderChangeNoMaster);
        }
        world.set_role(node.ctx.host, "leading");
        world.count("zk.leader_changes", 1);
        let followers: Vec<u64> = self.new_leader_acks.iter().copied().collect();
        node.trace(format_args!(
            "leader established: epoch {}, quorum {:?}, {} sessions restarted",
            self.epoch,
            followers,
            node.db.sessions.len()
        ));
    }

    /// DIFF, TRUNC or SNAP, then the proposals in flight, then NEWLEADER.
    fn sync_learner(&mut self, node: &mut Node, sid: u64) {
        let Some(h) = self.handlers.get(&sid) else {
            return;
        };
        let (peer, observer) = (h.last_zxid, h.observer);
        let last = node.db.last_zxid();
        let data = match sync::plan(&self.history, last, peer) {
            SyncPlan::Diff(txns) => SyncData::Diff(txns),
            SyncPlan::Trunc { to, then } => SyncData::Trunc { to, then },
            SyncPlan::Snap => SyncData::Snap(node.db.snapshot()),
        };
        let kind = match &data {
            SyncData::Diff(t) => format!("DIFF of {} txns", t.len()),
            SyncData::Trunc { to, then } => format!("TRUNC to {to:#x} + {} txns", then.len()),
            SyncData::Snap(_) => format!("SNAP at {last:#x}"),
        };
        node.trace(format_args!("syncing server {sid} from {peer:#x}: {kind}"));
        self.send(node, sid, ZabMsg::Sync(data));
        if !observer {
            for p in self.outstanding.values() {
                self.send(
                    node,
                    sid,
                    ZabMsg::Proposal {
                        txn: p.txn.clone(),
                        origin: p.origin,
                    },
                );
            }
        }
        self.send(
            node,
            sid,
            ZabMsg::NewLeader {
                zxid: make_zxid(self.epoch, 0),
            },
        );
        if let Some(h) = self.handlers.get_mut(&sid) {
            h.stage = Stage::Syncing;
        }
    }

    pub fn on_zab(
        &mut self,
        node: &mut Node,
        sid: u64,
        conn: u64,
        msg: ZabMsg,
        now: Duration,
    ) -> Result<(), Leave> {
        if let ZabMsg::LearnerInfo { accepted_epoch, .. } = msg {
            self.on_learner_info(node, sid, conn, accepted_epoch, now);
            return Ok(());
        }
        let Some(h) = self.handlers.get_mut(&sid).filter(|h| h.conn == conn) else {
            return Ok(());
        };
        h.ack_deadline = self.tick + node.cfg.sync_limit as u64;
        let limit = if h.stage >= Stage::Synced {
            node.cfg.sync_limit
        } else {
            node.cfg.init_limit
        };
        h.read_deadline = now + node.tick() * limit;
        match msg {
            ZabMsg::AckEpoch {
                current_epoch,
                last_zxid,
            } if h.stage == Stage::Connected && self.phase > Phase::Gathering => {
                if self.phase == Phase::EpochAcks
                    && !h.observer
                    && current_epoch.is_some_and(|e| (e, last_zxid) > self.summary)
                {
                    // A voter is more recent than this leader: the election went wrong.
                    node.trace(format_args!(
                        "server {sid} is ahead of the leader ({current_epoch:?}, {last_zxid:#x}): dropping it"
                    ));
                    node.send_zab(sid, conn, ZabMsg::Close);
                    self.handlers.remove(&sid);
                    return Ok(());
                }
                h.stage = Stage::EpochAcked;
                h.last_zxid = last_zxid;
                let observer = h.observer;
                if self.phase == Phase::EpochAcks {
                    if !observer && current_epoch.is_some() {
                        self.epoch_acks.insert(sid);
                    }
                    self.progress(node, now);
                } else {
                    self.sync_learner(node, sid);
                }
            }
            ZabMsg::Ack { zxid }
                if zxid == make_zxid(self.epoch, 0) && h.stage == Stage::Syncing =>
            {
                h.stage = Stage::Synced;
                let observer = h.observer;
                if self.phase == Phase::Established {
                    self.send(node, sid, ZabMsg::UpToDate);
                    if let Some(h) = self.handlers.get_mut(&sid) {
                        h.stage = Stage::Active;
                    }
                } else if self.phase == Phase::NewLeaderAcks {
                    if !observer {
                        self.new_leader_acks.insert(sid);
                    }
                    self.progress(node, now);
                }
            }
            ZabMsg::Ack { zxid } if h.stage >= Stage::Syncing && !h.observer => {
                if let Some(p) = self.outstanding.get_mut(&zxid) {
                    p.acks.insert(sid);
                    self.try_commit(node);
                }
            }
            ZabMsg::PingReply { touches } if self.phase == Phase::Established => {
                for (session, _) in touches {
                    self.tracker.touch(session, now);
                }
            }
            ZabMsg::Request(req) if h.stage == Stage::Active => self.on_request(node, req, now),
            ZabMsg::Close => {
                self.handlers.remove(&sid);
            }
            _ => {}
        }
        Ok(())
    }

    fn on_learner_info(
        &mut self,
        node: &mut Node,
        sid: u64,
        conn: u64,
        accepted_epoch: u32,
        now: Duration,
    ) {
        if self.handlers.get(&sid).is_some_and(|h| h.conn == conn) {
            // A retried hello of a connection already here.
            return;
        }
        let observer = !node.quorum.is_voter(sid);
        self.handlers.insert(
            sid,
            Handler {
                conn,
                observer,
                stage: Stage::Connected,
                ack_deadline: self.tick + (node.cfg.init_limit + node.cfg.sync_limit) as u64,
                read_deadline: now + node.tick() * node.cfg.init_limit,
                last_zxid: 0,
            },
        );
        if self.phase == Phase::Gathering {
            self.gathered.insert(sid, accepted_epoch);
            self.progress(node, now);
        } else {
            self.send(node, sid, ZabMsg::LeaderInfo { epoch: self.epoch });
        }
    }

    /// The process of a learner died: its connection is gone.
    pub fn peer_reset(&mut self, _node: &Node, sid: u64) {
        self.handlers.remove(&sid);
    }

    /// Requests and touches of this server's own clients.
    pub fn from_local(&mut self, node: &mut Node, item: ToLeader) {
        if self.phase != Phase::Established {
            return;
        }
        let now = node.now();
        match item {
            ToLeader::Request {
                origin,
                session,
                kind,
            } => self.on_request(
                node,
                ForwardedRequest {
                    origin,
                    session,
                    kind,
                },
                now,
            ),
            ToLeader::Touch { session, .. } => {
                self.tracker.touch(session, now);
            }
        }
    }

    fn on_request(&mut self, node: &mut Node, req: ForwardedRequest, now: Duration) {
        if self.phase != Phase::Established {
            return;
        }
        let ForwardedRequest {
            origin,
            session,
            kind,
        } = req;
        let owner = origin.server;
        match kind {
            RequestKind::CreateSession { timeout_ms } => {
                self.tracker.add(session, timeout_ms, Some(owner), now);
                self.propose(
                    node,
                    session,
                    TxnKind::CreateSession { timeout_ms },
                    Some(origin),
                );
            }
            RequestKind::Revalidate { timeout_ms } => {
                let valid = self.tracker.revalidate(session, timeout_ms, owner, now);
                if !valid {
                    node.ctx.world.reach(Point::ZkClientExpiredOnReconnect);
                }
                self.answer(node, origin, Outcome::Revalidated { valid });
            }
            RequestKind::CloseSession => {
                self.tracker.set_closing(session);
                self.propose(node, session, TxnKind::CloseSession, Some(origin));
            }
            RequestKind::Write { auth, op } => match self.tracker.check(session, owner) {
                Ok(()) => self.propose(node, session, TxnKind::Write { auth, op }, Some(origin)),
                Err(err) => {
                    if err == ErrorCode::SessionMoved {
                        node.ctx.world.reach(Point::ZkSessionMoved);
                    }
                    self.answer(node, origin, Outcome::Rejected(err))
                }
            },
            RequestKind::Sync => match self.outstanding.values_mut().next_back() {
                Some(last) => last.syncs.push(origin),
                None => self.answer(node, origin, Outcome::Synced),
            },
        }
    }

    /// A direct answer to the server a request came from.
    fn answer(&self, node: &mut Node, origin: Origin, outcome: Outcome) {
        if origin.server == self.me {
            node.complete(&origin, Completion::Leader(outcome));
        } else {
            self.send(node, origin.server, ZabMsg::RequestDone { origin, outcome });
        }
    }

    fn propose(
        &mut self,
        node: &mut Node,
        session: SessionId,
        kind: TxnKind,
        origin: Option<Origin>,
    ) {
        use crate::env::Environment;
        let zxid = make_zxid(self.epoch, self.next_counter);
        self.next_counter = self.next_counter.wrapping_add(1);
        let txn = Txn {
            zxid,
            time_ms: node.ctx.env.wall_millis(),
            session,
            kind,
        };
        node.storage.append(&txn);
        for (&sid, h) in &self.handlers {
            if !h.observer && h.stage >= Stage::Syncing {
                node.send_zab(
                    sid,
                    h.conn,
                    ZabMsg::Proposal {
                        txn: txn.clone(),
                        origin,
                    },
                );
            }
        }
        let mut acks = BTreeSet::new();
        acks.insert(self.me);
        self.outstanding.insert(
            zxid,
            Outstanding {
                txn,
                origin,
                acks,
                syncs: Vec::new(),
            },
        );
        self.try_commit(node);
    }

    /// Commits proposals in zxid order while the oldest has a quorum of acks.
    fn try_commit(&mut self, node: &mut Node) {
        while let Some(entry) = self.outstanding.first_entry() {
            if !node
                .quorum
                .contains_quorum(entry.get().acks.iter().copied())
            {
                return;
            }
            let p = entry.remove();
            self.commit(node, p);
        }
    }

    fn commit(&mut self, node: &mut Node, p: Outstanding) {
        let Outstanding {
            txn, origin, syncs, ..
        } = p;
        for (&sid, h) in &self.handlers {
            if h.stage < Stage::Syncing {
                continue;
            }
            let msg = if h.observer {
                ZabMsg::Inform {
                    txn: txn.clone(),
                    origin,
                }
            } else {
                ZabMsg::Commit { zxid: txn.zxid }
            };
            node.send_zab(sid, h.conn, msg);
        }
        node.apply_committed(&txn, origin.as_ref());
        match &txn.kind {
            TxnKind::CreateSession { timeout_ms } => {
                node.ctx.world.count("zk.sessions_created", 1);
                node.trace(format_args!(
                    "session {:#x} created, timeout {timeout_ms} ms",
                    txn.session
                ));
            }
            TxnKind::CloseSession => {
                self.tracker.remove(txn.session);
                node.trace(format_args!(
                    "session {:#x} closed at {:#x}",
                    txn.session, txn.zxid
                ));
            }
            TxnKind::DeleteContainer { path } => {
                self.containers_in_flight.remove(path);
            }
            TxnKind::Write { .. } => {}
        }
        self.history.push_back(txn);
        if self.history.len() > COMMITTED_LOG_MAX {
            self.history.pop_front();
        }
        for origin in syncs {
            self.answer(node, origin, Outcome::Synced);
        }
        node.storage.maybe_snapshot(&node.db);
    }

    pub fn on_timer(&mut self, node: &mut Node, now: Duration) -> Result<(), Leave> {
        if now >= self.next_ping {
            let half = node.tick() / 2;
            self.next_ping = if now > self.next_ping + half {
                now + half
            } else {
                self.next_ping + half
            };
            self.half_ticks += 1;
            let full_tick = self.half_ticks.is_multiple_of(2);
            if full_tick {
                self.tick += 1;
            }
            // ZooKeeper's ping loop starts once the leader is established.
            if self.phase == Phase::Established {
                for (&sid, h) in &self.handlers {
                    if h.stage >= Stage::Syncing {
                        node.send_zab(sid, h.conn, ZabMsg::Ping);
                    }
                }
            }
            self.drop_silent_learners(node, now);
            if full_tick && self.phase == Phase::Established {
                self.check_quorum(node)?;
            }
        }
        if self.phase != Phase::Established {
            if now >= self.phase_deadline {
                return Err(Leave(format!(
                    "leader gave up: no quorum within initLimit ({:?} phase)",
                    self.phase
                )));
            }
            return Ok(());
        }
        if self.tracker.next_expiration().is_some_and(|at| now >= at) {
            for session in self.tracker.take_expired(now) {
                node.ctx.world.count("zk.sessions_expired", 1);
                reach_expiry(node, session);
                node.trace(format_args!("session {session:#x} expired"));
                self.propose(node, session, TxnKind::CloseSession, None);
            }
        }
        if now >= self.next_container_check {
            self.next_container_check = now + node.cfg.container_check_interval;
            for path in node.db.tree.empty_containers() {
                if self.containers_in_flight.insert(path.clone()) {
                    self.propose(node, 0, TxnKind::DeleteContainer { path }, None);
                }
            }
        }
        Ok(())
    }

    /// Closes the connections of learners silent past their read timeout.
    fn drop_silent_learners(&mut self, node: &Node, now: Duration) {
        let silent: Vec<u64> = self
            .handlers
            .iter()
            .filter(|(_, h)| now >= h.read_deadline)
            .map(|(s, _)| *s)
            .collect();
        for sid in silent {
            node.trace(format_args!(
                "dropping server {sid}: nothing heard within its read timeout"
            ));
            self.send(node, sid, ZabMsg::Close);
            self.handlers.remove(&sid);
        }
    }

    /// Abdicates unless a quorum of voters was heard within syncLimit ticks.
    fn check_quorum(&self, node: &Node) -> Result<(), Leave> {
        let synced: Vec<u64> = std::iter::once(self.me)
            .chain(
                self.handlers
                    .iter()
                    .filter(|(_, h)| !h.observer && self.tick <= h.ack_deadline)
                    .map(|(s, _)| *s),
            )
            .collect();
        if node.quorum.contains_quorum(synced.iter().copied()) {
            Ok(())
        } else {
            node.ctx.world.reach(Point::ZkLeaderLostQuorum);
            node.trace(format_args!(
                "abdicating: only {synced:?} heard within syncLimit"
            ));
            Err(Leave(format!(
                "not sufficient followers synced, only {synced:?}"
            )))
        }
    }

    /// Leaving the role: every learner's connection is closed.
    pub fn shutdown(&mut self, node: &Node) {
        for (&sid, h) in &self.handlers {
            node.send_zab(sid, h.conn, ZabMsg::Close);
        }
        self.handlers.clear();
    }
}

/// Coverage of a session's expiry: whether it was a master's, and whether that master was
/// paused (it resumes believing it is master).
fn reach_expiry(node: &Node, session: SessionId) {
    let world = &node.ctx.world;
    let Some(host) = world.session_host(session) else {
        return;
    };
    if world.acts_as_master(host) {
        world.reach(Point::ZkMasterSessionExpired);
        if world.status(host) == HostStatus::Paused {
            world.reach(Point::ZkMasterSessionExpiredPaused);
        }
    }
}

//! The following and observing roles (ZooKeeper's `Learner`, `Follower`, `Observer`).
//!
//! A learner introduces itself with its accepted epoch, accepts the leader's new epoch,
//! reports its history, applies the sync (DIFF/TRUNC/SNAP), logs the proposals in flight at
//! NEWLEADER (adopting the new epoch) and starts serving at UPTODATE. Then it logs and acks
//! proposals, applies commits in order (observers apply INFORMs), answers pings with the
//! sessions its clients touched, and forwards its clients' writes. It gives up — back to
//! looking — when the leader closes the connection, its process dies, or nothing arrives for
//! initLimit ticks while syncing / syncLimit ticks after.

use crate::coverage::Point;
use crate::zk::peer::{ForwardedRequest, Origin, SyncData, ZabMsg};
use crate::zk::server::connections::{Completion, ToLeader};
use crate::zk::server::database::Database;
use crate::zk::server::{Leave, Node};
use crate::zk::tree::Txn;
use crate::zk::types::{SessionId, zxid_epoch};
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

/// Pause between connection attempts to the leader (`leaderConnectDelayDuringRetryMs`).
const CONNECT_RETRY: Duration = Duration::from_millis(100);
/// Refused connection attempts before giving up on a leader (`connectToLeader`'s 5 tries).
const CONNECT_TRIES: u32 = 5;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Stage {
    /// Sent LearnerInfo; waits for the epoch.
    Connecting,
    /// Sent ACKEPOCH; receives the sync until NEWLEADER.
    Syncing,
    /// Acked NEWLEADER; waits for UPTODATE.
    Synced,
    Serving,
}

#[derive(Debug)]
pub struct Learner {
    leader: u64,
    conn: u64,
    observer: bool,
    stage: Stage,
    epoch: u32,
    /// Nothing from the leader by then → give up.
    deadline: Duration,
    /// While connecting: when to say hello again after a refusal.
    next_hello: Option<Duration>,
    refusals: u32,
    /// Proposals received during the sync, logged at NEWLEADER.
    unlogged: VecDeque<(Txn, Option<Origin>)>,
    /// Logged proposals waiting for their commit, in zxid order.
    pending: VecDeque<(Txn, Option<Origin>)>,
    /// Sessions touched by this server's clients since the last ping, with their timeouts.
    touches: BTreeMap<SessionId, u32>,
}

impl Learner {
    pub fn new(node: &Node, leader: u64, conn: u64, observer: bool, now: Duration) -> Learner {
        let learner = Learner {
            leader,
            conn,
            observer,
            stage: Stage::Connecting,
            epoch: 0,
            deadline: now + node.tick() * node.cfg.init_limit,
            next_hello: None,
            refusals: 0,
            unlogged: VecDeque::new(),
            pending: VecDeque::new(),
            touches: BTreeMap::new(),
        };
        learner.hello(node);
        learner
    }

    fn hello(&self, node: &Node) {
        self.send(
            node,
            ZabMsg::LearnerInfo {
                sid: node.cfg.id,
                observer: self.observer,
                accepted_epoch: node.storage.accepted_epoch(),
            },
        );
    }

    pub fn is_observer(&self) -> bool {
        self.observer
    }

    pub fn next_deadline(&self) -> Duration {
        match self.next_hello {
            Some(at) => self.deadline.min(at),
            None => self.deadline,
        }
    }

    fn send(&self, node: &Node, msg: ZabMsg) {
        node.send_zab(self.leader, self.conn, msg);
    }

    pub fn on_timer(&mut self, node: &mut Node, now: Duration) -> Result<(), Leave> {
        if self.next_hello.is_some_and(|at| now >= at) {
            self.next_hello = None;
            self.hello(node);
        }
        if now >= self.deadline {
            let limit = if self.stage >= Stage::Synced {
                node.cfg.sync_limit
            } else {
                node.cfg.init_limit
            };
            if self.stage >= Stage::Synced && !self.observer {
                node.ctx.world.reach(Point::ZkFollowerLostLeader);
            }
            return Err(Leave(format!(
                "nothing from leader {} within {limit} ticks",
                self.leader
            )));
        }
        Ok(())
    }

    /// The leader's process died.
    pub fn peer_reset(&mut self, sid: u64) -> Result<(), Leave> {
        if sid == self.leader {
            return Err(Leave(format!("connection to leader {sid} reset")));
        }
        Ok(())
    }

    pub fn on_zab(
        &mut self,
        node: &mut Node,
        sid: u64,
        conn: u64,
        msg: ZabMsg,
        now: Duration,
    ) -> Result<(), Leave> {
        if sid != self.leader || conn != self.conn {
            return Ok(());
        }
        let limit = if self.stage >= Stage::Synced {
            node.cfg.sync_limit
        } else {
            node.cfg.init_limit
        };
        self.deadline = now + node.tick() * limit;
        match msg {
            ZabMsg::LeaderInfo { epoch } if self.stage == Stage::Connecting => {
                let accepted = node.storage.accepted_epoch();
                if epoch < accepted {
                    return Err(Leave(format!(
                        "leader's epoch {epoch} is less than our accepted epoch {accepted}"
                    )));
                }
                let current_epoch = if epoch > accepted {
                    node.storage.set_accepted_epoch(epoch);
                    Some(node.storage.current_epoch())
                } else {
                    None
                };
                self.epoch = epoch;
                self.stage = Stage::Syncing;
                self.send(
                    node,
                    ZabMsg::AckEpoch {
                        current_epoch,
                        last_zxid: node.db.last_zxid(),
                    },
                );
            }
            ZabMsg::Sync(data) if self.stage == Stage::Syncing => self.apply_sync(node, data)?,
            ZabMsg::Proposal { txn, origin } if !self.observer => {
                if self.stage == Stage::Syncing {
                    self.unlogged.push_back((txn, origin));
                } else if self.stage >= Stage::Synced {
                    let zxid = txn.zxid;
                    if zxid <= self.last_accepted(node) {
                        return Ok(());
                    }
                    node.storage.append(&txn);
                    self.pending.push_back((txn, origin));
                    self.send(node, ZabMsg::Ack { zxid });
                }
            }
            ZabMsg::Commit { zxid } if !self.observer && self.stage >= Stage::Syncing => {
                self.commit(node, zxid)?;
            }
            ZabMsg::Inform { txn, origin }
                if self.observer
                    && self.stage >= Stage::Syncing
                    && txn.zxid > node.db.last_zxid() =>
            {
                node.storage.append(&txn);
                node.apply_committed(&txn, origin.as_ref());
                self.after_apply(node);
            }
            ZabMsg::NewLeader { zxid } if self.stage == Stage::Syncing => {
                node.storage.set_current_epoch(zxid_epoch(zxid));
                let proposals: Vec<(Txn, Option<Origin>)> = self.unlogged.drain(..).collect();
                for (txn, _) in &proposals {
                    node.storage.append(txn);
                }
                self.stage = Stage::Synced;
                self.deadline = now + node.tick() * node.cfg.sync_limit;
                self.send(node, ZabMsg::Ack { zxid });
                for (txn, origin) in proposals {
                    self.send(node, ZabMsg::Ack { zxid: txn.zxid });
                    self.pending.push_back((txn, origin));
                }
            }
            ZabMsg::UpToDate if self.stage == Stage::Synced => {
                self.stage = Stage::Serving;
                node.serving = true;
                let role = if self.observer {
                    "observing"
                } else {
                    "following"
                };
                node.ctx.world.set_role(node.ctx.host, role);
                node.trace(format_args!(
                    "{role} leader {} in epoch {}, last zxid {:#x}",
                    self.leader,
                    self.epoch,
                    node.db.last_zxid()
                ));
            }
            ZabMsg::Ping => {
                let touches: Vec<(SessionId, u32)> =
                    std::mem::take(&mut self.touches).into_iter().collect();
                self.send(node, ZabMsg::PingReply { touches });
            }
            ZabMsg::RequestDone { origin, outcome } => {
                node.complete(&origin, Completion::Leader(outcome));
            }
            ZabMsg::Close if self.stage == Stage::Connecting => {
                self.refusals += 1;
                if self.refusals >= CONNECT_TRIES {
                    return Err(Leave(format!(
                        "leader {} refused {CONNECT_TRIES} connection attempts",
                        self.leader
                    )));
                }
                self.next_hello = Some(now + CONNECT_RETRY);
            }
            ZabMsg::Close => {
                return Err(Leave(format!(
                    "leader {} closed the connection",
                    self.leader
                )));
            }
            _ => {}
        }
        Ok(())
    }

    fn last_accepted(&self, node: &Node) -> i64 {
        self.pending
            .back()
            .map_or_else(|| node.db.last_zxid(), |(t, _)| t.zxid)
    }

    fn apply_sync(&mut self, node: &mut Node, data: SyncData) -> Result<(), Leave> {
        let reloaded = !matches!(data, SyncData::Diff(_));
        let txns = match data {
            SyncData::Diff(txns) => txns,
            SyncData::Trunc { to, then } => {
                node.ctx.world.reach(Point::ZkLearnerTruncated);
                node.storage
                    .truncate(to)
                    .map_err(|e| Leave(format!("sync failed: {e}")))?;
                node.db = node.storage.load();
                then
            }
            SyncData::Snap(snapshot) => {
                node.db = Database::from_snapshot(&snapshot);
                node.storage.install_snapshot(snapshot);
                Vec::new()
            }
        };
        if reloaded {
            node.init_config();
        }
        for txn in &txns {
            if txn.zxid > node.db.last_zxid() {
                node.storage.append(txn);
                node.db.apply(txn);
            }
        }
        Ok(())
    }

    /// Applies the next proposal, which must be the one committed.
    fn commit(&mut self, node: &mut Node, zxid: i64) -> Result<(), Leave> {
        let queue = if self.unlogged.front().is_some_and(|(t, _)| t.zxid == zxid) {
            &mut self.unlogged
        } else if self.pending.front().is_some_and(|(t, _)| t.zxid == zxid) {
            &mut self.pending
        } else if zxid <= node.db.last_zxid() {
            return Ok(());
        } else {
            return Err(Leave(format!(
                "commit of {zxid:#x} does not match the next proposal"
            )));
        };
        let Some((txn, origin)) = queue.pop_front() else {
            return Ok(());
        };
        node.storage.append(&txn);
        node.apply_committed(&txn, origin.as_ref());
        self.after_apply(node);
        Ok(())
    }

    fn after_apply(&self, node: &mut Node) {
        if self.stage == Stage::Serving {
            node.storage.maybe_snapshot(&node.db);
        }
    }

    /// Requests and touches of this server's clients.
    pub fn from_local(&mut self, node: &Node, item: ToLeader) {
        match item {
            ToLeader::Request {
                origin,
                session,
                kind,
            } => {
                if self.stage == Stage::Serving {
                    self.send(
                        node,
                        ZabMsg::Request(ForwardedRequest {
                            origin,
                            session,
                            kind,
                        }),
                    );
                }
            }
            ToLeader::Touch {
                session,
                timeout_ms,
            } => {
                self.touches.insert(session, timeout_ms);
            }
        }
    }

    /// Leaving the role: the connection to the leader is closed.
    pub fn shutdown(&mut self, node: &Node) {
        self.send(node, ZabMsg::Close);
    }
}

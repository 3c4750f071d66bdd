//! The simulated ZooKeeper 3.8 server process: leader election, Zab sync and broadcast,
//! sessions and client connections.
//!
//! One task per server owns all of its state and reacts to three things: packets on the
//! quorum port, packets on the client port, and its own timers on the host's clock. That
//! keeps every step deterministic and cheap. The server is always in one role — looking
//! (FastLeaderElection), leading, or learning (following/observing) — and every way out of
//! leading or learning goes back to looking, closing all client connections on the way
//! (ZooKeeper shuts its request pipeline down when it loses the quorum).
//!
//! Modules: [`config`] (zoo.cfg, quorums), [`election`] (FastLeaderElection), [`leader`] and
//! [`learner`] (Zab), [`sync`] (DIFF/TRUNC/SNAP planning), [`sessions`] (the leader's expiry
//! queue), [`connections`] (clients), [`database`] (tree + session table), [`disk`] (what
//! survives a crash). A server answers `PeerMsg::Probe` on its quorum port with its state,
//! epoch, last zxid and digest, for tests and checkers.
//!
//! Modelling choices where the simulation differs from ZooKeeper 3.8:
//! - One quorum port carries election and Zab; a learner's connection is a number it picks,
//!   and a hello to a server that does not lead is refused (5 tries, 100 ms apart). A hello
//!   to a dead or unreachable leader goes unanswered until initLimit, as a connect timeout.
//! - The leader proposes writes without pre-validating them (the tree validates at apply).
//!   Writes on an unknown/closing session (`SessionExpired`) or from a server that no longer
//!   owns the session (`SessionMoved`) are answered by the leader directly, without the error
//!   txn ZooKeeper would log.
//! - Observers being synced get the proposals in flight as INFORMs when they commit, not as
//!   PROPOSAL packets during the sync.
//! - DIFF syncs come from the leader's last 500 committed txns only (no sync from the txn log
//!   files); older learners get a SNAP. Snapshots are taken every 5 000 logged txns.
//! - The session password is a fixed function of the session id. Client hosts connect from
//!   synthetic addresses 10.0.x.y (their `ip` auth id). maxClientCnxns is not enforced (a
//!   client that abandons a connection sends no FIN, so the server cannot count live ones);
//!   local sessions and read-only mode are off, as by default.

pub mod config;
pub mod connections;
pub mod database;
pub mod disk;
pub mod election;
pub mod leader;
pub mod learner;
pub mod request_size;
pub mod sessions;
pub mod sync;

#[cfg(test)]
mod testkit;
#[cfg(test)]
mod tests;

pub use config::{ConfigError, Quorum, ServerConfig};

use crate::sim::net::{Addr, Packet, Payload, ports};
use crate::sim::world::{HostCtx, ProcessFn};
use crate::zk::peer::{Notification, Origin, PeerMsg, PeerState, ServerProbe, ZabMsg};
use crate::zk::tree::{Txn, TxnKind};
use connections::{Completion, Connections, ToLeader};
use database::Database;
use disk::{ServerDisk, Storage};
use election::{Decision, Election, Step};
use leader::Leader;
use learner::Learner;
use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// The process a ZooKeeper host runs: a server with `config`, restarted with its disk.
pub fn server_process(config: ServerConfig) -> ProcessFn {
    let config = Arc::new(config);
    Arc::new(move |ctx: HostCtx| {
        let config = config.clone();
        Box::pin(async move {
            if let Err(e) = config.validate() {
                ctx.trace("zk", format_args!("bad configuration, not starting: {e}"));
                return;
            }
            run(config, ctx).await;
        })
    })
}

/// Why a leader or learner gives up its role.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Leave(pub String);

/// What every role shares: configuration, host, disk, the replicated database and the
/// client connections.
pub struct Node {
    pub(crate) cfg: Arc<ServerConfig>,
    pub(crate) quorum: Quorum,
    pub(crate) ctx: HostCtx,
    pub(crate) storage: Storage,
    pub(crate) db: Database,
    pub(crate) conns: Connections,
    /// In a working quorum: clients are served.
    pub(crate) serving: bool,
    /// What the connections asked of the leader since the last event.
    pub(crate) outbox: Vec<ToLeader>,
    pub(crate) next_session_id: i64,
}

impl Node {
    pub(crate) fn now(&self) -> Duration {
        use crate::env::Environment;
        self.ctx.env.now()
    }

    pub(crate) fn trace(&self, text: fmt::Arguments<'_>) {
        self.ctx.trace("zk", text);
    }

    pub(crate) fn tick(&self) -> Duration {
        self.cfg.tick_time
    }

    pub(crate) fn send_peer(&self, sid: u64, msg: PeerMsg) {
        if let Some(host) = self.cfg.host_of(sid) {
            let to = Addr {
                host,
                port: ports::ZK_QUORUM,
            };
            self.ctx
                .net
                .send(ports::ZK_QUORUM, to, Payload::ZkPeer(msg));
        }
    }

    pub(crate) fn send_zab(&self, sid: u64, conn: u64, msg: ZabMsg) {
        self.send_peer(sid, PeerMsg::Zab { conn, msg });
    }

    /// Writes this server's view of the membership into `/zookeeper/config`, as ZooKeeper
    /// does at start-up and after a SNAP or TRUNC sync (not a txn; left out of digests).
    pub(crate) fn init_config(&mut self) {
        use crate::env::Environment;
        let world = &self.ctx.world;
        let text = self.cfg.dynamic_config_text(|h| world.host_name(h));
        let now = self.ctx.env.wall_millis();
        self.db.tree.init_config(text.as_bytes(), 0, now);
    }

    /// Applies a committed txn: watch events to local clients, the reply to the client that
    /// asked (if it is connected here), and connection closes for a closed session.
    pub(crate) fn apply_committed(&mut self, txn: &Txn, origin: Option<&Origin>) {
        let applied = self.db.apply(txn);
        self.deliver_events(applied.events, txn.zxid);
        let mine =
            origin.filter(|o| o.server == self.cfg.id && o.incarnation == self.ctx.incarnation);
        if let TxnKind::CloseSession = txn.kind {
            self.close_session_conns(txn.session, mine.map(|o| o.conn));
        }
        if let Some(o) = mine {
            self.complete(o, Completion::Applied(applied.err, applied.reply));
        }
    }
}

enum Role {
    Looking(Election),
    Leading(Box<Leader>),
    Learning(Box<Learner>),
}

struct Server {
    node: Node,
    role: Role,
    /// FastLeaderElection's round counter; survives rounds, not restarts.
    logical_clock: u64,
    /// The vote this server answers LOOKING peers with once it has decided.
    vote: Notification,
    /// Numbers this server's learner connections.
    next_learner_conn: u64,
    /// The last notification sent to each peer, and the process incarnation each peer last
    /// spoke from: together they model ZooKeeper's election connections.
    last_vote_sent: BTreeMap<u64, Notification>,
    peer_incarnations: BTreeMap<u64, u64>,
}

/// A sleep on the host's clock, boxed so the loop can keep it across iterations.
type Timer<'a> = Pin<Box<dyn Future<Output = ()> + Send + 'a>>;

async fn run(cfg: Arc<ServerConfig>, ctx: HostCtx) {
    use crate::env::Environment;
    let mut peers = ctx.net.bind(ports::ZK_QUORUM);
    let mut clients = ctx.net.bind(ports::ZK_CLIENT);
    let storage = Storage::new(ctx.disk::<ServerDisk>());
    let db = storage.load();
    let wall = ctx.env.wall_millis();
    let next_session_id = (((wall << 24) as u64) >> 8) as i64 | ((cfg.id as i64) << 56);
    ctx.trace(
        "zk",
        format_args!(
            "server {} starting: epoch {}/{}, last zxid {:#x}",
            cfg.id,
            storage.accepted_epoch(),
            storage.current_epoch(),
            db.last_zxid()
        ),
    );
    let mut node = Node {
        quorum: cfg.quorum(),
        cfg: cfg.clone(),
        ctx: ctx.clone(),
        storage,
        db,
        conns: Connections::default(),
        serving: false,
        outbox: Vec::new(),
        next_session_id,
    };
    node.init_config();
    node.ctx.world.set_role(node.ctx.host, "looking");
    let (election, step) = Election::start(
        cfg.id,
        node.db.last_zxid(),
        node.storage.current_epoch(),
        0,
        &node.quorum,
        cfg.finalize_wait,
        node.now(),
    );
    let mut server = Server {
        node,
        logical_clock: election.logical_clock,
        vote: election.notification(),
        role: Role::Looking(election),
        next_learner_conn: 0,
        last_vote_sent: BTreeMap::new(),
        peer_incarnations: BTreeMap::new(),
    };
    server.after_step(step);
    // The armed timer is replaced only by an earlier deadline: a deadline that moved later
    // (a learner hearing its leader) is found when the armed one fires, as every timer
    // handler checks the time itself. That spares a timer per packet.
    let env = ctx.env.clone();
    let mut armed: Option<(Duration, Timer<'_>)> = None;
    loop {
        let deadline = server.next_deadline();
        if armed.as_ref().is_none_or(|(at, _)| deadline < *at) {
            armed = Some((deadline, Box::pin(env.sleep_until(deadline))));
        }
        let Some((_, timer)) = armed.as_mut() else {
            return;
        };
        tokio::select! {
            biased;
            packet = peers.recv() => match packet {
                Some(p) => server.on_peer_packet(p),
                None => return,
            },
            packet = clients.recv() => match packet {
                Some(p) => server.on_client_packet(p),
                None => return,
            },
            _ = timer => {
                armed = None;
                server.on_timer();
            }
        }
    }
}

impl Server {
    fn state(&self) -> PeerState {
        match &self.role {
            Role::Looking(_) => PeerState::Looking,
            Role::Leading(_) => PeerState::Leading,
            Role::Learning(l) if l.is_observer() => PeerState::Observing,
            Role::Learning(_) => PeerState::Following,
        }
    }

    fn next_deadline(&self) -> Duration {
        match &self.role {
            Role::Looking(e) => e.next_deadline(),
            Role::Leading(l) => l.next_deadline(),
            Role::Learning(l) => l.next_deadline(),
        }
    }

    /// Leaves whatever role this is and starts an election.
    fn look(&mut self, reason: &str) {
        let node = &mut self.node;
        match &mut self.role {
            Role::Leading(l) => l.shutdown(node),
            Role::Learning(l) => l.shutdown(node),
            Role::Looking(_) => {}
        }
        node.serving = false;
        node.close_all_clients();
        node.outbox.clear();
        // Logged but uncommitted txns count for the vote, as ZooKeeper reloads them.
        node.storage.fast_forward(&mut node.db);
        node.trace(format_args!(
            "looking ({reason}), last zxid {:#x}",
            node.db.last_zxid()
        ));
        node.ctx.world.set_role(node.ctx.host, "looking");
        let (election, step) = Election::start(
            node.cfg.id,
            node.db.last_zxid(),
            node.storage.current_epoch(),
            self.logical_clock,
            &node.quorum,
            node.cfg.finalize_wait,
            node.now(),
        );
        self.logical_clock = election.logical_clock;
        self.vote = election.notification();
        self.role = Role::Looking(election);
        self.after_step(step);
    }

    fn after_step(&mut self, step: Step) {
        for (sid, n) in step.send {
            self.send_vote(sid, n);
        }
        if let Role::Looking(e) = &self.role {
            self.logical_clock = e.logical_clock;
            self.vote = e.notification();
        }
        if let Some(decision) = step.decided {
            self.decided(decision);
        }
    }

    fn decided(&mut self, d: Decision) {
        let me = self.node.cfg.id;
        let observer = !self.node.quorum.is_voter(me);
        let state = if d.leader == me {
            PeerState::Leading
        } else if observer {
            PeerState::Observing
        } else {
            PeerState::Following
        };
        self.logical_clock = self.logical_clock.max(d.election_epoch);
        self.vote = Notification {
            leader: Some(d.leader),
            zxid: d.vote.zxid,
            election_epoch: d.election_epoch,
            peer_epoch: d.vote.peer_epoch,
            state,
            sid: me,
        };
        self.node.trace(format_args!(
            "election decided: leader {} (round {}, vote epoch {}, zxid {:#x}), {:?}",
            d.leader, d.election_epoch, d.vote.peer_epoch, d.vote.zxid, state
        ));
        let now = self.node.now();
        // The announced role changes once the new role serves (leader established,
        // learner up to date); until then the server announces "looking".
        self.role = if d.leader == me {
            let mut leader = Leader::new(&mut self.node, now);
            // A one-voter ensemble needs nobody else.
            leader.progress(&mut self.node, now);
            Role::Leading(Box::new(leader))
        } else {
            self.next_learner_conn += 1;
            let conn = (self.node.ctx.incarnation << 32) | self.next_learner_conn;
            Role::Learning(Box::new(Learner::new(
                &self.node, d.leader, conn, observer, now,
            )))
        };
    }

    fn on_timer(&mut self) {
        let now = self.node.now();
        let result = match &mut self.role {
            Role::Looking(e) => {
                let step = e.on_timer(&self.node.quorum, now);
                self.after_step(step);
                Ok(())
            }
            Role::Leading(l) => l.on_timer(&mut self.node, now),
            Role::Learning(l) => l.on_timer(&mut self.node, now),
        };
        self.settle(result);
    }

    fn settle(&mut self, result: Result<(), Leave>) {
        match result {
            Ok(()) => self.route_outbox(),
            Err(Leave(reason)) => self.look(&reason),
        }
    }

    /// Hands what the connections asked for to the leader (here or over the wire).
    fn route_outbox(&mut self) {
        while !self.node.outbox.is_empty() {
            let items = std::mem::take(&mut self.node.outbox);
            for item in items {
                match &mut self.role {
                    Role::Leading(l) => l.from_local(&mut self.node, item),
                    Role::Learning(l) => l.from_local(&self.node, item),
                    Role::Looking(_) => {}
                }
            }
        }
    }

    fn on_client_packet(&mut self, packet: Box<Packet>) {
        self.node.on_client_packet(packet);
        self.route_outbox();
    }

    #[allow(
        clippy::boxed_local,
        reason = "packets travel boxed; unboxing one copies it again"
    )]
    fn on_peer_packet(&mut self, packet: Box<Packet>) {
        let from = packet.from;
        let msg = match packet.payload {
            Payload::ZkPeer(msg) => msg,
            Payload::Reset => {
                if let Some(sid) = self.node.cfg.sid_of(from.host) {
                    self.peer_incarnations.remove(&sid);
                    let result = match &mut self.role {
                        Role::Leading(l) => {
                            l.peer_reset(&self.node, sid);
                            Ok(())
                        }
                        Role::Learning(l) => l.peer_reset(sid),
                        Role::Looking(_) => Ok(()),
                    };
                    self.settle(result);
                }
                return;
            }
            _ => return,
        };
        if let PeerMsg::Probe = msg {
            self.answer_probe(from);
            return;
        }
        // Only members talk on the quorum port.
        let Some(sid) = self
            .node
            .cfg
            .sid_of(from.host)
            .filter(|_| from.port == ports::ZK_QUORUM)
        else {
            return;
        };
        match msg {
            PeerMsg::Vote {
                notification,
                incarnation,
            } if notification.sid == sid => self.on_vote(notification, incarnation),
            PeerMsg::Zab { conn, msg } => {
                let now = self.node.now();
                let result = match &mut self.role {
                    Role::Leading(l) => l.on_zab(&mut self.node, sid, conn, msg, now),
                    // Only a leader listens for learners: a hello elsewhere is a refused
                    // connection.
                    _ if matches!(msg, ZabMsg::LearnerInfo { .. }) => {
                        self.node.send_zab(sid, conn, ZabMsg::Close);
                        Ok(())
                    }
                    Role::Learning(l) => l.on_zab(&mut self.node, sid, conn, msg, now),
                    Role::Looking(_) => Ok(()),
                };
                self.settle(result);
            }
            _ => {}
        }
    }

    fn send_vote(&mut self, sid: u64, n: Notification) {
        self.last_vote_sent.insert(sid, n);
        let msg = PeerMsg::Vote {
            notification: n,
            incarnation: self.node.ctx.incarnation,
        };
        self.node.send_peer(sid, msg);
    }

    fn on_vote(&mut self, n: Notification, incarnation: u64) {
        if self.peer_incarnations.insert(n.sid, incarnation) != Some(incarnation)
            && let Some(last) = self.last_vote_sent.get(&n.sid).copied()
        {
            // A new election connection: repeat what the old one may have lost.
            self.send_vote(n.sid, last);
        }
        let now = self.node.now();
        match &mut self.role {
            Role::Looking(e) => {
                if !self.node.quorum.is_voter(n.sid) {
                    // Observers learn the voters' current votes; they do not count.
                    let vote = e.notification();
                    self.send_vote(n.sid, vote);
                    return;
                }
                let step = e.on_notification(n, &self.node.quorum, now);
                self.after_step(step);
            }
            _ => {
                if n.state == PeerState::Looking {
                    let mut vote = self.vote;
                    vote.state = self.state();
                    if self.node.serving {
                        // Once serving, every member reports the new epoch in its vote, so
                        // that servers joining later see one agreeing quorum (ZOOKEEPER-1732).
                        vote.peer_epoch = self.node.storage.current_epoch();
                    }
                    self.send_vote(n.sid, vote);
                }
            }
        }
    }

    fn answer_probe(&self, to: Addr) {
        let node = &self.node;
        let probe = ServerProbe {
            sid: node.cfg.id,
            state: self.state(),
            serving: node.serving,
            current_epoch: node.storage.current_epoch(),
            last_zxid: node.db.last_zxid(),
            digest: node.db.digest(),
            sessions: node.db.sessions.len(),
            connections: node.conns.len(),
        };
        node.ctx.net.send(
            ports::ZK_QUORUM,
            to,
            Payload::ZkPeer(PeerMsg::ProbeReply(probe)),
        );
    }
}

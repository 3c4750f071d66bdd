//! Server ↔ server messages of the simulated ensemble (leader election, sync, Zab proposals,
//! pings with session touches, forwarded requests).
//!
//! All of them travel between the servers' `ports::ZK_QUORUM` addresses. ZooKeeper uses one
//! port for election and one for the quorum; one port is enough here because every message
//! says what it is. A learner's TCP connection to its leader is named by a `conn` number the
//! learner picks: either side drops `Zab` packets of a connection it no longer has, which is
//! what a closed socket does to late bytes.

use crate::zk::proto::ClientOp;
use crate::zk::server::database::Snapshot;
use crate::zk::tree::{AuthId, Txn};
use crate::zk::types::{ErrorCode, SessionId, Zxid};

/// A message between two ZooKeeper servers.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PeerMsg {
    /// A FastLeaderElection notification, with the sender process's incarnation: a new
    /// incarnation means a new election connection, on which ZooKeeper re-sends the last
    /// notification it sent to that peer (`QuorumCnxManager.SendWorker`).
    Vote {
        notification: Notification,
        incarnation: u64,
    },
    /// A packet of the learner ↔ leader connection `conn`.
    Zab {
        conn: u64,
        msg: ZabMsg,
    },
    /// An operator asks a server how it is (ZooKeeper's `srvr`/`hash` admin commands); it
    /// answers with `ProbeReply` to the sender.
    Probe,
    ProbeReply(ServerProbe),
}

/// A server's election state as FastLeaderElection reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PeerState {
    Looking,
    Following,
    Leading,
    Observing,
}

/// One FastLeaderElection notification: the sender's current vote and state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Notification {
    /// Proposed leader; `None` for an observer that has no vote to propose.
    pub leader: Option<u64>,
    /// Last logged zxid of the proposed leader.
    pub zxid: Zxid,
    /// The sender's election round (`logicalclock`).
    pub election_epoch: u64,
    /// Current epoch of the proposed leader.
    pub peer_epoch: u32,
    pub state: PeerState,
    /// The sender's server id.
    pub sid: u64,
}

/// The server (and its incarnation) and client request a transaction or answer belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Origin {
    pub server: u64,
    pub incarnation: u64,
    /// The originating server's sequence number of the client connection.
    pub conn: u64,
    pub xid: i32,
}

/// What a server asks its leader to do for one of its clients.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum RequestKind {
    CreateSession {
        timeout_ms: u32,
    },
    CloseSession,
    Write {
        auth: Vec<AuthId>,
        op: ClientOp,
    },
    /// Answer once everything proposed before this request has committed.
    Sync,
    /// A client re-attaches an existing session: is it still alive? (touches it)
    Revalidate {
        timeout_ms: u32,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ForwardedRequest {
    pub origin: Origin,
    pub session: SessionId,
    pub kind: RequestKind,
}

/// The leader's direct answer to a request that produced no transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    Revalidated { valid: bool },
    Rejected(ErrorCode),
    Synced,
}

/// How a learner is brought up to date with its new leader.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SyncData {
    /// Apply these committed txns after the learner's last zxid.
    Diff(Vec<Txn>),
    /// Drop every logged txn after `to`, then apply `then`.
    Trunc { to: Zxid, then: Vec<Txn> },
    /// Replace everything with the leader's snapshot.
    Snap(Snapshot),
}

/// Packets of the learner ↔ leader protocol (Zab phases 1–3).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ZabMsg {
    /// Learner → leader: FOLLOWERINFO / OBSERVERINFO.
    LearnerInfo {
        sid: u64,
        observer: bool,
        accepted_epoch: u32,
    },
    /// Leader → learner: the new epoch.
    LeaderInfo {
        epoch: u32,
    },
    /// Learner → leader: ACKEPOCH with what the learner has. `current_epoch` is `None` when
    /// the learner had already accepted this epoch: such an ack does not count towards the
    /// epoch quorum (ZooKeeper sends −1).
    AckEpoch {
        current_epoch: Option<u32>,
        last_zxid: Zxid,
    },
    Sync(SyncData),
    /// NEWLEADER: the learner's history now equals the leader's; `zxid` = (epoch, 0).
    NewLeader {
        zxid: Zxid,
    },
    /// Learner → leader: ACK of NEWLEADER or of a proposal.
    Ack {
        zxid: Zxid,
    },
    /// Leader → learner: start serving.
    UpToDate,
    Proposal {
        txn: Txn,
        origin: Option<Origin>,
    },
    Commit {
        zxid: Zxid,
    },
    /// Leader → observer: a committed txn.
    Inform {
        txn: Txn,
        origin: Option<Origin>,
    },
    Ping,
    /// Learner → leader: the sessions its clients touched since the last ping.
    PingReply {
        touches: Vec<(SessionId, u32)>,
    },
    Request(ForwardedRequest),
    RequestDone {
        origin: Origin,
        outcome: Outcome,
    },
    /// Either side closes the connection.
    Close,
}

/// What a server reports about itself when probed.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ServerProbe {
    pub sid: u64,
    pub state: PeerState,
    /// Serving clients (in a working quorum).
    pub serving: bool,
    pub current_epoch: u32,
    pub last_zxid: Zxid,
    /// Digest of the data tree and session table.
    pub digest: u64,
    pub sessions: usize,
    pub connections: usize,
}

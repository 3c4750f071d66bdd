//! The database's wire protocol: requests from nodes, answers, and the state the database's two
//! hosts exchange (replication and heartbeat in one message).

use crate::sim::history::{Name, WriteOutcome};

/// One packet between a node and a database host, or between the two database hosts.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum DbMsg {
    Request {
        id: u64,
        body: DbRequest,
    },
    Response {
        id: u64,
        body: DbResponse,
    },
    /// Sent by each database host to its peer after every change and every heartbeat interval:
    /// the whole (small) replicated state, so a lost or late message is repaired by the next.
    Sync(Snapshot),
    /// A commit that needs the peer: the proposer answers its client only once the peer
    /// certified it (synchronous replication, Galera's certification).
    Replicate {
        seq: u64,
        proposal: Proposal,
    },
    /// The peer's verdict on proposal `seq`, with the peer's state (merged by the proposer
    /// either way, so a refused proposer learns why: a newer token, a later epoch).
    Replicated {
        seq: u64,
        certified: bool,
        state: Snapshot,
    },
}

/// What a host asks its peer to certify: its state, the token of the write or fence being
/// committed, the node's write being committed (so the peer can record the commit), the
/// run-once row being written.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Proposal {
    pub state: Snapshot,
    pub token: Option<i64>,
    pub write: Option<ProposedWrite>,
    pub row: Option<RunOnceRow>,
}

/// A node's guarded write inside a [`Proposal`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ProposedWrite {
    pub node: Name,
    pub write: u64,
    /// The token the write carried, for the history (the proposal's own token is `None` when
    /// the database checks none).
    pub token: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum DbRequest {
    /// A guarded write (one "flow") by `node` under its fencing token.
    Write { node: Name, token: i64, write: u64 },
    /// Raise the database's newest token to `token` without writing anything: a new master's
    /// first act, so that writes of earlier grants still in flight are refused from then on.
    Fence { node: Name, token: i64 },
    /// Take or refresh the run-once row for `node` (Corda's RunOnceService update).
    RunOnce { node: Name },
    /// Health probe: is this host up, and does it accept writes?
    Ping,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum DbResponse {
    /// The verdict on a write or a fence.
    Write(WriteOutcome),
    RunOnce(RunOnceVerdict),
    /// `acting`: this host accepts writes (a primary, a promoted replica, or a multi-master
    /// member); `epoch` counts the promotions of its primary/replica pair.
    Pong {
        acting: bool,
        epoch: u64,
    },
}

/// The answer to a run-once claim.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum RunOnceVerdict {
    /// The row was the caller's (or free); its heartbeat is now the database's clock.
    Held,
    /// The row belonged to `from`, whose heartbeat was older than the wait interval.
    TookOver { from: String },
    /// The row belongs to `owner`, refreshed `age_millis` ago by the database's clock.
    Refused { owner: String, age_millis: i64 },
    /// The host does not accept writes (a replica that has not been promoted).
    Unavailable,
}

/// The run-once table's single row.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RunOnceRow {
    pub owner: String,
    /// The database host's wall clock when the owner last refreshed the row.
    pub heartbeat_wall_millis: i64,
    /// Bumped by every update (Corda's optimistic `version` column); the higher one wins when
    /// the two hosts' copies meet.
    pub version: u64,
}

/// What one database host tells its peer.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Snapshot {
    pub acting: bool,
    pub epoch: u64,
    pub newest_token: Option<i64>,
    pub run_once: Option<RunOnceRow>,
    /// Primary/replica: the (acting) sender commits nothing without its replica.
    pub in_sync: bool,
}

//! What a run did, as the checkers judge it: records stamped with true simulated time.
//!
//! Processes append records through [`World::record`](crate::sim::world::World::record); the
//! world itself records host lifecycle (start, crash, pause, resume), announced roles and
//! faults. Checkers read the history after the run; they never look at a host's clock.

use std::sync::Arc;
use std::time::Duration;

/// A pair's, node's or host's name in a record. Shared, not copied: the writes of a hundred
/// pairs are 120,000 records in ten simulated minutes, each naming its pair and node.
pub type Name = Arc<str>;

/// How a database answered a write.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub enum WriteOutcome {
    Accepted,
    /// The token is older than the newest the database has seen.
    RejectedStaleToken {
        newest: i64,
    },
    /// The run-once row belongs to another node.
    RejectedNotOwner {
        owner: String,
    },
    /// The database is down, read-only or unreachable (the write did not happen).
    Unavailable,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub enum Record {
    /// A host's process started (first start or restart).
    HostStarted {
        host: Name,
    },
    HostCrashed {
        host: Name,
    },
    HostPaused {
        host: Name,
    },
    HostResumed {
        host: Name,
    },
    /// A process announced a role (`World::set_role`): ZooKeeper servers ("leading", ...),
    /// nodes ("master", "slave", ...).
    Role {
        host: Name,
        role: String,
    },
    /// A fault was applied.
    Fault {
        description: String,
    },
    /// The election granted mastership and the node started acting as master.
    Promoted {
        pair: Name,
        node: Name,
        token: i64,
    },
    /// The node stopped acting as master (its work has stopped).
    Demoted {
        pair: Name,
        node: Name,
        token: i64,
    },
    /// The node stands as a candidate (true) or withdrew (relinquish, health gate, shutdown).
    Candidacy {
        pair: Name,
        node: Name,
        standing: bool,
    },
    Health {
        pair: Name,
        node: Name,
        healthy: bool,
    },
    /// An operator changed a node's priority (the pre-emptive policy ranks by it).
    PriorityChanged {
        pair: Name,
        node: Name,
        priority: u32,
    },
    /// A master action: the node sends a write carrying its token.
    WriteAttempt {
        pair: Name,
        node: Name,
        token: i64,
        write: u64,
    },
    /// The database's verdict on a write, at the moment it applied it: for a write its peer
    /// certified (synchronous replication, multi-master), when the peer committed it.
    WriteResult {
        pair: Name,
        node: Name,
        token: i64,
        write: u64,
        outcome: WriteOutcome,
    },
    /// A master's message reached its pair's bus (which checks no token): the flow's effect
    /// is in the world from here on (see [`crate::bus`]).
    BusDelivered {
        pair: Name,
        node: Name,
        token: i64,
        flow: u64,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Entry {
    /// True simulated time.
    pub at: Duration,
    pub record: Record,
}

//! What a run did, as the checkers judge it: records stamped with true simulated time.
//!
//! Processes append records through [`World::record`](crate::sim::world::World::record); the
//! world itself records host lifecycle (start, crash, pause, resume), announced roles and
//! faults. Checkers read the history after the run; they never look at a host's clock.

use std::time::Duration;

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
        host: String,
    },
    HostCrashed {
        host: String,
    },
    HostPaused {
        host: String,
    },
    HostResumed {
        host: String,
    },
    /// A process announced a role (`World::set_role`): ZooKeeper servers ("leading", ...),
    /// nodes ("master", "slave", ...).
    Role {
        host: String,
        role: String,
    },
    /// A fault was applied.
    Fault {
        description: String,
    },
    /// The election granted mastership and the node started acting as master.
    Promoted {
        pair: String,
        node: String,
        token: i64,
    },
    /// The node stopped acting as master (its work has stopped).
    Demoted {
        pair: String,
        node: String,
        token: i64,
    },
    /// The node stands as a candidate (true) or withdrew (relinquish, health gate, shutdown).
    Candidacy {
        pair: String,
        node: String,
        standing: bool,
    },
    Health {
        pair: String,
        node: String,
        healthy: bool,
    },
    /// An operator changed a node's priority (the pre-emptive policy ranks by it).
    PriorityChanged {
        pair: String,
        node: String,
        priority: u32,
    },
    /// A master action: the node sends a write carrying its token.
    WriteAttempt {
        pair: String,
        node: String,
        token: i64,
        write: u64,
    },
    /// The database's verdict on a write, at the moment it applied it: for a write its peer
    /// certified (synchronous replication, multi-master), when the peer committed it.
    WriteResult {
        pair: String,
        node: String,
        token: i64,
        write: u64,
        outcome: WriteOutcome,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Entry {
    /// True simulated time.
    pub at: Duration,
    pub record: Record,
}

//! The configuration choices of a deployment that the election's safety or liveness depends
//! on, found in a [`Topology`]: each unsafe one named in a sentence a platform team recognises
//! (the product setting it stands for), with the same topology with that one choice made
//! safe, so a failure can be re-run without it to show which choice let it happen.
//!
//! What counts as unsafe, and why:
//! - **Per-node session timeouts too far apart** (each process's own ZooKeeper config, Curator's
//!   `sessionTimeoutMs` per process): a node that re-creates a deleted election waits its own
//!   session timeout before claiming, by when a master of the deleted election has stopped — on
//!   its lease, 2/5 of *its* session timeout, on its own clock. The wait covers a master whose
//!   clock runs at half speed only while the master's timeout is at most
//!   [`SAFE_SESSION_RATIO`] times the other node's.
//! - **Asynchronous replication** (PostgreSQL streaming replication without
//!   `synchronous_standby_names`, or `synchronous_commit = local`): the promoted replica may
//!   lack acknowledged commits, the newest fencing token included, and a primary cut off from
//!   its replica goes on accepting writes; nothing makes it safe under partitions.
//! - **A database without the fence** (writes carry no token; Corda's run-once row alone): a
//!   write of an earlier term that is delayed or in flight during a pause is accepted.
//! - **The Java client's defaults** (Curator's `CuratorFrameworkFactory`: a 60 s session,
//!   15 s connection timeout): where the servers grant a session longer than
//!   [`LONGEST_SAFE_SESSION`], a master's failure leaves its pair without a master for about
//!   the no-master bound, and longer when a ZooKeeper leader change renews the dead master's
//!   session.

use super::topology::{DatabaseMode, Replication, Topology};
use crate::pair::world::negotiated_session_timeout_of;
use crate::scenario::validate::{
    CURATOR_CONNECTION_TIMEOUT, CURATOR_SESSION_TIMEOUT, DEFAULT_NO_MASTER_BOUND,
    DEFAULT_SESSION_TIMEOUT,
};
use crate::zk::client::ClientModel;
use std::time::Duration;

/// The largest ratio between the granted session timeouts of a pair's two nodes that keeps a
/// re-created election's wait ahead of the old master's lease with its clock at half speed
/// (2 · 2/5 · ratio ≤ 1, with a margin): 6/5, as (numerator, denominator).
pub const SAFE_SESSION_RATIO: (u32, u32) = (6, 5);

/// Whether `long` is at most [`SAFE_SESSION_RATIO`] times `short` (whole milliseconds).
pub fn within_safe_ratio(long: Duration, short: Duration) -> bool {
    let (numerator, denominator) = SAFE_SESSION_RATIO;
    long.as_millis() * u128::from(denominator) <= short.as_millis() * u128::from(numerator)
}

/// The longest granted session timeout whose failovers stay within the default no-master
/// bound (about one session timeout, plus the claim and the fence): half the bound.
pub const LONGEST_SAFE_SESSION: Duration =
    Duration::from_secs(DEFAULT_NO_MASTER_BOUND.as_secs() / 2);

/// One unsafe configuration choice of a topology.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Choice {
    /// The nodes of `pair` ask for session timeouts further apart than [`SAFE_SESSION_RATIO`].
    NodeSessionTimeouts { pair: String },
    /// `database` replicates asynchronously.
    AsynchronousReplication { database: String },
    /// `database` checks no fencing token.
    Unfenced { database: String },
    /// The nodes run the Java client with Curator's defaults, granted a session longer than
    /// [`LONGEST_SAFE_SESSION`].
    JavaClientDefaults,
}

/// An unsafe choice, named.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnsafeChoice {
    pub choice: Choice,
    /// Short and stable, for reports: `asynchronous-replication db1`.
    pub name: String,
    /// What the choice is, in the product's own words, and what it risks.
    pub sentence: String,
}

impl UnsafeChoice {
    /// `topology` with this one choice made safe and everything else as it was.
    pub fn make_safe(&self, topology: &Topology) -> Topology {
        let mut safe = topology.clone();
        match &self.choice {
            Choice::NodeSessionTimeouts { pair } => {
                if let Some(pair) = safe.pairs.iter_mut().find(|p| &p.name == pair) {
                    // Both ask for the deployment-wide timeout.
                    for node in &mut pair.nodes {
                        node.session_timeout = None;
                    }
                }
            }
            Choice::AsynchronousReplication { database } => {
                for pair in &mut safe.pairs {
                    if &pair.database.name == database {
                        pair.database.replication = Replication::Synchronous;
                    }
                }
            }
            Choice::Unfenced { database } => {
                for pair in &mut safe.pairs {
                    if &pair.database.name == database {
                        pair.database.fence = true;
                    }
                }
            }
            Choice::JavaClientDefaults => {
                safe.zk.session_timeout = DEFAULT_SESSION_TIMEOUT;
                safe.zk.connection_timeout = None;
            }
        }
        safe
    }
}

/// Whether `topology` runs the Java client as a deployment that sets nothing gets it.
pub fn uses_java_defaults(topology: &Topology) -> bool {
    topology.client_model == ClientModel::Java
        && topology.zk.session_timeout == CURATOR_SESSION_TIMEOUT
        && topology.zk.connection_timeout == Some(CURATOR_CONNECTION_TIMEOUT)
}

/// Every unsafe choice of `topology`, in the order the world lists them.
pub fn unsafe_choices(topology: &Topology) -> Vec<UnsafeChoice> {
    let mut out = Vec::new();
    if uses_java_defaults(topology) {
        let granted = topology
            .pairs
            .iter()
            .flat_map(|p| &p.nodes)
            .filter(|n| n.session_timeout.is_none())
            .map(|n| negotiated_session_timeout_of(topology, n))
            .max();
        if let Some(granted) = granted.filter(|g| *g > LONGEST_SAFE_SESSION) {
            out.push(UnsafeChoice {
                choice: Choice::JavaClientDefaults,
                name: "java-client-defaults".into(),
                sentence: format!(
                    "the nodes run the Java client with Curator's defaults (CuratorFrameworkFactory: \
                     sessionTimeoutMs 60 s, connectionTimeoutMs 15 s): the servers grant a {} s \
                     session, so a master's failure leaves its pair without a master for the \
                     whole of it, and for longer than the {} s no-master bound when the ZooKeeper \
                     leader changes meanwhile (the new leader gives every session a whole timeout \
                     again)",
                    granted.as_secs_f64(),
                    DEFAULT_NO_MASTER_BOUND.as_secs()
                ),
            });
        }
    }
    for pair in &topology.pairs {
        let granted: Vec<(String, Duration)> = pair
            .nodes
            .iter()
            .map(|n| (n.name.clone(), negotiated_session_timeout_of(topology, n)))
            .collect();
        let longest = granted.iter().max_by_key(|(_, t)| *t);
        let shortest = granted.iter().min_by_key(|(_, t)| *t);
        if let (Some((long_node, long)), Some((short_node, short))) = (longest, shortest)
            && !within_safe_ratio(*long, *short)
        {
            out.push(UnsafeChoice {
                choice: Choice::NodeSessionTimeouts {
                    pair: pair.name.clone(),
                },
                name: format!("node-session-timeouts {}", pair.name),
                sentence: format!(
                    "the nodes of pair {} ask for different session timeouts (each process's own \
                     ZooKeeper configuration: {long_node} is granted {} s, {short_node} {} s): a \
                     node re-creating a deleted election waits its own session timeout, shorter \
                     than the lease the other node may still act on",
                    pair.name,
                    long.as_secs_f64(),
                    short.as_secs_f64()
                ),
            });
        }
        let db = &pair.database;
        if db.mode == DatabaseMode::PrimaryReplica
            && let Replication::Asynchronous { lag } = db.replication
        {
            out.push(UnsafeChoice {
                choice: Choice::AsynchronousReplication {
                    database: db.name.clone(),
                },
                name: format!("asynchronous-replication {}", db.name),
                sentence: format!(
                    "database {} of pair {} replicates asynchronously (PostgreSQL streaming \
                     replication without synchronous_standby_names, lag {} s): its replica \
                     promotes itself without the primary's latest commits, the newest fencing \
                     token among them, and a primary cut off from its replica goes on accepting \
                     writes",
                    db.name,
                    pair.name,
                    lag.as_secs_f64()
                ),
            });
        }
        if !db.fence {
            out.push(UnsafeChoice {
                choice: Choice::Unfenced {
                    database: db.name.clone(),
                },
                name: format!("unfenced-database {}", db.name),
                sentence: format!(
                    "database {} of pair {} checks no fencing token (the nodes' writes carry \
                     none{}): a write of an earlier master, delayed in the network or in flight \
                     while its node was paused, is accepted after the next master took over",
                    db.name,
                    pair.name,
                    if db.run_once.is_some() {
                        "; Corda's run-once row is the only guard"
                    } else {
                        ""
                    }
                ),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::no_master::tests::topology as base;
    use crate::election::Policy;

    #[test]
    fn a_safe_world_has_no_unsafe_choice() {
        assert!(unsafe_choices(&base(Policy::Sticky)).is_empty());
    }

    #[test]
    fn each_unsafe_choice_is_found_and_made_safe_alone() {
        let mut t = base(Policy::Sticky);
        t.pairs[0].nodes[1].session_timeout = Some(Duration::from_secs(4));
        t.pairs[0].database.mode = DatabaseMode::PrimaryReplica;
        t.pairs[0].database.replica_site = Some("dc1".into());
        t.pairs[0].database.replication = Replication::Asynchronous {
            lag: Duration::from_millis(200),
        };
        t.pairs[0].database.fence = false;
        t.client_model = ClientModel::Java;
        t.zk.session_timeout = CURATOR_SESSION_TIMEOUT;
        t.zk.connection_timeout = Some(CURATOR_CONNECTION_TIMEOUT);
        let choices = unsafe_choices(&t);
        let names: Vec<&str> = choices.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "java-client-defaults",
                "node-session-timeouts p",
                "asynchronous-replication db",
                "unfenced-database db"
            ]
        );
        for choice in &choices {
            let safe = choice.make_safe(&t);
            let left: Vec<String> = unsafe_choices(&safe).into_iter().map(|c| c.name).collect();
            assert_eq!(left.len(), 3, "{}: {left:?}", choice.name);
            assert!(!left.contains(&choice.name), "{}", choice.name);
        }
        assert_eq!(
            choices[1].make_safe(&t).pairs[0].nodes[1].session_timeout,
            None
        );
    }

    #[test]
    fn timeouts_within_the_ratio_or_capped_by_the_servers_are_safe() {
        let mut t = base(Policy::Sticky);
        t.pairs[0].nodes[0].session_timeout = Some(Duration::from_secs(12));
        assert!(unsafe_choices(&t).is_empty(), "10 s and 12 s");
        // Both ask for more than the servers grant (20 ticks of 2 s): both get 40 s.
        t.pairs[0].nodes[0].session_timeout = Some(Duration::from_secs(60));
        t.pairs[0].nodes[1].session_timeout = Some(Duration::from_secs(90));
        assert!(unsafe_choices(&t).is_empty());
        // Curator's 60 s capped at 20 ticks of 1 s: 20 s.
        t.pairs[0]
            .nodes
            .iter_mut()
            .for_each(|n| n.session_timeout = None);
        t.client_model = ClientModel::Java;
        t.zk.session_timeout = CURATOR_SESSION_TIMEOUT;
        t.zk.connection_timeout = Some(CURATOR_CONNECTION_TIMEOUT);
        t.zk.tick_time = Duration::from_secs(1);
        assert!(unsafe_choices(&t).is_empty());
    }
}

//! Hot/cold node pairs in the simulated world.
//!
//! A node ([`node`]) runs the master selector of [`crate::election`] on a simulated ZooKeeper
//! session. When granted mastership it starts its workload ([`worker`]): first a **fence** —
//! the database raises its newest token to the grant's, so writes of earlier grants still in
//! flight are refused from then on — and only then does the node act as master (and record
//! its promotion): a stream of database writes standing for flows, each carrying the grant's
//! token and each preceded by a check that the grant is still current — the selector's role
//! **and** the grant's quorum-confirmed lease on the node's own clock
//! ([`ZkSelector::acting_until`](crate::election::ZkSelector::acting_until)), so a node that
//! resumes from a pause longer than its session does not write on stale belief. When demoted it stops the
//! workload, waits for the request in flight to be answered or time out, records the
//! demotion, and only then acknowledges it, so the selector lets go of the candidacy after the
//! work stopped. A health check ([`health`]) probes the database and the bus and gates the
//! candidacy; the database may fail for a grace period (its own failover) before it counts.
//!
//! Determinism note: tokio's `watch` channel wakes its waiting tasks in an order drawn from a
//! thread-local random number that no simulation seed resets, so the node keeps at most one
//! task waiting on any watch channel (same seed, same history, also within one process).
//!
//! Every node records its promotions, demotions, candidacy, health and write attempts in the
//! world's history (true simulated time); the databases record their verdicts.
//!
//! The [`world`] builder turns a [`Topology`](crate::sim::topology::Topology) into hosts and
//! processes and keeps each node's control channel ([`control`]), which survives restarts.

#[cfg(feature = "testbed")]
mod async_demotion;
pub mod control;
pub mod health;
pub mod node;
pub mod operator;
pub mod worker;
pub mod world;

pub use control::{HealthLink, NodeControl};
pub use node::{ELECTION_ROOT, NodeConfig, node_process, pair_credentials};
pub use world::{
    BuildError, ControlError, PairWorld, build, build_with, current_master, net_config,
};

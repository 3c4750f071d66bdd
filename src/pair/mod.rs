//! Hot/cold node pairs in the simulated world.
//!
//! A node ([`node`]) runs the master selector of [`crate::election`] on a simulated ZooKeeper
//! session. When promoted it starts its workload ([`worker`]): a stream of database writes
//! standing for flows, each carrying the grant's fencing token and each preceded by a check
//! that the grant is still current — the selector's role **and** a session lease on the node's
//! own clock ([`lease`]), so a node that resumes from a pause longer than its session does not
//! write on stale belief. When demoted it stops the workload, waits for the write in flight to
//! be answered or time out, records the demotion, and only then acknowledges it, so the
//! selector lets go of the candidacy after the work stopped. A health check ([`health`])
//! probes the database and the bus and gates the candidacy.
//!
//! Every node records its promotions, demotions, candidacy, health and write attempts in the
//! world's history (true simulated time); the databases record their verdicts.
//!
//! The [`world`] builder turns a [`Topology`](crate::sim::topology::Topology) into hosts and
//! processes and keeps each node's control channel ([`control`]), which survives restarts.

pub mod control;
pub mod health;
pub mod lease;
pub mod node;
pub mod worker;
pub mod world;

pub use control::{HealthLink, NodeControl};
pub use node::{ELECTION_ROOT, NodeConfig, node_process};
pub use world::{BuildError, ControlError, PairWorld, build, current_master, net_config};

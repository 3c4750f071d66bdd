//! splitbrain — a deterministic-simulation testbed for ZooKeeper-based master election.
//!
//! Production code (usable by a real node): [`env`](mod@env), [`coord`], [`zk::types`], and the master
//! selector [`election`]; [`node`] runs one node of a pair as a real process.
//! Simulation: [`sim`] (world, clocks, network, faults, trace) and the simulated ZooKeeper
//! ensemble and client under [`zk`]; the hot/cold node pairs ([`pair`]) and the databases
//! they guard with fencing tokens ([`db`]); scenario files
//! ([`scenario`]) and the invariant checkers that judge a run's history ([`check`]); the
//! edge-case [`coverage`] points a run reached.

pub mod bench;
pub mod bus;
pub mod chaos;
pub mod check;
pub mod conformance;
pub mod coord;
pub mod coverage;
pub mod db;
pub mod duration;
pub mod election;
pub mod env;
pub mod live;
pub mod node;
pub mod pair;
pub mod report;
pub mod scenario;
pub mod sim;
pub mod sync;
pub mod zk;

/// The README's Rust examples compile as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;

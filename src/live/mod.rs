//! Live mode: real ZooKeeper servers and the real `zookeeper-client` crate.
//!
//! This module never runs inside a simulation. It starts real `java` processes from Debian's
//! `zookeeper` package on the loopback interface ([`ensemble`]) and adapts the
//! `zookeeper-client` crate to the project's [`Coordination`](crate::coord::Coordination) trait
//! ([`adapter`]), so the same election code and conformance cases can run against the real
//! engine that the simulated ensemble models.

pub mod adapter;
mod config;
mod convert;
pub mod ensemble;
mod error;
mod four_letter;
mod install;
mod ports;
mod process;

pub use adapter::LiveZk;
pub use ensemble::{EnsembleConfig, HarnessError, RealEnsemble, ServerMode};
pub use install::{INSTALL_HINT, ZkInstall};

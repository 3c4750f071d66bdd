//! Live mode: real ZooKeeper servers and the real `zookeeper-client` crate.
//!
//! This module never runs inside a simulation. It starts real `java` processes from Debian's
//! `zookeeper` package on the loopback interface ([`ensemble`]) and adapts the
//! `zookeeper-client` crate to the project's [`Coordination`](crate::coord::Coordination) trait
//! ([`adapter`]), so the same election code and conformance cases can run against the real
//! engine that the simulated ensemble models. Real tokio and the crate work unchanged under the
//! build-wide `--cfg madsim` (madsim's overrides act only inside a simulation runtime).
//!
//! # Installing the server (developer machines and CI)
//!
//! ```text
//! apt-get update
//! DEBIAN_FRONTEND=noninteractive apt-get install -y zookeeper
//! ```
//!
//! On Debian 12 that is ZooKeeper 3.8.0 (`3.8.0-11+deb12u2`): `zookeeper` brings
//! `libzookeeper-java` (`/usr/share/java/zookeeper.jar`, whose manifest names its dependency
//! jars), `libslf4j-java` (the harness logs through `slf4j-simple.jar`) and `default-jre`
//! (OpenJDK 17). The package starts no server and occupies no port: the service is the separate
//! `zookeeperd` package, which the project does not need. The harness never uses 2181 anyway.
//! Tests that need the server fail, never skip, when it is missing, with a message naming the
//! command above.

pub mod adapter;
mod config;
mod convert;
pub mod ensemble;
mod error;
pub(crate) mod four_letter;
mod install;
pub mod net;
pub(crate) mod ports;
pub mod postgres;
pub(crate) mod process;
pub mod programs;
pub mod run;

pub use adapter::LiveZk;
pub use ensemble::{
    EnsembleConfig, HarnessError, PeerRoute, RealEnsemble, ServerMode, ServerPorts,
};
pub use install::{INSTALL_HINT, ZkInstall};

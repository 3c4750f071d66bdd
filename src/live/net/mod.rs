//! The live world's network: userspace TCP relays that give each connection between two hosts
//! the latency, jitter, loss, cuts and crashes of the link it crosses.
//!
//! # Why relays
//!
//! The simulator models links per directed host pair ([`crate::sim::net`]): latency base plus
//! jitter, FIFO delivery, cuts (also one-way) that stall bytes rather than drop them, loss as
//! retransmission delay, extra latency, and hosts that lose power. Live mode plays the same
//! scenarios on real processes, and the kernel cannot do it for us: this VM's kernel has no
//! `sch_netem` (`tc qdisc add … netem` answers "Specified qdisc kind is unknown"), and a live
//! run may touch only loopback addresses and what it created. So every connection from one
//! host of the live world to another goes through a relay on 127.0.0.1 that the run owns, one
//! relay per (from host, to host, target port): the client connects to the relay, the relay to
//! the target, and the relay applies the directed link's state to the bytes from → to and the
//! reverse link's state to the bytes to → from.
//!
//! # Semantics
//!
//! Each piece documents what it does and where that departs from a kernel network:
//! `timing.rs` (delay, jitter, FIFO, loss), `connection.rs` (cuts, new connections, close,
//! reset, blackholes) and [`zk_election`] (ZooKeeper's election handshake carries an address
//! that must be rewritten to go through a relay too).
//!
//! # Cost
//!
//! A relay with no delay adds two hops through the kernel and a task wake-up to each direction.
//! Measured on the 2-core development VM (`relay_adds_little_latency`, 3000 round trips of 32
//! bytes): direct loopback median 5.6-6.0 µs, p99 6.8-7.3 µs; through a relay median
//! 11.4-12.2 µs, p99 14-33 µs. About 6 µs added at the median: negligible next to the
//! simulator's same-host latency (30 µs) and far below a millisecond.

mod connection;
mod link;
mod network;
mod relay;
mod timing;
pub mod zk_election;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod zk_ensemble_tests;

pub use link::{LinkCounters, LinkState};
pub use network::{Network, RelayKind};
pub use zk_election::{ZkAdvertise, ZkRewriteCounts};

//! The simulated database of a node pair: the resource the election protects.
//!
//! A database host ([`server`]) answers guarded writes on [`ports::DATABASE`](crate::sim::net::ports::DATABASE)
//! over the simulated network ([`proto`]); a node reaches it through a [`client::DbClient`].
//! Its rules ([`state`]):
//!
//! - **Fencing.** The host keeps the highest fencing token it has accepted and refuses a write
//!   carrying an older one. The verdict is recorded ([`Record::WriteResult`](crate::sim::history::Record))
//!   when the write *applies*, after the database's write latency, not when it was sent.
//! - **Fence.** A new master's first request raises the newest token without writing, so a
//!   write of an earlier grant that is still in flight is refused from the moment the new
//!   master acts, not only from its first write.
//! - **Run-once table** (optional second guard, Corda's `RunOnceService`): one row naming its
//!   owner, refreshed by the owner; another node may take it only once the row's heartbeat is
//!   older than the wait interval **by the database host's own wall clock**, so a clock step on
//!   that host hands the row over early or late. With the guard on, a write is accepted only
//!   from the row's owner. As in Corda, nobody releases the row: after a hand-over the new
//!   master waits out the wait interval before its writes are accepted.
//! - **Durability.** Every change is on the host's disk before it is answered: a crash and
//!   restart keep the newest token and the row; a wipe loses them (then an older token is
//!   accepted again — the operator's reset the election docs mention).
//!
//! # Modes
//!
//! - **Single**: one host.
//! - **Primary/replica**: the primary replicates its state (newest token, row) to the replica
//!   after every change and every heartbeat interval. The replica refuses writes
//!   (`Unavailable`) until its own failure detector — silence of an acting primary for
//!   `failover_after` on the replica's own monotonic clock — promotes it in a new epoch. A node
//!   sends writes to the host it believes acts and moves to the other one when that host times
//!   out, resets or answers that it does not act. An old primary steps down when it hears the
//!   promoted replica's later epoch.
//!
//!   **Split brain at the database level, by design of the mode:** the replica promotes
//!   itself when it stops *hearing* the primary, not when the primary is down. Cut only the
//!   link between the two database hosts and both act until the cut heals: a node that still
//!   reaches the old primary writes there, the new master may write to the promoted replica,
//!   and each host fences only with the tokens it has seen (plus what was replicated before
//!   the cut). A replica also promotes with whatever it had replicated: a write accepted by
//!   the primary just before the failover, not yet replicated, is lost, and the promoted
//!   replica's newest token may be older than the primary's was. The database fails over on
//!   its own clock and its own detector, independently of the ZooKeeper election: a node can
//!   fail over while the database does not, and the other way round.
//! - **Multi-master** (Galera-like): both hosts accept writes and replicate to each other; no
//!   election of their own. Each fences with the tokens it has seen itself or received from
//!   its peer, so two nodes writing to different members are fenced against each other only
//!   as far as replication has carried the newer token.

pub mod client;
pub mod proto;
pub mod server;
pub mod state;

pub use client::{DbCallError, DbClient};
pub use server::{DbServerConfig, database_process};

#[cfg(test)]
mod tests;

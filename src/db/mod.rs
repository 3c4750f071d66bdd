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
//! Each mode behaves like a database the platform would deploy when it fails over on its own,
//! safely: no mode lets two hosts accept conflicting writes, so a write refused by the fencing
//! check on one host cannot be accepted by the other.
//!
//! - **Single**: one host.
//! - **Primary/replica, synchronous replication** (PostgreSQL `synchronous_commit` with a
//!   synchronous standby, Patroni's synchronous mode): the acting primary commits a write, a
//!   fence or a run-once update only once its replica has certified it (it answers
//!   `Unavailable` after `commit_timeout` without that), so a primary cut from its replica
//!   accepts nothing. The replica refuses writes (`Unavailable`) until its own failure
//!   detector — silence of an acting primary for `failover_after` on the replica's own
//!   monotonic clock — promotes it in a new epoch; it may promote only once the primary of
//!   its epoch said it commits in sync with it (so it holds every commit, the newest token
//!   included). A promoted replica takes writes alone: its old primary cannot commit anything,
//!   since the promoted host refuses to certify an older epoch. The old primary steps down when
//!   it hears the later epoch, merges the newest token and row, and once it is heard as the
//!   replica of the new epoch, commits are synchronous again (and it may take over in turn).
//!   A node sends writes to the host it believes acts and moves to the other one when that
//!   host times out, resets or answers `Unavailable`. The price: a replica crash or a cut
//!   between the hosts stops writes until the replica promotes or returns.
//! - **Multi-master, Galera-like certification**: both members accept writes from nodes, and
//!   a commit needs the other member's certification (Galera's group communication; a member
//!   outside a primary component refuses writes). **With two members and no arbitrator,
//!   neither has a quorum alone**: a cut between them, a crash or a pause of one stops writes
//!   on both until they meet again (add an arbitrator in production if this matters; the
//!   model keeps the two-member deployment, as Galera without garbd behaves). The peer
//!   certifies a proposal only if its token is not older than the newest it has seen, and a
//!   member counts its own proposal's token as seen before it asks: of two crossing proposals
//!   the older token fails, and the proposer checks its write again against what it learnt
//!   meanwhile before it commits. A crossing run-once row update fails on both members.
//!
//! In both replicated modes a proposal the proposer gave up on (timeout) may still be
//! certified later by the peer: its token then counts as seen there (tokens only move
//! forward, so this refuses nothing a newer grant had not already superseded) and its row
//! update lands late, as a real commit whose client saw a timeout.

pub mod client;
pub mod proto;
pub mod server;
pub mod state;

pub use client::{DbCallError, DbClient};
pub use server::{CertifiedWriteDating, DbServerConfig, database_process};

#[cfg(test)]
mod tests;

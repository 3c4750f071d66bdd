//! Master selection for hot/cold node pairs: which of a pair's nodes is master, handed to the
//! node with a fencing token, changed only after the old master has stopped.
//!
//! The node talks to a [`MasterSelector`] (so a Raft-based backend can replace ZooKeeper later)
//! and gets [`RoleEvent`]s in order. The ZooKeeper implementation ([`zk_selector`]) runs on any
//! [`Coordination`](crate::coord::Coordination) session and any
//! [`Environment`](crate::env::Environment): tokio in production, the simulator in tests, the
//! same code in both.
//!
//! # Embedding
//!
//! ```no_run
//! use splitbrain::coord::Coordination;
//! use splitbrain::election::{
//!     DigestCredentials, FencingToken, Health, MasterSelector, Policy, Priority, RoleEvent,
//!     SelectorConfig, zk_selector,
//! };
//! use splitbrain::env::{Environment, TokioEnv};
//! use splitbrain::zk::types::ZkResult;
//! use std::future::Future;
//! use std::time::Duration;
//! use splitbrain::sync::watch;
//!
//! /// The master's work. Every write to the shared database carries `token`; the database keeps
//! /// the highest token it has seen and refuses writes with a lower one.
//! async fn serve_as_master(token: FencingToken, mut stop: watch::Receiver<bool>) {
//!     let _ = stop.wait_for(|stop| *stop).await;
//!     let _ = token;
//! }
//!
//! async fn database_and_bus_reachable() -> bool {
//!     true
//! }
//!
//! /// Steps down for an upgrade and stands again afterwards.
//! async fn rolling_upgrade(selector: impl MasterSelector) {
//!     // Returns once this node is no longer master (it acknowledged the demotion) and its
//!     // candidacy is gone; the other node of the pair can take over.
//!     if selector.relinquish().await.is_ok() {
//!         // ... upgrade and restart the node's services ...
//!         let _ = selector.rejoin();
//!     }
//! }
//!
//! /// Serves the node's admin API (not shown); an upgrade request runs `rolling_upgrade`.
//! fn start_admin_endpoint(selector: impl MasterSelector + 'static) {
//!     let _ = selector;
//! }
//!
//! async fn run_node<C, F, Fut>(connect: F) -> Result<(), Box<dyn std::error::Error>>
//! where
//!     C: Coordination,
//!     F: Fn() -> Fut + Send + Sync + 'static,
//!     Fut: Future<Output = ZkResult<C>> + Send,
//! {
//!     let env = TokioEnv::new();
//!     let config = SelectorConfig::new(
//!         "/corda/election", "bank-a", "bank-a-dc1", Priority(100), Policy::PreEmptive,
//!     )
//!     .with_credentials(DigestCredentials::new("bank-a", "pair secret"));
//!
//!     // The health gate: the node withdraws while it cannot reach its database or bus.
//!     let (health_tx, health) = watch::channel(Health::Healthy);
//!     let checks = env.clone();
//!     env.spawn(async move {
//!         loop {
//!             let healthy = database_and_bus_reachable().await;
//!             health_tx.send_replace(if healthy { Health::Healthy } else { Health::Unhealthy });
//!             checks.sleep(Duration::from_secs(2)).await;
//!         }
//!     });
//!
//!     let (selector, mut events, task) = zk_selector(config, connect, env.clone(), health)?;
//!     task.spawn();
//!
//!     // The admin endpoint gets a clone of the handle; it must run `rolling_upgrade` on its
//!     // own task, never on the one below, which acknowledges demotions.
//!     start_admin_endpoint(selector.clone());
//!
//!     let mut worker = None;
//!     while let Some(event) = events.recv().await {
//!         match event {
//!             RoleEvent::Promoted { token } => {
//!                 let (stop, stopped) = watch::channel(false);
//!                 worker = Some((stop, tokio::spawn(serve_as_master(token, stopped))));
//!             }
//!             RoleEvent::Demoted { ack, .. } => {
//!                 if let Some((stop, work)) = worker.take() {
//!                     stop.send_replace(true);
//!                     let _ = work.await; // in-flight transactions finish or abort first
//!                 }
//!                 ack.stopped(); // only now may the selector let the other node take over
//!             }
//!         }
//!     }
//!     selector.shutdown().await?;
//!     Ok(())
//! }
//! ```
//!
//! # Znodes
//!
//! ```text
//! <root>                         persistent; world may read and create, nobody may delete
//! <root>/<pair>                  persistent, pair ACL (digest of the pair's credentials)
//! <root>/<pair>/term             persistent: {"holder": {"name", "session"}} or {"holder": null}
//! <root>/<pair>/candidates       persistent
//!     <name>-p<priority>         ephemeral: {"name", "priority"}
//! ```
//!
//! A candidate stands by creating its ephemeral znode; name and priority are parsed from its
//! data and its `ephemeralOwner` tells which session it belongs to. Candidates rank by priority
//! (a number, higher first), then by name: both survive restarts, so the ranking does not
//! depend on creation order, sequence numbers, session ids or the order the server lists
//! children in.
//!
//! Mastership is a **claim** recorded in the term znode: one multi that checks the claimant's
//! candidacy exists and rewrites the term record naming the claimant's session, compared
//! against the term version the claimant read. A node is master only after its claim
//! committed. A holder is *live* while a candidacy of its name owned by its session exists.
//! Nobody claims while the holder is live; a holder gives the term up by releasing it (a
//! compare-and-set back to no holder) after its node acknowledged the demotion, or by losing
//! its session (its candidacy goes with it).
//!
//! # Policies
//!
//! - [`Policy::PreEmptive`]: the best candidate must be master. A holder that sees a better
//!   candidate demotes itself, waits for the node to stop, then releases; the better candidate
//!   then claims. There is no moment with two masters, and no timed hand-over.
//! - [`Policy::Sticky`]: the holder keeps the term while it stands; when it goes, the best
//!   remaining candidate claims. No fail-back.
//!
//! # Safety rules, each with its test
//!
//! - **Disconnected is loss.** A master that sees its session leave SyncConnected is demoted at
//!   once (not only on Expired); every call in flight is abandoned as soon as the session
//!   disconnects; a master never sits out a retry back-off with a broken connection. After
//!   reconnecting with the same session it claims again, for a fresh token
//!   (`decide::tests::holder_that_is_not_acting_reclaims_for_a_fresh_token_or_releases`;
//!   `tests/election_live.rs`, `disconnected_master_stops_at_once_and_reclaims_with_a_fresh_token`).
//! - **Quorum-confirmed lease.** Connected is no proof of holding the session: a ZooKeeper
//!   follower cut from its leader (or lagging behind it) goes on answering its clients for up
//!   to syncLimit·tickTime while the leader expires their sessions. So a master confirms its
//!   session through the leader — a `sync`, which the session's server forwards to the leader
//!   and answers only after the leader did — every lease/4, and is demoted (the usual way: role
//!   watch, Demoted event, acknowledgement) once no confirmation *sent* within the last lease
//!   was answered; the claim that made it master counts as the first. The lease is 2/5 of the
//!   negotiated session timeout, on the node's monotonic clock ([`lease`]; bound below, under
//!   "Timing assumption"). While the same session confirms again, the node claims again for a
//!   fresh token, as after a reconnection. Renewals run only while master, so a quiet pair's
//!   standby costs the ensemble nothing (`lease::tests`; `tests/election_sim`,
//!   `master_behind_a_zombie_follower_stops_before_the_standby_starts`; scenarios
//!   `zombie-follower-site-isolated`, `zombie-follower-dc-partition`).
//! - **SessionMoved ends the connection's part.** `SessionMoved` on a request means the
//!   session's owner moved to another server (a reconnection this client abandoned, completed
//!   late): nothing sent on this connection will succeed again. The selector demotes, closes
//!   the session and opens a new one, as zookeeper-client does (it ends the session as Expired
//!   on SessionMoved) and as ZooKeeper's server intends (it closes such a connection, since
//!   ZOOKEEPER-710) — never retries on the same connection (scenarios
//!   `session-moved-no-master`, `session-moved-wrong-priority`).
//! - **Own session only.** A claim is made only on a candidacy whose `ephemeralOwner` is the
//!   current session; a leftover znode of an earlier incarnation is waited out, never adopted
//!   (`grants_only_on_own_sessions_znode`, `term_naming_my_name_with_another_session_is_not_mine`).
//! - **Recreate the election, claim it late.** NoNode on the election's persistent znodes
//!   (deleted, or the ensemble lost its data) re-creates them; a master that finds them gone
//!   is demoted first (`tests/election_live.rs`,
//!   `deleted_election_is_recreated_and_the_master_demoted_first`). A re-created term is
//!   claimed only a session timeout after the claimant first saw it: the master of the deleted
//!   election may not have heard of the deletion yet (a slow link, a lagging server), and it
//!   stops within that time — by its watches, its next read or its lease. A term counts as
//!   re-created when nobody has claimed it since its znode was created and the election has
//!   lost znodes before (the pair's or the root's znodes have a cversion above their number of
//!   children); a first deployment claims at once (`decide::tests`,
//!   `new_term_is_claimed_only_once_waited_out`; the model check's election deletions;
//!   scenario `election-deleted-under-slow-master`). Every other write to the term goes with
//!   the writer's own candidacy in one multi (created, checked or deleted), so a release
//!   decided on a term read before a deletion fails on the re-created one even at the same
//!   version (`a_release_read_before_a_deletion_cannot_clear_the_re_created_term`).
//! - **One-shot watches only**, re-armed by the first read after each one fired:
//!   zookeeper-client 0.11.2 does not restore persistent watches after a reconnect, while
//!   one-shot watches are re-sent with the session's last zxid and fire for anything missed
//!   (`tests/election_live.rs`: a standby whose watches predate a disconnection still sees the
//!   master crash). A watch that has not fired is kept rather than re-armed, so a quiet pair
//!   does not pile up registrations.
//! - **Per-pair ACLs.** Every znode of a pair carries the digest ACL of the pair's
//!   credentials; the shared root grants world only READ and CREATE, so no client can delete a
//!   pair's election (`config::tests::layout`, `digest_id_matches_zookeeper`).
//! - **Stop before release.** A master is demoted (role watch first, then the [`RoleEvent::Demoted`]
//!   event) and the selector waits for the node's [`DemotionAck`] before it withdraws its
//!   candidacy, releases the term or claims again
//!   (`master_is_demoted_before_anything_else_when_it_stops_standing`, and the model check in
//!   `decide::tests::model`, which interleaves several nodes with faults and asserts after every
//!   step that at most one node acts as master and that the master holds the latest token).
//!
//! # Fencing token
//!
//! The token is the zxid of the claim: the term znode's `mzxid` in the reply to the claim's
//! multi. Zxids of committed writes strictly increase, across ZooKeeper leader changes too (the
//! epoch is the high half), and every grant — a first claim, a claim after a hand-over, a
//! re-claim after a reconnection — is a new write, so every grant's token is greater than every
//! earlier one's.
//!
//! Rejected alternatives: the candidate znode's `czxid` goes **backwards** whenever mastership
//! passes to a candidate that joined earlier (sticky hand-over after a relinquish, a standby
//! that has waited since start-up), so a database fencing on it would refuse the new master and
//! accept the old one. A counter kept in the term znode's version restarts at 0 if the znode is
//! ever re-created (P6 recovery). Limitation: an ensemble that loses **all** its data restarts
//! zxids too; the guarded store's highest-seen token must then be reset by the operator.
//!
//! # Watches and scale
//!
//! Each candidate holds two one-shot watches: the term znode (data) and its pair's candidates
//! znode (children). A change in a pair wakes only that pair's candidates, so one ensemble
//! serving a hundred pairs sees at most two re-reads per change, and nothing at all while
//! nothing changes (apart from the optional [`SelectorConfig::recheck_interval`] safety net).
//! The trade-off against Curator's predecessor watch: predecessor watching avoids a herd with
//! many candidates, but it cannot see a better candidate joining *behind* it (needed for
//! pre-emption) nor a priority change; with two candidates per pair the "herd" is one other
//! node, so watching the whole (tiny) candidate set is the cheaper correct choice. A re-read
//! costs the ensemble `2 + candidates` reads, served locally by the candidate's server.
//! Measured in the simulator (`one_ensemble_serves_a_hundred_pairs_without_herds`): with 100
//! pairs settled, the ensemble sees no client operations at all; one pair's failover costs
//! about ten, all from that pair's standby.
//!
//! # Where it is tested
//!
//! - `decide::tests`: one table test per rule, an exhaustive check of every small view against
//!   the safety rules, and a model check (several nodes, interleaved steps, faults).
//! - `tests/election_sim/`: the selector unchanged on simulated hosts against the simulated
//!   three-server ensemble, under 16 seeds each: failover on a master crash, relinquish
//!   hand-over only after the master stopped, pre-emption by a higher-priority joiner,
//!   withdrawal on failed health checks, a master cut from ZooKeeper stopping before the
//!   standby starts (both client models), a pause longer than the session with no stale write
//!   accepted, a restarted master waiting out its old session, a ZooKeeper leader crash,
//!   100 pairs on one ensemble, and same seed, same history.
//! - `tests/election_live.rs`: the same selector on tokio against real ZooKeeper 3.8.
//!
//! # Timing assumption
//!
//! Demotion on Disconnected keeps two masters apart only while the client notices a broken
//! connection before the server expires the session (zookeeper-client: 2/5 of the session
//! timeout; Java: 2/3; expiry: at least the full timeout). A process paused for longer than the
//! session timeout resumes believing it is master until it runs the selector again: that case
//! is what the fencing token is for, and why the node must fence every guarded write — or check
//! [`ZkSelector::acting_until`] just before each action, which the lease below bounds.
//!
//! The lease covers the connection that stays up while its server has lost the leader. Let a
//! confirmation sent at `s` be answered. The leader answered it at some `p ≥ s` while in
//! contact with the session's server (an expired session's connection is closed by its server
//! before that answer can arrive). A follower passes its clients' touches to the leader with
//! each ping reply, every tickTime/2, and this master's client sends a renewal at least every
//! lease/4, so by `p` the leader had heard of the session no earlier than
//! `s − tickTime/2 − lease/4`, and cannot expire it before `s + T − tickTime/2 − lease/4`.
//! ZooKeeper accepts no session timeout below 2·tickTime, so that is at least `s + 0.65·T`,
//! while the lease ends at `s + 0.4·T`: the node has T/4 to stop acting after its demotion
//! (`lease::tests::lease_ends_a_quarter_of_the_session_timeout_before_the_earliest_expiry`),
//! minus network delay and the drift of its clock's rate against the leader's. A node whose
//! demotion takes longer than T/4 must fence its writes, as for a pause.

pub mod config;
pub mod decide;
#[cfg(feature = "testbed")]
mod flawed;
pub mod io;
pub mod known_bugs;
pub mod lease;
pub mod record;
pub mod role;
pub mod zk;

pub use config::{ConfigError, DigestCredentials, SelectorConfig};
pub use known_bugs::{ElectionCode, KnownBug};
pub use role::{
    DemotionAck, DemotionReason, FencingToken, Health, Policy, Priority, Role, RoleEvent,
    SelectorError,
};
pub use zk::{
    Connect, LogFn, RoleEvents, ZkSelector, ZkSelectorParts, ZkSelectorTask, zk_selector,
};

use crate::sync::watch;
use std::future::Future;

/// A node's view of master selection for its pair, whatever the coordination backend.
///
/// Role changes arrive as [`RoleEvent`]s from the channel the backend returned at start;
/// [`MasterSelector::role`] shows the current role for observers (metrics, health endpoints).
pub trait MasterSelector: Send + Sync {
    /// The current role. Never shows Master after the selector knows or must assume the
    /// mastership lost.
    fn role(&self) -> watch::Receiver<Role>;

    /// Stops standing: if master, the node is demoted (and must acknowledge) first. Completes
    /// once the candidacy is gone. A later [`MasterSelector::rejoin`] cancels it. Must not be
    /// awaited by the task that acknowledges demotions.
    fn relinquish(&self) -> impl Future<Output = Result<(), SelectorError>> + Send;

    /// Stands for election again after a relinquish.
    fn rejoin(&self) -> Result<(), SelectorError>;

    /// Changes this candidate's priority; under [`Policy::PreEmptive`] this may hand over
    /// mastership either way.
    fn set_priority(&self, priority: Priority) -> Result<(), SelectorError>;

    /// Demotes (waiting for the acknowledgement), leaves the election and stops the selector.
    fn shutdown(&self) -> impl Future<Output = Result<(), SelectorError>> + Send;
}

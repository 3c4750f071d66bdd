//! The simulated ZooKeeper client: a session over the simulated network protocol
//! ([`crate::zk::proto`]) that implements [`crate::coord::Coordination`].
//!
//! By default it reproduces zookeeper-client 0.11.2 — the crate the election code uses against
//! a real ensemble — and with [`ClientModel::Java`] the Java client of ZooKeeper 3.8: their
//! liveness timers, server selection and back-off, when they report Disconnected and Expired,
//! how they treat requests across a disconnect, and how watches are kept and re-registered.
//!
//! Layout: [`session`] is the whole state machine without I/O (time passed in), so it is
//! tested packet by packet; `driver` is the task that runs it on a host; `handle` is the
//! user-facing [`SimZkClient`]; [`requests`] is the bookkeeping of calls; [`timing`],
//! [`endpoints`] and [`watches`] hold the per-library rules.
//!
//! Choices where the libraries leave room, or the simulated protocol differs:
//! - Requests issued while disconnected wait for the next connection (the crate: they sit in
//!   its request channel until the session is back); in the Java model they fail with
//!   `ConnectionLoss` if the next connect attempt fails (`ClientCnxn.cleanup`). In-flight
//!   requests fail with `ConnectionLoss` when the connection breaks, in both — except the
//!   crate's `add_auth`, which it retries on the next connection.
//! - The last seen zxid comes from reply headers only, as in both libraries (they ignore the
//!   zxid of pongs and notifications).
//! - The crate pipelines connect, auth and SetWatches, then waits for the pong of a first ping
//!   before it serves requests; Java sends auth, SetWatches and queued requests once the
//!   connect response is in.
//! - There is no TCP handshake in the simulated network, so the crate's TCP connect timeout
//!   is modelled as "no connect response yet", bounded by the round's deadline as the crate's
//!   connect is.
//! - Watches are one-shot [`crate::coord::Watch`]es in both models: only terminal session
//!   states reach them (the crate's behaviour); Java's Disconnected/SyncConnected events to
//!   every watcher are seen through `state_watcher` instead.
//! - A watch nobody waits for any more is not re-registered on reconnect (the crate removes it
//!   on the server; the protocol has no removeWatches).
//! - `connect` gives up with `OperationTimeout` after the connect deadline (the crate's
//!   `Error::Timeout`; Java has no such deadline and would keep trying).
//! - Dropping the last handle closes the session in both models (the crate does; a dropped
//!   Java handle would keep its threads and session alive, which a simulation has no use for).

pub mod config;
mod driver;
pub mod endpoints;
mod handle;
pub mod requests;
pub mod session;
pub mod timing;
pub mod watches;

pub use config::{ClientConfig, ClientModel, DEFAULT_SESSION_TIMEOUT};
pub use handle::SimZkClient;

#[cfg(test)]
mod ensemble_tests;
#[cfg(test)]
mod sim_tests;

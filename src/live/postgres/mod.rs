//! Live mode's database: real PostgreSQL 15 clusters holding a pair's fenced writes.
//!
//! - [`install`]: finding Debian's binaries (and the `postgres` user when running as root);
//! - [`cluster`]: a scratch cluster in a directory: init, start, crash, pause, stop, wipe;
//! - [`schema`]: the fence, checked by the database in the same transaction as the write;
//! - [`rows`]: the database's record of every write, read back for a run's verdicts;
//! - [`replication`]: a primary and a synchronous replica that fail over on their own;
//! - [`conn`], [`signals`]: a connection that lets go of a silent server, and signals to every
//!   server process.
//!
//! Every server listens on 127.0.0.1 only, on a port the caller chooses, and is started
//! through the live harness's launcher, so none outlives the process that started it.
//!
//! # Installing PostgreSQL (developer machines and CI)
//!
//! ```text
//! apt-get update
//! DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql
//! ```
//!
//! Tests that need it fail, never skip, when it is missing, with a message naming the command.

pub mod cluster;
pub mod conn;
mod error;
pub mod install;
pub mod replication;
pub mod rows;
pub mod schema;
mod signals;

pub use cluster::{ClusterOptions, PgCluster};
pub use error::{PgError, describe};
pub use install::{PG_INSTALL_HINT, PgInstall};
pub use replication::{DetectorEvent, DetectorEventKind, HostSpec, HostState, PgPair};
pub use rows::{RowOutcome, WriteRow, dump_rows, read_rows};

#[cfg(test)]
mod tests;

//! What can go wrong when driving a real PostgreSQL cluster.

use std::io;
use std::time::Duration;

/// Why a PostgreSQL operation of the live harness failed.
#[derive(Debug, thiserror::Error)]
pub enum PgError {
    /// PostgreSQL (or its `postgres` system user) is missing; the message says how to install it.
    #[error("{0}")]
    NotInstalled(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    /// A helper program (`initdb`, `pg_basebackup`, single-user mode) failed; `output` is what
    /// it printed.
    #[error("{what} failed ({status})\n{output}")]
    Command {
        what: String,
        status: String,
        output: String,
    },
    /// The server did not reach the awaited state in time; `log` is the tail of its log.
    #[error("{what} within {timeout:?}\n{log}")]
    Timeout {
        what: String,
        timeout: Duration,
        log: String,
    },
    /// The server process exited by itself while the harness waited for it.
    #[error("postgres exited by itself ({status})\n{log}")]
    Exited { status: String, log: String },
    /// The server at `addr` could not be reached.
    #[error("connecting to postgres at {addr}: {source}")]
    Connect {
        addr: std::net::SocketAddr,
        #[source]
        source: super::conn::ConnectError,
    },
    /// A statement the harness sent failed.
    #[error("{context}: {}", describe(source))]
    Sql {
        context: String,
        #[source]
        source: tokio_postgres::Error,
    },
    /// The cluster is in the wrong state for the request (e.g. starting a running cluster).
    #[error("{0}")]
    WrongState(String),
    /// The server answered something the harness cannot make sense of.
    #[error("{0}")]
    Unexpected(String),
}

pub(crate) fn io_error(context: impl Into<String>) -> impl FnOnce(io::Error) -> PgError {
    let context = context.into();
    move |source| PgError::Io { context, source }
}

pub(crate) fn sql_error(
    context: impl Into<String>,
) -> impl FnOnce(tokio_postgres::Error) -> PgError {
    let context = context.into();
    move |source| PgError::Sql { context, source }
}

/// A tokio-postgres error with the server's message and SQLSTATE, which its `Display` leaves
/// out ("db error").
pub fn describe(err: &tokio_postgres::Error) -> String {
    match err.as_db_error() {
        Some(db) => format!(
            "{} {}: {} (SQLSTATE {})",
            db.severity(),
            err,
            db.message(),
            db.code().code()
        ),
        None => match std::error::Error::source(err) {
            Some(source) => format!("{err}: {source}"),
            None => err.to_string(),
        },
    }
}

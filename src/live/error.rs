//! What can go wrong when driving a real ensemble.

use std::io;
use std::time::Duration;

/// Why the harness could not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    /// ZooKeeper or Java is missing; the message says how to install it.
    #[error("{0}")]
    NotInstalled(String),
    #[error("bad ensemble config: {0}")]
    BadConfig(String),
    #[error("no server {index}: the ensemble has {servers}")]
    NoSuchServer { index: usize, servers: usize },
    /// The server is in the wrong state for the request (e.g. restarting a running server).
    #[error("server {index}: {problem}")]
    WrongState { index: usize, problem: String },
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
    /// The awaited condition did not hold in time; `logs` holds the tail of every server's log.
    #[error("{what} within {timeout:?}\n{logs}")]
    Timeout {
        what: String,
        timeout: Duration,
        logs: String,
    },
    /// A server process exited by itself while the harness waited for it.
    #[error("server {index} exited by itself ({status})\n{logs}")]
    Exited {
        index: usize,
        status: String,
        logs: String,
    },
}

pub(crate) fn io_error(context: impl Into<String>) -> impl FnOnce(io::Error) -> HarnessError {
    let context = context.into();
    move |source| HarnessError::Io { context, source }
}

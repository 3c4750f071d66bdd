//! One harness connection to a server: a tokio-postgres client whose connection task dies with
//! it.
//!
//! tokio-postgres splits a connection into a `Client` and a `Connection` future that must be
//! polled on its own task. A server that stops answering (paused, cut off) leaves that task
//! pending forever with its socket open; [`Conn`] aborts the task when dropped, which closes
//! the socket, so giving up on a call really lets go of the server.

use std::net::SocketAddr;
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_postgres::{Client, Config, NoTls};

/// The database every harness cluster keeps its schema in (the one `initdb` creates).
pub const DATABASE: &str = "postgres";
/// The superuser every harness cluster has (`initdb -U postgres`), trusted on 127.0.0.1.
pub const USER: &str = "postgres";

/// A client and its connection task, aborted on drop.
pub struct Conn {
    pub client: Client,
    task: JoinHandle<()>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The libpq-style connection string for `addr` (what nodes and `primary_conninfo` use).
pub fn conninfo(addr: SocketAddr) -> String {
    format!(
        "host={} port={} user={USER} dbname={DATABASE}",
        addr.ip(),
        addr.port()
    )
}

/// A `postgres://` URL for `addr`, as a node process is given it.
pub fn url(addr: SocketAddr) -> String {
    format!("postgres://{USER}@{addr}/{DATABASE}")
}

/// Connects to `addr`, the whole handshake bounded by `timeout`.
pub async fn connect(addr: SocketAddr, timeout: Duration) -> Result<Conn, ConnectError> {
    let mut config = Config::new();
    config
        .host(addr.ip().to_string())
        .port(addr.port())
        .user(USER)
        .dbname(DATABASE)
        .application_name("splitbrain-harness")
        .connect_timeout(timeout);
    connect_config(&config, timeout).await
}

/// Connects with `config`, the whole handshake bounded by `timeout`.
pub async fn connect_config(config: &Config, timeout: Duration) -> Result<Conn, ConnectError> {
    match tokio::time::timeout(timeout, config.connect(NoTls)).await {
        Err(_) => Err(ConnectError::Timeout(timeout)),
        Ok(Err(err)) => Err(ConnectError::Sql(err)),
        Ok(Ok((client, connection))) => {
            let task = tokio::spawn(async move {
                let _ = connection.await;
            });
            Ok(Conn { client, task })
        }
    }
}

/// Why a connection could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("no connection within {0:?}")]
    Timeout(Duration),
    #[error("{}", super::error::describe(.0))]
    Sql(#[from] tokio_postgres::Error),
}

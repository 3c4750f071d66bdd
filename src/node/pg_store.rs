//! The node's fenced store when the database is PostgreSQL (`splitbrain node --database
//! postgres://...`): every write is one call of the database's `splitbrain_write`, which checks
//! the fencing token in the same transaction as the write
//! ([`schema`](crate::live::postgres::schema)).
//!
//! The node is given every host of its database, in its order of preference, and keeps one
//! connection to the host it believes acts (accepts writes), as the simulated node's
//! [`DbClient`](crate::db::DbClient) and a JDBC URL with several hosts do. It moves to the next
//! host when the current one cannot be reached, refuses the connection, is a standby (read-only:
//! `target_session_attrs=read-write` on connect, SQLSTATE 25006 on a write, in recovery on a
//! ping), fails mid-call or does not answer in time.
//!
//! Every call is bounded by the call timeout as a whole, connecting included. Within that
//! bound a call tries the next host only when the previous one certainly wrote nothing (it
//! could not be reached or it is a standby); after a timeout or a connection lost mid-call the
//! write may still commit (a commit waiting for its synchronous standby, say), so the call
//! fails at once and the next call starts on the next host. A timed-out call drops its
//! connection rather than cancelling the statement: a cancelled wait for synchronous
//! replication makes PostgreSQL commit the transaction locally and answer *success*, which
//! would tell the node "accepted" for a write its standby never got.
//!
//! Nothing here panics on a misbehaving server: unexpected answers are errors.

use crate::live::postgres::conn::{Conn, ConnectError, connect_config};
use crate::live::postgres::describe;
use crate::live::postgres::schema::{ACCEPTED, FENCE, REJECTED_STALE};
use std::time::{Duration, Instant};
use tokio_postgres::config::TargetSessionAttrs;
use tokio_postgres::error::SqlState;
use tokio_postgres::{Config, Row, SimpleQueryMessage, Statement};

/// The database's verdict on a write or a fence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Verdict {
    /// The write was accepted (a fence: its token is not older than the newest).
    pub accepted: bool,
    /// The pair's newest token before this call (`None`: the pair's first call).
    pub newest: Option<i64>,
}

/// Why a call got no verdict.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PgStoreError {
    /// A database URL could not be parsed.
    #[error("bad database URL {url:?}: {reason}")]
    BadUrl { url: String, reason: String },
    /// No host answered in time. A write or fence sent may still commit.
    #[error("no answer from {host} within {after:?}")]
    Timeout { host: String, after: Duration },
    /// The connection failed while the call was under way. It may have committed.
    #[error("lost {host} during the call: {reason}")]
    Lost { host: String, reason: String },
    /// Every host was tried and none acts: each was unreachable or a standby. Nothing was
    /// written.
    #[error("no database host accepts writes: {reasons}")]
    Unavailable { reasons: String },
    /// A host refused the call itself (an error from the database other than read-only).
    #[error("{host} refused the call: {reason}")]
    Refused { host: String, reason: String },
    /// A host answered something that is not a verdict.
    #[error("{host} answered unexpectedly: {reason}")]
    Unexpected { host: String, reason: String },
}

/// What a call asks the database.
#[derive(Clone, Copy, Debug)]
enum Call {
    Write { token: i64, write_id: i64 },
    Fence { token: i64 },
}

/// How one attempt on one host ended.
enum Attempt {
    Verdict(Verdict),
    /// Nothing was written there: try the next host within the call's time.
    NextHost(String),
    /// The call is over without a verdict.
    Failed(PgStoreError),
}

/// A node's connection to its pair's database.
pub struct PgStore {
    hosts: Vec<Host>,
    pair: String,
    node: String,
    call_timeout: Duration,
    /// Index into `hosts` of the host believed to act.
    current: usize,
    /// The open connection to `hosts[current]`, if any.
    conn: Option<Conn>,
    /// The write and fence statements, prepared on `conn`: a write is then one round trip
    /// (bind and execute), as the model's database call is, instead of two (a text query is
    /// prepared anew each time). Over a slow link the second trip alone could outlast the
    /// call's timeout.
    prepared: Option<(Statement, Statement)>,
}

const WRITE_SQL: &str = "SELECT outcome, newest FROM splitbrain_write($1, $2, $3, $4)";
const FENCE_SQL: &str = "SELECT outcome, newest FROM splitbrain_fence_raise($1, $2, $3)";

struct Host {
    config: Config,
    /// How errors name it: host:port.
    label: String,
}

impl PgStore {
    /// A store over `urls` (`postgres://user@host:port/db`, in order of preference) for
    /// `node` of `pair`, every call bounded by `call_timeout`. Connects lazily: a database
    /// that is down when the node starts is not an error, only unhealthy (see
    /// [`ping`](Self::ping)).
    pub async fn connect(
        urls: Vec<String>,
        pair: &str,
        node: &str,
        call_timeout: Duration,
    ) -> Result<PgStore, PgStoreError> {
        if urls.is_empty() {
            return Err(PgStoreError::BadUrl {
                url: String::new(),
                reason: "no database URL given".into(),
            });
        }
        let hosts = urls
            .iter()
            .map(|url| {
                let mut config: Config =
                    url.parse()
                        .map_err(|err: tokio_postgres::Error| PgStoreError::BadUrl {
                            url: url.clone(),
                            reason: describe(&err),
                        })?;
                // A standby refuses the session at once instead of failing the first write.
                config
                    .target_session_attrs(TargetSessionAttrs::ReadWrite)
                    .application_name(format!("splitbrain-{node}"));
                Ok(Host {
                    label: host_label(&config, url),
                    config,
                })
            })
            .collect::<Result<Vec<_>, PgStoreError>>()?;
        Ok(PgStore {
            hosts,
            pair: pair.to_string(),
            node: node.to_string(),
            call_timeout,
            current: 0,
            conn: None,
            prepared: None,
        })
    }

    /// Writes under `token`: accepted unless the pair's newest token is newer. The database
    /// records the verdict either way.
    pub async fn write(&mut self, token: i64, write_id: u64) -> Result<Verdict, PgStoreError> {
        let write_id = i64::try_from(write_id).map_err(|_| PgStoreError::BadUrl {
            url: String::new(),
            reason: format!("write id {write_id} does not fit a bigint"),
        })?;
        self.call(Call::Write { token, write_id }).await
    }

    /// Raises the pair's newest token to `token` without writing (a new master's first act),
    /// so that writes of older grants are refused from now on. Accepted iff `token` is not
    /// older than the newest.
    pub async fn fence(&mut self, token: i64) -> Result<Verdict, PgStoreError> {
        self.call(Call::Fence { token }).await
    }

    /// Whether a host answers within the call timeout and is not in recovery (a primary):
    /// the node's health probe.
    pub async fn ping(&mut self) -> bool {
        let deadline = Instant::now() + self.call_timeout;
        for _ in 0..self.hosts.len() {
            let Some(remaining) = remaining(deadline) else {
                return false;
            };
            let Ok(conn) = self.connected(remaining).await else {
                self.next_host();
                continue;
            };
            // The simple query protocol: one round trip, as the model's probe (an extended
            // query would prepare first, a second trip that a slow link makes outlast the call).
            let asked = tokio::time::timeout(
                remaining,
                conn.client.simple_query("SELECT pg_is_in_recovery()"),
            )
            .await;
            let primary = |messages: &[SimpleQueryMessage]| {
                messages
                    .iter()
                    .any(|m| matches!(m, SimpleQueryMessage::Row(row) if row.get(0) == Some("f")))
            };
            match asked {
                Ok(Ok(messages)) if primary(&messages) => return true,
                Ok(Ok(_)) | Ok(Err(_)) => self.next_host(),
                Err(_) => {
                    self.next_host();
                    return false;
                }
            }
        }
        false
    }

    /// The host the store believes acts (host:port).
    pub fn current_host(&self) -> &str {
        &self.hosts[self.current].label
    }

    async fn call(&mut self, call: Call) -> Result<Verdict, PgStoreError> {
        let deadline = Instant::now() + self.call_timeout;
        let mut reasons = Vec::new();
        for _ in 0..self.hosts.len() {
            let Some(remaining) = remaining(deadline) else {
                break;
            };
            match self.attempt(call, remaining).await {
                Attempt::Verdict(verdict) => return Ok(verdict),
                Attempt::Failed(err) => {
                    self.next_host();
                    return Err(err);
                }
                Attempt::NextHost(reason) => {
                    reasons.push(format!("{}: {reason}", self.hosts[self.current].label));
                    self.next_host();
                }
            }
        }
        if reasons.len() < self.hosts.len() {
            return Err(PgStoreError::Timeout {
                host: self.hosts[self.current].label.clone(),
                after: self.call_timeout,
            });
        }
        Err(PgStoreError::Unavailable {
            reasons: reasons.join("; "),
        })
    }

    async fn attempt(&mut self, call: Call, remaining: Duration) -> Attempt {
        let started = Instant::now();
        let host = self.hosts[self.current].label.clone();
        match self.connected(remaining).await {
            Ok(_) => {}
            Err(ConnectError::Timeout(_)) => {
                return Attempt::Failed(PgStoreError::Timeout {
                    host,
                    after: self.call_timeout,
                });
            }
            // Refused, reset, read-only, starting up: nothing was sent.
            Err(ConnectError::Sql(err)) => return Attempt::NextHost(describe(&err)),
        }
        let Some(conn) = self.conn.as_ref() else {
            return Attempt::NextHost("no connection".into());
        };
        let left = remaining.saturating_sub(started.elapsed());
        let (pair, node) = (self.pair.as_str(), self.node.as_str());
        let prepared = self.prepared.clone();
        let query = async {
            // Both statements in one round trip, once per connection.
            let (write, fence) = match prepared {
                Some(statements) => statements,
                None => tokio::try_join!(
                    conn.client.prepare(WRITE_SQL),
                    conn.client.prepare(FENCE_SQL)
                )?,
            };
            let row = match call {
                Call::Write { token, write_id } => {
                    conn.client
                        .query_one(&write, &[&pair, &node, &token, &write_id])
                        .await
                }
                Call::Fence { token } => {
                    conn.client.query_one(&fence, &[&pair, &node, &token]).await
                }
            }?;
            Ok::<_, tokio_postgres::Error>((row, (write, fence)))
        };
        let answer = match tokio::time::timeout(left, query).await {
            Err(_) => {
                // Dropping the connection, not cancelling the statement: see the module doc.
                self.conn = None;
                return Attempt::Failed(PgStoreError::Timeout {
                    host,
                    after: self.call_timeout,
                });
            }
            Ok(answer) => answer,
        };
        match answer {
            Ok((row, statements)) => {
                self.prepared = Some(statements);
                match verdict(call, &row) {
                    Ok(verdict) => Attempt::Verdict(verdict),
                    Err(reason) => Attempt::Failed(PgStoreError::Unexpected { host, reason }),
                }
            }
            Err(err) => {
                self.conn = None;
                match err.code() {
                    // A standby (promoted away from, or never the primary): nothing written.
                    Some(code) if *code == SqlState::READ_ONLY_SQL_TRANSACTION => {
                        Attempt::NextHost(describe(&err))
                    }
                    // The server refused the statement and rolled it back.
                    Some(_) if !is_connection_error(&err) => {
                        Attempt::Failed(PgStoreError::Refused {
                            host,
                            reason: describe(&err),
                        })
                    }
                    _ => Attempt::Failed(PgStoreError::Lost {
                        host,
                        reason: describe(&err),
                    }),
                }
            }
        }
    }

    /// The connection to the current host, made if there is none.
    async fn connected(&mut self, timeout: Duration) -> Result<&Conn, ConnectError> {
        if self
            .conn
            .as_ref()
            .is_some_and(|conn| conn.client.is_closed())
        {
            self.conn = None;
        }
        if self.conn.is_none() {
            let conn = connect_config(&self.hosts[self.current].config, timeout).await?;
            self.conn = Some(conn);
            self.prepared = None;
        }
        self.conn
            .as_ref()
            .ok_or(ConnectError::Timeout(Duration::ZERO))
    }

    fn next_host(&mut self) {
        self.conn = None;
        self.current = (self.current + 1) % self.hosts.len();
    }
}

/// Time left before `deadline`, if any.
fn remaining(deadline: Instant) -> Option<Duration> {
    deadline
        .checked_duration_since(Instant::now())
        .filter(|left| !left.is_zero())
}

/// An error that ends the session (the server shut down, crashed or is going away): the
/// statement's fate is unknown.
fn is_connection_error(err: &tokio_postgres::Error) -> bool {
    if err.is_closed() {
        return true;
    }
    match err.code() {
        None => true,
        Some(code) => {
            // Class 08 (connection exception) and 57P0x (operator intervention: shutdown,
            // crash shutdown, cannot connect now) end the session.
            code.code().starts_with("08") || code.code().starts_with("57P")
        }
    }
}

/// The verdict in a `splitbrain_write` / `splitbrain_fence_raise` row.
fn verdict(call: Call, row: &Row) -> Result<Verdict, String> {
    let outcome: String = row.try_get(0).map_err(|err| err.to_string())?;
    let newest: Option<i64> = row.try_get(1).map_err(|err| err.to_string())?;
    let accepted = match (call, outcome.as_str()) {
        (Call::Write { .. }, ACCEPTED) => true,
        (Call::Write { .. }, REJECTED_STALE) => false,
        (Call::Fence { token }, FENCE) => newest.is_none_or(|n| token >= n),
        (_, other) => return Err(format!("outcome {other:?} for {call:?}")),
    };
    Ok(Verdict { accepted, newest })
}

/// `host:port` of the first host in `config`, else the URL itself.
fn host_label(config: &Config, url: &str) -> String {
    use tokio_postgres::config::Host;
    let port = config.get_ports().first().copied().unwrap_or(5432);
    match config.get_hosts().first() {
        Some(Host::Tcp(host)) => format!("{host}:{port}"),
        Some(Host::Unix(path)) => format!("{}:{port}", path.display()),
        None => url.to_string(),
    }
}

//! The database host's process: answers nodes on [`ports::DATABASE`], applies writes one at a
//! time after its write latency, keeps its state on its disk, and talks to its peer host (the
//! replica, or the other multi-master member).

use super::proto::{DbMsg, DbRequest, DbResponse};
use super::state::{DbDisk, DbState};
use crate::env::{Environment, Interval};
use crate::sim::history::Record;
use crate::sim::net::{Addr, HostId, Payload, ports};
use crate::sim::topology::DatabaseMode;
use crate::sim::world::{HostCtx, ProcessFn};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How often the two hosts of a database exchange their state when nothing changes.
pub const DEFAULT_HEARTBEAT_INTERVAL: Duration = Duration::from_millis(500);
/// How long a replica waits without hearing an acting primary before it promotes itself.
pub const DEFAULT_FAILOVER_AFTER: Duration = Duration::from_secs(3);

/// One database host's configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct DbServerConfig {
    /// The pair whose writes this database holds (for the history).
    pub pair: String,
    pub mode: DatabaseMode,
    /// Whether the host accepts writes on its first start (the primary, a multi-master
    /// member); later starts take it from the disk.
    pub starts_acting: bool,
    /// The other host of the database, if any.
    pub peer: Option<HostId>,
    pub write_latency: Duration,
    /// The run-once guard's wait interval, if the guard is on.
    pub run_once_wait: Option<Duration>,
    pub heartbeat_interval: Duration,
    /// The replica's failure detector (primary/replica mode only), on the replica's own
    /// monotonic clock.
    pub failover_after: Duration,
}

impl DbServerConfig {
    pub fn new(pair: &str, mode: DatabaseMode, starts_acting: bool, peer: Option<HostId>) -> Self {
        DbServerConfig {
            pair: pair.to_string(),
            mode,
            starts_acting,
            peer,
            write_latency: Duration::ZERO,
            run_once_wait: None,
            heartbeat_interval: DEFAULT_HEARTBEAT_INTERVAL,
            failover_after: DEFAULT_FAILOVER_AFTER,
        }
    }
}

/// The process of a database host.
pub fn database_process(config: DbServerConfig) -> ProcessFn {
    let config = Arc::new(config);
    Arc::new(move |ctx: HostCtx| {
        let config = config.clone();
        Box::pin(async move { Server::start(ctx, config).run().await })
    })
}

struct Server {
    ctx: HostCtx,
    config: Arc<DbServerConfig>,
    disk: Arc<Mutex<DbDisk>>,
    state: DbState,
    /// When (this host's monotonic clock) an acting peer was last heard.
    peer_heard: Duration,
}

impl Server {
    fn start(ctx: HostCtx, config: Arc<DbServerConfig>) -> Server {
        let disk = ctx.disk::<DbDisk>();
        let state = disk
            .lock()
            .expect("database disk lock")
            .state
            .get_or_insert_with(|| DbState::new(config.starts_acting))
            .clone();
        ctx.trace(
            "db",
            format_args!(
                "start: acting {} epoch {} newest token {:?}",
                state.acting, state.epoch, state.newest_token
            ),
        );
        let peer_heard = ctx.env.now();
        Server {
            ctx,
            config,
            disk,
            state,
            peer_heard,
        }
    }

    async fn run(mut self) {
        let mut mailbox = self.ctx.net.bind(ports::DATABASE);
        let mut heartbeat = Interval::new(self.ctx.env.clone(), self.config.heartbeat_interval);
        // The heartbeat only syncs the peer and watches it: a database without one has
        // nothing to do on it (and a world of a hundred would wake twice a second each).
        let has_peer = self.config.peer.is_some();
        loop {
            tokio::select! {
                biased;
                packet = mailbox.recv() => {
                    let Some(packet) = packet else { return };
                    if let Payload::Db(msg) = packet.payload {
                        self.on_message(packet.from, msg).await;
                    }
                }
                () = heartbeat.tick(), if has_peer => self.on_heartbeat(),
            }
        }
    }

    async fn on_message(&mut self, from: Addr, msg: DbMsg) {
        match msg {
            DbMsg::Request { id, body } => {
                let body = self.on_request(body).await;
                self.ctx.net.send(
                    ports::DATABASE,
                    from,
                    Payload::Db(DbMsg::Response { id, body }),
                );
            }
            DbMsg::Sync(snapshot) => {
                if Some(from.host) != self.config.peer {
                    return;
                }
                if snapshot.acting {
                    self.peer_heard = self.ctx.env.now();
                }
                let was_acting = self.state.acting;
                if self.state.merge(&snapshot, self.config.mode) {
                    if was_acting && !self.state.acting {
                        self.ctx.trace(
                            "db",
                            format_args!("stepping down: peer acts in epoch {}", snapshot.epoch),
                        );
                    }
                    self.save();
                }
            }
            DbMsg::Response { .. } => {}
        }
    }

    async fn on_request(&mut self, body: DbRequest) -> DbResponse {
        match body {
            DbRequest::Ping => DbResponse::Pong {
                acting: self.state.acting,
                epoch: self.state.epoch,
            },
            DbRequest::Write { node, token, write } => {
                if self.state.acting {
                    // Applying takes time; writes are applied one after the other, in arrival
                    // order, and judged when they apply.
                    self.ctx.env.sleep(self.config.write_latency).await;
                }
                let guard = self.config.run_once_wait.is_some();
                let outcome = self.state.write(&node, token, guard);
                self.ctx.world.record(Record::WriteResult {
                    pair: self.config.pair.clone(),
                    node,
                    token,
                    write,
                    outcome: outcome.clone(),
                });
                if outcome == crate::sim::history::WriteOutcome::Accepted {
                    self.save();
                    self.sync_peer();
                }
                DbResponse::Write(outcome)
            }
            DbRequest::Fence { node, token } => {
                if self.state.acting {
                    self.ctx.env.sleep(self.config.write_latency).await;
                }
                let outcome = self.state.fence(token);
                self.ctx
                    .trace("db", format_args!("fence {node} {token:#x}: {outcome:?}"));
                if outcome == crate::sim::history::WriteOutcome::Accepted {
                    self.save();
                    self.sync_peer();
                }
                DbResponse::Write(outcome)
            }
            DbRequest::RunOnce { node } => {
                let Some(wait) = self.config.run_once_wait else {
                    // No guard configured: the table does not exist.
                    return DbResponse::RunOnce(super::proto::RunOnceVerdict::Unavailable);
                };
                let now = self.ctx.env.wall_millis();
                let verdict = self.state.run_once(&node, now, wait.as_millis() as i64);
                self.ctx
                    .trace("db", format_args!("run-once {node}: {verdict:?}"));
                self.save();
                self.sync_peer();
                DbResponse::RunOnce(verdict)
            }
        }
    }

    fn on_heartbeat(&mut self) {
        let silent = self.ctx.env.now().saturating_sub(self.peer_heard);
        if self.config.mode == DatabaseMode::PrimaryReplica
            && self.config.peer.is_some()
            && !self.state.acting
            && silent >= self.config.failover_after
        {
            self.state.promote();
            self.ctx.trace(
                "db",
                format_args!(
                    "promoting: primary silent for {silent:?}, epoch {}",
                    self.state.epoch
                ),
            );
            self.ctx.world.count("db.failovers", 1);
            self.save();
        }
        self.sync_peer();
    }

    fn sync_peer(&self) {
        if let Some(peer) = self.config.peer {
            self.ctx.net.send(
                ports::DATABASE,
                Addr {
                    host: peer,
                    port: ports::DATABASE,
                },
                Payload::Db(DbMsg::Sync(self.state.snapshot())),
            );
        }
    }

    /// Every change is on disk before it is answered or replicated.
    fn save(&self) {
        self.disk.lock().expect("database disk lock").state = Some(self.state.clone());
    }
}

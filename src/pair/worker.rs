//! The master's work: a stream of flows, each checked against the node's current mastership
//! just before it starts. A flow is a guarded database write carrying the fencing token of
//! the grant it runs under, and a message to the pair's bus sent with it (a dual write, as
//! services that write their database and publish an event do): the write is fenced, the
//! message is not ([`crate::bus`]).
//!
//! A flow has a deadline, the database request timeout from its start: the write gives up at
//! its timeout and the message's connection is aborted at the deadline, so every effect of a
//! flow lands within that time of the check that started it — the same bound the write alone
//! had, which the election's lease leaves room for after a demotion (`election` module docs,
//! "Timing assumption"). The work returns only once its flow in flight has ended, so the
//! node acknowledges a demotion after every effect of its term has landed or been dropped.

use crate::bus::BusClient;
use crate::coverage::Point;
use crate::db::DbClient;
use crate::db::proto::{DbRequest, DbResponse, RunOnceVerdict};
use crate::election::{ElectionCode, FencingToken, Role, ZkSelector};
use crate::env::Environment;
use crate::sim::history::{Name, Record, WriteOutcome};
use crate::sim::topology::RunOnceSpec;
use crate::sim::world::HostCtx;
use crate::sync::watch;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Numbers the node's writes: unique per node across restarts and wipes, since the
/// incarnation (bumped by the world at every start) is the high half.
#[derive(Clone, Debug)]
pub struct WriteIds {
    incarnation: u64,
    issued: Arc<AtomicU64>,
}

impl WriteIds {
    pub fn new(incarnation: u64) -> Self {
        WriteIds {
            incarnation,
            issued: Arc::default(),
        }
    }

    fn next(&self) -> u64 {
        let n = self.issued.fetch_add(1, Ordering::Relaxed) + 1;
        (self.incarnation << 32) | (n & 0xffff_ffff)
    }
}

/// How soon a new master tries its fence again.
const FENCE_RETRY: Duration = Duration::from_millis(10);

/// Called once the node starts acting under a grant (its fence was accepted).
pub type OnActing = Arc<dyn Fn(FencingToken) + Send + Sync>;

/// Everything a master's workload needs; cloned for each grant.
#[derive(Clone)]
pub struct Workload {
    pub ctx: HostCtx,
    pub pair: Name,
    pub node: Name,
    pub db: DbClient,
    /// The pair's bus, if its world has one.
    pub bus: Option<BusClient>,
    /// How long a flow may take from its start: its write's request timeout, and when its
    /// message's connection is given up.
    pub flow_deadline: Duration,
    /// Gates every write together with the selector's role, by the lease of the grant (see
    /// [`ZkSelector::acting_until`]: a process paused for longer than its session resumes
    /// with the role still saying Master); `None` for a node that trusts the role alone
    /// (the known-bug variants P1 and P2).
    pub lease: Option<ZkSelector>,
    pub role: watch::Receiver<Role>,
    pub period: Duration,
    pub run_once: Option<RunOnceSpec>,
    pub write_ids: WriteIds,
    /// Records the promotion and announces the role, once the fence is up.
    pub on_acting: OnActing,
    /// The election code the node runs (a known-bug variant may change how the work stops).
    pub election: ElectionCode,
}

/// Where a grant's work stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// The database has not yet confirmed the grant's token.
    Fencing,
    Acting,
    /// The database has seen a newer token: this grant is over, whatever the selector says.
    Superseded,
}

impl Workload {
    /// Whether the node may act as master under `token` right now: the selector still says so
    /// for this very grant, and the grant's lease has not run out.
    fn still_master(&self, token: FencingToken) -> bool {
        if *self.role.borrow() != (Role::Master { token }) {
            return false;
        }
        let leased = self.lease.as_ref().is_none_or(|selector| {
            selector
                .acting_until(token)
                .is_some_and(|until| self.ctx.env.now() < until)
        });
        if !leased {
            self.ctx.world.reach(Point::WriteHeldByLease);
        }
        leased
    }

    /// Fences the database with the grant's token, then writes every `period`, until `stop`
    /// turns true. Returns whether the node acted (its fence was accepted), after the request
    /// in flight (if any) got its answer or timed out: the demotion is acknowledged only then.
    ///
    /// The fence comes first so that a write of an earlier grant still in flight (its node
    /// gave up waiting for it, or was cut off) is refused from the moment this node acts:
    /// the promotion is recorded once the database holds the new token.
    pub async fn run(self, token: FencingToken, mut stop: watch::Receiver<bool>) -> bool {
        let mut stage = Stage::Fencing;
        let mut next = self.ctx.env.now();
        // With the run-once guard: when this master last took or refreshed the row.
        let mut row_refreshed: Option<Duration> = None;
        loop {
            let stopping = tokio::select! {
                biased;
                _ = stop.wait_for(|stop| *stop) => true,
                () = self.ctx.env.sleep_until(next) => false,
            };
            if stopping {
                // known-bug hook (P7): the work commits its queued flows before it stops.
                #[cfg(feature = "testbed")]
                if stage == Stage::Acting {
                    super::async_demotion::finish_queued(&self, token, next).await;
                }
                return stage != Stage::Fencing;
            }
            // Until the fence is up the node retries soon: its lease is confirmed one
            // ZooKeeper round trip after the grant. Then it writes once per period; after a
            // pause it does not burst.
            let delay = if stage == Stage::Fencing {
                FENCE_RETRY
            } else {
                self.period
            };
            next += delay;
            // known-bug hook (P7): the work queues the flows it could not write yet.
            #[cfg(feature = "testbed")]
            let keep_backlog =
                stage == Stage::Acting && super::async_demotion::keeps_backlog(self.election);
            #[cfg(not(feature = "testbed"))]
            let keep_backlog = false;
            if !keep_backlog {
                next = next.max(self.ctx.env.now());
            }
            if *stop.borrow() || stage == Stage::Superseded || !self.still_master(token) {
                continue;
            }
            if stage == Stage::Fencing
                && !crate::node::known_bugs::fences_before_acting(self.election)
            {
                // known-bug hook (N3): acting at once; the first write carries the token.
                stage = Stage::Acting;
                (self.on_acting)(token);
            }
            if stage == Stage::Fencing {
                stage = self.fence(token).await;
                if stage == Stage::Acting {
                    // The grant may have ended during the round trip: then the node never
                    // acted (fencing again later is harmless).
                    if *stop.borrow() || !self.still_master(token) {
                        stage = Stage::Fencing;
                    } else {
                        (self.on_acting)(token);
                    }
                }
                continue;
            }
            if let Some(spec) = self.run_once {
                let due =
                    row_refreshed.is_none_or(|at| self.ctx.env.now() >= at + spec.update_interval);
                if due {
                    row_refreshed = self.refresh_row().await;
                }
                if row_refreshed.is_none() {
                    continue;
                }
            }
            // Checked again: the row refresh above took time.
            if *stop.borrow() || !self.still_master(token) {
                continue;
            }
            self.write(token).await;
            if *stop.borrow() {
                // The demotion came while the write was in flight: it waited for the answer.
                self.ctx.world.reach(Point::DemotedWriteInFlight);
            }
        }
    }

    async fn fence(&self, token: FencingToken) -> Stage {
        let answer = self
            .db
            .call(DbRequest::Fence {
                node: self.node.clone(),
                token: token.value(),
            })
            .await;
        match answer {
            Ok(DbResponse::Write(WriteOutcome::Accepted)) => Stage::Acting,
            Ok(DbResponse::Write(WriteOutcome::RejectedStaleToken { newest })) => {
                self.ctx.world.reach(Point::FenceRefused);
                self.ctx.trace(
                    "node",
                    format_args!("grant {token} superseded: the database has seen {newest:#x}"),
                );
                Stage::Superseded
            }
            other => {
                self.ctx.world.reach(Point::FenceUnanswered);
                self.ctx
                    .trace("node", format_args!("fence not answered: {other:?}"));
                Stage::Fencing
            }
        }
    }

    /// Takes or refreshes the run-once row; the time of the refresh if the row is ours.
    async fn refresh_row(&self) -> Option<Duration> {
        let started = self.ctx.env.now();
        let answer = self
            .db
            .call(DbRequest::RunOnce {
                node: self.node.clone(),
            })
            .await;
        match answer {
            Ok(DbResponse::RunOnce(RunOnceVerdict::Held | RunOnceVerdict::TookOver { .. })) => {
                Some(started)
            }
            other => {
                self.ctx
                    .trace("node", format_args!("run-once row not ours: {other:?}"));
                None
            }
        }
    }

    /// One flow: its write and its message go out together, and the flow ends when both are
    /// answered or given up.
    pub(super) async fn write(&self, token: FencingToken) {
        let write = self.write_ids.next();
        let deadline = self.ctx.env.now() + self.flow_deadline;
        self.ctx.world.record(Record::WriteAttempt {
            pair: self.pair.clone(),
            node: self.node.clone(),
            token: token.value(),
            write,
        });
        let stored = self.db.call(DbRequest::Write {
            node: self.node.clone(),
            token: token.value(),
            write,
        });
        let published = async {
            match &self.bus {
                Some(bus) => bus
                    .publish(&self.pair, &self.node, token.value(), write, deadline)
                    .await
                    .map_err(Some),
                None => Err(None),
            }
        };
        let (answer, published) = tokio::join!(stored, published);
        if !matches!(answer, Ok(DbResponse::Write(_))) {
            self.ctx.trace(
                "node",
                format_args!("write {write} not answered: {answer:?}"),
            );
        }
        if let Err(Some(error)) = published {
            self.ctx.trace(
                "node",
                format_args!("message of flow {write} not taken: {error:?}"),
            );
        }
    }
}

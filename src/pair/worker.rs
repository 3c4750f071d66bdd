//! The master's work: a stream of guarded database writes (one per "flow"), each carrying the
//! fencing token of the grant it runs under, each checked against the node's current
//! mastership just before it is sent.

use super::lease::SessionLease;
use crate::db::DbClient;
use crate::db::proto::{DbRequest, DbResponse, RunOnceVerdict};
use crate::election::{FencingToken, Role};
use crate::env::{Environment, Interval};
use crate::sim::history::Record;
use crate::sim::topology::RunOnceSpec;
use crate::sim::world::HostCtx;
use std::time::Duration;
use tokio::sync::watch;

/// The node's durable write counter: write numbers are unique per node across restarts.
#[derive(Debug, Default)]
pub struct WriteCounter {
    pub next: u64,
}

/// Everything a master's workload needs; cloned for each grant.
#[derive(Clone)]
pub struct Workload {
    pub ctx: HostCtx,
    pub pair: String,
    pub node: String,
    pub db: DbClient,
    pub lease: SessionLease,
    pub role: watch::Receiver<Role>,
    pub period: Duration,
    pub run_once: Option<RunOnceSpec>,
}

impl Workload {
    /// Whether the node may act as master under `token` right now: the selector still says so
    /// for this very grant, and the session lease is fresh (see [`SessionLease`]).
    fn still_master(&self, token: FencingToken) -> bool {
        *self.role.borrow() == Role::Master { token } && self.lease.valid(self.ctx.env.now())
    }

    /// Writes every `period` until `stop` turns true. Returns after the write in flight (if
    /// any) got its answer or timed out: the demotion is acknowledged only after that.
    pub async fn run(self, token: FencingToken, mut stop: watch::Receiver<bool>) {
        let mut ticks = Interval::new(self.ctx.env.clone(), self.period);
        // With the run-once guard: when this master last took or refreshed the row.
        let mut row_refreshed: Option<Duration> = None;
        loop {
            tokio::select! {
                biased;
                _ = stop.wait_for(|stop| *stop) => return,
                () = ticks.tick() => {}
            }
            if *stop.borrow() || !self.still_master(token) {
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

    async fn write(&self, token: FencingToken) {
        let write = {
            let counter = self.ctx.disk::<WriteCounter>();
            let mut counter = counter.lock().expect("write counter lock");
            counter.next += 1;
            counter.next
        };
        self.ctx.world.record(Record::WriteAttempt {
            pair: self.pair.clone(),
            node: self.node.clone(),
            token: token.value(),
            write,
        });
        let answer = self
            .db
            .call(DbRequest::Write {
                node: self.node.clone(),
                token: token.value(),
                write,
            })
            .await;
        if !matches!(answer, Ok(DbResponse::Write(_))) {
            self.ctx.trace(
                "node",
                format_args!("write {write} not answered: {answer:?}"),
            );
        }
    }
}

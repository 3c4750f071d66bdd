//! The node's health check: it probes its database and its bus and feeds the selector's
//! health gate, so an unhealthy node withdraws its candidacy (and a master is demoted).

use super::control::{HealthLink, NodeControl};
use crate::db::DbClient;
use crate::db::proto::{DbRequest, DbResponse};
use crate::election::Health;
use crate::env::Environment;
use crate::sim::history::Record;
use crate::sim::world::HostCtx;
use std::time::Duration;
use tokio::sync::watch;

/// Consecutive failed database probes before the node counts as unhealthy: one slow answer
/// (a write queue, a retransmission) does not make a master step down.
const DB_FAILURES_TO_UNHEALTHY: u32 = 2;

pub struct HealthCheck {
    ctx: HostCtx,
    pair: String,
    node: String,
    db: DbClient,
    control: watch::Receiver<NodeControl>,
    period: Duration,
    db_failures: u32,
    last: Option<Health>,
}

impl HealthCheck {
    pub fn new(
        ctx: HostCtx,
        pair: &str,
        node: &str,
        db: DbClient,
        control: watch::Receiver<NodeControl>,
        period: Duration,
    ) -> Self {
        HealthCheck {
            ctx,
            pair: pair.to_string(),
            node: node.to_string(),
            db,
            control,
            period,
            db_failures: 0,
            last: None,
        }
    }

    /// Probes once; records the verdict when it changed.
    pub async fn evaluate(&mut self) -> Health {
        let broken = self.control.borrow_and_update().broken.clone();
        let db_ok = !broken.contains(&HealthLink::Database)
            && matches!(
                self.db.call(DbRequest::Ping).await,
                Ok(DbResponse::Pong { acting: true, .. })
            );
        self.db_failures = if db_ok { 0 } else { self.db_failures + 1 };
        // A broken switch counts at once; a failing probe only after a few in a row.
        let healthy = !broken.contains(&HealthLink::Bus)
            && !broken.contains(&HealthLink::Database)
            && self.db_failures < DB_FAILURES_TO_UNHEALTHY;
        let health = if healthy {
            Health::Healthy
        } else {
            Health::Unhealthy
        };
        if self.last != Some(health) {
            self.last = Some(health);
            self.ctx.world.record(Record::Health {
                pair: self.pair.clone(),
                node: self.node.clone(),
                healthy,
            });
        }
        health
    }

    /// Probes every period (and at once when the scenario breaks or heals a link) until the
    /// selector stops listening.
    pub async fn run(mut self, health: watch::Sender<Health>) {
        loop {
            let next = self.ctx.env.now() + self.period;
            tokio::select! {
                biased;
                changed = self.control.changed() => if changed.is_err() { return },
                () = self.ctx.env.sleep_until(next) => {}
            }
            let verdict = self.evaluate().await;
            if health.is_closed() {
                return;
            }
            // Only a change wakes the selector (each wake costs it a read of the election).
            health.send_if_modified(|current| std::mem::replace(current, verdict) != verdict);
        }
    }
}

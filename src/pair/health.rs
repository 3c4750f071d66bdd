//! The node's health check: it probes its database and its bus and feeds the selector's
//! health gate, so an unhealthy node withdraws its candidacy (and a master is demoted).

use super::control::HealthLink;
use crate::db::DbClient;
use crate::db::proto::{DbRequest, DbResponse};
use crate::election::Health;
use crate::env::Environment;
use crate::sim::history::{Name, Record};
use crate::sim::world::HostCtx;
use crate::sync::watch;
use std::collections::BTreeSet;
use std::time::Duration;

pub struct HealthCheck {
    ctx: HostCtx,
    pair: Name,
    node: Name,
    db: DbClient,
    /// Links the scenario broke, fed by the node's control task.
    links: watch::Receiver<BTreeSet<HealthLink>>,
    period: Duration,
    /// How long the database may fail every probe before the node counts as unhealthy.
    db_grace: Duration,
    /// Since when (node clock) every probe failed.
    db_failing_since: Option<Duration>,
    last: Option<Health>,
}

impl HealthCheck {
    pub fn new(
        ctx: HostCtx,
        pair: &str,
        node: &str,
        db: DbClient,
        links: watch::Receiver<BTreeSet<HealthLink>>,
        period: Duration,
        db_grace: Duration,
    ) -> Self {
        HealthCheck {
            ctx,
            pair: pair.into(),
            node: node.into(),
            db,
            links,
            period,
            db_grace,
            db_failing_since: None,
            last: None,
        }
    }

    /// Probes once; records the verdict when it changed.
    ///
    /// A master's own writes answer the question a probe asks: when one sent within the last
    /// period was answered by an acting host, no probe is sent (as connection pools skip
    /// validating a connection that was just used), so a busy master adds no probe traffic.
    pub async fn evaluate(&mut self) -> Health {
        let broken = self.links.borrow_and_update().clone();
        let recently_used = self
            .db
            .answered_acting_since(self.ctx.env.now().saturating_sub(self.period));
        let db_ok = !broken.contains(&HealthLink::Database)
            && (recently_used
                || matches!(
                    self.db.call(DbRequest::Ping).await,
                    Ok(DbResponse::Pong { acting: true, .. })
                ));
        let now = self.ctx.env.now();
        self.db_failing_since = if db_ok {
            None
        } else {
            self.db_failing_since.or(Some(now))
        };
        // A switch the scenario broke counts at once. A failing database only after a grace
        // period: a slow answer, or the database's own failover (its replica takes over after
        // a few seconds), must not make the master step down.
        let db_down = self
            .db_failing_since
            .is_some_and(|since| now.saturating_sub(since) >= self.db_grace);
        let healthy = !broken.contains(&HealthLink::Bus)
            && !broken.contains(&HealthLink::Database)
            && !db_down;
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
                changed = self.links.changed() => if changed.is_err() { return },
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

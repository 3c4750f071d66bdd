//! The node's health gate, as the simulated node's health check (`pair::health`): the selector
//! follows it, so an unhealthy node withdraws its candidacy (a master is demoted first) and
//! stands again once healthy.
//!
//! The node is healthy while all of these hold, checked every `--health-period` (default every
//! second) and at once when a link is broken or healed:
//!
//! - no link is broken (`break-health database|bus` on stdin, `--broken-health` at start): a
//!   broken link counts at once;
//! - with `--database`: the database answers. A probe (`ping`: a host answers and is not in
//!   recovery) is sent unless one of the master's own writes, sent within the last period, was
//!   answered by an acting host (as connection pools skip validating a connection just used).
//!   Failing probes make the node unhealthy only after `--database-grace` (default 5 s): a slow
//!   answer, or the database's own failover (~3 s), must not move the master;
//! - with `--health-file PATH`: PATH exists (a health source any script, probe or operator can
//!   drive with `touch` / `rm`).
//!
//! Every change is reported as a `health` event: `{"healthy": bool}`, with a `cause` when
//! unhealthy.

use super::control::Link;
use super::master_work::LastAnswer;
use super::output::EventOutput;
use crate::election::Health;
use crate::env::{Environment, TokioEnv};
use crate::sync::watch;
use serde_json::json;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// The default health period (and how often the health file is checked).
pub const HEALTH_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// How long the database may fail every probe before the node counts as unhealthy, by default
/// (as the simulated node's `db_unhealthy_after`).
pub const DATABASE_GRACE: Duration = Duration::from_secs(5);

/// The database probe: a connection of its own, and the time of the master's last answered
/// write.
pub struct DatabaseProbe {
    pub store: super::pg_store::PgStore,
    pub last_answer: Arc<LastAnswer>,
    /// A probe that takes longer than this has failed.
    pub timeout: Duration,
}

/// The health check's sources.
pub struct HealthCheck {
    pub file: Option<PathBuf>,
    pub database: Option<DatabaseProbe>,
    /// Links broken by a command, fed by the node's control loop.
    pub links: watch::Receiver<BTreeSet<Link>>,
    pub period: Duration,
    pub database_grace: Duration,
    pub output: EventOutput,
    pub env: TokioEnv,
    /// Since when (node clock) every database probe failed.
    failing_since: Option<Duration>,
    last: Option<Health>,
}

impl HealthCheck {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        file: Option<PathBuf>,
        database: Option<DatabaseProbe>,
        links: watch::Receiver<BTreeSet<Link>>,
        period: Duration,
        database_grace: Duration,
        output: EventOutput,
        env: TokioEnv,
    ) -> Self {
        HealthCheck {
            file,
            database,
            links,
            period,
            database_grace,
            output,
            env,
            failing_since: None,
            last: None,
        }
    }

    /// Why the node is unhealthy now, if it is; `database_ok` is the probe's verdict.
    fn unhealthy_because(&mut self, database_ok: bool) -> Option<String> {
        let now = self.env.now();
        self.failing_since = if database_ok {
            None
        } else {
            self.failing_since.or(Some(now))
        };
        // A link the scenario broke counts at once; a failing database only after the grace.
        if let Some(link) = self.links.borrow().iter().next() {
            return Some(format!("{} link broken", link.name()));
        }
        if let Some(since) = self.failing_since
            && now.saturating_sub(since) >= self.database_grace
        {
            return Some(format!(
                "database failed every probe for {} ms",
                now.saturating_sub(since).as_millis()
            ));
        }
        if let Some(file) = &self.file
            && std::fs::metadata(file).is_err()
        {
            // Any error (no such file, no permission on a parent) counts as unhealthy: the
            // operator must be able to vouch for the node positively.
            return Some(format!("health file {} missing", file.display()));
        }
        None
    }

    /// Probes once; reports the verdict when it changed.
    pub async fn evaluate(&mut self) -> Health {
        let database_broken = self.links.borrow_and_update().contains(&Link::Database);
        let database_ok = match &mut self.database {
            None => true,
            Some(_) if database_broken => false,
            Some(probe) => {
                let since = self.env.now().saturating_sub(self.period);
                probe.last_answer.answered_since(since)
                    || crate::env::timeout(&self.env, probe.timeout, probe.store.ping())
                        .await
                        .unwrap_or(false)
            }
        };
        let cause = self.unhealthy_because(database_ok);
        let health = if cause.is_none() {
            Health::Healthy
        } else {
            Health::Unhealthy
        };
        if self.last != Some(health) {
            self.last = Some(health);
            let mut fields = json!({ "healthy": health == Health::Healthy });
            if let Some(cause) = cause {
                fields["cause"] = json!(cause);
            }
            self.output.emit("health", fields);
        }
        health
    }

    /// Probes every period (and at once when a link is broken or healed) until the selector
    /// stops listening.
    pub async fn run(mut self, health: watch::Sender<Health>) {
        loop {
            let next = self.env.now() + self.period;
            tokio::select! {
                biased;
                () = health.closed() => return,
                changed = self.links.changed() => if changed.is_err() { return },
                () = self.env.sleep_until(next) => {}
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

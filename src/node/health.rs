//! The node's health gate. Without a health source the node is always healthy; with
//! `--health-file PATH` it is healthy while that file exists, checked every second: a health
//! source any script, probe or operator can drive (`touch` / `rm`).

use super::output::EventOutput;
use crate::election::Health;
use crate::sync::watch;
use serde_json::json;
use std::path::PathBuf;
use std::time::Duration;

/// How often the health file is checked.
pub const HEALTH_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// Starts the health gate and returns what the selector follows. The gate runs until the
/// selector stops listening.
pub fn start(file: Option<PathBuf>, output: EventOutput) -> watch::Receiver<Health> {
    let Some(file) = file else {
        let (sender, health) = watch::channel(Health::Healthy);
        // Nobody will ever report otherwise; the sender must outlive the selector, since a
        // dropped sender counts as unhealthy.
        tokio::spawn(async move { sender.closed().await });
        return health;
    };
    let initial = check(&file);
    report(&output, initial);
    let (sender, health) = watch::channel(initial);
    tokio::spawn(async move {
        let mut current = initial;
        loop {
            tokio::select! {
                biased;
                () = sender.closed() => return,
                () = tokio::time::sleep(HEALTH_CHECK_INTERVAL) => {}
            }
            let next = check(&file);
            if next != current {
                current = next;
                report(&output, next);
                sender.send_replace(next);
            }
        }
    });
    health
}

fn check(file: &std::path::Path) -> Health {
    // Any error (no such file, no permission on a parent) counts as unhealthy: the operator
    // must be able to vouch for the node positively.
    if std::fs::metadata(file).is_ok() {
        Health::Healthy
    } else {
        Health::Unhealthy
    }
}

fn report(output: &EventOutput, health: Health) {
    output.emit("health", json!({ "healthy": health == Health::Healthy }));
}

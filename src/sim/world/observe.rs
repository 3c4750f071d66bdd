//! What the world lets others see of a run: the trace, counters, announced roles, the history.

use super::{HostStatus, World};
use crate::coverage::{Point, Reached};
use crate::sim::history::{Entry, Record};
use crate::sim::net::HostId;
use crate::sim::trace::TraceLine;
use crate::zk::types::SessionId;
use std::collections::BTreeMap;
use std::fmt;

impl World {
    pub(super) fn names(&self, hosts: &[HostId]) -> String {
        let all = self.hosts();
        hosts
            .iter()
            .map(|h| all[h.index()].name.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Records an event of the world itself (faults, nemesis).
    pub fn trace_world(&self, category: &'static str, text: fmt::Arguments<'_>) {
        self.inner.trace.lock().expect("trace lock").record(
            self.inner.time.now(),
            "world",
            None,
            category,
            text,
        );
    }

    /// Records an event on a host, with the host's wall clock beside true time.
    pub fn trace_host(&self, host: HostId, category: &'static str, text: fmt::Arguments<'_>) {
        // Lock order: hosts, then trace (nothing takes them the other way round).
        let hosts = self.hosts();
        let h = &hosts[host.index()];
        let wall = h.clock.wall_now_millis();
        self.inner.trace.lock().expect("trace lock").record(
            self.inner.time.now(),
            &h.name,
            Some(wall),
            category,
            text,
        );
    }

    pub fn trace_hash(&self) -> u64 {
        self.inner.trace.lock().expect("trace lock").hash()
    }

    pub fn trace_events(&self) -> u64 {
        self.inner.trace.lock().expect("trace lock").events()
    }

    pub fn packets_delivered(&self) -> u64 {
        self.inner.trace.lock().expect("trace lock").packets()
    }

    pub fn packets_dropped(&self) -> u64 {
        self.net().dropped
    }

    pub fn take_trace_lines(&self) -> Vec<TraceLine> {
        self.inner.trace.lock().expect("trace lock").take_lines()
    }

    /// A process announces its role (traced when it changes). Cleared when the host crashes.
    pub fn set_role(&self, host: HostId, role: &str) {
        let changed = {
            let mut roles = self.inner.roles.lock().expect("roles lock");
            if roles.get(&host).map(String::as_str) == Some(role) {
                false
            } else {
                roles.insert(host, role.to_string());
                true
            }
        };
        if changed {
            self.trace_host(host, "role", format_args!("{role}"));
            self.record(Record::Role {
                host: self.host_name(host).into(),
                role: role.to_string(),
            });
        }
    }

    /// Appends to the run's history, stamped with true simulated time.
    pub fn record(&self, record: Record) {
        self.inner
            .history
            .lock()
            .expect("history lock")
            .push(Entry {
                at: self.inner.time.now(),
                record,
            });
    }

    /// The history so far, copied.
    pub fn history(&self) -> Vec<Entry> {
        self.with_history(<[Entry]>::to_vec)
    }

    /// Reads the history so far in place (a hundred pairs record 120,000 entries in ten
    /// simulated minutes, not worth copying for a look).
    pub fn with_history<T>(&self, read: impl FnOnce(&[Entry]) -> T) -> T {
        read(&self.inner.history.lock().expect("history lock"))
    }

    /// Takes the history out of the world, for judging a finished run; records made after
    /// this start a new history.
    pub fn take_history(&self) -> Vec<Entry> {
        std::mem::take(&mut *self.inner.history.lock().expect("history lock"))
    }

    /// The role a host's process last announced, if it runs.
    pub fn role(&self, host: HostId) -> Option<String> {
        self.inner
            .roles
            .lock()
            .expect("roles lock")
            .get(&host)
            .cloned()
    }

    /// Hosts whose process currently announces `role`.
    pub fn hosts_with_role(&self, role: &str) -> Vec<HostId> {
        let roles = self.inner.roles.lock().expect("roles lock");
        roles
            .iter()
            .filter(|(_, r)| r.as_str() == role)
            .map(|(h, _)| *h)
            .collect()
    }

    /// The run passed the edge case `point` ([`crate::coverage`]). Changes nothing else.
    pub fn reach(&self, point: Point) {
        self.inner.coverage.insert(point);
    }

    /// Every point the run reached so far.
    pub fn coverage(&self) -> Reached {
        self.inner.coverage.get()
    }

    /// Notes that `session` was opened by incarnation `incarnation` of `host`'s process (its
    /// client says so once connected).
    pub fn note_session_host(&self, session: SessionId, host: HostId, incarnation: u64) {
        self.inner
            .session_hosts
            .lock()
            .expect("session hosts lock")
            .insert(session, (host, incarnation));
    }

    /// The host whose running process opened `session`, if its client said (`None` once that
    /// process crashed or restarted: the session is a dead process's).
    pub fn session_host(&self, session: SessionId) -> Option<HostId> {
        let (host, incarnation) = *self
            .inner
            .session_hosts
            .lock()
            .expect("session hosts lock")
            .get(&session)?;
        let hosts = self.hosts();
        let h = &hosts[host.index()];
        (h.status != HostStatus::Down && h.incarnation == incarnation).then_some(host)
    }

    /// Whether `host` runs a node that acts as master now (it announced "master").
    pub fn acts_as_master(&self, host: HostId) -> bool {
        self.inner
            .roles
            .lock()
            .expect("roles lock")
            .get(&host)
            .is_some_and(|role| role == "master")
    }

    /// Whether some node stands as standby ("slave") while none acts as master: a pair is
    /// between masters (a failover, or its first election).
    pub fn standby_without_master(&self) -> bool {
        let roles = self.inner.roles.lock().expect("roles lock");
        roles.values().all(|role| role != "master") && roles.values().any(|role| role == "slave")
    }

    /// Adds to a named counter (e.g. `zk.leader_changes`).
    pub fn count(&self, metric: &'static str, by: u64) {
        *self
            .inner
            .metrics
            .lock()
            .expect("metrics lock")
            .entry(metric)
            .or_insert(0) += by;
    }

    pub fn metric(&self, metric: &str) -> u64 {
        self.inner
            .metrics
            .lock()
            .expect("metrics lock")
            .get(metric)
            .copied()
            .unwrap_or(0)
    }

    pub fn metrics(&self) -> BTreeMap<&'static str, u64> {
        self.inner.metrics.lock().expect("metrics lock").clone()
    }
}

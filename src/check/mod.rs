//! The invariants a run is judged by, as pure functions over its history (true simulated
//! time) and its topology. No host clock is consulted.
//!
//! - **2M** ([`two_masters`]): two nodes of one pair act as master at the same instant.
//! - **SW** ([`stale_write`]): the database accepted a write it should have fenced off.
//! - **NM** ([`no_master`]): a pair stays without a master too long although it could have one.
//! - **WP** ([`wrong_priority`]): under the pre-emptive policy a better candidate waits too long.
//! - **LE** ([`late_effect`]): an effect of a node's term that no token guards (a message to
//!   its pair's bus) reached the world after the pair's next master was promoted.
//!
//! NM and WP are liveness properties: they are judged from `judged_from` on (the start of a
//! scenario's liveness phase, when every fault has healed), as TigerBeetle's VOPR judges
//! liveness only after its fault phase.

pub mod catalogue;
pub mod late_effect;
pub mod metrics;
pub mod no_master;
pub mod stale_write;
pub mod state;
pub mod two_masters;
pub mod wrong_priority;

use crate::sim::history::Entry;
use crate::sim::topology::Topology;
use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Invariant {
    TwoMasters,
    StaleWrite,
    NoMaster,
    WrongPriority,
    LateEffect,
}

impl Invariant {
    pub const ALL: [Invariant; 5] = [
        Invariant::TwoMasters,
        Invariant::StaleWrite,
        Invariant::NoMaster,
        Invariant::WrongPriority,
        Invariant::LateEffect,
    ];

    /// The short code used in scenario files and reports.
    pub fn code(self) -> &'static str {
        match self {
            Invariant::TwoMasters => "2M",
            Invariant::StaleWrite => "SW",
            Invariant::NoMaster => "NM",
            Invariant::WrongPriority => "WP",
            Invariant::LateEffect => "LE",
        }
    }
}

impl fmt::Display for Invariant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// One breach of an invariant.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Violation {
    #[serde(serialize_with = "serialize_code")]
    pub invariant: Invariant,
    /// True simulated time at which it happened (or became a breach).
    #[serde(serialize_with = "serialize_seconds")]
    pub at: Duration,
    pub detail: String,
}

fn serialize_code<S: serde::Serializer>(i: &Invariant, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(i.code())
}

fn serialize_seconds<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// What to judge and with which bounds.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckSettings {
    pub skip: BTreeSet<Invariant>,
    pub no_master_bound: Duration,
    pub wrong_priority_bound: Duration,
    /// Liveness (NM, WP) is judged from here on.
    pub judged_from: Duration,
    /// The end of the run: terms still open are open until here.
    pub end: Duration,
}

/// Every violation of every invariant not skipped, in time order. `terms` are the history's
/// terms up to `settings.end` ([`state::terms`]): derived once by the caller for every checker
/// and for what else reads them, since a hundred pairs' ten minutes are a hundred thousand
/// records.
pub fn check_all(
    history: &[Entry],
    terms: &[state::Term],
    topology: &Topology,
    settings: &CheckSettings,
) -> Vec<Violation> {
    let mut violations = Vec::new();
    let run = |i: Invariant| !settings.skip.contains(&i);
    if run(Invariant::TwoMasters) {
        violations.extend(two_masters::check_terms(terms));
    }
    if run(Invariant::StaleWrite) {
        violations.extend(stale_write::check_terms(history, terms));
    }
    if run(Invariant::LateEffect) {
        violations.extend(late_effect::check_terms(history, terms));
    }
    if run(Invariant::NoMaster) || run(Invariant::WrongPriority) {
        let segments =
            state::segments_by_pair_of_terms(history, &topology.pairs, settings.end, terms);
        if run(Invariant::NoMaster) {
            violations.extend(no_master::check_segments(&segments, topology, settings));
        }
        if run(Invariant::WrongPriority) {
            violations.extend(wrong_priority::check_segments(
                &segments, topology, settings,
            ));
        }
    }
    violations.sort_by_key(|v| (v.at, v.invariant));
    violations
}

/// Short rendering of a time for details and timelines: `12.345s`.
pub fn secs(d: Duration) -> String {
    format!("{}.{:03}s", d.as_secs(), d.subsec_millis())
}

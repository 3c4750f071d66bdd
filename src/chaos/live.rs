//! Chaos on real processes (`splitbrain chaos --live`): what of a generated scenario live mode
//! plays, said out loud, never silently.
//!
//! A world live mode refuses (a multi-master database, the Java client model with the built-in
//! program, a run-once guard, more than four pairs …) skips the seed, with the reasons. A step
//! it refuses (a clock strobe, a clock fault on a ZooKeeper server or a database, a step the
//! node program does not support) is dropped from the schedule and listed; so is a step that
//! would only undo a dropped one (the `clock-reset` that closes a dropped strobe), which would
//! otherwise act on a clock nothing changed.
//!
//! Dropping never leaves a fault in place that a later step needs gone: the generator pairs a
//! fault with its undoing (module `generate::schedule`), and live mode refuses both halves of
//! every pair alike — a clock change and its reset aim at one host, a broken health link and
//! its heal need one capability — except a strobe, whose reset is dropped with it here. Cuts,
//! link faults, crashes, pauses, wipes, relinquish and rejoin are never refused. Whatever a
//! schedule left in place is undone anyway when the liveness phase begins (live mode heals
//! everything then).

use crate::check::secs;
use crate::live::run::{Refusal, refusals};
use crate::scenario::{Action, Scenario};
use crate::sim::fault::Fault;
use std::collections::BTreeMap;
use std::fmt;

/// A step taken out of a generated schedule before a live run.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct DroppedStep {
    /// Its number in the generated schedule, from 1.
    pub number: usize,
    /// When it was due, as the scenario file writes it (`12.500s`).
    pub at: String,
    /// The step (`clock-strobe a1 by 2000ms every 500ms for 20s`).
    pub step: String,
    pub reason: String,
}

impl fmt::Display for DroppedStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "step {} (at {}: {}): {}",
            self.number, self.at, self.step, self.reason
        )
    }
}

/// What live mode makes of a generated scenario.
#[derive(Clone, Debug, PartialEq)]
pub enum LivePlan {
    /// The world itself is refused: the seed is skipped, for these reasons.
    Skip(Vec<Refusal>),
    /// The scenario to play (every refused step dropped) and the steps dropped.
    Play {
        scenario: Box<Scenario>,
        dropped: Vec<DroppedStep>,
    },
}

/// Makes `scenario` (with its programs set) playable live: skipped if its world is refused,
/// otherwise played without the steps live mode refuses.
pub fn live_plan(scenario: &Scenario) -> LivePlan {
    let refused = refusals(scenario, None);
    let mut why: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    let mut world = Vec::new();
    for refusal in refused {
        match step_number(&refusal.what) {
            Some(number) if (1..=scenario.steps.len()).contains(&number) => {
                why.entry(number - 1).or_default().push(refusal.reason)
            }
            _ => world.push(refusal),
        }
    }
    if !world.is_empty() {
        return LivePlan::Skip(world);
    }

    // A step that undoes a dropped one goes too: the most recent change of what it undoes
    // was dropped, so it has nothing to undo.
    let mut last_change: BTreeMap<String, usize> = BTreeMap::new();
    for (index, step) in scenario.steps.iter().enumerate() {
        if let Some(key) = undoes(&step.action)
            && !why.contains_key(&index)
            && let Some(&change) = last_change.get(&key)
            && why.contains_key(&change)
        {
            why.insert(
                index,
                vec![format!(
                    "it undoes step {}, which is dropped: there is nothing of it to undo",
                    change + 1
                )],
            );
        }
        if let Some(key) = changes(&step.action) {
            last_change.insert(key, index);
        }
    }

    let mut played = scenario.clone();
    let mut dropped = Vec::new();
    played.steps.clear();
    for (index, step) in scenario.steps.iter().enumerate() {
        match why.remove(&index) {
            Some(reasons) => dropped.push(DroppedStep {
                number: index + 1,
                at: secs(step.at),
                step: step.action.to_string(),
                reason: reasons.join("; "),
            }),
            None => played.steps.push(step.clone()),
        }
    }
    // Whatever is still refused (nothing, as live mode refuses steps one by one) skips the seed
    // rather than fail its run.
    let left = refusals(&played, None);
    if !left.is_empty() {
        return LivePlan::Skip(left);
    }
    LivePlan::Play {
        scenario: Box::new(played),
        dropped,
    }
}

/// The step number of a refusal of a step (`step 3 (at …)`), from 1.
fn step_number(what: &str) -> Option<usize> {
    let rest = what.strip_prefix("step ")?;
    let digits = rest.split_once(' ').map_or(rest, |(n, _)| n);
    digits.parse().ok()
}

/// What a step changes that a later step undoes: a host's clock, a node's health link.
fn changes(action: &Action) -> Option<String> {
    match action {
        Action::Fault(
            Fault::ClockOffset { target, .. }
            | Fault::ClockDrift { target, .. }
            | Fault::ClockJump { target, .. }
            | Fault::ClockStrobe { target, .. },
        ) => Some(format!("clock of {target}")),
        Action::BreakHealth { node, link } => Some(format!("health of {node} toward {link}")),
        _ => None,
    }
}

/// What a step undoes (the key [`changes`] gives the step it undoes).
fn undoes(action: &Action) -> Option<String> {
    match action {
        Action::Fault(Fault::ClockReset { target }) => Some(format!("clock of {target}")),
        Action::HealHealth { node, link } => Some(format!("health of {node} toward {link}")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A one-pair world with `database` (an inline table) and `steps`.
    fn scenario(steps: &str, database: &str) -> Scenario {
        let text = format!(
            r#"
sites = ["dc1", "dc2", "tiebreaker"]

[run]
duration = "60s"
liveness = "60s"
seed = 3

[zookeeper]
session_timeout = "10s"
voters = [
  {{ name = "zk1", site = "dc1" }},
  {{ name = "zk2", site = "dc2" }},
  {{ name = "zk3", site = "tiebreaker" }},
]

[[pair]]
name = "bank"
nodes = [
  {{ name = "a1", site = "dc1", priority = 100, policy = "pre-emptive" }},
  {{ name = "a2", site = "dc2", priority = 50, policy = "pre-emptive" }},
]
database = {database}
{steps}
"#
        );
        crate::scenario::parse("t", "t.toml", &text).unwrap_or_else(|e| panic!("{e:?}"))
    }

    const SINGLE: &str = r#"{ name = "db", site = "dc1", mode = "single" }"#;

    const STROBE: &str = r#"
[[step]]
at = "10s"
do = "crash"
target = "a2"

[[step]]
at = "20s"
do = "clock-strobe"
target = "a1"
by = "2s"
every = "500ms"
for = "10s"

[[step]]
at = "30s"
do = "clock-reset"
target = "a1"

[[step]]
at = "35s"
do = "start"
target = "a2"

[[step]]
at = "40s"
do = "clock-offset"
target = "zk1"
by = "5s"

[[step]]
at = "45s"
do = "clock-reset"
target = "zk1"
"#;

    /// A clock strobe is dropped and listed, with the reset that would only undo it; a clock
    /// fault on a ZooKeeper server and its reset are dropped too; the rest plays, in order.
    #[test]
    fn refused_steps_are_dropped_and_listed() {
        let generated = scenario(STROBE, SINGLE);
        let LivePlan::Play { scenario, dropped } = live_plan(&generated) else {
            panic!("the world plays live");
        };
        let numbers: Vec<usize> = dropped.iter().map(|d| d.number).collect();
        assert_eq!(numbers, [2, 3, 5, 6], "{dropped:#?}");
        assert!(dropped[0].step.contains("strobe"), "{}", dropped[0]);
        assert!(dropped[0].reason.contains("strobe"), "{}", dropped[0]);
        assert!(
            dropped[1].reason.contains("undoes step 2"),
            "{}",
            dropped[1]
        );
        assert!(dropped[2].reason.contains("zk1"), "{}", dropped[2]);
        assert!(dropped[0].to_string().starts_with("step 2 (at 20.000s: "));
        let kept: Vec<String> = scenario
            .steps
            .iter()
            .map(|s| s.action.to_string())
            .collect();
        assert_eq!(kept.len(), 2, "{kept:?}");
        assert!(
            kept[0].contains("crash") && kept[1].contains("start"),
            "{kept:?}"
        );
        assert!(refusals(&scenario, None).is_empty());
        // Only the steps changed.
        assert_eq!(scenario.topology, generated.topology);
        assert_eq!(scenario.duration, generated.duration);
    }

    /// The reset of a clock change that plays stays.
    #[test]
    fn a_reset_of_a_played_clock_change_stays() {
        let steps = r#"
[[step]]
at = "20s"
do = "clock-offset"
target = "a1"
by = "-5m"

[[step]]
at = "30s"
do = "clock-reset"
target = "a1"
"#;
        let LivePlan::Play { scenario, dropped } = live_plan(&scenario(steps, SINGLE)) else {
            panic!("plays");
        };
        assert!(dropped.is_empty(), "{dropped:?}");
        assert_eq!(scenario.steps.len(), 2);
    }

    /// A program without the steps' capabilities: health steps go, both halves.
    #[test]
    fn steps_the_program_cannot_do_are_dropped() {
        let steps = r#"
[[step]]
at = "20s"
do = "break-health"
target = "a1"
link = "database"

[[step]]
at = "30s"
do = "heal-health"
target = "a1"
link = "database"

[[step]]
at = "40s"
do = "relinquish"
target = "a1"
"#;
        let mut generated = scenario(steps, SINGLE);
        generated
            .programs
            .set_all(["a1", "a2"], "kazoo-election")
            .unwrap();
        let LivePlan::Play { scenario, dropped } = live_plan(&generated) else {
            panic!("plays");
        };
        assert_eq!(dropped.len(), 2, "{dropped:?}");
        assert!(
            dropped.iter().all(|d| d.reason.contains("health")),
            "{dropped:?}"
        );
        assert_eq!(scenario.steps.len(), 1);
    }

    /// A world live mode refuses skips the seed, with the reason.
    #[test]
    fn a_refused_world_is_skipped_with_its_reason() {
        let LivePlan::Skip(reasons) = live_plan(&scenario(
            STROBE,
            r#"{ name = "db", site = "dc1", mode = "multi-master", replica_site = "dc2" }"#,
        )) else {
            panic!("a multi-master database is refused live");
        };
        assert_eq!(reasons.len(), 1, "{reasons:?}");
        assert!(reasons[0].what.contains("multi-master"), "{reasons:?}");
    }
}

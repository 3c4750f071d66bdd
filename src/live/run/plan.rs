//! What live mode can play: every step and setting of a scenario file is checked before
//! anything starts, and one the real world cannot reproduce faithfully is refused with the
//! reason, naming the step (never skipped silently).

use crate::election::ElectionCode;
use crate::scenario::programs::BUILT_IN;
use crate::scenario::{Action, Scenario};
use crate::sim::fault::{Fault, Target};
use crate::sim::topology::DatabaseMode;
use crate::zk::client::ClientModel;
use std::fmt;

/// The most pairs a live world runs: each is two node processes and a PostgreSQL cluster (or
/// two) on this machine, beside the ZooKeeper JVMs.
pub const MAX_PAIRS: usize = 4;

/// A part of a scenario that live mode will not play.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Refusal {
    /// What is refused: `step 3 (at 30s: clock drift a1 x1.5)`, or a setting.
    pub what: String,
    /// Where in the file, when it can be told (`file:line`).
    pub location: Option<String>,
    pub reason: String,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(location) = &self.location {
            write!(f, "{location}: ")?;
        }
        write!(f, "{}: {}", self.what, self.reason)
    }
}

/// Every part of `scenario` live mode refuses. `source` (file name and text) lets a refusal of
/// a setting name its line.
pub fn refusals(scenario: &Scenario, source: Option<(&str, &str)>) -> Vec<Refusal> {
    let mut out = Vec::new();
    let line_of = |needle: &str| -> Option<String> {
        let (file, text) = source?;
        let line = text
            .lines()
            .position(|l| !l.trim_start().starts_with('#') && l.contains(needle))?;
        Some(format!("{file}:{}", line + 1))
    };
    let topology = &scenario.topology;
    // A node program brings its own client; only the built-in selector's is the Rust crate.
    let built_in_nodes = topology
        .pairs
        .iter()
        .flat_map(|p| &p.nodes)
        .any(|n| scenario.programs.of(&n.name) == BUILT_IN);
    if topology.client_model == ClientModel::Java && built_in_nodes {
        out.push(Refusal {
            what: "client_model = \"java\"".into(),
            location: line_of("client_model"),
            reason: "live `splitbrain node` processes use the zookeeper-client crate; the Java \
                     client's timings are a simulation model only (use \"rust\", or run the \
                     nodes with a Java program: --program curator-latch)"
                .into(),
        });
    }
    if let Some(timeout) = topology.zk.connection_timeout {
        let curator_default = timeout == crate::scenario::validate::CURATOR_CONNECTION_TIMEOUT;
        let all_curator = topology
            .pairs
            .iter()
            .flat_map(|p| &p.nodes)
            .all(|n| scenario.programs.of(&n.name) == "curator-latch");
        if !(curator_default && all_curator) {
            out.push(Refusal {
                what: "connection_timeout".into(),
                location: line_of("connection_timeout"),
                reason: "live node programs are not told a connection timeout: only \
                         curator-latch plays one, Curator's default 15 s (--program \
                         curator-latch with client_model = \"java-defaults\")"
                    .into(),
            });
        }
    }
    if let ElectionCode::Broken(_) = topology.election
        && !topology.election.available()
    {
        out.push(Refusal {
            what: format!("election {}", topology.election),
            location: None,
            reason: "this build has no known-bug variants (built without `testbed`)".into(),
        });
    }
    let processes = topology.zk.servers.len()
        + topology
            .pairs
            .iter()
            .map(|p| {
                p.nodes.len() + 1 + usize::from(p.database.mode == DatabaseMode::PrimaryReplica)
            })
            .sum::<usize>();
    if topology.pairs.len() > MAX_PAIRS {
        out.push(Refusal {
            what: format!("{} pairs ({processes} processes)", topology.pairs.len()),
            location: line_of("[[pair]]"),
            reason: format!(
                "live mode runs every node and database as a process of this machine; it \
                 plays worlds of up to {MAX_PAIRS} pairs (the simulator plays this one)"
            ),
        });
    }
    let mut seen_observer = false;
    for server in &topology.zk.servers {
        if server.observer {
            seen_observer = true;
        } else if seen_observer {
            out.push(Refusal {
                what: format!("voter {} listed after an observer", server.name),
                location: line_of(&server.name),
                reason: "the live ensemble numbers voters before observers; list the \
                         observers last"
                    .into(),
            });
        }
    }
    for pair in &topology.pairs {
        let db = &pair.database;
        if db.mode == DatabaseMode::MultiMaster {
            out.push(Refusal {
                what: format!(
                    "database {} of pair {} (mode = \"multi-master\")",
                    db.name, pair.name
                ),
                location: line_of("multi-master"),
                reason: "a real Galera cluster is not part of live mode yet; single and \
                         primary-replica (PostgreSQL) are"
                    .into(),
            });
        }
        if let crate::sim::topology::Replication::Asynchronous { .. } = db.replication {
            out.push(Refusal {
                what: format!("replication = \"asynchronous\" of database {}", db.name),
                location: line_of("asynchronous"),
                reason: "live PostgreSQL pairs replicate synchronously and fail over only to \
                         a replica in sync; asynchronous streaming with a lag and a failover \
                         that loses commits is modelled in the simulator only"
                    .into(),
            });
        }
        if !db.fence {
            out.push(Refusal {
                what: format!("fence = false on database {}", db.name),
                location: line_of("fence"),
                reason: "the live node programs write through the fenced write function; a \
                         database without the fence is modelled in the simulator only"
                    .into(),
            });
        }
        if db.run_once.is_some() {
            out.push(Refusal {
                what: format!("run_once guard of database {}", db.name),
                location: line_of("run_once"),
                reason: "the run-once table is modelled in the simulator only; live databases \
                         fence by token"
                    .into(),
            });
        }
    }
    for (index, step) in scenario.steps.iter().enumerate() {
        if let Some(reason) = step_refusal(scenario, &step.action) {
            out.push(step_refused(index, step, reason));
        }
    }
    // What the programs live mode knows can do; a declared program's is checked against its
    // hello line once it started.
    out.extend(capability_refusals(scenario, |node| {
        known_capabilities(scenario.programs.of(node))
            .map(|caps| caps.iter().map(|c| c.to_string()).collect())
    }));
    out
}

fn step_refused(index: usize, step: &crate::scenario::Step, reason: String) -> Refusal {
    Refusal {
        what: format!(
            "step {} (at {}: {})",
            index + 1,
            crate::check::secs(step.at),
            step.action
        ),
        location: None,
        reason,
    }
}

/// What a built-in or shipped program supports (the capabilities of its hello line).
pub fn known_capabilities(program: &str) -> Option<&'static [&'static str]> {
    match program {
        BUILT_IN => Some(&crate::node::CAPABILITIES),
        "curator-latch" | "kazoo-election" => Some(&["relinquish"]),
        _ => None,
    }
}

/// The node a step acts on through its program, and the capability that needs.
fn needs(scenario: &Scenario, action: &Action) -> Option<(String, &'static str)> {
    let is_node = |name: &str| {
        scenario
            .topology
            .pairs
            .iter()
            .any(|p| p.nodes.iter().any(|n| n.name == name))
    };
    match action {
        Action::Relinquish { node } | Action::Rejoin { node } => Some((node.clone(), "relinquish")),
        Action::SetPriority { node, .. } => Some((node.clone(), "priorities")),
        Action::BreakHealth { node, .. } | Action::HealHealth { node, .. } => {
            Some((node.clone(), "health"))
        }
        Action::Fault(
            Fault::ClockOffset { target, .. }
            | Fault::ClockDrift { target, .. }
            | Fault::ClockJump { target, .. }
            | Fault::ClockStrobe { target, .. }
            | Fault::ClockReset { target },
        ) => match target {
            Target::Host(name) if is_node(name) => Some((name.clone(), "clock")),
            _ => None,
        },
        Action::Fault(_) | Action::DeleteElection { .. } => None,
    }
}

/// The steps a node's program cannot carry out: `capabilities(node)` is what the node's program
/// supports (`None`: not known yet, checked once it says hello).
pub fn capability_refusals(
    scenario: &Scenario,
    capabilities: impl Fn(&str) -> Option<std::collections::BTreeSet<String>>,
) -> Vec<Refusal> {
    let mut out = Vec::new();
    for (index, step) in scenario.steps.iter().enumerate() {
        let Some((node, capability)) = needs(scenario, &step.action) else {
            continue;
        };
        let Some(supported) = capabilities(&node) else {
            continue;
        };
        if !supported.contains(capability) {
            out.push(step_refused(
                index,
                step,
                format!(
                    "{node} runs {}, which does not support '{capability}' (its hello line's \
                     \"supports\"; docs/node-protocol.md)",
                    scenario.programs.of(&node)
                ),
            ));
        }
    }
    out
}

/// What a run cannot judge because a program or the live world does not support it (shown in
/// the report): returns the scenario to judge (LE always, since the live world has no bus; WP
/// and the expectations that name a master dropped where the program has no priorities) and
/// one note per thing dropped.
pub fn judged_scenario(
    scenario: &Scenario,
    capabilities: impl Fn(&str) -> std::collections::BTreeSet<String>,
) -> (Scenario, Vec<String>) {
    use crate::check::Invariant;
    use crate::scenario::Expectation;
    let mut judged = scenario.clone();
    let mut notes = Vec::new();
    // LE judges the arrivals of the masters' messages at their pair's bus (`crate::bus`); the
    // live world runs no bus and the node programs publish nothing, so there is nothing to
    // judge: said, never passed silently.
    if judged.invariants.skip.insert(Invariant::LateEffect) {
        notes.push(
            "LE: the live world runs no message bus (the node programs publish no messages), \
             so no effect outside the database is recorded"
                .to_string(),
        );
    }
    judged.expectations.retain(|expectation| {
        let late_effect = *expectation == Expectation::Violation(Invariant::LateEffect);
        if late_effect {
            notes.push(
                "expectation of an LE violation: the live world runs no message bus".to_string(),
            );
        }
        !late_effect
    });
    let without_priorities: Vec<(String, String)> = scenario
        .topology
        .pairs
        .iter()
        .filter_map(|pair| {
            let node = pair.nodes.first()?;
            (!capabilities(&node.name).contains("priorities")).then(|| {
                (
                    pair.name.clone(),
                    scenario.programs.of(&node.name).to_string(),
                )
            })
        })
        .collect();
    if without_priorities.is_empty() {
        return (judged, notes);
    }
    let programs: std::collections::BTreeSet<&str> =
        without_priorities.iter().map(|(_, p)| p.as_str()).collect();
    let programs = programs.into_iter().collect::<Vec<_>>().join(", ");
    if judged.invariants.skip.insert(Invariant::WrongPriority) {
        notes.push(format!("WP: {programs} does not support priorities"));
    }
    judged.expectations.retain(|expectation| match expectation {
        Expectation::MasterAt { pair, node, at }
            if without_priorities.iter().any(|(p, _)| p == pair) =>
        {
            notes.push(format!(
                "expectation that {node} is master of {pair} at {}: {programs} does not \
                 support priorities, so its recipe, not the file, chooses the master",
                crate::check::secs(*at)
            ));
            false
        }
        Expectation::Violation(Invariant::WrongPriority) => {
            notes.push(format!(
                "expectation of a WP violation: {programs} does not support priorities"
            ));
            false
        }
        _ => true,
    });
    (judged, notes)
}

/// The first pair's bus host (`crate::bus`) that `fault` names, if any.
fn named_bus(scenario: &Scenario, fault: &Fault) -> Option<String> {
    let buses: Vec<String> = scenario
        .topology
        .pairs
        .iter()
        .map(|p| crate::bus::bus_host_name(&p.name))
        .collect();
    let target = match fault.target() {
        Some(Target::Host(name)) => Some(name),
        _ => None,
    };
    let mut names = fault.group_names().chain(target);
    names.find(|n| buses.contains(n)).cloned()
}

/// Why live mode cannot play `action`, if it cannot.
fn step_refusal(scenario: &Scenario, action: &Action) -> Option<String> {
    let Action::Fault(fault) = action else {
        return None;
    };
    if let Some(bus) = named_bus(scenario, fault) {
        return Some(format!(
            "{bus} is a pair's message bus, which only the simulator runs (the node programs \
             publish no messages)"
        ));
    }
    let is_node = |target: &Target| match target {
        Target::Host(name) => scenario
            .topology
            .pairs
            .iter()
            .any(|p| p.nodes.iter().any(|n| &n.name == name)),
        Target::ZkLeader | Target::ZkFollower => false,
    };
    match fault {
        Fault::ClockOffset { target, .. }
        | Fault::ClockJump { target, .. }
        | Fault::ClockReset { target }
            if !is_node(target) =>
        {
            Some(format!(
                "{target} takes its time from the OS: a clock step on a ZooKeeper server or a \
                 database needs libfaketime, which live mode does not inject yet (node clocks \
                 step through their time facade)"
            ))
        }
        Fault::ClockDrift { target, .. } if !is_node(target) => Some(format!(
            "{target} takes its time from the OS: clock drift on a ZooKeeper server or a \
             database needs libfaketime, which live mode does not inject yet (node clocks \
             drift through their time facade)"
        )),
        Fault::ClockStrobe { .. } => Some(
            "clock strobes are not reproduced live: the node's time facade steps its clocks, \
             a strobe of many steps a second is not played faithfully by a runner on a shared \
             machine"
                .into(),
        ),
        _ => None,
    }
}

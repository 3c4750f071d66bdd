//! Scenario files: a topology, a timeline of faults and operator actions, and expectations,
//! written in TOML by QA (documented in `scenarios/README.md`).
//!
//! [`load`] reads and validates a file into a [`Scenario`]; every problem comes back as a
//! [`ScenarioError`] that names `file:line:col`. [`runner::run`] plays a scenario in the
//! simulator and judges it.

pub mod error;
mod expectations;
pub mod format;
pub mod programs;
pub mod runner;
mod steps;
pub mod timeline;
pub mod validate;
pub mod write;

pub use error::ScenarioError;

use crate::check::Invariant;
use crate::sim::fault::Fault;
use crate::sim::topology::Topology;
use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;
use std::time::Duration;

/// A validated scenario, ready to run.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    /// The file's stem, e.g. `master-crash`.
    pub name: String,
    pub topology: Topology,
    /// End of the fault phase.
    pub duration: Duration,
    /// The liveness phase after `duration`: every world fault healed, nothing injected.
    pub liveness: Duration,
    /// The seed used when the command line gives none.
    pub seed: u64,
    /// In time order (file order among equal times).
    pub steps: Vec<Step>,
    pub expectations: Vec<Expectation>,
    pub invariants: InvariantSettings,
    /// The node program of each node (the built-in selector unless the file says otherwise).
    pub programs: programs::Programs,
}

impl Scenario {
    /// When the run ends.
    pub fn end(&self) -> Duration {
        self.duration + self.liveness
    }

    /// Runs every node with `program` (`--program NAME`); an unknown name is an error naming
    /// the known ones.
    pub fn run_every_node_with(&mut self, program: &str) -> Result<(), String> {
        let nodes = self.topology.pairs.iter().flat_map(|p| &p.nodes);
        self.programs
            .set_all(nodes.map(|n| n.name.as_str()), program)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    pub at: Duration,
    pub action: Action,
}

/// What a step does: a world fault, or an operator action on a node.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    Fault(Fault),
    Relinquish {
        node: String,
    },
    Rejoin {
        node: String,
    },
    SetPriority {
        node: String,
        priority: u32,
    },
    BreakHealth {
        node: String,
        link: HealthLink,
    },
    HealHealth {
        node: String,
        link: HealthLink,
    },
    /// An operator's cleanup script deletes the pair's election znodes (see
    /// [`PairWorld::delete_election`](crate::pair::PairWorld::delete_election)).
    DeleteElection {
        pair: String,
    },
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Fault(fault) => write!(f, "{fault}"),
            Action::Relinquish { node } => write!(f, "relinquish {node}"),
            Action::Rejoin { node } => write!(f, "rejoin {node}"),
            Action::SetPriority { node, priority } => write!(f, "set priority {node} {priority}"),
            Action::BreakHealth { node, link } => write!(f, "break health {node} <-> {link}"),
            Action::HealHealth { node, link } => write!(f, "heal health {node} <-> {link}"),
            Action::DeleteElection { pair } => write!(f, "delete election of {pair}"),
        }
    }
}

/// Which of a node's health checks a health fault breaks.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum HealthLink {
    Database,
    Bus,
}

impl fmt::Display for HealthLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HealthLink::Database => "database",
            HealthLink::Bus => "bus",
        })
    }
}

/// What the scenario's author expects, besides the invariants.
#[derive(Clone, Debug, PartialEq)]
pub enum Expectation {
    /// `node` (of `pair`) acts as master at `at`.
    MasterAt {
        pair: String,
        node: String,
        at: Duration,
    },
    /// No node of `pair` acts as master at any instant in `[from, until]`.
    NoMaster {
        pair: String,
        from: Duration,
        until: Duration,
    },
    /// Some node of `pair` is promoted in `(after, after + within]`.
    FailoverWithin {
        pair: String,
        after: Duration,
        within: Duration,
    },
    /// The run must violate this invariant (the scenario documents an unsafe configuration).
    Violation(Invariant),
}

impl fmt::Display for Expectation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use crate::check::secs as d;
        match self {
            Expectation::MasterAt { node, at, .. } => write!(f, "master {node} at {}", d(*at)),
            Expectation::NoMaster { pair, from, until } => {
                write!(
                    f,
                    "no master of {pair} from {} until {}",
                    d(*from),
                    d(*until)
                )
            }
            Expectation::FailoverWithin {
                pair,
                after,
                within,
            } => write!(
                f,
                "failover of {pair} after {} within {}",
                d(*after),
                d(*within)
            ),
            Expectation::Violation(invariant) => write!(f, "violation {}", invariant.code()),
        }
    }
}

/// Which invariants a run is judged by, and their bounds.
#[derive(Clone, Debug, PartialEq)]
pub struct InvariantSettings {
    pub skip: BTreeSet<Invariant>,
    /// NM: the longest a pair may go without a master in the liveness phase.
    pub no_master_bound: Duration,
    /// WP: how long a better candidate may wait under the pre-emptive policy.
    pub wrong_priority_bound: Duration,
}

/// Reads and validates a scenario file; every problem found is returned, each with its
/// position.
pub fn load(path: &Path) -> Result<Scenario, Vec<ScenarioError>> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| {
        vec![ScenarioError::whole_file(
            &file,
            format!("cannot read: {e}"),
        )]
    })?;
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| file.clone());
    let mut scenario = parse(&name, &file, &text)?;
    if let Some(dir) = path.parent() {
        scenario.programs.resolve_relative_to(dir);
    }
    Ok(scenario)
}

/// Every `*.toml` under `dir` (recursively), sorted, so runs and tests see a stable order.
pub fn files_in(dir: &Path) -> std::io::Result<Vec<std::path::PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            files.extend(files_in(&path)?);
        } else if path.extension().is_some_and(|e| e == "toml") {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// Validates a scenario given as text; `file` is what error messages call it.
pub fn parse(name: &str, file: &str, text: &str) -> Result<Scenario, Vec<ScenarioError>> {
    validate::scenario(name, text).map_err(|diagnostics| {
        diagnostics
            .iter()
            .map(|d| ScenarioError::locate(file, text, d))
            .collect()
    })
}

//! Plays a [`Scenario`] in the simulator: builds its pair world, applies each step at its
//! true time, heals everything for the liveness phase, then judges the history by the
//! invariants and the scenario's expectations.

use super::timeline;
use super::{Action, Expectation, HealthLink, Scenario};
use crate::check::metrics::{Measures, measure};
use crate::check::state::{Term, terms};
use crate::check::{CheckSettings, Invariant, Violation, check_all, secs};
use crate::coverage::Reached;
use crate::db::CertifiedWriteDating;
use crate::pair::{self, PairWorld};
use crate::sim::clock::sleep_until_true;
use crate::sim::fault::FaultApplier;
use crate::sim::history::{Entry, Record};
use crate::sim::net::{HostId, NetConfig};
use crate::sim::trace::TraceLine;
use crate::sim::world::{HostStatus, World};
use std::time::Duration;

/// How an expectation fared.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ExpectationResult {
    pub expectation: String,
    pub met: bool,
    pub detail: String,
}

/// The outcome of one run.
#[derive(Clone, Debug, serde::Serialize)]
pub struct RunReport {
    pub scenario: String,
    pub seed: u64,
    /// The election code the nodes ran (`real`, or a known-bug variant such as `p3`).
    pub election: String,
    pub passed: bool,
    /// Violations the scenario did not expect (these fail the run).
    pub violations: Vec<Violation>,
    /// Violations of invariants the scenario expects to break.
    pub expected_violations: Vec<Violation>,
    pub expectations: Vec<ExpectationResult>,
    /// Steps that could not be applied when due (these fail the run).
    pub step_errors: Vec<String>,
    pub measures: Measures,
    pub sessions_expired: u64,
    /// FNV-1a 64 of the full event trace, as 16 hex digits.
    pub trace_hash: String,
    #[serde(skip)]
    pub trace: Vec<TraceLine>,
    /// The run's history (true time), for pictures of it and the timeline.
    #[serde(skip)]
    pub history: Vec<Entry>,
    /// How much the world did (for benchmarks).
    #[serde(skip)]
    pub load: RunLoad,
    /// The edge-case points the run reached ([`crate::coverage`]).
    #[serde(skip)]
    pub coverage: Reached,
}

impl RunReport {
    /// The canonical timeline of `scenario`'s run: true time, events, verdict (what the
    /// snapshots hold). Rendered when asked: chaos seeds and benchmarks never print it, and
    /// for a hundred pairs it is a hundredth of the run.
    pub fn timeline(&self, scenario: &Scenario) -> String {
        timeline::render(scenario, &self.history, self)
    }
}

/// How much work a run was: what a benchmark divides by simulated seconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunLoad {
    /// Trace events (packets not counted).
    pub events: u64,
    pub packets: u64,
    /// Records in the run's history.
    pub history_entries: u64,
}

/// Why a scenario could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("the topology cannot be built: {0}")]
    Build(#[from] pair::BuildError),
    /// A node runs a program the simulator cannot run (only real processes can).
    #[error("{0}")]
    NeedsLive(String),
}

/// Refuses a scenario whose nodes run a program other than the built-in selector.
fn simulable(scenario: &Scenario) -> Result<(), RunError> {
    match scenario.programs.simulator_refusal() {
        Some(why) => Err(RunError::NeedsLive(why)),
        None => Ok(()),
    }
}

/// Runs `scenario` with `seed`. Must be called outside any simulation.
///
/// Same scenario, same seed: same run, also several times in one process (simulated code uses
/// `crate::sync::watch`, whose waiters wake in a fixed order; tokio's drew it from a
/// process-wide RNG). `splitbrain run` still gives each scenario of a directory a process of
/// its own, so one that panics cannot take the others down.
pub fn run(scenario: &Scenario, seed: u64, keep_trace: bool) -> Result<RunReport, RunError> {
    run_with_dating(scenario, seed, keep_trace, CertifiedWriteDating::AtCommit)
}

/// Like [`run`], with the databases dating certified writes as `dating` says: for the test
/// that the regression scenarios of the old dating bug still reach their moment.
pub fn run_with_dating(
    scenario: &Scenario,
    seed: u64,
    keep_trace: bool,
    dating: CertifiedWriteDating,
) -> Result<RunReport, RunError> {
    simulable(scenario)?;
    crate::sim::run_seeded(seed, || play(scenario, seed, keep_trace, dating))
}

/// Like [`run`], but a run whose simulated time passes `limit` panics with "time limit
/// exceeded" (the world never came to rest after the scenario's end: a hang). Chaos runs
/// catch that panic and report the seed.
pub fn run_with_limit(
    scenario: &Scenario,
    seed: u64,
    keep_trace: bool,
    limit: Duration,
) -> Result<RunReport, RunError> {
    simulable(scenario)?;
    crate::sim::run_seeded_with_limit(seed, limit, || {
        play(scenario, seed, keep_trace, CertifiedWriteDating::AtCommit)
    })
}

async fn play(
    scenario: &Scenario,
    seed: u64,
    keep_trace: bool,
    dating: CertifiedWriteDating,
) -> Result<RunReport, RunError> {
    let net = pair::net_config(&scenario.topology, NetConfig::default());
    let world = World::new(net, keep_trace);
    let pairs = pair::build_with(&world, &scenario.topology, dating)?;
    let mut applier = FaultApplier::new();
    let mut step_errors = Vec::new();
    for step in &scenario.steps {
        sleep_until_true(step.at).await;
        if let Err(e) = apply(&pairs, &mut applier, &step.action) {
            let message = format!("{}: '{}' not applied: {e}", secs(step.at), step.action);
            world.record(Record::Fault {
                description: format!("'{}' NOT APPLIED: {e}", step.action),
            });
            step_errors.push(message);
        }
    }
    sleep_until_true(scenario.duration).await;
    heal_everything(&pairs);
    sleep_until_true(scenario.end()).await;

    let history = world.take_history();
    let load = RunLoad {
        events: world.trace_events(),
        packets: world.packets_delivered(),
        history_entries: history.len() as u64,
    };
    let mut report = judge(
        scenario,
        seed,
        &history,
        step_errors,
        world.metric("zk.sessions_expired"),
        format!("{:016x}", world.trace_hash()),
        world.take_trace_lines(),
    );
    report.load = load;
    report.coverage = world.coverage();
    world.shutdown();
    report.history = history;
    Ok(report)
}

fn apply(pairs: &PairWorld, applier: &mut FaultApplier, action: &Action) -> Result<(), String> {
    let world = pairs.world();
    let control = |result: Result<(), pair::ControlError>| {
        result.map_err(|e| e.to_string())?;
        world.record(Record::Fault {
            description: action.to_string(),
        });
        Ok(())
    };
    let link = |l: HealthLink| match l {
        HealthLink::Database => pair::HealthLink::Database,
        HealthLink::Bus => pair::HealthLink::Bus,
    };
    match action {
        Action::Fault(fault) => applier.apply(world, fault).map_err(|e| e.to_string()),
        Action::Relinquish { node } => control(pairs.relinquish(node)),
        Action::Rejoin { node } => control(pairs.rejoin(node)),
        // The pair world records the change (PriorityChanged) for the WP checker.
        Action::SetPriority { node, priority } => control(pairs.set_priority(node, *priority)),
        Action::BreakHealth { node, link: l } => control(pairs.break_health(node, link(*l))),
        Action::HealHealth { node, link: l } => control(pairs.heal_health(node, link(*l))),
        // The script runs in the background and records its outcome when it ends.
        Action::DeleteElection { pair } => control(pairs.delete_election(pair)),
    }
}

/// The start of the liveness phase: every world fault undone (links, hosts, clocks, health
/// links). Operator decisions (relinquish, priorities) stay as they are.
fn heal_everything(pairs: &PairWorld) {
    let world = pairs.world();
    world.record(Record::Fault {
        description: "liveness phase: heal every fault".into(),
    });
    world.heal();
    world.clear_link_faults();
    for index in 0..world.host_count() {
        let host = HostId(index as u32);
        world.clock_reset(host);
        // Both calls only fail for a host in another state, which the status rules out.
        let _ = match world.status(host) {
            HostStatus::Paused => world.resume(host),
            HostStatus::Down => world.start(host),
            HostStatus::Up => Ok(()),
        };
    }
    for pair_name in pairs.pairs().map(str::to_string).collect::<Vec<_>>() {
        for node in pairs.nodes_of(&pair_name).unwrap_or_default() {
            for link in [pair::HealthLink::Database, pair::HealthLink::Bus] {
                let _ = pairs.heal_health(node, link);
            }
        }
    }
}

/// Judges a finished run's history.
pub fn judge(
    scenario: &Scenario,
    seed: u64,
    history: &[Entry],
    step_errors: Vec<String>,
    sessions_expired: u64,
    trace_hash: String,
    trace: Vec<TraceLine>,
) -> RunReport {
    let end = scenario.end();
    let settings = CheckSettings {
        skip: scenario.invariants.skip.clone(),
        no_master_bound: scenario.invariants.no_master_bound,
        wrong_priority_bound: scenario.invariants.wrong_priority_bound,
        judged_from: scenario.duration,
        end,
    };
    let terms = terms(history, end);
    let all = check_all(history, &terms, &scenario.topology, &settings);
    let expected: Vec<Invariant> = scenario
        .expectations
        .iter()
        .filter_map(|e| match e {
            Expectation::Violation(i) => Some(*i),
            _ => None,
        })
        .collect();
    let (expected_violations, violations): (Vec<Violation>, Vec<Violation>) = all
        .into_iter()
        .partition(|v| expected.contains(&v.invariant));
    let expectations: Vec<ExpectationResult> = scenario
        .expectations
        .iter()
        .map(|e| evaluate(e, &terms, &expected_violations))
        .collect();
    let passed =
        violations.is_empty() && step_errors.is_empty() && expectations.iter().all(|e| e.met);
    let measures = measure(history, &terms, end);
    RunReport {
        scenario: scenario.name.clone(),
        seed,
        election: scenario.topology.election.to_string(),
        passed,
        violations,
        expected_violations,
        expectations,
        step_errors,
        measures,
        sessions_expired,
        trace_hash,
        trace,
        history: Vec::new(),
        load: RunLoad::default(),
        coverage: Reached::default(),
    }
}

fn evaluate(
    expectation: &Expectation,
    terms: &[Term],
    expected_violations: &[Violation],
) -> ExpectationResult {
    let of = |pair: &String| {
        let pair = pair.clone();
        terms.iter().filter(move |t| *t.pair == *pair)
    };
    let (met, detail) = match expectation {
        Expectation::MasterAt { pair, node, at } => {
            let master = of(pair)
                .filter(|t| t.contains(*at))
                .max_by_key(|t| t.from)
                .map(|t| t.node.as_ref());
            (
                master == Some(node.as_str()),
                format!("master at {}: {}", secs(*at), master.unwrap_or("none")),
            )
        }
        Expectation::NoMaster { pair, from, until } => {
            let overlapping: Vec<String> = of(pair)
                .filter(|t| t.from <= *until && t.until > *from)
                .map(|t| format!("{} {}..{}", t.node, secs(t.from), secs(t.until)))
                .collect();
            (
                overlapping.is_empty(),
                if overlapping.is_empty() {
                    "no master in the interval".to_string()
                } else {
                    format!("master: {}", overlapping.join(", "))
                },
            )
        }
        Expectation::FailoverWithin {
            pair,
            after,
            within,
        } => {
            let promoted = of(pair).find(|t| t.from > *after);
            match promoted {
                Some(t) => (
                    t.from <= *after + *within,
                    format!(
                        "{} promoted at {} ({} after)",
                        t.node,
                        secs(t.from),
                        secs(t.from - *after)
                    ),
                ),
                None => (false, "nobody promoted afterwards".to_string()),
            }
        }
        Expectation::Violation(invariant) => {
            let count = expected_violations
                .iter()
                .filter(|v| v.invariant == *invariant)
                .count();
            (count > 0, format!("{count} {invariant} violations"))
        }
    };
    ExpectationResult {
        expectation: expectation.to_string(),
        met,
        detail,
    }
}

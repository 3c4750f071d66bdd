//! Random scenarios as proptest strategies, so a failing one shrinks: a world from a small
//! family (module `world`) and a swarm-style fault schedule over the scenario step vocabulary
//! (drawn in module `episode`, laid out by `schedule`), with no expectations — a generated run
//! is judged by the invariants alone.
//!
//! Every generated scenario is valid (it reads back from its file, see
//! [`crate::scenario::write`]) and every step applies when due, so a failure is the system's,
//! never the generator's.

pub mod episode;
pub mod schedule;
mod world;

pub use world::Deployments;

use crate::election::ElectionCode;
use crate::scenario::validate::{DEFAULT_NO_MASTER_BOUND, DEFAULT_WRONG_PRIORITY_BOUND};
use crate::scenario::{InvariantSettings, Scenario};
use proptest::prelude::*;
use std::collections::BTreeSet;
use std::time::Duration;

/// What the generator draws within.
#[derive(Clone, Debug, PartialEq)]
pub struct GenOptions {
    /// Length of the fault phase; every step happens in it.
    pub fault_phase: Duration,
    /// Length of the liveness phase after it; must exceed the NM (40 s) and WP (30 s) bounds.
    pub liveness: Duration,
    /// The election code every node runs.
    pub election: ElectionCode,
    /// Most episodes drawn per case (before the swarm switches kinds off and clashes drop some).
    pub max_episodes: usize,
    /// Which values of the deployment options drawn worlds get (the safe ones by default).
    pub deployments: Deployments,
    /// A fixed world to run the drawn schedules on instead of drawing one (an audit of a team's
    /// deployment): every scenario then has exactly this topology.
    pub world: Option<crate::sim::topology::Topology>,
}

impl Default for GenOptions {
    fn default() -> Self {
        GenOptions {
            fault_phase: Duration::from_secs(8 * 60),
            liveness: Duration::from_secs(2 * 60),
            election: ElectionCode::Real,
            max_episodes: 40,
            deployments: Deployments::Safe,
            world: None,
        }
    }
}

/// What a scenario is drawn from: the swarm, the raw episodes and the world. Guided chaos
/// ([`crate::chaos::mutate`]) mutates this, not the steps, so that a mutant is laid out by
/// [`build`] like any draw and every step of it applies when due.
#[derive(Clone, Debug, PartialEq)]
pub struct Genotype {
    pub swarm: episode::Swarm,
    pub episodes: Vec<episode::Episode>,
    pub topology: crate::sim::topology::Topology,
}

impl Genotype {
    /// The same schedule with only the episodes [`build`] lays out, and every kind switched
    /// on: what a mutation drops, moves or retargets is then always a step of the scenario.
    pub fn laid_out(&self, fault_phase: Duration) -> Genotype {
        let kept = schedule::laid_out(&self.topology, &self.swarm, &self.episodes, fault_phase);
        Genotype {
            swarm: episode::Swarm::all_often(),
            episodes: kept.into_iter().map(|i| self.episodes[i]).collect(),
            topology: self.topology.clone(),
        }
    }
}

/// Genotypes as the generator draws them.
pub fn genotype_strategy(options: &GenOptions) -> impl Strategy<Value = Genotype> + use<> {
    // The schedule comes first: shrinking tries switching whole fault kinds off, then dropping
    // episodes, before it touches the world.
    let topology = match &options.world {
        Some(fixed) => Just(fixed.clone()).boxed(),
        None => world::topology_with(options.election, options.deployments).boxed(),
    };
    (
        episode::swarm(),
        episode::episodes(options.max_episodes),
        topology,
    )
        .prop_map(|(swarm, episodes, topology)| Genotype {
            swarm,
            episodes,
            topology,
        })
}

/// The scenario of a genotype (named `chaos`, seed 1: the caller sets both).
pub fn build(genotype: &Genotype, options: &GenOptions) -> Scenario {
    let steps = schedule::steps(
        &genotype.topology,
        &genotype.swarm,
        &genotype.episodes,
        options.fault_phase,
    );
    Scenario {
        name: "chaos".into(),
        topology: genotype.topology.clone(),
        duration: options.fault_phase,
        liveness: options.liveness,
        seed: 1,
        steps,
        expectations: vec![],
        invariants: InvariantSettings {
            skip: BTreeSet::new(),
            no_master_bound: DEFAULT_NO_MASTER_BOUND,
            wrong_priority_bound: DEFAULT_WRONG_PRIORITY_BOUND,
        },
        programs: Default::default(),
    }
}

/// Whole scenarios (named `chaos`, seed 1: the caller sets both).
pub fn scenario_strategy(options: &GenOptions) -> impl Strategy<Value = Scenario> + use<> {
    let options = options.clone();
    genotype_strategy(&options).prop_map(move |genotype| build(&genotype, &options))
}

/// Whole scenarios on exactly `topology` (a team's deployment), with schedules drawn as
/// `options` says: [`GenOptions::world`] set.
pub fn scenario_for_world(
    topology: &crate::sim::topology::Topology,
    options: &GenOptions,
) -> impl Strategy<Value = Scenario> + use<> {
    scenario_strategy(&GenOptions {
        world: Some(topology.clone()),
        ..options.clone()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::write::to_toml;
    use crate::scenario::{Action, Step};
    use crate::sim::fault::{Fault, Target};
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
    use std::collections::BTreeMap;

    /// A runner with a fixed seed: `TestRunner::new` seeds from the OS, which made these
    /// counting tests pass or fail by draw (the mix count over 300 cases spreads 241-270
    /// across seeds).
    fn runner() -> TestRunner {
        let config = Config {
            cases: 300,
            failure_persistence: None,
            ..Config::default()
        };
        TestRunner::new_with_rng(config, TestRng::deterministic_rng(RngAlgorithm::ChaCha))
    }

    /// Generated scenarios read back unchanged from the file the writer makes of them.
    #[test]
    fn generated_scenarios_round_trip_through_their_file() {
        runner()
            .run(
                &(
                    scenario_strategy(&GenOptions::default()),
                    0..=i64::MAX as u64,
                ),
                |(mut scenario, seed)| {
                    scenario.seed = seed;
                    let text = to_toml(&scenario, "generated\n\nby a test");
                    let again = crate::scenario::parse(&scenario.name, "gen.toml", &text)
                        .map_err(|e| TestCaseError::fail(format!("{e:?}\n{text}")))?;
                    prop_assert_eq!(again, scenario, "{}", text);
                    Ok(())
                },
            )
            .unwrap();
    }

    /// Host states along the timeline: every step finds its host as it needs it.
    fn check_applicable(steps: &[Step]) -> Result<(), String> {
        #[derive(Clone, Copy, PartialEq, Debug)]
        enum State {
            Up,
            Down,
            Paused,
        }
        let mut hosts: BTreeMap<String, State> = BTreeMap::new();
        let mut leader_hit = false;
        for step in steps {
            let Action::Fault(fault) = &step.action else {
                continue;
            };
            let Some(target) = fault.target() else {
                continue;
            };
            let name = match target {
                Target::Host(h) => h.clone(),
                role => role.to_string(),
            };
            let state = hosts.entry(name.clone()).or_insert(State::Up);
            let ok = match fault {
                Fault::Crash { .. } => *state != State::Down,
                Fault::Start { .. } => *state == State::Down,
                Fault::Pause { .. } => *state == State::Up,
                Fault::Resume { .. } => *state == State::Paused,
                _ => true,
            };
            if !ok {
                return Err(format!(
                    "{}: '{}' finds {name} {state:?}",
                    step.at.as_millis(),
                    step.action
                ));
            }
            *state = match fault {
                Fault::Crash { .. } | Fault::Wipe { .. } => State::Down,
                Fault::Start { .. } | Fault::Restart { .. } | Fault::Resume { .. } => State::Up,
                Fault::Pause { .. } => State::Paused,
                _ => *state,
            };
            if *target == Target::ZkLeader {
                let brings_back = matches!(
                    fault,
                    Fault::Start { .. } | Fault::Resume { .. } | Fault::ClockReset { .. }
                );
                if brings_back && !leader_hit {
                    return Err(format!("'{}' before any zk-leader hit", step.action));
                }
                leader_hit = true;
            }
        }
        Ok(())
    }

    #[test]
    fn every_step_finds_its_host_in_the_state_it_needs() {
        runner()
            .run(&scenario_strategy(&GenOptions::default()), |scenario| {
                check_applicable(&scenario.steps).map_err(TestCaseError::fail)?;
                let last = scenario.steps.last().map_or(Duration::ZERO, |s| s.at);
                prop_assert!(last < scenario.duration);
                prop_assert!(
                    scenario
                        .steps
                        .iter()
                        .all(|s| s.at.subsec_nanos() % 1_000_000 == 0)
                );
                Ok(())
            })
            .unwrap();
    }

    /// The hand-back under a pause (P5's ground) comes up: as a node rejoins, the other node of
    /// its pair pauses at the same instant, the pause first, for less than the session.
    #[test]
    fn hand_backs_under_a_pause_come_up() {
        let mut runner = runner();
        let strategy = scenario_strategy(&GenOptions::default());
        let mut found = 0;
        for _ in 0..300 {
            let scenario = strategy.new_tree(&mut runner).unwrap().current();
            let session = scenario.topology.zk.session_timeout;
            let partner = |node: &str| {
                let pair = scenario
                    .topology
                    .pairs
                    .iter()
                    .find(|p| p.nodes.iter().any(|n| n.name == node))?;
                pair.nodes
                    .iter()
                    .find(|n| n.name != node)
                    .map(|n| n.name.clone())
            };
            for (i, step) in scenario.steps.iter().enumerate() {
                let Action::Rejoin { node } = &step.action else {
                    continue;
                };
                let Some(other) = partner(node) else { continue };
                let paused_first = scenario.steps[..i].iter().rev().any(|s| {
                    s.at == step.at
                        && s.action
                            == Action::Fault(Fault::Pause {
                                target: Target::Host(other.clone()),
                            })
                });
                if !paused_first {
                    continue;
                }
                let resumed = scenario.steps[i..].iter().find(|s| {
                    s.action
                        == Action::Fault(Fault::Resume {
                            target: Target::Host(other.clone()),
                        })
                });
                let resumed = resumed.expect("a paused partner resumes");
                assert!(resumed.at - step.at < session, "{scenario:?}");
                found += 1;
            }
        }
        assert!(
            found > 5,
            "only {found} hand-backs under a pause in 300 cases"
        );
    }

    /// The swarm makes runs differ in kind: over many cases every kind of step comes up, and
    /// cases do not all carry the same mix.
    #[test]
    fn every_step_kind_comes_up() {
        let mut runner = runner();
        let strategy = scenario_strategy(&GenOptions::default());
        let mut seen: BTreeMap<&'static str, usize> = BTreeMap::new();
        let mut mixes = BTreeSet::new();
        for _ in 0..300 {
            let scenario = strategy.new_tree(&mut runner).unwrap().current();
            let mut mix = BTreeSet::new();
            for step in &scenario.steps {
                let name = crate::scenario::write::action_name(&step.action);
                *seen.entry(name).or_default() += 1;
                mix.insert(name);
            }
            mixes.insert(mix);
        }
        for name in [
            "partition",
            "one-way",
            "isolate-site",
            "bridge",
            "heal",
            "loss",
            "latency",
            "clear-link-faults",
            "crash",
            "start",
            "restart",
            "wipe",
            "pause",
            "resume",
            "clock-offset",
            "clock-drift",
            "clock-jump",
            "clock-strobe",
            "clock-reset",
            "relinquish",
            "rejoin",
            "set-priority",
            "break-health",
            "heal-health",
            "delete-election",
        ] {
            assert!(
                seen.get(name).copied().unwrap_or(0) > 0,
                "{name} never drawn: {seen:?}"
            );
        }
        // Over 60 runner seeds the count spread 241-270; the bound leaves room so that a
        // reshuffled draw order does not trip it.
        assert!(mixes.len() > 200, "only {} different mixes", mixes.len());
    }
}

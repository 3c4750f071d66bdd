//! One chaos seed: generate a scenario from the seed, run it, judge it, and shrink a failure
//! to a minimal scenario that `splitbrain run` replays exactly.
//!
//! The seed decides everything: proptest's generator is seeded from it (so the same seed
//! draws the same scenario), and it is the scenario's `[run] seed` (so the same scenario runs
//! the same way). Shrinking walks proptest's value tree (`simplify`/`complicate`), re-running
//! the simulation for each candidate and keeping it only when it fails with the same
//! invariant. A panic or a simulated-time hang inside a run is a finding, never an abort.

use super::episode_tree::EpisodeTree;
use super::generate::{GenOptions, Genotype, genotype_strategy, scenario_strategy};
use super::seeds::Crash;
use crate::check::secs;
use crate::coverage::Reached;
use crate::scenario::runner::{self, RunReport};
use crate::scenario::{Scenario, write};
use crate::sim::history::Entry;
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Duration;

/// How far past a scenario's end simulated time may run before the run counts as a hang.
const HANG_MARGIN: Duration = Duration::from_secs(10 * 60);

#[derive(Clone, Debug, PartialEq)]
pub struct ExploreOptions {
    /// What scenarios to draw (`gen` is a reserved word in Rust 2024).
    pub generate: GenOptions,
    /// Shrink a failing scenario (otherwise the finding is the whole generated scenario).
    pub shrink: bool,
    /// Most simulations shrinking may run.
    pub max_shrink_runs: usize,
}

impl Default for ExploreOptions {
    fn default() -> Self {
        ExploreOptions {
            generate: GenOptions::default(),
            shrink: true,
            max_shrink_runs: 150,
        }
    }
}

/// One seed's result.
#[derive(Debug)]
pub struct SeedOutcome {
    pub seed: u64,
    /// The generated scenario (named `chaos-<seed>`, `[run] seed` = the seed).
    pub scenario: Scenario,
    /// Its run; `None` when the run panicked or hung (the finding says which).
    pub report: Option<RunReport>,
    pub finding: Option<Finding>,
    /// Simulations run for this seed, shrinking included.
    pub runs: usize,
    /// The edge-case points the generated run reached (not its shrinking runs'); empty when
    /// the run panicked or hung.
    pub coverage: Reached,
}

/// A failed seed, shrunk.
#[derive(Clone, Debug)]
pub struct Finding {
    /// `2M`, `SW`, `NM`, `WP`, `step` (a step that could not apply), `expectation`, `panic`,
    /// `hang`, or `build` (the world could not be built).
    pub invariant: String,
    /// When it happened (true simulated time; zero when unknown, as for a panic).
    pub at: Duration,
    pub detail: String,
    /// The minimal failing scenario: its `[run] seed` and `election` are set, so
    /// `splitbrain run` on its file replays the failure.
    pub shrunk: Scenario,
    /// The shrunk run's history and end, for pictures (empty after a panic or a hang).
    pub history: Vec<Entry>,
    pub end: Duration,
    /// The shrunk run's trace hash (empty after a panic or a hang): a replay must match it.
    pub trace_hash: String,
    pub steps_before: usize,
    pub steps_after: usize,
    pub shrink_runs: usize,
}

impl Finding {
    /// The shrunk scenario as a file, opening with what failed and how to replay it.
    pub fn scenario_file(&self) -> String {
        let header = format!(
            "Chaos finding: {} at {} (seed {}, election {}).\n{}\n\nShrunk from {} steps to {} in {} runs. Replay: splitbrain run <this file>",
            self.invariant,
            secs(self.at),
            self.shrunk.seed,
            self.shrunk.topology.election,
            self.detail,
            self.steps_before,
            self.steps_after,
            self.shrink_runs
        );
        write::to_toml(&self.shrunk, &header)
    }
}

/// What one run showed: the first thing that failed it, if anything did.
#[derive(Clone, Debug, PartialEq)]
pub struct Verdict {
    /// As [`Finding::invariant`].
    pub invariant: String,
    pub at: Duration,
    pub detail: String,
}

/// The scenario `seed` draws with `options`: the first draw of proptest's generator seeded
/// from `seed`, named `chaos-<seed>` with `[run] seed` = `seed`. [`explore_seed`] runs this
/// very draw (and shrinks from it); `splitbrain chaos --live` plays it on real processes.
pub fn generated_scenario(seed: u64, options: &GenOptions) -> Scenario {
    named(draw(seed, options).current(), seed)
}

/// proptest's value tree of `seed`'s scenario: its current value is the first draw, and it
/// shrinks from there.
fn draw(seed: u64, options: &GenOptions) -> impl ValueTree<Value = Scenario> + use<> {
    let mut runner = TestRunner::new_with_rng(Config::default(), rng_for(seed));
    match scenario_strategy(options).new_tree(&mut runner) {
        Ok(tree) => tree,
        Err(reason) => unreachable!("the scenario strategy has no filter to reject: {reason}"),
    }
}

/// The genotype `seed` draws with `options` (the world, swarm and episodes of
/// [`generated_scenario`]): what guided chaos keeps in its corpus and mutates.
pub fn generated_genotype(seed: u64, options: &GenOptions) -> Genotype {
    let mut runner = TestRunner::new_with_rng(Config::default(), rng_for(seed));
    match genotype_strategy(options).new_tree(&mut runner) {
        Ok(tree) => tree.current(),
        Err(reason) => unreachable!("the genotype strategy has no filter to reject: {reason}"),
    }
}

/// Where a seed's schedule comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum Origin {
    /// The generator's draw from the seed.
    Fresh,
    /// A mutant guided chaos made of a corpus entry (laid out, so every episode is a step).
    Mutant(Box<Genotype>),
}

/// A drawn scenario as `seed`'s: its name and its `[run] seed`.
fn named(mut scenario: Scenario, seed: u64) -> Scenario {
    scenario.name = format!("chaos-{seed}");
    scenario.seed = seed;
    scenario
}

/// Generates, runs and judges one seed; shrinks a failure. Never panics on a failing run.
pub fn explore_seed(seed: u64, options: &ExploreOptions) -> SeedOutcome {
    explore_from(seed, &Origin::Fresh, options)
}

/// Runs and judges the schedule `origin` gives `seed` (run with the seed's own `[run] seed`);
/// shrinks a failure: a fresh draw along proptest's tree, a mutant episode by episode.
pub fn explore_from(seed: u64, origin: &Origin, options: &ExploreOptions) -> SeedOutcome {
    match origin {
        Origin::Fresh => explore_tree(seed, draw(seed, &options.generate), options),
        Origin::Mutant(genotype) => {
            let tree = EpisodeTree::new(genotype.as_ref().clone(), &options.generate);
            explore_tree(seed, tree, options)
        }
    }
}

fn explore_tree(
    seed: u64,
    mut tree: impl ValueTree<Value = Scenario>,
    options: &ExploreOptions,
) -> SeedOutcome {
    let prepare = |scenario: Scenario| named(scenario, seed);
    let scenario = prepare(tree.current());
    let (report, verdict) = run_and_judge(&scenario);
    let mut runs = 1;
    let coverage = report.as_ref().map(|r| r.coverage).unwrap_or_default();
    let Some(verdict) = verdict else {
        return SeedOutcome {
            seed,
            scenario,
            report,
            finding: None,
            runs,
            coverage,
        };
    };

    // proptest's shrinking loop: simplify while it still fails the same way, complicate
    // (back off) when a candidate passes or fails otherwise.
    let mut best = (scenario.clone(), report.clone(), verdict);
    let mut passing: Vec<Scenario> = Vec::new();
    let mut shrink_runs = 0;
    if options.shrink && tree.simplify() {
        while shrink_runs < options.max_shrink_runs {
            let candidate = prepare(tree.current());
            let same_failure = if candidate == best.0 {
                true
            } else if passing.contains(&candidate) {
                false
            } else {
                shrink_runs += 1;
                let (report, verdict) = run_and_judge(&candidate);
                match verdict {
                    Some(v) if v.invariant == best.2.invariant => {
                        best = (candidate, report, v);
                        true
                    }
                    _ => {
                        if passing.len() >= 64 {
                            passing.remove(0);
                        }
                        passing.push(candidate);
                        false
                    }
                }
            };
            let more = if same_failure {
                tree.simplify()
            } else {
                tree.complicate()
            };
            if !more {
                break;
            }
        }
    }
    runs += shrink_runs;
    let (shrunk, shrunk_report, verdict) = best;
    let finding = Finding {
        invariant: verdict.invariant,
        at: verdict.at,
        detail: verdict.detail,
        end: shrunk.end(),
        history: shrunk_report
            .as_ref()
            .map(|r| r.history.clone())
            .unwrap_or_default(),
        trace_hash: shrunk_report
            .as_ref()
            .map(|r| r.trace_hash.clone())
            .unwrap_or_default(),
        steps_before: scenario.steps.len(),
        steps_after: shrunk.steps.len(),
        shrink_runs,
        shrunk,
    };
    SeedOutcome {
        seed,
        scenario,
        report,
        finding: Some(finding),
        runs,
        coverage,
    }
}

/// proptest's generator for `seed`: ChaCha keyed by the seed spread over 32 bytes
/// (SplitMix64), the same on every platform.
fn rng_for(seed: u64) -> TestRng {
    let mut state = seed;
    let mut key = [0u8; 32];
    for chunk in key.chunks_mut(8) {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        chunk.copy_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    TestRng::from_seed(RngAlgorithm::ChaCha, &key)
}

/// Runs `scenario` with its own seed under a simulated-time limit, catching panics.
pub fn run_and_judge(scenario: &Scenario) -> (Option<RunReport>, Option<Verdict>) {
    let limit = scenario.end() + HANG_MARGIN;
    let run = catch_unwind(AssertUnwindSafe(|| {
        runner::run_with_limit(scenario, scenario.seed, false, limit)
    }));
    match run {
        Ok(Ok(report)) => {
            let verdict = judge(&report);
            (Some(report), verdict)
        }
        Ok(Err(e)) => (
            None,
            Some(Verdict {
                invariant: "build".into(),
                at: Duration::ZERO,
                detail: e.to_string(),
            }),
        ),
        Err(payload) => {
            let (invariant, detail) = match Crash::from_panic(payload.as_ref()) {
                Crash::Panic(message) => ("panic", message),
                Crash::Hang(message) => ("hang", message),
            };
            (
                None,
                Some(Verdict {
                    invariant: invariant.into(),
                    at: Duration::ZERO,
                    detail,
                }),
            )
        }
    }
}

/// The first thing that failed a run: its earliest violation, else a step that could not
/// apply, else an unmet expectation (`None` for a run that passed, or failed by none of these).
pub fn judge(report: &RunReport) -> Option<Verdict> {
    if report.passed {
        return None;
    }
    if let Some(v) = report.violations.iter().min_by_key(|v| v.at) {
        return Some(Verdict {
            invariant: v.invariant.code().to_string(),
            at: v.at,
            detail: v.detail.clone(),
        });
    }
    if let Some(error) = report.step_errors.first() {
        return Some(Verdict {
            invariant: "step".into(),
            at: Duration::ZERO,
            detail: error.clone(),
        });
    }
    let unmet = report.expectations.iter().find(|e| !e.met)?;
    Some(Verdict {
        invariant: "expectation".into(),
        at: Duration::ZERO,
        detail: format!("{}: {}", unmet.expectation, unmet.detail),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn short() -> ExploreOptions {
        ExploreOptions {
            generate: GenOptions {
                fault_phase: Duration::from_secs(100),
                liveness: Duration::from_secs(50),
                ..GenOptions::default()
            },
            shrink: true,
            max_shrink_runs: 20,
        }
    }

    /// Same seed: same scenario, same run, same finding; another seed draws another scenario.
    #[test]
    fn a_seed_decides_the_scenario_and_the_run() {
        let options = short();
        let first = explore_seed(7, &options);
        let again = explore_seed(7, &options);
        assert_eq!(first.scenario, again.scenario);
        assert_eq!(first.scenario.seed, 7);
        assert_eq!(first.scenario.name, "chaos-7");
        let hash = |o: &SeedOutcome| o.report.as_ref().map(|r| r.trace_hash.clone());
        assert_eq!(hash(&first), hash(&again));
        assert!(hash(&first).is_some(), "the run completed");
        assert_eq!(
            first
                .finding
                .as_ref()
                .map(|f| (f.invariant.clone(), f.shrunk.clone())),
            again
                .finding
                .as_ref()
                .map(|f| (f.invariant.clone(), f.shrunk.clone()))
        );
        assert_ne!(explore_seed(8, &options).scenario, first.scenario);
    }

    /// `generated_scenario` is the very scenario `explore_seed` runs for the seed: the same
    /// generator and the same first draw, so `chaos --live` plays what simulated chaos plays.
    #[test]
    fn generated_scenario_is_explore_seeds_first_draw() {
        let options = ExploreOptions {
            shrink: false,
            ..short()
        };
        for seed in [1, 7, 1 << 40] {
            let explored = explore_seed(seed, &options);
            let generated = generated_scenario(seed, &options.generate);
            assert_eq!(generated, explored.scenario, "seed {seed}");
            assert_eq!(generated, generated_scenario(seed, &options.generate));
        }
        assert_ne!(
            generated_scenario(1, &options.generate),
            generated_scenario(2, &options.generate)
        );
    }

    #[test]
    fn the_generator_rng_depends_on_every_bit_of_the_seed() {
        use proptest::prelude::Rng;
        let draw = |seed| rng_for(seed).next_u64();
        assert_eq!(draw(1), draw(1));
        assert_ne!(draw(1), draw(1 << 40));
        assert_ne!(draw(0), draw(u64::MAX));
    }
}

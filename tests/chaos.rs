//! The bounded chaos property test: a fixed range of seeds, each a random world and fault
//! schedule (10 simulated minutes), run against the real election code; every seed must pass.
//! A failure prints the seed, the invariant and the shrunk scenario file.
//!
//! Replay one seed: `SPLITBRAIN_SEED=N cargo test --release --test chaos`; a range:
//! `SPLITBRAIN_SEEDS=100..200 cargo test --release --test chaos` (end excluded). With
//! `SPLITBRAIN_CHAOS_OUT=dir`, each shrunk failure is also written to `dir/seed-N.toml`.

use splitbrain::chaos::explore::{ExploreOptions, explore_seed};
use splitbrain::chaos::seeds::run_seeds;
use std::sync::atomic::AtomicBool;

/// The seeds `cargo test` runs (chosen to take well under a minute on two cores in release).
const SEEDS: std::ops::Range<u64> = 0..200;

fn seeds() -> Vec<u64> {
    if let Ok(seed) = std::env::var("SPLITBRAIN_SEED") {
        let seed = seed
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("SPLITBRAIN_SEED={seed}: expected a number"));
        return vec![seed];
    }
    if let Ok(range) = std::env::var("SPLITBRAIN_SEEDS") {
        let parsed = range
            .split_once("..")
            .and_then(|(a, b)| Some((a.trim().parse().ok()?, b.trim().parse().ok()?)));
        let (start, end): (u64, u64) = parsed.unwrap_or_else(|| {
            panic!("SPLITBRAIN_SEEDS={range}: expected a range such as 100..200")
        });
        return (start..end).collect();
    }
    SEEDS.collect()
}

#[test]
fn random_faults_break_no_invariant_of_the_real_election() {
    let seeds = seeds();
    let jobs = std::thread::available_parallelism().map_or(1, |n| n.get());
    let options = ExploreOptions::default();
    let stop = AtomicBool::new(false);
    let started = std::time::Instant::now();
    let runs = run_seeds(
        seeds.clone(),
        jobs,
        &stop,
        move |seed| explore_seed(seed, &options),
        |run| {
            if let Ok(outcome) = &run.result
                && let Some(finding) = &outcome.finding
            {
                eprintln!(
                    "seed {}: {} at {:?}: {}",
                    run.seed, finding.invariant, finding.at, finding.detail
                );
            }
        },
    );
    let mut failures = Vec::new();
    for run in &runs {
        match &run.result {
            Ok(outcome) => {
                if let Some(finding) = &outcome.finding {
                    if let Ok(dir) = std::env::var("SPLITBRAIN_CHAOS_OUT") {
                        let path =
                            std::path::Path::new(&dir).join(format!("seed-{}.toml", run.seed));
                        std::fs::create_dir_all(&dir).expect("create SPLITBRAIN_CHAOS_OUT");
                        std::fs::write(&path, finding.scenario_file()).expect("write the finding");
                    }
                    failures.push(format!(
                        "seed {} fails {} ({}); shrunk scenario:\n{}",
                        run.seed,
                        finding.invariant,
                        finding.detail,
                        finding.scenario_file()
                    ));
                }
            }
            Err(crash) => failures.push(format!(
                "seed {}: explore_seed crashed: {crash:?}",
                run.seed
            )),
        }
    }
    eprintln!(
        "{} seeds in {:.1}s on {jobs} threads, {} failed",
        runs.len(),
        started.elapsed().as_secs_f64(),
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {} seeds failed (replay one with SPLITBRAIN_SEED=N cargo test --release --test chaos):\n\n{}",
        failures.len(),
        seeds.len(),
        failures.join("\n\n")
    );
}

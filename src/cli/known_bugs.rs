//! `splitbrain bench --known-bugs`: how many random chaos seeds it takes to find each broken
//! election variant of the catalogue (P1–P8). A variant that does not exist in this build
//! runs the real code, so it shows as not found.

use super::bench::BenchArgs;
use super::chaos::{all_cores, explore_options, run_with_progress, with_quiet_panics};
use splitbrain::chaos::campaign::{CampaignOptions, Found};
use splitbrain::check::catalogue;
use splitbrain::election::{ElectionCode, KnownBug};
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

/// Runs per shrink, as `splitbrain chaos` does by default.
const MAX_SHRINK_RUNS: usize = 150;

/// One variant's line of the table.
#[derive(serde::Serialize)]
struct Row {
    variant: String,
    description: String,
    seeds_run: u64,
    /// Seeds up to and including the first failing one.
    seeds_to_first_find: Option<u64>,
    seed: Option<u64>,
    invariant: Option<String>,
    /// The invariant is one the catalogue says this bug breaks.
    expected_invariant: Option<bool>,
    steps_before: Option<usize>,
    steps_after: Option<usize>,
    /// Seeds that failed with the variant but also fail with the real code (not counted).
    failing_with_real_too: u64,
    wall_seconds: f64,
}

pub fn bench(args: &BenchArgs) -> ExitCode {
    let seeds = args.seeds.unwrap_or(2000);
    if args.start.checked_add(seeds - 1).is_none() {
        eprintln!(
            "error: --start {} with --seeds {seeds} runs past the largest seed",
            args.start
        );
        return ExitCode::from(2);
    }
    let jobs = args.jobs.map_or_else(all_cores, |j| j as usize);
    let mut rows = Vec::new();
    for bug in KnownBug::ALL {
        let election = ElectionCode::Broken(bug);
        let options = CampaignOptions {
            first_seed: args.start,
            seeds,
            jobs,
            explore: explore_options(election, true, MAX_SHRINK_RUNS),
            stop_at_first: true,
            only_beyond_real: true,
        };
        eprintln!("bench --known-bugs: {election} ({})", bug.description());
        let stop = AtomicBool::new(false);
        let campaign = with_quiet_panics(|| run_with_progress(&options, &stop));
        let first = campaign.first_find();
        let (before, after) = match first.map(|(_, _, found)| found) {
            Some(Found::Finding(f)) => (Some(f.steps_before), Some(f.steps_after)),
            Some(Found::Crash(_)) => (first.map(|(_, r, _)| r.steps), None),
            None => (None, None),
        };
        let row = Row {
            variant: bug.code().to_string(),
            description: bug.description().to_string(),
            seeds_run: campaign.seeds_run(),
            seeds_to_first_find: first.map(|(n, _, _)| n),
            seed: first.map(|(_, r, _)| r.seed),
            invariant: first.map(|(_, _, f)| f.invariant().to_string()),
            expected_invariant: first.map(|(_, _, f)| {
                catalogue::violates(bug)
                    .iter()
                    .any(|i| i.code() == f.invariant())
            }),
            steps_before: before,
            steps_after: after,
            failing_with_real_too: campaign.shared_with_real(),
            wall_seconds: campaign.wall.as_secs_f64(),
        };
        if !args.json {
            eprintln!("{}", row_text(&row, seeds));
        }
        rows.push(row);
    }
    if args.json {
        match serde_json::to_string_pretty(&rows) {
            Ok(text) => println!("{text}"),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        }
    } else {
        println!(
            "seeds to first find (a seed failing with the variant whose schedule the real code passes), \
             seeds {}.. on {jobs} job(s), shrinking up to {MAX_SHRINK_RUNS} runs:",
            args.start
        );
        println!(
            "{:<8}{:<22}{:<14}{:<16}{:>10}{:>9}  description",
            "variant", "first find", "invariant", "steps", "real too", "wall"
        );
        for row in &rows {
            println!("{}", row_text(row, seeds));
        }
        let found = rows
            .iter()
            .filter(|r| r.seeds_to_first_find.is_some())
            .count();
        println!(
            "{found} of {} variants found ('real too': seeds that failed with the variant and with \
             the real code, not counted)",
            rows.len()
        );
    }
    ExitCode::SUCCESS
}

fn row_text(row: &Row, seeds: u64) -> String {
    let first = match (row.seeds_to_first_find, row.seed) {
        (Some(n), Some(seed)) => format!("{n} (seed {seed})"),
        _ => format!("not found in {seeds}"),
    };
    let invariant = match (&row.invariant, row.expected_invariant) {
        (Some(i), Some(true)) => i.clone(),
        (Some(i), _) => format!("{i} (other)"),
        (None, _) => "-".into(),
    };
    let steps = match (row.steps_before, row.steps_after) {
        (Some(b), Some(a)) => format!("{b} -> {a}"),
        (Some(b), None) => format!("{b} (unshrunk)"),
        _ => "-".into(),
    };
    format!(
        "{:<8}{first:<22}{invariant:<14}{steps:<16}{:>10}{:>7.1} s  {}",
        row.variant, row.failing_with_real_too, row.wall_seconds, row.description
    )
}

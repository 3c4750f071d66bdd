//! `splitbrain bench --known-bugs`: how many chaos seeds it takes to find each broken election
//! variant of the catalogue, for random chaos and for guided chaos (`chaos --guided`), from
//! several start seeds: one start can be lucky, so each variant gets the median and the worst
//! over the starts. A variant not found within the budget counts as worse than it (`>N`). A
//! variant that does not exist in this build runs the real code, so it shows as not found.

use super::bench::BenchArgs;
use super::chaos::{
    all_cores, explore_options, initial_corpus, run_with_progress, with_quiet_panics,
};
use splitbrain::chaos::campaign::{CampaignOptions, Found};
use splitbrain::check::catalogue;
use splitbrain::election::{ElectionCode, KnownBug};
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

/// Runs per shrink, as `splitbrain chaos` does by default.
const MAX_SHRINK_RUNS: usize = 150;
/// How far apart the start seeds are: far enough that no two starts share a seed.
const START_SPACING: u64 = 100_000;

/// One campaign: one variant, one mode, one start seed.
#[derive(serde::Serialize)]
struct Hunt {
    start: u64,
    seeds_run: u64,
    /// Seeds up to and including the first failing one.
    seeds_to_first_find: Option<u64>,
    seed: Option<u64>,
    invariant: Option<String>,
    /// The invariant is one the catalogue says this bug breaks.
    expected_invariant: Option<bool>,
    steps_before: Option<usize>,
    steps_after: Option<usize>,
    /// Guided: the seed found was a mutant of a corpus entry.
    mutant: Option<bool>,
    /// Seeds that failed with the variant but also fail with the real code (not counted).
    failing_with_real_too: u64,
    cpu_seconds: Option<f64>,
    wall_seconds: f64,
}

/// One variant in one mode, over every start.
#[derive(serde::Serialize)]
struct ModeResult {
    /// Median and worst seeds-to-first-find over the starts; a start that found nothing counts
    /// as `seeds` + 1 (shown `>seeds`).
    median: u64,
    worst: u64,
    found_in: usize,
    /// CPU seconds of every start together.
    cpu_seconds: f64,
    hunts: Vec<Hunt>,
}

#[derive(serde::Serialize)]
struct Row {
    variant: String,
    description: String,
    random: Option<ModeResult>,
    guided: Option<ModeResult>,
}

pub fn bench(args: &BenchArgs) -> ExitCode {
    let seeds = args.seeds.unwrap_or(2000);
    let starts = args.starts.unwrap_or(5);
    let last_start = (starts - 1)
        .checked_mul(START_SPACING)
        .and_then(|offset| args.start.checked_add(offset));
    if last_start.and_then(|s| s.checked_add(seeds - 1)).is_none() {
        eprintln!(
            "error: --start {} with --starts {starts} and --seeds {seeds} runs past the largest seed",
            args.start
        );
        return ExitCode::from(2);
    }
    if seeds >= START_SPACING {
        eprintln!("error: --seeds must stay under {START_SPACING} (the starts are that far apart)");
        return ExitCode::from(2);
    }
    let modes: &[&str] = match args.mode.as_deref() {
        None | Some("both") => &["random", "guided"],
        Some("random") => &["random"],
        Some("guided") => &["guided"],
        Some(other) => {
            eprintln!("error: --mode '{other}': expected random, guided or both");
            return ExitCode::from(2);
        }
    };
    let jobs = args.jobs.map_or_else(all_cores, |j| j as usize);
    let start_seeds: Vec<u64> = (0..starts)
        .map(|i| args.start + i * START_SPACING)
        .collect();
    let mut rows = Vec::new();
    for bug in KnownBug::ALL {
        let mut hunts: Vec<(&str, Vec<Hunt>)> = modes.iter().map(|m| (*m, vec![])).collect();
        // Starts outermost and modes inside, so that a swing of the shared machine's speed
        // falls on both modes alike.
        for &start in &start_seeds {
            for (mode, list) in &mut hunts {
                eprintln!(
                    "bench --known-bugs: {} {mode} from seed {start} ({})",
                    ElectionCode::Broken(bug),
                    bug.description()
                );
                list.push(hunt(bug, mode, start, seeds, jobs));
            }
        }
        let mut row = Row {
            variant: bug.code().to_string(),
            description: bug.description().to_string(),
            random: None,
            guided: None,
        };
        for (mode, list) in hunts {
            let result = Some(mode_result(list, seeds));
            match mode {
                "random" => row.random = result,
                _ => row.guided = result,
            }
        }
        eprintln!("{}", row_text(&row, seeds));
        rows.push(row);
    }
    if args.json {
        let value = serde_json::json!({
            "seeds": seeds,
            "starts": start_seeds,
            "jobs": jobs,
            "max_shrink_runs": MAX_SHRINK_RUNS,
            "variants": rows,
            "across_variants": modes.iter().map(|m| (m.to_string(), across(&rows, m))).collect::<serde_json::Map<_, _>>(),
        });
        match serde_json::to_string_pretty(&value) {
            Ok(text) => println!("{text}"),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        }
        return ExitCode::SUCCESS;
    }
    println!(
        "seeds to first find (a seed failing with the variant whose schedule the real code passes), \
         {} start(s) ({}), at most {seeds} seeds each, on {jobs} job(s):",
        start_seeds.len(),
        start_seeds
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "{:<8}{:>8}{:>8}{:>9}  {:>8}{:>8}{:>9}  description",
        "variant", "random", "worst", "cpu", "guided", "worst", "cpu"
    );
    for row in &rows {
        println!("{}", row_text(row, seeds));
    }
    for mode in modes {
        let a = across(&rows, mode);
        println!(
            "{mode}: median of the variants' medians {}, worst median {}, worst start {} \
             (target: worst within 200, median within 20); {:.0} CPU s",
            shown(a["median_of_medians"].as_u64().unwrap_or(0), seeds),
            shown(a["worst_median"].as_u64().unwrap_or(0), seeds),
            shown(a["worst"].as_u64().unwrap_or(0), seeds),
            a["cpu_seconds"].as_f64().unwrap_or(0.0)
        );
    }
    ExitCode::SUCCESS
}

/// One variant hunted in one mode from one start seed.
fn hunt(bug: KnownBug, mode: &str, start: u64, seeds: u64, jobs: usize) -> Hunt {
    let election = ElectionCode::Broken(bug);
    let explore = explore_options(election, true, MAX_SHRINK_RUNS);
    let guided = initial_corpus(mode == "guided", None, &explore.generate)
        .expect("an empty corpus needs no file");
    let options = CampaignOptions {
        first_seed: start,
        seeds,
        jobs,
        explore,
        stop_at_first: true,
        only_beyond_real: true,
        guided,
    };
    let stop = AtomicBool::new(false);
    let campaign = with_quiet_panics(|| run_with_progress(&options, &stop));
    let first = campaign.first_find();
    let (before, after) = match first.map(|(_, _, found)| found) {
        Some(Found::Finding(f)) => (Some(f.steps_before), Some(f.steps_after)),
        Some(Found::Crash(_)) => (first.map(|(_, r, _)| r.steps), None),
        None => (None, None),
    };
    Hunt {
        start,
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
        mutant: first
            .filter(|_| campaign.guided.is_some())
            .map(|(_, r, _)| r.mutant_of.is_some()),
        failing_with_real_too: campaign.shared_with_real(),
        cpu_seconds: campaign.cpu.map(|c| c.as_secs_f64()),
        wall_seconds: campaign.wall.as_secs_f64(),
    }
}

/// A hunt's seeds to first find, `seeds` + 1 when it found nothing.
fn cost(hunt: &Hunt, seeds: u64) -> u64 {
    hunt.seeds_to_first_find.unwrap_or(seeds + 1)
}

/// The median of `values` (the lower of the two middle ones for an even count: a number of
/// seeds some start took).
fn median(mut values: Vec<u64>) -> u64 {
    values.sort_unstable();
    values
        .get(values.len().saturating_sub(1) / 2)
        .copied()
        .unwrap_or(0)
}

fn mode_result(hunts: Vec<Hunt>, seeds: u64) -> ModeResult {
    let costs: Vec<u64> = hunts.iter().map(|h| cost(h, seeds)).collect();
    ModeResult {
        median: median(costs.clone()),
        worst: costs.iter().copied().max().unwrap_or(0),
        found_in: hunts
            .iter()
            .filter(|h| h.seeds_to_first_find.is_some())
            .count(),
        cpu_seconds: hunts.iter().filter_map(|h| h.cpu_seconds).sum(),
        hunts,
    }
}

/// Over every variant in `mode`: the median and the worst of their medians, the worst start
/// of any, and the CPU time.
fn across(rows: &[Row], mode: &str) -> serde_json::Value {
    let results: Vec<&ModeResult> = rows
        .iter()
        .filter_map(|r| match mode {
            "random" => r.random.as_ref(),
            _ => r.guided.as_ref(),
        })
        .collect();
    let medians: Vec<u64> = results.iter().map(|r| r.median).collect();
    serde_json::json!({
        "median_of_medians": median(medians.clone()),
        "worst_median": medians.iter().copied().max().unwrap_or(0),
        "worst": results.iter().map(|r| r.worst).max().unwrap_or(0),
        "cpu_seconds": results.iter().map(|r| r.cpu_seconds).sum::<f64>(),
    })
}

/// `17`, or `>2000` for a budget run out.
fn shown(value: u64, seeds: u64) -> String {
    if value > seeds {
        format!(">{seeds}")
    } else {
        value.to_string()
    }
}

fn row_text(row: &Row, seeds: u64) -> String {
    let mode = |r: &Option<ModeResult>| match r {
        Some(r) => format!(
            "{:>8}{:>8}{:>8.0}s",
            shown(r.median, seeds),
            shown(r.worst, seeds),
            r.cpu_seconds
        ),
        None => format!("{:>8}{:>8}{:>9}", "-", "-", "-"),
    };
    format!(
        "{:<8}{}  {}  {}",
        row.variant,
        mode(&row.random),
        mode(&row.guided),
        row.description
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_start_that_found_nothing_counts_past_the_budget() {
        let hunt = |found: Option<u64>| Hunt {
            start: 1,
            seeds_run: found.unwrap_or(100),
            seeds_to_first_find: found,
            seed: found,
            invariant: None,
            expected_invariant: None,
            steps_before: None,
            steps_after: None,
            mutant: None,
            failing_with_real_too: 0,
            cpu_seconds: Some(1.0),
            wall_seconds: 1.0,
        };
        let r = mode_result(vec![hunt(Some(5)), hunt(None), hunt(Some(40))], 100);
        assert_eq!((r.median, r.worst, r.found_in), (40, 101, 2));
        assert_eq!(shown(r.worst, 100), ">100");
        assert_eq!(median(vec![3, 1, 4, 2]), 2);
    }
}

//! `splitbrain bench`: the standard world's speed-up over real time and peak memory.

use super::sim::{WorldArgs, speedup};
use clap::Args;
use splitbrain::sim::standard_world;
use std::process::ExitCode;
use std::time::Instant;

#[derive(Args)]
pub struct BenchArgs {
    /// How many seeds to run, one after another (default 5); with --known-bugs, the most seeds
    /// explored per variant, mode and start (default 2000).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub seeds: Option<u64>,
    /// First seed.
    #[arg(long, default_value_t = 1)]
    pub start: u64,
    #[command(flatten)]
    pub world: WorldArgs,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
    /// Seeds-to-first-find and CPU time of chaos for each known-bug variant of the catalogue,
    /// random and guided, median and worst over --starts start seeds, instead of the speed-up.
    #[arg(long)]
    pub known_bugs: bool,
    /// With --known-bugs: how many start seeds (--start, then 100000 further each time;
    /// default 5).
    #[arg(long, requires = "known_bugs", value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub starts: Option<u64>,
    /// With --known-bugs: random, guided or both (default both).
    #[arg(long, requires = "known_bugs", value_name = "MODE")]
    pub mode: Option<String>,
    /// Run the scale world instead (scenarios/hundred-pairs-five-voters.toml: 100 pairs on 5
    /// voters, ten simulated minutes) with seed --start, once unless --runs says otherwise;
    /// exit 1 if it fails its checks.
    #[arg(long, conflicts_with = "known_bugs")]
    pub scale: bool,
    /// With --scale: run the scale world this many times and report the median run, the best
    /// and every wall time (a shared machine's wall clock swings from run to run). With
    /// --live: play the file this many times.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub runs: Option<u64>,
    /// Live mode's costs on this scenario file (default scenarios/master-crash.toml when the
    /// flag has no value): start-up of the real world until the nodes launch (target 15 s),
    /// and how late each step took effect after its `at` (target: median 50 ms).
    #[arg(long, value_name = "FILE", num_args = 0..=1, default_missing_value = "scenarios/master-crash.toml", conflicts_with_all = ["scale", "known_bugs"])]
    pub live: Option<std::path::PathBuf>,
    /// Worker threads for --known-bugs (default: every core).
    #[arg(long, requires = "known_bugs", value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub jobs: Option<u64>,
}

/// Peak resident memory of this process, from the kernel (VmHWM), in bytes.
fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

pub fn bench(args: BenchArgs) -> ExitCode {
    if let Some(file) = &args.live {
        return live_bench(file, args.runs.unwrap_or(3) as usize, args.json);
    }
    if args.runs.is_some() && !args.scale {
        eprintln!("splitbrain bench: --runs goes with --scale or --live");
        return ExitCode::from(2);
    }
    if args.scale {
        let runs = args.runs.unwrap_or(1) as usize;
        return splitbrain::bench::scale::main(args.start, args.json, runs);
    }
    if args.known_bugs {
        return super::known_bugs::bench(&args);
    }
    let seeds = args.seeds.unwrap_or(5);
    let config = args.world.config(false);
    let mut rows = Vec::new();
    for seed in args.start..args.start + seeds {
        let started = Instant::now();
        let summary = standard_world::run(seed, &config);
        let wall = started.elapsed().as_secs_f64();
        if !args.json {
            println!(
                "seed {seed:>6}: {:>8.1} s simulated in {:>7.3} s wall, speed-up {:>8.0}x, {} events, {} packets",
                summary.sim_seconds,
                wall,
                speedup(&summary, wall),
                summary.events,
                summary.packets
            );
        }
        rows.push((summary, wall));
    }
    let sim_total: f64 = rows.iter().map(|(s, _)| s.sim_seconds).sum();
    let wall_total: f64 = rows.iter().map(|(_, w)| w).sum();
    let worst = rows
        .iter()
        .map(|(s, w)| speedup(s, *w))
        .fold(f64::INFINITY, f64::min);
    let peak = peak_rss_bytes();
    let overall = sim_total / wall_total.max(1e-9);
    if args.json {
        let value = serde_json::json!({
            "seeds": seeds,
            "sim_seconds_per_seed": config.duration.as_secs_f64(),
            "wall_seconds_total": wall_total,
            "speedup": overall.round(),
            "speedup_worst_seed": worst.round(),
            "peak_rss_bytes": peak,
            "build": splitbrain::bench::BUILD,
        });
        println!("{value}");
    } else {
        println!("standard world, {seeds} seeds on one core:");
        println!(
            "  speed-up  {overall:.0}x overall, {worst:.0}x on the slowest seed (target >= 20000x)"
        );
        match peak {
            Some(bytes) => println!(
                "  peak RSS  {:.1} MiB (target <= 64 MiB)",
                bytes as f64 / (1024.0 * 1024.0)
            ),
            None => println!("  peak RSS  unknown (no /proc/self/status)"),
        }
        println!("  build     {}", splitbrain::bench::BUILD);
    }
    ExitCode::SUCCESS
}

/// `bench --live`: start-up and step lag of live runs of one file.
fn live_bench(file: &std::path::Path, runs: usize, json: bool) -> ExitCode {
    use splitbrain::live::run::{self as live, LiveOptions};
    let scenario = match splitbrain::scenario::load(file) {
        Ok(s) => s,
        Err(errors) => {
            for e in errors {
                eprintln!("{e}");
            }
            return ExitCode::from(2);
        }
    };
    let out = LiveOptions::default_state_dir()
        .join("bench")
        .join(std::process::id().to_string());
    let mut startups = Vec::new();
    let mut lags = Vec::new();
    let mut passed = 0;
    for run in 1..=runs {
        let options = LiveOptions {
            state_dir: LiveOptions::default_state_dir(),
            run_dir: out.join(format!("run-{run}")),
            interrupted: Default::default(),
        };
        match live::run(&scenario, None, &options) {
            Ok(result) => {
                startups.push(result.startup.as_secs_f64());
                lags.extend(result.lags.iter().map(|l| l.lag_ms));
                passed += usize::from(result.report.passed);
                if !json {
                    println!(
                        "run {run}: {} (start-up {:.2} s, step lags {:?} ms)",
                        if result.report.passed { "pass" } else { "FAIL" },
                        result.startup.as_secs_f64(),
                        result
                            .lags
                            .iter()
                            .map(|l| (l.lag_ms * 10.0).round() / 10.0)
                            .collect::<Vec<_>>()
                    );
                }
            }
            Err(e) => {
                eprintln!("splitbrain bench --live: run {run}: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    let quantile = |values: &mut Vec<f64>, q: f64| {
        values.sort_by(f64::total_cmp);
        values
            .get(((values.len() as f64 - 1.0) * q).round() as usize)
            .copied()
            .unwrap_or(f64::NAN)
    };
    let (startup_median, startup_max) =
        (quantile(&mut startups, 0.5), quantile(&mut startups, 1.0));
    let (lag_median, lag_max) = (quantile(&mut lags, 0.5), quantile(&mut lags, 1.0));
    if json {
        println!(
            "{}",
            serde_json::json!({
                "scenario": scenario.name,
                "runs": runs,
                "passed": passed,
                "startup_seconds_median": startup_median,
                "startup_seconds_max": startup_max,
                "step_lag_ms_median": lag_median,
                "step_lag_ms_max": lag_max,
            })
        );
    } else {
        println!(
            "live {}: {passed} of {runs} runs passed; start-up median {startup_median:.2} s, \
             max {startup_max:.2} s (target 15 s); step lag median {lag_median:.2} ms, max \
             {lag_max:.2} ms over {} steps (target median 50 ms)",
            scenario.name,
            lags.len()
        );
    }
    ExitCode::SUCCESS
}

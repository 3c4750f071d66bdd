//! `splitbrain bench`: the standard world's speed-up over real time and peak memory.

use super::sim::{WorldArgs, speedup};
use clap::Args;
use splitbrain::sim::standard_world;
use std::process::ExitCode;
use std::time::Instant;

#[derive(Args)]
pub struct BenchArgs {
    /// How many seeds to run, one after another (default 5); with --known-bugs, the most seeds
    /// explored per variant (default 2000).
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
    /// Seeds-to-first-find of random chaos for each known-bug variant p1 … p8, instead of
    /// the speed-up.
    #[arg(long)]
    pub known_bugs: bool,
    /// Run the scale world instead (scenarios/hundred-pairs-five-voters.toml: 100 pairs on 5
    /// voters, ten simulated minutes) with seed --start, once unless --runs says otherwise;
    /// exit 1 if it fails its checks.
    #[arg(long, conflicts_with = "known_bugs")]
    pub scale: bool,
    /// With --scale: run the scale world this many times and report the median run, the best
    /// and every wall time (a shared machine's wall clock swings from run to run).
    #[arg(long, requires = "scale", value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub runs: Option<u64>,
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

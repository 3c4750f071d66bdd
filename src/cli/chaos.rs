//! `splitbrain chaos`: explore many seeds in parallel, each a random world and fault schedule,
//! and write a report of what they found (see `reports/README.md`).

use super::parse_election;
use clap::Args;
use splitbrain::chaos::campaign::{Campaign, CampaignOptions, run_campaign};
use splitbrain::chaos::coverage;
use splitbrain::chaos::explore::ExploreOptions;
use splitbrain::chaos::generate::GenOptions;
use splitbrain::chaos::guided::Corpus;
use splitbrain::chaos::output::{RunInfo, write_campaign};
use splitbrain::chaos::progress::{ProgressLine, Tally};
use splitbrain::chaos::report::ChaosSummary;
use splitbrain::coverage::Point;
use splitbrain::duration::parse_duration;
use splitbrain::election::ElectionCode;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

pub const CHAOS_HELP: &str = "\
Each seed generates a world and a fault schedule (10 simulated minutes: 8 of faults, 2 to
recover), runs it and judges it; a failing schedule is shrunk to a minimal scenario file that
`splitbrain run <file>` replays exactly. A panic or a hang inside a seed is a finding too.

Ctrl-C stops cleanly: running seeds finish, no new one starts, and the report is still written
(marked interrupted). A second Ctrl-C exits at once, without a report.

Report (DIR, default reports/<UTC time>/): summary.json, junit.xml, index.html and one
seed-<N>-<invariant>.toml per finding. Both summaries say which coverage points (named edge
cases, docs/coverage.md) the seeds reached, the never-reached ones first.

--live plays each seed's scenario on real processes instead (as `splitbrain live` does: Debian
ZooKeeper 3.8, node programs, PostgreSQL): the same generator draws the same world and schedule
for a seed, with a fault phase of --duration (default 2m) and a liveness phase of 60 s. One
world runs at a time (--jobs J runs J side by side; each is a dozen processes).
  A world live mode refuses (a multi-master database, a run-once guard, the Java client model
with the built-in program, more than 4 pairs) skips the seed, with the reason, and the next
seed is drawn: --seeds N plays N worlds (about a third of the seeds play with the built-in
program, two in five with curator-latch or kazoo-election).
  A step live mode refuses (a clock strobe, a clock fault on a ZooKeeper server or a database,
a step the program does not support) is dropped from the schedule and listed, as is a reset of
a dropped clock fault; live mode heals everything when the liveness phase begins.
  A failing seed (a violation, a program finding, a step that did not apply, a run that could
not start) becomes seed-<N>-<invariant>.toml, NOT shrunk (a live run takes minutes): its
header says what was found, the steps dropped and the replay command, `splitbrain live <file>`
(the file names each node's program). Each seed's logs stay in DIR/seed-<N>/.
  --no-shrink is accepted (nothing is shrunk live), --max-shrink-runs is refused,
--stop-at-first stops starting seeds after the first failing one. Ctrl-C stops the running
worlds (they clean up) and the report is still written.

Exit status: 0 no violations, 1 violations found (or the report could not be written; with
--live also a seed whose run could not start), 2 bad arguments.";

#[derive(Args)]
pub struct ChaosArgs {
    /// How many seeds to explore (with --live: to play; a seed whose world live mode refuses
    /// is skipped and does not count).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub seeds: u64,
    /// First seed.
    #[arg(long, default_value_t = 1)]
    pub start: u64,
    /// Worker threads (default: every core; with --live, 1: each job is a whole live world).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1024))]
    pub jobs: Option<u64>,
    /// Report directory (default: reports/<UTC time>/).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Election code the nodes run: real, a known-bug variant p1 … p8 or n1 … n4, or f1 (a
    /// fixed finding).
    #[arg(long, default_value = "real", value_parser = parse_election)]
    pub election: ElectionCode,
    /// Keep a failing schedule as generated instead of shrinking it.
    #[arg(long)]
    pub no_shrink: bool,
    /// Most runs spent shrinking one failure (not with --live: nothing is shrunk live).
    #[arg(long, default_value_t = 150, conflicts_with_all = ["no_shrink", "live"])]
    pub max_shrink_runs: usize,
    /// Stop starting seeds after the first finding (running seeds still finish).
    #[arg(long)]
    pub stop_at_first: bool,
    /// Play each seed on real processes (ZooKeeper, node programs, PostgreSQL) instead of
    /// simulating it; failures are reported as generated, not shrunk.
    #[arg(long)]
    pub live: bool,
    /// With --live: run every node with this program: splitbrain, curator-latch or
    /// kazoo-election (default: the built-in splitbrain).
    #[arg(long, value_name = "NAME", requires = "live")]
    pub program: Option<String>,
    /// Fault phase of each generated scenario (default: 8m, with --live 2m); a liveness phase
    /// follows (2m, with --live 60s).
    #[arg(long, value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Guided search: keep a corpus of schedules that reached rare coverage points (or new
    /// combinations of them) and spend half the seeds mutating those instead of drawing fresh.
    #[arg(long, conflicts_with = "live")]
    pub guided: bool,
    /// Start guided search from this corpus (a report's corpus.json) instead of an empty one;
    /// with the seed, it replays a guided seed. Implies --guided.
    #[arg(long, value_name = "FILE", conflicts_with = "live")]
    pub corpus: Option<PathBuf>,
}

/// The corpus a guided campaign starts from: empty, or read from `--corpus`; `None` for a
/// random campaign. A corpus file that cannot be read is an error naming it.
pub fn initial_corpus(
    guided: bool,
    corpus: Option<&Path>,
    generate: &GenOptions,
) -> Result<Option<Corpus>, String> {
    let names: Vec<String> = Point::ALL.iter().map(|p| p.name().to_string()).collect();
    match corpus {
        Some(file) => Corpus::load(file, names, generate).map(Some),
        None if guided => Ok(Some(Corpus::new(names))),
        None => Ok(None),
    }
}

/// Every core this process may use.
pub fn all_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Exploration settings for one election code.
pub fn explore_options(
    election: ElectionCode,
    shrink: bool,
    max_shrink_runs: usize,
) -> ExploreOptions {
    ExploreOptions {
        generate: GenOptions {
            election,
            ..GenOptions::default()
        },
        shrink,
        max_shrink_runs,
    }
}

/// The report directory: `--out`, or a fresh `reports/<UTC time>/`, created; a bad one is
/// reported on stderr and gives exit status 2.
pub(crate) fn report_dir(out: Option<&Path>, stamp: &str) -> Result<PathBuf, ExitCode> {
    let dir = match out {
        Some(dir) => dir.to_path_buf(),
        None => fresh_dir(&Path::new("reports").join(stamp)),
    };
    if dir.exists() && !dir.is_dir() {
        eprintln!("error: --out {}: is not a directory", dir.display());
        return Err(ExitCode::from(2));
    }
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("error: --out {}: cannot create it: {e}", dir.display());
        return Err(ExitCode::from(2));
    }
    if dir.join("summary.json").exists() {
        eprintln!(
            "warning: {} holds an earlier report: its files are replaced, other seed files stay",
            dir.display()
        );
    }
    Ok(dir)
}

pub fn chaos(args: ChaosArgs) -> ExitCode {
    if args.start.checked_add(args.seeds - 1).is_none() {
        eprintln!(
            "error: --start {} with --seeds {} runs past the largest seed ({})",
            args.start,
            args.seeds,
            u64::MAX
        );
        return ExitCode::from(2);
    }
    if args.duration.is_some_and(|d| d.is_zero()) {
        eprintln!("error: --duration must be longer than 0s");
        return ExitCode::from(2);
    }
    if args.live {
        return super::chaos_live::chaos_live(args);
    }
    let (started_at, stamp) = utc_now();
    let dir = match report_dir(args.out.as_deref(), &stamp) {
        Ok(dir) => dir,
        Err(code) => return code,
    };
    let jobs = args.jobs.map_or_else(all_cores, |j| j as usize);
    let mut explore = explore_options(args.election, !args.no_shrink, args.max_shrink_runs);
    if let Some(duration) = args.duration {
        explore.generate.fault_phase = duration;
    }
    let guided = match initial_corpus(args.guided, args.corpus.as_deref(), &explore.generate) {
        Ok(corpus) => corpus,
        Err(e) => {
            eprintln!("error: --corpus {e}");
            return ExitCode::from(2);
        }
    };
    let mode = if guided.is_some() { "guided" } else { "random" };
    let options = CampaignOptions {
        first_seed: args.start,
        seeds: args.seeds,
        jobs,
        explore,
        stop_at_first: args.stop_at_first,
        only_beyond_real: false,
        guided,
    };

    let (stop, interrupted) = stop_on_ctrl_c("chaos");

    eprintln!(
        "splitbrain chaos: seeds {} to {} of election {} ({mode}) on {jobs} job(s), report in {}",
        args.start,
        args.start + (args.seeds - 1),
        args.election,
        dir.display()
    );
    let campaign = with_quiet_panics(|| run_with_progress(&options, &stop));
    let info = RunInfo {
        election: args.election.to_string(),
        started_at,
        interrupted: interrupted.load(Ordering::SeqCst),
        stop_at_first: args.stop_at_first,
        shrink: !args.no_shrink,
        max_shrink_runs: args.max_shrink_runs,
        generate: options.explore.generate.clone(),
    };
    match write_campaign(&dir, &campaign, &info) {
        Ok(summary) => {
            print_summary(&summary, &campaign, &dir);
            if summary.violations > 0 {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("error: cannot write the report to {}: {e}", dir.display());
            ExitCode::from(1)
        }
    }
}

/// Installs the Ctrl-C handler of a campaign command: the first Ctrl-C sets `stop` (running
/// seeds finish, no new one starts, the report is still written) and `interrupted`; a second
/// exits at once with status 130. Returns (stop, interrupted).
pub fn stop_on_ctrl_c(command: &'static str) -> (Arc<AtomicBool>, Arc<AtomicBool>) {
    let stop = Arc::new(AtomicBool::new(false));
    let interrupted = Arc::new(AtomicBool::new(false));
    let handler = {
        let (stop, interrupted) = (stop.clone(), interrupted.clone());
        ctrlc::set_handler(move || {
            if interrupted.swap(true, Ordering::SeqCst) {
                eprintln!("\nsplitbrain {command}: second Ctrl-C, exiting now without a report");
                std::process::exit(130);
            }
            stop.store(true, Ordering::SeqCst);
            eprintln!(
                "\nsplitbrain {command}: stopping; running seeds finish, then the report is written (Ctrl-C again to exit at once)"
            );
        })
    };
    if let Err(e) = handler {
        eprintln!("warning: Ctrl-C will not stop cleanly: {e}");
    }
    (stop, interrupted)
}

/// Runs the campaign with the progress line on stderr and a note per finding above it.
pub fn run_with_progress(options: &CampaignOptions, stop: &AtomicBool) -> Campaign {
    let mut progress = ProgressLine::new();
    let total = options.seeds;
    progress.update(Tally {
        done: 0,
        total,
        violations: 0,
    });
    let mut last = None;
    let campaign = run_campaign(options, stop, |tally, note| {
        if let Some(note) = note {
            progress.message(&format!("found: {note}"));
        }
        progress.update(tally);
        last = Some(tally);
    });
    progress.finish(last.unwrap_or(Tally {
        done: 0,
        total,
        violations: 0,
    }));
    campaign
}

/// Runs `f` with a panic hook that is silent on worker threads: a panic inside a seed is a
/// finding whose message goes into the report; printed, it would only garble the progress
/// line. A panic of the main thread is still printed as usual.
pub fn with_quiet_panics<T>(f: impl FnOnce() -> T) -> T {
    let previous = Arc::new(std::panic::take_hook());
    let on_main = previous.clone();
    std::panic::set_hook(Box::new(move |info| {
        if std::thread::current().name() == Some("main") {
            on_main(info);
        }
    }));
    let result = f();
    // Dropping the quiet hook leaves `previous` with one owner again.
    drop(std::panic::take_hook());
    if let Ok(previous) = Arc::try_unwrap(previous) {
        std::panic::set_hook(previous);
    }
    result
}

fn print_summary(summary: &ChaosSummary, campaign: &Campaign, dir: &Path) {
    let state = if summary.interrupted {
        " (interrupted)"
    } else if campaign.stopped_early() {
        " (stopped at the first finding)"
    } else {
        ""
    };
    println!(
        "splitbrain chaos: {} of {} seeds run{state}, election {}, {} job(s), {:.1} s wall ({:.0} seeds/min)",
        summary.seeds_run,
        summary.seeds_requested,
        summary.election,
        summary.jobs,
        summary.wall_seconds,
        summary.seeds_per_minute
    );
    if let (Some(cpu), Some(rate)) = (summary.cpu_seconds, summary.seeds_per_cpu_minute) {
        println!("  cpu         {cpu:.1} s ({rate:.0} seeds per CPU-minute)");
    }
    println!("  violations  {}", summary.violations);
    if let Some(g) = &summary.guided {
        println!(
            "  guided      {} of {} seeds mutated a corpus entry; corpus {} entries ({} at the start) in {}",
            g.mutant_seeds,
            summary.seeds_run,
            g.corpus_entries,
            g.corpus_initial_entries,
            dir.join(&g.corpus_file).display()
        );
    }
    println!("  {}", coverage::summary_line(&summary.coverage));
    for f in &summary.failures {
        println!(
            "  seed {:<8} {:<11} at {:>8.3} s  shrunk {} -> {} steps  {}",
            f.seed, f.invariant, f.at_seconds, f.steps_before, f.steps_after, f.replay
        );
    }
    println!("  report      {}", dir.join("index.html").display());
}

/// `dir`, or `dir-2`, `dir-3` … if it exists already (two runs in the same second).
fn fresh_dir(dir: &Path) -> PathBuf {
    if !dir.exists() {
        return dir.to_path_buf();
    }
    (2..)
        .map(|n| PathBuf::from(format!("{}-{n}", dir.display())))
        .find(|d| !d.exists())
        .expect("some suffix is free")
}

/// The time now in UTC: RFC 3339 (`2026-11-25T19:30:00Z`), and the same with `-` for `:` so
/// it can name a directory on every system.
pub(crate) fn utc_now() -> (String, String) {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let text = rfc3339(secs);
    let stamp = text.replace(':', "-");
    (text, stamp)
}

/// Seconds since the Unix epoch as `YYYY-MM-DDTHH:MM:SSZ` (proleptic Gregorian calendar).
pub(crate) fn rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from a day count (H. Hinnant's algorithm): eras of 400 years from 0000-03-01.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::rfc3339;

    #[test]
    fn utc_dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_635_000), "2026-11-25T19:30:00Z");
    }
}

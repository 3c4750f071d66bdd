//! `splitbrain compare`: one scenario file played live and in the simulator, side by side (the
//! comparison itself is `splitbrain::report::compare`).

use super::live::{chrono_stamp, load, run_section};
use clap::Args;
use splitbrain::live::run::{self as live, LiveError, LiveOptions};
use splitbrain::report::compare::{Comparison, FLAG_RULE, RunFacts, compare_section};
use splitbrain::report::html;
use splitbrain::scenario::{self, Scenario};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

pub fn compare_help() -> String {
    format!(
        "\
Plays FILE live --runs times, one after another (real ZooKeeper, `splitbrain node` processes
running the file's election code, PostgreSQL: see `splitbrain live --help`), and in the
simulator over --seeds seeds, starting from the file's own [run] seed (seed, seed+1, …), then
prints both sides: verdicts (pass/fail, violations by invariant, expectations not met), and
median [min..max] of failover seconds (all failovers of all runs), fault failover seconds
(each run's first failover from the file's first step on: the fault's own), failovers per run,
promotions per pair (promotion records: every grant of mastership, the first included),
writes accepted / refused / unavailable, sessions expired and ZooKeeper leader changes.

Flag rule: {}.

--out DIR keeps each live run's directory as DIR/live-K/ and writes DIR/compare.json (the
--json object) and DIR/index.html (the comparison, then each live run's timeline and the
simulator's run of the file's seed). Without --out the live runs' directories go under
$TMPDIR/splitbrain-live/runs/.

Exit status: 0 nothing flagged, 1 something flagged, 2 bad input (a file that cannot be read
or parsed, or that live mode or the simulator refuses: the reason names the step), 130
interrupted (Ctrl-C stops the live run and removes what it started).",
        wrap(FLAG_RULE, "Flag rule: ".len())
    )
}

/// `text` broken into lines of at most 94 columns, the first `indent` columns shorter.
fn wrap(text: &str, indent: usize) -> String {
    let mut out = String::new();
    let mut width = indent;
    for word in text.split(' ') {
        if width + 1 + word.len() > 94 && width > 0 {
            out.push('\n');
            width = 0;
        } else if width > indent || (width > 0 && !out.is_empty()) {
            out.push(' ');
            width += 1;
        }
        out.push_str(word);
        width += word.len();
    }
    out
}

#[derive(Args)]
pub struct CompareArgs {
    /// The scenario file.
    pub file: PathBuf,
    /// Live runs, one after another.
    #[arg(long, default_value_t = 5)]
    pub runs: u32,
    /// Simulator seeds: the file's own seed and the ones after it.
    #[arg(long, default_value_t = 20)]
    pub seeds: u32,
    /// Print the comparison as one JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
    /// Report directory: live-K/ per live run, compare.json, index.html.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

pub fn compare(args: CompareArgs) -> ExitCode {
    if args.runs == 0 || args.seeds == 0 {
        eprintln!("splitbrain compare: --runs and --seeds must be at least 1");
        return ExitCode::from(2);
    }
    let (file, text, scenario) = match load(&args.file, None, None) {
        Ok(loaded) => loaded,
        Err(code) => return code,
    };
    let file_name = file.display().to_string();
    let refused = live::refusals(&scenario, Some((&file_name, &text)));
    if !refused.is_empty() {
        eprintln!("{file_name}: {}", LiveError::Refused(refused));
        return ExitCode::from(2);
    }

    // The simulator first: it takes seconds, and a file it refuses is found before the long
    // live runs.
    let seeds: Vec<u64> = (0..u64::from(args.seeds))
        .map(|i| scenario.seed.wrapping_add(i))
        .collect();
    let pairs: Vec<String> = scenario
        .topology
        .pairs
        .iter()
        .map(|p| p.name.clone())
        .collect();
    let fault_from = scenario.steps.first().map_or(Duration::ZERO, |s| s.at);
    let started = Instant::now();
    let mut sim = Vec::new();
    let mut first_sim = None;
    for &seed in &seeds {
        match scenario::runner::run(&scenario, seed, false) {
            Ok(report) => {
                sim.push(RunFacts::of(&report, &pairs, &[], fault_from));
                if first_sim.is_none() {
                    first_sim = Some(report);
                }
            }
            Err(e) => {
                eprintln!("{file_name}: the simulator cannot play it (seed {seed}): {e}");
                return ExitCode::from(2);
            }
        }
    }
    eprintln!(
        "compare: {} simulated seed(s) in {:.1} s",
        seeds.len(),
        started.elapsed().as_secs_f64()
    );

    let interrupted = Arc::new(AtomicBool::new(false));
    {
        let interrupted = interrupted.clone();
        let _ = ctrlc::set_handler(move || interrupted.store(true, Ordering::SeqCst));
    }
    let out = args.out.clone().unwrap_or_else(|| {
        LiveOptions::default_state_dir()
            .join("runs")
            .join(format!("compare-{}", chrono_stamp()))
    });
    let mut live_facts = Vec::new();
    let mut live_errors = Vec::new();
    let mut live_dirs = Vec::new();
    let mut sections = Vec::new();
    for k in 1..=args.runs {
        if interrupted.load(Ordering::SeqCst) {
            break;
        }
        let options = LiveOptions {
            state_dir: LiveOptions::default_state_dir(),
            run_dir: out.join(format!("live-{k}")),
            interrupted: interrupted.clone(),
        };
        let started = Instant::now();
        match live::run(&scenario, Some((&file_name, &text)), &options) {
            Ok(run) => {
                eprintln!(
                    "compare: live run {k} of {}: {} in {:.0} s ({})",
                    args.runs,
                    if run.report.passed { "pass" } else { "FAIL" },
                    started.elapsed().as_secs_f64(),
                    run.dir.display()
                );
                live_facts.push(RunFacts::of(&run.report, &pairs, &run.findings, fault_from));
                live_dirs.push(run.dir.display().to_string());
                sections.push(run_section(
                    &format!("{} live run {k}", scenario.name),
                    &scenario,
                    &run.report,
                    &run.findings,
                    format!("splitbrain live {file_name}"),
                ));
            }
            Err(LiveError::Interrupted) => break,
            Err(e) => {
                eprintln!("compare: live run {k} of {}: {e}", args.runs);
                live_errors.push(format!("run {k}: {e}"));
            }
        }
    }
    if interrupted.load(Ordering::SeqCst) {
        eprintln!("splitbrain compare: interrupted; everything the live run started was stopped");
        return ExitCode::from(130);
    }

    let mut comparison = Comparison::new(
        &scenario.name,
        &file_name,
        args.runs,
        seeds,
        live_facts,
        &live_errors,
        sim,
    );
    comparison.live_dirs = live_dirs;
    let mut stdout = std::io::stdout().lock();
    let text = if args.json {
        format!("{}\n", comparison.to_json())
    } else {
        comparison.table()
    };
    let _ = stdout.write_all(text.as_bytes());
    if let Some(dir) = &args.out {
        if let Some(report) = &first_sim {
            sections.push(run_section(
                &format!("{} simulated, the file's seed", scenario.name),
                &scenario,
                report,
                &[],
                format!("splitbrain run {file_name}"),
            ));
        }
        match write_report(dir, &scenario, &comparison, &sections) {
            Ok(()) if !args.json => {
                let _ = writeln!(stdout, "report: {}", dir.join("index.html").display());
            }
            Ok(()) => {}
            Err(e) => eprintln!(
                "splitbrain compare: cannot write the report to {}: {e}",
                dir.display()
            ),
        }
    }
    if comparison.flagged() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// compare.json and index.html under `out`.
fn write_report(
    out: &Path,
    scenario: &Scenario,
    comparison: &Comparison,
    sections: &[html::FailureSection],
) -> std::io::Result<()> {
    std::fs::create_dir_all(out)?;
    std::fs::write(
        out.join("compare.json"),
        serde_json::to_string_pretty(&comparison.to_json()).map_err(std::io::Error::other)?,
    )?;
    let summary = vec![
        ("scenario".to_string(), comparison.file.clone()),
        ("live runs".to_string(), comparison.runs.to_string()),
        ("simulator seeds".to_string(), comparison.seeds_text()),
        (
            "flagged".to_string(),
            if comparison.flagged() { "yes" } else { "no" }.to_string(),
        ),
    ];
    std::fs::write(
        out.join("index.html"),
        html::compare_html(
            &format!("splitbrain compare {}", scenario.name),
            &summary,
            &compare_section(comparison),
            sections,
        ),
    )
}

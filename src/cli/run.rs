//! `splitbrain run`: run scenario files and judge them.

use super::{parse_election, scenario_files};
use clap::Args;
use splitbrain::db::CertifiedWriteDating;
use splitbrain::election::ElectionCode;
use splitbrain::scenario;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

#[derive(Args)]
pub struct RunArgs {
    /// Scenario files, or directories searched for *.toml (then a summary table follows).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Seed (default: the scenario's own, from [run] seed).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Print one JSON object per scenario instead of the timeline.
    #[arg(long)]
    pub json: bool,
    /// Print the full event trace (true time, and each host's clock) before the timeline.
    #[arg(long)]
    pub trace: bool,
    /// Election code the nodes run: real, a known-bug variant p1 … p8 or n1 … n4, or f1 (a
    /// fixed finding) (default: the scenario's own, from [run] election, else real).
    #[arg(long, value_parser = parse_election)]
    pub election: Option<ElectionCode>,
    /// When the databases record a write their peer certified: `commit` (the model), or
    /// `answer`, when the proposing host answers: this model's own old bug, for checking that
    /// the regression scenarios written for it still reach their moment.
    #[arg(long, value_enum, default_value_t = WriteDating::Commit)]
    pub write_dating: WriteDating,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum WriteDating {
    Commit,
    Answer,
}

impl WriteDating {
    fn model(self) -> CertifiedWriteDating {
        match self {
            WriteDating::Commit => CertifiedWriteDating::AtCommit,
            WriteDating::Answer => CertifiedWriteDating::AtProposerAnswer,
        }
    }
}

pub fn run(args: RunArgs) -> ExitCode {
    let files = match scenario_files(&args.files) {
        Ok(files) => files,
        Err(e) => {
            eprintln!("splitbrain run: {e}");
            return ExitCode::from(1);
        }
    };
    match files.as_slice() {
        [one] if !args.files[0].is_dir() => run_one(one, &args),
        _ => run_many(&files, &args),
    }
}

/// Runs one scenario in this process and prints its timeline (or JSON); 0 if it passed.
fn run_one(file: &Path, args: &RunArgs) -> ExitCode {
    use std::io::Write;
    let mut scenario = match scenario::load(file) {
        Ok(s) => s,
        Err(errors) => {
            for error in errors {
                eprintln!("{error}\n");
            }
            return ExitCode::from(1);
        }
    };
    let seed = args.seed.unwrap_or(scenario.seed);
    if let Some(code) = args.election {
        scenario.topology.election = code;
    }
    let dating = args.write_dating.model();
    let report = match scenario::runner::run_with_dating(&scenario, seed, args.trace, dating) {
        Ok(report) => report,
        Err(e) => {
            eprintln!("{}: {e}", file.display());
            return ExitCode::from(1);
        }
    };
    let mut out = std::io::stdout().lock();
    let text = if args.json {
        format!("{}\n", run_json(&report))
    } else {
        let trace: String = report.trace.iter().map(|l| format!("{l}\n")).collect();
        format!("{trace}{}", report.timeline(&scenario))
    };
    // A closed pipe (`| head`) ends the output quietly.
    let _ = out.write_all(text.as_bytes());
    if report.passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// Runs each scenario in a process of its own (so each replays exactly as it does alone,
/// see `scenario::runner::run`), then prints a summary table.
fn run_many(files: &[PathBuf], args: &RunArgs) -> ExitCode {
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => {
            eprintln!("splitbrain run: cannot find my own executable: {e}");
            return ExitCode::from(1);
        }
    };
    let mut rows = Vec::new();
    for file in files {
        let mut command = std::process::Command::new(&exe);
        command.arg("run").arg(file);
        if let Some(code) = args.election {
            command.arg("--election").arg(code.to_string());
        }
        if let Some(seed) = args.seed {
            command.arg("--seed").arg(seed.to_string());
        }
        if args.json {
            command.arg("--json");
        }
        if args.trace {
            command.arg("--trace");
        }
        if args.write_dating != WriteDating::Commit {
            command.arg("--write-dating").arg("answer");
        }
        let started = Instant::now();
        let passed = command.status().is_ok_and(|s| s.success());
        rows.push((file.display().to_string(), passed, started.elapsed()));
        if !args.json {
            println!();
        }
    }
    if !args.json {
        println!("{:<60} {:>7} {:>8}", "scenario", "verdict", "wall");
        for (file, passed, wall) in &rows {
            println!(
                "{file:<60} {:>7} {:>7.2}s",
                if *passed { "pass" } else { "FAIL" },
                wall.as_secs_f64()
            );
        }
    }
    let failed = rows.iter().filter(|(_, passed, _)| !passed).count();
    if !args.json {
        println!("{} of {} scenarios passed", rows.len() - failed, rows.len());
    }
    if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// A run's JSON object (live mode adds its own fields to it).
pub fn run_json(report: &scenario::runner::RunReport) -> serde_json::Value {
    serde_json::json!({
        "scenario": report.scenario,
        "seed": report.seed,
        "election": report.election,
        "verdict": if report.passed { "pass" } else { "fail" },
        "violations": report.violations,
        "expected_violations": report.expected_violations,
        "expectations": report.expectations,
        "step_errors": report.step_errors,
        "failovers": report.measures.failovers,
        "zk_leader_changes": report.measures.zk_leader_changes,
        "sessions_expired": report.sessions_expired,
        "writes_accepted": report.measures.writes_accepted,
        "writes_rejected": report.measures.writes_rejected,
        "writes_unavailable": report.measures.writes_unavailable,
        "trace_hash": report.trace_hash,
    })
}

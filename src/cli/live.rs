//! `splitbrain live`: scenario files played on real processes (see `splitbrain::live::run`).

use super::{parse_election, scenario_files};
use clap::Args;
use splitbrain::election::ElectionCode;
use splitbrain::live::run::{self as live, LiveError, LiveOptions, LiveRun};
use splitbrain::report::{html, junit, program_results, svg};
use splitbrain::scenario::{self, Scenario};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

pub const LIVE_HELP: &str = "\
Live mode plays the file on this machine: one Debian ZooKeeper 3.8 server per voter and
observer, one `splitbrain node` process per node, one PostgreSQL 15 cluster per database host,
every link between two hosts a relay on 127.0.0.1 that carries the file's latency and its
faults. It needs the packages `zookeeper` and `postgresql` (scripts/test installs them).

What it touches: the processes it starts (killed when it ends, on Ctrl-C, and if it dies),
ports on 127.0.0.1 chosen free at run time, and its run directory (logs, the databases' write
tables). A run that finds what an earlier, killed run left behind removes it first.

Exit status: 0 every run passed, 1 a run failed, 2 bad input (a file live mode refuses, with
the reason; `--check` says which steps it can play without starting anything).";

#[derive(Args)]
pub struct LiveArgs {
    /// Scenario files, or directories searched for *.toml (then a summary table follows).
    #[arg(required_unless_present = "results")]
    pub files: Vec<PathBuf>,
    /// Play nothing: print docs/third-party-results.md's Markdown from these report
    /// directories (each one `--out DIR` of a library run with one --program).
    #[arg(long, value_name = "DIR", num_args = 1.., conflicts_with_all = ["check", "json"])]
    pub results: Vec<PathBuf>,
    /// Print one JSON object per run instead of the timeline.
    #[arg(long)]
    pub json: bool,
    /// Say which steps live mode can play; start nothing.
    #[arg(long)]
    pub check: bool,
    /// Play the file this many times (with --out: a report directory with index.html).
    #[arg(long, default_value_t = 1)]
    pub runs: u32,
    /// Report directory: every run's logs and write tables, summary.json, junit.xml and
    /// index.html (default: a directory under $TMPDIR/splitbrain-live/runs).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Election code the node processes run: real, p1 … p8, n1 … n4, f1 (default: the file's
    /// own).
    #[arg(long, value_parser = parse_election)]
    pub election: Option<ElectionCode>,
    /// Run every node with this node program: splitbrain, curator-latch, kazoo-election, or
    /// one the file declares in [programs] (default: each node's own, docs/node-protocol.md).
    #[arg(long, value_name = "NAME")]
    pub program: Option<String>,
}

pub fn live(args: LiveArgs) -> ExitCode {
    if !args.results.is_empty() {
        return results(&args.results);
    }
    let files = match scenario_files(&args.files) {
        Ok(files) => files,
        Err(e) => {
            eprintln!("splitbrain live: {e}");
            return ExitCode::from(2);
        }
    };
    if args.runs == 0 {
        eprintln!("splitbrain live: --runs must be at least 1");
        return ExitCode::from(2);
    }
    let mut loaded = Vec::new();
    for file in &files {
        match load(file, args.election, args.program.as_deref()) {
            Ok(one) => loaded.push(one),
            Err(code) => return code,
        }
    }
    if args.check {
        return check(&loaded);
    }
    let interrupted = Arc::new(AtomicBool::new(false));
    {
        let interrupted = interrupted.clone();
        // A second Ctrl-C while cleaning up is ignored: the cleanup is short.
        let _ = ctrlc::set_handler(move || interrupted.store(true, Ordering::SeqCst));
    }
    let out = args.out.clone().unwrap_or_else(|| {
        LiveOptions::default_state_dir()
            .join("runs")
            .join(chrono_stamp())
    });
    let single = loaded.len() == 1 && args.runs == 1 && !args.files[0].is_dir();
    let mut results = Vec::new();
    for (file, text, scenario) in &loaded {
        for run in 1..=args.runs {
            if interrupted.load(Ordering::SeqCst) {
                break;
            }
            let dir = if loaded.len() == 1 {
                out.join(format!("run-{run}"))
            } else {
                out.join(&scenario.name).join(format!("run-{run}"))
            };
            let options = LiveOptions {
                state_dir: LiveOptions::default_state_dir(),
                run_dir: dir.clone(),
                interrupted: interrupted.clone(),
            };
            let started = Instant::now();
            let file_name = file.display().to_string();
            let outcome = live::run(scenario, Some((&file_name, text)), &options);
            let wall = started.elapsed().as_secs_f64();
            match &outcome {
                Ok(run) => print_run(scenario, run, args.json, single),
                Err(e) => eprintln!("{}: {e}", file.display()),
            }
            results.push((file.clone(), run, scenario.clone(), outcome, wall));
        }
    }
    if interrupted.load(Ordering::SeqCst) {
        eprintln!("splitbrain live: interrupted; everything the run started was stopped");
    }
    if !single {
        summary(&results, args.json);
        if let Err(e) = write_report(&out, &results) {
            eprintln!(
                "splitbrain live: cannot write the report to {}: {e}",
                out.display()
            );
        } else if !args.json {
            println!("report: {}", out.join("index.html").display());
        }
    }
    let refused = results
        .iter()
        .any(|r| matches!(r.3, Err(LiveError::Refused(_))));
    let failed = results
        .iter()
        .any(|r| !matches!(&r.3, Ok(run) if run.report.passed));
    if refused {
        ExitCode::from(2)
    } else if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// `--results`: the Markdown of library runs' report directories.
fn results(dirs: &[PathBuf]) -> ExitCode {
    let mut loaded = Vec::new();
    for dir in dirs {
        let path = dir.join("summary.json");
        let read = std::fs::read_to_string(&path)
            .map_err(|e| e.to_string())
            .and_then(|text| {
                serde_json::from_str::<serde_json::Value>(&text).map_err(|e| e.to_string())
            });
        let summary = match read {
            Ok(mut summary) if summary["runs"].is_array() => {
                relative_run_dirs(&mut summary);
                summary
            }
            Ok(_) => {
                eprintln!("{}: not a live report (no \"runs\")", path.display());
                return ExitCode::from(2);
            }
            Err(e) => {
                eprintln!("{}: {e}", path.display());
                return ExitCode::from(2);
            }
        };
        let date = std::fs::metadata(&path)
            .and_then(|m| m.modified())
            .map(date_of)
            .unwrap_or_default();
        loaded.push((dir.display().to_string(), summary, date));
    }
    let runs: Vec<program_results::ProgramRun> = loaded
        .iter()
        .map(|(dir, summary, date)| program_results::ProgramRun { dir, summary, date })
        .collect();
    print!("{}", program_results::results_markdown(&runs));
    ExitCode::SUCCESS
}

/// Run directories under the current directory as relative paths: the document is read in
/// the repository, not on the machine that made it.
fn relative_run_dirs(summary: &mut serde_json::Value) {
    let Ok(here) = std::env::current_dir() else {
        return;
    };
    for run in summary["runs"].as_array_mut().into_iter().flatten() {
        if let Some(dir) = run["run_dir"].as_str()
            && let Ok(relative) = Path::new(dir).strip_prefix(&here)
        {
            run["run_dir"] = relative.display().to_string().into();
        }
    }
}

/// `YYYY-MM-DD` (UTC) of a file time.
fn date_of(time: std::time::SystemTime) -> String {
    let secs = time
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    super::chaos::rfc3339(secs)[..10].to_string()
}

/// A scenario file read and parsed: its path, its text (refusals name its lines), the scenario.
pub(crate) type Loaded = (PathBuf, String, Scenario);

/// Reads and parses `file` (`election` overriding its own code, `program` every node's
/// program); a file that cannot be read or parsed is reported on stderr and gives exit status 2.
pub(crate) fn load(
    file: &Path,
    election: Option<ElectionCode>,
    program: Option<&str>,
) -> Result<Loaded, ExitCode> {
    let text = match std::fs::read_to_string(file) {
        Ok(text) => text,
        Err(e) => {
            eprintln!("{}: cannot read: {e}", file.display());
            return Err(ExitCode::from(2));
        }
    };
    let name = file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    match scenario::parse(&name, &file.display().to_string(), &text) {
        Ok(mut scenario) => {
            if let Some(code) = election {
                scenario.topology.election = code;
            }
            if let Some(dir) = file.parent() {
                scenario.programs.resolve_relative_to(dir);
            }
            if let Some(program) = program
                && let Err(e) = scenario.run_every_node_with(program)
            {
                eprintln!("{}: --program: {e}", file.display());
                return Err(ExitCode::from(2));
            }
            Ok((file.to_path_buf(), text, scenario))
        }
        Err(errors) => {
            for error in errors {
                eprintln!("{error}\n");
            }
            Err(ExitCode::from(2))
        }
    }
}

/// `--check`: every step, and whether live mode plays it.
fn check(loaded: &[Loaded]) -> ExitCode {
    let mut refused_any = false;
    for (file, text, scenario) in loaded {
        let name = file.display().to_string();
        let refusals = live::refusals(scenario, Some((&name, text)));
        refused_any |= !refusals.is_empty();
        println!(
            "{name}: {}",
            if refusals.is_empty() {
                "plays live"
            } else {
                "REFUSED live"
            }
        );
        for refusal in refusals.iter().filter(|r| !r.what.starts_with("step ")) {
            println!("  refused  {refusal}");
        }
        for (i, step) in scenario.steps.iter().enumerate() {
            let label = format!(
                "step {} (at {}: {})",
                i + 1,
                splitbrain::check::secs(step.at),
                step.action
            );
            match refusals.iter().find(|r| r.what == label) {
                Some(r) => println!("  refused  {label}: {}", r.reason),
                None => println!("  plays    {label}"),
            }
        }
    }
    if refused_any {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    }
}

fn print_run(scenario: &Scenario, run: &LiveRun, json: bool, single: bool) {
    let mut out = std::io::stdout().lock();
    let text = if json {
        format!("{}\n", run_json(run))
    } else {
        let mut text = run.report.timeline(scenario);
        text.push_str(&live_lines(run));
        if !single {
            text.push('\n');
        }
        text
    };
    let _ = out.write_all(text.as_bytes());
}

/// What only a live run has: start-up, step lags, findings, where the logs are.
fn live_lines(run: &LiveRun) -> String {
    let mut text = format!(
        "live: started in {:.1} s; steps took effect {} after their time (median); run directory {}\n",
        run.startup.as_secs_f64(),
        run.median_lag_ms()
            .map_or("-".to_string(), |ms| format!("{ms:.1} ms")),
        run.dir.display()
    );
    let mut programs: Vec<String> = run
        .programs
        .values()
        .map(|h| format!("{} {}", h.program, h.version).trim().to_string())
        .collect();
    programs.dedup();
    if programs.iter().any(|p| !p.starts_with("splitbrain")) {
        text.push_str(&format!("live: node programs: {}\n", programs.join(", ")));
    }
    for note in &run.not_judged {
        text.push_str(&format!("live: not judged: {note}\n"));
    }
    for finding in &run.findings {
        text.push_str(&format!("live: FINDING {finding}\n"));
    }
    text
}

/// `splitbrain run`'s JSON object, plus what only a live run has.
pub(crate) fn run_json(run: &LiveRun) -> serde_json::Value {
    let mut json = super::run::run_json(&run.report);
    if let Some(object) = json.as_object_mut() {
        // A live run has no trace to hash.
        object.remove("trace_hash");
        object.insert("backend".into(), "live".into());
        for (key, value) in [
            (
                "startup_seconds",
                serde_json::json!(run.startup.as_secs_f64()),
            ),
            ("step_lags", serde_json::json!(run.lags)),
            ("median_step_lag_ms", serde_json::json!(run.median_lag_ms())),
            ("findings", serde_json::json!(run.findings)),
            ("programs", serde_json::json!(run.programs)),
            ("not_judged", serde_json::json!(run.not_judged)),
            ("run_dir", serde_json::json!(run.dir)),
            ("logs", serde_json::json!(run.logs)),
        ] {
            object.insert(key.into(), value);
        }
    }
    json
}

pub(crate) type PlayedRun = (PathBuf, u32, Scenario, Result<LiveRun, LiveError>, f64);

fn summary(results: &[PlayedRun], json: bool) {
    if json {
        return;
    }
    println!(
        "{:<60} {:>4} {:>8} {:>8}",
        "scenario", "run", "verdict", "wall"
    );
    for (file, run, _, outcome, wall) in results {
        let verdict = match outcome {
            Ok(r) if r.report.passed => "pass",
            Ok(_) => "FAIL",
            Err(LiveError::Refused(_)) => "refused",
            Err(_) => "ERROR",
        };
        println!(
            "{:<60} {run:>4} {verdict:>8} {wall:>7.1}s",
            file.display().to_string()
        );
    }
    let passed = results
        .iter()
        .filter(|r| matches!(&r.3, Ok(run) if run.report.passed))
        .count();
    println!("{passed} of {} live runs passed", results.len());
}

/// summary.json, junit.xml and index.html of several runs.
pub(crate) fn write_report(out: &Path, results: &[PlayedRun]) -> std::io::Result<()> {
    std::fs::create_dir_all(out)?;
    let mut cases = Vec::new();
    let mut sections = Vec::new();
    let mut runs_json = Vec::new();
    for (file, run, scenario, outcome, wall) in results {
        let name = format!("{} run {run}", scenario.name);
        match outcome {
            Ok(live_run) => {
                runs_json.push(run_json(live_run));
                let failure = failure_detail(&live_run.report, &live_run.findings)
                    .map(|why| ("failed".to_string(), why));
                let mut section = run_section(
                    &format!("{} run {run}", scenario.name),
                    scenario,
                    &live_run.report,
                    &live_run.findings,
                    replay_command(file, scenario),
                );
                for note in &live_run.not_judged {
                    section.detail.push_str(&format!("\nnot judged: {note}"));
                }
                sections.push(section);
                cases.push(junit::JunitCase {
                    name,
                    seconds: *wall,
                    failure,
                });
            }
            Err(e) => {
                runs_json.push(serde_json::json!({
                    "backend": "live",
                    "scenario": scenario.name,
                    "verdict": if matches!(e, LiveError::Refused(_)) { "refused" } else { "error" },
                    "error": e.to_string(),
                }));
                cases.push(junit::JunitCase {
                    name,
                    seconds: *wall,
                    failure: Some(("did not run".into(), e.to_string())),
                });
            }
        }
    }
    let passed = cases.iter().filter(|c| c.failure.is_none()).count();
    std::fs::write(
        out.join("summary.json"),
        serde_json::to_string_pretty(&serde_json::json!({
            "backend": "live",
            "runs": runs_json,
            "passed": passed,
            "total": cases.len(),
        }))
        .map_err(std::io::Error::other)?,
    )?;
    std::fs::write(
        out.join("junit.xml"),
        junit::junit_xml("splitbrain-live", &cases),
    )?;
    let summary = vec![
        ("backend".to_string(), "live".to_string()),
        ("runs".to_string(), cases.len().to_string()),
        ("passed".to_string(), passed.to_string()),
    ];
    std::fs::write(
        out.join("index.html"),
        html::runs_html("splitbrain live", &summary, &sections),
    )
}

/// Why a run failed (violations, step errors, findings, unmet expectations, one a line), or
/// `None` if it passed. Live runs pass their `findings`.
fn failure_detail(
    report: &splitbrain::scenario::runner::RunReport,
    findings: &[String],
) -> Option<String> {
    (!report.passed).then(|| {
        let mut why: Vec<String> = report
            .violations
            .iter()
            .map(|v| {
                format!(
                    "{} at {}: {}",
                    v.invariant.code(),
                    splitbrain::check::secs(v.at),
                    v.detail
                )
            })
            .collect();
        why.extend(report.step_errors.iter().cloned());
        why.extend(findings.iter().cloned());
        why.extend(
            report
                .expectations
                .iter()
                .filter(|e| !e.met)
                .map(|e| format!("expected {}: {}", e.expectation, e.detail)),
        );
        why.join("\n")
    })
}

/// A run's section of a report page: `title` and its verdict, why it failed, how to replay it,
/// and its timeline picture with the violations marked. Live runs pass their `findings`.
pub(crate) fn run_section(
    title: &str,
    scenario: &Scenario,
    report: &splitbrain::scenario::runner::RunReport,
    findings: &[String],
    replay: String,
) -> html::FailureSection {
    let markers: Vec<svg::Marker> = report
        .violations
        .iter()
        .chain(&report.expected_violations)
        .map(|v| svg::Marker {
            at: v.at,
            label: v.invariant.code().to_string(),
        })
        .collect();
    let detail = failure_detail(report, findings)
        .unwrap_or_else(|| "every invariant and expectation held".to_string());
    html::FailureSection {
        seed: scenario.seed,
        invariant: format!("{title}: {}", if report.passed { "pass" } else { "FAIL" }),
        detail,
        scenario: None,
        scenario_text: String::new(),
        replay,
        shrinking: String::new(),
        svg: svg::timeline_svg(&report.history, scenario.end(), &markers),
    }
}

/// `splitbrain live FILE`, with `--program` when every node runs one program that is not the
/// built-in selector (it may have come from the command line, not the file).
fn replay_command(file: &Path, scenario: &Scenario) -> String {
    let programs: std::collections::BTreeSet<&str> = scenario
        .topology
        .pairs
        .iter()
        .flat_map(|p| &p.nodes)
        .map(|n| scenario.programs.of(&n.name))
        .collect();
    match programs.into_iter().collect::<Vec<_>>()[..] {
        [one] if one != splitbrain::scenario::programs::BUILT_IN => {
            format!("splitbrain live {} --program {one}", file.display())
        }
        _ => format!("splitbrain live {}", file.display()),
    }
}

/// Seconds since the epoch and the pid: unique enough for a run directory's name.
pub(crate) fn chrono_stamp() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    format!("{secs}-{}", std::process::id())
}

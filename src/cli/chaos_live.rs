//! `splitbrain chaos --live`: random exploration on real processes. Each seed draws the scenario
//! simulated chaos draws for it ([`generated_scenario`]), made playable live
//! ([`live_plan`]: a refused world skips the seed, refused steps are dropped and listed), and
//! plays it with `splitbrain live`'s runner. Nothing is shrunk: a live run takes minutes.
//! The report is `splitbrain live`'s (summary.json, junit.xml, index.html) with what chaos adds.

use super::chaos::{ChaosArgs, report_dir, utc_now};
use super::live::{PlayedRun, write_report};
use splitbrain::chaos::explore::{Verdict, generated_scenario, judge};
use splitbrain::chaos::generate::GenOptions;
use splitbrain::chaos::live::{DroppedStep, LivePlan, live_plan};
use splitbrain::check::secs;
use splitbrain::duration::format_duration;
use splitbrain::live::run::{self as live, LiveError, LiveOptions, LiveRun, Refusal};
use splitbrain::report::escape;
use splitbrain::scenario::programs::BUILT_IN;
use splitbrain::scenario::{Scenario, write};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The fault phase of a live seed unless `--duration` says otherwise.
const DEFAULT_FAULT_PHASE: Duration = Duration::from_secs(2 * 60);
/// The liveness phase of a live seed: longer than the NM (40 s) and WP (30 s) bounds.
const LIVENESS: Duration = Duration::from_secs(60);
/// What summary.json and index.html say about shrinking.
const SHRINKING: &str = "none (live)";

/// Everything of one seed that does not depend on its run.
struct Seed {
    seed: u64,
    /// The scenario played (refused steps dropped), or `None` if the seed was skipped.
    played: Option<Scenario>,
    dropped: Vec<DroppedStep>,
    /// Why the world was refused (the seed skipped).
    skipped: Vec<Refusal>,
}

/// How one seed ended.
enum Outcome {
    Skipped,
    /// Ctrl-C stopped its run.
    Interrupted,
    Passed(Box<LiveRun>),
    /// The run found something (`verdict`), or could not run (`error`).
    Failed {
        verdict: Verdict,
        run: Result<Box<LiveRun>, LiveError>,
    },
}

struct SeedResult {
    seed: Seed,
    outcome: Outcome,
    wall: f64,
    /// The scenario file that replays it: `seed-N-INV.toml` for a failure, else
    /// `seed-N/scenario.toml`.
    file: Option<PathBuf>,
}

struct Settings {
    program: String,
    generate: GenOptions,
    dir: PathBuf,
    interrupted: Arc<AtomicBool>,
}

pub fn chaos_live(args: ChaosArgs) -> ExitCode {
    let program = args.program.clone().unwrap_or_else(|| BUILT_IN.to_string());
    // Generated worlds declare no programs: the built-in and shipped ones are what they know
    // (`set_all` on every seed's scenario checks the same).
    let known = splitbrain::scenario::programs::Programs::default();
    if !known.knows(&program) {
        eprintln!(
            "error: --program: unknown program '{program}'; chaos --live runs {}",
            known.known_names().join(", ")
        );
        return ExitCode::from(2);
    }
    let (started_at, stamp) = utc_now();
    let dir = match report_dir(args.out.as_deref(), &stamp) {
        // Node programs run in their run's directory: paths handed to them must not depend on
        // ours.
        Ok(dir) => std::path::absolute(&dir).unwrap_or(dir),
        Err(code) => return code,
    };
    let jobs = args.jobs.map_or(1, |j| j as usize);
    let settings = Settings {
        program,
        generate: GenOptions {
            fault_phase: args.duration.unwrap_or(DEFAULT_FAULT_PHASE),
            liveness: LIVENESS,
            election: args.election,
            ..GenOptions::default()
        },
        dir: dir.clone(),
        interrupted: Arc::new(AtomicBool::new(false)),
    };
    {
        // As `splitbrain live`: Ctrl-C stops the running worlds (they clean up), no new seed
        // starts, and the report is written.
        let interrupted = settings.interrupted.clone();
        let handler = ctrlc::set_handler(move || {
            if !interrupted.swap(true, Ordering::SeqCst) {
                eprintln!(
                    "\nsplitbrain chaos --live: stopping the running worlds; the report follows"
                );
            }
        });
        if let Err(e) = handler {
            eprintln!("warning: Ctrl-C will not stop cleanly: {e}");
        }
    }
    println!(
        "splitbrain chaos --live: {} seed(s) from seed {}, program {}, election {}, fault phase \
         {} + liveness {}, {jobs} world(s) at a time, report in {}; no shrinking live",
        args.seeds,
        args.start,
        settings.program,
        args.election,
        format_duration(settings.generate.fault_phase),
        format_duration(LIVENESS),
        dir.display()
    );

    let started = Instant::now();
    let seeds = Mutex::new(Seeds {
        next: Some(args.start),
        to_play: args.seeds,
        skipped_in_a_row: 0,
        gave_up: false,
    });
    let found = AtomicBool::new(false);
    let results = Mutex::new(Vec::new());
    let record = |result: SeedResult| {
        print_seed(&result);
        results
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(result);
    };
    std::thread::scope(|scope| {
        for worker in 0..jobs.min(args.seeds as usize) {
            let (settings, seeds, found, record) = (&settings, &seeds, &found, &record);
            let stop_at_first = args.stop_at_first;
            std::thread::Builder::new()
                .name(format!("chaos-live-{worker}"))
                .spawn_scoped(scope, move || {
                    loop {
                        if settings.interrupted.load(Ordering::SeqCst)
                            || (stop_at_first && found.load(Ordering::SeqCst))
                        {
                            break;
                        }
                        let next = seeds
                            .lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .next_to_play(settings, record);
                        let Some(seed) = next else { break };
                        let result = play_seed(seed, settings);
                        if matches!(result.outcome, Outcome::Failed { .. }) {
                            found.store(true, Ordering::SeqCst);
                        }
                        record(result);
                    }
                })
                .expect("spawn a chaos --live worker");
        }
    });
    let mut results = results.into_inner().unwrap_or_else(|p| p.into_inner());
    results.sort_by_key(|r| r.seed.seed);
    let wall = started.elapsed().as_secs_f64();
    if seeds.lock().unwrap_or_else(|p| p.into_inner()).gave_up {
        eprintln!(
            "splitbrain chaos --live: stopped looking after {MAX_SKIPPED_IN_A_ROW} seeds in a row \
             whose world live mode refuses"
        );
    }

    let tally = Tally::of(&results, args.seeds);
    let interrupted = settings.interrupted.load(Ordering::SeqCst);
    let stopped_early = args.stop_at_first && found.load(Ordering::SeqCst);
    let extra = chaos_json(
        &results,
        &settings,
        &args,
        &tally,
        &started_at,
        jobs,
        wall,
        interrupted,
    );
    print_tally(&tally, &settings, wall, interrupted, stopped_early);
    let written = write_chaos_report(&dir, results, &extra, &settings);
    match written {
        Ok(()) => println!("  report      {}", dir.join("index.html").display()),
        Err(e) => {
            eprintln!("error: cannot write the report to {}: {e}", dir.display());
            return ExitCode::from(1);
        }
    }
    if tally.failed + tally.errors > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// Hands out seeds to play, in order from `--start`: a seed whose world live mode refuses is
/// recorded as skipped and does not count, so `--seeds N` plays N worlds.
struct Seeds {
    /// `None` past the largest seed.
    next: Option<u64>,
    to_play: u64,
    skipped_in_a_row: u64,
    /// Stopped after [`MAX_SKIPPED_IN_A_ROW`] refused worlds in a row.
    gave_up: bool,
}

/// Refused worlds in a row after which no seed is looked for any more (about a third of the
/// generated worlds play with the built-in program, so this is never reached by chance).
const MAX_SKIPPED_IN_A_ROW: u64 = 1000;

impl Seeds {
    /// The next seed to play, recording (`record`) the skipped ones before it.
    fn next_to_play(&mut self, settings: &Settings, record: impl Fn(SeedResult)) -> Option<u64> {
        while self.to_play > 0 && !self.gave_up {
            let seed = self.next?;
            self.next = seed.checked_add(1);
            match refused(seed, settings) {
                None => {
                    self.to_play -= 1;
                    self.skipped_in_a_row = 0;
                    return Some(seed);
                }
                Some(reasons) => {
                    record(SeedResult {
                        seed: Seed {
                            seed,
                            played: None,
                            dropped: Vec::new(),
                            skipped: reasons,
                        },
                        outcome: Outcome::Skipped,
                        wall: 0.0,
                        file: None,
                    });
                    self.skipped_in_a_row += 1;
                    self.gave_up = self.skipped_in_a_row >= MAX_SKIPPED_IN_A_ROW;
                }
            }
        }
        None
    }
}

/// Why live mode refuses `seed`'s world, if it does (then the seed is skipped).
fn refused(seed: u64, settings: &Settings) -> Option<Vec<Refusal>> {
    match prepare(seed, settings) {
        LivePlan::Play { .. } => None,
        LivePlan::Skip(reasons) => Some(reasons),
    }
}

/// `seed`'s generated scenario, every node running the program, made playable live.
fn prepare(seed: u64, settings: &Settings) -> LivePlan {
    let mut scenario = generated_scenario(seed, &settings.generate);
    scenario
        .run_every_node_with(&settings.program)
        .expect("the program was checked before the first seed");
    live_plan(&scenario)
}

/// Plays one seed (one not [`refused`]); writes its scenario file (and a failure's).
fn play_seed(seed: u64, settings: &Settings) -> SeedResult {
    let LivePlan::Play { scenario, dropped } = prepare(seed, settings) else {
        unreachable!("seed {seed} was planned to play");
    };
    let played = *scenario;
    let run_dir = settings.dir.join(format!("seed-{seed}"));
    let mut lines = format!(
        "seed {seed}: playing live in {} ({} steps",
        run_dir.display(),
        played.steps.len()
    );
    if dropped.is_empty() {
        lines.push_str(")\n");
    } else {
        lines.push_str(&format!(", {} dropped)\n", dropped.len()));
        for d in &dropped {
            lines.push_str(&format!("  seed {seed} dropped {d}\n"));
        }
    }
    let _ = std::io::stdout().lock().write_all(lines.as_bytes());

    let scenario_file = run_dir.join("scenario.toml");
    let written = std::fs::create_dir_all(&run_dir).and_then(|()| {
        let header = header(
            &format!("Chaos seed {seed}, played live."),
            false,
            seed,
            &settings.program,
            &dropped,
            "scenario.toml",
        );
        std::fs::write(&scenario_file, write::to_toml(&played, &header))
    });
    if let Err(e) = written {
        eprintln!(
            "warning: seed {seed}: cannot write {}: {e}",
            scenario_file.display()
        );
    }
    let options = LiveOptions {
        state_dir: LiveOptions::default_state_dir(),
        run_dir,
        interrupted: settings.interrupted.clone(),
    };
    let started = Instant::now();
    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        live::run(&played, None, &options)
    }))
    .unwrap_or_else(|payload| {
        let message = payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "a panic".into());
        Err(LiveError::Io(std::io::Error::other(format!(
            "the live runner panicked: {message}"
        ))))
    });
    let wall = started.elapsed().as_secs_f64();
    let mut seed = Seed {
        seed,
        played: Some(played),
        dropped,
        skipped: Vec::new(),
    };
    let outcome = match run {
        Ok(run) if run.report.passed => Outcome::Passed(Box::new(run)),
        Ok(run) => {
            let verdict = judge(&run.report)
                .or_else(|| {
                    run.findings.first().map(|finding| Verdict {
                        invariant: "finding".into(),
                        at: Duration::ZERO,
                        detail: finding.clone(),
                    })
                })
                .unwrap_or_else(|| Verdict {
                    invariant: "fail".into(),
                    at: Duration::ZERO,
                    detail: "the run failed".into(),
                });
            Outcome::Failed {
                verdict,
                run: Ok(Box::new(run)),
            }
        }
        Err(LiveError::Interrupted) => Outcome::Interrupted,
        // A program's hello said it cannot do a step its name promised: the world is refused.
        Err(LiveError::Refused(reasons)) => {
            seed.skipped = reasons;
            Outcome::Skipped
        }
        Err(e) => Outcome::Failed {
            verdict: Verdict {
                invariant: "error".into(),
                at: Duration::ZERO,
                detail: e.to_string(),
            },
            run: Err(e),
        },
    };
    let mut file = Some(scenario_file);
    if let (Outcome::Failed { verdict, .. }, Some(played)) = (&outcome, &seed.played) {
        let name = format!("seed-{}-{}.toml", seed.seed, verdict.invariant);
        let path = settings.dir.join(&name);
        let what = format!(
            "Chaos finding, live (seed {}): {}",
            seed.seed,
            found(verdict)
        );
        let text = write::to_toml(
            played,
            &header(
                &what,
                true,
                seed.seed,
                &settings.program,
                &seed.dropped,
                &name,
            ),
        );
        match std::fs::write(&path, text) {
            Ok(()) => file = Some(path),
            Err(e) => eprintln!(
                "warning: seed {}: cannot write {}: {e}",
                seed.seed,
                path.display()
            ),
        }
    }
    SeedResult {
        seed,
        outcome,
        wall,
        file,
    }
}

/// A scenario file's header: `what`, how it was found (`finding`) or played, the dropped steps,
/// and the replay command; wrapped to fit beside the file.
fn header(
    what: &str,
    finding: bool,
    seed: u64,
    program: &str,
    dropped: &[DroppedStep],
    file: &str,
) -> String {
    let how = if finding {
        "Found on real processes by `splitbrain chaos --live` and NOT shrunk (a live run takes \
         minutes): this is the schedule as generated"
    } else {
        "Played on real processes by `splitbrain chaos --live`: the schedule as generated"
    };
    let mut text = format!(
        "{what}\n\nProgram: {program} on every node (the file names it per node). {how} for seed \
         {seed}, less the steps live mode cannot play.\n\n"
    );
    if dropped.is_empty() {
        text.push_str("No step was dropped: live mode plays the whole generated schedule.\n");
    } else {
        text.push_str("Steps dropped from the generated schedule:\n");
        for d in dropped {
            text.push_str(&format!("- {d}\n"));
        }
    }
    text.push_str(&format!(
        "\nReplay (in this file's directory): splitbrain live {file}\nReal processes do not \
         repeat a run step for step: a replay may take another course."
    ));
    if program == BUILT_IN {
        text.push_str(&format!(
            " The simulator plays this file too: splitbrain run {file}"
        ));
    }
    text.lines().map(wrap).collect::<Vec<_>>().join("\n")
}

/// `line` in lines of at most [`HEADER_WIDTH`] characters (a long word stays whole); the lines
/// after the first of a `- ` item are indented under it.
fn wrap(line: &str) -> String {
    let indent = if line.starts_with("- ") { "  " } else { "" };
    let mut out = String::new();
    let mut current = String::new();
    for word in line.split(' ') {
        if !current.is_empty() && current.chars().count() + 1 + word.chars().count() > HEADER_WIDTH
        {
            out.push_str(&current);
            out.push('\n');
            current = indent.to_string();
        } else if !current.is_empty() && current != indent {
            current.push(' ');
        }
        current.push_str(word);
    }
    out.push_str(&current);
    out
}

/// Width of a scenario file's header text (after `# `).
const HEADER_WIDTH: usize = 96;

/// One line per seed: seed, verdict, first violation, wall time.
fn print_seed(result: &SeedResult) {
    let seed = result.seed.seed;
    let line = match &result.outcome {
        Outcome::Skipped => {
            let what: Vec<&str> = result
                .seed
                .skipped
                .iter()
                .map(|r| r.what.as_str())
                .collect();
            format!(
                "seed {seed:<8} skipped      refused live: {} (not counted; reasons in the report)",
                what.join("; ")
            )
        }
        Outcome::Interrupted => format!("seed {seed:<8} interrupted  {:>7.1} s", result.wall),
        Outcome::Passed(_) => format!("seed {seed:<8} pass         {:>7.1} s", result.wall),
        Outcome::Failed { verdict, .. } => {
            let label = if verdict.invariant == "error" {
                "ERROR"
            } else {
                "FAIL"
            };
            format!(
                "seed {seed:<8} {label:<12} {:>7.1} s  {}{}",
                result.wall,
                one_line(&found(verdict)),
                result
                    .file
                    .as_ref()
                    .map_or(String::new(), |f| format!("  -> {}", f.display()))
            )
        }
    };
    let _ = writeln!(std::io::stdout().lock(), "{line}");
}

/// What a verdict found: `2M at 43.210s: detail`, or `error: detail` when it has no moment.
fn found(verdict: &Verdict) -> String {
    if verdict.at.is_zero() {
        format!("{}: {}", verdict.invariant, verdict.detail)
    } else {
        format!(
            "{} at {}: {}",
            verdict.invariant,
            secs(verdict.at),
            verdict.detail
        )
    }
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[derive(Default)]
struct Tally {
    /// `--seeds`: seeds to play.
    requested: u64,
    run: usize,
    passed: usize,
    failed: usize,
    errors: usize,
    skipped: usize,
    interrupted: usize,
    dropped: usize,
}

impl Tally {
    fn of(results: &[SeedResult], requested: u64) -> Tally {
        let mut tally = Tally {
            requested,
            ..Tally::default()
        };
        for r in results {
            tally.dropped += r.seed.dropped.len();
            match &r.outcome {
                Outcome::Skipped => tally.skipped += 1,
                Outcome::Interrupted => tally.interrupted += 1,
                Outcome::Passed(_) => {
                    tally.run += 1;
                    tally.passed += 1;
                }
                Outcome::Failed { verdict, .. } => {
                    tally.run += 1;
                    if verdict.invariant == "error" {
                        tally.errors += 1;
                    } else {
                        tally.failed += 1;
                    }
                }
            }
        }
        tally
    }

    /// Seeds to play that were never started (Ctrl-C, --stop-at-first, no seed left).
    fn not_started(&self) -> u64 {
        self.requested
            .saturating_sub((self.run + self.interrupted) as u64)
    }
}

fn print_tally(tally: &Tally, settings: &Settings, wall: f64, interrupted: bool, early: bool) {
    let state = if interrupted {
        " (interrupted)"
    } else if early {
        " (stopped at the first failure)"
    } else {
        ""
    };
    println!(
        "splitbrain chaos --live: {} of {} seeds played{state}, program {}, fault phase {}, {:.1} s wall",
        tally.run,
        tally.requested,
        settings.program,
        format_duration(settings.generate.fault_phase),
        wall
    );
    println!(
        "  passed {}, failed {}, could not run {}, skipped {} (world refused live), interrupted {}, not started {}",
        tally.passed,
        tally.failed,
        tally.errors,
        tally.skipped,
        tally.interrupted,
        tally.not_started()
    );
    println!(
        "  dropped     {} step(s) live mode cannot play; shrinking: {SHRINKING}",
        tally.dropped
    );
}

/// What chaos adds to `splitbrain live`'s summary.json.
#[allow(clippy::too_many_arguments)]
fn chaos_json(
    results: &[SeedResult],
    settings: &Settings,
    args: &ChaosArgs,
    tally: &Tally,
    started_at: &str,
    jobs: usize,
    wall: f64,
    interrupted: bool,
) -> serde_json::Value {
    let rel = |path: &Option<PathBuf>| {
        path.as_ref().map(|p| {
            p.strip_prefix(&settings.dir)
                .unwrap_or(p)
                .display()
                .to_string()
        })
    };
    let seeds: Vec<serde_json::Value> = results
        .iter()
        .map(|r| {
            let (verdict, first) = match &r.outcome {
                Outcome::Skipped => ("skipped", None),
                Outcome::Interrupted => ("interrupted", None),
                Outcome::Passed(_) => ("pass", None),
                Outcome::Failed { verdict, .. } if verdict.invariant == "error" => {
                    ("error", Some(verdict))
                }
                Outcome::Failed { verdict, .. } => ("fail", Some(verdict)),
            };
            serde_json::json!({
                "seed": r.seed.seed,
                "verdict": verdict,
                "invariant": first.map(|v| &v.invariant),
                "at_seconds": first.map(|v| v.at.as_secs_f64()),
                "detail": first.map(|v| &v.detail),
                "wall_seconds": r.wall,
                "steps": r.seed.played.as_ref().map(|s| s.steps.len()),
                "dropped": r.seed.dropped,
                "refused": r.seed.skipped,
                "file": rel(&r.file),
                "run_dir": r.seed.played.as_ref().map(|_| format!("seed-{}", r.seed.seed)),
            })
        })
        .collect();
    let skipped: Vec<serde_json::Value> = results
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Skipped))
        .map(|r| serde_json::json!({ "seed": r.seed.seed, "refused": r.seed.skipped }))
        .collect();
    let dropped: Vec<serde_json::Value> = results
        .iter()
        .filter(|r| !r.seed.dropped.is_empty())
        .map(|r| serde_json::json!({ "seed": r.seed.seed, "steps": r.seed.dropped }))
        .collect();
    serde_json::json!({
        "command": "chaos --live",
        "program": settings.program,
        "election": args.election.to_string(),
        "duration": format_duration(settings.generate.fault_phase),
        "fault_phase_seconds": settings.generate.fault_phase.as_secs_f64(),
        "liveness_seconds": settings.generate.liveness.as_secs_f64(),
        "shrinking": SHRINKING,
        "started_at": started_at,
        "first_seed": args.start,
        "last_seed": results.iter().map(|r| r.seed.seed).max(),
        "seeds_to_play": args.seeds,
        "seeds_examined": results.len(),
        "seeds_run": tally.run,
        "seeds_passed": tally.passed,
        "seeds_failed": tally.failed,
        "seeds_errored": tally.errors,
        "seeds_skipped": tally.skipped,
        "seeds_interrupted": tally.interrupted,
        "seeds_not_started": tally.not_started(),
        "steps_dropped": tally.dropped,
        "jobs": jobs,
        "wall_seconds": wall,
        "interrupted": interrupted,
        "stop_at_first": args.stop_at_first,
        "seeds": seeds,
        "skipped": skipped,
        "dropped_steps": dropped,
    })
}

/// `splitbrain live`'s report of the runs, then what chaos adds: its fields in summary.json,
/// and on index.html a table of every seed under a line saying nothing is shrunk live.
fn write_chaos_report(
    dir: &Path,
    results: Vec<SeedResult>,
    extra: &serde_json::Value,
    settings: &Settings,
) -> std::io::Result<()> {
    let rows = seed_rows(&results, dir);
    let played: Vec<PlayedRun> = results
        .into_iter()
        .filter_map(|r| {
            let scenario = r.seed.played?;
            let file = r.file.unwrap_or_default();
            let outcome = match r.outcome {
                Outcome::Passed(run) => Ok(*run),
                Outcome::Failed { run, .. } => run.map(|run| *run),
                Outcome::Skipped | Outcome::Interrupted => return None,
            };
            Some((file, 1, scenario, outcome, r.wall))
        })
        .collect();
    write_report(dir, &played)?;

    let path = dir.join("summary.json");
    let mut summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path)?).map_err(std::io::Error::other)?;
    if let (Some(summary), Some(extra)) = (summary.as_object_mut(), extra.as_object()) {
        for (key, value) in extra {
            summary.insert(key.clone(), value.clone());
        }
    }
    std::fs::write(
        &path,
        serde_json::to_string_pretty(&summary).map_err(std::io::Error::other)?,
    )?;

    let path = dir.join("index.html");
    let page = std::fs::read_to_string(&path)?;
    let block = format!(
        "<p><strong>splitbrain chaos --live</strong>: program {}, election {}, fault phase {} \
         then {} of liveness, seeds {} to {}: {} played, {} failed, {} could not run, {} skipped \
         (world refused live), {} step(s) dropped.</p>\
         <p><strong>No shrinking is done live</strong> (shrinking: {SHRINKING}): a failing \
         seed's file is its schedule as generated, less the dropped steps; replay it with \
         <code>splitbrain live</code>.</p>{rows}",
        escape(&settings.program),
        escape(extra["election"].as_str().unwrap_or_default()),
        escape(extra["duration"].as_str().unwrap_or_default()),
        format_duration(settings.generate.liveness),
        extra["first_seed"],
        extra["last_seed"],
        extra["seeds_run"],
        extra["seeds_failed"],
        extra["seeds_errored"],
        extra["seeds_skipped"],
        extra["steps_dropped"],
    );
    // After `splitbrain live`'s summary table, before its runs.
    let page = page.replacen(
        "<h1>splitbrain live</h1>",
        "<h1>splitbrain chaos --live</h1>",
        1,
    );
    let page = page.replacen(
        "<title>splitbrain live</title>",
        "<title>splitbrain chaos --live</title>",
        1,
    );
    let page = match page.find("</table>").or_else(|| page.find("</h1>")) {
        Some(at) => {
            let at = at + page[at..].find('>').map_or(0, |i| i + 1);
            format!("{}{block}{}", &page[..at], &page[at..])
        }
        None => format!("{block}{page}"),
    };
    std::fs::write(&path, page)
}

/// index.html's table of seeds: verdict, first violation, wall time, dropped or refused.
fn seed_rows(results: &[SeedResult], dir: &Path) -> String {
    let mut html = String::from(
        "<table><tr><th>seed</th><th>verdict</th><th>first violation</th><th>wall</th>\
         <th>dropped steps / why skipped</th><th>file</th></tr>",
    );
    for r in results {
        let (verdict, first) = match &r.outcome {
            Outcome::Skipped => ("skipped".to_string(), String::new()),
            Outcome::Interrupted => ("interrupted".to_string(), String::new()),
            Outcome::Passed(_) => ("pass".to_string(), String::new()),
            Outcome::Failed { verdict, .. } => (
                if verdict.invariant == "error" {
                    "ERROR".to_string()
                } else {
                    "FAIL".to_string()
                },
                found(verdict),
            ),
        };
        // A refused world's reasons are the same seed after seed: listed once, below.
        let notes: Vec<String> = if r.seed.skipped.is_empty() {
            r.seed.dropped.iter().map(|d| d.to_string()).collect()
        } else {
            r.seed.skipped.iter().map(|s| s.what.clone()).collect()
        };
        let notes = notes
            .iter()
            .map(|n| escape(n))
            .collect::<Vec<_>>()
            .join("<br>");
        let file = r.file.as_ref().map_or(String::new(), |f| {
            let shown = f.strip_prefix(dir).unwrap_or(f).display().to_string();
            format!("<code>{}</code>", escape(&shown))
        });
        let class = match verdict.as_str() {
            "pass" => " class=\"pass\"",
            "FAIL" | "ERROR" => " class=\"fail\"",
            _ => "",
        };
        let wall = match r.outcome {
            Outcome::Skipped => "-".to_string(),
            _ => format!("{:.1}&nbsp;s", r.wall),
        };
        html.push_str(&format!(
            "<tr><td>{}</td><td{class}>{}</td><td>{}</td><td>{wall}</td><td>{notes}</td>\
             <td style=\"white-space:nowrap\">{file}</td></tr>",
            r.seed.seed,
            verdict,
            escape(&first),
        ));
    }
    html.push_str("</table>");
    // "run_once guard of database db1" and "… db3" share a reason: one line per reason,
    // named by its first refusal.
    let mut seen: Vec<&str> = Vec::new();
    let mut reasons: Vec<String> = Vec::new();
    for refusal in results.iter().flat_map(|r| &r.seed.skipped) {
        if !seen.contains(&refusal.reason.as_str()) {
            seen.push(&refusal.reason);
            reasons.push(format!(
                "<li>{} (and the like): {}</li>",
                escape(&refusal.what),
                escape(&refusal.reason)
            ));
        }
    }
    if !reasons.is_empty() {
        html.push_str(&format!(
            "<p>Why live mode refuses the skipped worlds:</p><ul>{}</ul>",
            reasons.join("")
        ));
    }
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_wrap_and_say_what_happened() {
        let dropped = [DroppedStep {
            number: 3,
            at: "19.344s".into(),
            step: "clock strobe a1".into(),
            reason: "clock strobes are not reproduced live: ".repeat(4),
        }];
        let text = header(
            "Chaos finding, live (seed 5): 2M at 43.210s: a1 and a2",
            true,
            5,
            "kazoo-election",
            &dropped,
            "seed-5-2M.toml",
        );
        assert!(
            text.lines().all(|l| l.chars().count() <= HEADER_WIDTH),
            "{text}"
        );
        let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(flat.contains("NOT shrunk"), "{text}");
        assert!(flat.contains("Program: kazoo-election"), "{text}");
        assert!(
            flat.contains("- step 3 (at 19.344s: clock strobe a1)"),
            "{text}"
        );
        assert!(text.contains("splitbrain live seed-5-2M.toml"), "{text}");
        // Only the built-in program runs in the simulator.
        assert!(!text.contains("splitbrain run"), "{text}");
        assert!(
            text.lines().any(|l| l.starts_with("  ")),
            "an item's lines are indented"
        );
    }
}

//! Every scenario under scenarios/ is a test: found at test time (adding a file adds a test),
//! run with its own seed by `splitbrain run` in a process of its own (a simulation replays
//! exactly only as the first of its process: see `scenario::runner::run`), required to pass,
//! and its canonical timeline compared with the accepted insta snapshot in tests/snapshots/,
//! so any behaviour change shows up in review.
//!
//! `cargo test --test scenarios -- master-crash` runs one; `INSTA_UPDATE=always` (or
//! `cargo insta review`) accepts new timelines.
//!
//! Files under `scenarios/known-bugs/` are named after the catalogue entry they expose
//! (`p3-priorities-as-text.toml`): besides passing with the real code, each gets a second test
//! that runs it with that broken variant (`--election p3`) and requires it to fail with one of
//! the invariants the catalogue lists for the bug, and a third that runs it on seeds 1-10: the
//! variant must fail on at least 8 of them and the real code pass on all, so the file exposes
//! the bug by design rather than by one seed's task order. `every_known_bug_has_a_scenario`
//! keeps the catalogue complete.
//!
//! Regression scenarios of bugs the testbed found and that were fixed ([`REGRESSIONS`]) are
//! run once more with the fix taken out (the election's `--election f1`, the database model's
//! `--write-dating answer`) and must then fail the way the bug did: they are pinned to a seed,
//! and a change to what runs when can take away the moment the bug needs, which would pass
//! unseen otherwise (it happened to two of them).

use libtest_mimic::{Arguments, Failed, Trial};
use splitbrain::check::catalogue;
use splitbrain::election::{ElectionCode, KnownBug};
use splitbrain::scenario;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let args = Arguments::from_args();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let files = scenario::files_in(&root.join("scenarios")).expect("scenarios/ is readable");
    let mut trials = Vec::new();
    let mut exposed = Vec::new();
    let mut regressions_found = Vec::new();
    for path in files {
        let name = path
            .strip_prefix(root.join("scenarios"))
            .unwrap_or(&path)
            .with_extension("")
            .display()
            .to_string();
        if let Some(bug) = known_bug_of(&name) {
            exposed.push(bug);
            let (once, once_path) = (name.clone(), path.clone());
            trials.push(Trial::test(
                format!("{name} with {}", bug.code()),
                move || run_broken(&once, &once_path, bug),
            ));
            let (seeds, seeds_path) = (name.clone(), path.clone());
            trials.push(Trial::test(
                format!("{name} with {}, seeds 1-10", bug.code()),
                move || run_over_seeds(&seeds, &seeds_path, bug),
            ));
        }
        if let Some(unfenced) = UNFENCED.iter().find(|u| u.scenario == name) {
            let (seen, seen_path) = (name.clone(), path.clone());
            trials.push(Trial::test(
                format!(
                    "{name} with {}, seen through {}",
                    unfenced.election, unfenced.reports
                ),
                move || run_unfenced(&seen, &seen_path, unfenced),
            ));
        }
        if let Some(regression) = REGRESSIONS.iter().find(|r| r.scenario == name) {
            regressions_found.push(regression.scenario);
            let (again, again_path) = (name.clone(), path.clone());
            trials.push(Trial::test(
                format!("{name} {}", regression.bug_back),
                move || run_without_fix(&again, &again_path, regression),
            ));
        }
        trials.push(Trial::test(name.clone(), move || run(&name, &path)));
    }
    trials.push(Trial::test("every_known_bug_has_a_scenario", move || {
        let missing: Vec<&str> = KnownBug::ALL
            .into_iter()
            .filter(|bug| !exposed.contains(bug))
            .map(KnownBug::code)
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "no scenarios/known-bugs/<code>-*.toml for {}",
                missing.join(", ")
            )
            .into())
        }
    }));
    trials.push(Trial::test(
        "every_fixed_finding_has_a_regression_scenario",
        move || {
            let mut missing: Vec<String> = KnownBug::FIXED_FINDINGS
                .into_iter()
                .filter(|bug| !REGRESSIONS.iter().any(|r| r.election == bug.code()))
                .map(|bug| format!("no REGRESSIONS entry runs {}", bug.code()))
                .collect();
            missing.extend(
                REGRESSIONS
                    .iter()
                    .filter(|r| !regressions_found.contains(&r.scenario))
                    .map(|r| format!("no scenarios/{}.toml", r.scenario)),
            );
            if missing.is_empty() {
                Ok(())
            } else {
                Err(missing.join("; ").into())
            }
        },
    ));
    libtest_mimic::run(&args, trials).exit();
}

/// `known-bugs/p3-priorities-as-text` exposes P3.
fn known_bug_of(name: &str) -> Option<KnownBug> {
    let file = name.strip_prefix("known-bugs/")?;
    let code = file.split('-').next()?;
    match code.parse::<ElectionCode>() {
        Ok(ElectionCode::Broken(bug)) => Some(bug),
        _ => None,
    }
}

/// What one `splitbrain run --json` reported: whether it passed, and the invariants broken.
struct Verdict {
    passed: bool,
    broken: Vec<String>,
}

fn run_json(path: &Path, election: &str, seed: Option<u64>) -> Result<Verdict, Failed> {
    run_json_with(path, election, seed, &[])
}

fn run_json_with(
    path: &Path,
    election: &str,
    seed: Option<u64>,
    extra: &[&str],
) -> Result<Verdict, Failed> {
    let mut command = Command::new(env!("CARGO_BIN_EXE_splitbrain"));
    command
        .arg("run")
        .arg(path)
        .args(["--election", election, "--json"])
        .args(extra);
    if let Some(seed) = seed {
        command.args(["--seed", &seed.to_string()]);
    }
    let output = command
        .output()
        .map_err(|e| Failed::from(format!("cannot run splitbrain: {e}")))?;
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).map_err(|e| {
        Failed::from(format!(
            "{} with {election}: no JSON report ({e}); splitbrain said:\n{}",
            path.display(),
            String::from_utf8_lossy(&output.stderr)
        ))
    })?;
    let broken = json["violations"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v["invariant"].as_str().map(str::to_string))
        .collect();
    Ok(Verdict {
        passed: output.status.success(),
        broken,
    })
}

/// Whether a run with `bug`'s variant failed the way the catalogue says the bug does.
fn exposes(verdict: &Verdict, bug: KnownBug) -> bool {
    let wanted = catalogue::violates(bug);
    !verdict.passed
        && verdict
            .broken
            .iter()
            .any(|b| wanted.iter().any(|w| w.code() == b))
}

/// The scenario must fail with the broken variant, by one of the catalogue's invariants.
fn run_broken(name: &str, path: &Path, bug: KnownBug) -> Result<(), Failed> {
    let verdict = run_json(path, bug.code(), None)?;
    if !exposes(&verdict, bug) {
        let wanted: Vec<&str> = catalogue::violates(bug).iter().map(|i| i.code()).collect();
        return Err(format!(
            "{name} with {} ({}) should fail with {}; it reported {:?}",
            bug.code(),
            bug.description(),
            wanted.join(" or "),
            verdict.broken
        )
        .into());
    }
    Ok(())
}

/// A scenario whose broken variant the fence hides from SW: the variant must break the
/// invariant of an unfenced effect (`reports`, e.g. LE) and not SW, so the file keeps showing
/// what only the new invariant sees.
struct Unfenced {
    scenario: &'static str,
    election: &'static str,
    reports: &'static str,
    hidden_from: &'static str,
}

const UNFENCED: &[Unfenced] = &[Unfenced {
    scenario: "known-bugs/p8-relinquish-while-message-in-flight",
    election: "p8",
    reports: "LE",
    hidden_from: "SW",
}];

fn run_unfenced(name: &str, path: &Path, unfenced: &Unfenced) -> Result<(), Failed> {
    let verdict = run_json(path, unfenced.election, None)?;
    let reports = verdict.broken.iter().any(|b| b == unfenced.reports);
    let hidden = !verdict.broken.iter().any(|b| b == unfenced.hidden_from);
    if verdict.passed || !reports || !hidden {
        return Err(format!(
            "{name} with {} should fail with {} and not {} (the fence saves the database); it reported {:?}",
            unfenced.election, unfenced.reports, unfenced.hidden_from, verdict.broken
        )
        .into());
    }
    Ok(())
}

/// A regression scenario of a fixed finding (`docs/chaos-findings`), and how to run it with
/// the bug back in.
struct Regression {
    scenario: &'static str,
    election: &'static str,
    extra: &'static [&'static str],
    /// The invariant the bug broke.
    fails_with: &'static str,
    /// How the bug is brought back, for the test's name and message.
    bug_back: &'static str,
}

const REGRESSIONS: &[Regression] = &[
    Regression {
        scenario: "election-deleted-under-slow-master",
        election: "f1",
        extra: &[],
        fails_with: "2M",
        bug_back: "with f1 (the re-created term claimed at once)",
    },
    Regression {
        scenario: "database-primary-paused-mid-commit",
        election: "real",
        extra: &["--write-dating", "answer"],
        fails_with: "SW",
        bug_back: "with the old write dating",
    },
    Regression {
        scenario: "database-primary-paused-mid-commit-handover",
        election: "real",
        extra: &["--write-dating", "answer"],
        fails_with: "SW",
        bug_back: "with the old write dating",
    },
];

/// With its bug back the scenario must fail the way the bug did: it still reaches its moment.
fn run_without_fix(name: &str, path: &Path, regression: &Regression) -> Result<(), Failed> {
    let verdict = run_json_with(path, regression.election, None, regression.extra)?;
    if verdict.passed || !verdict.broken.iter().any(|b| b == regression.fails_with) {
        return Err(format!(
            "{name} no longer reaches the moment of the bug it guards: {} it should fail with {}, it reported {:?} (find a seed that does, as its header says)",
            regression.bug_back, regression.fails_with, verdict.broken
        )
        .into());
    }
    Ok(())
}

/// Seeds other than the file's own, and how many of them must expose the bug.
const OTHER_SEEDS: std::ops::RangeInclusive<u64> = 1..=10;
const MUST_EXPOSE: usize = 8;

/// The scenario exposes its bug by design, not by the luck of one seed's task order: with the
/// variant it fails on most of seeds 1-10 (a change to what runs when reshuffles every seed, so
/// a file that catches the bug on one seed only breaks on the next unrelated change), and the
/// real code passes on every one of them.
fn run_over_seeds(name: &str, path: &Path, bug: KnownBug) -> Result<(), Failed> {
    let mut missed = Vec::new();
    let mut real_failed = Vec::new();
    for seed in OTHER_SEEDS {
        if !exposes(&run_json(path, bug.code(), Some(seed))?, bug) {
            missed.push(seed);
        }
        if !run_json(path, "real", Some(seed))?.passed {
            real_failed.push(seed);
        }
    }
    let exposed = OTHER_SEEDS.count() - missed.len();
    if exposed < MUST_EXPOSE || !real_failed.is_empty() {
        return Err(format!(
            "{name}: with {} it exposes the bug on {exposed} of seeds {OTHER_SEEDS:?} (missed {missed:?}; at least {MUST_EXPOSE} wanted); the real code fails on seeds {real_failed:?}",
            bug.code()
        )
        .into());
    }
    Ok(())
}

fn run(name: &str, path: &PathBuf) -> Result<(), Failed> {
    let output = Command::new(env!("CARGO_BIN_EXE_splitbrain"))
        .arg("run")
        .arg(path)
        .output()
        .map_err(|e| Failed::from(format!("cannot run splitbrain: {e}")))?;
    let timeline = String::from_utf8_lossy(&output.stdout).into_owned();
    let errors = String::from_utf8_lossy(&output.stderr);
    if timeline.is_empty() {
        return Err(format!("no timeline; splitbrain said:\n{errors}").into());
    }
    // The snapshot first: a changed timeline is shown even when the verdict changed too.
    let snapshot = std::panic::catch_unwind(|| {
        let mut settings = insta::Settings::clone_current();
        settings.set_snapshot_path(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots"));
        settings.set_prepend_module_to_snapshot(false);
        settings.bind(|| {
            insta::assert_snapshot!(format!("scenario__{}", name.replace('/', "__")), timeline)
        });
    });
    if !output.status.success() {
        return Err(format!("scenario failed:\n{timeline}{errors}").into());
    }
    snapshot.map_err(|_| Failed::from("the timeline differs from its accepted snapshot"))
}

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
//! the invariants the catalogue lists for the bug. `every_known_bug_has_a_scenario` keeps the
//! catalogue complete.

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
    for path in files {
        let name = path
            .strip_prefix(root.join("scenarios"))
            .unwrap_or(&path)
            .with_extension("")
            .display()
            .to_string();
        if let Some(bug) = known_bug_of(&name) {
            exposed.push(bug);
            let (name, path) = (name.clone(), path.clone());
            trials.push(Trial::test(
                format!("{name} with {}", bug.code()),
                move || run_broken(&name, &path, bug),
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

/// The scenario must fail with the broken variant, by one of the catalogue's invariants.
fn run_broken(name: &str, path: &Path, bug: KnownBug) -> Result<(), Failed> {
    let output = Command::new(env!("CARGO_BIN_EXE_splitbrain"))
        .arg("run")
        .arg(path)
        .args(["--election", bug.code(), "--json"])
        .output()
        .map_err(|e| Failed::from(format!("cannot run splitbrain: {e}")))?;
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).map_err(|e| {
        Failed::from(format!(
            "{name} with {}: no JSON report ({e}); splitbrain said:\n{}",
            bug.code(),
            String::from_utf8_lossy(&output.stderr)
        ))
    })?;
    let found: Vec<String> = json["violations"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v["invariant"].as_str().map(str::to_string))
        .collect();
    let wanted: Vec<&str> = catalogue::violates(bug).iter().map(|i| i.code()).collect();
    if output.status.success() || !found.iter().any(|f| wanted.contains(&f.as_str())) {
        return Err(format!(
            "{name} with {} ({}) should fail with {}; it reported {:?}",
            bug.code(),
            bug.description(),
            wanted.join(" or "),
            found
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

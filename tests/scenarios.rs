//! Every scenario under scenarios/ is a test: found at test time (adding a file adds a test),
//! run with its own seed by `splitbrain run` in a process of its own (a simulation replays
//! exactly only as the first of its process: see `scenario::runner::run`), required to pass,
//! and its canonical timeline compared with the accepted insta snapshot in tests/snapshots/,
//! so any behaviour change shows up in review.
//!
//! `cargo test --test scenarios -- master-crash` runs one; `INSTA_UPDATE=always` (or
//! `cargo insta review`) accepts new timelines.

use libtest_mimic::{Arguments, Failed, Trial};
use splitbrain::scenario;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let args = Arguments::from_args();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let files = scenario::files_in(&root.join("scenarios")).expect("scenarios/ is readable");
    let trials = files
        .into_iter()
        .map(|path| {
            let name = path
                .strip_prefix(root.join("scenarios"))
                .unwrap_or(&path)
                .with_extension("")
                .display()
                .to_string();
            Trial::test(name.clone(), move || run(&name, &path))
        })
        .collect();
    libtest_mimic::run(&args, trials).exit();
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

//! The conformance suite: every case on the model and on a real ZooKeeper 3.8 ensemble; their
//! observations must be identical (see `src/conformance` and `docs/zookeeper-fidelity.md`).
//!
//! Fails, never skips, without the `zookeeper` package. `SPLITBRAIN_CONFORMANCE_CASES=text`
//! runs only the cases whose name contains `text`; `SPLITBRAIN_CONFORMANCE_SHOW=1` prints every
//! observation, not only those that differ.

use splitbrain::conformance::cases::CASES;
use splitbrain::conformance::runner::{MODEL_SEEDS, Verdict, run_suite, selected};
use splitbrain::live::{INSTALL_HINT, ZkInstall};
use std::io::Write as _;

#[test]
fn model_and_real_zookeeper_observe_the_same() {
    if let Err(err) = ZkInstall::locate() {
        panic!("the conformance suite needs a real ZooKeeper 3.8: {err}\n{INSTALL_HINT}");
    }
    let filter = std::env::var("SPLITBRAIN_CONFORMANCE_CASES").unwrap_or_default();
    let cases = selected(&filter);
    assert!(!cases.is_empty(), "no case matches {filter:?}");
    let report = run_suite(&cases);
    let passed = report.passed();
    let known = report
        .outcomes
        .iter()
        .filter(|o| matches!(o.verdict(), Verdict::KnownDivergence { .. }))
        .count();
    let show_all = std::env::var_os("SPLITBRAIN_CONFORMANCE_SHOW").is_some();
    eprintln!("{}", report.render(show_all));
    // Written to stderr directly, not through the test harness's captured print macros, so that
    // the count and the real-ensemble time show in every run, passing or not.
    let _ = writeln!(
        std::io::stderr(),
        "conformance: {} cases, {passed} passed, {known} known divergences (of {} in the suite); \
         model part {:.1?} ({} seeds per case), real-ensemble part {:.1?}",
        cases.len(),
        CASES.len(),
        report.model_time,
        MODEL_SEEDS.len(),
        report.real_time
    );
    let failing: Vec<&str> = report
        .outcomes
        .iter()
        .filter(|o| matches!(o.verdict(), Verdict::Differ(_)))
        .map(|o| o.case.name)
        .collect();
    assert!(
        failing.is_empty(),
        "{} case(s) observe differently on the model and on real ZooKeeper: {failing:?} (diffs above)",
        failing.len()
    );
}

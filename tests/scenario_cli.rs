//! `splitbrain check` and `splitbrain run` as QA and CI call them: exit codes (0 pass, 1 fail
//! or invalid file, 2 bad arguments), positioned errors, and the JSON fields dashboards read.

use std::process::{Command, Output};

fn splitbrain(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_splitbrain"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .output()
        .expect("the binary runs")
}

#[test]
fn check_accepts_the_library_and_refuses_invalid_files_with_a_position() {
    let ok = splitbrain(&["check", "scenarios/"]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let bad = splitbrain(&["check", "tests/invalid-scenarios/unknown-host.toml"]);
    assert_eq!(bad.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains(
            "tests/invalid-scenarios/unknown-host.toml:22:10: unknown host 'a3'; did you mean 'a1'?"
        ),
        "{stderr}"
    );
    let missing = splitbrain(&["check", "no/such/file.toml"]);
    assert_eq!(missing.status.code(), Some(1));
}

#[test]
fn run_json_has_the_promised_fields_and_replays_across_processes() {
    let run = || {
        let out = splitbrain(&[
            "run",
            "scenarios/master-crash.toml",
            "--seed",
            "3",
            "--json",
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        serde_json::from_slice::<serde_json::Value>(&out.stdout).expect("one JSON object")
    };
    let first = run();
    for field in [
        "scenario",
        "seed",
        "verdict",
        "violations",
        "failovers",
        "trace_hash",
    ] {
        assert!(first.get(field).is_some(), "missing {field} in {first}");
    }
    assert_eq!(first["scenario"], "master-crash");
    assert_eq!(first["seed"], 3);
    assert_eq!(first["verdict"], "pass");
    assert!(!first["failovers"].as_array().unwrap().is_empty());
    assert_eq!(first["trace_hash"], run()["trace_hash"]);
}

#[test]
fn a_failed_expectation_fails_the_run_and_bad_arguments_exit_2() {
    let dir = std::env::temp_dir().join(format!("splitbrain-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/master-crash.toml"),
    )
    .unwrap();
    // a1 crashes at 30 s: it cannot be master at 60 s.
    let wrong = text.replace(
        "master = \"a2\"\nat = \"60s\"",
        "master = \"a1\"\nat = \"60s\"",
    );
    assert_ne!(wrong, text);
    let file = dir.join("wrong.toml");
    std::fs::write(&file, wrong).unwrap();
    let out = splitbrain(&["run", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let timeline = String::from_utf8_lossy(&out.stdout);
    assert!(timeline.contains("FAIL master a1 at 60.000s"), "{timeline}");
    assert!(timeline.contains("verdict: FAIL"), "{timeline}");
    std::fs::remove_dir_all(&dir).unwrap();

    let out = splitbrain(&["run", "scenarios/master-crash.toml", "--seed", "x"]);
    assert_eq!(out.status.code(), Some(2));
    let out = splitbrain(&["run"]);
    assert_eq!(out.status.code(), Some(2));
}

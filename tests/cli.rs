//! The `splitbrain` command as users and CI dashboards call it.

use std::process::Command;

fn splitbrain(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_splitbrain"))
        .args(args)
        .output()
        .expect("the binary runs")
}

#[test]
fn sim_json_has_the_promised_fields_and_replays_across_processes() {
    let run = || {
        let out = splitbrain(&["sim", "--seed", "7", "--duration", "2m", "--json"]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let value: serde_json::Value =
            serde_json::from_slice(&out.stdout).expect("one JSON object");
        value
    };
    let first = run();
    for field in [
        "seed",
        "sim_seconds",
        "wall_seconds",
        "speedup",
        "events",
        "zk_leader_changes",
        "sessions_expired",
        "trace_hash",
    ] {
        assert!(
            first.get(field).is_some(),
            "missing field {field} in {first}"
        );
    }
    assert_eq!(first["seed"], 7);
    assert!((first["sim_seconds"].as_f64().unwrap() - 120.0).abs() < 0.001);
    assert_eq!(first["trace_hash"].as_str().unwrap().len(), 16);
    let second = run();
    assert_eq!(first["trace_hash"], second["trace_hash"]);
    assert_eq!(first["events"], second["events"]);
}

#[test]
fn readable_summary_and_trace() {
    let out = splitbrain(&["sim", "--seed", "3", "--duration", "30s", "--trace"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("trace hash"), "{text}");
    assert!(text.contains("zk leader changes"));
    // trace lines carry true time and the host's wall clock
    assert!(
        text.lines()
            .any(|l| l.contains("zk1") && l.contains("[d+0 ")),
        "{text}"
    );
}

#[test]
fn bad_arguments_exit_2_with_a_clear_error() {
    for (args, expected) in [
        (
            vec!["sim", "--seed", "abc"],
            "invalid value 'abc' for '--seed",
        ),
        (
            vec!["sim", "--seed", "1", "--duration", "10x"],
            "unknown unit 'x'",
        ),
        (vec!["sim"], "--seed"),
        (
            vec!["sim", "--seed", "1", "--client-model", "python"],
            "python",
        ),
        (vec!["frobnicate"], "unrecognized subcommand"),
        (vec!["bench", "--runs", "3"], "--scale"),
        (vec!["bench", "--scale", "--runs", "0"], "--runs"),
    ] {
        let out = splitbrain(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(expected), "{args:?}: {err}");
    }
}

#[test]
fn scale_bench_reports_the_median_of_its_runs_and_checks_they_agree() {
    let out = splitbrain(&["bench", "--scale", "--runs", "2", "--json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(value["runs"], 2, "{value}");
    assert_eq!(value["deterministic"], true, "{value}");
    assert_eq!(value["passed"], true, "{value}");
    let walls = value["wall_seconds_runs"].as_array().expect("wall times");
    assert_eq!(walls.len(), 2);
    let (median, best) = (
        value["speedup_median"].as_f64().expect("median"),
        value["speedup_best"].as_f64().expect("best"),
    );
    assert!(median > 0.0 && median <= best, "{value}");
    assert_eq!(value["speedup"].as_f64(), Some(median), "{value}");
    assert_eq!(value["pairs"], 100);
}

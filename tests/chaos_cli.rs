//! `splitbrain chaos` as the nightly job and people call it: argument errors, a small real
//! run and its report, and Ctrl-C.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn splitbrain(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_splitbrain"))
        .args(args)
        .output()
        .expect("the binary runs")
}

fn fresh_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("splitbrain-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn summary(dir: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(dir.join("summary.json")).expect("summary.json");
    serde_json::from_str(&text).expect("summary.json is JSON")
}

#[test]
fn bad_arguments_exit_2_naming_the_problem() {
    let file = fresh_dir("chaos-out-is-a-file");
    std::fs::write(&file, "not a directory").unwrap();
    let file_arg = file.display().to_string();
    for (args, expected) in [
        (vec!["chaos"], "--seeds"),
        (
            vec!["chaos", "--seeds", "0"],
            "invalid value '0' for '--seeds",
        ),
        (
            vec!["chaos", "--seeds", "ten"],
            "invalid value 'ten' for '--seeds",
        ),
        (vec!["chaos", "--seeds", "5", "--jobs", "0"], "'--jobs"),
        (
            vec!["chaos", "--seeds", "5", "--election", "p9"],
            "unknown election code 'p9'",
        ),
        (
            vec!["chaos", "--seeds", "5", "--start", "18446744073709551615"],
            "runs past the largest seed",
        ),
        (
            vec!["chaos", "--seeds", "5", "--out", &file_arg],
            "is not a directory",
        ),
        (
            vec![
                "chaos",
                "--seeds",
                "5",
                "--no-shrink",
                "--max-shrink-runs",
                "3",
            ],
            "cannot be used with",
        ),
        (vec!["bench", "--jobs", "2"], "--known-bugs"),
    ] {
        let out = splitbrain(&args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(expected), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
    std::fs::remove_file(&file).unwrap();
}

#[test]
fn a_small_run_on_the_real_code_writes_a_clean_report() {
    let dir = fresh_dir("chaos-small-run");
    let out = splitbrain(&[
        "chaos",
        "--seeds",
        "4",
        "--start",
        "100",
        "--jobs",
        "2",
        "--out",
        dir.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(stdout.contains("violations  0"), "{stdout}");
    assert!(
        stdout.contains(&dir.join("index.html").display().to_string()),
        "the report's path: {stdout}"
    );
    assert!(stderr.contains("chaos 4/4 seeds (100%)"), "{stderr}");

    let json = summary(&dir);
    assert_eq!(json["seeds_run"], 4);
    assert_eq!(json["seeds_requested"], 4);
    assert_eq!(json["first_seed"], 100);
    assert_eq!(json["violations"], 0);
    assert_eq!(json["failures"], serde_json::json!([]));
    assert_eq!(json["election"], "real");
    assert_eq!(json["jobs"], 2);
    assert_eq!(json["interrupted"], false);
    assert!(json["seeds_per_minute"].as_f64().unwrap() > 0.0);
    // Every coverage point once, the never-reached ones first, each with its seeds and the
    // lowest seed that reached it.
    let coverage = json["coverage"].as_array().expect("coverage is a list");
    assert_eq!(coverage.len(), splitbrain::coverage::Point::ALL.len());
    let reached: Vec<bool> = coverage.iter().map(|p| p["seeds"] != 0).collect();
    assert!(reached.windows(2).all(|w| w[0] <= w[1]), "{coverage:?}");
    assert!(reached.iter().any(|r| *r), "four seeds reach something");
    for p in coverage {
        assert!(p["point"].is_string() && p["why"].is_string(), "{p}");
        let seeds = p["seeds"].as_u64().unwrap();
        match p["first_seed"].as_u64() {
            Some(first) => assert!(seeds > 0 && (100..104).contains(&first), "{p}"),
            None => assert_eq!(seeds, 0, "{p}"),
        }
    }
    assert!(stdout.contains("  coverage: "), "{stdout}");

    let junit = std::fs::read_to_string(dir.join("junit.xml")).unwrap();
    assert!(junit.contains(r#"tests="4" failures="0""#), "{junit}");
    for seed in 100..104 {
        assert!(junit.contains(&format!("name=\"seed {seed}\"")), "{junit}");
    }
    let html = std::fs::read_to_string(dir.join("index.html")).unwrap();
    assert!(html.contains("No violations."));
    assert!(
        html.contains("id=\"coverage\""),
        "the page has a coverage section"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Starts a long chaos run and waits for its first progress line on stderr (by then its
/// Ctrl-C handler is installed); the rest of stderr comes line by line on the receiver.
fn start_long_run(dir: &Path) -> (Child, mpsc::Receiver<String>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_splitbrain"))
        .args(["chaos", "--seeds", "100000", "--jobs", "1", "--out"])
        .arg(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let stderr = child.stderr.take().unwrap();
    let (sender, receiver) = mpsc::channel();
    // Reading on (and so draining stderr) until the child ends: it never blocks on a full pipe.
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = sender.send(line);
        }
    });
    wait_for_line(&receiver, "chaos 0/100000 seeds");
    (child, receiver)
}

fn wait_for_line(lines: &mpsc::Receiver<String>, start: &str) {
    loop {
        let line = lines
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|e| panic!("no stderr line starting '{start}': {e}"));
        if line.trim_start().starts_with(start) {
            return;
        }
    }
}

fn interrupt(child: &Child) {
    // SAFETY: kill(2) on our own child's pid, with a valid signal number.
    let rc = unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    assert_eq!(rc, 0, "SIGINT sent");
}

fn wait(mut child: Child, limit: Duration) -> Output {
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            let _ = child.kill();
            panic!("the chaos run did not stop within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn ctrl_c_stops_cleanly_and_still_writes_the_report() {
    let dir = fresh_dir("chaos-ctrl-c");
    let (child, _stderr) = start_long_run(&dir);
    interrupt(&child);
    let out = wait(child, Duration::from_secs(120));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("(interrupted)"), "{stdout}");
    let json = summary(&dir);
    // The seed that was running may have found something: the usual exit status then.
    let found = json["violations"].as_u64().unwrap() > 0;
    assert_eq!(out.status.code(), Some(i32::from(found)), "{stdout}");
    assert_eq!(json["interrupted"], true);
    assert_eq!(json["seeds_requested"], 100000);
    let run = json["seeds_run"].as_u64().unwrap();
    assert!(
        run < 100,
        "the running seed finished, few others started: {run}"
    );
    assert!(dir.join("index.html").exists() && dir.join("junit.xml").exists());
    let html = std::fs::read_to_string(dir.join("index.html")).unwrap();
    assert!(html.contains("no: interrupted"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_second_ctrl_c_exits_at_once() {
    // The second Ctrl-C must come while the seed running at the first is still running; a seed
    // that happens to end in between lets the run finish cleanly instead, so try a few times.
    for _ in 0..3 {
        let dir = fresh_dir("chaos-ctrl-c-twice");
        let (child, stderr) = start_long_run(&dir);
        interrupt(&child);
        // Two signals sent at once may merge into one: wait until the first is seen.
        wait_for_line(&stderr, "splitbrain chaos: stopping");
        interrupt(&child);
        let out = wait(child, Duration::from_secs(30));
        let report = dir.join("summary.json").exists();
        let _ = std::fs::remove_dir_all(&dir);
        if out.status.code() != Some(130) && report {
            continue;
        }
        assert_eq!(out.status.code(), Some(130));
        assert!(!report, "no report after the second Ctrl-C");
        return;
    }
    panic!("three runs in a row ended their seed between two Ctrl-Cs");
}

#[test]
fn a_broken_variant_is_found_and_its_shrunk_scenario_replays_the_failure() {
    let dir = fresh_dir("chaos-p3");
    let out = splitbrain(&[
        "chaos",
        "--election",
        "p3",
        "--seeds",
        "20",
        "--stop-at-first",
        "--max-shrink-runs",
        "5",
        "--jobs",
        "2",
        "--out",
        dir.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("(stopped at the first finding)"),
        "{stdout}"
    );
    let json = summary(&dir);
    assert_eq!(json["election"], "p3");
    let failure = &json["failures"][0];
    let invariant = failure["invariant"].as_str().unwrap();
    let file = dir.join(
        failure["scenario"]
            .as_str()
            .expect("a shrunk scenario file"),
    );
    let text = std::fs::read_to_string(&file).unwrap();
    let replay = format!("splitbrain run {}", file.display());
    assert!(text.contains(&format!("# Replay: {replay}")), "{text}");
    assert_eq!(failure["replay"], replay.as_str());
    assert!(text.contains("election = \"p3\""), "{text}");

    let check = splitbrain(&["check", file.to_str().unwrap()]);
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let run = splitbrain(&["run", file.to_str().unwrap()]);
    let timeline = String::from_utf8_lossy(&run.stdout);
    assert_eq!(run.status.code(), Some(1), "the replay fails: {timeline}");
    assert!(
        timeline.contains(&format!("VIOLATION {invariant} at")),
        "the same way ({invariant}): {timeline}"
    );
    let html = std::fs::read_to_string(dir.join("index.html")).unwrap();
    assert!(html.contains("<svg") && html.contains(&replay));
    std::fs::remove_dir_all(&dir).unwrap();
}

//! Scenario files played live: real ZooKeeper 3.8 servers, real `splitbrain node` processes,
//! real PostgreSQL, real faults (`splitbrain live`). Each must reach the verdict the simulator
//! reaches for the same file. The default set runs in CI (a crash, a partition, a pause, a
//! known-bug file failing live, and `splitbrain compare` of the crash against the simulator);
//! the rest of the library's live list runs with `just live-all` (`--include-ignored`).
//!
//! Needs Debian's `zookeeper` and `postgresql` packages (`scripts/test` installs them). Runs
//! one scenario at a time: each is a whole world of processes on a 2-core machine.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One live world at a time.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Plays `file` live (with `--election code` if given) and returns its JSON report and exit
/// status.
fn play(file: &str, election: Option<&str>, state: Option<&Path>) -> (Value, i32) {
    let args: Vec<&str> = election.map(|c| vec!["--election", c]).unwrap_or_default();
    let expected = if election.is_some() { 1 } else { 0 };
    play_with(file, &args, expected, state)
}

/// Plays `file` live with `args` added; a run ending with `expected` exit status leaves no
/// logs behind.
fn play_with(file: &str, args: &[&str], expected: i32, state: Option<&Path>) -> (Value, i32) {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let out = std::env::temp_dir().join(format!(
        "sb-live-test-{}{}-{}",
        file.replace('/', "_"),
        args.join("_").replace(['-', '/'], ""),
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&out);
    let mut command = Command::new(env!("CARGO_BIN_EXE_splitbrain"));
    command
        .arg("live")
        .arg(repo().join(file))
        .arg("--json")
        .arg("--out")
        .arg(&out);
    command.args(args);
    if let Some(state) = state {
        command.env("TMPDIR", state);
    }
    let started = Instant::now();
    let output = command.output().expect("run splitbrain live");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let code = output.status.code().unwrap_or(-1);
    let report: Value = stdout
        .lines()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| {
            panic!("{file}: no JSON report (exit {code})\nstdout:\n{stdout}\nstderr:\n{stderr}")
        });
    // A run that went as expected leaves nothing; the others keep their logs for a look.
    if code == expected {
        let _ = std::fs::remove_dir_all(&out);
    } else {
        eprintln!("{file}: logs kept in {}", out.display());
    }
    eprintln!(
        "{file} {}: {} in {:.0} s (start-up {:.1} s, median step lag {} ms)",
        args.join(" "),
        report["verdict"],
        started.elapsed().as_secs_f64(),
        report["startup_seconds"].as_f64().unwrap_or(f64::NAN),
        report["median_step_lag_ms"]
    );
    (report, code)
}

/// The run passed: no violation, every expectation met, every step applied.
fn passes(file: &str) {
    let (report, code) = play(file, None, None);
    assert_eq!(
        (report["verdict"].as_str(), code),
        (Some("pass"), 0),
        "{file} failed live:\n{}",
        serde_json::to_string_pretty(&report).unwrap_or_default()
    );
    assert_eq!(report["backend"], "live");
    assert!(report["logs"].as_object().is_some_and(|l| !l.is_empty()));
}

/// The run failed with `invariant`, as the simulator reports for the same file and code.
fn fails_with(file: &str, election: &str, invariant: &str) {
    let (report, code) = play(file, Some(election), None);
    let violations = violations(&report);
    assert_eq!(code, 1, "{file} --election {election} should fail live");
    assert!(
        violations.contains(&invariant),
        "{file} --election {election}: expected {invariant}, got {violations:?}\n{}",
        serde_json::to_string_pretty(&report).unwrap_or_default()
    );
}

#[test]
fn master_crash_fails_over_live() {
    passes("scenarios/master-crash.toml");
}

#[test]
fn master_cut_from_zookeeper_but_not_the_database_fails_over_live() {
    passes("scenarios/master-cut-from-zk-not-db.toml");
}

#[test]
fn gc_pause_longer_than_the_session_is_safe_live() {
    passes("scenarios/gc-pause-longer-than-session.toml");
}

#[test]
fn p2_ignoring_disconnected_gives_two_masters_live() {
    fails_with(
        "scenarios/known-bugs/p2-ignores-disconnected.toml",
        "p2",
        "2M",
    );
}

/// The invariant codes of a report's violations.
fn violations(report: &Value) -> Vec<&str> {
    report["violations"]
        .as_array()
        .map(|v| v.iter().filter_map(|v| v["invariant"].as_str()).collect())
        .unwrap_or_default()
}

/// Apache Curator's LeaderLatch (Debian's 5.4.0, compiled at first use) through the node
/// protocol: it says hello, is elected, fails over when the master's process dies, and is
/// judged by the same checkers. It has no priorities, so WP and the expectations that name a
/// master are reported as not judged.
#[test]
fn curator_latch_fails_over_after_a_master_crash_live() {
    let file = "scenarios/master-crash.toml";
    let (report, code) = play_with(file, &["--program", "curator-latch"], 0, None);
    let pretty = serde_json::to_string_pretty(&report).unwrap_or_default();
    assert_eq!(
        (report["verdict"].as_str(), code),
        (Some("pass"), 0),
        "{pretty}"
    );
    for node in ["a1", "a2"] {
        assert_eq!(
            report["programs"][node]["program"], "curator-latch",
            "{pretty}"
        );
    }
    let failovers = report["failovers"].as_array().expect("failovers");
    let seconds = failovers
        .iter()
        .find(|f| {
            f["lost_at"]
                .as_f64()
                .is_some_and(|at| (29.0..32.0).contains(&at))
        })
        .and_then(|f| f["seconds"].as_f64())
        .unwrap_or_else(|| panic!("no failover after the crash at 30 s: {pretty}"));
    // About a session timeout (10 s), as the session of the dead master expires.
    assert!(
        (5.0..=20.0).contains(&seconds),
        "failover took {seconds} s: {pretty}"
    );
    let not_judged = report["not_judged"].to_string();
    assert!(
        not_judged.contains("WP: curator-latch does not support priorities"),
        "{pretty}"
    );
    assert!(
        report["writes_accepted"].as_u64().unwrap_or(0) > 100,
        "{pretty}"
    );
}

/// kazoo's Election recipe, used as its documentation teaches, does not stop the leader's work
/// when the session is lost: the master cut from ZooKeeper (but not from its database) writes
/// on while the other node is elected. Live mode reports the two masters from the programs'
/// events and the stale writes from the database's rows, although kazoo has no tokens.
#[test]
fn kazoo_election_keeps_a_cut_off_master_writing_live() {
    let file = "scenarios/master-cut-from-zk-not-db.toml";
    let (report, code) = play_with(file, &["--program", "kazoo-election"], 1, None);
    let pretty = serde_json::to_string_pretty(&report).unwrap_or_default();
    assert_eq!(code, 1, "{pretty}");
    assert_eq!(
        report["programs"]["a1"]["program"], "kazoo-election",
        "{pretty}"
    );
    let found = violations(&report);
    assert!(
        found.contains(&"2M"),
        "expected 2M, got {found:?}: {pretty}"
    );
    assert!(
        found.contains(&"SW"),
        "expected SW, got {found:?}: {pretty}"
    );
    assert!(
        report["findings"].as_array().is_some_and(|f| f.is_empty()),
        "the program kept the protocol: {pretty}"
    );
}

/// An adapter written only from docs/node-protocol.md (tests/adapters/lock_adapter.py: kazoo's
/// Lock with the lock znode's czxid as fencing token, and a session listener that stops the
/// work) plays a master crash through a `[programs]` entry of the file: its tokens go through
/// the database's fence, and the standby takes over.
#[test]
fn an_adapter_written_from_the_protocol_document_fails_over_live() {
    let file = "tests/adapters/lock-adapter.toml";
    let (report, code) = play_with(file, &[], 0, None);
    let pretty = serde_json::to_string_pretty(&report).unwrap_or_default();
    assert_eq!(
        (report["verdict"].as_str(), code),
        (Some("pass"), 0),
        "{pretty}"
    );
    let supports = report["programs"]["a1"]["supports"].to_string();
    assert!(supports.contains("fencing_tokens"), "{pretty}");
    assert_eq!(
        report["programs"]["a2"]["program"], "lock-adapter",
        "{pretty}"
    );
    assert!(
        report["failovers"]
            .as_array()
            .is_some_and(|f| f.iter().any(|f| f["to_node"] == "a2")),
        "{pretty}"
    );
}

/// `splitbrain compare` on master-crash, one live run against five seeds: the comparison has
/// its shape, both sides pass, and both fail over in about a session timeout (10 s; ZooKeeper
/// expires sessions on 2 s tick boundaries), then hand back after the heal.
#[test]
fn compare_master_crash_live_against_the_simulator() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let out = std::env::temp_dir().join(format!("sb-compare-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let output = Command::new(env!("CARGO_BIN_EXE_splitbrain"))
        .arg("compare")
        .arg(repo().join("scenarios/master-crash.toml"))
        .args(["--runs", "1", "--seeds", "5", "--json", "--out"])
        .arg(&out)
        .output()
        .expect("run splitbrain compare");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let code = output.status.code().unwrap_or(-1);
    let c: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!("not one JSON object ({e}, exit {code})\nstdout:\n{stdout}\nstderr:\n{stderr}")
    });
    let pretty = serde_json::to_string_pretty(&c).unwrap_or_default();
    assert_eq!(c["scenario"], "master-crash");
    assert_eq!(c["runs"], 1);
    assert_eq!(
        c["seeds"],
        serde_json::json!([1, 2, 3, 4, 5]),
        "from the file's seed"
    );
    assert_eq!(c["live"]["runs"], 1, "{pretty}");
    assert_eq!(c["sim"]["runs"], 5, "{pretty}");
    assert_eq!(c["verdicts"]["live"]["pass"], 1, "{pretty}");
    assert_eq!(c["verdicts"]["sim"]["pass"], 5, "{pretty}");
    assert_eq!(c["verdicts"]["flagged"], false, "{pretty}");
    let measures = c["measures"].as_array().expect("measures");
    let measure = |name: &str| -> &Value {
        measures
            .iter()
            .find(|m| m["name"] == name)
            .unwrap_or_else(|| panic!("no measure {name}: {pretty}"))
    };
    for name in [
        "failover seconds",
        "fault failover seconds",
        "failovers per run",
        "promotions bank",
        "writes accepted",
        "writes refused",
        "writes unavailable",
        "sessions expired",
        "zk leader changes",
    ] {
        let m = measure(name);
        for key in [
            "live_median",
            "sim_median",
            "live_min",
            "live_max",
            "sim_min",
            "sim_max",
        ] {
            assert!(m[key].is_number(), "{name}.{key}: {pretty}");
        }
        assert!(
            m["flagged"].is_boolean() && m["why"].is_string(),
            "{name}: {pretty}"
        );
    }
    // Both sides failed over from the crash: a2 promoted a session timeout after it, give or
    // take ZooKeeper's ticks, then a1 took back over after the heal (pre-emptive).
    for side in ["live", "sim"] {
        let first = measure("fault failover seconds")[format!("{side}_median")]
            .as_f64()
            .unwrap();
        assert!(
            (5.0..30.0).contains(&first),
            "{side} fault failover {first} s: {pretty}"
        );
        let per_run = measure("failovers per run")[format!("{side}_min")]
            .as_f64()
            .unwrap();
        assert!(per_run >= 1.0, "{side} saw no failover: {pretty}");
        let promotions = measure("promotions bank")[format!("{side}_median")]
            .as_f64()
            .unwrap();
        assert!(
            promotions >= 2.0,
            "{side}: {promotions} promotions: {pretty}"
        );
        let accepted = measure("writes accepted")[format!("{side}_median")]
            .as_f64()
            .unwrap();
        assert!(
            accepted > 100.0,
            "{side}: {accepted} writes accepted: {pretty}"
        );
    }
    assert_eq!(
        code,
        if c["flagged"] == true { 1 } else { 0 },
        "exit status follows the flags: {pretty}"
    );
    assert!(out.join("compare.json").is_file() && out.join("index.html").is_file());
    assert!(
        out.join("live-1").is_dir(),
        "the live run's directory is kept"
    );
    let page = std::fs::read_to_string(out.join("index.html")).unwrap();
    assert!(page.contains("Live against the simulator") && page.contains("<svg"));
    let _ = std::fs::remove_dir_all(&out);
}

macro_rules! ignored_live {
    ($($name:ident => $file:expr),* $(,)?) => {$(
        #[test]
        #[ignore = "slow live scenario: just live-all"]
        fn $name() {
            passes($file);
        }
    )*};
}

ignored_live! {
    slave_crash_live => "scenarios/slave-crash.toml",
    zk_leader_crash_during_failover_live => "scenarios/zk-leader-crash-during-failover.toml",
    pair_rolling_upgrade_live => "scenarios/pair-rolling-upgrade.toml",
    master_dc_isolated_live => "scenarios/master-dc-isolated.toml",
    one_way_master_to_zk_live => "scenarios/one-way-master-to-zk.toml",
    health_fault_database_live => "scenarios/health-fault-database.toml",
    clock_jump_on_master_live => "scenarios/clock-jump-on-master.toml",
    database_fails_over_nodes_do_not_live => "scenarios/database-fails-over-nodes-do-not.toml",
    node_fails_over_database_does_not_live => "scenarios/node-fails-over-database-does-not.toml",
}

#[test]
#[ignore = "slow live scenario: just live-all"]
fn p1_acts_after_a_long_pause_live() {
    fails_with(
        "scenarios/known-bugs/p1-acts-after-long-pause.toml",
        "p1",
        "SW",
    );
}

#[test]
#[ignore = "slow live scenario: just live-all"]
fn p7_keeps_writing_after_demotion_live() {
    fails_with(
        "scenarios/known-bugs/p7-cut-from-zk-keeps-db.toml",
        "p7",
        "SW",
    );
}

#[test]
fn every_library_file_plays_live_or_is_refused_with_a_reason() {
    let output = Command::new(env!("CARGO_BIN_EXE_splitbrain"))
        .arg("live")
        .arg(repo().join("scenarios"))
        .arg("--check")
        .output()
        .expect("run splitbrain live --check");
    let text = String::from_utf8_lossy(&output.stdout);
    let files = text
        .lines()
        .filter(|l| l.ends_with("plays live") || l.ends_with("REFUSED live"))
        .count();
    assert!(files >= 40, "every file is named:\n{text}");
    for line in text
        .lines()
        .filter(|l| l.trim_start().starts_with("refused"))
    {
        assert!(line.contains(": "), "a refusal says why: {line}");
    }
    assert!(
        text.contains("multi-master"),
        "multi-master is refused by name:\n{text}"
    );
    assert_eq!(output.status.code(), Some(2), "some files are refused");
}

/// A runner killed with SIGKILL mid-run leaves processes and data behind only until the next
/// run, which removes them first.
#[test]
fn the_next_run_cleans_up_after_a_runner_killed_mid_run() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let state = std::env::temp_dir().join(format!("sb-live-sigkill-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&state);
    std::fs::create_dir_all(&state).unwrap();
    let file = state.join("short.toml");
    std::fs::write(&file, SHORT_SCENARIO).unwrap();
    let mut runner = Command::new(env!("CARGO_BIN_EXE_splitbrain"))
        .arg("live")
        .arg(&file)
        .arg("--json")
        .env("TMPDIR", &state)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the run has recorded its node processes (the world is up), then kill it.
    let active = state.join("splitbrain-live/active");
    let deadline = Instant::now() + Duration::from_secs(60);
    let record = loop {
        let found = std::fs::read_dir(&active).ok().and_then(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .find(|p| p.extension().is_some_and(|e| e == "json"))
        });
        if let Some(path) = found
            && let Ok(text) = std::fs::read_to_string(&path)
            && text.matches("\"node ").count() >= 2
        {
            break serde_json::from_str::<Value>(&text).unwrap();
        }
        if let Some(status) = runner.try_wait().unwrap() {
            panic!("the runner ended before its world came up ({status})");
        }
        assert!(Instant::now() < deadline, "the live world never came up");
        std::thread::sleep(Duration::from_millis(200));
    };
    std::thread::sleep(Duration::from_secs(2));
    runner.kill().unwrap();
    runner.wait().unwrap();
    let groups: Vec<u64> = record["groups"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["pgid"].as_u64().unwrap())
        .collect();
    assert!(groups.len() >= 6, "zk x3, db, 2 nodes: {record}");
    let scratch: Vec<PathBuf> = record["scratch"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| PathBuf::from(d.as_str().unwrap()))
        .collect();
    // The next run sweeps first; `--check` starts nothing, a real run does.
    let (report, _) = play_with_state(&file, &state);
    assert_eq!(report["backend"], "live");
    for pgid in groups {
        // SAFETY: signal 0 only asks whether the group exists.
        let alive = unsafe { libc::kill(-(pgid as i32), 0) } == 0;
        assert!(!alive, "process group {pgid} of the killed run still runs");
    }
    for dir in scratch {
        assert!(
            !dir.exists(),
            "{} of the killed run is still there",
            dir.display()
        );
    }
    let left: Vec<_> = std::fs::read_dir(&active).unwrap().flatten().collect();
    assert!(left.is_empty(), "records left: {left:?}");
    let _ = std::fs::remove_dir_all(&state);
}

fn play_with_state(file: &Path, state: &Path) -> (Value, i32) {
    let output = Command::new(env!("CARGO_BIN_EXE_splitbrain"))
        .arg("live")
        .arg(file)
        .arg("--json")
        .env("TMPDIR", state)
        .output()
        .expect("run splitbrain live");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report = stdout
        .lines()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| {
            panic!(
                "no JSON report:\n{stdout}\n{}",
                String::from_utf8_lossy(&output.stderr)
            )
        });
    (report, output.status.code().unwrap_or(-1))
}

const SHORT_SCENARIO: &str = r#"
sites = ["dc1", "dc2", "tiebreaker"]

[run]
duration = "12s"
liveness = "10s"

[invariants]
no_master_bound = "8s"
wrong_priority_bound = "8s"

[zookeeper]
tick_time = "500ms"
session_timeout = "4s"
voters = [
  { name = "zk1", site = "dc1" },
  { name = "zk2", site = "dc2" },
  { name = "zk3", site = "tiebreaker" },
]

[[pair]]
name = "bank"
nodes = [
  { name = "a1", site = "dc1", priority = 100, policy = "pre-emptive" },
  { name = "a2", site = "dc2", priority = 50, policy = "pre-emptive" },
]
database = { name = "db", site = "dc1", mode = "single" }

[[step]]
at = "6s"
do = "crash"
target = "a2"
"#;

/// `splitbrain chaos --live`: one generated world played on real processes (seeds whose world
/// live mode refuses are skipped on the way), and the report's shape: `splitbrain live`'s runs
/// plus what chaos adds, with nothing shrunk.
#[test]
#[ignore = "slow live chaos: just chaos-live"]
fn chaos_live_plays_a_generated_world_and_reports_it() {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let out = std::env::temp_dir().join(format!("sb-chaos-live-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let output = Command::new(env!("CARGO_BIN_EXE_splitbrain"))
        .args(["chaos", "--live", "--seeds", "1"])
        .args(["--duration", "20s", "--out"])
        .arg(&out)
        .output()
        .expect("run splitbrain chaos --live");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let code = output.status.code().unwrap_or(-1);
    let context = format!("exit {code}\nstdout:\n{stdout}\nstderr:\n{stderr}");
    // A random world may fail: both are verdicts, a bad argument is not.
    assert!(code == 0 || code == 1, "{context}");
    let text = std::fs::read_to_string(out.join("summary.json"))
        .unwrap_or_else(|e| panic!("no summary.json ({e}): {context}"));
    let summary: Value = serde_json::from_str(&text).expect("summary.json is JSON");
    let pretty = serde_json::to_string_pretty(&summary).unwrap_or_default();
    assert_eq!(summary["backend"], "live", "{pretty}");
    assert_eq!(summary["command"], "chaos --live", "{pretty}");
    assert_eq!(summary["shrinking"], "none (live)", "{pretty}");
    assert_eq!(summary["program"], "splitbrain", "{pretty}");
    assert_eq!(summary["duration"], "20s", "{pretty}");
    assert_eq!(summary["liveness_seconds"], 60.0, "{pretty}");
    assert_eq!(summary["seeds_to_play"], 1, "{pretty}");
    assert_eq!(summary["seeds_run"], 1, "{pretty}");
    assert_eq!(summary["total"], 1, "{pretty}");
    let skipped = summary["seeds_skipped"].as_u64().expect("seeds_skipped");
    assert_eq!(
        summary["skipped"].as_array().map(Vec::len),
        Some(skipped as usize),
        "{pretty}"
    );
    assert!(summary["dropped_steps"].is_array(), "{pretty}");
    let seeds = summary["seeds"].as_array().expect("seeds");
    assert_eq!(seeds.len() as u64, skipped + 1, "{pretty}");
    let played = seeds
        .iter()
        .find(|s| s["verdict"] != "skipped")
        .expect("a played seed");
    assert!(played["dropped"].is_array(), "{pretty}");
    let run = &summary["runs"][0];
    assert_eq!(run["backend"], "live", "{pretty}");
    assert_eq!(run["seed"], played["seed"], "{pretty}");
    assert!(
        run["logs"].as_object().is_some_and(|l| !l.is_empty()),
        "{pretty}"
    );
    let seed = played["seed"].as_u64().expect("seed");
    assert!(out.join(format!("seed-{seed}")).join("logs").is_dir());
    let failed = summary["seeds_failed"].as_u64().unwrap_or(0)
        + summary["seeds_errored"].as_u64().unwrap_or(0);
    assert_eq!(failed > 0, code == 1, "{pretty}");
    if failed > 0 {
        // The finding's file: what was found, not shrunk, and how to replay it.
        let file = played["file"].as_str().expect("the failing seed's file");
        let text = std::fs::read_to_string(out.join(file)).expect("the seed's file");
        assert!(text.contains("NOT shrunk"), "{text}");
        assert!(text.contains(&format!("splitbrain live {file}")), "{text}");
    }
    assert!(out.join("junit.xml").is_file());
    let page = std::fs::read_to_string(out.join("index.html")).expect("index.html");
    assert!(page.contains("No shrinking is done live"));
    let _ = std::fs::remove_dir_all(&out);
}

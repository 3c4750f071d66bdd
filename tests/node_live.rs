//! `splitbrain node` as real processes against a real 3-server ZooKeeper 3.8 ensemble (Debian's
//! `zookeeper` package, started by the live harness): two nodes of one pair share a fencing
//! store file, and the test follows their JSON event lines through priority election, a
//! relinquish hand-over and rejoin, kill -9 of the master, SIGSTOP of the master for longer than
//! the session timeout, and a graceful stop. Afterwards the fencing store must show that no
//! stale write was accepted. A second test plays the PostgreSQL path (`--database`, a scratch
//! cluster from Debian's `postgresql` package): the fence before `promoted`, announced writes,
//! kill -9 of the master, a broken health link, a monotonic clock jump past the lease, and the
//! database's own rows showing no stale write accepted.
//!
//! Every node process is killed when the test ends, also on panic ([`NodeProcess`]'s `Drop`),
//! and the ensemble with it ([`RealEnsemble`]'s `Drop`). Timings are printed (`--nocapture`).

use serde_json::Value;
use splitbrain::live::postgres::{PgCluster, PgInstall, RowOutcome, WriteRow, read_rows};
use splitbrain::live::{EnsembleConfig, RealEnsemble};
use splitbrain::node::fencing_store::{Outcome, Record, read_records};
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const PAIR: &str = "pair-1";
const ROOT: &str = "/splitbrain-node-test";
const SESSION_TIMEOUT: Duration = Duration::from_secs(3);
const TICK: Duration = Duration::from_millis(200);
/// The stated bound on a takeover after the master's process died, beyond the session
/// timeout: the server expires a session up to one tick late, then the standby's watch fires
/// and it claims (a few round trips), on a loaded 2-core machine.
const TAKEOVER_BOUND: Duration = Duration::from_secs(2);
/// For anything that should happen promptly on a healthy ensemble.
const PROMPTLY: Duration = Duration::from_secs(20);
const STDERR_LINES_KEPT: usize = 60;

/// The tests that run an ensemble take turns: on a 2-core machine two ensembles and four
/// nodes at once would stretch the takeover bounds.
static ENSEMBLE_TURN: Mutex<()> = Mutex::new(());

fn ensemble_turn() -> std::sync::MutexGuard<'static, ()> {
    ENSEMBLE_TURN
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A running `splitbrain node` process and everything it printed so far.
struct NodeProcess {
    name: String,
    child: Child,
    stdin: ChildStdin,
    events: Arc<Mutex<Vec<Value>>>,
    stderr: Arc<Mutex<VecDeque<String>>>,
}

impl NodeProcess {
    fn start(zk: &str, store: &Path, name: &str, priority: u32) -> NodeProcess {
        Self::start_with(zk, store, name, priority, &[])
    }

    fn start_with(
        zk: &str,
        store: &Path,
        name: &str,
        priority: u32,
        extra: &[&std::ffi::OsStr],
    ) -> NodeProcess {
        let mut args: Vec<&std::ffi::OsStr> = vec!["--store".as_ref(), store.as_os_str()];
        args.extend_from_slice(extra);
        Self::spawn(zk, name, priority, &args)
    }

    /// Starts a node with `args` after the common ones (which name no store).
    fn spawn(zk: &str, name: &str, priority: u32, args: &[&std::ffi::OsStr]) -> NodeProcess {
        let mut child = Command::new(env!("CARGO_BIN_EXE_splitbrain"))
            .args(["node", "--zk", zk, "--pair", PAIR, "--name", name])
            .args([
                "--priority",
                &priority.to_string(),
                "--policy",
                "pre-emptive",
            ])
            .args(["--session-timeout", "3s", "--root", ROOT])
            .args(["--write-interval", "100ms"])
            .args(["--credentials", "pair-1:pair secret"])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the splitbrain binary starts");
        let events = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(VecDeque::new()));
        let stdout = child.stdout.take().expect("piped stdout");
        let sink = events.clone();
        let who = name.to_string();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let value = serde_json::from_str(&line)
                    .unwrap_or_else(|_| panic!("{who} printed a line that is not JSON: {line}"));
                sink.lock().unwrap().push(value);
            }
        });
        let err = child.stderr.take().expect("piped stderr");
        let sink = stderr.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                let mut tail = sink.lock().unwrap();
                if tail.len() == STDERR_LINES_KEPT {
                    tail.pop_front();
                }
                tail.push_back(line);
            }
        });
        let stdin = child.stdin.take().expect("piped stdin");
        NodeProcess {
            name: name.to_string(),
            child,
            stdin,
            events,
            stderr,
        }
    }

    fn pid(&self) -> libc::pid_t {
        self.child.id() as libc::pid_t
    }

    fn signal(&self, signal: libc::c_int) {
        // SAFETY: kill(2) on our own child, which has not been reaped yet.
        let rc = unsafe { libc::kill(self.pid(), signal) };
        assert_eq!(rc, 0, "cannot signal {}", self.name);
    }

    fn command(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").expect("the node reads stdin");
        self.stdin.flush().expect("the node reads stdin");
    }

    fn events(&self) -> Vec<Value> {
        self.events.lock().unwrap().clone()
    }

    /// How many events were printed so far: later searches start here.
    fn mark(&self) -> usize {
        self.events.lock().unwrap().len()
    }

    /// The first `event` printed at or after `mark`.
    fn find(&self, mark: usize, event: &str) -> Option<Value> {
        self.events.lock().unwrap()[mark..]
            .iter()
            .find(|e| e["event"] == event)
            .cloned()
    }

    /// The token of the current grant, judged from the last role event printed.
    fn acting_token(&self) -> Option<i64> {
        let events = self.events.lock().unwrap();
        let last = events
            .iter()
            .rev()
            .find(|e| e["event"] == "promoted" || e["event"] == "demoted")?;
        (last["event"] == "promoted").then(|| last["token"].as_i64().expect("token"))
    }

    fn describe(&self) -> String {
        let events: Vec<String> = self
            .events()
            .iter()
            .filter(|e| !matches!(e["event"].as_str(), Some("write_accepted")))
            .map(|e| e.to_string())
            .collect();
        let stderr: Vec<String> = self.stderr.lock().unwrap().iter().cloned().collect();
        format!(
            "--- {} events (accepted writes left out):\n{}\n--- {} stderr (tail):\n{}",
            self.name,
            events.join("\n"),
            self.name,
            stderr.join("\n")
        )
    }
}

impl Drop for NodeProcess {
    fn drop(&mut self) {
        // SIGKILL ends a stopped process too; nothing of the node may outlive the test.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wall_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64
}

fn at_ms(event: &Value) -> i64 {
    event["at_ms"].as_i64().expect("at_ms")
}

fn token(event: &Value) -> i64 {
    event["token"].as_i64().expect("token")
}

/// Polls `check` until it returns a value, or fails with every node's events.
fn wait_for<T>(
    nodes: &[&NodeProcess],
    what: &str,
    within: Duration,
    check: impl Fn() -> Option<T>,
) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(found) = check() {
            return found;
        }
        if Instant::now() > deadline {
            let dumps: Vec<String> = nodes.iter().map(|n| n.describe()).collect();
            panic!("{what}: not within {within:?}\n{}", dumps.join("\n"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits for the node's process to exit and returns its exit code.
fn wait_for_exit(node: &mut NodeProcess) -> Option<i32> {
    let deadline = Instant::now() + PROMPTLY;
    loop {
        if let Some(status) = node.child.try_wait().expect("wait") {
            return status.code();
        }
        assert!(
            Instant::now() < deadline,
            "{} did not exit\n{}",
            node.name,
            node.describe()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A scratch directory for the fencing store, removed when the test passes.
struct ScratchDir(PathBuf);

impl ScratchDir {
    fn new() -> ScratchDir {
        Self::new_named("store")
    }

    fn new_named(name: &str) -> ScratchDir {
        let dir = std::env::temp_dir().join(format!(
            "splitbrain-node-live-{}-{name}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).expect("scratch directory");
        ScratchDir(dir)
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// Accepted tokens never go down in the store's order, and no write with the token of an
/// earlier grant was accepted after the first accepted write of a later grant.
fn assert_no_stale_write_accepted(records: &[Record]) {
    let mut newest: Option<&Record> = None;
    for record in records.iter().filter(|r| r.outcome == Outcome::Accepted) {
        if let Some(newest) = newest {
            assert!(
                record.token >= newest.token,
                "stale write accepted: {record:?} after {newest:?}"
            );
        }
        newest = Some(record);
    }
}

#[test]
fn node_processes_fail_over_hand_over_and_are_fenced_on_a_real_ensemble() {
    let _turn = ensemble_turn();
    let test_start = Instant::now();
    let config = EnsembleConfig {
        tick_time: TICK,
        ..EnsembleConfig::with_servers(3)
    };
    let ensemble = RealEnsemble::start(config)
        .unwrap_or_else(|err| panic!("cannot start a real ZooKeeper ensemble: {err}"));
    let zk = ensemble.connect_string();
    println!("ensemble of 3 started in {:?}", test_start.elapsed());
    let scratch = ScratchDir::new();
    let store = scratch.0.join("fencing-store.jsonl");

    // (1) Both start at once; the higher priority wins.
    let phase = Instant::now();
    let mut a = NodeProcess::start(&zk, &store, "node-a", 10);
    // node-b is healthy while its health file exists.
    let health_file = scratch.0.join("node-b.healthy");
    std::fs::write(&health_file, b"").expect("health file");
    let mut b = NodeProcess::start_with(
        &zk,
        &store,
        "node-b",
        5,
        &["--health-file".as_ref(), health_file.as_os_str()],
    );
    let first_token = wait_for(
        &[&a, &b],
        "node-a master, node-b standing by",
        PROMPTLY,
        || {
            let standby_ready = b.find(0, "session").is_some() && b.acting_token().is_none();
            let written = a.find(0, "write_accepted").is_some();
            a.acting_token().filter(|_| standby_ready && written)
        },
    );
    println!(
        "(1) node-a (priority 10) master over node-b (priority 5) after {:?}",
        phase.elapsed()
    );

    // (2) SIGUSR1 hands over: node-a stops (demoted) before node-b starts (promoted).
    let (mark_a, mark_b) = (a.mark(), b.mark());
    let phase = Instant::now();
    a.signal(libc::SIGUSR1);
    let (demoted, promoted) = wait_for(&[&a, &b], "relinquish hands over", PROMPTLY, || {
        Some((a.find(mark_a, "demoted")?, b.find(mark_b, "promoted")?))
    });
    println!("(2) relinquish hand-over in {:?}", phase.elapsed());
    assert_eq!(demoted["reason"], "relinquished");
    assert_eq!(token(&demoted), first_token);
    assert!(
        at_ms(&demoted) <= at_ms(&promoted),
        "{demoted} / {promoted}"
    );
    assert!(token(&promoted) > first_token, "{promoted}");
    wait_for(&[&a, &b], "relinquish completes", PROMPTLY, || {
        a.find(mark_a, "relinquished")
    });
    assert!(
        a.find(mark_a, "candidacy")
            .is_some_and(|c| c["standing"] == false)
    );

    // ... and `rejoin` on stdin makes node-a stand again and pre-empt node-b.
    let (mark_a, mark_b) = (a.mark(), b.mark());
    let phase = Instant::now();
    a.command("rejoin");
    let (demoted, promoted) = wait_for(&[&a, &b], "rejoin pre-empts", PROMPTLY, || {
        Some((b.find(mark_b, "demoted")?, a.find(mark_a, "promoted")?))
    });
    println!("(2) rejoin and pre-emption in {:?}", phase.elapsed());
    assert_eq!(demoted["reason"], "pre_empted");
    assert!(
        at_ms(&demoted) <= at_ms(&promoted),
        "{demoted} / {promoted}"
    );

    // `priority N` on stdin: node-b raised above node-a takes over, lowered hands back.
    let (mark_a, mark_b) = (a.mark(), b.mark());
    b.command("priority 20");
    let (demoted, promoted) = wait_for(&[&a, &b], "priority 20 takes over", PROMPTLY, || {
        Some((a.find(mark_a, "demoted")?, b.find(mark_b, "promoted")?))
    });
    assert_eq!(demoted["reason"], "pre_empted");
    assert!(
        at_ms(&demoted) <= at_ms(&promoted),
        "{demoted} / {promoted}"
    );
    let (mark_a, mark_b) = (a.mark(), b.mark());
    b.command("priority 5");
    let (demoted, promoted) = wait_for(&[&a, &b], "priority 5 hands back", PROMPTLY, || {
        Some((b.find(mark_b, "demoted")?, a.find(mark_a, "promoted")?))
    });
    assert_eq!(demoted["reason"], "pre_empted");
    assert!(
        at_ms(&demoted) <= at_ms(&promoted),
        "{demoted} / {promoted}"
    );
    println!("(2) priority changes handed over and back");
    let mark_a = a.mark();

    // (3) kill -9 of the master: node-b takes over once the session expired.
    wait_for(&[&a, &b], "node-a writes", PROMPTLY, || {
        a.find(mark_a, "write_accepted")
    });
    let mark_b = b.mark();
    let killed_at = wall_ms();
    a.signal(libc::SIGKILL);
    let promoted = wait_for(
        &[&a, &b],
        "node-b takes over from the killed master",
        PROMPTLY,
        || b.find(mark_b, "promoted"),
    );
    let takeover = Duration::from_millis((at_ms(&promoted) - killed_at).max(0) as u64);
    println!(
        "(3) kill -9 of the master: node-b promoted after {takeover:?} (session timeout {SESSION_TIMEOUT:?} + bound {TAKEOVER_BOUND:?})"
    );
    assert!(
        takeover <= SESSION_TIMEOUT + TAKEOVER_BOUND,
        "takeover took {takeover:?}\n{}",
        b.describe()
    );
    drop(a);

    // (4) A new node-a pre-empts node-b; then it is SIGSTOPped for longer than the session
    // timeout. node-b takes over; after SIGCONT node-a steps down, and the store never
    // accepted a write of its stale grant after node-b's first write.
    let phase = Instant::now();
    let mark_b = b.mark();
    let mut a = NodeProcess::start(&zk, &store, "node-a", 10);
    let stale_token = wait_for(
        &[&a, &b],
        "the restarted node-a is master",
        PROMPTLY,
        || {
            let written = a.find(0, "write_accepted")?;
            b.find(mark_b, "demoted")?;
            Some(token(&written)).filter(|t| a.acting_token() == Some(*t))
        },
    );
    println!(
        "(4) restarted node-a master again after {:?}",
        phase.elapsed()
    );
    let (mark_a, mark_b) = (a.mark(), b.mark());
    let stopped = Instant::now();
    a.signal(libc::SIGSTOP);
    let promoted = wait_for(
        &[&a, &b],
        "node-b takes over from the stopped master",
        PROMPTLY,
        || b.find(mark_b, "promoted"),
    );
    let new_token = token(&promoted);
    println!(
        "(4) SIGSTOP of the master: node-b promoted after {:?}",
        stopped.elapsed()
    );
    // Paused for longer than the session timeout whatever the takeover took.
    let pause = SESSION_TIMEOUT + Duration::from_secs(1);
    if let Some(rest) = pause.checked_sub(stopped.elapsed()) {
        std::thread::sleep(rest);
    }
    let resumed = Instant::now();
    a.signal(libc::SIGCONT);
    let demoted = wait_for(&[&a, &b], "the resumed node-a steps down", PROMPTLY, || {
        a.find(mark_a, "demoted")
    });
    println!(
        "(4) resumed after {:?} stopped; node-a demoted ({}) {:?} after SIGCONT",
        resumed - stopped,
        demoted["reason"],
        resumed.elapsed()
    );
    assert_eq!(token(&demoted), stale_token);
    assert!(new_token > stale_token);
    // (Waited for only now: had node-a been stopped while it held the store's lock, node-b's
    // writes would fail until SIGCONT.)
    wait_for(&[&a, &b], "node-b writes", PROMPTLY, || {
        b.find(mark_b, "write_accepted")
    });
    // node-a stands again with a new session and, having the higher priority, pre-empts
    // node-b for a fresh token above node-b's.
    let repromoted = wait_for(&[&a, &b], "node-a master again", PROMPTLY, || {
        a.find(mark_a, "promoted")
    });
    assert!(token(&repromoted) > new_token, "{repromoted}");

    let records = read_records(&store).expect("the store reads back");
    assert_no_stale_write_accepted(&records);
    let takeover_write = records
        .iter()
        .position(|r| r.node == "node-b" && r.token == new_token && r.outcome == Outcome::Accepted)
        .expect("node-b's takeover write is in the store");
    let stale_after: Vec<&Record> = records[takeover_write..]
        .iter()
        .filter(|r| r.node == "node-a" && r.token == stale_token)
        .collect();
    assert!(
        stale_after.iter().all(|r| r.outcome == Outcome::Rejected),
        "stale writes accepted: {stale_after:?}"
    );
    println!(
        "(4) store: {} records, {} accepted; node-a's stale grant tried {} write(s) after node-b's first, all rejected",
        records.len(),
        records
            .iter()
            .filter(|r| r.outcome == Outcome::Accepted)
            .count(),
        stale_after.len()
    );

    // A graceful stop (SIGTERM) hands over at once and exits 0, without waiting for expiry.
    let mark_b = b.mark();
    let phase = Instant::now();
    a.signal(libc::SIGTERM);
    wait_for(
        &[&a, &b],
        "node-b takes over from the stopping node-a",
        PROMPTLY,
        || b.find(mark_b, "promoted"),
    );
    println!(
        "SIGTERM of the master: node-b promoted after {:?}",
        phase.elapsed()
    );
    assert_eq!(
        wait_for_exit(&mut a),
        Some(0),
        "node-a exit status\n{}",
        a.describe()
    );
    wait_for(&[&a], "node-a says stopped", Duration::from_secs(2), || {
        a.find(0, "stopped")
    });
    // It stopped its master work (demoted, relinquished) before it ended.
    let stopping = a.events().iter().position(|e| e["event"] == "stopping");
    let last_demotion = a.events().iter().rposition(|e| e["event"] == "demoted");
    assert!(
        stopping.zip(last_demotion).is_some_and(|(s, d)| s < d),
        "{}",
        a.describe()
    );
    assert_eq!(a.events()[last_demotion.unwrap()]["reason"], "relinquished");

    // The health gate: removing node-b's health file withdraws it (demoted as unhealthy);
    // restoring it makes node-b stand again, and as the only candidate it is master again.
    let mark_b = b.mark();
    let phase = Instant::now();
    std::fs::remove_file(&health_file).expect("remove the health file");
    let demoted = wait_for(&[&b], "unhealthy node-b steps down", PROMPTLY, || {
        b.find(mark_b, "demoted")
    });
    assert_eq!(demoted["reason"], "unhealthy");
    assert!(
        b.find(mark_b, "health")
            .is_some_and(|h| h["healthy"] == false)
    );
    println!(
        "health file removed: node-b demoted after {:?}",
        phase.elapsed()
    );
    let mark_b = b.mark();
    std::fs::write(&health_file, b"").expect("health file");
    wait_for(&[&b], "healthy node-b is master again", PROMPTLY, || {
        b.find(mark_b, "promoted")
    });

    // `quit` on stdin stops like SIGTERM.
    b.command("quit");
    assert_eq!(
        wait_for_exit(&mut b),
        Some(0),
        "node-b exit status\n{}",
        b.describe()
    );
    wait_for(&[&b], "node-b says stopped", Duration::from_secs(2), || {
        b.find(0, "stopped")
    });
    let stopping = b.find(0, "stopping").expect("stopping before stopped");
    assert_eq!(stopping["cause"], "quit");
    assert_no_stale_write_accepted(&read_records(&store).expect("the store reads back"));
    println!("whole test: {:?}", test_start.elapsed());
    drop(ensemble);
}

#[test]
fn bad_node_arguments_exit_2_with_the_reason() {
    let run = |extra: &[&str]| {
        let mut args = vec![
            "node",
            "--zk",
            "127.0.0.1:1",
            "--pair",
            PAIR,
            "--name",
            "node-a",
            "--priority",
            "1",
            "--store",
            "/tmp/splitbrain-unused-store",
        ];
        // Each case replaces one valid setting, or adds one.
        for pair in extra.chunks(2) {
            if let Some(i) = args.iter().position(|a| *a == pair[0]) {
                args[i + 1] = pair[1];
            } else {
                args.extend_from_slice(pair);
            }
        }
        let out = Command::new(env!("CARGO_BIN_EXE_splitbrain"))
            .args(&args)
            .stdin(Stdio::null())
            .output()
            .expect("the binary runs");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    for (extra, expected) in [
        (&["--zk", "localhost"][..], "no port"),
        (&["--zk", "h:99999"][..], "port must be"),
        (&["--name", "a/b"][..], "not a valid name"),
        (&["--root", "splitbrain"][..], "root"),
        (&["--policy", "eager"][..], "pre-emptive"),
        (&["--priority", "high"][..], "invalid digit"),
        (&["--session-timeout", "5"][..], "no unit"),
        (&["--write-interval", "0s"][..], "write-interval"),
        (&["--credentials", "nopassword"][..], "user:password"),
        (
            &["--store", "/nonexistent-splitbrain-dir/store"][..],
            "fencing store",
        ),
        (&["--database", "postgres://127.0.0.1:1/db"][..], "--store"),
        (&["--health-period", "0s"][..], "health-period"),
        (&["--database-timeout", "0s"][..], "database-timeout"),
        (&["--election", "p9"][..], "unknown election code"),
        (&["--broken-health", "disk"][..], "database"),
        (&["--incarnation", "x"][..], "invalid digit"),
        (&["--incarnation", "4294967296"][..], "2^32"),
    ] {
        let (code, stderr) = run(extra);
        assert_eq!(code, Some(2), "{extra:?}: {stderr}");
        assert!(stderr.contains(expected), "{extra:?}: {stderr}");
    }
    let help = Command::new(env!("CARGO_BIN_EXE_splitbrain"))
        .args(["node", "--help"])
        .output()
        .expect("the binary runs");
    let help = String::from_utf8_lossy(&help.stdout);
    for promised in [
        "SIGUSR1",
        "SIGUSR2",
        "relinquish",
        "--health-file",
        "checked every second",
        "break-health database|bus",
        "heal-health",
        "clock jump",
        "monotonic",
        "clock offset",
        "clock reset",
        "--database",
        "--incarnation",
        "--election",
        "mono_ns",
        "write_attempt",
        "role (role: master|slave|withdrawn",
        "control_error",
    ] {
        assert!(help.contains(promised), "--help lacks {promised}");
    }
}

/// A port nobody listens on now (the kernel's pick for an ephemeral bind).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("an ephemeral port")
        .port()
}

/// The database's rows in insertion order: no write with a token older than the newest token
/// the database held (raised by fences and accepted writes) was accepted.
fn assert_no_stale_row_accepted(rows: &[WriteRow]) {
    let mut newest: Option<&WriteRow> = None;
    for row in rows {
        if row.outcome == RowOutcome::Accepted
            && let Some(newest) = newest
        {
            assert!(
                row.token >= newest.token,
                "stale write accepted: {row:?} after {newest:?}"
            );
        }
        if matches!(row.outcome, RowOutcome::Accepted | RowOutcome::Fence)
            && newest.is_none_or(|n| row.token > n.token)
        {
            newest = Some(row);
        }
    }
}

#[test]
fn node_processes_fence_and_write_through_a_real_postgresql() {
    let _turn = ensemble_turn();
    let test_start = Instant::now();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let scratch = ScratchDir::new_named("pg");
    // The server runs as `postgres` when the test runs as root: it must reach its directory.
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&scratch.0, std::fs::Permissions::from_mode(0o755))
            .expect("scratch permissions");
    }
    let install = PgInstall::locate().unwrap_or_else(|err| panic!("{err}"));
    let mut database = runtime
        .block_on(PgCluster::init(
            &install,
            &scratch.0.join("db"),
            free_port(),
        ))
        .unwrap_or_else(|err| panic!("{err}"));
    runtime
        .block_on(database.start())
        .unwrap_or_else(|err| panic!("{err}"));
    let url = database.url();
    println!("PostgreSQL started in {:?}", test_start.elapsed());
    let ensemble = RealEnsemble::start(EnsembleConfig {
        tick_time: TICK,
        ..EnsembleConfig::with_servers(3)
    })
    .unwrap_or_else(|err| panic!("cannot start a real ZooKeeper ensemble: {err}"));
    let zk = ensemble.connect_string();
    let with_database = |incarnation: u32| -> Vec<std::ffi::OsString> {
        [
            "--database",
            &url,
            "--incarnation",
            &incarnation.to_string(),
        ]
        .into_iter()
        .chain(["--health-period", "200ms"])
        .map(Into::into)
        .collect()
    };
    let start = |name: &str, priority: u32, incarnation: u32| {
        let args = with_database(incarnation);
        let args: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
        NodeProcess::spawn(&zk, name, priority, &args)
    };

    // node-a (priority 10) is master: it fenced the database before it said promoted, and
    // announces every write before its verdict.
    let phase = Instant::now();
    let a = start("node-a", 10, 1);
    let mut b = start("node-b", 5, 1);
    let first_token = wait_for(&[&a, &b], "node-a writes as master", PROMPTLY, || {
        let token = a.acting_token()?;
        a.find(0, "write_accepted")?;
        b.find(0, "role").filter(|r| r["role"] == "slave")?;
        Some(token)
    });
    println!("node-a master and writing after {:?}", phase.elapsed());
    let events = a.events();
    let position = |event: &str| events.iter().position(|e| e["event"] == event);
    assert!(
        position("granted") < position("promoted"),
        "{}",
        a.describe()
    );
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "role" && e["role"] == "master" && token(e) == first_token),
        "{}",
        a.describe()
    );
    assert!(events.iter().all(|e| e["mono_ns"].as_u64().is_some()));
    let accepted = a.find(0, "write_accepted").expect("accepted write");
    let write = accepted["write"].as_u64().expect("write id");
    assert_eq!(write >> 32, 1, "incarnation 1 is the high half: {accepted}");
    let attempt = events
        .iter()
        .position(|e| e["event"] == "write_attempt" && e["write"] == write)
        .expect("the write was announced");
    let answered = events
        .iter()
        .position(|e| e["event"] == "write_accepted" && e["write"] == write)
        .expect("its verdict");
    assert!(attempt < answered);
    assert!(events[attempt]["mono_ns"].as_u64() <= events[answered]["mono_ns"].as_u64());

    // kill -9 of the master: node-b takes over once the session expired, and fences first.
    let mark_b = b.mark();
    let killed_at = wall_ms();
    a.signal(libc::SIGKILL);
    let promoted = wait_for(&[&a, &b], "node-b takes over", PROMPTLY, || {
        b.find(mark_b, "promoted")
    });
    let takeover = Duration::from_millis((at_ms(&promoted) - killed_at).max(0) as u64);
    println!("kill -9 of the master: node-b promoted after {takeover:?}");
    assert!(
        takeover <= SESSION_TIMEOUT + TAKEOVER_BOUND,
        "takeover took {takeover:?}\n{}",
        b.describe()
    );
    let second_token = token(&promoted);
    assert!(second_token > first_token);
    wait_for(&[&a, &b], "node-b writes", PROMPTLY, || {
        b.find(mark_b, "write_accepted")
    });
    drop(a);

    // A broken database link makes node-b unhealthy at once: it steps down; healed, it is
    // master again (the only candidate).
    let mark_b = b.mark();
    let phase = Instant::now();
    b.command("break-health database");
    let demoted = wait_for(&[&b], "node-b steps down unhealthy", PROMPTLY, || {
        b.find(mark_b, "demoted")
    });
    assert_eq!(demoted["reason"], "unhealthy", "{}", b.describe());
    println!(
        "break-health database: node-b demoted after {:?}",
        phase.elapsed()
    );
    assert!(phase.elapsed() < Duration::from_secs(2), "{}", b.describe());
    let mark_b = b.mark();
    b.command("heal-health database");
    let promoted = wait_for(&[&b], "healed node-b is master again", PROMPTLY, || {
        b.find(mark_b, "promoted")
    });
    let third_token = token(&promoted);

    // A forward jump of node-b's monotonic clock past its lease: the lease ran out, and the
    // node notices at once.
    wait_for(&[&b], "node-b writes again", PROMPTLY, || {
        b.find(mark_b, "write_accepted")
    });
    let mark_b = b.mark();
    let phase = Instant::now();
    b.command("clock jump +30s monotonic");
    let demoted = wait_for(&[&b], "node-b's lease ran out", PROMPTLY, || {
        b.find(mark_b, "demoted")
    });
    println!(
        "clock jump +30s monotonic: node-b demoted ({}) after {:?}",
        demoted["reason"],
        phase.elapsed()
    );
    assert_eq!(token(&demoted), third_token);
    assert!(phase.elapsed() < Duration::from_secs(2), "{}", b.describe());
    assert!(b.find(mark_b, "clock").is_some());
    b.command("clock soon");
    wait_for(&[&b], "a bad command is answered", PROMPTLY, || {
        b.find(mark_b, "control_error")
    });

    // A restarted node-a (next incarnation) pre-empts node-b.
    let mark_b = b.mark();
    let mut a = start("node-a", 10, 2);
    let promoted = wait_for(&[&a, &b], "node-a master again", PROMPTLY, || {
        a.find(0, "write_accepted")?;
        b.find(mark_b, "demoted")?;
        a.find(0, "promoted")
    });
    assert!(token(&promoted) > third_token);
    let accepted = a.find(0, "write_accepted").expect("accepted write");
    assert_eq!(accepted["write"].as_u64().expect("write id") >> 32, 2);
    a.command("quit");
    b.command("quit");
    assert_eq!(wait_for_exit(&mut a), Some(0), "{}", a.describe());
    assert_eq!(wait_for_exit(&mut b), Some(0), "{}", b.describe());

    // The database's own rows: no stale write accepted, and every write a node saw accepted
    // is there as accepted, with the node's token.
    let rows = runtime
        .block_on(read_rows(database.addr()))
        .unwrap_or_else(|err| panic!("{err}"));
    assert_no_stale_row_accepted(&rows);
    for node in [&a, &b] {
        for event in node
            .events()
            .iter()
            .filter(|e| e["event"] == "write_accepted")
        {
            let write = event["write"].as_i64().expect("write id");
            assert!(
                rows.iter().any(|r| r.node == node.name
                    && r.write_id == write
                    && r.token == Some(token(event))
                    && r.outcome == RowOutcome::Accepted),
                "{event} has no accepted row"
            );
        }
    }
    println!(
        "database: {} rows, {} accepted, {} fences; whole test {:?}",
        rows.len(),
        rows.iter()
            .filter(|r| r.outcome == RowOutcome::Accepted)
            .count(),
        rows.iter()
            .filter(|r| r.outcome == RowOutcome::Fence)
            .count(),
        test_start.elapsed()
    );
    drop(ensemble);
    runtime.block_on(database.stop()).ok();
}

/// The known-bug variant P1 on real processes: a master that trusts its role alone (no lease
/// check) resumes from a SIGSTOP longer than its session and may write with its stale token;
/// the database, fenced by the new master, must refuse every such write.
#[test]
fn a_p1_master_resumed_from_a_pause_is_fenced_off_by_postgresql() {
    let _turn = ensemble_turn();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let scratch = ScratchDir::new_named("pg-p1");
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&scratch.0, std::fs::Permissions::from_mode(0o755))
            .expect("scratch permissions");
    }
    let install = PgInstall::locate().unwrap_or_else(|err| panic!("{err}"));
    let mut database = runtime
        .block_on(PgCluster::init(
            &install,
            &scratch.0.join("db"),
            free_port(),
        ))
        .unwrap_or_else(|err| panic!("{err}"));
    runtime
        .block_on(database.start())
        .unwrap_or_else(|err| panic!("{err}"));
    let url = database.url();
    let ensemble = RealEnsemble::start(EnsembleConfig {
        tick_time: TICK,
        ..EnsembleConfig::with_servers(3)
    })
    .unwrap_or_else(|err| panic!("cannot start a real ZooKeeper ensemble: {err}"));
    let zk = ensemble.connect_string();
    let start = |name: &str, priority: u32| {
        let args: Vec<&std::ffi::OsStr> = ["--database", url.as_str(), "--election", "p1"]
            .into_iter()
            .map(|a| a.as_ref())
            .collect();
        NodeProcess::spawn(&zk, name, priority, &args)
    };
    let a = start("node-a", 10);
    let b = start("node-b", 5);
    let stale_token = wait_for(&[&a, &b], "node-a writes as master", PROMPTLY, || {
        a.find(0, "write_accepted")?;
        b.find(0, "session")?;
        a.acting_token()
    });
    let (mark_a, mark_b) = (a.mark(), b.mark());
    let stopped = Instant::now();
    a.signal(libc::SIGSTOP);
    let promoted = wait_for(&[&a, &b], "node-b takes over", PROMPTLY, || {
        b.find(mark_b, "promoted")
    });
    let new_token = token(&promoted);
    if let Some(rest) = (SESSION_TIMEOUT + Duration::from_secs(1)).checked_sub(stopped.elapsed()) {
        std::thread::sleep(rest);
    }
    a.signal(libc::SIGCONT);
    wait_for(&[&a, &b], "the resumed node-a steps down", PROMPTLY, || {
        a.find(mark_a, "demoted")
    });
    wait_for(&[&a, &b], "node-b writes", PROMPTLY, || {
        b.find(mark_b, "write_accepted")
    });
    let stale_attempts: Vec<Value> = a.events()[mark_a..]
        .iter()
        .filter(|e| e["event"] == "write_attempt" && token(e) == stale_token)
        .cloned()
        .collect();
    let stale_accepted: Vec<Value> = a.events()[mark_a..]
        .iter()
        .filter(|e| e["event"] == "write_accepted" && token(e) == stale_token)
        .cloned()
        .collect();
    let rows = runtime
        .block_on(read_rows(database.addr()))
        .unwrap_or_else(|err| panic!("{err}"));
    assert_no_stale_row_accepted(&rows);
    let fence = rows
        .iter()
        .position(|r| {
            r.node == "node-b" && r.token == Some(new_token) && r.outcome == RowOutcome::Fence
        })
        .expect("node-b fenced before it acted");
    assert!(
        rows[fence..]
            .iter()
            .filter(|r| r.node == "node-a" && r.token == Some(stale_token))
            .all(|r| r.outcome == RowOutcome::RejectedStale),
        "{rows:?}"
    );
    println!(
        "P1: node-a attempted {} write(s) with its stale token from the SIGSTOP on ({} accepted, \
         sent before node-b's fence); the database refused every one after the fence",
        stale_attempts.len(),
        stale_accepted.len()
    );
    drop(ensemble);
}

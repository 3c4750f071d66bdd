//! The `splitbrain` command line.

use clap::{Args, Parser, Subcommand, ValueEnum};
use splitbrain::duration::parse_duration;
use splitbrain::election::{DigestCredentials, ElectionCode, Policy, Priority};
use splitbrain::node::{self, NodeConfig, NodeError, parse_credentials};
use splitbrain::scenario;
use splitbrain::sim::nemesis::NemesisOptions;
use splitbrain::sim::standard_world::{self, RunSummary, StandardWorldConfig};
use splitbrain::zk::client::ClientModel;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(
    name = "splitbrain",
    version,
    about = "Deterministic-simulation testbed for ZooKeeper-based master election"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the standard world (3-site ZooKeeper ensemble, client workload, random faults) for one seed.
    Sim(SimArgs),
    /// Measure the standard world's speed-up over real time (one core) and peak memory.
    Bench(BenchArgs),
    /// Run one node of a hot/cold pair against a real ZooKeeper ensemble, printing its events
    /// (role changes, sessions, guarded writes) as JSON lines on stdout.
    #[command(after_long_help = NODE_HELP)]
    Node(NodeArgs),
    /// Validate scenario files (or directories of them); exit 1 if any has an error.
    Check(CheckArgs),
    /// Run scenario files (or directories of them) and judge them; exit 1 if any fails.
    Run(RunArgs),
}

const NODE_HELP: &str = "\
Control:
  SIGUSR1, or `relinquish` on stdin   stop standing; a master hands over first
  SIGUSR2, or `rejoin` on stdin       stand for election again
  `priority N` on stdin               change this node's priority
  SIGTERM, SIGINT, or `quit` on stdin demote, leave the election, close the session, exit 0;
                                      a second one gives up on the clean stop (exit 1)
End of stdin ends the stdin commands only; the node keeps running.

Health: with --health-file PATH the node is healthy while PATH exists (checked every second);
an unhealthy node withdraws its candidacy, and stands again once PATH exists again. Without it
the node is always healthy.

Master work: while master, the node writes to the fencing store (--store) every
--write-interval, each write carrying its fencing token; the store rejects tokens older than the
newest one it accepted. Demotion stops the writes before it is acknowledged.

Output: one JSON object per line on stdout, e.g.
  {\"at_ms\":1764090000000,\"event\":\"promoted\",\"node\":\"node-a\",\"pair\":\"pair-1\",\"token\":4294967301}
Events: started, session, health, candidacy, promoted, demoted, write_accepted, write_rejected,
write_failed, relinquishing, relinquished, relinquish_ended, rejoining, priority, control_error,\nstopping, stopping_forced, stopped.
The selector's own log goes to stderr.

Exit status: 0 after a clean stop, 2 for bad arguments, 1 if the node failed.";

#[derive(Args)]
struct NodeArgs {
    /// The ZooKeeper ensemble: host:port[,host:port...].
    #[arg(long, value_name = "HOSTS")]
    zk: String,
    /// The pair this node belongs to.
    #[arg(long)]
    pair: String,
    /// This node's name, unique within the pair and stable across restarts.
    #[arg(long)]
    name: String,
    /// Priority: the higher number is preferred.
    #[arg(long)]
    priority: u32,
    /// pre-emptive: the best candidate always takes over; sticky: the master stays master.
    #[arg(long, value_enum, default_value_t = PolicyArg::PreEmptive)]
    policy: PolicyArg,
    /// Requested ZooKeeper session timeout (the ensemble may clamp it).
    #[arg(long, default_value = "6s", value_parser = parse_duration)]
    session_timeout: Duration,
    /// The election's root znode.
    #[arg(long, default_value = "/splitbrain")]
    root: String,
    /// The fencing-store file, shared by the nodes of the pair on this machine.
    #[arg(long, value_name = "PATH")]
    store: std::path::PathBuf,
    /// Healthy while this file exists (checked every second); always healthy without it.
    #[arg(long, value_name = "PATH")]
    health_file: Option<std::path::PathBuf>,
    /// How often the master writes to the fencing store.
    #[arg(long, default_value = "100ms", value_parser = parse_duration)]
    write_interval: Duration,
    /// Digest credentials of the pair, user:password; the pair's znodes get its ACL.
    #[arg(long, value_name = "USER:PASSWORD", value_parser = parse_credentials)]
    credentials: Option<DigestCredentials>,
}

#[derive(Clone, Copy, ValueEnum)]
enum PolicyArg {
    PreEmptive,
    Sticky,
}

#[derive(Args)]
struct RunArgs {
    /// Scenario files, or directories searched for *.toml (then a summary table follows).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Seed (default: the scenario's own, from [run] seed).
    #[arg(long)]
    seed: Option<u64>,
    /// Print one JSON object per scenario instead of the timeline.
    #[arg(long)]
    json: bool,
    /// Print the full event trace (true time, and each host's clock) before the timeline.
    #[arg(long)]
    trace: bool,
    /// Election code the nodes run: real, or a known-bug variant p1 … p8 (default: the
    /// scenario's own, from [run] election, else real).
    #[arg(long, value_parser = parse_election)]
    election: Option<ElectionCode>,
}

fn parse_election(text: &str) -> Result<ElectionCode, String> {
    let code: ElectionCode = text.parse().map_err(|e| format!("{e}"))?;
    if code.available() {
        Ok(code)
    } else {
        Err(format!(
            "election code '{code}' needs a build with the `testbed` feature"
        ))
    }
}

#[derive(Args)]
struct CheckArgs {
    /// Scenario files, or directories searched for *.toml.
    #[arg(required = true)]
    files: Vec<PathBuf>,
}

#[derive(Args)]
struct WorldArgs {
    /// Simulated time to run (e.g. 30s, 10m, 1h).
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    duration: Duration,
    /// Client library timing model.
    #[arg(long, value_enum, default_value_t = ModelArg::Rust)]
    client_model: ModelArg,
    /// Application hosts running the client workload.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(0..=64))]
    clients: u16,
    /// Requested session timeout.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    session_timeout: Duration,
    /// Run without faults.
    #[arg(long)]
    no_faults: bool,
}

#[derive(Args)]
struct SimArgs {
    /// Seed: the same seed gives the same run, on any machine.
    #[arg(long)]
    seed: u64,
    #[command(flatten)]
    world: WorldArgs,
    /// Print one JSON object instead of the readable summary.
    #[arg(long)]
    json: bool,
    /// Print the event trace (true simulated time, and each host's local clock).
    #[arg(long)]
    trace: bool,
}

#[derive(Args)]
struct BenchArgs {
    /// How many seeds to run, one after another.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    seeds: u64,
    /// First seed.
    #[arg(long, default_value_t = 1)]
    start: u64,
    #[command(flatten)]
    world: WorldArgs,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
    /// Run the scale world instead (scenarios/hundred-pairs-five-voters.toml: 100 pairs on 5
    /// voters, ten simulated minutes) once, with seed --start; exit 1 if it fails its checks.
    #[arg(long)]
    scale: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum ModelArg {
    /// zookeeper-client 0.11.2 (Rust) timings, with client-side expiry.
    Rust,
    /// The Java 3.8 client's timings, no client-side expiry.
    Java,
}

impl WorldArgs {
    fn config(&self, keep_trace: bool) -> StandardWorldConfig {
        StandardWorldConfig {
            duration: self.duration,
            session_timeout: self.session_timeout,
            client_model: match self.client_model {
                ModelArg::Rust => ClientModel::Rust,
                ModelArg::Java => ClientModel::Java,
            },
            clients: self.clients as usize,
            nemesis: self.no_faults.then(NemesisOptions::none),
            keep_trace,
            ..StandardWorldConfig::default()
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Sim(args) => sim(args),
        Command::Bench(args) => bench(args),
        Command::Node(args) => run_node(args),
        Command::Check(args) => check(args),
        Command::Run(args) => run(args),
    }
}

fn run_node(args: NodeArgs) -> ExitCode {
    let config = NodeConfig {
        zk: args.zk,
        pair: args.pair,
        name: args.name,
        priority: Priority(args.priority),
        policy: match args.policy {
            PolicyArg::PreEmptive => Policy::PreEmptive,
            PolicyArg::Sticky => Policy::Sticky,
        },
        session_timeout: args.session_timeout,
        root: args.root,
        store: args.store,
        health_file: args.health_file,
        write_interval: args.write_interval,
        credentials: args.credentials,
    };
    if let Err(err) = config.validate() {
        eprintln!("error: {err}");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the tokio runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(node::run(config));
    // The stdin reader sits in a blocking read that nothing will end: do not wait for it.
    runtime.shutdown_background();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err @ (NodeError::Config(_) | NodeError::Store(_))) => {
            eprintln!("error: {err}");
            ExitCode::from(2)
        }
        Err(err) => {
            eprintln!("error: {err}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: RunArgs) -> ExitCode {
    let files = match scenario_files(&args.files) {
        Ok(files) => files,
        Err(e) => {
            eprintln!("splitbrain run: {e}");
            return ExitCode::from(1);
        }
    };
    match files.as_slice() {
        [one] if !args.files[0].is_dir() => run_one(one, &args),
        _ => run_many(&files, &args),
    }
}

/// Runs one scenario in this process and prints its timeline (or JSON); 0 if it passed.
fn run_one(file: &Path, args: &RunArgs) -> ExitCode {
    use std::io::Write;
    let mut scenario = match scenario::load(file) {
        Ok(s) => s,
        Err(errors) => {
            for error in errors {
                eprintln!("{error}\n");
            }
            return ExitCode::from(1);
        }
    };
    let seed = args.seed.unwrap_or(scenario.seed);
    if let Some(code) = args.election {
        scenario.topology.election = code;
    }
    let report = match scenario::runner::run(&scenario, seed, args.trace) {
        Ok(report) => report,
        Err(e) => {
            eprintln!("{}: {e}", file.display());
            return ExitCode::from(1);
        }
    };
    let mut out = std::io::stdout().lock();
    let text = if args.json {
        format!("{}\n", run_json(&report))
    } else {
        let trace: String = report.trace.iter().map(|l| format!("{l}\n")).collect();
        format!("{trace}{}", report.timeline)
    };
    // A closed pipe (`| head`) ends the output quietly.
    let _ = out.write_all(text.as_bytes());
    if report.passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

/// Runs each scenario in a process of its own (so each replays exactly as it does alone,
/// see `scenario::runner::run`), then prints a summary table.
fn run_many(files: &[PathBuf], args: &RunArgs) -> ExitCode {
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => {
            eprintln!("splitbrain run: cannot find my own executable: {e}");
            return ExitCode::from(1);
        }
    };
    let mut rows = Vec::new();
    for file in files {
        let mut command = std::process::Command::new(&exe);
        command.arg("run").arg(file);
        if let Some(code) = args.election {
            command.arg("--election").arg(code.to_string());
        }
        if let Some(seed) = args.seed {
            command.arg("--seed").arg(seed.to_string());
        }
        if args.json {
            command.arg("--json");
        }
        if args.trace {
            command.arg("--trace");
        }
        let started = Instant::now();
        let passed = command.status().is_ok_and(|s| s.success());
        rows.push((file.display().to_string(), passed, started.elapsed()));
        if !args.json {
            println!();
        }
    }
    if !args.json {
        println!("{:<60} {:>7} {:>8}", "scenario", "verdict", "wall");
        for (file, passed, wall) in &rows {
            println!(
                "{file:<60} {:>7} {:>7.2}s",
                if *passed { "pass" } else { "FAIL" },
                wall.as_secs_f64()
            );
        }
    }
    let failed = rows.iter().filter(|(_, passed, _)| !passed).count();
    if !args.json {
        println!("{} of {} scenarios passed", rows.len() - failed, rows.len());
    }
    if failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn run_json(report: &scenario::runner::RunReport) -> serde_json::Value {
    serde_json::json!({
        "scenario": report.scenario,
        "seed": report.seed,
        "election": report.election,
        "verdict": if report.passed { "pass" } else { "fail" },
        "violations": report.violations,
        "expected_violations": report.expected_violations,
        "expectations": report.expectations,
        "step_errors": report.step_errors,
        "failovers": report.measures.failovers,
        "zk_leader_changes": report.measures.zk_leader_changes,
        "sessions_expired": report.sessions_expired,
        "writes_accepted": report.measures.writes_accepted,
        "writes_rejected": report.measures.writes_rejected,
        "writes_unavailable": report.measures.writes_unavailable,
        "trace_hash": report.trace_hash,
    })
}

/// The scenario files named: files as given, directories searched (sorted) for `*.toml`.
fn scenario_files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            files.extend(scenario::files_in(path).map_err(|e| format!("{}: {e}", path.display()))?);
        } else {
            files.push(path.clone());
        }
    }
    Ok(files)
}

fn check(args: CheckArgs) -> ExitCode {
    let files = match scenario_files(&args.files) {
        Ok(files) => files,
        Err(e) => {
            eprintln!("splitbrain check: {e}");
            return ExitCode::from(1);
        }
    };
    let mut failed = 0;
    for file in &files {
        match scenario::load(file) {
            Ok(s) => println!(
                "ok      {} ({} pairs, {} steps, {} expectations)",
                file.display(),
                s.topology.pairs.len(),
                s.steps.len(),
                s.expectations.len()
            ),
            Err(errors) => {
                failed += 1;
                for error in errors {
                    eprintln!("{error}\n");
                }
            }
        }
    }
    if failed > 0 {
        eprintln!("{failed} of {} scenario files have errors", files.len());
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn sim(args: SimArgs) -> ExitCode {
    let config = args.world.config(args.trace);
    let started = Instant::now();
    let summary = standard_world::run(args.seed, &config);
    let wall = started.elapsed().as_secs_f64();
    if args.trace {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        for line in &summary.trace {
            // A closed pipe (`| head`) ends the listing quietly.
            if writeln!(out, "{line}").is_err() {
                return ExitCode::SUCCESS;
            }
        }
    }
    if args.json {
        println!("{}", summary_json(&summary, wall));
    } else {
        print_summary(&summary, &config, wall);
    }
    ExitCode::SUCCESS
}

fn speedup(summary: &RunSummary, wall: f64) -> f64 {
    summary.sim_seconds / wall.max(1e-9)
}

fn summary_json(summary: &RunSummary, wall: f64) -> serde_json::Value {
    let mut value = serde_json::to_value(summary).expect("summary serialises");
    let object = value.as_object_mut().expect("summary is an object");
    object.insert("wall_seconds".into(), wall.into());
    object.insert("speedup".into(), speedup(summary, wall).round().into());
    value
}

fn print_summary(s: &RunSummary, config: &StandardWorldConfig, wall: f64) {
    println!(
        "splitbrain sim: seed {}, standard world (voters zk1/dc1 zk2/dc2 zk3/tiebreaker, {} clients, {:?} client model)",
        s.seed, config.clients, config.client_model
    );
    let kinds = if s.fault_kinds.is_empty() {
        "none".to_string()
    } else {
        s.fault_kinds.join(", ")
    };
    println!(
        "  nemesis            {kinds} ({} faults, {} not applicable when due)",
        s.faults, s.faults_refused
    );
    println!("  simulated          {:.3} s", s.sim_seconds);
    println!(
        "  wall               {:.3} s (speed-up {:.0}x)",
        wall,
        speedup(s, wall)
    );
    println!(
        "  events             {} ({} packets delivered)",
        s.events, s.packets
    );
    println!("  zk leader changes  {}", s.zk_leader_changes);
    println!(
        "  sessions           {} created, {} expired",
        s.sessions_created, s.sessions_expired
    );
    println!(
        "  operations         {} ok, {} failed",
        s.ops_ok, s.ops_failed
    );
    println!("  trace hash         {}", s.trace_hash);
}

/// Peak resident memory of this process, from the kernel (VmHWM), in bytes.
fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

fn bench(args: BenchArgs) -> ExitCode {
    if args.scale {
        return splitbrain::bench::scale::main(args.start, args.json);
    }
    let config = args.world.config(false);
    let mut rows = Vec::new();
    for seed in args.start..args.start + args.seeds {
        let started = Instant::now();
        let summary = standard_world::run(seed, &config);
        let wall = started.elapsed().as_secs_f64();
        if !args.json {
            println!(
                "seed {seed:>6}: {:>8.1} s simulated in {:>7.3} s wall, speed-up {:>8.0}x, {} events, {} packets",
                summary.sim_seconds,
                wall,
                speedup(&summary, wall),
                summary.events,
                summary.packets
            );
        }
        rows.push((summary, wall));
    }
    let sim_total: f64 = rows.iter().map(|(s, _)| s.sim_seconds).sum();
    let wall_total: f64 = rows.iter().map(|(_, w)| w).sum();
    let worst = rows
        .iter()
        .map(|(s, w)| speedup(s, *w))
        .fold(f64::INFINITY, f64::min);
    let peak = peak_rss_bytes();
    let overall = sim_total / wall_total.max(1e-9);
    if args.json {
        let value = serde_json::json!({
            "seeds": args.seeds,
            "sim_seconds_per_seed": config.duration.as_secs_f64(),
            "wall_seconds_total": wall_total,
            "speedup": overall.round(),
            "speedup_worst_seed": worst.round(),
            "peak_rss_bytes": peak,
        });
        println!("{value}");
    } else {
        println!("standard world, {} seeds on one core:", args.seeds);
        println!(
            "  speed-up  {overall:.0}x overall, {worst:.0}x on the slowest seed (target >= 20000x)"
        );
        match peak {
            Some(bytes) => println!(
                "  peak RSS  {:.1} MiB (target <= 64 MiB)",
                bytes as f64 / (1024.0 * 1024.0)
            ),
            None => println!("  peak RSS  unknown (no /proc/self/status)"),
        }
    }
    ExitCode::SUCCESS
}

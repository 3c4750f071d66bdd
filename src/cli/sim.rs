//! `splitbrain sim`: the standard world for one seed.

use clap::{Args, ValueEnum};
use splitbrain::duration::parse_duration;
use splitbrain::sim::nemesis::NemesisOptions;
use splitbrain::sim::standard_world::{self, RunSummary, StandardWorldConfig};
use splitbrain::zk::client::ClientModel;
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[derive(Args)]
pub struct WorldArgs {
    /// Simulated time to run (e.g. 30s, 10m, 1h).
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    pub duration: Duration,
    /// Client library timing model.
    #[arg(long, value_enum, default_value_t = ModelArg::Rust)]
    pub client_model: ModelArg,
    /// Application hosts running the client workload.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(0..=64))]
    pub clients: u16,
    /// Requested session timeout.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub session_timeout: Duration,
    /// Run without faults.
    #[arg(long)]
    pub no_faults: bool,
}

#[derive(Args)]
pub struct SimArgs {
    /// Seed: the same seed gives the same run, on any machine.
    #[arg(long)]
    pub seed: u64,
    #[command(flatten)]
    pub world: WorldArgs,
    /// Print one JSON object instead of the readable summary.
    #[arg(long)]
    pub json: bool,
    /// Print the event trace (true simulated time, and each host's local clock).
    #[arg(long)]
    pub trace: bool,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum ModelArg {
    /// zookeeper-client 0.11.2 (Rust) timings, with client-side expiry.
    Rust,
    /// The Java 3.8 client's timings, no client-side expiry.
    Java,
}

impl WorldArgs {
    pub fn config(&self, keep_trace: bool) -> StandardWorldConfig {
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

pub fn sim(args: SimArgs) -> ExitCode {
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

pub fn speedup(summary: &RunSummary, wall: f64) -> f64 {
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

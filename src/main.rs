//! The `splitbrain` command line: parses the arguments and hands each command to its module
//! under `cli/`.

mod cli;

// The simulator allocates and frees a message, a waker or a record for nearly every simulated
// event; glibc's allocator spent a fifth of the scale world's instructions on that.
#[global_allocator]
static ALLOCATOR: cli::alloc::Mimalloc = cli::alloc::Mimalloc;

use clap::{Parser, Subcommand};
use cli::node::NODE_HELP;
use std::process::ExitCode;

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
    Sim(cli::sim::SimArgs),
    /// Measure the standard world's speed-up over real time (one core) and peak memory.
    Bench(cli::bench::BenchArgs),
    /// Run one node of a hot/cold pair against a real ZooKeeper ensemble, printing its events
    /// (role changes, sessions, guarded writes) as JSON lines on stdout.
    #[command(after_long_help = NODE_HELP)]
    Node(cli::node::NodeArgs),
    /// Validate scenario files (or directories of them); exit 1 if any has an error.
    Check(cli::check::CheckArgs),
    /// Run scenario files (or directories of them) and judge them; exit 1 if any fails.
    Run(cli::run::RunArgs),
    /// Play scenario files on real processes (ZooKeeper, `splitbrain node`, PostgreSQL) with
    /// real faults, judged like `run`; exit 1 if a run fails, 2 if live mode refuses a file.
    #[command(after_long_help = cli::live::LIVE_HELP)]
    Live(cli::live::LiveArgs),
    /// Play a scenario file live several times and in the simulator over several seeds, and
    /// print both side by side, flagging measures that differ; exit 1 if anything is flagged.
    #[command(after_long_help = cli::compare::compare_help())]
    Compare(cli::compare::CompareArgs),
    /// Explore many seeds in parallel, each a random world and fault schedule; shrink what fails
    /// to a scenario file and write a report (summary.json, junit.xml, index.html).
    #[command(after_long_help = cli::chaos::CHAOS_HELP)]
    Chaos(cli::chaos::ChaosArgs),
    /// Run chaos on one team's deployment (a scenario file's world) and say, per invariant,
    /// whether it held, naming the configuration choice behind each failure; exit 1 if not.
    #[command(after_long_help = cli::audit::AUDIT_HELP)]
    Audit(cli::audit::AuditArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Sim(args) => cli::sim::sim(args),
        Command::Bench(args) => cli::bench::bench(args),
        Command::Node(args) => cli::node::run_node(args),
        Command::Check(args) => cli::check::check(args),
        Command::Run(args) => cli::run::run(args),
        Command::Live(args) => cli::live::live(args),
        Command::Compare(args) => cli::compare::compare(args),
        Command::Chaos(args) => cli::chaos::chaos(args),
        Command::Audit(args) => cli::audit::audit(args),
    }
}

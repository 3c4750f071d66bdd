//! `splitbrain node`: one node of a hot/cold pair against a real ZooKeeper ensemble.

use clap::{Args, ValueEnum};
use splitbrain::duration::parse_duration;
use splitbrain::election::{DigestCredentials, Policy, Priority};
use splitbrain::node::{self, NodeConfig, NodeError, parse_credentials};
use std::process::ExitCode;
use std::time::Duration;

pub const NODE_HELP: &str = "\
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
write_failed, write_held, relinquishing, relinquished, relinquish_ended, rejoining, priority, control_error,\nstopping, stopping_forced, stopped.
The selector's own log goes to stderr.

Exit status: 0 after a clean stop, 2 for bad arguments, 1 if the node failed.";

#[derive(Args)]
pub struct NodeArgs {
    /// The ZooKeeper ensemble: host:port[,host:port...].
    #[arg(long, value_name = "HOSTS")]
    pub zk: String,
    /// The pair this node belongs to.
    #[arg(long)]
    pub pair: String,
    /// This node's name, unique within the pair and stable across restarts.
    #[arg(long)]
    pub name: String,
    /// Priority: the higher number is preferred.
    #[arg(long)]
    pub priority: u32,
    /// pre-emptive: the best candidate always takes over; sticky: the master stays master.
    #[arg(long, value_enum, default_value_t = PolicyArg::PreEmptive)]
    pub policy: PolicyArg,
    /// Requested ZooKeeper session timeout (the ensemble may clamp it).
    #[arg(long, default_value = "6s", value_parser = parse_duration)]
    pub session_timeout: Duration,
    /// The election's root znode.
    #[arg(long, default_value = "/splitbrain")]
    pub root: String,
    /// The fencing-store file, shared by the nodes of the pair on this machine.
    #[arg(long, value_name = "PATH")]
    pub store: std::path::PathBuf,
    /// Healthy while this file exists (checked every second); always healthy without it.
    #[arg(long, value_name = "PATH")]
    pub health_file: Option<std::path::PathBuf>,
    /// How often the master writes to the fencing store.
    #[arg(long, default_value = "100ms", value_parser = parse_duration)]
    pub write_interval: Duration,
    /// Digest credentials of the pair, user:password; the pair's znodes get its ACL.
    #[arg(long, value_name = "USER:PASSWORD", value_parser = parse_credentials)]
    pub credentials: Option<DigestCredentials>,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum PolicyArg {
    PreEmptive,
    Sticky,
}

pub fn run_node(args: NodeArgs) -> ExitCode {
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

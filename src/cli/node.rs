//! `splitbrain node`: one node of a hot/cold pair against a real ZooKeeper ensemble.

use clap::{Args, ValueEnum};
use splitbrain::duration::parse_duration;
use splitbrain::election::{DigestCredentials, ElectionCode, Policy, Priority};
use splitbrain::node::control::Link;
use splitbrain::node::{self, NodeConfig, NodeError, parse_credentials};
use std::process::ExitCode;
use std::time::Duration;

pub const NODE_HELP: &str = "\
Control (stdin, one command per line; a bad one is answered with a control_error event):
  SIGUSR1, or `relinquish`           stop standing; a master hands over first
  SIGUSR2, or `rejoin`               stand for election again
  `priority N`                       change this node's priority
  `break-health database|bus`        count that health link as broken (unhealthy at once)
  `heal-health database|bus`         stop counting it as broken
  `clock jump ±DURATION`             step the node's wall clock, e.g. `clock jump -90s`
  `clock jump +DURATION monotonic`   step its monotonic clock forward (the wall clock with it):
                                     a lease the jump ran out ends at once
  `clock offset MS`                  set the wall clock's offset (ms, or a signed duration)
  `clock drift RATE`                 run both clocks at RATE x real time (1.0 = true speed)
  `clock reset`                      rate 1, no offset (the monotonic clock never goes back)
  SIGTERM, SIGINT, or `quit`         demote, leave the election, close the session, exit 0;
                                     a second one gives up on the clean stop (exit 1)
End of stdin ends the stdin commands only; the node keeps running. The clock commands act on
the node's own clocks (its election timers, leases and writes); the ZooKeeper client library
keeps the machine's time.

Health: checked every --health-period (default: checked every second) and at once when a link
is broken or healed. Unhealthy while a link is broken; with --database, once the database
failed every probe for --database-grace (default 5s; a probe is skipped when one of the
master's own writes was answered within the period); with --health-file PATH, while PATH does
not exist. An unhealthy node withdraws its candidacy, and stands again once healthy.

Master work: on a grant the node fences the store with the grant's token and reports
`promoted` once the store took it; then, while the grant's lease holds, it writes every
--write-interval, each write carrying the token. The store is PostgreSQL (--database, which
checks the token in the write's own transaction) or a file shared by the nodes on one machine
(--store); it rejects tokens older than the newest it took, and a rejection ends the grant's
writing. Write ids are (--incarnation << 32) | sequence. Demotion stops the writes before it is
acknowledged. --election p1..p8|f1 runs a known-bug variant (testbed builds).

Output: one JSON object per line on stdout, each with at_ms (the node's wall clock), mono_ns
(the machine's CLOCK_MONOTONIC, for one timeline across processes), node, pair and event, e.g.
  {\"at_ms\":1764090000000,\"event\":\"promoted\",\"mono_ns\":5123000000,\"node\":\"node-a\",\"pair\":\"pair-1\",\"token\":4294967301}
Events (fields):
  hello (protocol, program, version, supports: the node protocol's first line);
  started (zk, root, priority, policy, session_timeout_ms, store|database, election,
    incarnation, pid); session (state, session, timeout_ms); health (healthy, cause);
  health_link (link, broken); candidacy (standing); role (role: master|slave|withdrawn,
    token); granted (token); promoted (token); fence_rejected (token, newest);
  fence_failed (token, error); write_attempt (token, write); write_accepted and
  write_rejected (token, write, newest); write_failed (token, write, error); write_held
  (token); queued_writes_committed (token, writes; P7 only); demoted (token, reason: a grant
  the node acted on); grant_ended (token, reason: a grant it never acted on); relinquishing;
  relinquished; relinquish_ended (error); rejoining; priority (priority); clock (command,
  mono_ms, mono_ahead_ms, wall_ms, wall_offset_ms, rate); control_error (command, error);
  stopping (cause); stopping_forced (cause); stopped.
The selector's own log goes to stderr.

Node protocol (docs/node-protocol.md): every setting can come from the environment instead
of a flag: SPLITBRAIN_ZK, SPLITBRAIN_ZK_ROOT, SPLITBRAIN_ZK_AUTH, SPLITBRAIN_PAIR,
SPLITBRAIN_NODE, SPLITBRAIN_PRIORITY, SPLITBRAIN_POLICY, SPLITBRAIN_SESSION_TIMEOUT_MS,
SPLITBRAIN_DATABASE, SPLITBRAIN_WRITE_INTERVAL_MS, SPLITBRAIN_HEALTH_PERIOD_MS,
SPLITBRAIN_INCARNATION, SPLITBRAIN_RELINQUISHED, SPLITBRAIN_BROKEN_HEALTH; the _MS ones win
over their flags. Live mode starts every node program that way.

Exit status: 0 after a clean stop, 2 for bad arguments, 1 if the node failed.";

#[derive(Args)]
pub struct NodeArgs {
    /// The ZooKeeper ensemble: host:port[,host:port...].
    #[arg(long, value_name = "HOSTS", env = "SPLITBRAIN_ZK")]
    pub zk: String,
    /// The pair this node belongs to.
    #[arg(long, env = "SPLITBRAIN_PAIR")]
    pub pair: String,
    /// This node's name, unique within the pair and stable across restarts.
    #[arg(long, env = "SPLITBRAIN_NODE")]
    pub name: String,
    /// Priority: the higher number is preferred.
    #[arg(long, env = "SPLITBRAIN_PRIORITY")]
    pub priority: u32,
    /// pre-emptive: the best candidate always takes over; sticky: the master stays master.
    #[arg(long, value_enum, default_value_t = PolicyArg::PreEmptive, env = "SPLITBRAIN_POLICY")]
    pub policy: PolicyArg,
    /// Requested ZooKeeper session timeout (the ensemble may clamp it).
    #[arg(long, default_value = "6s", value_parser = parse_duration)]
    pub session_timeout: Duration,
    /// The election's root znode.
    #[arg(long, default_value = "/splitbrain", env = "SPLITBRAIN_ZK_ROOT")]
    pub root: String,
    /// The fencing-store file, shared by the nodes of the pair on this machine (or --database).
    #[arg(long, value_name = "PATH", required_unless_present = "database")]
    pub store: Option<std::path::PathBuf>,
    /// Healthy only while this file exists (checked every health period).
    #[arg(long, value_name = "PATH")]
    pub health_file: Option<std::path::PathBuf>,
    /// How often the master writes to the fencing store.
    #[arg(long, default_value = "100ms", value_parser = parse_duration)]
    pub write_interval: Duration,
    /// Digest credentials of the pair, user:password; the pair's znodes get its ACL.
    #[arg(long, value_name = "USER:PASSWORD", value_parser = parse_credentials, env = "SPLITBRAIN_ZK_AUTH")]
    pub credentials: Option<DigestCredentials>,
    /// The database, health and live-mode settings (boxed: the subcommand enum holds every
    /// command's arguments inline, and these would make it as large as this command's).
    #[command(flatten)]
    pub more: Box<MoreNodeArgs>,
}

#[derive(Args)]
pub struct MoreNodeArgs {
    /// The pair's PostgreSQL hosts, in order of preference (or --store).
    #[arg(
        long,
        value_name = "postgres://...[,postgres://...]",
        value_delimiter = ',',
        conflicts_with = "store",
        env = "SPLITBRAIN_DATABASE"
    )]
    pub database: Vec<String>,
    /// How long one database call (fence, write, probe) may take.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub database_timeout: Duration,
    /// How long the database may fail every probe before the node counts as unhealthy.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub database_grace: Duration,
    /// How often the health check probes.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub health_period: Duration,
    /// The election code: real, or a known-bug variant p1..p8, f1 (testbed builds).
    #[arg(long, default_value = "real")]
    pub election: ElectionCode,
    /// This start's number, the high half of every write id (unique ids across restarts).
    #[arg(long, default_value_t = 0, env = "SPLITBRAIN_INCARNATION")]
    pub incarnation: u64,
    /// Start relinquished: do not stand until `rejoin`.
    #[arg(long, env = "SPLITBRAIN_RELINQUISHED")]
    pub relinquished: bool,
    /// A health link broken from the start (repeatable, or comma-separated).
    #[arg(
        long,
        value_enum,
        value_name = "LINK",
        value_delimiter = ',',
        env = "SPLITBRAIN_BROKEN_HEALTH"
    )]
    pub broken_health: Vec<LinkArg>,
    /// The node-protocol settings given in milliseconds (docs/node-protocol.md): they win over
    /// their flags.
    #[command(flatten)]
    pub protocol: ProtocolMillis,
}

/// The node protocol's environment variables that carry milliseconds; the flags take
/// durations with units, so these have hidden flags of their own.
#[derive(Args)]
pub struct ProtocolMillis {
    /// The node-protocol version the supervisor speaks (only 1 is known).
    #[arg(long, hide = true, env = "SPLITBRAIN_PROTOCOL")]
    pub protocol_version: Option<u32>,
    #[arg(long, hide = true, env = "SPLITBRAIN_SESSION_TIMEOUT_MS")]
    pub session_timeout_ms: Option<u64>,
    #[arg(long, hide = true, env = "SPLITBRAIN_WRITE_INTERVAL_MS")]
    pub write_interval_ms: Option<u64>,
    #[arg(long, hide = true, env = "SPLITBRAIN_HEALTH_PERIOD_MS")]
    pub health_period_ms: Option<u64>,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum LinkArg {
    Database,
    Bus,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum PolicyArg {
    PreEmptive,
    Sticky,
}

pub fn run_node(args: NodeArgs) -> ExitCode {
    let millis = &args.more.protocol;
    if let Some(version) = millis.protocol_version
        && version != node::PROTOCOL_VERSION
    {
        eprintln!(
            "error: SPLITBRAIN_PROTOCOL={version}: this node speaks node protocol version {}",
            node::PROTOCOL_VERSION
        );
        return ExitCode::from(2);
    }
    let ms = |given: Option<u64>, default: Duration| given.map_or(default, Duration::from_millis);
    let config = NodeConfig {
        zk: args.zk,
        pair: args.pair,
        name: args.name,
        priority: Priority(args.priority),
        policy: match args.policy {
            PolicyArg::PreEmptive => Policy::PreEmptive,
            PolicyArg::Sticky => Policy::Sticky,
        },
        session_timeout: ms(millis.session_timeout_ms, args.session_timeout),
        root: args.root,
        store: args.store,
        database: args.more.database,
        database_timeout: args.more.database_timeout,
        database_grace: args.more.database_grace,
        health_file: args.health_file,
        health_period: ms(millis.health_period_ms, args.more.health_period),
        write_interval: ms(millis.write_interval_ms, args.write_interval),
        credentials: args.credentials,
        election: args.more.election,
        incarnation: args.more.incarnation,
        relinquished: args.more.relinquished,
        broken_health: args
            .more
            .broken_health
            .iter()
            .map(|link| match link {
                LinkArg::Database => Link::Database,
                LinkArg::Bus => Link::Bus,
            })
            .collect(),
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

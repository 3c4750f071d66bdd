//! The standard world: a three-site ZooKeeper ensemble (one voter each in dc1, dc2 and the
//! tie-breaker site) with realistic timings, application hosts running a client workload, and
//! a nemesis schedule drawn from the seed. `splitbrain sim` runs it; the determinism test and
//! the benchmark use it too.

use crate::sim::clock::{sleep_until_true, true_now};
use crate::sim::ensemble::{add_ensemble, client_addrs};
use crate::sim::fault::FaultApplier;
use crate::sim::nemesis::{self, NemesisOptions, NemesisTargets};
use crate::sim::net::{HostId, NetConfig};
use crate::sim::topology::ZkSpec;
use crate::sim::trace::TraceLine;
use crate::sim::workload::{WorkloadConfig, workload_process};
use crate::sim::world::World;
use crate::zk::client::{ClientConfig, ClientModel};
use std::time::Duration;

/// Everything that defines a standard-world run besides the seed.
#[derive(Clone, Debug)]
pub struct StandardWorldConfig {
    pub duration: Duration,
    pub tick_time: Duration,
    pub init_limit: u32,
    pub sync_limit: u32,
    pub session_timeout: Duration,
    pub client_model: ClientModel,
    /// Application hosts, spread over dc1 and dc2.
    pub clients: usize,
    /// `None`: draw the fault options from the seed (swarm testing).
    pub nemesis: Option<NemesisOptions>,
    /// Keep trace lines (for `--trace`); the hash is computed either way.
    pub keep_trace: bool,
}

impl Default for StandardWorldConfig {
    fn default() -> Self {
        StandardWorldConfig {
            duration: Duration::from_secs(600),
            tick_time: Duration::from_secs(2),
            init_limit: 10,
            sync_limit: 5,
            session_timeout: Duration::from_secs(10),
            client_model: ClientModel::Rust,
            clients: 4,
            nemesis: None,
            keep_trace: false,
        }
    }
}

/// What a run measured (true simulated time throughout).
#[derive(Clone, Debug, serde::Serialize)]
pub struct RunSummary {
    pub seed: u64,
    pub sim_seconds: f64,
    pub events: u64,
    pub packets: u64,
    pub faults: usize,
    pub faults_refused: usize,
    pub fault_kinds: Vec<&'static str>,
    pub zk_leader_changes: u64,
    pub sessions_created: u64,
    pub sessions_expired: u64,
    pub ops_ok: u64,
    pub ops_failed: u64,
    /// FNV-1a 64 of the full event trace, as 16 hex digits.
    pub trace_hash: String,
    #[serde(skip)]
    pub trace: Vec<TraceLine>,
}

const SITES: [&str; 3] = ["dc1", "dc2", "tiebreaker"];

/// Runs the standard world for `seed`. Must be called outside any simulation: it creates its
/// own.
pub fn run(seed: u64, config: &StandardWorldConfig) -> RunSummary {
    crate::sim::run_seeded(seed, || run_inside(seed, config.clone()))
}

async fn run_inside(seed: u64, config: StandardWorldConfig) -> RunSummary {
    let world = World::new(NetConfig::default(), config.keep_trace);
    let zk = ZkSpec::voters_in(
        &SITES,
        config.tick_time,
        config.init_limit,
        config.sync_limit,
        config.session_timeout,
    );
    let servers = add_ensemble(&world, &zk);
    let server_addrs = client_addrs(&servers);
    let mut client_names = Vec::new();
    for i in 0..config.clients {
        let name = format!("app{}", i + 1);
        let host = world.add_host(&name, SITES[i % 2]);
        let client = ClientConfig::new(server_addrs.clone())
            .with_session_timeout(config.session_timeout)
            .with_model(config.client_model);
        world.set_process(
            host,
            workload_process(WorkloadConfig {
                client,
                min_think: Duration::from_millis(500),
                max_think: Duration::from_millis(3_000),
            }),
        );
        client_names.push(name);
    }
    for h in 0..world.host_count() {
        world.start(HostId(h as u32)).expect("fresh hosts start");
    }

    let options = config
        .nemesis
        .clone()
        .unwrap_or_else(|| NemesisOptions::swarm(&mut madsim::rand::thread_rng()));
    let targets = NemesisTargets {
        zk_servers: (1..=servers.len()).map(|i| format!("zk{i}")).collect(),
        others: client_names,
        sites: SITES.iter().map(|s| s.to_string()).collect(),
    };
    let schedule = nemesis::schedule(
        &options,
        &targets,
        config.duration,
        &mut madsim::rand::thread_rng(),
    );
    world.trace_world(
        "nemesis",
        format_args!(
            "kinds {:?}, {} faults scheduled",
            options.enabled(),
            schedule.len()
        ),
    );

    let mut applier = FaultApplier::new();
    let mut refused = 0;
    for step in &schedule {
        sleep_until_true(step.at).await;
        if let Err(e) = applier.apply(&world, &step.fault) {
            // A fault that cannot apply now (e.g. "crash the ZK leader" while none leads) is
            // part of the run, not an error of it.
            world.trace_world("nemesis", format_args!("skipped '{}': {e}", step.fault));
            refused += 1;
        }
    }
    sleep_until_true(config.duration).await;

    let summary = RunSummary {
        seed,
        sim_seconds: true_now().as_secs_f64(),
        events: world.trace_events(),
        packets: world.packets_delivered(),
        faults: schedule.len(),
        faults_refused: refused,
        fault_kinds: options.enabled(),
        zk_leader_changes: world.metric("zk.leader_changes"),
        sessions_created: world.metric("zk.sessions_created"),
        sessions_expired: world.metric("zk.sessions_expired"),
        ops_ok: world.metric("client.ops_ok"),
        ops_failed: world.metric("client.ops_failed"),
        trace_hash: format!("{:016x}", world.trace_hash()),
        trace: world.take_trace_lines(),
    };
    world.shutdown();
    summary
}

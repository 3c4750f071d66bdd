//! A live world: the scenario's topology as real processes on this machine — one ZooKeeper
//! server per voter and observer, one `splitbrain node` per node, one PostgreSQL cluster per
//! database host — joined by the run's relays (one per directed host pair and target port, so
//! every link carries the file's latency and every fault cuts real traffic), and the
//! operations steps perform on them.

use super::databases::Databases;
use super::events::Hello;
use super::history::{Recorder, RunClock};
use super::links::LinkModel;
use super::nodes::{NodeFindings, NodeHost, NodeLaunch};
use super::registry::Registry;
use super::zk_roles::{RolePoller, Running, ask_role};
use crate::election::Policy;
use crate::live::ensemble::{PeerRoute, ServerPorts};
use crate::live::net::{Network, RelayKind, ZkAdvertise};
use crate::live::ports::PortReservation;
use crate::live::process::Launcher;
use crate::live::programs::ProgramLaunch;
use crate::live::{EnsembleConfig, RealEnsemble};
use crate::pair::{ELECTION_ROOT, pair_credentials};
use crate::scenario::HealthLink;
use crate::scenario::programs::BUILT_IN;
use crate::sim::history::Record;
use crate::sim::net::NetConfig;
use crate::sim::topology::Topology;
use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What kind of process a host runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostKind {
    /// ZooKeeper server `i` (from 0; myid `i + 1`).
    Zk(usize),
    Node,
    Database,
}

/// A host's process state, as the runner left it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Up,
    Paused,
    Down,
}

/// What an operator asked of a node, which every incarnation must start in (as the simulated
/// node's control channel outlives its process).
#[derive(Clone, Debug, Default)]
pub struct Desired {
    pub priority: u32,
    pub relinquished: bool,
    pub broken: BTreeSet<HealthLink>,
}

/// Everything a live world runs and owns. Dropping it kills every process.
pub struct LiveWorld {
    pub(super) topology: Topology,
    pub(super) dir: PathBuf,
    /// Runs the relays and the databases' failure detectors.
    pub(super) runtime: tokio::runtime::Runtime,
    pub(super) net: Network,
    pub(super) links: LinkModel,
    pub(super) launcher: Launcher,
    pub(super) registry: Registry,
    pub(super) recorder: Recorder,
    pub(super) findings: NodeFindings,
    pub(super) zk: RealEnsemble,
    pub(super) zk_names: Vec<String>,
    pub(super) zk_running: Running,
    pub(super) roles: Option<RolePoller>,
    pub(super) nodes: BTreeMap<String, NodeHost>,
    pub(super) desired: BTreeMap<String, Desired>,
    pub(super) databases: Databases,
    pub(super) status: BTreeMap<String, Status>,
    pub(super) kinds: BTreeMap<String, HostKind>,
    /// The ZooKeeper server an earlier `zk-leader` (`zk-follower`) step hit, by role: what
    /// "start zk-leader" brings back.
    pub(super) last_role_hit: BTreeMap<&'static str, String>,
    /// How long starting the world took (until the nodes were launched).
    pub startup: Duration,
    shut: bool,
}

/// Why the world could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{0}")]
    Zk(#[from] crate::live::HarnessError),
    #[error("{0}")]
    Db(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> BuildError {
    let context = context.into();
    move |source| BuildError::Io { context, source }
}

impl LiveWorld {
    /// Starts every process of `topology` under `dir` and waits until the ensemble serves and
    /// the databases accept connections; then starts the nodes, at the run's time zero.
    /// Builds the world and starts its nodes, each with its program (`programs`, by node
    /// name).
    pub fn build(
        topology: &Topology,
        programs: &BTreeMap<String, ProgramLaunch>,
        dir: &Path,
        registry: Registry,
    ) -> Result<LiveWorld, BuildError> {
        let began = Instant::now();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("live-relays")
            .enable_all()
            .build()
            .map_err(io("starting the relay runtime"))?;
        let net = {
            let _guard = runtime.enter();
            Network::new()
        };
        let mut sites = BTreeMap::new();
        let mut kinds = BTreeMap::new();
        for (i, server) in topology.zk.servers.iter().enumerate() {
            sites.insert(server.name.clone(), server.site.clone());
            kinds.insert(server.name.clone(), HostKind::Zk(i));
        }
        for pair in &topology.pairs {
            for node in &pair.nodes {
                sites.insert(node.name.clone(), node.site.clone());
                kinds.insert(node.name.clone(), HostKind::Node);
            }
            for (host, site) in Databases::hosts_of(&pair.database) {
                sites.insert(host.clone(), site);
                kinds.insert(host, HostKind::Database);
            }
        }
        let net_config = crate::pair::net_config(topology, NetConfig::default());
        let links = LinkModel::new(sites, net_config);
        for from in links.hosts() {
            for to in links.hosts() {
                if from != to {
                    net.set_base(from, to, links.base(from, to));
                }
            }
        }
        let launcher = Launcher::new().map_err(|e| BuildError::Db(e.to_string()))?;
        let logs = dir.join("logs");
        std::fs::create_dir_all(&logs).map_err(io(format!("creating {}", logs.display())))?;

        // ZooKeeper: real ports, then the relays between servers, then the servers.
        let zk_names: Vec<String> = topology.zk.servers.iter().map(|s| s.name.clone()).collect();
        let reservation = PortReservation::reserve(3 * zk_names.len())
            .map_err(io("reserving ZooKeeper ports"))?;
        let ports = ServerPorts::from_triples(&reservation.ports());
        let route = zk_routes(&runtime, &net, &zk_names, &ports)?;
        let zk_dir = dir.join("zk");
        registry.scratch(&zk_dir);
        reservation.release();
        let zk =
            RealEnsemble::launch_routed(ensemble_config(topology), zk_dir, ports.clone(), route)?;
        for (i, name) in zk_names.iter().enumerate() {
            if let Ok(Some(pid)) = zk.pid(i) {
                registry.group(pid, &format!("zookeeper {name}"));
            }
        }

        // Databases, while the JVMs start.
        let databases =
            Databases::launch(&runtime, &net, topology, dir, &registry).map_err(BuildError::Db)?;
        zk.wait_until_all_serving(Duration::from_secs(60))?;

        // The nodes' launch settings (the node protocol's environment): their ZooKeeper and
        // database addresses are relays.
        let mut launches = Vec::new();
        for pair in &topology.pairs {
            for node in &pair.nodes {
                let mut zk_addrs = Vec::new();
                for (j, name) in zk_names.iter().enumerate() {
                    let target = local(ports[j].client);
                    zk_addrs.push(relay(
                        &runtime,
                        &net,
                        &node.name,
                        name,
                        target,
                        RelayKind::Plain,
                    )?);
                }
                let urls = databases
                    .urls_for(&runtime, &net, &pair.database, &node.name)
                    .map_err(BuildError::Db)?;
                let credentials = pair_credentials(&pair.name);
                let env: Vec<(String, String)> = [
                    ("SPLITBRAIN_PROTOCOL", "1".to_string()),
                    (
                        "SPLITBRAIN_ZK",
                        zk_addrs
                            .iter()
                            .map(ToString::to_string)
                            .collect::<Vec<_>>()
                            .join(","),
                    ),
                    ("SPLITBRAIN_ZK_ROOT", ELECTION_ROOT.to_string()),
                    (
                        "SPLITBRAIN_ZK_AUTH",
                        String::from_utf8_lossy(&credentials.auth_bytes()).into_owned(),
                    ),
                    ("SPLITBRAIN_PAIR", pair.name.clone()),
                    ("SPLITBRAIN_NODE", node.name.clone()),
                    (
                        "SPLITBRAIN_POLICY",
                        match node.policy {
                            Policy::PreEmptive => "pre-emptive".into(),
                            Policy::Sticky => "sticky".into(),
                        },
                    ),
                    (
                        "SPLITBRAIN_SESSION_TIMEOUT_MS",
                        // The node's own, as each process reads its own configuration.
                        node.requested_session_timeout(&topology.zk)
                            .as_millis()
                            .to_string(),
                    ),
                    ("SPLITBRAIN_DATABASE", urls.join(",")),
                    (
                        "SPLITBRAIN_WRITE_INTERVAL_MS",
                        pair.write_period.as_millis().to_string(),
                    ),
                    (
                        "SPLITBRAIN_HEALTH_PERIOD_MS",
                        pair.health_period.as_millis().to_string(),
                    ),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect();
                let program = programs.get(&node.name).ok_or_else(|| {
                    io(format!("starting node {}", node.name))(std::io::Error::other(
                        "no program resolved for it",
                    ))
                })?;
                launches.push((
                    node.priority,
                    NodeLaunch {
                        program: program.name.clone(),
                        argv: program.argv.clone(),
                        pair: pair.name.clone(),
                        name: node.name.clone(),
                        env,
                        log_dir: logs.clone(),
                    },
                ));
            }
        }

        // Time zero: every host is up, the nodes start now.
        let recorder = Recorder::new(RunClock::starting_now());
        let findings = NodeFindings::default();
        let mut status = BTreeMap::new();
        for host in kinds.keys() {
            status.insert(host.clone(), Status::Up);
            recorder.record_at(
                Duration::ZERO,
                Record::HostStarted {
                    host: host.as_str().into(),
                },
            );
        }
        let zk_running: Running = Arc::new(std::sync::Mutex::new(
            zk_names.iter().map(|n| (n.clone(), true)).collect(),
        ));
        let roles = RolePoller::start(
            zk_names
                .iter()
                .zip(&ports)
                .map(|(n, p)| (n.clone(), local(p.client)))
                .collect(),
            zk_running.clone(),
            recorder.clone(),
        )
        .map_err(io("starting the role poller"))?;
        let mut nodes = BTreeMap::new();
        let mut desired = BTreeMap::new();
        for (priority, launch) in launches {
            let name = launch.name.clone();
            desired.insert(
                name.clone(),
                Desired {
                    priority,
                    ..Desired::default()
                },
            );
            nodes.insert(
                name,
                NodeHost::new(launch, recorder.clone(), findings.clone()),
            );
        }
        let mut world = LiveWorld {
            topology: topology.clone(),
            dir: dir.to_path_buf(),
            runtime,
            net,
            links,
            launcher,
            registry,
            recorder,
            findings,
            zk,
            zk_names,
            zk_running,
            roles: Some(roles),
            nodes,
            desired,
            databases,
            status,
            kinds,
            last_role_hit: BTreeMap::new(),
            startup: Duration::ZERO,
            shut: false,
        };
        world.databases.follow_detectors(world.recorder.clone());
        world.start_nodes(topology)?;
        world.startup = began.elapsed();
        Ok(world)
    }

    /// Starts every node. The built-in selector's nodes start together, as in the simulator:
    /// the election's priorities choose the first master. A pair running another program
    /// starts in the file's priority order, the best node alone until it is master, the next
    /// once the one before said hello: a recipe without priorities elects whoever comes first,
    /// and this makes the file's intended master the first one, as an operator starting the
    /// preferred node first would.
    fn start_nodes(&mut self, topology: &Topology) -> Result<(), BuildError> {
        const FIRST_MASTER: Duration = Duration::from_secs(30);
        const HELLO: Duration = Duration::from_secs(60);
        for pair in &topology.pairs {
            let mut ranked: Vec<&crate::sim::topology::NodeSpec> = pair.nodes.iter().collect();
            ranked.sort_by(|a, b| b.priority.cmp(&a.priority).then(a.name.cmp(&b.name)));
            let staggered = ranked.iter().any(|n| {
                self.nodes
                    .get(&n.name)
                    .is_some_and(|host| host.program() != BUILT_IN)
            });
            for (i, node) in ranked.iter().enumerate() {
                self.start_node(&node.name)
                    .map_err(io(format!("starting node {}", node.name)))?;
                if !staggered {
                    continue;
                }
                let host = &self.nodes[&node.name];
                host.wait_hello(HELLO)
                    .map_err(|e| io("starting the nodes")(std::io::Error::other(e)))?;
                if i == 0 && !host.wait_promoted(FIRST_MASTER) {
                    self.recorder.record(Record::Fault {
                        description: format!(
                            "{} was not master within {} s of its start: its peers start anyway",
                            node.name,
                            FIRST_MASTER.as_secs()
                        ),
                    });
                }
            }
        }
        Ok(())
    }

    /// Every node's hello line, waiting up to `timeout` for each (node programs start in
    /// parallel, so this is the slowest one's start-up).
    pub(super) fn hellos(&self, timeout: Duration) -> Result<BTreeMap<String, Hello>, String> {
        let deadline = Instant::now() + timeout;
        let mut hellos = BTreeMap::new();
        for (name, node) in &self.nodes {
            let left = deadline.saturating_duration_since(Instant::now());
            hellos.insert(
                name.clone(),
                node.wait_hello(left.max(Duration::from_millis(1)))?,
            );
        }
        Ok(hellos)
    }

    pub fn recorder(&self) -> &Recorder {
        &self.recorder
    }

    pub fn findings(&self) -> &NodeFindings {
        &self.findings
    }

    /// Every process's log, by host name.
    pub fn logs(&self) -> BTreeMap<String, PathBuf> {
        let mut logs = BTreeMap::new();
        for (i, name) in self.zk_names.iter().enumerate() {
            if let Ok(path) = self.zk.log_path(i) {
                logs.insert(name.clone(), path.to_path_buf());
            }
        }
        for (name, node) in &self.nodes {
            logs.insert(name.clone(), node.log_path());
            logs.insert(format!("{name} events"), node.events_path());
        }
        logs.extend(self.databases.logs());
        logs
    }

    pub(super) fn kind(&self, host: &str) -> Result<HostKind, String> {
        self.kinds
            .get(host)
            .copied()
            .ok_or_else(|| format!("no host named '{host}'"))
    }

    pub(super) fn status_of(&self, host: &str) -> Status {
        self.status.get(host).copied().unwrap_or(Status::Down)
    }

    /// The ZooKeeper server holding `role` (`leading`, `following`) now, asked of every
    /// running server: the leader if exactly one leads, or the first follower in the
    /// ensemble's order (as the simulator picks).
    pub(super) fn zk_with_role(&self, role: &str) -> Option<String> {
        let holders: Vec<&String> = self
            .zk_names
            .iter()
            .enumerate()
            .filter(|(_, name)| self.status_of(name) == Status::Up)
            .filter(|(i, _)| {
                self.zk
                    .ports(*i)
                    .ok()
                    .and_then(|p| ask_role(local(p.client), Duration::from_millis(500)))
                    == Some(role)
            })
            .map(|(_, n)| n)
            .collect();
        match (role, holders.as_slice()) {
            ("leading", [one]) => Some((*one).clone()),
            ("leading", _) => None,
            (_, holders) => holders.first().map(|h| (*h).clone()),
        }
    }

    /// Starts a node's next incarnation in the state the operator left it in.
    pub(super) fn start_node(&mut self, name: &str) -> std::io::Result<()> {
        let desired = self.desired.get(name).cloned().unwrap_or_default();
        let mut extra = vec![(
            "SPLITBRAIN_PRIORITY".to_string(),
            desired.priority.to_string(),
        )];
        if desired.relinquished {
            extra.push(("SPLITBRAIN_RELINQUISHED".into(), "1".into()));
        }
        if !desired.broken.is_empty() {
            let links: Vec<String> = desired.broken.iter().map(ToString::to_string).collect();
            extra.push(("SPLITBRAIN_BROKEN_HEALTH".into(), links.join(",")));
        }
        let node = self
            .nodes
            .get_mut(name)
            .ok_or_else(|| std::io::Error::other(format!("no node {name}")))?;
        node.start(&self.launcher, &self.registry, &extra)
    }

    /// Pushes every link's state to the relays.
    pub(super) fn sync_links(&self) {
        for from in self.links.hosts() {
            for to in self.links.hosts() {
                if from != to {
                    self.net.set_link(from, to, self.links.state(from, to));
                }
            }
        }
    }

    /// Stops everything; keeps the logs and the databases' write tables in the run directory.
    pub fn shutdown(&mut self) {
        if self.shut {
            return;
        }
        self.shut = true;
        self.roles.take();
        for node in self.nodes.values_mut() {
            let _ = node.kill();
        }
        self.databases.shutdown(&self.dir);
        for i in 0..self.zk_names.len() {
            let _ = self.zk.kill9(i);
            if let Ok(dir) = self.zk.server_dir(i) {
                let _ = std::fs::remove_dir_all(dir.join("data"));
            }
        }
        self.registry.close();
    }
}

impl Drop for LiveWorld {
    /// Ctrl-C, an error or a panic mid-run: everything is stopped and removed all the same.
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn local(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

/// A relay carrying `from`'s connections to `target` on host `to`.
pub(super) fn relay(
    runtime: &tokio::runtime::Runtime,
    net: &Network,
    from: &str,
    to: &str,
    target: SocketAddr,
    kind: RelayKind,
) -> Result<SocketAddr, BuildError> {
    let _guard = runtime.enter();
    net.relay(from, to, target, kind)
        .map_err(io(format!("starting the relay {from} -> {to} ({target})")))
}

/// The relays between ZooKeeper servers: each server dials the others' quorum and election
/// ports through the relay of its own link, and an election connection announces the
/// address of the relay back (see [`RelayKind::ZkElection`]).
fn zk_routes(
    runtime: &tokio::runtime::Runtime,
    net: &Network,
    names: &[String],
    ports: &[ServerPorts],
) -> Result<PeerRoute, BuildError> {
    let mut quorum = BTreeMap::new();
    let mut election = BTreeMap::new();
    for (i, from) in names.iter().enumerate() {
        for (j, to) in names.iter().enumerate() {
            if i == j {
                continue;
            }
            quorum.insert(
                (i, j),
                relay(
                    runtime,
                    net,
                    from,
                    to,
                    local(ports[j].quorum),
                    RelayKind::Plain,
                )?,
            );
        }
    }
    // Election relays rewrite the connecting server's advertised address to the relay of the
    // reverse link: server j, answering a connection from i, dials i back through (j -> i).
    let advertise: Vec<ZkAdvertise> = names.iter().map(|_| ZkAdvertise::new()).collect();
    for (i, from) in names.iter().enumerate() {
        for (j, to) in names.iter().enumerate() {
            if i == j {
                continue;
            }
            let kind = RelayKind::ZkElection {
                advertise: advertise[j].clone(),
            };
            election.insert(
                (i, j),
                relay(runtime, net, from, to, local(ports[j].election), kind)?,
            );
        }
    }
    for (&(i, j), _) in quorum.iter() {
        advertise[j].set((i + 1) as i64, election[&(j, i)]);
    }
    let route: PeerRoute = Box::new(move |from, to, real_quorum, real_election| {
        (
            quorum.get(&(from, to)).copied().unwrap_or(real_quorum),
            election.get(&(from, to)).copied().unwrap_or(real_election),
        )
    });
    Ok(route)
}

fn ensemble_config(topology: &Topology) -> EnsembleConfig {
    let zk = &topology.zk;
    let voters = zk.servers.iter().filter(|s| !s.observer).count();
    EnsembleConfig {
        servers: voters,
        observers: zk.servers.len() - voters,
        tick_time: zk.tick_time,
        init_limit: zk.init_limit,
        sync_limit: zk.sync_limit,
        // ZooKeeper's own defaults (2 and 20 ticks), as the simulated servers clamp.
        min_session_timeout: None,
        max_session_timeout: None,
        ..EnsembleConfig::default()
    }
}

impl LiveWorld {
    /// How many sessions the ensemble expired: the leader logs each expiry ("Expiring session
    /// 0x…"); a session is counted once whichever server logged it.
    pub(super) fn sessions_expired(&self) -> u64 {
        let mut sessions = BTreeSet::new();
        for i in 0..self.zk_names.len() {
            let Ok(path) = self.zk.log_path(i) else {
                continue;
            };
            let Ok(log) = std::fs::read_to_string(path) else {
                continue;
            };
            for line in log.lines() {
                if let Some(rest) = line.split("Expiring session ").nth(1)
                    && let Some(id) = rest.split(',').next()
                {
                    sessions.insert(id.to_string());
                }
            }
        }
        sessions.len() as u64
    }

    /// The run's write verdicts: the databases' rows, and `Unavailable` for every write a
    /// node gave up on that no database has a row of.
    pub(super) fn write_verdicts(&self) -> Result<Vec<crate::sim::history::Entry>, String> {
        let rows = self.databases.rows()?;
        let mut entries =
            super::databases::row_records(&rows, &self.recorder, |pair, node, write| {
                self.findings.attempt_token(pair, node, write)
            });
        let written: BTreeSet<(String, u64)> = rows
            .iter()
            .map(|r| (r.node.clone(), r.write_id as u64))
            .collect();
        entries.extend(
            self.findings
                .unavailable_writes(|node, write| written.contains(&(node.to_string(), write)))
                .into_iter()
                .map(|(at, record)| crate::sim::history::Entry { at, record }),
        );
        Ok(entries)
    }
}

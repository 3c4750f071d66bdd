//! The shape of a simulated deployment: sites, the ZooKeeper ensemble, the node pairs and their
//! databases. Scenario files parse into it; the pair world builder turns it into hosts and
//! processes; the chaos generator draws it.

use crate::election::{ElectionCode, Policy};
use crate::zk::client::ClientModel;
use std::time::Duration;

#[derive(Clone, Debug, PartialEq)]
pub struct Topology {
    pub sites: Vec<String>,
    pub zk: ZkSpec,
    pub pairs: Vec<PairSpec>,
    /// Which client library the nodes' ZooKeeper sessions behave like.
    pub client_model: ClientModel,
    /// Latency overrides between sites (defaults: `sim::net::NetConfig`).
    pub latencies: Vec<SiteLatency>,
    /// Which election code the nodes run: the real one, or a known-bug variant.
    pub election: ElectionCode,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ZkSpec {
    pub servers: Vec<ZkServerSpec>,
    pub tick_time: Duration,
    pub init_limit: u32,
    pub sync_limit: u32,
    /// What the nodes request unless a node asks for its own; the servers clamp it into
    /// [2, 20] ticks.
    pub session_timeout: Duration,
    /// How long a node's client waits for its first session before giving up and trying
    /// again (Curator's `connectionTimeoutMs`); `None`: the session timeout (the crate's rule).
    pub connection_timeout: Option<Duration>,
}

impl ZkSpec {
    /// One voter per site, named `zk1`, `zk2`, … in site order.
    pub fn voters_in(
        sites: &[&str],
        tick_time: Duration,
        init_limit: u32,
        sync_limit: u32,
        session_timeout: Duration,
    ) -> Self {
        ZkSpec {
            servers: sites
                .iter()
                .enumerate()
                .map(|(i, site)| ZkServerSpec {
                    name: format!("zk{}", i + 1),
                    site: site.to_string(),
                    observer: false,
                })
                .collect(),
            tick_time,
            init_limit,
            sync_limit,
            session_timeout,
            connection_timeout: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct ZkServerSpec {
    /// Host name, e.g. `zk1`; its myid is its position in the list, from 1.
    pub name: String,
    pub site: String,
    pub observer: bool,
}

/// How often a master writes to its database unless its pair says otherwise.
pub const DEFAULT_WRITE_PERIOD: Duration = Duration::from_millis(100);

/// How often a node checks its health (probes its database) unless its pair says otherwise.
pub const DEFAULT_HEALTH_PERIOD: Duration = Duration::from_secs(1);

#[derive(Clone, Debug, PartialEq)]
pub struct PairSpec {
    pub name: String,
    pub nodes: Vec<NodeSpec>,
    pub database: DatabaseSpec,
    /// How often the master writes (on its own clock): each write is a master action the
    /// checkers judge. A world of many pairs may write less often to stay fast.
    pub write_period: Duration,
    /// How often each node checks its health, probing the database unless one of its own
    /// writes just did (on its own clock).
    pub health_period: Duration,
}

#[derive(Clone, Debug, PartialEq)]
pub struct NodeSpec {
    /// Host name (unique in the world).
    pub name: String,
    pub site: String,
    pub priority: u32,
    pub policy: Policy,
    /// The session timeout this node's own configuration asks for (each process of a real
    /// deployment has its own config file, Curator its own `sessionTimeoutMs`); `None`: the
    /// ensemble-wide [`ZkSpec::session_timeout`].
    pub session_timeout: Option<Duration>,
}

impl NodeSpec {
    /// The session timeout the node requests.
    pub fn requested_session_timeout(&self, zk: &ZkSpec) -> Duration {
        self.session_timeout.unwrap_or(zk.session_timeout)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct DatabaseSpec {
    /// Host name of the (primary) database; the replica, if any, is `<name>-replica`.
    pub name: String,
    pub site: String,
    pub mode: DatabaseMode,
    /// Site of the replica in primary/replica mode.
    pub replica_site: Option<String>,
    /// Time the database takes to apply a write.
    pub write_latency: Duration,
    /// The Corda-style run-once table as a second guard, if enabled.
    pub run_once: Option<RunOnceSpec>,
    /// How the primary's commits reach the replica (primary/replica mode only).
    pub replication: Replication,
    /// Whether the database checks the writes' fencing tokens. `false` is a database whose
    /// writes carry no token (Corda's run-once row as the only guard, or none at all): it
    /// accepts any node's write.
    pub fence: bool,
}

/// How a primary/replica database replicates.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Replication {
    /// Every commit waits for the replica (PostgreSQL `synchronous_standby_names` with
    /// `synchronous_commit = on`, Patroni's synchronous mode): the promoted replica holds every
    /// acknowledged commit, and a primary cut from its replica commits nothing.
    #[default]
    Synchronous,
    /// The primary acknowledges a commit alone and ships it to the replica `lag` later
    /// (PostgreSQL's default streaming replication: no `synchronous_standby_names`, or
    /// `synchronous_commit = local`). The replica still promotes on its own when the primary
    /// falls silent: acknowledged commits, the newest fencing token included, can be lost, and
    /// a primary cut off goes on accepting writes.
    Asynchronous { lag: Duration },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DatabaseMode {
    Single,
    /// A primary and a replica that fails over on its own (its own failure detector and clock).
    PrimaryReplica,
    /// Galera-like: both nodes may write, no election of its own.
    MultiMaster,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunOnceSpec {
    /// How often the holder refreshes its row.
    pub update_interval: Duration,
    /// How stale a row must be (by the database's own clock) before another node may take it.
    pub wait_interval: Duration,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SiteLatency {
    pub a: String,
    pub b: String,
    pub base: Duration,
    pub jitter: Duration,
}

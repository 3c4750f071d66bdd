//! The pair world: a [`Topology`] turned into hosts and processes — the ZooKeeper ensemble,
//! each pair's database hosts and node hosts — plus the controls a scenario uses to reach
//! into a running node. Crash, restart, pause, partitions and clock faults go through the
//! [`World`]'s own fault primitives, by host name.

use super::control::{ControlHandle, HealthLink, NodeControl};
use super::node::{ELECTION_ROOT, NodeConfig, node_process, pair_credentials};
use super::operator;
use crate::bus::{bus_host_name, bus_process};
use crate::db::{CertifiedWriteDating, DbServerConfig, database_process};
use crate::env::Environment;
use crate::sim::ensemble::{add_ensemble, client_addrs};
use crate::sim::history::{Entry, Record};
use crate::sim::net::{HostId, LinkLatency, NetConfig};
use crate::sim::topology::{DatabaseMode, DatabaseSpec, NodeSpec, Topology};
use crate::sim::world::World;
use crate::zk::client::{ClientConfig, DEFAULT_SESSION_TIMEOUT};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// Why a topology cannot be built.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    #[error("host name '{0}' is used twice")]
    DuplicateHost(String),
    #[error("pair name '{0}' is used twice")]
    DuplicatePair(String),
    #[error("'{host}' is placed in site '{site}', which the topology does not list")]
    UnknownSite { host: String, site: String },
    #[error("the ZooKeeper ensemble needs at least one voting server")]
    NoVoters,
    #[error("election code '{0}' needs a build with the `testbed` feature")]
    ElectionUnavailable(crate::election::ElectionCode),
    #[error("pair '{0}' has no nodes")]
    NoNodes(String),
    #[error("database '{0}' is {1:?} but names no replica site")]
    MissingReplicaSite(String, DatabaseMode),
    #[error("node '{node}': {reason}")]
    BadNode { node: String, reason: String },
    #[error("{0}")]
    Start(String),
}

/// A control request that cannot be delivered.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ControlError {
    #[error("no node named '{0}'")]
    UnknownNode(String),
    #[error("no pair named '{0}'")]
    UnknownPair(String),
    #[error("no node host of pair '{0}' is up to run the script on")]
    NoHostUp(String),
}

struct NodeEntry {
    host: HostId,
    pair: String,
    control: ControlHandle,
}

struct PairEntry {
    nodes: Vec<String>,
    databases: Vec<String>,
}

/// The built world of pairs. Controls reach running nodes through per-node channels that
/// survive restarts (see [`super::control`]).
pub struct PairWorld {
    world: World,
    nodes: BTreeMap<String, NodeEntry>,
    pairs: BTreeMap<String, PairEntry>,
    zk_servers: Vec<String>,
    /// How the nodes reach the ensemble; operator scripts connect the same way.
    zk_client: ClientConfig,
}

/// The network configuration a topology asks for: `base` with its site-pair latencies.
/// (The world is created by the caller, before [`build`].)
pub fn net_config(topology: &Topology, base: NetConfig) -> NetConfig {
    let mut config = base;
    for l in &topology.latencies {
        let key = if l.a <= l.b {
            (l.a.clone(), l.b.clone())
        } else {
            (l.b.clone(), l.a.clone())
        };
        config
            .site_pairs
            .insert(key, LinkLatency::new(l.base, l.jitter));
    }
    config
}

/// The session timeout the servers will grant for the topology's request: clamped into
/// [2, 20] ticks, as ZooKeeper does.
pub fn negotiated_session_timeout(topology: &Topology) -> Duration {
    negotiated_for(topology, topology.zk.session_timeout)
}

/// The session timeout the servers grant a node of `topology` that asks for its own or the
/// ensemble-wide one.
pub fn negotiated_session_timeout_of(topology: &Topology, node: &NodeSpec) -> Duration {
    negotiated_for(topology, node.requested_session_timeout(&topology.zk))
}

fn negotiated_for(topology: &Topology, requested: Duration) -> Duration {
    let requested = if requested.is_zero() {
        DEFAULT_SESSION_TIMEOUT
    } else {
        requested
    };
    let tick = topology.zk.tick_time;
    requested.clamp(tick * 2, (tick * 20).max(tick * 2))
}

/// Creates every host of `topology` in `world`, sets its process and starts it. The topology
/// is checked whole first: on error the world is left untouched.
pub fn build(world: &World, topology: &Topology) -> Result<PairWorld, BuildError> {
    build_with(world, topology, CertifiedWriteDating::AtCommit)
}

/// [`build`], with the databases dating certified writes as `dating` says.
pub fn build_with(
    world: &World,
    topology: &Topology,
    dating: CertifiedWriteDating,
) -> Result<PairWorld, BuildError> {
    validate(world, topology)?;
    let add = |name: &str, site: &str| world.add_host(name, site);

    // The ensemble: myid is the position in the list, from 1.
    let zk_hosts = add_ensemble(world, &topology.zk);
    let mut zk_client = ClientConfig::new(client_addrs(&zk_hosts))
        .with_session_timeout(topology.zk.session_timeout)
        .with_model(topology.client_model);
    zk_client.connect_deadline = topology.zk.connection_timeout;

    let mut nodes = BTreeMap::new();
    let mut pairs = BTreeMap::new();
    for pair in &topology.pairs {
        let spec = &pair.database;
        let primary = add(&spec.name, &spec.site);
        let replica = replica_site(spec).map(|site| add(&replica_name(spec), site));
        let db_config = |acting: bool, peer: Option<HostId>| {
            let mut config = DbServerConfig::new(&pair.name, spec.mode, acting, peer);
            config.write_latency = spec.write_latency;
            config.run_once_wait = spec.run_once.map(|r| r.wait_interval);
            config.replication = spec.replication;
            config.fenced = spec.fence;
            config.dating = dating;
            config
        };
        world.set_process(primary, database_process(db_config(true, replica)));
        if let Some(replica) = replica {
            let acting = spec.mode == DatabaseMode::MultiMaster;
            world.set_process(replica, database_process(db_config(acting, Some(primary))));
        }
        // The pair's bus lives beside its data, the service its flows publish to.
        let bus = add(&bus_host_name(&pair.name), &spec.site);
        world.set_process(bus, bus_process());
        let mut databases = vec![spec.name.clone()];
        if replica.is_some() {
            databases.push(replica_name(spec));
        }

        for node in &pair.nodes {
            let host = add(&node.name, &node.site);
            // Multi-master: each node prefers the member in its own site, as Galera
            // deployments route each application server to its local member.
            let mut db_hosts: Vec<HostId> = std::iter::once(primary).chain(replica).collect();
            if spec.mode == DatabaseMode::MultiMaster
                && let Some(local) = db_hosts
                    .iter()
                    .position(|h| world.host_site(*h) == node.site)
            {
                db_hosts.rotate_left(local);
            }
            // Each node asks for its own session timeout, as each process reads its own config.
            let node_client = zk_client
                .clone()
                .with_session_timeout(node.requested_session_timeout(&topology.zk));
            let mut config = NodeConfig::new(
                &pair.name,
                &node.name,
                node.policy,
                node_client,
                negotiated_session_timeout_of(topology, node),
                db_hosts,
            );
            config.run_once = spec.run_once;
            config.bus = Some(bus);
            config.write_period = pair.write_period;
            config.health_period = pair.health_period;
            config.election = topology.election;
            let control = ControlHandle::new(NodeControl::new(node.priority));
            world.set_process(host, node_process(config, control.clone()));
            nodes.insert(
                node.name.clone(),
                NodeEntry {
                    host,
                    pair: pair.name.clone(),
                    control,
                },
            );
        }
        pairs.insert(
            pair.name.clone(),
            PairEntry {
                nodes: pair.nodes.iter().map(|n| n.name.clone()).collect(),
                databases,
            },
        );
    }

    for h in 0..world.host_count() {
        let host = HostId(h as u32);
        if world.status(host) == crate::sim::world::HostStatus::Down {
            world
                .start(host)
                .map_err(|e| BuildError::Start(e.to_string()))?;
        }
    }
    Ok(PairWorld {
        world: world.clone(),
        nodes,
        pairs,
        zk_servers: topology.zk.servers.iter().map(|s| s.name.clone()).collect(),
        zk_client,
    })
}

fn replica_name(spec: &DatabaseSpec) -> String {
    format!("{}-replica", spec.name)
}

/// The replica's (or second member's) site, in the modes that have one.
fn replica_site(spec: &DatabaseSpec) -> Option<&str> {
    match spec.mode {
        DatabaseMode::Single => None,
        DatabaseMode::PrimaryReplica | DatabaseMode::MultiMaster => spec.replica_site.as_deref(),
    }
}

/// Every host the topology asks for, in creation order, with its site.
fn planned_hosts(topology: &Topology) -> Result<Vec<(String, &str)>, BuildError> {
    let mut hosts: Vec<(String, &str)> = topology
        .zk
        .servers
        .iter()
        .map(|s| (s.name.clone(), s.site.as_str()))
        .collect();
    for pair in &topology.pairs {
        let spec = &pair.database;
        hosts.push((spec.name.clone(), &spec.site));
        if spec.mode != DatabaseMode::Single {
            let site = replica_site(spec)
                .ok_or_else(|| BuildError::MissingReplicaSite(spec.name.clone(), spec.mode))?;
            hosts.push((replica_name(spec), site));
        }
        hosts.push((bus_host_name(&pair.name), &spec.site));
        hosts.extend(pair.nodes.iter().map(|n| (n.name.clone(), n.site.as_str())));
    }
    Ok(hosts)
}

fn validate(world: &World, topology: &Topology) -> Result<(), BuildError> {
    if topology.zk.servers.iter().all(|s| s.observer) {
        return Err(BuildError::NoVoters);
    }
    let sites: BTreeSet<&str> = topology.sites.iter().map(String::as_str).collect();
    let mut names = BTreeSet::new();
    for (name, site) in planned_hosts(topology)? {
        if !sites.contains(site) {
            return Err(BuildError::UnknownSite {
                host: name,
                site: site.to_string(),
            });
        }
        if world.host_id(&name).is_ok() || !names.insert(name.clone()) {
            return Err(BuildError::DuplicateHost(name));
        }
    }
    if !topology.election.available() {
        return Err(BuildError::ElectionUnavailable(topology.election));
    }
    let mut pair_names = BTreeSet::new();
    for pair in &topology.pairs {
        if !pair_names.insert(pair.name.as_str()) {
            return Err(BuildError::DuplicatePair(pair.name.clone()));
        }
        if pair.nodes.is_empty() {
            return Err(BuildError::NoNodes(pair.name.clone()));
        }
        for node in &pair.nodes {
            let config = crate::election::SelectorConfig::new(
                super::node::ELECTION_ROOT,
                &pair.name,
                &node.name,
                crate::election::Priority(node.priority),
                node.policy,
            );
            config.validate().map_err(|e| BuildError::BadNode {
                node: node.name.clone(),
                reason: e.to_string(),
            })?;
        }
    }
    Ok(())
}

impl PairWorld {
    pub fn world(&self) -> &World {
        &self.world
    }

    pub fn node_host(&self, node: &str) -> Option<HostId> {
        self.nodes.get(node).map(|n| n.host)
    }

    pub fn pair_of(&self, node: &str) -> Option<&str> {
        self.nodes.get(node).map(|n| n.pair.as_str())
    }

    /// The nodes of `pair`, in topology order.
    pub fn nodes_of(&self, pair: &str) -> Option<&[String]> {
        self.pairs.get(pair).map(|p| p.nodes.as_slice())
    }

    /// The database host names of `pair`: the primary (or first member), then the replica.
    pub fn databases_of(&self, pair: &str) -> Option<&[String]> {
        self.pairs.get(pair).map(|p| p.databases.as_slice())
    }

    pub fn pairs(&self) -> impl Iterator<Item = &str> {
        self.pairs.keys().map(String::as_str)
    }

    pub fn zk_servers(&self) -> &[String] {
        &self.zk_servers
    }

    fn control(&self, node: &str) -> Result<&ControlHandle, ControlError> {
        self.nodes
            .get(node)
            .map(|n| &n.control)
            .ok_or_else(|| ControlError::UnknownNode(node.to_string()))
    }

    fn control_change(
        &self,
        node: &str,
        what: std::fmt::Arguments<'_>,
        change: impl FnOnce(&mut NodeControl),
    ) -> Result<(), ControlError> {
        let control = self.control(node)?;
        self.world
            .trace_world("control", format_args!("{node}: {what}"));
        control.update(change);
        Ok(())
    }

    /// The node stands down (demoted first if master) and stays down, across restarts, until
    /// [`PairWorld::rejoin`].
    pub fn relinquish(&self, node: &str) -> Result<(), ControlError> {
        self.control_change(node, format_args!("relinquish"), |c| c.relinquished = true)
    }

    pub fn rejoin(&self, node: &str) -> Result<(), ControlError> {
        self.control_change(node, format_args!("rejoin"), |c| c.relinquished = false)
    }

    /// The node applies it when it runs (at once, or at its next start). The change is
    /// recorded in the history (the WP checker judges priorities by it).
    pub fn set_priority(&self, node: &str, priority: u32) -> Result<(), ControlError> {
        self.control_change(node, format_args!("priority {priority}"), |c| {
            c.priority = priority
        })?;
        let pair = self.pair_of(node).unwrap_or_default().into();
        self.world.record(Record::PriorityChanged {
            pair,
            node: node.into(),
            priority,
        });
        Ok(())
    }

    /// The node's health check fails on `link` until healed (across restarts too: the link is
    /// broken, not the process).
    pub fn break_health(&self, node: &str, link: HealthLink) -> Result<(), ControlError> {
        self.control_change(node, format_args!("break {link:?}"), |c| {
            c.broken.insert(link);
        })
    }

    pub fn heal_health(&self, node: &str, link: HealthLink) -> Result<(), ControlError> {
        self.control_change(node, format_args!("heal {link:?}"), |c| {
            c.broken.remove(&link);
        })
    }

    /// An operator's cleanup script deletes `pair`'s election znodes (the candidacies, the
    /// candidates znode and the term; see [`operator::delete_election`]), with the pair's
    /// credentials, from the first of the pair's node hosts that is up. The script runs in the
    /// background; its outcome is recorded in the history when it ends.
    pub fn delete_election(&self, pair: &str) -> Result<(), ControlError> {
        let entry = self
            .pairs
            .get(pair)
            .ok_or_else(|| ControlError::UnknownPair(pair.to_string()))?;
        let host = entry
            .nodes
            .iter()
            .filter_map(|node| self.node_host(node))
            .find(|host| self.world.status(*host) == crate::sim::world::HostStatus::Up)
            .ok_or_else(|| ControlError::NoHostUp(pair.to_string()))?;
        let ctx = self.world.host_ctx(host);
        let (zk, pair) = (self.zk_client.clone(), pair.to_string());
        let env = ctx.env.clone();
        env.spawn(async move {
            let credentials = pair_credentials(&pair);
            let outcome =
                operator::delete_election(&ctx, zk, ELECTION_ROOT, &pair, &credentials).await;
            let description = match outcome {
                Ok(deleted) => format!(
                    "delete election of {pair}: {deleted} znodes deleted (script on {})",
                    ctx.name
                ),
                Err(err) => format!(
                    "delete election of {pair}: script on {} failed: {err:?}",
                    ctx.name
                ),
            };
            ctx.world.record(Record::Fault { description });
        });
        Ok(())
    }

    /// The node that last started acting as master of `pair` and has not stopped (by the
    /// recorded history).
    pub fn current_master(&self, pair: &str) -> Option<String> {
        self.world
            .with_history(|history| current_master(history, pair))
    }
}

/// Who acts as master of `pair` at the end of `history`: the last node promoted that has not
/// recorded its demotion nor crashed since. A paused master still counts (it believes it is).
pub fn current_master(history: &[Entry], pair: &str) -> Option<String> {
    let mut master: Option<String> = None;
    for entry in history {
        match &entry.record {
            Record::Promoted { pair: p, node, .. } if **p == *pair => {
                master = Some(node.to_string())
            }
            Record::Demoted { pair: p, node, .. }
                if **p == *pair && master.as_deref() == Some(&**node) =>
            {
                master = None
            }
            Record::HostCrashed { host } if master.as_deref() == Some(host.as_ref()) => {
                master = None
            }
            _ => {}
        }
    }
    master
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::election::Policy;
    use crate::sim::topology::{NodeSpec, PairSpec, ZkServerSpec, ZkSpec};
    use crate::zk::client::ClientModel;

    fn topology() -> Topology {
        Topology {
            sites: vec!["dc1".into(), "dc2".into()],
            zk: ZkSpec {
                servers: vec![ZkServerSpec {
                    name: "zk1".into(),
                    site: "dc1".into(),
                    observer: false,
                }],
                tick_time: Duration::from_secs(2),
                init_limit: 10,
                sync_limit: 5,
                session_timeout: Duration::from_secs(60),
                connection_timeout: None,
            },
            pairs: vec![PairSpec {
                name: "p".into(),
                nodes: vec![NodeSpec {
                    name: "a".into(),
                    site: "dc1".into(),
                    priority: 1,
                    policy: Policy::Sticky,
                    session_timeout: None,
                }],
                database: DatabaseSpec {
                    name: "db".into(),
                    site: "dc2".into(),
                    mode: DatabaseMode::Single,
                    replica_site: None,
                    write_latency: Duration::ZERO,
                    run_once: None,
                    replication: Default::default(),
                    fence: true,
                },
                write_period: crate::sim::topology::DEFAULT_WRITE_PERIOD,
                health_period: crate::sim::topology::DEFAULT_HEALTH_PERIOD,
            }],
            client_model: ClientModel::Rust,
            latencies: vec![],
            election: crate::election::ElectionCode::Real,
        }
    }

    fn build_error(change: impl FnOnce(&mut Topology) + Send) -> BuildError {
        crate::sim::run_seeded(1, || async move {
            let mut t = topology();
            change(&mut t);
            let world = World::new(NetConfig::default(), false);
            let Err(err) = build(&world, &t) else {
                panic!("built")
            };
            assert_eq!(world.host_count(), 0, "a failed build adds no host");
            err
        })
    }

    #[test]
    fn bad_topologies_are_refused_whole() {
        assert_eq!(
            build_error(|t| t.pairs[0].nodes[0].name = "zk1".into()),
            BuildError::DuplicateHost("zk1".into())
        );
        assert_eq!(
            build_error(|t| t.pairs[0].database.site = "dc9".into()),
            BuildError::UnknownSite {
                host: "db".into(),
                site: "dc9".into()
            }
        );
        assert_eq!(
            build_error(|t| t.pairs[0].database.mode = DatabaseMode::PrimaryReplica),
            BuildError::MissingReplicaSite("db".into(), DatabaseMode::PrimaryReplica)
        );
        assert_eq!(
            build_error(|t| t.zk.servers[0].observer = true),
            BuildError::NoVoters
        );
        assert!(matches!(
            build_error(|t| t.pairs[0].nodes[0].name = "a/b".into()),
            BuildError::BadNode { .. }
        ));
        assert_eq!(
            build_error(|t| t.pairs.push(t.pairs[0].clone())),
            BuildError::DuplicateHost("db".into())
        );
    }

    #[test]
    fn the_session_timeout_is_negotiated_into_two_to_twenty_ticks() {
        let mut t = topology();
        assert_eq!(negotiated_session_timeout(&t), Duration::from_secs(40));
        t.zk.session_timeout = Duration::from_secs(1);
        assert_eq!(negotiated_session_timeout(&t), Duration::from_secs(4));
        t.zk.session_timeout = Duration::ZERO;
        assert_eq!(negotiated_session_timeout(&t), DEFAULT_SESSION_TIMEOUT);
    }

    #[test]
    fn current_master_follows_promotions_demotions_and_crashes() {
        let entry = |record| Entry {
            at: Duration::ZERO,
            record,
        };
        let promoted = |node: &str| {
            entry(Record::Promoted {
                pair: "p".into(),
                node: node.into(),
                token: 1,
            })
        };
        let mut h = vec![promoted("a")];
        assert_eq!(current_master(&h, "p").as_deref(), Some("a"));
        assert_eq!(current_master(&h, "q"), None);
        h.push(entry(Record::HostCrashed { host: "a".into() }));
        assert_eq!(current_master(&h, "p"), None);
        h.push(promoted("b"));
        h.push(entry(Record::Demoted {
            pair: "p".into(),
            node: "a".into(),
            token: 1,
        }));
        assert_eq!(current_master(&h, "p").as_deref(), Some("b"));
    }
}

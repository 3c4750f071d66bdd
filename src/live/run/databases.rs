//! The database hosts of a live world: one PostgreSQL cluster per database host of the file
//! (`mode = "single"`: the pair's host; `mode = "primary-replica"`: the host and
//! `<name>-replica`, a synchronous standby promoted by its failure detector, see
//! [`crate::live::postgres::replication`]), each in the run's directory, reached by the nodes
//! and by each other through the run's relays.
//!
//! The history's write verdicts come from here: the rows the database itself wrote in the
//! same transaction as each fenced write, not what the nodes believed.

use super::history::Recorder;
use super::registry::Registry;
use super::world::{Status, relay};
use crate::live::net::{Network, RelayKind};
use crate::live::ports::PortReservation;
use crate::live::postgres::{
    self, DetectorEvent, DetectorEventKind, HostSpec, HostState, PgCluster, PgInstall, PgPair,
    RowOutcome, WriteRow,
};
use crate::sim::history::{Entry, Record, WriteOutcome};
use crate::sim::topology::{DatabaseMode, DatabaseSpec, Topology};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::runtime::{Handle, Runtime};
use tokio::sync::{Mutex, mpsc, watch};

/// Where a database host's cluster lives.
#[derive(Clone)]
struct DbHost {
    cluster: Arc<Mutex<PgCluster>>,
    pair: String,
    /// Its index in a replicated pair (`None` for a single host).
    member: Option<usize>,
}

/// A replicated pair's failure detector and the host states it acts on.
struct Replicated {
    pair: Arc<PgPair>,
    states: [watch::Sender<HostState>; 2],
    detector: tokio::task::JoinHandle<()>,
}

/// Every database host of the world.
pub struct Databases {
    handle: Handle,
    hosts: BTreeMap<String, DbHost>,
    /// Each pair's hosts, its primary at the start first.
    members: BTreeMap<String, Vec<String>>,
    replicated: BTreeMap<String, Replicated>,
    /// The detectors' events, until the recorder exists.
    events: Option<mpsc::UnboundedReceiver<(String, DetectorEvent)>>,
    events_tx: mpsc::UnboundedSender<(String, DetectorEvent)>,
}

impl Databases {
    /// The hosts a database spec makes, with their sites.
    pub fn hosts_of(spec: &DatabaseSpec) -> Vec<(String, String)> {
        let mut hosts = vec![(spec.name.clone(), spec.site.clone())];
        if spec.mode == DatabaseMode::PrimaryReplica {
            hosts.push((
                replica_name(spec),
                spec.replica_site
                    .clone()
                    .unwrap_or_else(|| spec.site.clone()),
            ));
        }
        hosts
    }

    /// Creates and starts every database host of `topology` under `dir/db`.
    pub fn launch(
        runtime: &Runtime,
        net: &Network,
        topology: &Topology,
        dir: &Path,
        registry: &Registry,
    ) -> Result<Databases, String> {
        let install = PgInstall::locate().map_err(|e| e.to_string())?;
        let (events_tx, events) = mpsc::unbounded_channel();
        let mut databases = Databases {
            handle: runtime.handle().clone(),
            hosts: BTreeMap::new(),
            members: BTreeMap::new(),
            replicated: BTreeMap::new(),
            events: Some(events),
            events_tx,
        };
        for pair in &topology.pairs {
            let spec = &pair.database;
            match spec.mode {
                DatabaseMode::Single => {
                    databases.launch_single(runtime, &install, &pair.name, spec, dir, registry)?
                }
                DatabaseMode::PrimaryReplica => databases
                    .launch_replicated(runtime, net, &install, &pair.name, spec, dir, registry)?,
                DatabaseMode::MultiMaster => {
                    return Err(format!(
                        "database {} of pair {}: multi-master is not played live",
                        spec.name, pair.name
                    ));
                }
            }
            databases.set_write_latency(spec)?;
        }
        Ok(databases)
    }

    fn launch_single(
        &mut self,
        runtime: &Runtime,
        install: &PgInstall,
        pair: &str,
        spec: &DatabaseSpec,
        dir: &Path,
        registry: &Registry,
    ) -> Result<(), String> {
        let port = free_ports(1, &spec.name)?[0];
        let cluster_dir = dir.join("db").join(&spec.name);
        registry.scratch(&cluster_dir.join("data"));
        let options = postgres::ClusterOptions {
            name: spec.name.clone(),
            ..postgres::ClusterOptions::default()
        };
        let mut cluster = runtime
            .block_on(PgCluster::init_with(install, &cluster_dir, port, options))
            .map_err(|e| format!("database {}: {e}", spec.name))?;
        runtime
            .block_on(cluster.start())
            .map_err(|e| format!("database {}: {e}", spec.name))?;
        if let Some(pid) = cluster.pid() {
            registry.group(pid, &format!("postgres {}", spec.name));
        }
        self.members
            .insert(pair.to_string(), vec![spec.name.clone()]);
        self.hosts.insert(
            spec.name.clone(),
            DbHost {
                cluster: Arc::new(Mutex::new(cluster)),
                pair: pair.to_string(),
                member: None,
            },
        );
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn launch_replicated(
        &mut self,
        runtime: &Runtime,
        net: &Network,
        install: &PgInstall,
        pair: &str,
        spec: &DatabaseSpec,
        dir: &Path,
        registry: &Registry,
    ) -> Result<(), String> {
        let names = [spec.name.clone(), replica_name(spec)];
        let ports = free_ports(2, &spec.name)?;
        let local = |port: u16| std::net::SocketAddr::from(([127, 0, 0, 1], port));
        // Each host reaches the other through the relay of its own link, so a cut between
        // the database hosts cuts replication and the detector's probes.
        let routes = [
            relay(
                runtime,
                net,
                &names[0],
                &names[1],
                local(ports[1]),
                RelayKind::Plain,
            )
            .map_err(|e| e.to_string())?,
            relay(
                runtime,
                net,
                &names[1],
                &names[0],
                local(ports[0]),
                RelayKind::Plain,
            )
            .map_err(|e| e.to_string())?,
        ];
        let specs = [0, 1].map(|i| HostSpec {
            name: names[i].clone(),
            dir: dir.join("db").join(&names[i]),
            port: ports[i],
            peer_route: routes[i],
        });
        for spec in &specs {
            registry.scratch(&spec.dir.join("data"));
        }
        let replicated = Arc::new(
            runtime
                .block_on(PgPair::create(install, specs))
                .map_err(|e| format!("database {} (primary-replica): {e}", spec.name))?,
        );
        let (state0, rx0) = watch::channel(HostState::Up);
        let (state1, rx1) = watch::channel(HostState::Up);
        let (events_tx, mut events_rx) = mpsc::unbounded_channel();
        let detector = runtime.spawn(replicated.clone().run_detector([rx0, rx1], events_tx));
        // Forward the detector's events, named by host, to the world's channel.
        let forward = self.events_tx.clone();
        let host_names = names.clone();
        runtime.spawn(async move {
            while let Some(event) = events_rx.recv().await {
                let host = match &event.kind {
                    DetectorEventKind::Promoted { host, .. }
                    | DetectorEventKind::PromoteFailed { host, .. }
                    | DetectorEventKind::Dumped { host, .. }
                    | DetectorEventKind::Rebuilt { host, .. }
                    | DetectorEventKind::RebuildFailed { host, .. } => host_names[*host].clone(),
                };
                if forward.send((host, event)).is_err() {
                    return;
                }
            }
        });
        for (i, name) in names.iter().enumerate() {
            let cluster = replicated.host(i).clone();
            if let Some(pid) = runtime.block_on(cluster.lock()).pid() {
                registry.group(pid, &format!("postgres {name}"));
            }
            self.hosts.insert(
                name.clone(),
                DbHost {
                    cluster,
                    pair: pair.to_string(),
                    member: Some(i),
                },
            );
        }
        self.members.insert(pair.to_string(), names.to_vec());
        self.replicated.insert(
            pair.to_string(),
            Replicated {
                pair: replicated,
                states: [state0, state1],
                detector,
            },
        );
        Ok(())
    }

    /// A database slower than PostgreSQL on loopback (the file's `write_latency`): every
    /// fenced write sleeps that long inside the database before it takes the fence's lock.
    fn set_write_latency(&self, spec: &DatabaseSpec) -> Result<(), String> {
        if spec.write_latency <= crate::scenario::validate::DEFAULT_WRITE_LATENCY {
            return Ok(());
        }
        // The primary: a standby takes the setting by replication.
        let host = &spec.name;
        let addr = self.handle.block_on(self.hosts[host].cluster.lock()).addr();
        self.handle
            .block_on(postgres::schema::set_write_latency(
                addr,
                spec.write_latency,
            ))
            .map_err(|e| format!("database {host}: setting the write latency: {e}"))
    }

    /// Records what the failure detectors do (promotions, rebuilds) from now on.
    pub fn follow_detectors(&mut self, recorder: Recorder) {
        let Some(mut events) = self.events.take() else {
            return;
        };
        self.handle.spawn(async move {
            while let Some((host, event)) = events.recv().await {
                let at = recorder.clock().now().saturating_sub(event.at.elapsed());
                // What happened, and the role it leaves the host in, if it changed one.
                let (role, description) = match &event.kind {
                    DetectorEventKind::Promoted { silent, .. } => (
                        Some("primary"),
                        format!(
                            "{host} promoted by its failure detector (primary silent {:.1}s)",
                            silent.as_secs_f64()
                        ),
                    ),
                    DetectorEventKind::PromoteFailed { error, .. } => {
                        (None, format!("{host}: promotion failed: {error}"))
                    }
                    DetectorEventKind::Dumped { rows, released, .. } => (
                        None,
                        format!(
                            "{host} steps down: {rows} rows kept aside, {released} waiting commits released"
                        ),
                    ),
                    DetectorEventKind::Rebuilt { took, .. } => (
                        Some("replica"),
                        format!(
                            "{host} rebuilt as the synchronous standby in {:.1}s",
                            took.as_secs_f64()
                        ),
                    ),
                    DetectorEventKind::RebuildFailed { error, .. } => {
                        (None, format!("{host}: rebuild failed: {error}"))
                    }
                };
                if let Some(role) = role {
                    recorder.record_at(
                        at,
                        Record::Role {
                            host: host.as_str().into(),
                            role: role.into(),
                        },
                    );
                }
                recorder.record_at(at, Record::Fault { description });
            }
        });
    }

    /// The URLs `node` writes to, in its order of preference: relays from the node to each
    /// database host of its pair.
    pub fn urls_for(
        &self,
        runtime: &Runtime,
        net: &Network,
        spec: &DatabaseSpec,
        node: &str,
    ) -> Result<Vec<String>, String> {
        let mut urls = Vec::new();
        for (host, _) in Self::hosts_of(spec) {
            let db = self
                .hosts
                .get(&host)
                .ok_or_else(|| format!("no database host {host}"))?;
            let target = runtime.block_on(db.cluster.lock()).addr();
            let addr = relay(runtime, net, node, &host, target, RelayKind::Plain)
                .map_err(|e| e.to_string())?;
            urls.push(postgres::conn::url(addr));
        }
        Ok(urls)
    }

    fn host(&self, host: &str) -> Result<DbHost, String> {
        self.hosts
            .get(host)
            .cloned()
            .ok_or_else(|| format!("no database host '{host}'"))
    }

    pub fn kill(&mut self, host: &str) -> Result<(), String> {
        let db = self.host(host)?;
        self.handle
            .block_on(db.cluster.lock())
            .kill()
            .map_err(|e| e.to_string())
    }

    pub fn start(&mut self, host: &str) -> Result<(), String> {
        let db = self.host(host)?;
        self.handle
            .block_on(async { db.cluster.lock().await.start().await })
            .map_err(|e| format!("starting {host}: {e}"))
    }

    pub fn signal(&mut self, host: &str, signal: libc::c_int) -> Result<(), String> {
        let db = self.host(host)?;
        let mut cluster = self.handle.block_on(db.cluster.lock());
        if signal == libc::SIGSTOP {
            cluster.pause()
        } else {
            cluster.resume()
        }
        .map_err(|e| e.to_string())
    }

    pub fn wipe(&mut self, host: &str) -> Result<(), String> {
        let db = self.host(host)?;
        if db.member.is_some() {
            return Err(format!(
                "{host} is a member of a replicated pair: a wiped member would come back as an \
                 empty primary (not played live)"
            ));
        }
        self.handle
            .block_on(async { db.cluster.lock().await.wipe().await })
            .map_err(|e| format!("wiping {host}: {e}"))
    }

    /// The runner changed a host's state: a replicated pair's failure detector acts on it, as
    /// the replica host's own detector would (it does nothing while its host is down or
    /// paused).
    pub fn host_status(&mut self, host: &str, status: Status) {
        let Ok(db) = self.host(host) else { return };
        let (Some(member), Some(replicated)) = (db.member, self.replicated.get(&db.pair)) else {
            return;
        };
        replicated.states[member].send_replace(match status {
            Status::Up => HostState::Up,
            Status::Paused => HostState::Paused,
            Status::Down => HostState::Down,
        });
    }

    pub fn logs(&self) -> BTreeMap<String, PathBuf> {
        self.hosts
            .iter()
            .map(|(name, db)| {
                (
                    name.clone(),
                    self.handle.block_on(db.cluster.lock()).log_path(),
                )
            })
            .collect()
    }

    /// Every write row of each pair, from the host that acts for the pair at the end (with
    /// synchronous replication it holds every acknowledged write).
    pub fn rows(&self) -> Result<Vec<WriteRow>, String> {
        let mut all = Vec::new();
        for (pair, members) in &self.members {
            let acting = self
                .replicated
                .get(pair)
                .map_or(0, |replicated| replicated.pair.acting());
            let host = &members[acting.min(members.len() - 1)];
            let addr = self.handle.block_on(self.hosts[host].cluster.lock()).addr();
            let rows = self
                .handle
                .block_on(postgres::read_rows(addr))
                .map_err(|e| format!("reading the writes of pair {pair} from {host}: {e}"))?;
            all.extend(rows.into_iter().filter(|r| &r.pair == pair));
        }
        Ok(all)
    }

    /// Stops every cluster, after writing each one's write table to `dir/db-<host>.tsv`;
    /// removes their data directories.
    pub fn shutdown(&mut self, dir: &Path) {
        for replicated in self.replicated.values() {
            replicated.detector.abort();
        }
        for (name, db) in &self.hosts {
            let handle = self.handle.clone();
            let dump = dir.join(format!("db-{name}.tsv"));
            handle.block_on(async {
                let mut cluster = db.cluster.lock().await;
                if cluster.is_paused() {
                    let _ = cluster.resume();
                }
                if cluster.is_running() {
                    let _ = postgres::dump_rows(cluster.addr(), &dump).await;
                }
                let _ = cluster.kill();
                let _ = std::fs::remove_dir_all(cluster.data_dir());
            });
        }
    }
}

fn replica_name(spec: &DatabaseSpec) -> String {
    format!("{}-replica", spec.name)
}

fn free_ports(count: usize, what: &str) -> Result<Vec<u16>, String> {
    let reservation = PortReservation::reserve(count)
        .map_err(|e| format!("reserving ports for database {what}: {e}"))?;
    let ports = reservation.ports();
    reservation.release();
    Ok(ports)
}

/// The history records of the databases' rows (fences are the database's business). A row
/// without a token (a program without fencing tokens wrote it) takes the term token its
/// writer's `write_attempt` was recorded under (`attempt_token(pair, node, write)`), or 0, a
/// token never granted, when the writer announced no such write.
pub fn row_records(
    rows: &[WriteRow],
    recorder: &Recorder,
    attempt_token: impl Fn(&str, &str, u64) -> Option<i64>,
) -> Vec<Entry> {
    let clock = recorder.clock();
    rows.iter()
        .filter_map(|row| {
            let outcome = match row.outcome {
                RowOutcome::Accepted => WriteOutcome::Accepted,
                RowOutcome::RejectedStale => WriteOutcome::RejectedStaleToken {
                    newest: row.newest.unwrap_or(0),
                },
                RowOutcome::Fence => return None,
            };
            Some(Entry {
                at: clock.at_realtime_us(row.at_us),
                record: Record::WriteResult {
                    pair: row.pair.as_str().into(),
                    node: row.node.as_str().into(),
                    token: row.token.unwrap_or_else(|| {
                        attempt_token(&row.pair, &row.node, row.write_id as u64).unwrap_or(0)
                    }),
                    write: row.write_id as u64,
                    outcome,
                },
            })
        })
        .collect()
}

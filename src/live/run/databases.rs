//! The database hosts of a live world: one PostgreSQL cluster per database host of the file
//! (`mode = "single"`: the pair's host; `mode = "primary-replica"`: the host and
//! `<name>-replica`, a synchronous standby promoted by its failure detector), each in the run's
//! directory, reached by the nodes through the run's relays.
//!
//! The history's write verdicts come from here: the rows the database itself wrote in the
//! same transaction as each fenced write, not what the nodes believed.

use super::history::Recorder;
use super::registry::Registry;
use super::world::{Status, relay};
use crate::live::net::{Network, RelayKind};
use crate::live::ports::PortReservation;
use crate::live::postgres::{self, PgCluster, PgInstall, RowOutcome, WriteRow};
use crate::live::process::Launcher;
use crate::sim::history::{Entry, Record, WriteOutcome};
use crate::sim::topology::{DatabaseMode, DatabaseSpec, Topology};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tokio::runtime::Runtime;

/// A database host and its cluster.
struct DbHost {
    cluster: PgCluster,
}

/// Every database host of the world.
pub struct Databases {
    handle: tokio::runtime::Handle,
    hosts: BTreeMap<String, DbHost>,
    /// Each pair's database host (its primary at the start).
    primaries: BTreeMap<String, String>,
    recorder: Option<Recorder>,
}

impl Databases {
    /// The hosts a database spec makes, with their sites.
    pub fn hosts_of(spec: &DatabaseSpec) -> Vec<(String, String)> {
        let mut hosts = vec![(spec.name.clone(), spec.site.clone())];
        if spec.mode == DatabaseMode::PrimaryReplica {
            hosts.push((
                format!("{}-replica", spec.name),
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
        _net: &Network,
        topology: &Topology,
        dir: &Path,
        registry: &Registry,
        _launcher: &Launcher,
    ) -> Result<Databases, String> {
        let install = PgInstall::locate().map_err(|e| e.to_string())?;
        let mut hosts = BTreeMap::new();
        let mut primaries = BTreeMap::new();
        for pair in &topology.pairs {
            let spec = &pair.database;
            if spec.mode != DatabaseMode::Single {
                return Err(format!(
                    "database {} of pair {}: only mode = \"single\" is played live so far",
                    spec.name, pair.name
                ));
            }
            let port = PortReservation::reserve(1)
                .map_err(|e| format!("reserving a port for {}: {e}", spec.name))?;
            let port_number = port.ports()[0];
            port.release();
            let cluster_dir = dir.join("db").join(&spec.name);
            registry.scratch(&cluster_dir.join("data"));
            let mut cluster = runtime
                .block_on(PgCluster::init_with(
                    &install,
                    &cluster_dir,
                    port_number,
                    postgres::ClusterOptions {
                        name: spec.name.clone(),
                        ..postgres::ClusterOptions::default()
                    },
                ))
                .map_err(|e| format!("database {}: {e}", spec.name))?;
            runtime
                .block_on(cluster.start())
                .map_err(|e| format!("database {}: {e}", spec.name))?;
            if let Some(pid) = cluster.pid() {
                registry.group(pid, &format!("postgres {}", spec.name));
            }
            primaries.insert(pair.name.clone(), spec.name.clone());
            hosts.insert(spec.name.clone(), DbHost { cluster });
        }
        Ok(Databases {
            handle: runtime.handle().clone(),
            hosts,
            primaries,
            recorder: None,
        })
    }

    pub fn set_recorder(&mut self, recorder: Recorder) {
        self.recorder = Some(recorder);
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
            let addr = relay(
                runtime,
                net,
                node,
                &host,
                db.cluster.addr(),
                RelayKind::Plain,
            )
            .map_err(|e| e.to_string())?;
            urls.push(postgres::conn::url(addr));
        }
        Ok(urls)
    }

    fn host(&mut self, host: &str) -> Result<&mut DbHost, String> {
        self.hosts
            .get_mut(host)
            .ok_or_else(|| format!("no database host '{host}'"))
    }

    pub fn kill(&mut self, host: &str) -> Result<(), String> {
        self.host(host)?.cluster.kill().map_err(|e| e.to_string())
    }

    pub fn start(&mut self, host: &str) -> Result<(), String> {
        let handle = self.handle.clone();
        let db = self.host(host)?;
        handle
            .block_on(db.cluster.start())
            .map_err(|e| format!("starting {host}: {e}"))
    }

    pub fn signal(&mut self, host: &str, signal: libc::c_int) -> Result<(), String> {
        let db = self.host(host)?;
        if signal == libc::SIGSTOP {
            db.cluster.pause()
        } else {
            db.cluster.resume()
        }
        .map_err(|e| e.to_string())
    }

    pub fn wipe(&mut self, host: &str) -> Result<(), String> {
        let handle = self.handle.clone();
        let db = self.host(host)?;
        handle
            .block_on(db.cluster.wipe())
            .map_err(|e| format!("wiping {host}: {e}"))
    }

    /// The runner changed a host's state (the failure detector of a replicated pair acts on
    /// it, as the replica host's own detector would).
    pub fn host_status(&mut self, _host: &str, _status: Status) {}

    pub fn logs(&self) -> BTreeMap<String, PathBuf> {
        self.hosts
            .iter()
            .map(|(name, db)| (name.clone(), db.cluster.log_path()))
            .collect()
    }

    /// Every write row of each pair, from the host that holds the pair's data at the end.
    pub fn rows(&self) -> Result<Vec<WriteRow>, String> {
        let mut all = Vec::new();
        for (pair, host) in &self.primaries {
            let db = &self.hosts[host];
            let rows = self
                .handle
                .block_on(postgres::read_rows(db.cluster.addr()))
                .map_err(|e| format!("reading the writes of pair {pair} from {host}: {e}"))?;
            all.extend(rows.into_iter().filter(|r| &r.pair == pair));
        }
        Ok(all)
    }

    /// Stops every cluster, after writing each one's write table to `dir/db-<host>.tsv`;
    /// removes their data directories.
    pub fn shutdown(&mut self, dir: &Path) {
        for (name, db) in &mut self.hosts {
            if db.cluster.is_paused() {
                let _ = db.cluster.resume();
            }
            if db.cluster.is_running() {
                let dump = dir.join(format!("db-{name}.tsv"));
                let _ = self
                    .handle
                    .block_on(postgres::dump_rows(db.cluster.addr(), &dump));
            }
            let _ = db.cluster.kill();
            let _ = std::fs::remove_dir_all(db.cluster.data_dir());
        }
    }
}

/// The history records of the databases' rows (fences are the database's business).
pub fn row_records(rows: &[WriteRow], recorder: &Recorder) -> Vec<Entry> {
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
                    token: row.token,
                    write: row.write_id as u64,
                    outcome,
                },
            })
        })
        .collect()
}

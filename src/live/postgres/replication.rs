//! `mode = "primary-replica"`: a primary and a synchronous streaming replica that fail over on
//! their own, as the simulated database's primary/replica mode does ([`crate::db`]).
//!
//! [`PgPair::create`] makes the primary (`synchronous_standby_names = '*'`,
//! `synchronous_commit = on`) and the replica by `pg_basebackup -R` from it. Each host's
//! standby reaches the other host at the address the caller gives for that path
//! ([`HostSpec::peer_route`]): the live runner routes it through a network relay it owns, so a
//! partition between the database hosts really cuts replication. Commits on the primary then
//! wait until the replica has flushed them: an acknowledged write is on both hosts.
//!
//! The failure detector ([`PgPair::run_detector`], a task the caller spawns) plays the
//! replica host's role in the simulated database, with its timings (heartbeat 500 ms, failover
//! after 3 s of silence of the acting primary, [`crate::db::server`]): every heartbeat, if the
//! replica host is up (the caller reports host states through [`HostState`] watches), it asks
//! the primary over the replica's route whether it is still the primary and whether the
//! replica is its synchronous standby (`pg_stat_replication.sync_state = 'sync'`). After 3 s
//! without such an answer it promotes the replica (`pg_promote()` over a direct control
//! connection), but only if the last answer it had said the replica was in sync (so the
//! replica holds every acknowledged commit, the newest fencing token included), and only while
//! the replica host is up and not paused. The promoted host then commits alone
//! (`synchronous_standby_names = ''`) until its new standby is back.
//!
//! Once the old primary is up and reachable again, the detector rebuilds it as the standby of
//! the new primary: it first releases the backends waiting for synchronous replication there
//! (which makes PostgreSQL commit their transactions locally) and dumps its write table to
//! `<its dir>/rows-before-rebuild-<n>.tsv` — rows it committed locally but never replicated are
//! evidence — then takes a fresh `pg_basebackup -R` from the new primary over its own route,
//! starts it as a standby, and makes commits synchronous again once it streams. The pair can
//! then fail over the other way. Everything the detector does is reported as a
//! [`DetectorEvent`] stamped with the monotonic clock.
//!
//! # Honest differences from the simulated database
//!
//! - **A commit waiting for its standby waits for ever.** The model answers `Unavailable`
//!   after `commit_timeout` (500 ms); PostgreSQL has no such timeout. The writer's own call
//!   timeout is the only bound, and the waiting transaction keeps the pair's fence row locked,
//!   so every later write on that host queues behind it. Worse, a waiting commit that is
//!   cancelled (a client's cancel request, `pg_cancel_backend`) or whose backend is terminated
//!   *commits locally* with a warning ("The transaction has already committed locally, but
//!   might not have been replicated to the standby") — a cancelling client is told success
//!   for a write its standby never got, and the row is visible on that host from then on. The
//!   node store therefore never cancels; it drops the connection, which does not end the wait
//!   either (measured: the backend still waited, its row invisible, 30 s after its client was
//!   killed). `statement_timeout` does not end it at all (a 1 s timeout still waited after
//!   10 s): it is off by the time a commit waits.
//! - **No epochs; the old primary never steps down by itself.** The model's old primary hears
//!   the later epoch and steps down. A real old primary, restarted or resumed, still believes
//!   it is the primary: it answers reads, says it is not in recovery, and takes writes whose
//!   commits block for ever (no standby will follow it). It stays so until the detector
//!   rebuilds it, which discards whatever it committed locally (after dumping it).
//! - **The detector is a task of the runner, not a process on the replica host.** Its view of
//!   the replica host comes from the caller ([`HostState`]); it probes the primary over the
//!   replica's route, so cuts between the hosts are heard as they would be there, but a crash
//!   of the replica host does not stop the detector: the caller's `Down` does. Its clock is the
//!   runner's monotonic clock, so a clock step on a database host does not move it.
//! - **Rebuilding is a copy.** The model's old primary merges the newest token and row; here it
//!   is a fresh base backup (the data is small: ~0.1 s on loopback). While the detector rebuilds
//!   a host it holds that host's lock, so a fault the caller aims at it waits until the rebuild
//!   is done.
//! - **No run-once table**, and no wipe of a pair host: a wiped replica would be an empty
//!   primary. The multi-master (Galera) mode has no counterpart here.
//! - The timestamps in the rows are the database host's `clock_timestamp()`.

use super::cluster::{ClusterOptions, HELPER_TIMEOUT, PgCluster};
use super::conn::{self, Conn, conninfo};
use super::error::{PgError, sql_error};
use super::install::PgInstall;
use super::rows::{read_rows_on, write_tsv};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::{Duration, Instant};
use tokio::sync::{Mutex, mpsc, watch};

/// How often the detector asks the primary (the simulated database's heartbeat).
pub const HEARTBEAT: Duration = Duration::from_millis(500);
/// How long the acting primary may be silent before the replica promotes.
pub const FAILOVER_AFTER: Duration = Duration::from_secs(3);
/// How long one probe of the primary may take (less than a heartbeat).
const PROBE_TIMEOUT: Duration = Duration::from_millis(400);
/// How long a control connection (promote, rebuild) may take to connect.
const CONTROL_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a rebuilt standby may take to stream and be the synchronous standby.
const SYNC_TIMEOUT: Duration = Duration::from_secs(15);
/// How long the detector waits before trying a failed rebuild again.
const REBUILD_RETRY: Duration = Duration::from_secs(2);

/// A database host's state as the caller (the runner that injects the faults) knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostState {
    Up,
    /// SIGSTOPped: its failure detector does nothing.
    Paused,
    /// Crashed or stopped.
    Down,
}

/// One host of the pair.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostSpec {
    /// Its name in events and logs (`db1`), also its standby's `application_name`.
    pub name: String,
    /// Its scratch directory (the cluster lives in `dir/data`).
    pub dir: PathBuf,
    /// The port its server listens on, on 127.0.0.1.
    pub port: u16,
    /// Where this host reaches the *other* host's server: its standby's `primary_conninfo`
    /// and the detector's probes of the other host when it is the primary. The runner's relay
    /// for the path this host → the other host, or the other host's address itself.
    pub peer_route: SocketAddr,
}

impl HostSpec {
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// The standby's `application_name`, as `pg_stat_replication` shows it.
    fn application_name(&self) -> String {
        standby_name(&self.name)
    }
}

fn standby_name(host: &str) -> String {
    let clean: String = host
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("splitbrain_{clean}")
}

/// What the failure detector did, stamped with the monotonic clock.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DetectorEvent {
    pub at: Instant,
    pub kind: DetectorEventKind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DetectorEventKind {
    /// `host` (index into the pair) was promoted after the primary was silent for `silent`.
    Promoted { host: usize, silent: Duration },
    /// Promoting `host` failed; the detector tries again at the next heartbeat.
    PromoteFailed { host: usize, error: String },
    /// Before its rebuild, the old primary `host` held `rows` rows (written to `path`);
    /// `released` backends were waiting for synchronous replication and committed locally.
    Dumped {
        host: usize,
        path: PathBuf,
        rows: usize,
        released: usize,
    },
    /// `host` is the synchronous standby of the acting primary again, after `took`.
    Rebuilt { host: usize, took: Duration },
    /// Rebuilding `host` failed; the detector tries again later.
    RebuildFailed { host: usize, error: String },
}

/// A primary and its synchronous replica.
pub struct PgPair {
    install: PgInstall,
    specs: [HostSpec; 2],
    hosts: [Arc<Mutex<PgCluster>>; 2],
    /// The host the detector holds for the primary.
    acting: AtomicUsize,
    /// How many rebuilds the pair has done (names the dump files).
    rebuilds: AtomicUsize,
    /// Recorded for tests and the runner: every event the detector sent.
    history: StdMutex<Vec<DetectorEvent>>,
}

impl PgPair {
    /// Makes and starts the pair: `specs[0]` the primary (with the schema), `specs[1]` its
    /// replica from a base backup over `specs[1].peer_route`; returns once the replica is the
    /// primary's synchronous standby.
    pub async fn create(install: &PgInstall, specs: [HostSpec; 2]) -> Result<PgPair, PgError> {
        let options = |spec: &HostSpec| ClusterOptions {
            name: spec.name.clone(),
            synchronous_standby: true,
        };
        let mut primary =
            PgCluster::init_with(install, &specs[0].dir, specs[0].port, options(&specs[0])).await?;
        primary.start().await?;
        let mut replica =
            PgCluster::for_copy(install, &specs[1].dir, specs[1].port, options(&specs[1]))?;
        base_backup(&replica, &specs[1]).await?;
        replica.write_host_conf()?;
        replica.start().await?;
        wait_sync(specs[0].addr(), &specs[1].application_name(), SYNC_TIMEOUT).await?;
        Ok(PgPair {
            install: install.clone(),
            specs,
            hosts: [Arc::new(Mutex::new(primary)), Arc::new(Mutex::new(replica))],
            acting: AtomicUsize::new(0),
            rebuilds: AtomicUsize::new(0),
            history: StdMutex::new(Vec::new()),
        })
    }

    /// Host `index`'s cluster, for the caller's faults (kill, pause, start, ...). The detector
    /// holds it while it rebuilds that host.
    pub fn host(&self, index: usize) -> &Arc<Mutex<PgCluster>> {
        &self.hosts[index]
    }

    pub fn spec(&self, index: usize) -> &HostSpec {
        &self.specs[index]
    }

    /// The host the detector holds for the primary (0 until a failover).
    pub fn acting(&self) -> usize {
        self.acting.load(Ordering::SeqCst)
    }

    /// Both hosts' URLs, the acting primary first (direct addresses, not the routes).
    pub fn urls(&self) -> Vec<String> {
        let acting = self.acting();
        [acting, 1 - acting]
            .iter()
            .map(|&i| conn::url(self.specs[i].addr()))
            .collect()
    }

    pub fn install(&self) -> &PgInstall {
        &self.install
    }

    /// Every event the detector has reported so far.
    pub fn history(&self) -> Vec<DetectorEvent> {
        self.history
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The failure detector; runs until the task is aborted or `events`' receiver is gone.
    /// `states[i]` is the caller's view of host `i`.
    pub async fn run_detector(
        self: Arc<Self>,
        states: [watch::Receiver<HostState>; 2],
        events: mpsc::UnboundedSender<DetectorEvent>,
    ) {
        let mut detector = Detector {
            pair: self,
            states,
            events,
            last_heard: Instant::now(),
            in_sync: true,
            probe: None,
            stale: None,
            rebuild_after: Instant::now(),
        };
        let mut tick = tokio::time::interval(HEARTBEAT);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if detector.events.is_closed() {
                return;
            }
            detector.heartbeat().await;
        }
    }
}

/// The detector's memory, as the replica host's process holds it in the model.
struct Detector {
    pair: Arc<PgPair>,
    states: [watch::Receiver<HostState>; 2],
    events: mpsc::UnboundedSender<DetectorEvent>,
    /// When the replica last heard the acting primary answer as the primary.
    last_heard: Instant,
    /// Whether that answer said the replica was its synchronous standby.
    in_sync: bool,
    /// The probe connection from the replica to the primary (over the replica's route).
    probe: Option<Conn>,
    /// The old primary awaiting its rebuild, if any.
    stale: Option<usize>,
    rebuild_after: Instant,
}

impl Detector {
    fn state(&self, host: usize) -> HostState {
        *self.states[host].borrow()
    }

    fn report(&self, kind: DetectorEventKind) {
        let event = DetectorEvent {
            at: Instant::now(),
            kind,
        };
        self.pair
            .history
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(event.clone());
        let _ = self.events.send(event);
    }

    async fn heartbeat(&mut self) {
        let primary = self.pair.acting();
        let replica = 1 - primary;
        if self.stale == Some(replica) {
            // No replica until the old primary is rebuilt: nothing to fail over to.
            if self.state(replica) == HostState::Up && Instant::now() >= self.rebuild_after {
                self.rebuild(replica, primary).await;
            }
            return;
        }
        // The detector lives on the replica host: down or paused, it hears and does nothing.
        if self.state(replica) != HostState::Up {
            self.probe = None;
            return;
        }
        match self.ask_primary(replica).await {
            Some(in_sync) => {
                self.last_heard = Instant::now();
                self.in_sync = in_sync;
            }
            None => self.probe = None,
        }
        let silent = self.last_heard.elapsed();
        if silent >= FAILOVER_AFTER && self.in_sync {
            self.promote(replica, silent).await;
        }
    }

    /// Asks the primary, over the replica's route, whether it acts and whether the replica is
    /// its synchronous standby. `None`: no answer, or not a primary.
    async fn ask_primary(&mut self, replica: usize) -> Option<bool> {
        let route = self.pair.specs[replica].peer_route;
        if self.probe.as_ref().is_none_or(|c| c.client.is_closed()) {
            self.probe = conn::connect(route, PROBE_TIMEOUT).await.ok();
        }
        let probe = self.probe.as_ref()?;
        let name = self.pair.specs[replica].application_name();
        let asked = tokio::time::timeout(
            PROBE_TIMEOUT,
            probe.client.query_one(
                "SELECT pg_is_in_recovery(), \
                 coalesce((SELECT bool_or(sync_state = 'sync' AND state = 'streaming') \
                           FROM pg_stat_replication WHERE application_name = $1), false)",
                &[&name],
            ),
        )
        .await;
        let row = asked.ok()?.ok()?;
        let in_recovery: bool = row.try_get(0).ok()?;
        let in_sync: bool = row.try_get(1).ok()?;
        (!in_recovery).then_some(in_sync)
    }

    async fn promote(&mut self, replica: usize, silent: Duration) {
        match promote(self.pair.specs[replica].addr()).await {
            Ok(()) => {
                self.pair.acting.store(replica, Ordering::SeqCst);
                self.stale = Some(1 - replica);
                self.probe = None;
                self.rebuild_after = Instant::now();
                self.report(DetectorEventKind::Promoted {
                    host: replica,
                    silent,
                });
            }
            Err(err) => self.report(DetectorEventKind::PromoteFailed {
                host: replica,
                error: err.to_string(),
            }),
        }
    }

    async fn rebuild(&mut self, old: usize, primary: usize) {
        let begun = Instant::now();
        match rebuild(&self.pair, old, primary).await {
            Ok(dump) => {
                if let Some((path, rows, released)) = dump {
                    self.report(DetectorEventKind::Dumped {
                        host: old,
                        path,
                        rows,
                        released,
                    });
                }
                self.stale = None;
                self.last_heard = Instant::now();
                self.in_sync = true;
                self.report(DetectorEventKind::Rebuilt {
                    host: old,
                    took: begun.elapsed(),
                });
            }
            Err(err) => {
                self.rebuild_after = Instant::now() + REBUILD_RETRY;
                self.report(DetectorEventKind::RebuildFailed {
                    host: old,
                    error: err.to_string(),
                });
            }
        }
    }
}

/// Promotes the standby at `addr` and lets it commit alone until a standby follows it.
async fn promote(addr: SocketAddr) -> Result<(), PgError> {
    let control = conn::connect(addr, CONTROL_TIMEOUT)
        .await
        .map_err(|source| PgError::Connect { addr, source })?;
    let promoted: bool = control
        .client
        .query_one("SELECT pg_promote(true, 30)", &[])
        .await
        .map_err(sql_error("pg_promote"))?
        .try_get(0)
        .map_err(sql_error("pg_promote's answer"))?;
    if !promoted {
        return Err(PgError::Unexpected(format!(
            "pg_promote on {addr} did not finish within 30 s"
        )));
    }
    set_synchronous(&control, false).await
}

/// `synchronous_standby_names` = `'*'` or `''`, persisted and in force.
async fn set_synchronous(control: &Conn, synchronous: bool) -> Result<(), PgError> {
    let names = if synchronous { "'*'" } else { "''" };
    // Two statements, not one batch: a batch is one implicit transaction, and ALTER SYSTEM
    // refuses to run inside a transaction.
    control
        .client
        .batch_execute(&format!(
            "ALTER SYSTEM SET synchronous_standby_names = {names}"
        ))
        .await
        .map_err(sql_error("setting synchronous_standby_names"))?;
    control
        .client
        .batch_execute("SELECT pg_reload_conf()")
        .await
        .map_err(sql_error("reloading the configuration"))
}

/// What a rebuild dumped: the file, its row count, the backends released.
type Dump = Option<(PathBuf, usize, usize)>;

/// Makes the old primary `old` the synchronous standby of `primary`.
async fn rebuild(pair: &PgPair, old: usize, primary: usize) -> Result<Dump, PgError> {
    let spec = &pair.specs[old];
    let mut cluster = pair.hosts[old].lock().await;
    let dump = if cluster.is_running() && cluster.exited().is_none() {
        let control = cluster.connect(CONTROL_TIMEOUT).await?;
        let released = release_sync_waiters(&control).await?;
        let rows = read_rows_on(&control).await?;
        let n = pair.rebuilds.fetch_add(1, Ordering::SeqCst) + 1;
        let path = spec.dir.join(format!("rows-before-rebuild-{n}.tsv"));
        write_tsv(&rows, &path)?;
        Some((path, rows.len(), released))
    } else {
        // Up by the caller's word but not running (it crashed by itself): its disk is
        // replaced without a look, as nothing can be read from it without starting it as a
        // primary.
        None
    };
    cluster.kill()?;
    cluster.remove_data()?;
    base_backup(&cluster, spec).await?;
    cluster.write_host_conf()?;
    cluster.start().await?;
    drop(cluster);
    let new_primary = pair.specs[primary].addr();
    let control = conn::connect(new_primary, CONTROL_TIMEOUT)
        .await
        .map_err(|source| PgError::Connect {
            addr: new_primary,
            source,
        })?;
    set_synchronous(&control, true).await?;
    wait_sync(new_primary, &spec.application_name(), SYNC_TIMEOUT).await?;
    Ok(dump)
}

/// Ends every backend waiting for synchronous replication on the server of `control`:
/// PostgreSQL then commits their transactions locally, so the dump that follows shows them.
/// Returns how many there were.
async fn release_sync_waiters(control: &Conn) -> Result<usize, PgError> {
    let released = control
        .client
        .query(
            "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity \
             WHERE wait_event = 'SyncRep' AND pid <> pg_backend_pid()",
            &[],
        )
        .await
        .map_err(sql_error("releasing backends waiting for replication"))?;
    Ok(released.len())
}

/// Fills `cluster`'s (empty) data directory with a base backup of the server at
/// `spec.peer_route`, configured to follow it (`-R`) with `spec`'s standby name.
async fn base_backup(cluster: &PgCluster, spec: &HostSpec) -> Result<(), PgError> {
    let source = format!(
        "{} application_name={} connect_timeout=5",
        conninfo(spec.peer_route),
        spec.application_name()
    );
    let mut command = std::process::Command::new(&cluster.install().pg_basebackup);
    command
        .arg("-d")
        .arg(&source)
        .arg("-D")
        .arg(cluster.data_dir())
        // -R: standby.signal and primary_conninfo (with the application name) in the copy;
        // -X stream: the WAL written meanwhile; -c fast: no wait for a checkpoint;
        // -N: no fsyncs, as initdb (see the cluster module).
        .args(["-R", "-X", "stream", "-c", "fast", "-N"]);
    cluster
        .run_helper(
            &format!("pg_basebackup from {}", spec.peer_route),
            command,
            None,
            HELPER_TIMEOUT,
        )
        .await
}

/// Waits until the server at `addr` has `standby` as its streaming synchronous standby.
async fn wait_sync(addr: SocketAddr, standby: &str, timeout: Duration) -> Result<(), PgError> {
    let deadline = Instant::now() + timeout;
    loop {
        let last: String;
        match conn::connect(addr, CONTROL_TIMEOUT).await {
            Ok(control) => {
                let row = control
                    .client
                    .query_one(
                        "SELECT coalesce((SELECT bool_or(sync_state = 'sync' AND state = 'streaming') \
                         FROM pg_stat_replication WHERE application_name = $1), false)",
                        &[&standby],
                    )
                    .await;
                match row.map(|r| r.try_get::<_, bool>(0)) {
                    Ok(Ok(true)) => return Ok(()),
                    Ok(Ok(false)) => last = "not a streaming synchronous standby yet".into(),
                    Ok(Err(err)) | Err(err) => last = err.to_string(),
                }
            }
            Err(err) => last = err.to_string(),
        }
        if Instant::now() >= deadline {
            return Err(PgError::Timeout {
                what: format!("{standby} streaming as the synchronous standby of {addr}"),
                timeout,
                log: last,
            });
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

//! A real ZooKeeper ensemble on the loopback interface, for tests against the real engine.
//!
//! [`RealEnsemble::start`] runs one `java … QuorumPeerMain <cfg>` process per server from
//! Debian's `zookeeper` package, each with its own directory (config, `myid`, data, log) under a
//! fresh temporary directory and its own client, quorum and election ports, and waits until the
//! ensemble has a leader and every server serves. Faults are real: `kill -9`, SIGSTOP/SIGCONT,
//! restart, and wiping a server's data. Dropping the ensemble (also while a test unwinds from a
//! panic) kills every server's process group and deletes the directory.
//!
//! Servers are numbered from 0 in this API; server `i` has ZooKeeper `myid` `i + 1`. Voters
//! come first, then observers.

pub use super::config::EnsembleConfig;
use super::config::{Peer, zoo_cfg};
pub use super::error::HarnessError;
use super::error::io_error;
use super::four_letter::{self, SrvrMode};
use super::install::{QUORUM_PEER_MAIN, ZkInstall};
use super::ports::PortReservation;
use super::process::{self, Launcher};
use std::fmt::Write as _;
use std::fs::{self, OpenOptions};
use std::io::{self, Write as _};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// A server's role as the harness sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ServerMode {
    Leader,
    Follower,
    Observer,
    Standalone,
    /// Running and answering, but not part of a quorum: it serves no client.
    NotServing,
    /// Running, but `srvr` got no answer in time.
    Unreachable,
    /// Paused by [`RealEnsemble::stop`].
    Paused,
    /// Not running (never started, or killed).
    Down,
}

impl ServerMode {
    /// Whether the server serves clients as a member of a quorum.
    pub fn is_serving(self) -> bool {
        matches!(
            self,
            ServerMode::Leader
                | ServerMode::Follower
                | ServerMode::Observer
                | ServerMode::Standalone
        )
    }
}

/// `srvr` answer timeout: generous, as JVMs on a loaded 2-core machine answer slowly.
const SRVR_TIMEOUT: Duration = Duration::from_millis(1500);
/// How often waits re-check the servers.
const POLL_INTERVAL: Duration = Duration::from_millis(100);
/// Start attempts with fresh ports when another process took one of ours in between.
const PORT_ATTEMPTS: usize = 3;
/// Log lines shown per server in errors.
const LOG_TAIL_LINES: usize = 40;
/// Set to keep the ensemble's directory after drop, for post-mortems.
const KEEP_DIRS_ENV: &str = "SPLITBRAIN_KEEP_ZK_DIRS";

struct Server {
    myid: usize,
    dir: PathBuf,
    data_dir: PathBuf,
    cfg_path: PathBuf,
    log_path: PathBuf,
    client_port: u16,
    quorum_port: u16,
    election_port: u16,
    process: Option<Child>,
    paused: bool,
}

/// A running ensemble of real ZooKeeper servers. See the module documentation.
pub struct RealEnsemble {
    config: EnsembleConfig,
    install: ZkInstall,
    root: PathBuf,
    servers: Vec<Server>,
    launcher: Launcher,
    /// How each server reaches the others (identity for a plain ensemble).
    route: Option<PeerRoute>,
    /// Whether `root` outlives the ensemble (a routed ensemble's owner, a live run, keeps the
    /// servers' logs in its own directory).
    keep_root: bool,
}

/// The addresses one server uses to reach another: `route(from, to, quorum, election)` gives
/// the quorum and election addresses server `from` dials for server `to` (both indices from 0),
/// given `to`'s real ones. The live runner routes them through the relays it owns, so that a
/// partition between two servers cuts their traffic for real.
pub type PeerRoute =
    Box<dyn Fn(usize, usize, SocketAddr, SocketAddr) -> (SocketAddr, SocketAddr) + Send + Sync>;

/// The ports of one server of a routed ensemble: client, quorum, election.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerPorts {
    pub client: u16,
    pub quorum: u16,
    pub election: u16,
}

impl ServerPorts {
    /// Servers' ports from a flat list, three a server (as a reservation hands them out).
    pub fn from_triples(ports: &[u16]) -> Vec<ServerPorts> {
        ports
            .chunks_exact(3)
            .map(|p| ServerPorts {
                client: p[0],
                quorum: p[1],
                election: p[2],
            })
            .collect()
    }
}

impl RealEnsemble {
    /// Starts the ensemble and waits until it has a leader and every server serves.
    pub fn start(config: EnsembleConfig) -> Result<RealEnsemble, HarnessError> {
        config.validate()?;
        let install = ZkInstall::locate()?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let ensemble = RealEnsemble::launch(config.clone(), install.clone())?;
            match ensemble.wait_until_all_serving(config.start_timeout) {
                Ok(()) => return Ok(ensemble),
                // Another process bound one of our ports between the check and the start.
                Err(_) if attempt < PORT_ATTEMPTS && ensemble.saw_port_clash() => continue,
                Err(err) => return Err(err),
            }
        }
    }

    fn launch(config: EnsembleConfig, install: ZkInstall) -> Result<RealEnsemble, HarnessError> {
        let reservation = PortReservation::reserve(3 * config.total_servers())
            .map_err(io_error("reserving loopback ports"))?;
        let ports = ServerPorts::from_triples(&reservation.ports());
        let root = create_root_dir()?;
        // From here on, Drop cleans up whatever was created.
        let mut ensemble = RealEnsemble::assemble(config, install, root, &ports, None)?;
        ensemble.write_all_server_files()?;
        reservation.release();
        ensemble.spawn_all()?;
        Ok(ensemble)
    }

    /// The ensemble's servers in `root`, on `ports`, none started yet.
    fn assemble(
        config: EnsembleConfig,
        install: ZkInstall,
        root: PathBuf,
        ports: &[ServerPorts],
        route: Option<PeerRoute>,
    ) -> Result<RealEnsemble, HarnessError> {
        let launcher = Launcher::new()?;
        let servers = ports
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let dir = root.join(format!("server-{}", i + 1));
                Server {
                    myid: i + 1,
                    data_dir: dir.join("data"),
                    cfg_path: dir.join("zoo.cfg"),
                    log_path: dir.join("server.log"),
                    dir,
                    client_port: p.client,
                    quorum_port: p.quorum,
                    election_port: p.election,
                    process: None,
                    paused: false,
                }
            })
            .collect();
        Ok(RealEnsemble {
            config,
            install,
            root,
            servers,
            launcher,
            keep_root: route.is_some(),
            route,
        })
    }

    fn write_all_server_files(&self) -> Result<(), HarnessError> {
        (0..self.servers.len()).try_for_each(|i| self.write_server_files(i))
    }

    fn spawn_all(&mut self) -> Result<(), HarnessError> {
        (0..self.servers.len()).try_for_each(|i| self.spawn(i))
    }

    /// Starts every server of a routed ensemble in `root` (which the caller owns and keeps:
    /// logs stay there) on the given ports, each server reaching the others as `route` says.
    /// Does not wait: see [`wait_until_all_serving`](Self::wait_until_all_serving).
    pub fn launch_routed(
        config: EnsembleConfig,
        root: PathBuf,
        ports: Vec<ServerPorts>,
        route: PeerRoute,
    ) -> Result<RealEnsemble, HarnessError> {
        config.validate()?;
        if ports.len() != config.total_servers() {
            return Err(HarnessError::BadConfig(format!(
                "{} port sets for {} servers",
                ports.len(),
                config.total_servers()
            )));
        }
        let install = ZkInstall::locate()?;
        fs::create_dir_all(&root).map_err(io_error(format!("creating {}", root.display())))?;
        let mut ensemble = RealEnsemble::assemble(config, install, root, &ports, Some(route))?;
        ensemble.write_all_server_files()?;
        ensemble.spawn_all()?;
        Ok(ensemble)
    }

    /// Server `i`'s real ports (a routed ensemble's servers listen on these; peers and clients
    /// may reach them through relays).
    pub fn ports(&self, i: usize) -> Result<ServerPorts, HarnessError> {
        let s = self.server(i)?;
        Ok(ServerPorts {
            client: s.client_port,
            quorum: s.quorum_port,
            election: s.election_port,
        })
    }

    /// Server `i`'s log file.
    pub fn log_path(&self, i: usize) -> Result<&Path, HarnessError> {
        Ok(&self.server(i)?.log_path)
    }

    /// Whether server `i` runs (paused counts as running).
    pub fn is_running(&self, i: usize) -> bool {
        self.server(i).is_ok_and(|s| s.process.is_some())
    }

    /// Whether server `i` is paused.
    pub fn is_paused(&self, i: usize) -> bool {
        self.server(i).is_ok_and(|s| s.paused)
    }

    fn write_server_files(&self, i: usize) -> Result<(), HarnessError> {
        let server = &self.servers[i];
        fs::create_dir_all(&server.data_dir)
            .map_err(io_error(format!("creating {}", server.data_dir.display())))?;
        fs::write(server.data_dir.join("myid"), format!("{}\n", server.myid))
            .map_err(io_error("writing myid"))?;
        fs::write(&server.cfg_path, self.server_config(i))
            .map_err(io_error(format!("writing {}", server.cfg_path.display())))
    }

    /// The zoo.cfg of server `i`.
    fn server_config(&self, i: usize) -> String {
        let local = |port: u16| SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let peers: Vec<Peer> = self
            .servers
            .iter()
            .enumerate()
            .map(|(j, s)| {
                let (quorum, election) = match &self.route {
                    Some(route) if j != i => {
                        route(i, j, local(s.quorum_port), local(s.election_port))
                    }
                    _ => (local(s.quorum_port), local(s.election_port)),
                };
                Peer {
                    client: s.client_port,
                    quorum,
                    election,
                    observer: s.myid > self.config.servers,
                }
            })
            .collect();
        zoo_cfg(&self.config, i, &self.servers[i].data_dir, &peers)
    }

    fn spawn(&mut self, i: usize) -> Result<(), HarnessError> {
        let server = &self.servers[i];
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&server.log_path)
            .map_err(io_error(format!("opening {}", server.log_path.display())))?;
        let _ = writeln!(
            log,
            "=== splitbrain harness: starting server {} ===",
            server.myid
        );
        let stderr = log.try_clone().map_err(io_error("duplicating log file"))?;
        let mut command = Command::new(&self.install.java);
        command
            .arg(format!("-Xmx{}m", self.config.heap_mb))
            .args([
                "-Xms16m",
                "-Xss512k",
                // Light JVM: the test machine has 2 cores shared by many processes.
                "-XX:+UseSerialGC",
                "-XX:TieredStopAtLevel=1",
                "-XX:ActiveProcessorCount=1",
                "-XX:-UsePerfData",
                "-XX:+ExitOnOutOfMemoryError",
                "-Djava.net.preferIPv4Stack=true",
                "-Dzookeeper.jmx.log4j.disable=true",
                "-Dorg.slf4j.simpleLogger.showDateTime=true",
                "-Dorg.slf4j.simpleLogger.dateTimeFormat=HH:mm:ss.SSS",
            ])
            .args(self.config.container_check_interval.map(|interval| {
                format!("-Dznode.container.checkIntervalMs={}", interval.as_millis())
            }))
            .arg("-cp")
            .arg(&self.install.classpath)
            .arg(QUORUM_PEER_MAIN)
            .arg(&server.cfg_path)
            .current_dir(&server.dir)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(stderr);
        let child = self
            .launcher
            .launch(command)
            .map_err(io_error(format!("starting server {}", server.myid)))?;
        self.servers[i].process = Some(child);
        self.servers[i].paused = false;
        Ok(())
    }

    // ---- addresses -------------------------------------------------------------------------

    /// Number of servers.
    pub fn len(&self) -> usize {
        self.servers.len()
    }

    /// Always false: an ensemble has at least one server.
    pub fn is_empty(&self) -> bool {
        self.servers.is_empty()
    }

    /// The connect string listing every server (`127.0.0.1:p1,127.0.0.1:p2,…`).
    pub fn connect_string(&self) -> String {
        self.servers
            .iter()
            .map(|s| format!("127.0.0.1:{}", s.client_port))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The client address of server `i`.
    pub fn client_addr(&self, i: usize) -> Result<SocketAddr, HarnessError> {
        let server = self.server(i)?;
        Ok(SocketAddr::from((Ipv4Addr::LOCALHOST, server.client_port)))
    }

    /// The directory of server `i` (config, `server.log`, `data/`).
    pub fn server_dir(&self, i: usize) -> Result<&Path, HarnessError> {
        Ok(&self.server(i)?.dir)
    }

    /// The process id of server `i` (the leader of its process group), if it is running.
    pub fn pid(&self, i: usize) -> Result<Option<u32>, HarnessError> {
        Ok(self.server(i)?.process.as_ref().map(Child::id))
    }

    fn server(&self, i: usize) -> Result<&Server, HarnessError> {
        self.servers.get(i).ok_or(HarnessError::NoSuchServer {
            index: i,
            servers: self.servers.len(),
        })
    }

    fn server_mut(&mut self, i: usize) -> Result<&mut Server, HarnessError> {
        let servers = self.servers.len();
        self.servers
            .get_mut(i)
            .ok_or(HarnessError::NoSuchServer { index: i, servers })
    }

    // ---- observation -----------------------------------------------------------------------

    /// Server `i`'s role, asked with `srvr` unless the harness knows it is down or paused.
    pub fn mode(&self, i: usize) -> Result<ServerMode, HarnessError> {
        let server = self.server(i)?;
        Ok(query_mode(server))
    }

    /// Every server's role, asked in parallel.
    pub fn modes(&self) -> Vec<ServerMode> {
        thread::scope(|scope| {
            let asks: Vec<_> = self
                .servers
                .iter()
                .map(|server| scope.spawn(move || query_mode(server)))
                .collect();
            asks.into_iter()
                .map(|ask| ask.join().unwrap_or(ServerMode::Unreachable))
                .collect()
        })
    }

    /// The server that reports itself leader, if exactly one does.
    pub fn leader(&self) -> Option<usize> {
        let modes = self.modes();
        let mut leaders = modes
            .iter()
            .enumerate()
            .filter(|(_, m)| matches!(m, ServerMode::Leader | ServerMode::Standalone));
        match (leaders.next(), leaders.next()) {
            (Some((i, _)), None) => Some(i),
            _ => None,
        }
    }

    /// Waits until exactly one server reports itself leader; returns it.
    pub fn wait_for_leader(&self, timeout: Duration) -> Result<usize, HarnessError> {
        self.wait_until("an elected leader", timeout, |ensemble| ensemble.leader())
    }

    /// Waits until server `i` serves clients (as leader or follower).
    pub fn wait_serving(&self, i: usize, timeout: Duration) -> Result<ServerMode, HarnessError> {
        self.server(i)?;
        self.wait_until(&format!("server {i} serving"), timeout, |ensemble| {
            ensemble.mode(i).ok().filter(|m| m.is_serving())
        })
    }

    /// Waits until server `i` reports `expected` (e.g. `NotServing` after its quorum is gone).
    pub fn wait_for_mode(
        &self,
        i: usize,
        expected: ServerMode,
        timeout: Duration,
    ) -> Result<(), HarnessError> {
        self.server(i)?;
        self.wait_until(
            &format!("server {i} in mode {expected:?}"),
            timeout,
            |ensemble| (ensemble.mode(i).ok() == Some(expected)).then_some(()),
        )
    }

    /// Waits until one server leads and every running, unpaused server serves.
    pub fn wait_until_all_serving(&self, timeout: Duration) -> Result<(), HarnessError> {
        self.wait_until(
            "a leader with every running server serving",
            timeout,
            |ensemble| {
                let modes = ensemble.modes();
                let leaders = modes
                    .iter()
                    .filter(|m| matches!(m, ServerMode::Leader | ServerMode::Standalone))
                    .count();
                let all_serving = modes
                    .iter()
                    .all(|m| m.is_serving() || matches!(m, ServerMode::Down | ServerMode::Paused));
                (leaders == 1 && all_serving).then_some(())
            },
        )
    }

    /// Polls `probe` until it yields a value. Fails early if a server process exits by itself,
    /// and on timeout; both errors carry the tail of every server's log.
    fn wait_until<T>(
        &self,
        what: &str,
        timeout: Duration,
        mut probe: impl FnMut(&RealEnsemble) -> Option<T>,
    ) -> Result<T, HarnessError> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(value) = probe(self) {
                return Ok(value);
            }
            if let Some((index, status)) = self.exited_server() {
                return Err(HarnessError::Exited {
                    index,
                    status,
                    logs: self.log_tails(),
                });
            }
            if Instant::now() >= deadline {
                return Err(HarnessError::Timeout {
                    what: format!("no {what}"),
                    timeout,
                    logs: self.log_tails(),
                });
            }
            thread::sleep(POLL_INTERVAL);
        }
    }

    /// A server the harness believes running whose process has exited, with its exit status.
    fn exited_server(&self) -> Option<(usize, String)> {
        self.servers.iter().enumerate().find_map(|(i, s)| {
            let pid = s.process.as_ref()?.id();
            process::exit_status(pid).map(|status| (i, status))
        })
    }

    fn saw_port_clash(&self) -> bool {
        self.servers.iter().any(|s| {
            fs::read_to_string(&s.log_path)
                .map(|log| log.contains("Address already in use"))
                .unwrap_or(false)
        })
    }

    /// The last lines of every server's log, for error messages.
    pub fn log_tails(&self) -> String {
        let mut out = String::new();
        for (i, s) in self.servers.iter().enumerate() {
            let _ = writeln!(
                out,
                "--- server {i} (myid {}, client port {}) {} ---",
                s.myid,
                s.client_port,
                s.log_path.display()
            );
            match fs::read_to_string(&s.log_path) {
                Ok(log) => {
                    let lines: Vec<&str> = log.lines().collect();
                    for line in &lines[lines.len().saturating_sub(LOG_TAIL_LINES)..] {
                        let _ = writeln!(out, "{line}");
                    }
                }
                Err(err) => {
                    let _ = writeln!(out, "(no log: {err})");
                }
            }
        }
        out
    }

    // ---- faults ----------------------------------------------------------------------------

    /// Kills server `i` with SIGKILL (its whole process group) and reaps it.
    pub fn kill9(&mut self, i: usize) -> Result<(), HarnessError> {
        let server = self.server_mut(i)?;
        let Some(mut child) = server.process.take() else {
            return Err(HarnessError::WrongState {
                index: i,
                problem: "is not running".into(),
            });
        };
        server.paused = false;
        process::kill_and_reap(&mut child).map_err(io_error(format!("killing server {i}")))
    }

    /// Pauses server `i` (SIGSTOP): its sockets stay open, it answers nothing.
    pub fn stop(&mut self, i: usize) -> Result<(), HarnessError> {
        let server = self.server_mut(i)?;
        let pid = running_pid(server, i)?;
        if server.paused {
            return Err(HarnessError::WrongState {
                index: i,
                problem: "is already paused".into(),
            });
        }
        process::signal_group(pid, libc::SIGSTOP)
            .map_err(io_error(format!("pausing server {i}")))?;
        server.paused = true;
        Ok(())
    }

    /// Resumes server `i` after [`stop`](Self::stop) (SIGCONT).
    pub fn cont(&mut self, i: usize) -> Result<(), HarnessError> {
        let server = self.server_mut(i)?;
        let pid = running_pid(server, i)?;
        if !server.paused {
            return Err(HarnessError::WrongState {
                index: i,
                problem: "is not paused".into(),
            });
        }
        process::signal_group(pid, libc::SIGCONT)
            .map_err(io_error(format!("resuming server {i}")))?;
        server.paused = false;
        Ok(())
    }

    /// Starts server `i` again after [`kill9`](Self::kill9), with the same ports and data
    /// directory. Does not wait; see [`wait_serving`](Self::wait_serving).
    pub fn restart(&mut self, i: usize) -> Result<(), HarnessError> {
        if self.server(i)?.process.is_some() {
            return Err(HarnessError::WrongState {
                index: i,
                problem: "is running; kill it before restarting".into(),
            });
        }
        self.spawn(i)
    }

    /// Deletes server `i`'s data (snapshots and transaction logs), keeping its `myid`, as after
    /// a disk loss. The server must be down.
    pub fn wipe(&mut self, i: usize) -> Result<(), HarnessError> {
        let server = self.server(i)?;
        if server.process.is_some() {
            return Err(HarnessError::WrongState {
                index: i,
                problem: "is running; kill it before wiping its data".into(),
            });
        }
        let entries = fs::read_dir(&server.data_dir)
            .map_err(io_error(format!("listing {}", server.data_dir.display())))?;
        for entry in entries {
            let entry = entry.map_err(io_error("listing data dir"))?;
            if entry.file_name() == "myid" {
                continue;
            }
            let path = entry.path();
            let removed = if path.is_dir() {
                fs::remove_dir_all(&path)
            } else {
                fs::remove_file(&path)
            };
            removed.map_err(io_error(format!("removing {}", path.display())))?;
        }
        Ok(())
    }
}

impl Drop for RealEnsemble {
    fn drop(&mut self) {
        for server in &mut self.servers {
            if let Some(mut child) = server.process.take() {
                // SIGKILL also ends a stopped process; nothing to resume first.
                let _ = process::kill_and_reap(&mut child);
            }
        }
        if thread::panicking() {
            eprintln!(
                "real ZooKeeper ensemble at {} dropped during a panic; server logs:\n{}",
                self.root.display(),
                self.log_tails()
            );
        }
        if self.keep_root {
            // The owner (a live run) keeps the directory with the servers' logs.
        } else if std::env::var_os(KEEP_DIRS_ENV).is_some() {
            eprintln!("keeping {} ({KEEP_DIRS_ENV} is set)", self.root.display());
        } else {
            let _ = fs::remove_dir_all(&self.root);
        }
    }
}

fn query_mode(server: &Server) -> ServerMode {
    if server.process.is_none() {
        return ServerMode::Down;
    }
    if server.paused {
        return ServerMode::Paused;
    }
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, server.client_port));
    match four_letter::ask(addr, "srvr", SRVR_TIMEOUT).and_then(|a| four_letter::parse_srvr(&a)) {
        Ok(status) => match status.mode {
            SrvrMode::Leader => ServerMode::Leader,
            SrvrMode::Follower => ServerMode::Follower,
            SrvrMode::Observer => ServerMode::Observer,
            SrvrMode::Standalone => ServerMode::Standalone,
            SrvrMode::NotServing => ServerMode::NotServing,
        },
        Err(_) => ServerMode::Unreachable,
    }
}

fn running_pid(server: &Server, index: usize) -> Result<u32, HarnessError> {
    server
        .process
        .as_ref()
        .map(Child::id)
        .ok_or(HarnessError::WrongState {
            index,
            problem: "is not running".into(),
        })
}

fn create_root_dir() -> Result<PathBuf, HarnessError> {
    let base = std::env::temp_dir();
    let mut last_error = None;
    for attempt in 0..100u32 {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir = base.join(format!(
            "splitbrain-zk-{}-{:08x}",
            std::process::id(),
            nanos.wrapping_add(attempt)
        ));
        match fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(err) => last_error = Some(err),
        }
    }
    Err(HarnessError::Io {
        context: format!("creating a directory under {}", base.display()),
        source: last_error.unwrap_or_else(|| io::Error::other("no attempt made")),
    })
}

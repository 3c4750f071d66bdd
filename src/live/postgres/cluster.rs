//! A scratch PostgreSQL cluster in a directory the caller gives: made, started, crashed,
//! paused, stopped and wiped on request.
//!
//! Layout of the directory (`<run dir>/db`, say):
//!
//! - `data/`: the cluster (`PGDATA`), owned by the server user;
//! - `sock/`: the server's Unix socket, when the path is short enough for one (the harness
//!   itself talks TCP on 127.0.0.1 only);
//! - `postgres.log`: everything the server wrote, across restarts, with a line from the
//!   harness before each start.
//!
//! Durability is the database's promise this harness tests, so the server keeps `fsync = on`
//! and `synchronous_commit = on`: a crash ([`PgCluster::kill`], SIGKILL of every server
//! process) followed by [`PgCluster::start`] runs crash recovery and keeps every committed row.
//! Only `initdb`, `pg_basebackup` and the recovery start-up's sync of the data directory skip
//! or shorten their fsyncs (`--no-sync`, `recovery_init_sync_method = syncfs`): those files
//! sit in the page cache, which a process crash cannot lose; the harness never simulates a
//! power cut of the machine itself. `initdb` with its fsyncs took 4.4 s here, without 0.6 s.
//!
//! Measured on the 2-core development machine (2026-12-07), with other builds running:
//! init + start + schema 0.45-1.0 s, a start after a crash (recovery included) 0.12-0.24 s, a
//! wipe + start 0.5-1.4 s; a primary with its synchronous replica 0.9-1.8 s.

use super::conn::{self, Conn};
use super::error::{PgError, io_error};
use super::install::PgInstall;
use super::schema;
use super::signals;
use crate::live::process::{Launcher, exit_status};
use std::io::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a start may take to accept connections (crash recovery included).
pub const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a fast shutdown may take before the server is killed instead.
pub const STOP_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a crash waits for the server's children to be gone: a new postmaster refuses to
/// start while an old backend still maps the shared memory.
const CRASH_SETTLE: Duration = Duration::from_secs(5);
/// The longest Unix socket path the kernel takes (`sun_path` is 108 bytes with its NUL).
const MAX_SOCKET_PATH: usize = 107;
/// How long a helper program (initdb, pg_basebackup, single-user mode) may take.
pub(crate) const HELPER_TIMEOUT: Duration = Duration::from_secs(60);
/// How many lines of the log an error carries.
const LOG_TAIL_LINES: usize = 40;
/// The file, included last by `postgresql.conf`, holding what differs between the hosts of a
/// replicated pair (`pg_basebackup` copies everything else).
pub(crate) const HOST_CONF: &str = "splitbrain-host.conf";

/// How a cluster is configured beyond the harness's fixed settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterOptions {
    /// `cluster_name`, shown in the process titles and the log.
    pub name: String,
    /// `synchronous_standby_names = '*'`: every commit waits until a standby has flushed it
    /// (primary-replica mode). Off, commits wait for the local disk only.
    pub synchronous_standby: bool,
}

impl Default for ClusterOptions {
    fn default() -> Self {
        ClusterOptions {
            name: "splitbrain".into(),
            synchronous_standby: false,
        }
    }
}

/// A scratch cluster and, while it runs, its postmaster.
pub struct PgCluster {
    install: PgInstall,
    dir: PathBuf,
    port: u16,
    options: ClusterOptions,
    launcher: Launcher,
    server: Option<Child>,
    paused: bool,
}

impl PgCluster {
    /// Makes an empty cluster with the schema in `dir` (created if missing), to listen on
    /// 127.0.0.1:`port`. It is not started.
    pub async fn init(install: &PgInstall, dir: &Path, port: u16) -> Result<PgCluster, PgError> {
        PgCluster::init_with(install, dir, port, ClusterOptions::default()).await
    }

    /// [`init`](Self::init) with `options`.
    pub async fn init_with(
        install: &PgInstall,
        dir: &Path,
        port: u16,
        options: ClusterOptions,
    ) -> Result<PgCluster, PgError> {
        let cluster = PgCluster::new(install, dir, port, options)?;
        if cluster.data_dir().exists() {
            return Err(PgError::WrongState(format!(
                "{} exists already: a cluster is made in a fresh directory",
                cluster.data_dir().display()
            )));
        }
        cluster.make_empty().await?;
        Ok(cluster)
    }

    /// A handle on a cluster whose data directory the caller fills (`pg_basebackup`), then
    /// gives this host's own settings ([`write_host_conf`](Self::write_host_conf)). It is not
    /// started.
    pub(crate) fn for_copy(
        install: &PgInstall,
        dir: &Path,
        port: u16,
        options: ClusterOptions,
    ) -> Result<PgCluster, PgError> {
        PgCluster::new(install, dir, port, options)
    }

    fn new(
        install: &PgInstall,
        dir: &Path,
        port: u16,
        options: ClusterOptions,
    ) -> Result<PgCluster, PgError> {
        let launcher = Launcher::new().map_err(|err| PgError::Io {
            context: "starting the launcher thread".into(),
            source: std::io::Error::other(err.to_string()),
        })?;
        let cluster = PgCluster {
            install: install.clone(),
            dir: dir.to_path_buf(),
            port,
            options,
            launcher,
            server: None,
            paused: false,
        };
        cluster.make_dir(dir)?;
        cluster.make_dir(&cluster.socket_dir())?;
        Ok(cluster)
    }

    /// Creates `dir` if missing, owned by the server user (which must be able to reach it:
    /// every parent directory must be searchable by that user).
    fn make_dir(&self, dir: &Path) -> Result<(), PgError> {
        std::fs::create_dir_all(dir).map_err(io_error(format!("creating {}", dir.display())))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))
            .map_err(io_error(format!("setting the mode of {}", dir.display())))?;
        self.give_to_server_user(dir)
    }

    fn give_to_server_user(&self, path: &Path) -> Result<(), PgError> {
        if let Some(user) = self.install.run_as {
            std::os::unix::fs::chown(path, Some(user.uid), Some(user.gid)).map_err(io_error(
                format!("giving {} to the postgres user", path.display()),
            ))?;
        }
        Ok(())
    }

    /// `initdb`, the harness's settings, the schema: an empty stopped cluster in `data/`.
    async fn make_empty(&self) -> Result<(), PgError> {
        let mut initdb = Command::new(&self.install.initdb);
        initdb
            .arg("-D")
            .arg(self.data_dir())
            .args(["-U", conn::USER, "-A", "trust", "-E", "UTF8", "--locale=C"])
            // The fsyncs of a fresh cluster's files cost 4 s here and protect only against a
            // power cut of the machine, which the harness never causes.
            .args(["--no-sync", "--no-instructions"]);
        self.run_helper("initdb", initdb, None, HELPER_TIMEOUT)
            .await?;
        let conf = self.data_dir().join("postgresql.conf");
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&conf)
            .map_err(io_error(format!("opening {}", conf.display())))?;
        file.write_all(self.common_settings().as_bytes())
            .map_err(io_error(format!("writing {}", conf.display())))?;
        let hba = self.data_dir().join("pg_hba.conf");
        std::fs::write(&hba, PG_HBA).map_err(io_error(format!("writing {}", hba.display())))?;
        self.write_host_conf()?;
        self.apply_schema().await
    }

    /// Applies [`schema::SCHEMA_SQL`] to the stopped cluster through single-user mode
    /// (`postgres --single`), which needs no listening server: a fresh cluster gets its schema
    /// in about 0.15 s instead of a start and a stop. Synchronous replication is off for it: a
    /// single-user backend would wait for a standby that cannot connect.
    async fn apply_schema(&self) -> Result<(), PgError> {
        let sql = self.dir.join("schema.sql");
        std::fs::write(&sql, schema::SCHEMA_SQL)
            .map_err(io_error(format!("writing {}", sql.display())))?;
        let mut single = Command::new(&self.install.postgres);
        single
            .args(["--single", "-j", "-c", "synchronous_standby_names=", "-D"])
            .arg(self.data_dir())
            .arg(conn::DATABASE);
        self.run_helper(
            "applying the schema (postgres --single)",
            single,
            Some(&sql),
            HELPER_TIMEOUT,
        )
        .await
    }

    /// Runs a short helper program (initdb, pg_basebackup, single-user mode) as the server
    /// user, through the launcher like the server (so it dies with the harness), with `stdin`
    /// from a file if given, for at most `timeout`. Its output goes to `helpers.log` in the
    /// cluster's directory and becomes the error if it fails.
    pub(crate) async fn run_helper(
        &self,
        what: &str,
        mut command: Command,
        stdin: Option<&Path>,
        timeout: Duration,
    ) -> Result<(), PgError> {
        let log_path = self.dir.join("helpers.log");
        let mut log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(io_error(format!("opening {}", log_path.display())))?;
        let _ = writeln!(log, "--- splitbrain: {what} ---");
        let from = log.metadata().map(|m| m.len()).unwrap_or(0);
        let err_log = log
            .try_clone()
            .map_err(io_error(format!("opening {}", log_path.display())))?;
        let input = match stdin {
            Some(path) => Stdio::from(
                std::fs::File::open(path)
                    .map_err(io_error(format!("opening {}", path.display())))?,
            ),
            None => Stdio::null(),
        };
        command.stdin(input).stdout(log).stderr(err_log);
        if let Some(user) = self.install.run_as {
            command.uid(user.uid).gid(user.gid);
        }
        let mut child = self
            .launcher
            .launch(command)
            .map_err(io_error(format!("starting {what}")))?;
        let deadline = Instant::now() + timeout;
        let status = loop {
            if let Some(status) = child
                .try_wait()
                .map_err(io_error(format!("waiting for {what}")))?
            {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = signals::crash(child.id(), CRASH_SETTLE);
                let _ = child.wait();
                return Err(PgError::Timeout {
                    what: what.to_string(),
                    timeout,
                    log: helper_output(&log_path, from),
                });
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        };
        let output = helper_output(&log_path, from);
        // Single-user mode reports a failed statement and carries on, exiting 0: its output
        // is the only sign.
        if status.success() && !output.contains("ERROR:") && !output.contains("FATAL:") {
            return Ok(());
        }
        Err(PgError::Command {
            what: what.into(),
            status: status.to_string(),
            output,
        })
    }

    /// The settings every host of this cluster shares, appended to `postgresql.conf`.
    fn common_settings(&self) -> String {
        let synchronous = if self.options.synchronous_standby {
            "*"
        } else {
            ""
        };
        format!(
            "\n# splitbrain live harness\n\
             listen_addresses = '127.0.0.1'\n\
             max_connections = 50\n\
             shared_buffers = 16MB\n\
             fsync = on\n\
             synchronous_commit = on\n\
             full_page_writes = on\n\
             wal_level = replica\n\
             max_wal_senders = 4\n\
             max_replication_slots = 4\n\
             wal_keep_size = 128MB\n\
             hot_standby = on\n\
             synchronous_standby_names = '{synchronous}'\n\
             # A standby retries its primary every 0.5 s (not 5 s) and both ends drop a silent\n\
             # replication connection after 5 s (not 60 s): the pair reattaches quickly.\n\
             wal_retrieve_retry_interval = 500ms\n\
             wal_receiver_status_interval = 1s\n\
             wal_sender_timeout = 5s\n\
             wal_receiver_timeout = 5s\n\
             recovery_init_sync_method = syncfs\n\
             jit = off\n\
             huge_pages = off\n\
             log_line_prefix = '%m [%p] %q%a '\n\
             include_if_exists = '{HOST_CONF}'\n"
        )
    }

    /// Writes this host's own settings (port, socket), which `pg_basebackup` must not copy.
    pub(crate) fn write_host_conf(&self) -> Result<(), PgError> {
        let socket_dir = self.socket_dir();
        // `sock/.s.PGSQL.<port>`; too long a path and the server would not start.
        let sockets = if socket_dir.as_os_str().len() + 20 <= MAX_SOCKET_PATH {
            socket_dir.display().to_string().replace('\'', "''")
        } else {
            String::new()
        };
        let text = format!(
            "# this host's own settings (splitbrain live harness)\n\
             port = {}\n\
             unix_socket_directories = '{sockets}'\n\
             cluster_name = '{}'\n",
            self.port,
            self.options.name.replace('\'', "''")
        );
        let path = self.data_dir().join(HOST_CONF);
        std::fs::write(&path, text).map_err(io_error(format!("writing {}", path.display())))?;
        self.give_to_server_user(&path)
    }

    /// Starts the server and waits until it accepts connections (after crash recovery, if
    /// it crashed), at most [`START_TIMEOUT`].
    pub async fn start(&mut self) -> Result<(), PgError> {
        if self.server.is_some() {
            return Err(PgError::WrongState(format!(
                "cluster {} is running already",
                self.options.name
            )));
        }
        let log_path = self.log_path();
        let mut log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(io_error(format!("opening {}", log_path.display())))?;
        let _ = writeln!(log, "--- splitbrain: starting {} ---", self.options.name);
        let err_log = log
            .try_clone()
            .map_err(io_error(format!("opening {}", log_path.display())))?;
        let mut command = Command::new(&self.install.postgres);
        command
            .arg("-D")
            .arg(self.data_dir())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err_log);
        if let Some(user) = self.install.run_as {
            command.uid(user.uid).gid(user.gid);
        }
        let child = self.launcher.launch(command).map_err(io_error(format!(
            "starting {}",
            self.install.postgres.display()
        )))?;
        self.server = Some(child);
        self.paused = false;
        self.wait_ready(START_TIMEOUT).await
    }

    /// Waits until the server answers a query, failing early if it exits.
    async fn wait_ready(&mut self, timeout: Duration) -> Result<(), PgError> {
        let deadline = Instant::now() + timeout;
        loop {
            let Some(pid) = self.pid() else {
                return Err(PgError::WrongState("the server is not running".into()));
            };
            if let Some(status) = exit_status(pid) {
                if let Some(mut child) = self.server.take() {
                    let _ = child.wait();
                }
                return Err(PgError::Exited {
                    status,
                    log: self.log_tail(),
                });
            }
            if let Ok(conn) = conn::connect(self.addr(), Duration::from_secs(1)).await
                && self.is_ours(&conn).await
            {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(PgError::Timeout {
                    what: format!("postgres {} accepting connections", self.options.name),
                    timeout,
                    log: self.log_tail(),
                });
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Whether the server answering `conn` runs on this cluster's data directory: another
    /// server may hold the port (then this one is about to exit, unable to listen).
    async fn is_ours(&self, conn: &Conn) -> bool {
        let Ok(row) = conn
            .client
            .query_one("SELECT current_setting('data_directory')", &[])
            .await
        else {
            return false;
        };
        let Ok(theirs) = row.try_get::<_, String>(0) else {
            return false;
        };
        let ours = self.data_dir();
        let canonical = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
        canonical(Path::new(&theirs)) == canonical(&ours)
    }

    /// A crash: SIGKILL of the postmaster and every server process, at once. The next
    /// [`start`](Self::start) runs crash recovery. Does nothing if the server is not running.
    pub fn kill(&mut self) -> Result<(), PgError> {
        let Some(mut child) = self.server.take() else {
            return Ok(());
        };
        self.paused = false;
        let crashed = signals::crash(child.id(), CRASH_SETTLE);
        child
            .wait()
            .map_err(io_error("reaping the killed postmaster"))?;
        crashed.map_err(io_error("killing the server processes"))
    }

    /// Freezes every server process (SIGSTOP): connections stay open and nothing answers.
    pub fn pause(&mut self) -> Result<(), PgError> {
        let pid = self.running_pid("pause")?;
        signals::pause(pid).map_err(io_error("pausing the server processes"))?;
        self.paused = true;
        Ok(())
    }

    /// Lets a paused server run again (SIGCONT).
    pub fn resume(&mut self) -> Result<(), PgError> {
        let pid = self.running_pid("resume")?;
        signals::resume(pid).map_err(io_error("resuming the server processes"))?;
        self.paused = false;
        Ok(())
    }

    /// A fast shutdown (SIGINT): the server rolls back open transactions, checkpoints and
    /// exits. Killed instead if that takes over [`STOP_TIMEOUT`]. Does nothing if it is not
    /// running.
    pub async fn stop(&mut self) -> Result<(), PgError> {
        let Some(pid) = self.pid() else {
            return Ok(());
        };
        if self.paused {
            self.resume()?;
        }
        signals::fast_shutdown(pid).map_err(io_error("asking the server to shut down"))?;
        let deadline = Instant::now() + STOP_TIMEOUT;
        while exit_status(pid).is_none() {
            if Instant::now() >= deadline {
                let log = self.log_tail();
                self.kill()?;
                return Err(PgError::Timeout {
                    what: format!("a fast shutdown of {}", self.options.name),
                    timeout: STOP_TIMEOUT,
                    log,
                });
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        if let Some(mut child) = self.server.take() {
            child
                .wait()
                .map_err(io_error("reaping the stopped postmaster"))?;
        }
        Ok(())
    }

    /// Loses the disk: kills the server, removes the data directory and makes it again,
    /// empty, with the schema. The cluster is left stopped (`start` it afterwards).
    pub async fn wipe(&mut self) -> Result<(), PgError> {
        self.kill()?;
        self.remove_data()?;
        self.make_empty().await
    }

    /// Removes the data directory of the stopped cluster.
    pub(crate) fn remove_data(&self) -> Result<(), PgError> {
        if self.server.is_some() {
            return Err(PgError::WrongState(format!(
                "cluster {} is running: its data cannot be removed",
                self.options.name
            )));
        }
        let data = self.data_dir();
        match std::fs::remove_dir_all(&data) {
            Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
                Err(io_error(format!("removing {}", data.display()))(err))
            }
            _ => Ok(()),
        }
    }

    fn running_pid(&self, what: &str) -> Result<u32, PgError> {
        self.pid().ok_or_else(|| {
            PgError::WrongState(format!(
                "cannot {what} cluster {}: it is not running",
                self.options.name
            ))
        })
    }

    /// A fresh connection to the server (bounded by `timeout`).
    pub async fn connect(&self, timeout: Duration) -> Result<Conn, PgError> {
        let addr = self.addr();
        conn::connect(addr, timeout)
            .await
            .map_err(|source| PgError::Connect { addr, source })
    }

    /// The postmaster's pid, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.server.as_ref().map(Child::id)
    }

    /// Whether a server was started and not killed or stopped since (it may have exited by
    /// itself: see [`exited`](Self::exited)).
    pub fn is_running(&self) -> bool {
        self.server.is_some()
    }

    pub fn is_paused(&self) -> bool {
        self.paused
    }

    /// How the server exited by itself, if it did.
    pub fn exited(&self) -> Option<String> {
        exit_status(self.pid()?)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// 127.0.0.1:port, the only address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// The `postgres://` URL a node is given for this server.
    pub fn url(&self) -> String {
        conn::url(self.addr())
    }

    pub fn name(&self) -> &str {
        &self.options.name
    }

    pub fn options(&self) -> &ClusterOptions {
        &self.options
    }

    pub fn install(&self) -> &PgInstall {
        &self.install
    }

    /// The scratch directory the caller gave.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.join("postgres.log")
    }

    fn socket_dir(&self) -> PathBuf {
        self.dir.join("sock")
    }

    /// The last lines of the server's log.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.log_path()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let from = lines.len().saturating_sub(LOG_TAIL_LINES);
        format!(
            "last lines of {}:\n{}",
            self.log_path().display(),
            lines[from..].join("\n")
        )
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        let _ = self.kill();
    }
}

/// Trust on 127.0.0.1 (and the local socket), replication included; nothing else.
const PG_HBA: &str = "# splitbrain live harness: trust on loopback only\n\
local   all          all                 trust\n\
local   replication  all                 trust\n\
host    all          all   127.0.0.1/32  trust\n\
host    replication  all   127.0.0.1/32  trust\n";

/// What a helper wrote to `log` from byte `from` on (its own run), or why it cannot be read.
fn helper_output(log: &Path, from: u64) -> String {
    match std::fs::read(log) {
        Ok(bytes) => {
            let from = usize::try_from(from).unwrap_or(0).min(bytes.len());
            String::from_utf8_lossy(&bytes[from..]).into_owned()
        }
        Err(err) => format!("(cannot read {}: {err})", log.display()),
    }
}

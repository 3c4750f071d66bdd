//! How a real ensemble is laid out and tuned, and the `zoo.cfg` each server gets.

use super::error::HarnessError;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

/// How an ensemble is laid out and tuned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnsembleConfig {
    /// Number of voting servers (participants), 1 to 9; usually 1, 3 or 5.
    pub servers: usize,
    /// Number of observers (non-voting servers that serve clients), 0 to 9. They come after
    /// the voters: server `servers + k` is observer `k`.
    pub observers: usize,
    /// ZooKeeper's `tickTime`. Small values (100–200 ms) keep elections and expiry fast.
    pub tick_time: Duration,
    /// `initLimit`, in ticks.
    pub init_limit: u32,
    /// `syncLimit`, in ticks.
    pub sync_limit: u32,
    /// `minSessionTimeout`; ZooKeeper's default is 2 ticks.
    pub min_session_timeout: Option<Duration>,
    /// `maxSessionTimeout`; ZooKeeper's default is 20 ticks, which with a small tick would clamp
    /// the client's usual 6 s sessions to a couple of seconds.
    pub max_session_timeout: Option<Duration>,
    /// How often the leader reaps empty containers (the JVM property
    /// `znode.container.checkIntervalMs`); `None` keeps ZooKeeper's default of 60 s.
    pub container_check_interval: Option<Duration>,
    /// Maximum Java heap per server.
    pub heap_mb: u32,
    /// How long [`RealEnsemble::start`](super::RealEnsemble::start) waits for a leader and every server serving.
    pub start_timeout: Duration,
}

impl Default for EnsembleConfig {
    fn default() -> Self {
        EnsembleConfig {
            servers: 3,
            observers: 0,
            tick_time: Duration::from_millis(100),
            init_limit: 20,
            sync_limit: 5,
            min_session_timeout: None,
            max_session_timeout: Some(Duration::from_secs(30)),
            container_check_interval: None,
            heap_mb: 96,
            start_timeout: Duration::from_secs(60),
        }
    }
}

impl EnsembleConfig {
    /// The default layout with `servers` voters and no observer.
    pub fn with_servers(servers: usize) -> Self {
        EnsembleConfig {
            servers,
            ..EnsembleConfig::default()
        }
    }

    /// Voters plus observers.
    pub fn total_servers(&self) -> usize {
        self.servers + self.observers
    }

    pub(crate) fn validate(&self) -> Result<(), HarnessError> {
        let bad = |what: String| Err(HarnessError::BadConfig(what));
        if !(1..=9).contains(&self.servers) {
            return bad(format!(
                "servers (voters) must be between 1 and 9, got {}",
                self.servers
            ));
        }
        if self.observers > 9 {
            return bad(format!(
                "observers must be at most 9, got {}",
                self.observers
            ));
        }
        if self.tick_time < Duration::from_millis(10) {
            return bad(format!("tick_time {:?} is below 10 ms", self.tick_time));
        }
        if self.init_limit == 0 || self.sync_limit == 0 {
            return bad("init_limit and sync_limit must be at least 1 tick".into());
        }
        if let (Some(min), Some(max)) = (self.min_session_timeout, self.max_session_timeout)
            && min > max
        {
            return bad(format!(
                "min_session_timeout {min:?} exceeds max_session_timeout {max:?}"
            ));
        }
        if self.heap_mb < 16 {
            return bad(format!("heap_mb {} is below 16", self.heap_mb));
        }
        Ok(())
    }
}

/// One server of the ensemble as the others know it: its loopback ports and its role.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Peer {
    pub client: u16,
    /// Where the server whose config this is dials this peer (its own listening address for
    /// its own entry).
    pub quorum: SocketAddr,
    pub election: SocketAddr,
    pub observer: bool,
}

/// The zoo.cfg of server `index` (myid `index + 1`) among `peers`. A single voter still runs
/// as a quorum peer (`standaloneEnabled=false`), so a 1-server ensemble reports "leader" like
/// any other and can take observers.
pub(crate) fn zoo_cfg(
    config: &EnsembleConfig,
    index: usize,
    data_dir: &Path,
    peers: &[Peer],
) -> String {
    let mut cfg = String::new();
    let _ = writeln!(cfg, "tickTime={}", config.tick_time.as_millis());
    let _ = writeln!(cfg, "initLimit={}", config.init_limit);
    let _ = writeln!(cfg, "syncLimit={}", config.sync_limit);
    if let Some(min) = config.min_session_timeout {
        let _ = writeln!(cfg, "minSessionTimeout={}", min.as_millis());
    }
    if let Some(max) = config.max_session_timeout {
        let _ = writeln!(cfg, "maxSessionTimeout={}", max.as_millis());
    }
    let _ = writeln!(cfg, "dataDir={}", data_dir.display());
    let _ = writeln!(cfg, "clientPortAddress=127.0.0.1");
    let _ = writeln!(cfg, "clientPort={}", peers[index].client);
    let _ = writeln!(cfg, "admin.enableServer=false");
    let _ = writeln!(cfg, "4lw.commands.whitelist=*");
    let _ = writeln!(cfg, "standaloneEnabled=false");
    let _ = writeln!(cfg, "reconfigEnabled=false");
    // A process crash (kill -9) keeps the OS page cache, so skipping fsync changes nothing
    // the harness can inject, and keeps tests fast.
    let _ = writeln!(cfg, "forceSync=no");
    // Transaction logs are preallocated in blocks of this many KiB (default 64 MiB).
    let _ = writeln!(cfg, "preAllocSize=1024");
    if peers[index].observer {
        let _ = writeln!(cfg, "peerType=observer");
    }
    for (i, peer) in peers.iter().enumerate() {
        let role = if peer.observer { ":observer" } else { "" };
        let _ = writeln!(
            cfg,
            "server.{}={}:{}:{}{role}",
            i + 1,
            peer.quorum.ip(),
            peer.quorum.port(),
            peer.election.port()
        );
    }
    cfg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_layouts_zookeeper_would_refuse_or_that_make_no_sense() {
        let bad = |config: EnsembleConfig| {
            assert!(
                matches!(config.validate(), Err(HarnessError::BadConfig(_))),
                "{config:?}"
            )
        };
        bad(EnsembleConfig::with_servers(0));
        bad(EnsembleConfig::with_servers(10));
        bad(EnsembleConfig {
            observers: 10,
            ..EnsembleConfig::default()
        });
        bad(EnsembleConfig {
            sync_limit: 0,
            ..EnsembleConfig::default()
        });
        bad(EnsembleConfig {
            min_session_timeout: Some(Duration::from_secs(10)),
            max_session_timeout: Some(Duration::from_secs(5)),
            ..EnsembleConfig::default()
        });
        for servers in [1, 2, 3, 5] {
            assert!(EnsembleConfig::with_servers(servers).validate().is_ok());
        }
    }

    #[test]
    fn zoo_cfg_names_every_peer_and_this_servers_client_port() {
        let local = |port: u16| SocketAddr::from(([127, 0, 0, 1], port));
        let peer = |first: u16, observer: bool| Peer {
            client: first,
            quorum: local(first + 1),
            election: local(first + 2),
            observer,
        };
        let peers = [peer(21001, false), peer(21004, false), peer(21007, true)];
        let config = EnsembleConfig {
            max_session_timeout: Some(Duration::from_secs(20)),
            ..EnsembleConfig::with_servers(3)
        };
        let cfg = zoo_cfg(&config, 1, Path::new("/tmp/d"), &peers);
        let lines: Vec<&str> = cfg.lines().collect();
        for expected in [
            "tickTime=100",
            "maxSessionTimeout=20000",
            "dataDir=/tmp/d",
            "clientPortAddress=127.0.0.1",
            "clientPort=21004",
            "4lw.commands.whitelist=*",
            "admin.enableServer=false",
            "server.1=127.0.0.1:21002:21003",
            "server.2=127.0.0.1:21005:21006",
        ] {
            assert!(lines.contains(&expected), "{expected} missing from\n{cfg}");
        }
        assert!(lines.contains(&"server.3=127.0.0.1:21008:21009:observer"));
        assert!(!cfg.contains("minSessionTimeout"));
        assert!(!cfg.contains("peerType"));
        let observer_cfg = zoo_cfg(&config, 2, Path::new("/tmp/o"), &peers);
        assert!(observer_cfg.lines().any(|l| l == "peerType=observer"));
        assert!(observer_cfg.lines().any(|l| l == "clientPort=21007"));
    }
}

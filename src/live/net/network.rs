//! The live world's network: named hosts, the directed links between them, and the relays that
//! carry every connection from one host to another.

use super::connection::Path;
use super::link::{Host, Link, LinkCounters, LinkState};
use super::relay;
use super::zk_election::{ZkAdvertise, ZkCounters, ZkRewriteCounts};
use std::collections::HashMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::watch;
use tokio::task::AbortHandle;

/// What a relay does besides forwarding bytes.
#[derive(Clone, Debug, Default)]
pub enum RelayKind {
    /// Forwards bytes only.
    #[default]
    Plain,
    /// A ZooKeeper leader-election port: the address in the connecting server's initial message
    /// is replaced by the one `advertise` gives for its sid (see [`super::zk_election`]), so that
    /// the receiving server's connection back also goes through a relay.
    ZkElection { advertise: ZkAdvertise },
}

/// The network of a live run. Cheap to clone (clones share it); its relays run on the ambient
/// tokio runtime and stop when the last clone is dropped.
///
/// Hosts are named by the caller; a link or host that was never configured is a perfect link
/// ([`LinkState::default`]) or a host that is not blackholed. Every change applies at once to
/// the connections already open.
#[derive(Clone, Default)]
pub struct Network {
    inner: Arc<Inner>,
}

struct Inner {
    registry: Mutex<Registry>,
    /// Bumped on every change, to wake the connections that wait for one (a cut to heal).
    changes: watch::Sender<u64>,
    zk: Arc<ZkCounters>,
}

impl Default for Inner {
    fn default() -> Self {
        Inner {
            registry: Mutex::default(),
            changes: watch::Sender::new(0),
            zk: Arc::default(),
        }
    }
}

#[derive(Default)]
struct Registry {
    links: HashMap<(String, String), Arc<Link>>,
    hosts: HashMap<String, Arc<Host>>,
    /// (from, to, target) -> the relay's address.
    relays: HashMap<(String, String, SocketAddr), SocketAddr>,
    acceptors: Vec<AbortHandle>,
}

impl Registry {
    fn link(&mut self, from: &str, to: &str) -> Arc<Link> {
        self.links
            .entry((from.to_string(), to.to_string()))
            .or_default()
            .clone()
    }

    fn host(&mut self, name: &str) -> Arc<Host> {
        self.hosts.entry(name.to_string()).or_default().clone()
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        let registry = self.registry.get_mut().unwrap_or_else(|e| e.into_inner());
        for acceptor in &registry.acceptors {
            acceptor.abort();
        }
    }
}

impl Network {
    pub fn new() -> Self {
        Self::default()
    }

    /// The address of the relay that carries connections from host `from` to `target` on host
    /// `to`, started on a free 127.0.0.1 port on the first call for that triple (later calls
    /// return the same address, whatever their `kind`). Must be called on a tokio runtime.
    pub fn relay(
        &self,
        from: &str,
        to: &str,
        target: SocketAddr,
        kind: RelayKind,
    ) -> io::Result<SocketAddr> {
        let mut registry = self.registry();
        let key = (from.to_string(), to.to_string(), target);
        if let Some(addr) = registry.relays.get(&key) {
            return Ok(*addr);
        }
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        let addr = listener.local_addr()?;
        let path = Arc::new(Path {
            target,
            forward: registry.link(from, to),
            backward: registry.link(to, from),
            from: registry.host(from),
            to: registry.host(to),
            zk: match kind {
                RelayKind::Plain => None,
                RelayKind::ZkElection { advertise } => Some((advertise, self.inner.zk.clone())),
            },
        });
        let acceptor = relay::spawn(listener, path, self.inner.changes.subscribe())?;
        registry.acceptors.push(acceptor);
        registry.relays.insert(key, addr);
        Ok(addr)
    }

    /// Sets the state of the link from `from` to `to` (a fault: [`Network::heal_all`] undoes it).
    pub fn set_link(&self, from: &str, to: &str, state: LinkState) {
        self.registry().link(from, to).set(state);
        self.changed();
    }

    /// The current state of the link from `from` to `to`.
    pub fn link(&self, from: &str, to: &str) -> LinkState {
        self.existing_link(from, to)
            .map_or_else(LinkState::default, |link| link.state())
    }

    /// Sets the configured state of the link from `from` to `to` (the sites' latency), which
    /// healing returns to, and makes it the current state. Meant for setting up, before faults.
    pub fn set_base(&self, from: &str, to: &str, state: LinkState) {
        self.registry().link(from, to).set_base(state);
        self.changed();
    }

    /// The configured state of the link from `from` to `to`.
    pub fn base(&self, from: &str, to: &str) -> LinkState {
        self.existing_link(from, to)
            .map_or_else(LinkState::default, |link| link.base())
    }

    /// Blackholes `host` (a hard crash: its traffic vanishes, nothing it sends or that is sent
    /// to it arrives, no close or reset leaves it), or lifts that. Connections open while it
    /// was blackholed stay dead; new ones work again once it is lifted.
    pub fn set_blackholed(&self, host: &str, on: bool) {
        self.registry().host(host).set_blackholed(on);
        self.changed();
    }

    /// Whether a process runs on `host`. A connection to a port of a running host that does
    /// not listen yet (a ZooKeeper server taking up a new role) is retried for a moment
    /// instead of being reset, since its client's `connect` already succeeded and it will not
    /// retry as it would after "refused"; a host that is down resets at once.
    pub fn set_down(&self, host: &str, down: bool) {
        self.registry().host(host).set_down(down);
        self.changed();
    }

    pub fn blackholed(&self, host: &str) -> bool {
        self.registry()
            .hosts
            .get(host)
            .is_some_and(|host| host.blackholed())
    }

    /// Every link back to its configured state, and no host blackholed.
    pub fn heal_all(&self) {
        {
            let registry = self.registry();
            for link in registry.links.values() {
                link.set(link.base());
            }
            for host in registry.hosts.values() {
                host.set_blackholed(false);
            }
        }
        self.changed();
    }

    /// Heals every cut, keeping delays and losses (the simulator's `heal` fault).
    pub fn heal_cuts(&self) {
        self.update_links(|base, current| current.cut = base.cut);
    }

    /// Every link's delay, jitter and loss back to the configured ones, keeping cuts (the
    /// simulator's `clear-link-faults`).
    pub fn clear_link_faults(&self) {
        self.update_links(|base, current| {
            *current = LinkState {
                cut: current.cut,
                ..*base
            };
        });
    }

    /// What went over the link from `from` to `to` so far, through every relay.
    pub fn counters(&self, from: &str, to: &str) -> LinkCounters {
        self.existing_link(from, to)
            .map_or_else(LinkCounters::default, |link| link.counters())
    }

    /// What the election relays did with the initial messages they saw.
    pub fn zk_rewrites(&self) -> ZkRewriteCounts {
        self.inner.zk.snapshot()
    }

    fn update_links(&self, change: impl Fn(&LinkState, &mut LinkState)) {
        {
            let registry = self.registry();
            for link in registry.links.values() {
                link.update(&change);
            }
        }
        self.changed();
    }

    fn existing_link(&self, from: &str, to: &str) -> Option<Arc<Link>> {
        self.registry()
            .links
            .get(&(from.to_string(), to.to_string()))
            .cloned()
    }

    fn changed(&self) {
        self.inner.changes.send_modify(|version| *version += 1);
    }

    fn registry(&self) -> MutexGuard<'_, Registry> {
        // Plain maps: a panic elsewhere cannot leave them half-updated.
        self.inner
            .registry
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }
}

impl std::fmt::Debug for Network {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let registry = self.registry();
        f.debug_struct("Network")
            .field("relays", &registry.relays.len())
            .field("links", &registry.links.len())
            .finish()
    }
}

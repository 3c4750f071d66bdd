//! The simulated network: hosts in sites, FIFO links with per-site-pair latency, and the
//! network faults the nemesis, scenarios and chaos runner share.
//!
//! Everything ZooKeeper and the databases send goes over TCP, so a link behaves like a TCP
//! connection, not like datagrams: packets on one directed link arrive in order; a partition
//! *stalls* a link (bytes wait in the sender's buffer and flow again on heal) instead of
//! dropping; packet loss shows as retransmission delay (head-of-line blocking included). The
//! protocols above give up on a connection by their own timeouts, and ignore packets of a
//! connection they have abandoned. A process that dies makes its host send resets to the peers
//! it was talking to (kill -9 with the OS alive); a hard crash (power loss) sends nothing.

use crate::sim::inbox::{InFlight, Inbox};
use crate::sim::trace::Fnv64;
use crate::zk::proto::{ClientRequest, ServerResponse};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

/// Index of a host in its world.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HostId(pub u32);

impl HostId {
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

pub type Port = u16;

/// Well-known ports.
pub mod ports {
    use super::Port;
    pub const ZK_CLIENT: Port = 2181;
    pub const ZK_QUORUM: Port = 2888;
    pub const DATABASE: Port = 5432;
    /// A pair's message bus (Artemis' default acceptor port).
    pub const BUS: Port = 61616;
    /// Client sockets get ports from here up, per host.
    pub const EPHEMERAL_START: Port = 40_000;
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Addr {
    pub host: HostId,
    pub port: Port,
}

/// What travels between hosts. One enum for the whole world keeps packets cheap (no boxing,
/// no downcasts) and hashable for the trace.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Payload {
    ZkRequest(ClientRequest),
    ZkResponse(ServerResponse),
    ZkPeer(crate::zk::peer::PeerMsg),
    /// Between a node and its pair's database, and between the database's two hosts.
    Db(crate::db::proto::DbMsg),
    /// Between a node and its pair's message bus.
    Bus(crate::bus::BusMsg),
    /// The sending process died: every connection between the two addresses is reset.
    Reset,
    /// A bare numbered packet, for measuring the network itself (fault tests, latency probes).
    Probe(u64),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet {
    pub from: Addr,
    pub to: Addr,
    pub payload: Payload,
}

impl Packet {
    fn fingerprint(&self) -> u64 {
        let mut h = Fnv64::default();
        self.from.hash(&mut h);
        self.to.hash(&mut h);
        self.payload.hash(&mut h);
        h.finish()
    }
}

/// One-way latency of a link: `base` plus a uniform draw in `0..=jitter`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinkLatency {
    pub base: Duration,
    pub jitter: Duration,
}

impl LinkLatency {
    pub const fn new(base: Duration, jitter: Duration) -> Self {
        LinkLatency { base, jitter }
    }
}

/// Latency defaults and per-site-pair overrides.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetConfig {
    pub same_host: LinkLatency,
    pub same_site: LinkLatency,
    pub cross_site: LinkLatency,
    /// Overrides by (site, site) — symmetric; looked up with the names in either order.
    pub site_pairs: BTreeMap<(String, String), LinkLatency>,
    /// TCP's minimum retransmission timeout: what one lost packet costs.
    pub retransmit_timeout: Duration,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            same_host: LinkLatency::new(Duration::from_micros(30), Duration::from_micros(20)),
            same_site: LinkLatency::new(Duration::from_micros(250), Duration::from_micros(100)),
            cross_site: LinkLatency::new(Duration::from_millis(9), Duration::from_millis(2)),
            site_pairs: BTreeMap::new(),
            retransmit_timeout: Duration::from_millis(200),
        }
    }
}

impl NetConfig {
    /// The latency between two hosts in sites `a` and `b` (distinct hosts): the override for
    /// the site pair, else the same-site or cross-site default. Live mode reproduces the same.
    pub fn site_latency(&self, a: &str, b: &str) -> LinkLatency {
        let key = if a <= b {
            (a.to_string(), b.to_string())
        } else {
            (b.to_string(), a.to_string())
        };
        if let Some(l) = self.site_pairs.get(&key) {
            return *l;
        }
        if a == b {
            self.same_site
        } else {
            self.cross_site
        }
    }
}

pub use crate::sim::world::Mailbox;

/// One directed link between two hosts.
pub(crate) struct Link {
    /// Packets the link holds back, in order: sent while it was cut (or while it held
    /// others), found cut when they arrived, or addressed to a port nobody listened on when
    /// they were sent. The rest travel in their receiver's inbox.
    pub(crate) queue: VecDeque<InFlight>,
    /// Delivery time of the last packet sent: later packets never overtake it.
    pub(crate) last_delivery: Duration,
    /// Wakes the link's delivery task; `None` until the link first holds a packet.
    pub(crate) pump: Option<std::sync::Arc<tokio::sync::Notify>>,
    /// The link's latency model, looked up once (sites and config do not change in a run).
    pub(crate) latency: LinkLatency,
    /// (sender port, receiver port) pairs that exchanged packets: who gets a reset when a
    /// process dies.
    pub(crate) conns: Vec<(Port, Port)>,
}

/// Index of a link in [`NetState::links`].
pub(crate) type LinkId = usize;

/// The network's state; owned by the world behind its lock.
pub(crate) struct NetState {
    pub(crate) config: NetConfig,
    pub(crate) site_of: Vec<String>,
    /// Directed (from, to) host pairs that cannot deliver.
    pub(crate) blocked: BTreeSet<(HostId, HostId)>,
    /// Directed packet-loss probability.
    pub(crate) loss: BTreeMap<(HostId, HostId), f64>,
    /// Directed extra latency (a latency spike on a link).
    pub(crate) extra_latency: BTreeMap<(HostId, HostId), Duration>,
    /// Per sending host, per receiving host: 1 + the link's index in `links` (0: none yet).
    link_index: Vec<Vec<u32>>,
    /// Every link that carried a packet, in the order they first did.
    pub(crate) links: Vec<((HostId, HostId), Link)>,
    /// Packets held in link queues, all links together.
    pub(crate) held: usize,
    pub(crate) bindings: BTreeMap<Addr, Arc<Inbox>>,
    /// Numbers every packet sent.
    pub(crate) next_seq: u64,
    pub(crate) next_ephemeral: Vec<Port>,
    /// Hosts that lost power: they answer nothing, not even resets.
    pub(crate) powered_off: BTreeSet<HostId>,
    pub(crate) dropped: u64,
    /// The world was shut down: nothing is delivered any more.
    pub(crate) shut: bool,
}

impl NetState {
    pub(crate) fn new(config: NetConfig) -> Self {
        NetState {
            config,
            site_of: Vec::new(),
            blocked: BTreeSet::new(),
            loss: BTreeMap::new(),
            extra_latency: BTreeMap::new(),
            link_index: Vec::new(),
            links: Vec::new(),
            held: 0,
            bindings: BTreeMap::new(),
            next_seq: 0,
            next_ephemeral: Vec::new(),
            powered_off: BTreeSet::new(),
            dropped: 0,
            shut: false,
        }
    }

    pub(crate) fn add_host(&mut self, site: &str) {
        self.site_of.push(site.to_string());
        self.next_ephemeral.push(ports::EPHEMERAL_START);
        self.link_index.push(Vec::new());
    }

    fn latency_model(&self, from: HostId, to: HostId) -> LinkLatency {
        if from == to {
            return self.config.same_host;
        }
        self.config
            .site_latency(&self.site_of[from.index()], &self.site_of[to.index()])
    }

    /// The link from `from` to `to`, created on first use.
    pub(crate) fn link_id(&mut self, from: HostId, to: HostId) -> LinkId {
        let row = &self.link_index[from.index()];
        if let Some(&id) = row.get(to.index())
            && id != 0
        {
            return id as usize - 1;
        }
        let id = self.links.len();
        let latency = self.latency_model(from, to);
        self.links.push((
            (from, to),
            Link {
                queue: VecDeque::new(),
                last_delivery: Duration::ZERO,
                pump: None,
                latency,
                conns: Vec::new(),
            },
        ));
        let row = &mut self.link_index[from.index()];
        if row.len() <= to.index() {
            row.resize(to.index() + 1, 0);
        }
        row[to.index()] = id as u32 + 1;
        id
    }

    /// The link from `from` to `to`, if it ever carried a packet.
    pub(crate) fn find_link(&self, from: HostId, to: HostId) -> Option<LinkId> {
        match self.link_index[from.index()].get(to.index()) {
            Some(&id) if id != 0 => Some(id as usize - 1),
            _ => None,
        }
    }

    pub(crate) fn link(&mut self, id: LinkId) -> &mut Link {
        &mut self.links[id].1
    }

    /// When a packet sent now on (from → to) arrives, given latency, jitter, extra latency,
    /// loss-driven retransmissions and FIFO order. `draw` yields uniform numbers in [0, 1).
    pub(crate) fn delivery_time(
        &mut self,
        now: Duration,
        from: HostId,
        to: HostId,
        mut draw: impl FnMut() -> f64,
    ) -> Duration {
        let id = self.link_id(from, to);
        let model = self.links[id].1.latency;
        let jitter = Duration::from_nanos((model.jitter.as_nanos() as u64 as f64 * draw()) as u64);
        let mut delay = model.base + jitter;
        if !self.extra_latency.is_empty()
            && let Some(extra) = self.extra_latency.get(&(from, to))
        {
            delay += *extra;
        }
        if !self.loss.is_empty()
            && let Some(&p) = self.loss.get(&(from, to))
        {
            // Each loss costs one retransmission timeout, doubling, as TCP backs off.
            let mut rto = self.config.retransmit_timeout;
            let mut tries = 0;
            while tries < 8 && draw() < p {
                delay += rto;
                rto *= 2;
                tries += 1;
            }
        }
        let link = self.link(id);
        let at = (now + delay).max(link.last_delivery);
        link.last_delivery = at;
        at
    }

    pub(crate) fn is_blocked(&self, from: HostId, to: HostId) -> bool {
        from != to && !self.blocked.is_empty() && self.blocked.contains(&(from, to))
    }

    /// Whether a packet that arrives on (from → to) now must wait in the link: the link is
    /// cut, or holds earlier packets.
    pub(crate) fn holds(&self, from: HostId, to: HostId) -> bool {
        if self.held == 0 && self.blocked.is_empty() {
            return false;
        }
        self.is_blocked(from, to)
            || self
                .find_link(from, to)
                .is_some_and(|id| !self.links[id].1.queue.is_empty())
    }

    pub(crate) fn alloc_ephemeral(&mut self, host: HostId) -> Port {
        let next = &mut self.next_ephemeral[host.index()];
        let port = *next;
        *next = if *next == Port::MAX {
            ports::EPHEMERAL_START
        } else {
            *next + 1
        };
        port
    }

    /// Removes every binding of `host` and forgets its connections; returns the resets its
    /// death sends (in address order) and the inboxes it had, for the caller to close.
    pub(crate) fn unbind_host(&mut self, host: HostId) -> (Vec<(Addr, Addr)>, Vec<Arc<Inbox>>) {
        let ports: Vec<Addr> = self
            .bindings
            .range(
                Addr { host, port: 0 }..=Addr {
                    host,
                    port: Port::MAX,
                },
            )
            .map(|(addr, _)| *addr)
            .collect();
        let inboxes = ports
            .iter()
            .filter_map(|addr| self.bindings.remove(addr))
            .collect();
        let mut resets = Vec::new();
        for ((from, to), link) in &mut self.links {
            if *from == host && *to != host {
                for &(local, remote) in &link.conns {
                    resets.push((
                        Addr { host, port: local },
                        Addr {
                            host: *to,
                            port: remote,
                        },
                    ));
                }
            }
            if *from == host || *to == host {
                link.conns.clear();
            }
        }
        resets.sort();
        (resets, inboxes)
    }
}

pub(crate) fn packet_fingerprint(p: &Packet) -> u64 {
    p.fingerprint()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> NetState {
        let mut s = NetState::new(NetConfig::default());
        s.add_host("dc1");
        s.add_host("dc1");
        s.add_host("dc2");
        s
    }

    #[test]
    fn latency_follows_sites() {
        let mut s = state();
        let t = Duration::from_secs(1);
        let same = s.delivery_time(t, HostId(0), HostId(1), || 0.0) - t;
        let cross = s.delivery_time(t, HostId(0), HostId(2), || 0.0) - t;
        assert_eq!(same, Duration::from_micros(250));
        assert_eq!(cross, Duration::from_millis(9));
    }

    #[test]
    fn links_are_fifo_even_with_jitter() {
        let mut s = state();
        let t = Duration::from_secs(1);
        let first = s.delivery_time(t, HostId(0), HostId(2), || 0.99);
        let second = s.delivery_time(t + Duration::from_micros(1), HostId(0), HostId(2), || 0.0);
        assert!(second >= first);
    }

    #[test]
    fn loss_costs_retransmissions() {
        let mut s = state();
        s.loss.insert((HostId(0), HostId(2)), 0.5);
        let t = Duration::from_secs(1);
        let mut draws = [0.0, 0.1, 0.9].into_iter();
        let at = s.delivery_time(t, HostId(0), HostId(2), || draws.next().unwrap_or(0.9));
        // base 9 ms + one 200 ms retransmission
        assert_eq!(at - t, Duration::from_millis(209));
    }

    #[test]
    fn site_pair_override_is_symmetric() {
        let mut s = state();
        s.config.site_pairs.insert(
            ("dc1".into(), "dc2".into()),
            LinkLatency::new(Duration::from_millis(40), Duration::ZERO),
        );
        let t = Duration::ZERO;
        assert_eq!(
            s.delivery_time(t, HostId(2), HostId(0), || 0.0),
            Duration::from_millis(40)
        );
    }
}

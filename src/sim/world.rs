//! The simulated world: hosts in sites, the processes they run, their clocks and disks, the
//! network between them, and the fault primitives (crash, restart, wipe, pause, partitions,
//! link faults, clock faults) that the nemesis, scenario files and chaos runner all call.
//!
//! Each host is one madsim node, so a pause parks every task of its process (its overdue
//! timers fire on resume) and a crash drops them. A world must be created and used inside a
//! madsim runtime (`Runtime::block_on`).

use crate::sim::clock::{HostClock, SimEnv, sleep_until_true, true_now};
use crate::sim::history::{Entry, Record};
use crate::sim::net::{
    Addr, HostId, Mailbox, NetConfig, NetState, Packet, Payload, Port, packet_fingerprint,
};
use crate::sim::trace::{Trace, TraceLine};
use madsim::rand::Rng;
use std::any::Any;
use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{Notify, mpsc};

/// What a host runs: called at start and at every restart with a fresh context.
pub type ProcessFn = Arc<dyn Fn(HostCtx) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum HostStatus {
    /// Never started, or crashed and not restarted.
    Down,
    Up,
    Paused,
}

impl fmt::Display for HostStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            HostStatus::Down => "down",
            HostStatus::Up => "up",
            HostStatus::Paused => "paused",
        })
    }
}

/// Errors of fault calls on hosts that cannot take them.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum FaultError {
    #[error("no host named '{0}'")]
    UnknownHost(String),
    #[error("host '{host}' is {status}; {action} needs it {needs}")]
    WrongStatus {
        host: String,
        status: HostStatus,
        action: &'static str,
        needs: &'static str,
    },
    #[error("host '{0}' has no process to start")]
    NoProcess(String),
    #[error(transparent)]
    Clock(#[from] crate::sim::clock::ClockError),
    #[error("packet loss must be in [0, 1], got {0}")]
    BadLoss(f64),
}

struct HostRecord {
    name: String,
    site: String,
    node: madsim::task::NodeId,
    clock: HostClock,
    status: HostStatus,
    process: Option<ProcessFn>,
    /// Durable state that survives crashes, lost by wipe. Keyed by type name.
    disk: BTreeMap<&'static str, Box<dyn Any + Send + Sync>>,
    /// Bumped at every start: lets a process tell its own incarnation from earlier ones.
    incarnation: u64,
}

struct WorldInner {
    handle: madsim::runtime::Handle,
    /// The madsim node that runs the network's link pumps: never paused or crashed.
    net_node: madsim::runtime::NodeHandle,
    hosts: Mutex<Vec<HostRecord>>,
    net: Mutex<NetState>,
    trace: Mutex<Trace>,
    metrics: Mutex<BTreeMap<&'static str, u64>>,
    history: Mutex<Vec<Entry>>,
    /// What each host's process says it is now ("leading", "following", "master", ...).
    roles: Mutex<BTreeMap<HostId, String>>,
}

/// A handle to the world; cloning shares it.
#[derive(Clone)]
pub struct World {
    inner: Arc<WorldInner>,
}

/// What a process gets when its host starts it.
#[derive(Clone)]
pub struct HostCtx {
    pub host: HostId,
    pub name: String,
    pub incarnation: u64,
    pub env: SimEnv,
    pub net: NetHandle,
    pub world: World,
}

impl HostCtx {
    /// Records a trace event from this host, stamped with its local wall clock.
    pub fn trace(&self, category: &'static str, text: fmt::Arguments<'_>) {
        self.world.trace_host(self.host, category, text);
    }

    /// This host's durable state of type `T` (created empty on first use, kept across
    /// crashes, lost on wipe).
    pub fn disk<T: Default + Send + Sync + 'static>(&self) -> Arc<Mutex<T>> {
        self.world.disk(self.host)
    }
}

/// Sending and receiving for one host.
#[derive(Clone)]
pub struct NetHandle {
    host: HostId,
    world: World,
}

impl NetHandle {
    pub fn host(&self) -> HostId {
        self.host
    }

    /// Binds a port; packets to it queue in the returned mailbox until the process dies.
    pub fn bind(&self, port: Port) -> Mailbox {
        self.world.bind(Addr {
            host: self.host,
            port,
        })
    }

    /// Binds a fresh client port.
    pub fn bind_ephemeral(&self) -> Mailbox {
        let port = self.world.net().alloc_ephemeral(self.host);
        self.bind(port)
    }

    /// Sends from `from_port` of this host.
    pub fn send(&self, from_port: Port, to: Addr, payload: Payload) {
        self.world.send(Packet {
            from: Addr {
                host: self.host,
                port: from_port,
            },
            to,
            payload,
        });
    }
}

impl World {
    /// Creates an empty world. Must run inside a madsim runtime.
    pub fn new(config: NetConfig, keep_trace_lines: bool) -> World {
        let handle = madsim::runtime::Handle::current();
        let net_node = handle.create_node().name("network").build();
        World {
            inner: Arc::new(WorldInner {
                handle,
                net_node,
                hosts: Mutex::new(Vec::new()),
                net: Mutex::new(NetState::new(config)),
                trace: Mutex::new(Trace::new(keep_trace_lines)),
                metrics: Mutex::new(BTreeMap::new()),
                roles: Mutex::new(BTreeMap::new()),
                history: Mutex::new(Vec::new()),
            }),
        }
    }

    fn hosts(&self) -> MutexGuard<'_, Vec<HostRecord>> {
        self.inner.hosts.lock().expect("world lock poisoned")
    }

    pub(crate) fn net(&self) -> MutexGuard<'_, NetState> {
        self.inner.net.lock().expect("network lock poisoned")
    }

    // ----- hosts -------------------------------------------------------------------------

    /// Adds a host in `site`. It stays down until [`World::start`].
    pub fn add_host(&self, name: &str, site: &str) -> HostId {
        let node = self.inner.handle.create_node().name(name).build();
        let mut hosts = self.hosts();
        let id = HostId(hosts.len() as u32);
        hosts.push(HostRecord {
            name: name.to_string(),
            site: site.to_string(),
            node: node.id(),
            clock: HostClock::new(),
            status: HostStatus::Down,
            process: None,
            disk: BTreeMap::new(),
            incarnation: 0,
        });
        drop(hosts);
        self.net().add_host(site);
        id
    }

    /// Sets what the host runs (at its next start).
    pub fn set_process(&self, host: HostId, process: ProcessFn) {
        self.hosts()[host.index()].process = Some(process);
    }

    pub fn host_id(&self, name: &str) -> Result<HostId, FaultError> {
        self.hosts()
            .iter()
            .position(|h| h.name == name)
            .map(|i| HostId(i as u32))
            .ok_or_else(|| FaultError::UnknownHost(name.to_string()))
    }

    pub fn host_name(&self, host: HostId) -> String {
        self.hosts()[host.index()].name.clone()
    }

    pub fn host_site(&self, host: HostId) -> String {
        self.hosts()[host.index()].site.clone()
    }

    pub fn host_count(&self) -> usize {
        self.hosts().len()
    }

    pub fn hosts_in_site(&self, site: &str) -> Vec<HostId> {
        self.hosts()
            .iter()
            .enumerate()
            .filter(|(_, h)| h.site == site)
            .map(|(i, _)| HostId(i as u32))
            .collect()
    }

    /// The context of `host`'s current incarnation: what its process gets. The supervisor uses
    /// it to act on a host's behalf (e.g. open a client session whose tasks live on that host).
    pub fn host_ctx(&self, host: HostId) -> HostCtx {
        let hosts = self.hosts();
        let h = &hosts[host.index()];
        HostCtx {
            host,
            name: h.name.clone(),
            incarnation: h.incarnation,
            env: SimEnv::new(h.clock.clone(), h.node),
            net: NetHandle {
                host,
                world: self.clone(),
            },
            world: self.clone(),
        }
    }

    /// A network handle on `host` for the world itself (nemesis probes, tests); processes get
    /// theirs in their [`HostCtx`].
    pub fn net_handle(&self, host: HostId) -> NetHandle {
        NetHandle {
            host,
            world: self.clone(),
        }
    }

    pub fn status(&self, host: HostId) -> HostStatus {
        self.hosts()[host.index()].status
    }

    pub fn clock(&self, host: HostId) -> HostClock {
        self.hosts()[host.index()].clock.clone()
    }

    pub fn disk<T: Default + Send + Sync + 'static>(&self, host: HostId) -> Arc<Mutex<T>> {
        let mut hosts = self.hosts();
        let disk = &mut hosts[host.index()].disk;
        let slot = disk
            .entry(std::any::type_name::<T>())
            .or_insert_with(|| Box::new(Arc::new(Mutex::new(T::default()))));
        slot.downcast_ref::<Arc<Mutex<T>>>()
            .expect("disk slot holds its own type")
            .clone()
    }

    fn expect_status(
        &self,
        host: HostId,
        allowed: &[HostStatus],
        action: &'static str,
        needs: &'static str,
    ) -> Result<(), FaultError> {
        let hosts = self.hosts();
        let h = &hosts[host.index()];
        if allowed.contains(&h.status) {
            Ok(())
        } else {
            Err(FaultError::WrongStatus {
                host: h.name.clone(),
                status: h.status,
                action,
                needs,
            })
        }
    }

    /// Starts a host's process (first start, or restart after a crash).
    pub fn start(&self, host: HostId) -> Result<(), FaultError> {
        self.expect_status(host, &[HostStatus::Down], "start", "down")?;
        let (process, node) = {
            let mut hosts = self.hosts();
            let h = &mut hosts[host.index()];
            let process = h
                .process
                .clone()
                .ok_or_else(|| FaultError::NoProcess(h.name.clone()))?;
            h.status = HostStatus::Up;
            h.incarnation += 1;
            (process, h.node)
        };
        let ctx = self.host_ctx(host);
        // A fresh madsim node incarnation: nothing of the previous process survives.
        self.inner.handle.restart(node);
        let spawner = self.inner.handle.get_node(node).expect("host node exists");
        self.trace_world("fault", format_args!("start {}", ctx.name));
        self.record(Record::HostStarted {
            host: ctx.name.clone(),
        });
        spawner.spawn(process(ctx));
        Ok(())
    }

    /// Kills a host's process. Durable state stays. Unless `hard` (power loss), the host's OS
    /// resets the TCP connections the process had, so its peers notice at once.
    pub fn crash(&self, host: HostId, hard: bool) -> Result<(), FaultError> {
        self.expect_status(
            host,
            &[HostStatus::Up, HostStatus::Paused],
            "crash",
            "up or paused",
        )?;
        let node = {
            let mut hosts = self.hosts();
            let h = &mut hosts[host.index()];
            h.status = HostStatus::Down;
            h.node
        };
        self.inner.handle.kill(node);
        self.inner.roles.lock().expect("roles lock").remove(&host);
        let resets = self.net().unbind_host(host);
        self.trace_world(
            "fault",
            format_args!(
                "crash {}{}",
                self.host_name(host),
                if hard { " (hard)" } else { "" }
            ),
        );
        self.record(Record::HostCrashed {
            host: self.host_name(host),
        });
        if !hard {
            for (local, remote) in resets {
                self.send(Packet {
                    from: local,
                    to: remote,
                    payload: Payload::Reset,
                });
            }
        }
        Ok(())
    }

    /// Crash (if running), then restart.
    pub fn restart(&self, host: HostId) -> Result<(), FaultError> {
        if self.status(host) != HostStatus::Down {
            self.crash(host, false)?;
        }
        self.start(host)
    }

    /// Loses the host's durable state (crashing it first if it runs). Start it again with
    /// [`World::start`].
    pub fn wipe(&self, host: HostId) -> Result<(), FaultError> {
        if self.status(host) != HostStatus::Down {
            self.crash(host, false)?;
        }
        self.hosts()[host.index()].disk.clear();
        self.trace_world("fault", format_args!("wipe {}", self.host_name(host)));
        Ok(())
    }

    /// Stops every task of the host's process (SIGSTOP, a long GC pause); its clock runs on.
    pub fn pause(&self, host: HostId) -> Result<(), FaultError> {
        self.expect_status(host, &[HostStatus::Up], "pause", "up")?;
        let node = {
            let mut hosts = self.hosts();
            hosts[host.index()].status = HostStatus::Paused;
            hosts[host.index()].node
        };
        self.inner.handle.pause(node);
        self.trace_world("fault", format_args!("pause {}", self.host_name(host)));
        self.record(Record::HostPaused {
            host: self.host_name(host),
        });
        Ok(())
    }

    pub fn resume(&self, host: HostId) -> Result<(), FaultError> {
        self.expect_status(host, &[HostStatus::Paused], "resume", "paused")?;
        let node = {
            let mut hosts = self.hosts();
            hosts[host.index()].status = HostStatus::Up;
            hosts[host.index()].node
        };
        self.inner.handle.resume(node);
        self.trace_world("fault", format_args!("resume {}", self.host_name(host)));
        self.record(Record::HostResumed {
            host: self.host_name(host),
        });
        Ok(())
    }

    // ----- network faults ----------------------------------------------------------------

    /// Cuts every link between a host of `a` and a host of `b`, both ways.
    pub fn partition(&self, a: &[HostId], b: &[HostId]) {
        {
            let mut net = self.net();
            for &x in a {
                for &y in b {
                    if x != y {
                        net.blocked.insert((x, y));
                        net.blocked.insert((y, x));
                    }
                }
            }
        }
        self.trace_world(
            "fault",
            format_args!("partition {} | {}", self.names(a), self.names(b)),
        );
    }

    /// Cuts only the direction `from` → `to`.
    pub fn partition_oneway(&self, from: &[HostId], to: &[HostId]) {
        {
            let mut net = self.net();
            for &x in from {
                for &y in to {
                    if x != y {
                        net.blocked.insert((x, y));
                    }
                }
            }
        }
        self.trace_world(
            "fault",
            format_args!(
                "partition one-way {} -> {}",
                self.names(from),
                self.names(to)
            ),
        );
    }

    /// Cuts a site from every other site.
    pub fn isolate_site(&self, site: &str) {
        let inside = self.hosts_in_site(site);
        let outside: Vec<HostId> = (0..self.host_count() as u32)
            .map(HostId)
            .filter(|h| !inside.contains(h))
            .collect();
        self.partition(&inside, &outside);
        self.trace_world("fault", format_args!("isolate site {site}"));
    }

    /// Two halves that cannot talk, joined by one host that talks to both (Jepsen's bridge).
    pub fn bridge(&self, a: &[HostId], b: &[HostId], bridge: HostId) {
        let a: Vec<HostId> = a.iter().copied().filter(|h| *h != bridge).collect();
        let b: Vec<HostId> = b.iter().copied().filter(|h| *h != bridge).collect();
        self.partition(&a, &b);
        self.trace_world(
            "fault",
            format_args!("bridge via {}", self.host_name(bridge)),
        );
    }

    /// Restores every cut link (loss and latency faults stay; see [`World::clear_link_faults`]).
    pub fn heal(&self) {
        self.net().blocked.clear();
        self.trace_world("fault", format_args!("heal"));
        self.wake_all_pumps();
    }

    /// Heals the links between `a` and `b` only.
    pub fn heal_between(&self, a: &[HostId], b: &[HostId]) {
        {
            let mut net = self.net();
            for &x in a {
                for &y in b {
                    net.blocked.remove(&(x, y));
                    net.blocked.remove(&(y, x));
                }
            }
        }
        self.trace_world(
            "fault",
            format_args!("heal {} | {}", self.names(a), self.names(b)),
        );
        self.wake_all_pumps();
    }

    /// Packet loss on the links between `a` and `b`, both ways (TCP turns it into delay).
    pub fn set_loss(&self, a: &[HostId], b: &[HostId], probability: f64) -> Result<(), FaultError> {
        if !(0.0..=1.0).contains(&probability) {
            return Err(FaultError::BadLoss(probability));
        }
        {
            let mut net = self.net();
            for &x in a {
                for &y in b {
                    net.loss.insert((x, y), probability);
                    net.loss.insert((y, x), probability);
                }
            }
        }
        self.trace_world(
            "fault",
            format_args!("loss {probability} {} | {}", self.names(a), self.names(b)),
        );
        Ok(())
    }

    /// Extra one-way latency on the links between `a` and `b`, both ways.
    pub fn set_extra_latency(&self, a: &[HostId], b: &[HostId], extra: Duration) {
        {
            let mut net = self.net();
            for &x in a {
                for &y in b {
                    net.extra_latency.insert((x, y), extra);
                    net.extra_latency.insert((y, x), extra);
                }
            }
        }
        self.trace_world(
            "fault",
            format_args!("latency +{extra:?} {} | {}", self.names(a), self.names(b)),
        );
    }

    /// Removes every loss and extra-latency fault.
    pub fn clear_link_faults(&self) {
        let mut net = self.net();
        net.loss.clear();
        net.extra_latency.clear();
        drop(net);
        self.trace_world("fault", format_args!("clear link faults"));
    }

    /// Whether `from` can currently deliver to `to`.
    pub fn can_reach(&self, from: HostId, to: HostId) -> bool {
        !self.net().is_blocked(from, to)
    }

    // ----- clock faults ------------------------------------------------------------------

    pub fn clock_offset(&self, host: HostId, offset_millis: i64) {
        self.clock(host).set_offset(offset_millis);
        self.trace_world(
            "fault",
            format_args!("clock offset {} {offset_millis}ms", self.host_name(host)),
        );
    }

    pub fn clock_drift(&self, host: HostId, rate: f64) -> Result<(), FaultError> {
        self.clock(host).set_drift(rate)?;
        self.trace_world(
            "fault",
            format_args!("clock drift {} x{rate}", self.host_name(host)),
        );
        Ok(())
    }

    /// Steps the wall clock; with `monotonic`, steps the monotonic clock forward instead.
    pub fn clock_jump(
        &self,
        host: HostId,
        delta_millis: i64,
        monotonic: bool,
    ) -> Result<(), FaultError> {
        let clock = self.clock(host);
        if monotonic {
            clock.jump_monotonic(delta_millis)?;
        } else {
            clock.jump_wall(delta_millis);
        }
        self.trace_world(
            "fault",
            format_args!(
                "clock jump {} {delta_millis:+}ms{}",
                self.host_name(host),
                if monotonic { " (monotonic)" } else { "" }
            ),
        );
        Ok(())
    }

    pub fn clock_strobe(
        &self,
        host: HostId,
        delta_millis: i64,
        period: Duration,
        duration: Duration,
    ) -> Result<(), FaultError> {
        self.clock(host).strobe(delta_millis, period, duration)?;
        self.trace_world(
            "fault",
            format_args!(
                "clock strobe {} {delta_millis}ms every {period:?} for {duration:?}",
                self.host_name(host)
            ),
        );
        Ok(())
    }

    pub fn clock_reset(&self, host: HostId) {
        self.clock(host).reset();
        self.trace_world(
            "fault",
            format_args!("clock reset {}", self.host_name(host)),
        );
    }

    // ----- packets -----------------------------------------------------------------------

    fn bind(&self, addr: Addr) -> Mailbox {
        let (sender, receiver) = mpsc::unbounded_channel();
        self.net().bindings.insert(addr, sender);
        Mailbox::new(addr, receiver)
    }

    fn send(&self, packet: Packet) {
        let now = true_now();
        let (from, to) = (packet.from.host, packet.to.host);
        let start_pump = {
            let mut net = self.net();
            if !matches!(packet.payload, Payload::Reset) {
                net.peers.insert((packet.from, packet.to));
            }
            let at = madsim::rand::thread_rng()
                .with_draws(|draw| net.delivery_time(now, from, to, draw));
            let link = net
                .links
                .get_mut(&(from, to))
                .expect("delivery_time creates the link");
            link.queue.push_back((at, packet));
            match &link.pump {
                // The pump only waits on its notifier when the queue was empty; a packet queued
                // behind others is picked up when the pump gets to it.
                Some(pump) if link.queue.len() == 1 => {
                    pump.notify_one();
                    None
                }
                Some(_) => None,
                None => {
                    let notify = Arc::new(Notify::new());
                    link.pump = Some(notify.clone());
                    Some(notify)
                }
            }
        };
        if let Some(notify) = start_pump {
            self.start_pump(from, to, notify);
        }
    }

    /// One task per directed link delivers its packets in order, waiting while it is cut.
    fn start_pump(&self, from: HostId, to: HostId, notify: Arc<Notify>) {
        let world = self.clone();
        self.inner.net_node.spawn(async move {
            loop {
                enum Next {
                    Wait,
                    SleepUntil(Duration),
                    Deliver(Packet),
                }
                let next = {
                    let mut net = world.net();
                    let blocked = net.is_blocked(from, to);
                    let link = net.links.get_mut(&(from, to)).expect("pumped link exists");
                    match link.queue.front() {
                        None => Next::Wait,
                        Some(_) if blocked => Next::Wait,
                        Some((at, _)) if *at > true_now() => Next::SleepUntil(*at),
                        Some(_) => Next::Deliver(link.queue.pop_front().expect("front exists").1),
                    }
                };
                match next {
                    Next::Wait => notify.notified().await,
                    Next::SleepUntil(at) => sleep_until_true(at).await,
                    Next::Deliver(packet) => world.deliver(packet),
                }
            }
        });
    }

    /// Wakes every link pump that has packets waiting (after links were healed).
    fn wake_all_pumps(&self) {
        let net = self.net();
        for link in net.links.values() {
            if let (Some(pump), false) = (&link.pump, link.queue.is_empty()) {
                pump.notify_one();
            }
        }
    }

    fn deliver(&self, packet: Packet) {
        let fingerprint = packet_fingerprint(&packet);
        let mut net = self.net();
        match net.bindings.get(&packet.to) {
            Some(sender) if sender.send(packet).is_ok() => {
                drop(net);
                self.inner
                    .trace
                    .lock()
                    .expect("trace lock")
                    .record_packet(true_now(), fingerprint);
            }
            _ => net.dropped += 1,
        }
    }

    // ----- trace and metrics -------------------------------------------------------------

    fn names(&self, hosts: &[HostId]) -> String {
        let all = self.hosts();
        hosts
            .iter()
            .map(|h| all[h.index()].name.as_str())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Records an event of the world itself (faults, nemesis).
    pub fn trace_world(&self, category: &'static str, text: fmt::Arguments<'_>) {
        self.inner.trace.lock().expect("trace lock").record(
            true_now(),
            "world",
            None,
            category,
            text,
        );
    }

    /// Records an event on a host, with the host's wall clock beside true time.
    pub fn trace_host(&self, host: HostId, category: &'static str, text: fmt::Arguments<'_>) {
        // Lock order: hosts, then trace (nothing takes them the other way round).
        let hosts = self.hosts();
        let h = &hosts[host.index()];
        let wall = h.clock.wall_now_millis();
        self.inner.trace.lock().expect("trace lock").record(
            true_now(),
            &h.name,
            Some(wall),
            category,
            text,
        );
    }

    pub fn trace_hash(&self) -> u64 {
        self.inner.trace.lock().expect("trace lock").hash()
    }

    pub fn trace_events(&self) -> u64 {
        self.inner.trace.lock().expect("trace lock").events()
    }

    pub fn packets_delivered(&self) -> u64 {
        self.inner.trace.lock().expect("trace lock").packets()
    }

    pub fn packets_dropped(&self) -> u64 {
        self.net().dropped
    }

    pub fn take_trace_lines(&self) -> Vec<TraceLine> {
        self.inner.trace.lock().expect("trace lock").take_lines()
    }

    /// A process announces its role (traced when it changes). Cleared when the host crashes.
    pub fn set_role(&self, host: HostId, role: &str) {
        let changed = {
            let mut roles = self.inner.roles.lock().expect("roles lock");
            if roles.get(&host).map(String::as_str) == Some(role) {
                false
            } else {
                roles.insert(host, role.to_string());
                true
            }
        };
        if changed {
            self.trace_host(host, "role", format_args!("{role}"));
            self.record(Record::Role {
                host: self.host_name(host),
                role: role.to_string(),
            });
        }
    }

    /// Appends to the run's history, stamped with true simulated time.
    pub fn record(&self, record: Record) {
        self.inner
            .history
            .lock()
            .expect("history lock")
            .push(Entry {
                at: true_now(),
                record,
            });
    }

    /// The history so far.
    pub fn history(&self) -> Vec<Entry> {
        self.inner.history.lock().expect("history lock").clone()
    }

    /// The role a host's process last announced, if it runs.
    pub fn role(&self, host: HostId) -> Option<String> {
        self.inner
            .roles
            .lock()
            .expect("roles lock")
            .get(&host)
            .cloned()
    }

    /// Hosts whose process currently announces `role`.
    pub fn hosts_with_role(&self, role: &str) -> Vec<HostId> {
        let roles = self.inner.roles.lock().expect("roles lock");
        roles
            .iter()
            .filter(|(_, r)| r.as_str() == role)
            .map(|(h, _)| *h)
            .collect()
    }

    /// Adds to a named counter (e.g. `zk.leader_changes`).
    pub fn count(&self, metric: &'static str, by: u64) {
        *self
            .inner
            .metrics
            .lock()
            .expect("metrics lock")
            .entry(metric)
            .or_insert(0) += by;
    }

    pub fn metric(&self, metric: &str) -> u64 {
        self.inner
            .metrics
            .lock()
            .expect("metrics lock")
            .get(metric)
            .copied()
            .unwrap_or(0)
    }

    pub fn metrics(&self) -> BTreeMap<&'static str, u64> {
        self.inner.metrics.lock().expect("metrics lock").clone()
    }
}

/// Uniform draws from madsim's seeded RNG, for code that takes a `FnMut() -> f64`.
trait WithDraws {
    fn with_draws<T>(&mut self, f: impl FnOnce(&mut dyn FnMut() -> f64) -> T) -> T;
}

impl WithDraws for madsim::rand::GlobalRng {
    fn with_draws<T>(&mut self, f: impl FnOnce(&mut dyn FnMut() -> f64) -> T) -> T {
        let mut draw = || self.r#gen::<f64>();
        f(&mut draw)
    }
}

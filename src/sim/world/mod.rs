//! The simulated world: hosts in sites, the processes they run, their clocks and disks, the
//! network between them, and the fault primitives (crash, restart, wipe, pause, partitions,
//! link faults, clock faults) that the nemesis, scenario files and chaos runner all call.
//!
//! Each host is one madsim node, so a pause parks every task of its process (its overdue
//! timers fire on resume) and a crash drops them. A world must be created and used inside a
//! madsim runtime (`Runtime::block_on`).

mod delivery;
mod faults;
mod mailbox;
mod observe;

pub use mailbox::Mailbox;

use crate::coverage::SharedReached;
use crate::sim::clock::{HostClock, SimEnv, TrueClock};
use crate::sim::history::{Entry, Record};
use crate::sim::net::{Addr, HostId, NetConfig, NetState, Packet, Payload, Port};
use crate::sim::trace::Trace;
use crate::zk::types::SessionId;
use std::any::Any;
use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};

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
    /// True simulated time, for the network and the records.
    time: TrueClock,
    hosts: Mutex<Vec<HostRecord>>,
    net: Mutex<NetState>,
    trace: Mutex<Trace>,
    metrics: Mutex<BTreeMap<&'static str, u64>>,
    history: Mutex<Vec<Entry>>,
    /// What each host's process says it is now ("leading", "following", "master", ...).
    roles: Mutex<BTreeMap<HostId, String>>,
    /// The edge-case points this run reached ([`crate::coverage`]).
    coverage: Arc<SharedReached>,
    /// Which host (and incarnation of its process) opened each ZooKeeper session, for coverage
    /// points about the session's node: a master's session expired while it was paused.
    session_hosts: Mutex<BTreeMap<SessionId, (HostId, u64)>>,
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
    /// Whether this incarnation of the host's process still runs: a crash drops its tasks,
    /// and what their destructors would send must not leave the dead process.
    pub fn process_alive(&self) -> bool {
        let hosts = self.world.hosts();
        let h = &hosts[self.host.index()];
        h.status != HostStatus::Down && h.incarnation == self.incarnation
    }

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

    /// The client closed a connection from `from_port` to `to` whose handshake never
    /// completed: if its opening packet (`opens`) has not reached `to` yet, that packet and
    /// everything else of the connection (`belongs`) is dropped from the link, as a kernel
    /// stops retransmitting a SYN once the socket is closed (the server never hears of the
    /// connection). Once the opening packet was delivered the connection existed, and its
    /// queued data still arrives, as data of an established connection does.
    pub fn abandon_unopened(
        &self,
        from_port: Port,
        to: Addr,
        opens: impl Fn(&Payload) -> bool,
        belongs: impl Fn(&Payload) -> bool,
    ) {
        let from = Addr {
            host: self.host,
            port: from_port,
        };
        self.world.abandon_unopened(from, to, opens, belongs);
    }

    /// Sends from `from_port` of this host.
    pub fn send(&self, from_port: Port, to: Addr, payload: Payload) {
        self.world.send(Box::new(Packet {
            from: Addr {
                host: self.host,
                port: from_port,
            },
            to,
            payload,
        }));
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
                time: TrueClock::current(),
                hosts: Mutex::new(Vec::new()),
                net: Mutex::new(NetState::new(config)),
                trace: Mutex::new(Trace::new(keep_trace_lines)),
                metrics: Mutex::new(BTreeMap::new()),
                roles: Mutex::new(BTreeMap::new()),
                history: Mutex::new(Vec::new()),
                coverage: Arc::default(),
                session_hosts: Mutex::new(BTreeMap::new()),
            }),
        }
    }

    /// Ends the world: kills every process and the network, and drops queued packets and
    /// bindings. Call it when a run is over, before its runtime is dropped: a task waiting on a
    /// channel the world holds would otherwise keep the world alive (and its memory) forever,
    /// which adds up over thousands of seeds in one process.
    pub fn shutdown(&self) {
        // Shut first: what the destructors of the killed tasks would send goes nowhere.
        self.net().shut = true;
        let nodes: Vec<madsim::task::NodeId> = self.hosts().iter().map(|h| h.node).collect();
        for node in nodes {
            self.inner.handle.kill(node);
        }
        self.inner.handle.kill(self.inner.net_node.id());
        let mut net = self.net();
        net.shut = true;
        let inboxes = std::mem::take(&mut net.bindings);
        net.links.clear();
        net.held = 0;
        drop(net);
        for inbox in inboxes.values() {
            self.close_inbox(inbox);
        }
        self.inner.roles.lock().expect("roles lock").clear();
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
            env: SimEnv::new(h.clock.clone(), h.node, self.inner.coverage.clone()),
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
            self.net().powered_off.remove(&host);
            (process, h.node)
        };
        let ctx = self.host_ctx(host);
        // A fresh madsim node incarnation: nothing of the previous process survives.
        self.inner.handle.restart(node);
        let spawner = self.inner.handle.get_node(node).expect("host node exists");
        self.trace_world("fault", format_args!("start {}", ctx.name));
        self.record(Record::HostStarted {
            host: ctx.name.as_str().into(),
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
        let (resets, inboxes) = {
            let mut net = self.net();
            if hard {
                net.powered_off.insert(host);
            }
            net.unbind_host(host)
        };
        for inbox in &inboxes {
            self.close_inbox(inbox);
        }
        self.trace_world(
            "fault",
            format_args!(
                "crash {}{}",
                self.host_name(host),
                if hard { " (hard)" } else { "" }
            ),
        );
        self.record(Record::HostCrashed {
            host: self.host_name(host).into(),
        });
        if !hard {
            for (local, remote) in resets {
                self.send(Box::new(Packet {
                    from: local,
                    to: remote,
                    payload: Payload::Reset,
                }));
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
            host: self.host_name(host).into(),
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
            host: self.host_name(host).into(),
        });
        Ok(())
    }
}

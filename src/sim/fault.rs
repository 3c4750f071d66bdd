//! Faults as values: the step vocabulary shared by the nemesis, scenario files and the chaos
//! runner. A [`Fault`] names its targets (hosts, sites, or "the current ZooKeeper leader") and
//! [`FaultApplier::apply`] resolves and applies it to a [`World`] at the moment it runs.

use crate::sim::net::HostId;
use crate::sim::world::{FaultError, HostStatus, World};
use std::fmt;
use std::time::Duration;

/// Whom a host fault hits.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Target {
    Host(String),
    /// Whichever ZooKeeper server announces the role "leading" when the fault runs. For faults
    /// that bring a host back (start, restart, resume, clock reset) it is the server an earlier
    /// `ZkLeader` fault hit: "crash zk-leader … start zk-leader" brings back the one it crashed.
    ZkLeader,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Host(h) => f.write_str(h),
            Target::ZkLeader => f.write_str("zk-leader"),
        }
    }
}

/// A group of hosts, by name or by site.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Group {
    Hosts(Vec<String>),
    Site(String),
}

impl fmt::Display for Group {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Group::Hosts(h) => write!(f, "[{}]", h.join(",")),
            Group::Site(s) => write!(f, "site:{s}"),
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    Partition {
        a: Group,
        b: Group,
    },
    PartitionOneWay {
        from: Group,
        to: Group,
    },
    IsolateSite {
        site: String,
    },
    Bridge {
        a: Group,
        b: Group,
        bridge: String,
    },
    /// Heals every cut link.
    Heal,
    Loss {
        a: Group,
        b: Group,
        probability: f64,
    },
    Latency {
        a: Group,
        b: Group,
        extra: Duration,
    },
    /// Removes every loss and latency fault.
    ClearLinkFaults,
    Crash {
        target: Target,
        hard: bool,
    },
    /// Starts a host that is down.
    Start {
        target: Target,
    },
    Restart {
        target: Target,
    },
    Wipe {
        target: Target,
    },
    Pause {
        target: Target,
    },
    Resume {
        target: Target,
    },
    ClockOffset {
        target: Target,
        millis: i64,
    },
    ClockDrift {
        target: Target,
        rate: f64,
    },
    ClockJump {
        target: Target,
        millis: i64,
        monotonic: bool,
    },
    ClockStrobe {
        target: Target,
        millis: i64,
        period: Duration,
        duration: Duration,
    },
    ClockReset {
        target: Target,
    },
}

/// Why a fault could not be applied.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ApplyError {
    #[error("no ZooKeeper server is leading right now")]
    NoZkLeader,
    #[error("no host in site '{0}'")]
    EmptySite(String),
    #[error(transparent)]
    World(#[from] FaultError),
}

/// Applies faults to a world, remembering which server `Target::ZkLeader` last resolved to.
#[derive(Debug, Default)]
pub struct FaultApplier {
    last_leader_hit: Option<HostId>,
}

impl FaultApplier {
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies the fault now.
    pub fn apply(&mut self, world: &World, fault: &Fault) -> Result<(), ApplyError> {
        // Resolve the target before the fault changes who leads.
        let hits_leader = self.hits_leader(world, fault);
        let resolved = match fault.target() {
            Some(target) => Some(self.resolve(world, target, !hits_leader)?),
            None => None,
        };
        if fault.target() == Some(&Target::ZkLeader) && hits_leader {
            self.last_leader_hit = resolved;
        }
        let host = |_: &Target| resolved.ok_or(ApplyError::NoZkLeader);
        match fault {
            Fault::Partition { a, b } => world.partition(&group(world, a)?, &group(world, b)?),
            Fault::PartitionOneWay { from, to } => {
                world.partition_oneway(&group(world, from)?, &group(world, to)?)
            }
            Fault::IsolateSite { site } => {
                if world.hosts_in_site(site).is_empty() {
                    return Err(ApplyError::EmptySite(site.clone()));
                }
                world.isolate_site(site)
            }
            Fault::Bridge { a, b, bridge } => {
                let bridge = world.host_id(bridge)?;
                world.bridge(&group(world, a)?, &group(world, b)?, bridge)
            }
            Fault::Heal => world.heal(),
            Fault::Loss { a, b, probability } => {
                world.set_loss(&group(world, a)?, &group(world, b)?, *probability)?
            }
            Fault::Latency { a, b, extra } => {
                world.set_extra_latency(&group(world, a)?, &group(world, b)?, *extra)
            }
            Fault::ClearLinkFaults => world.clear_link_faults(),
            Fault::Crash { target, hard } => world.crash(host(target)?, *hard)?,
            Fault::Start { target } => world.start(host(target)?)?,
            Fault::Restart { target } => world.restart(host(target)?)?,
            Fault::Wipe { target } => world.wipe(host(target)?)?,
            Fault::Pause { target } => world.pause(host(target)?)?,
            Fault::Resume { target } => world.resume(host(target)?)?,
            Fault::ClockOffset { target, millis } => world.clock_offset(host(target)?, *millis),
            Fault::ClockDrift { target, rate } => world.clock_drift(host(target)?, *rate)?,
            Fault::ClockJump {
                target,
                millis,
                monotonic,
            } => world.clock_jump(host(target)?, *millis, *monotonic)?,
            Fault::ClockStrobe {
                target,
                millis,
                period,
                duration,
            } => world.clock_strobe(host(target)?, *millis, *period, *duration)?,
            Fault::ClockReset { target } => world.clock_reset(host(target)?),
        }
        world.record(crate::sim::history::Record::Fault {
            description: fault.to_string(),
        });
        Ok(())
    }

    /// Whether a fault aimed at `zk-leader` strikes the server leading now, rather than bring
    /// back the one an earlier step hit: every fault but those that bring a host back, and a
    /// `restart` unless the server hit earlier is down (then it brings that one back).
    fn hits_leader(&self, world: &World, fault: &Fault) -> bool {
        match fault {
            Fault::Restart { .. } => self
                .last_leader_hit
                .is_none_or(|hit| world.status(hit) != HostStatus::Down),
            _ => !fault.brings_back(),
        }
    }

    fn resolve(
        &self,
        world: &World,
        target: &Target,
        brings_back: bool,
    ) -> Result<HostId, ApplyError> {
        match target {
            Target::Host(name) => Ok(world.host_id(name)?),
            Target::ZkLeader if brings_back => self.last_leader_hit.ok_or(ApplyError::NoZkLeader),
            Target::ZkLeader => world
                .hosts_with_role("leading")
                .first()
                .copied()
                .ok_or(ApplyError::NoZkLeader),
        }
    }
}

impl Fault {
    /// Faults that undo an earlier one on the same host.
    fn brings_back(&self) -> bool {
        matches!(
            self,
            Fault::Start { .. }
                | Fault::Restart { .. }
                | Fault::Resume { .. }
                | Fault::ClockReset { .. }
        )
    }

    /// The host a host fault hits.
    pub fn target(&self) -> Option<&Target> {
        match self {
            Fault::Crash { target, .. }
            | Fault::Start { target }
            | Fault::Restart { target }
            | Fault::Wipe { target }
            | Fault::Pause { target }
            | Fault::Resume { target }
            | Fault::ClockOffset { target, .. }
            | Fault::ClockDrift { target, .. }
            | Fault::ClockJump { target, .. }
            | Fault::ClockStrobe { target, .. }
            | Fault::ClockReset { target } => Some(target),
            _ => None,
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Partition { a, b } => write!(f, "partition {a} | {b}"),
            Fault::PartitionOneWay { from, to } => write!(f, "one-way {from} -> {to}"),
            Fault::IsolateSite { site } => write!(f, "isolate site {site}"),
            Fault::Bridge { a, b, bridge } => write!(f, "bridge {a} | {b} via {bridge}"),
            Fault::Heal => f.write_str("heal"),
            Fault::Loss { a, b, probability } => write!(f, "loss {probability} {a} | {b}"),
            Fault::Latency { a, b, extra } => write!(f, "latency +{extra:?} {a} | {b}"),
            Fault::ClearLinkFaults => f.write_str("clear link faults"),
            Fault::Crash { target, hard } => {
                write!(f, "crash {target}{}", if *hard { " (hard)" } else { "" })
            }
            Fault::Start { target } => write!(f, "start {target}"),
            Fault::Restart { target } => write!(f, "restart {target}"),
            Fault::Wipe { target } => write!(f, "wipe {target}"),
            Fault::Pause { target } => write!(f, "pause {target}"),
            Fault::Resume { target } => write!(f, "resume {target}"),
            Fault::ClockOffset { target, millis } => write!(f, "clock offset {target} {millis}ms"),
            Fault::ClockDrift { target, rate } => write!(f, "clock drift {target} x{rate}"),
            Fault::ClockJump {
                target,
                millis,
                monotonic,
            } => write!(
                f,
                "clock jump {target} {millis:+}ms{}",
                if *monotonic { " (monotonic)" } else { "" }
            ),
            Fault::ClockStrobe {
                target,
                millis,
                period,
                duration,
            } => {
                write!(
                    f,
                    "clock strobe {target} {millis}ms every {period:?} for {duration:?}"
                )
            }
            Fault::ClockReset { target } => write!(f, "clock reset {target}"),
        }
    }
}

fn group(world: &World, group: &Group) -> Result<Vec<HostId>, ApplyError> {
    match group {
        Group::Hosts(names) => names.iter().map(|n| Ok(world.host_id(n)?)).collect(),
        Group::Site(site) => {
            let hosts = world.hosts_in_site(site);
            if hosts.is_empty() {
                Err(ApplyError::EmptySite(site.clone()))
            } else {
                Ok(hosts)
            }
        }
    }
}

/// A fault at a point of true simulated time.
#[derive(Clone, Debug, PartialEq)]
pub struct TimedFault {
    pub at: Duration,
    pub fault: Fault,
}

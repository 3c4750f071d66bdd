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
    /// A ZooKeeper server following the leader when the fault runs (the first in host order,
    /// so a run replays), brought back like [`Target::ZkLeader`].
    ZkFollower,
}

/// The name a scenario file gives the current ZooKeeper leader (as a target or in a group).
pub const ZK_LEADER: &str = "zk-leader";
/// The name a scenario file gives a current ZooKeeper follower.
pub const ZK_FOLLOWER: &str = "zk-follower";

impl Target {
    /// The ZooKeeper role a role target stands for (`leading`, `following`, as servers report
    /// it), or `None` for a named host.
    pub fn zk_role(&self) -> Option<&'static str> {
        match self {
            Target::Host(_) => None,
            Target::ZkLeader => Some("leading"),
            Target::ZkFollower => Some("following"),
        }
    }

    /// The role target a group member's name stands for, if it is `zk-leader` or `zk-follower`.
    pub fn role_named(name: &str) -> Option<Target> {
        match name {
            ZK_LEADER => Some(Target::ZkLeader),
            ZK_FOLLOWER => Some(Target::ZkFollower),
            _ => None,
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Host(h) => f.write_str(h),
            Target::ZkLeader => f.write_str(ZK_LEADER),
            Target::ZkFollower => f.write_str(ZK_FOLLOWER),
        }
    }
}

/// A group of hosts, by name or by site. A name may be `zk-leader` or `zk-follower`: the
/// server holding that role when the step runs.
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
    #[error("no ZooKeeper server is following a leader right now")]
    NoZkFollower,
    #[error("no earlier step hit {0}, so there is none to bring back")]
    NothingToBringBack(Target),
    #[error("no host in site '{0}'")]
    EmptySite(String),
    #[error(transparent)]
    World(#[from] FaultError),
}

/// Applies faults to a world, remembering which server each role target (`zk-leader`,
/// `zk-follower`) last resolved to, so a later step can bring that server back.
#[derive(Debug, Default)]
pub struct FaultApplier {
    last_leader_hit: Option<HostId>,
    last_follower_hit: Option<HostId>,
}

impl FaultApplier {
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies the fault now.
    pub fn apply(&mut self, world: &World, fault: &Fault) -> Result<(), ApplyError> {
        // Resolve the target and the groups before the fault changes who leads.
        let strikes = fault
            .target()
            .is_some_and(|t| self.strikes_anew(world, fault, t));
        let resolved = match fault.target() {
            Some(target) => Some(self.resolve(world, target, !strikes)?),
            None => None,
        };
        if strikes {
            match fault.target() {
                Some(Target::ZkLeader) => self.last_leader_hit = resolved,
                Some(Target::ZkFollower) => self.last_follower_hit = resolved,
                _ => {}
            }
        }
        let host = |_: &Target| resolved.ok_or(ApplyError::NoZkLeader);
        let group = |g: &Group| group(world, g);
        match fault {
            Fault::Partition { a, b } => world.partition(&group(a)?, &group(b)?),
            Fault::PartitionOneWay { from, to } => {
                world.partition_oneway(&group(from)?, &group(to)?)
            }
            Fault::IsolateSite { site } => {
                if world.hosts_in_site(site).is_empty() {
                    return Err(ApplyError::EmptySite(site.clone()));
                }
                world.isolate_site(site)
            }
            Fault::Bridge { a, b, bridge } => {
                let bridge = world.host_id(bridge)?;
                world.bridge(&group(a)?, &group(b)?, bridge)
            }
            Fault::Heal => world.heal(),
            Fault::Loss { a, b, probability } => {
                world.set_loss(&group(a)?, &group(b)?, *probability)?
            }
            Fault::Latency { a, b, extra } => {
                world.set_extra_latency(&group(a)?, &group(b)?, *extra)
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
            description: describe(world, fault),
        });
        Ok(())
    }

    /// Whether a fault aimed at a role target strikes the server holding the role now, rather
    /// than bring back the one an earlier step hit: every fault but those that bring a host
    /// back, and a `restart` unless the server hit earlier is down (then it brings that one
    /// back). Always false for a named host.
    fn strikes_anew(&self, world: &World, fault: &Fault, target: &Target) -> bool {
        let last_hit = match target {
            Target::Host(_) => return false,
            Target::ZkLeader => self.last_leader_hit,
            Target::ZkFollower => self.last_follower_hit,
        };
        match fault {
            Fault::Restart { .. } => {
                last_hit.is_none_or(|hit| world.status(hit) != HostStatus::Down)
            }
            _ => !fault.brings_back(),
        }
    }

    fn resolve(
        &self,
        world: &World,
        target: &Target,
        brings_back: bool,
    ) -> Result<HostId, ApplyError> {
        let last_hit = match target {
            Target::Host(name) => return Ok(world.host_id(name)?),
            Target::ZkLeader => self.last_leader_hit,
            Target::ZkFollower => self.last_follower_hit,
        };
        if brings_back {
            last_hit.ok_or_else(|| ApplyError::NothingToBringBack(target.clone()))
        } else {
            role_holder(world, target)
        }
    }
}

/// A fault as the history records it: its step, and for groups that name a role
/// (`zk-leader`, `zk-follower`) the server that role resolved to, so a report says which
/// server was cut.
fn describe(world: &World, fault: &Fault) -> String {
    let mut roles: Vec<String> = fault
        .group_names()
        .filter_map(|name| {
            let role = Target::role_named(name)?;
            let holder = role_holder(world, &role).ok()?;
            Some(format!("{name} = {}", world.host_name(holder)))
        })
        .collect();
    roles.dedup();
    if roles.is_empty() {
        fault.to_string()
    } else {
        format!("{fault} ({})", roles.join(", "))
    }
}

/// The server holding a role target's role now: the leader, or the first follower in host
/// order.
fn role_holder(world: &World, target: &Target) -> Result<HostId, ApplyError> {
    let role = target.zk_role().expect("a role target");
    world
        .hosts_with_role(role)
        .first()
        .copied()
        .ok_or(match target {
            Target::ZkFollower => ApplyError::NoZkFollower,
            _ => ApplyError::NoZkLeader,
        })
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

    /// The host names a link fault's groups list (not the hosts of a site it names).
    pub fn group_names(&self) -> impl Iterator<Item = &String> {
        let groups: Vec<&Group> = match self {
            Fault::Partition { a, b }
            | Fault::Bridge { a, b, .. }
            | Fault::Loss { a, b, .. }
            | Fault::Latency { a, b, .. } => vec![a, b],
            Fault::PartitionOneWay { from, to } => vec![from, to],
            _ => vec![],
        };
        groups.into_iter().flat_map(|g| match g {
            Group::Hosts(names) => names.as_slice(),
            Group::Site(_) => &[],
        })
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
        Group::Hosts(names) => names
            .iter()
            .map(|n| match Target::role_named(n) {
                Some(role) => role_holder(world, &role),
                None => Ok(world.host_id(n)?),
            })
            .collect(),
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

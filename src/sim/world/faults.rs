//! Network and clock faults on a running world.

use super::{FaultError, World};
use crate::coverage::Point;
use crate::sim::net::HostId;
use std::time::Duration;

impl World {
    /// Cuts every link between a host of `a` and a host of `b`, both ways.
    pub fn partition(&self, a: &[HostId], b: &[HostId]) {
        let mut cut = Vec::new();
        {
            let mut net = self.net();
            for &x in a {
                for &y in b {
                    if x != y {
                        for link in [(x, y), (y, x)] {
                            if net.blocked.insert(link) {
                                cut.push(link);
                            }
                        }
                    }
                }
            }
        }
        self.cut_starts(&cut);
        self.trace_world(
            "fault",
            format_args!("partition {} | {}", self.names(a), self.names(b)),
        );
    }

    /// Cuts only the direction `from` → `to`.
    pub fn partition_oneway(&self, from: &[HostId], to: &[HostId]) {
        let mut cut = Vec::new();
        {
            let mut net = self.net();
            for &x in from {
                for &y in to {
                    if x != y && net.blocked.insert((x, y)) {
                        cut.push((x, y));
                    }
                }
            }
        }
        self.cut_starts(&cut);
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

    pub fn clock_offset(&self, host: HostId, offset_millis: i64) {
        if self.acts_as_master(host) {
            self.reach(Point::ClockStepOnMaster);
        }
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
        if self.acts_as_master(host) {
            self.reach(if monotonic {
                Point::ClockJumpOnMaster
            } else {
                Point::ClockStepOnMaster
            });
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
}

//! What each step does to a live world, by real means: link faults through the relays,
//! crashes with SIGKILL (after blackholing the host's traffic for a hard crash), pauses with
//! SIGSTOP/SIGCONT, wipes by removing data, clock steps through the node's time facade, and
//! operator actions through the node's control interface. Each is recorded in the history when
//! it took effect.

use super::world::{HostKind, LiveWorld, Status};
use crate::pair::{ELECTION_ROOT, pair_credentials};
use crate::scenario::programs::BUILT_IN;
use crate::scenario::{Action, HealthLink};
use crate::sim::fault::{Fault, Group, Target};
use crate::sim::history::Record;
use std::time::Duration;

impl LiveWorld {
    /// Applies one step now; records it on success.
    pub fn apply(&mut self, action: &Action) -> Result<(), String> {
        match action {
            Action::Fault(fault) => self.apply_fault(fault)?,
            Action::Relinquish { node } => {
                self.desired_mut(node)?.relinquished = true;
                self.tell(node, "relinquish")?;
            }
            Action::Rejoin { node } => {
                self.desired_mut(node)?.relinquished = false;
                self.tell(node, "rejoin")?;
            }
            Action::SetPriority { node, priority } => {
                self.desired_mut(node)?.priority = *priority;
                self.tell(node, &format!("priority {priority}"))?;
                let pair = self.pair_of(node)?;
                self.recorder.record(Record::PriorityChanged {
                    pair: pair.as_str().into(),
                    node: node.as_str().into(),
                    priority: *priority,
                });
            }
            Action::BreakHealth { node, link } => {
                self.desired_mut(node)?.broken.insert(*link);
                self.tell(node, &format!("break-health {link}"))?;
            }
            Action::HealHealth { node, link } => {
                self.desired_mut(node)?.broken.remove(link);
                self.tell(node, &format!("heal-health {link}"))?;
            }
            Action::DeleteElection { pair } => {
                let deleted = self.delete_election(pair)?;
                self.recorder.record(Record::Fault {
                    description: format!("{action} ({deleted} znodes deleted)"),
                });
                return Ok(());
            }
        }
        if !matches!(action, Action::Fault(_)) {
            self.recorder.record(Record::Fault {
                description: action.to_string(),
            });
        }
        Ok(())
    }

    fn apply_fault(&mut self, fault: &Fault) -> Result<(), String> {
        match fault {
            Fault::Partition { a, b } => {
                let (a, b) = (self.hosts_of(a)?, self.hosts_of(b)?);
                self.links.partition(&a, &b);
                self.sync_links();
            }
            Fault::PartitionOneWay { from, to } => {
                let (from, to) = (self.hosts_of(from)?, self.hosts_of(to)?);
                self.links.partition_oneway(&from, &to);
                self.sync_links();
            }
            Fault::IsolateSite { site } => {
                let (inside, outside) = self.links.split_site(site)?;
                self.links.partition(&inside, &outside);
                self.sync_links();
            }
            Fault::Bridge { a, b, bridge } => {
                self.kind(bridge)?;
                let (a, b) = (self.hosts_of(a)?, self.hosts_of(b)?);
                self.links.bridge(&a, &b, bridge);
                self.sync_links();
            }
            Fault::Heal => {
                self.links.heal();
                self.sync_links();
            }
            Fault::Loss { a, b, probability } => {
                if !(0.0..=1.0).contains(probability) {
                    return Err(format!("loss probability {probability} is not in [0, 1]"));
                }
                let (a, b) = (self.hosts_of(a)?, self.hosts_of(b)?);
                self.links.set_loss(&a, &b, *probability);
                self.sync_links();
            }
            Fault::Latency { a, b, extra } => {
                let (a, b) = (self.hosts_of(a)?, self.hosts_of(b)?);
                self.links.set_extra_latency(&a, &b, *extra);
                self.sync_links();
            }
            Fault::ClearLinkFaults => {
                self.links.clear_link_faults();
                self.sync_links();
            }
            Fault::Crash { target, hard } => {
                let host = self.resolve(target, false)?;
                self.crash(&host, *hard)?;
            }
            Fault::Start { target } => {
                let host = self.resolve(target, true)?;
                self.start_host(&host)?;
            }
            Fault::Restart { target } => {
                let brings_back = target.zk_role().is_some_and(|role| {
                    self.last_role_hit
                        .get(role)
                        .is_some_and(|hit| self.status_of(hit) == Status::Down)
                });
                let host = self.resolve(target, brings_back)?;
                if self.status_of(&host) != Status::Down {
                    self.crash(&host, false)?;
                }
                self.start_host(&host)?;
            }
            Fault::Wipe { target } => {
                let host = self.resolve(target, false)?;
                if self.status_of(&host) != Status::Down {
                    self.crash(&host, false)?;
                }
                match self.kind(&host)? {
                    HostKind::Zk(i) => self.zk.wipe(i).map_err(|e| e.to_string())?,
                    HostKind::Database => self.databases.wipe(&host)?,
                    // A node keeps nothing on disk: its next incarnation starts afresh anyway.
                    HostKind::Node => {}
                }
            }
            Fault::Pause { target } => {
                let host = self.resolve(target, false)?;
                self.expect(&host, Status::Up, "pause")?;
                self.signal(&host, libc::SIGSTOP)?;
                self.set_status(&host, Status::Paused);
                self.recorder.record(Record::HostPaused {
                    host: host.as_str().into(),
                });
            }
            Fault::Resume { target } => {
                let host = self.resolve(target, true)?;
                self.expect(&host, Status::Paused, "resume")?;
                self.signal(&host, libc::SIGCONT)?;
                self.set_status(&host, Status::Up);
                self.recorder.record(Record::HostResumed {
                    host: host.as_str().into(),
                });
            }
            Fault::ClockOffset { target, millis } => {
                let host = self.node_target(target)?;
                self.tell(&host, &format!("clock offset {millis}"))?;
            }
            Fault::ClockJump {
                target,
                millis,
                monotonic,
            } => {
                let host = self.node_target(target)?;
                let which = if *monotonic { " monotonic" } else { "" };
                self.tell(&host, &format!("clock jump {millis:+}ms{which}"))?;
            }
            Fault::ClockReset { target } => {
                let host = self.node_target(target)?;
                self.tell(&host, "clock reset")?;
            }
            Fault::ClockDrift { target, rate } => {
                let host = self.node_target(target)?;
                self.tell(&host, &format!("clock drift {rate}"))?;
            }
            Fault::ClockStrobe { .. } => {
                return Err("not playable live (refused by --check)".into());
            }
        }
        self.recorder.record(Record::Fault {
            description: fault.to_string(),
        });
        Ok(())
    }

    /// The liveness phase: every world fault undone (links, hosts, clocks, health links);
    /// operator decisions (relinquish, priorities) stay.
    pub fn heal_everything(&mut self) {
        self.recorder.record(Record::Fault {
            description: "liveness phase: heal every fault".into(),
        });
        self.links.heal();
        self.links.clear_link_faults();
        self.sync_links();
        let hosts: Vec<String> = self.status.keys().cloned().collect();
        for host in &hosts {
            let _ = match self.status_of(host) {
                Status::Paused => self.apply_fault(&Fault::Resume {
                    target: Target::Host(host.clone()),
                }),
                Status::Down => self.start_host(host),
                Status::Up => Ok(()),
            };
        }
        let nodes: Vec<String> = self.nodes.keys().cloned().collect();
        for node in &nodes {
            // Only what the program supports: the others never had those faults.
            let supports = |capability: &str| {
                self.nodes
                    .get(node)
                    .and_then(|n| n.hello())
                    .is_some_and(|h| h.supports(capability))
            };
            let (clock, health) = (supports("clock"), supports("health"));
            if clock {
                let _ = self.tell(node, "clock reset");
            }
            for link in [HealthLink::Database, HealthLink::Bus] {
                if let Ok(desired) = self.desired_mut(node) {
                    desired.broken.remove(&link);
                }
                if health {
                    let _ = self.tell(node, &format!("heal-health {link}"));
                }
            }
        }
    }

    fn crash(&mut self, host: &str, hard: bool) -> Result<(), String> {
        if self.status_of(host) == Status::Down {
            return Err(format!("cannot crash {host}: it is down"));
        }
        if hard {
            // Power loss: the host's traffic stops before its process dies, so no peer sees
            // a reset.
            self.net.set_blackholed(host, true);
        }
        match self.kind(host)? {
            HostKind::Zk(i) => {
                self.zk.kill9(i).map_err(|e| e.to_string())?;
            }
            HostKind::Node => self
                .nodes
                .get_mut(host)
                .ok_or_else(|| format!("no node {host}"))?
                .kill()
                .map_err(|e| format!("killing {host}: {e}"))?,
            HostKind::Database => self.databases.kill(host)?,
        }
        self.net.set_down(host, true);
        self.set_status(host, Status::Down);
        self.recorder
            .record(Record::HostCrashed { host: host.into() });
        Ok(())
    }

    fn start_host(&mut self, host: &str) -> Result<(), String> {
        self.expect(host, Status::Down, "start")?;
        self.net.set_blackholed(host, false);
        self.net.set_down(host, false);
        match self.kind(host)? {
            HostKind::Zk(i) => {
                self.zk.restart(i).map_err(|e| e.to_string())?;
                if let Ok(Some(pid)) = self.zk.pid(i) {
                    self.registry.group(pid, &format!("zookeeper {host}"));
                }
            }
            HostKind::Node => self
                .start_node(host)
                .map_err(|e| format!("starting {host}: {e}"))?,
            HostKind::Database => self.databases.start(host)?,
        }
        self.set_status(host, Status::Up);
        self.recorder
            .record(Record::HostStarted { host: host.into() });
        Ok(())
    }

    fn signal(&mut self, host: &str, signal: libc::c_int) -> Result<(), String> {
        let result = match self.kind(host)? {
            HostKind::Zk(i) => {
                return if signal == libc::SIGSTOP {
                    self.zk.stop(i)
                } else {
                    self.zk.cont(i)
                }
                .map_err(|e| e.to_string());
            }
            HostKind::Node => self
                .nodes
                .get(host)
                .ok_or_else(|| format!("no node {host}"))?
                .signal(signal),
            HostKind::Database => return self.databases.signal(host, signal),
        };
        result.map_err(|e| format!("signalling {host}: {e}"))
    }

    fn set_status(&mut self, host: &str, status: Status) {
        self.status.insert(host.to_string(), status);
        match self.kind(host) {
            Ok(HostKind::Database) => self.databases.host_status(host, status),
            // The role poller asks only servers that run and are not paused.
            Ok(HostKind::Zk(_)) => {
                self.zk_running
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(host.to_string(), status == Status::Up);
            }
            _ => {}
        }
        if let Some(roles) = &self.roles
            && status != Status::Up
        {
            roles.forget(host);
        }
    }

    fn expect(&self, host: &str, status: Status, what: &str) -> Result<(), String> {
        let now = self.status_of(host);
        if now == status {
            Ok(())
        } else {
            Err(format!("cannot {what} {host}: it is {now:?}").to_lowercase())
        }
    }

    /// The host a target names now; `zk-leader` (`zk-follower`) is asked of the live ensemble
    /// at this moment, or (for steps that bring a host back) is the server an earlier step
    /// aimed at that role hit.
    fn resolve(&mut self, target: &Target, brings_back: bool) -> Result<String, String> {
        let Some(role) = target.zk_role() else {
            let name = target.to_string();
            self.kind(&name)?;
            return Ok(name);
        };
        if brings_back {
            return self.last_role_hit.get(role).cloned().ok_or_else(|| {
                format!("no earlier step hit {target}, so there is none to bring back")
            });
        }
        let holder = self.role_holder(target)?;
        self.last_role_hit.insert(role, holder.clone());
        Ok(holder)
    }

    fn role_holder(&self, target: &Target) -> Result<String, String> {
        let role = target.zk_role().unwrap_or("leading");
        self.zk_with_role(role)
            .ok_or_else(|| format!("no ZooKeeper server is {role} right now ({target})"))
    }

    /// The hosts a group names now, `zk-leader` and `zk-follower` asked of the ensemble.
    fn hosts_of(&self, group: &Group) -> Result<Vec<String>, String> {
        let group = match group {
            Group::Hosts(names) => Group::Hosts(
                names
                    .iter()
                    .map(|name| match Target::role_named(name) {
                        Some(role) => self.role_holder(&role),
                        None => Ok(name.clone()),
                    })
                    .collect::<Result<_, _>>()?,
            ),
            site => site.clone(),
        };
        self.links.group(&group)
    }

    fn node_target(&self, target: &Target) -> Result<String, String> {
        match target {
            Target::Host(name) if self.kind(name)? == HostKind::Node => Ok(name.clone()),
            _ => Err(format!(
                "clock steps on {target} are not playable live (refused by --check)"
            )),
        }
    }

    fn desired_mut(&mut self, node: &str) -> Result<&mut super::world::Desired, String> {
        self.desired
            .get_mut(node)
            .ok_or_else(|| format!("no node named '{node}'"))
    }

    fn pair_of(&self, node: &str) -> Result<String, String> {
        self.topology
            .pairs
            .iter()
            .find(|p| p.nodes.iter().any(|n| n.name == node))
            .map(|p| p.name.clone())
            .ok_or_else(|| format!("no node named '{node}'"))
    }

    /// Sends a control command to a running node. A node that is down or paused takes the
    /// change when it next starts (or reads it on resume: its stdin buffers it).
    fn tell(&mut self, node: &str, command: &str) -> Result<(), String> {
        let host = self
            .nodes
            .get_mut(node)
            .ok_or_else(|| format!("no node named '{node}'"))?;
        if !host.is_running() {
            return Ok(());
        }
        host.send(command)
            .map_err(|e| format!("telling {node} '{command}': {e}"))
    }

    /// An operator deletes the pair's election znodes with the pair's credentials, on a
    /// session of its own (straight to the servers, as an admin on a ZooKeeper host would).
    fn delete_election(&mut self, pair: &str) -> Result<usize, String> {
        if !self.topology.pairs.iter().any(|p| p.name == pair) {
            return Err(format!("no pair named '{pair}'"));
        }
        let connect = (0..self.zk_names.len())
            .filter_map(|i| self.zk.ports(i).ok())
            .map(|p| format!("127.0.0.1:{}", p.client))
            .collect::<Vec<_>>()
            .join(",");
        let timeout = self.topology.zk.session_timeout.max(Duration::from_secs(4));
        let credentials = pair_credentials(pair);
        // The built-in selector's layout is known; another program's election is whatever it
        // made under the pair's znode.
        let built_in = self
            .topology
            .pairs
            .iter()
            .filter(|p| p.name == pair)
            .flat_map(|p| &p.nodes)
            .all(|n| {
                self.nodes
                    .get(&n.name)
                    .is_none_or(|h| h.program() == BUILT_IN)
            });
        self.runtime.block_on(async move {
            let session = crate::live::LiveZk::connect(&connect, timeout, &[])
                .await
                .map_err(|e| format!("operator session: {e}"))?;
            let deleted = if built_in {
                crate::pair::operator::delete_election_in(
                    &session,
                    ELECTION_ROOT,
                    pair,
                    &credentials,
                )
                .await
            } else {
                crate::pair::operator::delete_everything_under(
                    &session,
                    &format!("{ELECTION_ROOT}/{pair}"),
                    &credentials,
                )
                .await
            }
            .map_err(|e| format!("deleting the election: {e}"));
            let _ = tokio::time::timeout(
                Duration::from_secs(5),
                crate::coord::Coordination::close(&session),
            )
            .await;
            deleted
        })
    }
}

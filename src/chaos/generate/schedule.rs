//! Fault schedules over the scenario step vocabulary: drawn episodes (module `episode`) laid
//! out in a world.
//!
//! [`steps`] lays the episodes out and keeps only those that can apply: two episodes on one
//! resource (a host's process, its clock, the cut links, ...) never overlap, so every step finds
//! its host in the state it needs (a resume finds a paused host). Steps aimed at `zk-leader`
//! need a leader when they run: they come only after a quiet spell with nothing touching the
//! ensemble, its links or its clocks.

use super::episode::{ClockPick, Cut, Episode, HostPick, LeaderOp, Swarm, What};
use super::world::SITES;
use crate::scenario::{Action, HealthLink, Step};
use crate::sim::fault::{Fault, Group, Target};
use crate::sim::topology::{DatabaseMode, Topology};
use std::time::Duration;

/// Nothing starts before the ensemble has a leader and the pairs their first masters.
const WARMUP: Duration = Duration::from_secs(15);
/// How long the ensemble must be left alone before a step aims at `zk-leader`.
const LEADER_QUIET: Duration = Duration::from_secs(30);
/// Two episodes on one resource keep at least this apart.
const SPACING: Duration = Duration::from_secs(1);
const MIN_HOLD: Duration = Duration::from_millis(500);
const MAX_HOLD: Duration = Duration::from_secs(180);

/// The names episodes resolve their indexes against.
struct Names {
    zk: Vec<String>,
    zk_sites: Vec<String>,
    /// Every node, pair by pair.
    nodes: Vec<String>,
    /// The nodes of the pair of each node.
    pair_of_node: Vec<Vec<String>>,
    /// The hosts the flows of each node's pair reach: its database hosts (primary, replica)
    /// and its bus (`crate::bus`), so a slow or cut path to the data slows or cuts the
    /// messages of the same flows too.
    databases_of_node: Vec<Vec<String>>,
    databases: Vec<String>,
    all: Vec<String>,
    /// Each pair's name and first node (the host its operator script runs from).
    pairs: Vec<(String, String)>,
}

impl Names {
    fn of(topology: &Topology) -> Self {
        let zk: Vec<String> = topology.zk.servers.iter().map(|s| s.name.clone()).collect();
        let mut names = Names {
            zk: zk.clone(),
            zk_sites: topology.zk.servers.iter().map(|s| s.site.clone()).collect(),
            nodes: vec![],
            pair_of_node: vec![],
            databases_of_node: vec![],
            databases: vec![],
            all: zk,
            pairs: vec![],
        };
        for pair in &topology.pairs {
            let mut databases = vec![pair.database.name.clone()];
            if pair.database.mode != DatabaseMode::Single {
                databases.push(format!("{}-replica", pair.database.name));
            }
            let nodes: Vec<String> = pair.nodes.iter().map(|n| n.name.clone()).collect();
            let bus = crate::bus::bus_host_name(&pair.name);
            let mut services = databases.clone();
            services.push(bus.clone());
            names.pairs.push((pair.name.clone(), nodes[0].clone()));
            for node in &nodes {
                names.nodes.push(node.clone());
                names.pair_of_node.push(nodes.clone());
                names.databases_of_node.push(services.clone());
            }
            names.all.extend(nodes);
            names.databases.extend(databases.iter().cloned());
            names.all.extend(databases);
            names.all.push(bus);
        }
        names
    }

    fn node(&self, index: u8) -> usize {
        index as usize % self.nodes.len()
    }

    fn host(&self, pick: HostPick) -> String {
        let at = |list: &[String], i: u8| list[i as usize % list.len()].clone();
        match pick {
            HostPick::Node(i) => at(&self.nodes, i),
            HostPick::Zk(i) => at(&self.zk, i),
            HostPick::Database(i) => at(&self.databases, i),
        }
    }

    fn others(&self, left_out: &[String]) -> Vec<String> {
        let others = self.all.iter().filter(|h| !left_out.contains(h));
        others.cloned().collect()
    }

    fn cut(&self, cut: Cut) -> (Group, Group) {
        let hosts = |h: &[String]| Group::Hosts(h.to_vec());
        match cut {
            Cut::Sites(i) => {
                let (a, b) = site_pair(i);
                (Group::Site(a), Group::Site(b))
            }
            Cut::NodeFromZk(i) => (hosts(&[self.host(HostPick::Node(i))]), hosts(&self.zk)),
            Cut::NodeFromDatabase(i) => {
                let n = self.node(i);
                (
                    hosts(&[self.nodes[n].clone()]),
                    hosts(&self.databases_of_node[n]),
                )
            }
            Cut::NodeAlone(i) => {
                let node = vec![self.host(HostPick::Node(i))];
                (hosts(&node), hosts(&self.others(&node)))
            }
            Cut::ZkAlone(i) => {
                let server = vec![self.host(HostPick::Zk(i))];
                let rest: Vec<String> = self
                    .zk
                    .iter()
                    .filter(|z| **z != server[0])
                    .cloned()
                    .collect();
                (hosts(&server), hosts(&rest))
            }
            Cut::NodeFromNode(i) => {
                let pair = &self.pair_of_node[self.node(i)];
                (hosts(&pair[..1]), hosts(&pair[1..]))
            }
        }
    }
}

fn site_pair(index: u8) -> (String, String) {
    let (a, b) = [(0, 1), (0, 2), (1, 2)][index as usize % 3];
    (SITES[a].to_string(), SITES[b].to_string())
}

/// What an episode holds while it runs: no two episodes share one at the same time.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Resource {
    /// Every cut link (one `heal` restores them all).
    Cuts,
    /// Every loss and latency fault (one `clear-link-faults` removes them all).
    LinkFaults,
    Process(String),
    Clock(String),
    /// What `zk-leader` resolves to for steps that bring a server back.
    LeaderHit,
    Operator(String),
    Priority(String),
    Health(String, HealthLink),
}

struct Placed {
    from: Duration,
    until: Duration,
    holds: Vec<Resource>,
    /// Needs the ensemble left alone around it (it aims at `zk-leader`).
    quiet: bool,
    steps: Vec<Step>,
}

impl Placed {
    fn clashes(&self, other: &Placed) -> bool {
        let gap = if self.quiet || other.quiet {
            LEADER_QUIET
        } else {
            SPACING
        };
        self.holds.iter().any(|r| other.holds.contains(r))
            && self.from < other.until + gap
            && other.from < self.until + gap
    }
}

/// The timeline of `episodes` in `topology`, within a fault phase of `fault_phase`: episodes
/// the swarm switched off are dropped, the rest laid out in drawing order, each kept only if
/// it clashes with none kept before it.
pub fn steps(
    topology: &Topology,
    swarm: &Swarm,
    episodes: &[Episode],
    fault_phase: Duration,
) -> Vec<Step> {
    let placed = layout(topology, swarm, episodes, fault_phase);
    let mut steps: Vec<Step> = placed.into_iter().flat_map(|(_, p)| p.steps).collect();
    steps.sort_by_key(|s| s.at);
    steps
}

/// Which of `episodes` [`steps`] lays out, by index.
pub fn laid_out(
    topology: &Topology,
    swarm: &Swarm,
    episodes: &[Episode],
    fault_phase: Duration,
) -> Vec<usize> {
    let placed = layout(topology, swarm, episodes, fault_phase);
    placed.into_iter().map(|(i, _)| i).collect()
}

/// The episodes kept, with their indexes, in drawing order.
fn layout(
    topology: &Topology,
    swarm: &Swarm,
    episodes: &[Episode],
    fault_phase: Duration,
) -> Vec<(usize, Placed)> {
    let names = Names::of(topology);
    let session = topology.zk.session_timeout;
    let last = fault_phase.saturating_sub(SPACING);
    let mut placed: Vec<(usize, Placed)> = Vec::new();
    for (index, episode) in episodes.iter().enumerate() {
        if !swarm.keeps(episode.what.kind(), episode.roll) {
            continue;
        }
        let hold =
            whole_ms(session.mul_f64(f64::from(episode.hold) / 1000.0)).clamp(MIN_HOLD, MAX_HOLD);
        // Steps aimed at `zk-leader` need a leader; a wiped server must catch up before
        // another server loses anything (or the ensemble could lose a quorum's data).
        let quiet = matches!(
            episode.what,
            What::ZkLeader(_) | What::Wipe(HostPick::Zk(_) | HostPick::Database(_))
        );
        let earliest = if quiet { LEADER_QUIET } else { WARMUP };
        // What an episode runs on for after its hold.
        let tail = match episode.what {
            What::HandBackPause { pause, .. } => pause_length(session, pause),
            _ => Duration::ZERO,
        };
        if earliest + hold + tail > last {
            continue;
        }
        let room = last - earliest - hold - tail;
        let start = earliest + whole_ms(room.mul_f64(f64::from(episode.start) / 1000.0));
        let candidate = place(&names, episode.what, start, hold, session, quiet);
        if placed.iter().all(|(_, p)| !candidate.clashes(p)) {
            placed.push((index, candidate));
        }
    }
    placed
}

fn pause_length(session: Duration, per_mille: u16) -> Duration {
    whole_ms(session.mul_f64(f64::from(per_mille) / 1000.0))
}

fn whole_ms(d: Duration) -> Duration {
    Duration::from_millis(d.as_millis() as u64)
}

fn place(
    names: &Names,
    what: What,
    start: Duration,
    hold: Duration,
    session: Duration,
    quiet: bool,
) -> Placed {
    use Resource::*;
    let end = start + hold;
    let fault = |at: Duration, f: Fault| Step {
        at,
        action: Action::Fault(f),
    };
    let host = |pick: HostPick| Target::Host(names.host(pick));
    let everything_zk = || {
        let mut holds = vec![Cuts, LinkFaults, LeaderHit];
        for zk in &names.zk {
            holds.push(Process(zk.clone()));
            holds.push(Clock(zk.clone()));
        }
        holds
    };
    let (holds, steps): (Vec<Resource>, Vec<Step>) = match what {
        What::DeleteElection { pair } => {
            // The script runs from the pair's first node host that is up: holding the first
            // node's process keeps crashes and pauses of it away from this moment.
            let (pair, first_node) = names.pairs[pair as usize % names.pairs.len()].clone();
            let step = Step {
                at: start,
                action: Action::DeleteElection { pair },
            };
            (vec![Process(first_node)], vec![step])
        }
        What::Partition(cut) => {
            let (a, b) = names.cut(cut);
            (
                vec![Cuts],
                vec![
                    fault(start, Fault::Partition { a, b }),
                    fault(end, Fault::Heal),
                ],
            )
        }
        What::OneWay { cut, reversed } => {
            let (a, b) = names.cut(cut);
            let (from, to) = if reversed { (b, a) } else { (a, b) };
            let cut = Fault::PartitionOneWay { from, to };
            (vec![Cuts], vec![fault(start, cut), fault(end, Fault::Heal)])
        }
        What::IsolateSite(i) => {
            let site = SITES[i as usize % 3].to_string();
            (
                vec![Cuts],
                vec![
                    fault(start, Fault::IsolateSite { site }),
                    fault(end, Fault::Heal),
                ],
            )
        }
        What::Bridge(i) => {
            let (a, b) = site_pair(i);
            let third = SITES
                .iter()
                .find(|s| **s != a && **s != b)
                .expect("three sites");
            // Every ensemble of the family has a voter in each site.
            let bridge = names
                .zk
                .iter()
                .zip(&names.zk_sites)
                .find(|(_, site)| site == third)
                .map_or_else(|| names.zk[0].clone(), |(zk, _)| zk.clone());
            let cut = Fault::Bridge {
                a: Group::Site(a),
                b: Group::Site(b),
                bridge,
            };
            (vec![Cuts], vec![fault(start, cut), fault(end, Fault::Heal)])
        }
        What::Loss { links, probability } => {
            let (a, b) = names.cut(links);
            let loss = Fault::Loss { a, b, probability };
            (
                vec![LinkFaults],
                vec![fault(start, loss), fault(end, Fault::ClearLinkFaults)],
            )
        }
        What::Latency { links, extra_ms } => {
            let (a, b) = names.cut(links);
            let slow = Fault::Latency {
                a,
                b,
                extra: Duration::from_millis(extra_ms),
            };
            (
                vec![LinkFaults],
                vec![fault(start, slow), fault(end, Fault::ClearLinkFaults)],
            )
        }
        What::Crash { host: pick, hard } => (
            vec![Process(names.host(pick))],
            vec![
                fault(
                    start,
                    Fault::Crash {
                        target: host(pick),
                        hard,
                    },
                ),
                fault(end, Fault::Start { target: host(pick) }),
            ],
        ),
        What::Restart(pick) => (
            vec![Process(names.host(pick))],
            vec![fault(start, Fault::Restart { target: host(pick) })],
        ),
        What::Wipe(pick) => {
            let pick = match pick {
                HostPick::Database(i) => HostPick::Zk(i),
                other => other,
            };
            let holds = match pick {
                HostPick::Zk(_) => everything_zk(),
                _ => vec![Process(names.host(pick))],
            };
            (
                holds,
                vec![
                    fault(start, Fault::Wipe { target: host(pick) }),
                    fault(end, Fault::Start { target: host(pick) }),
                ],
            )
        }
        What::Pause(pick) => (
            vec![Process(names.host(pick))],
            vec![
                fault(start, Fault::Pause { target: host(pick) }),
                fault(end, Fault::Resume { target: host(pick) }),
            ],
        ),
        What::ZkLeader(op) => {
            let target = Target::ZkLeader;
            let (hit, back) = match op {
                LeaderOp::Crash { hard } => (
                    Fault::Crash {
                        target: target.clone(),
                        hard,
                    },
                    Fault::Start { target },
                ),
                LeaderOp::Pause => (
                    Fault::Pause {
                        target: target.clone(),
                    },
                    Fault::Resume { target },
                ),
                LeaderOp::ClockJump { millis, monotonic } => (
                    Fault::ClockJump {
                        target: target.clone(),
                        millis,
                        monotonic,
                    },
                    Fault::ClockReset { target },
                ),
            };
            (everything_zk(), vec![fault(start, hit), fault(end, back)])
        }
        What::Clock { host: pick, clock } => {
            let target = host(pick);
            let skew = match clock {
                ClockPick::Offset(millis) => Fault::ClockOffset {
                    target: target.clone(),
                    millis,
                },
                ClockPick::Drift(rate) => Fault::ClockDrift {
                    target: target.clone(),
                    rate,
                },
                ClockPick::Jump(millis) => Fault::ClockJump {
                    target: target.clone(),
                    millis,
                    monotonic: false,
                },
                ClockPick::JumpMonotonic(millis) => Fault::ClockJump {
                    target: target.clone(),
                    millis,
                    monotonic: true,
                },
                ClockPick::Strobe { millis, period_ms } => Fault::ClockStrobe {
                    target: target.clone(),
                    millis,
                    period: Duration::from_millis(period_ms),
                    duration: hold,
                },
            };
            (
                vec![Clock(names.host(pick))],
                vec![fault(start, skew), fault(end, Fault::ClockReset { target })],
            )
        }
        What::Relinquish { node, rejoin } => {
            let node = names.nodes[names.node(node)].clone();
            let mut steps = vec![Step {
                at: start,
                action: Action::Relinquish { node: node.clone() },
            }];
            if rejoin {
                steps.push(Step {
                    at: end,
                    action: Action::Rejoin { node: node.clone() },
                });
            }
            (vec![Operator(node)], steps)
        }
        What::HandBackPause { node, pause } => {
            let n = names.node(node);
            let node = names.nodes[n].clone();
            let other = names.pair_of_node[n]
                .iter()
                .find(|o| **o != node)
                .cloned()
                .unwrap_or_else(|| node.clone());
            let paused = Target::Host(other.clone());
            let resumed = end + pause_length(session, pause);
            // The pause comes first at the rejoin's instant (steps keep their order at one
            // instant), so the stand-in master cannot hand back before it stalls.
            let steps = vec![
                Step {
                    at: start,
                    action: Action::Relinquish { node: node.clone() },
                },
                fault(
                    end,
                    Fault::Pause {
                        target: paused.clone(),
                    },
                ),
                Step {
                    at: end,
                    action: Action::Rejoin { node: node.clone() },
                },
                fault(resumed, Fault::Resume { target: paused }),
            ];
            (vec![Operator(node), Process(other)], steps)
        }
        What::Priority { node, priority } => {
            let node = names.nodes[names.node(node)].clone();
            let step = Step {
                at: start,
                action: Action::SetPriority {
                    node: node.clone(),
                    priority,
                },
            };
            (vec![Priority(node)], vec![step])
        }
        What::Health { node, link } => {
            let node = names.nodes[names.node(node)].clone();
            let steps = vec![
                Step {
                    at: start,
                    action: Action::BreakHealth {
                        node: node.clone(),
                        link,
                    },
                },
                Step {
                    at: end,
                    action: Action::HealHealth {
                        node: node.clone(),
                        link,
                    },
                },
            ];
            (vec![Health(node, link)], steps)
        }
    };
    let until = steps.last().map_or(start, |s| s.at);
    Placed {
        from: start,
        until,
        holds,
        quiet,
        steps,
    }
}

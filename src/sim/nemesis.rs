//! The nemesis: a random fault schedule drawn from a seed.
//!
//! Swarm testing (as TigerBeetle's VOPR and FoundationDB do): each seed first draws *which*
//! fault kinds are on and how often they strike ([`NemesisOptions::swarm`]), then draws the
//! schedule. Rare combinations — a process pause while the ZooKeeper leader changes, skew during
//! a partition — come up because runs differ in kind, not only in timing.
//!
//! A schedule has two lanes that may overlap: network/process episodes (partition, crash,
//! pause, ...) strike one at a time and are undone after a hold; clock episodes (drift, jumps,
//! strobe) run beside them. Every episode ends before the quiet tail, the liveness phase where
//! the world must recover on its own.

use crate::sim::fault::{Fault, Group, Target, TimedFault};
use madsim::rand::Rng;
use std::time::Duration;

/// Fault options of one run, in one struct.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct NemesisOptions {
    pub partitions: bool,
    pub one_way_partitions: bool,
    pub site_isolation: bool,
    pub bridges: bool,
    pub packet_loss: bool,
    pub latency_spikes: bool,
    pub crashes: bool,
    pub pauses: bool,
    pub wipes: bool,
    pub clock_faults: bool,
    /// Mean quiet time between two episodes of a lane.
    pub mean_gap: Duration,
    /// How long an episode lasts, drawn uniformly.
    pub min_hold: Duration,
    pub max_hold: Duration,
    /// No fault starts before this.
    pub warmup: Duration,
    /// The last stretch of the run is fault-free (liveness phase).
    pub quiet_tail: Duration,
}

impl NemesisOptions {
    /// No faults at all.
    pub fn none() -> Self {
        NemesisOptions {
            partitions: false,
            one_way_partitions: false,
            site_isolation: false,
            bridges: false,
            packet_loss: false,
            latency_spikes: false,
            crashes: false,
            pauses: false,
            wipes: false,
            clock_faults: false,
            mean_gap: Duration::from_secs(30),
            min_hold: Duration::from_secs(1),
            max_hold: Duration::from_secs(30),
            warmup: Duration::from_secs(10),
            quiet_tail: Duration::from_secs(60),
        }
    }

    /// Draws which kinds are on (each with probability ½, at least one) and how often.
    pub fn swarm(rng: &mut impl Rng) -> Self {
        let mut o = NemesisOptions::none();
        loop {
            o.partitions = rng.gen_bool(0.5);
            o.one_way_partitions = rng.gen_bool(0.5);
            o.site_isolation = rng.gen_bool(0.5);
            o.bridges = rng.gen_bool(0.3);
            o.packet_loss = rng.gen_bool(0.5);
            o.latency_spikes = rng.gen_bool(0.5);
            o.crashes = rng.gen_bool(0.5);
            o.pauses = rng.gen_bool(0.5);
            o.wipes = rng.gen_bool(0.1);
            o.clock_faults = rng.gen_bool(0.5);
            if o.any() {
                break;
            }
        }
        o.mean_gap = Duration::from_secs(rng.gen_range(5..60));
        o.max_hold = Duration::from_secs(rng.gen_range(5..40));
        o
    }

    fn any(&self) -> bool {
        self.partitions
            || self.one_way_partitions
            || self.site_isolation
            || self.bridges
            || self.packet_loss
            || self.latency_spikes
            || self.crashes
            || self.pauses
            || self.wipes
            || self.clock_faults
    }

    /// The enabled kinds, by name (for summaries).
    pub fn enabled(&self) -> Vec<&'static str> {
        let all = [
            (self.partitions, "partition"),
            (self.one_way_partitions, "one-way"),
            (self.site_isolation, "isolate-site"),
            (self.bridges, "bridge"),
            (self.packet_loss, "loss"),
            (self.latency_spikes, "latency"),
            (self.crashes, "crash"),
            (self.pauses, "pause"),
            (self.wipes, "wipe"),
            (self.clock_faults, "clock"),
        ];
        all.into_iter()
            .filter(|(on, _)| *on)
            .map(|(_, name)| name)
            .collect()
    }
}

/// What the nemesis may hit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NemesisTargets {
    pub zk_servers: Vec<String>,
    /// Other hosts (clients, nodes, databases).
    pub others: Vec<String>,
    pub sites: Vec<String>,
}

impl NemesisTargets {
    fn all_hosts(&self) -> Vec<String> {
        self.zk_servers
            .iter()
            .chain(&self.others)
            .cloned()
            .collect()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum EpisodeKind {
    Partition,
    OneWay,
    IsolateSite,
    Bridge,
    Loss,
    Latency,
    Crash,
    Pause,
    Wipe,
}

/// Draws a schedule for a run of `duration`.
pub fn schedule(
    options: &NemesisOptions,
    targets: &NemesisTargets,
    duration: Duration,
    rng: &mut impl Rng,
) -> Vec<TimedFault> {
    let mut out = Vec::new();
    let end = duration.saturating_sub(options.quiet_tail);
    let kinds = episode_kinds(options);
    if !kinds.is_empty() {
        let mut t = options.warmup;
        loop {
            t += gap(options, rng);
            let hold = hold(options, rng);
            if t + hold > end {
                break;
            }
            let kind = kinds[rng.gen_range(0..kinds.len())];
            let (start, undo) = episode(kind, targets, rng);
            out.extend(start.into_iter().map(|fault| TimedFault { at: t, fault }));
            out.extend(undo.into_iter().map(|fault| TimedFault {
                at: t + hold,
                fault,
            }));
            t += hold;
        }
    }
    if options.clock_faults {
        let mut t = options.warmup;
        loop {
            t += gap(options, rng);
            let hold = hold(options, rng);
            if t + hold > end {
                break;
            }
            let hosts = targets.all_hosts();
            let target = Target::Host(hosts[rng.gen_range(0..hosts.len())].clone());
            let fault = match rng.gen_range(0..5) {
                0 => Fault::ClockDrift {
                    target: target.clone(),
                    rate: *pick(rng, &[1.0002, 0.9998, 1.05, 1.5, 0.5]),
                },
                1 => Fault::ClockJump {
                    target: target.clone(),
                    millis: rng.gen_range(-120_000..120_000),
                    monotonic: false,
                },
                2 => Fault::ClockJump {
                    target: target.clone(),
                    millis: rng.gen_range(100..20_000),
                    monotonic: true,
                },
                3 => Fault::ClockOffset {
                    target: target.clone(),
                    millis: rng.gen_range(-300_000..300_000),
                },
                _ => Fault::ClockStrobe {
                    target: target.clone(),
                    millis: rng.gen_range(-10_000..10_000),
                    period: Duration::from_millis(rng.gen_range(10..2_000)),
                    duration: hold,
                },
            };
            out.push(TimedFault { at: t, fault });
            out.push(TimedFault {
                at: t + hold,
                fault: Fault::ClockReset { target },
            });
            t += hold;
        }
    }
    // Stable sort: faults at the same instant keep their drawing order.
    out.sort_by_key(|f| f.at);
    out
}

fn episode_kinds(o: &NemesisOptions) -> Vec<EpisodeKind> {
    let all = [
        (o.partitions, EpisodeKind::Partition),
        (o.one_way_partitions, EpisodeKind::OneWay),
        (o.site_isolation, EpisodeKind::IsolateSite),
        (o.bridges, EpisodeKind::Bridge),
        (o.packet_loss, EpisodeKind::Loss),
        (o.latency_spikes, EpisodeKind::Latency),
        (o.crashes, EpisodeKind::Crash),
        (o.pauses, EpisodeKind::Pause),
        (o.wipes, EpisodeKind::Wipe),
    ];
    all.into_iter()
        .filter(|(on, _)| *on)
        .map(|(_, k)| k)
        .collect()
}

fn gap(o: &NemesisOptions, rng: &mut impl Rng) -> Duration {
    // Exponential gaps (a Poisson process), capped so a run cannot go silent.
    let u: f64 = rng.r#gen::<f64>().max(1e-9);
    Duration::from_secs_f64(
        (-u.ln() * o.mean_gap.as_secs_f64()).min(o.mean_gap.as_secs_f64() * 4.0),
    )
}

fn hold(o: &NemesisOptions, rng: &mut impl Rng) -> Duration {
    let (lo, hi) = (
        o.min_hold.as_millis() as u64,
        o.max_hold.as_millis().max(o.min_hold.as_millis() + 1) as u64,
    );
    Duration::from_millis(rng.gen_range(lo..hi))
}

fn pick<'a, T>(rng: &mut impl Rng, items: &'a [T]) -> &'a T {
    &items[rng.gen_range(0..items.len())]
}

/// Splits `hosts` into two non-empty random halves.
fn halves(hosts: &[String], rng: &mut impl Rng) -> (Vec<String>, Vec<String>) {
    let mut a = Vec::new();
    let mut b = Vec::new();
    for h in hosts {
        if rng.gen_bool(0.5) {
            a.push(h.clone())
        } else {
            b.push(h.clone())
        }
    }
    if a.is_empty() {
        a.push(b.pop().expect("at least two hosts"));
    } else if b.is_empty() {
        b.push(a.pop().expect("at least two hosts"));
    }
    (a, b)
}

/// One episode: the faults that start it and the faults that undo it.
fn episode(
    kind: EpisodeKind,
    targets: &NemesisTargets,
    rng: &mut impl Rng,
) -> (Vec<Fault>, Vec<Fault>) {
    let hosts = targets.all_hosts();
    let any_host = |rng: &mut dyn FnMut(usize) -> usize| hosts[rng(hosts.len())].clone();
    let mut index = |n: usize| rng.gen_range(0..n);
    match kind {
        EpisodeKind::Partition => {
            let (a, b) = halves(&hosts, rng);
            (
                vec![Fault::Partition {
                    a: Group::Hosts(a),
                    b: Group::Hosts(b),
                }],
                vec![Fault::Heal],
            )
        }
        EpisodeKind::OneWay => {
            let (a, b) = halves(&hosts, rng);
            (
                vec![Fault::PartitionOneWay {
                    from: Group::Hosts(a),
                    to: Group::Hosts(b),
                }],
                vec![Fault::Heal],
            )
        }
        EpisodeKind::IsolateSite => {
            let site = targets.sites[index(targets.sites.len())].clone();
            (vec![Fault::IsolateSite { site }], vec![Fault::Heal])
        }
        EpisodeKind::Bridge => {
            let bridge = any_host(&mut index);
            let rest: Vec<String> = hosts.iter().filter(|h| **h != bridge).cloned().collect();
            let (a, b) = halves(&rest, rng);
            (
                vec![Fault::Bridge {
                    a: Group::Hosts(a),
                    b: Group::Hosts(b),
                    bridge,
                }],
                vec![Fault::Heal],
            )
        }
        EpisodeKind::Loss => {
            let (a, b) = halves(&hosts, rng);
            let probability = *pick(rng, &[0.01, 0.05, 0.2, 0.5]);
            (
                vec![Fault::Loss {
                    a: Group::Hosts(a),
                    b: Group::Hosts(b),
                    probability,
                }],
                vec![Fault::ClearLinkFaults],
            )
        }
        EpisodeKind::Latency => {
            let (a, b) = halves(&hosts, rng);
            let extra = Duration::from_millis(*pick(rng, &[50, 200, 1_000, 5_000]));
            (
                vec![Fault::Latency {
                    a: Group::Hosts(a),
                    b: Group::Hosts(b),
                    extra,
                }],
                vec![Fault::ClearLinkFaults],
            )
        }
        EpisodeKind::Crash => {
            let target = crash_target(targets, rng);
            let hard = rng.gen_bool(0.3);
            (
                vec![Fault::Crash {
                    target: target.clone(),
                    hard,
                }],
                vec![Fault::Start { target }],
            )
        }
        EpisodeKind::Pause => {
            let target = crash_target(targets, rng);
            (
                vec![Fault::Pause {
                    target: target.clone(),
                }],
                vec![Fault::Resume { target }],
            )
        }
        EpisodeKind::Wipe => {
            // Only ZooKeeper servers keep durable state in the standard world.
            let name = targets.zk_servers[rng.gen_range(0..targets.zk_servers.len())].clone();
            let target = Target::Host(name);
            (
                vec![Fault::Wipe {
                    target: target.clone(),
                }],
                vec![Fault::Start { target }],
            )
        }
    }
}

/// Process faults hit the current ZooKeeper leader a third of the time (the interesting one),
/// otherwise any host. The undo names the same host, resolved when the episode starts.
fn crash_target(targets: &NemesisTargets, rng: &mut impl Rng) -> Target {
    let hosts = targets.all_hosts();
    if rng.gen_bool(1.0 / 3.0) {
        Target::ZkLeader
    } else {
        Target::Host(hosts[rng.gen_range(0..hosts.len())].clone())
    }
}

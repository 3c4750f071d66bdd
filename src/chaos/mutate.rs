//! Mutations of a schedule, for guided chaos: add an episode (drawn as the generator draws
//! one), drop one, move one in time, retarget one (another node, server, database, site or
//! pair), change how long one holds, or swap its fault for another kind on the same target.
//!
//! Mutations work on the [`Genotype`] (episodes, each a fault and its undoing), not on the
//! steps: a mutant is laid out by the generator's own schedule code, which keeps two episodes
//! on one resource apart, so every step of a mutant applies when due. A mutant is then checked
//! like the generator's output (it reads back unchanged from its scenario file); one that does
//! not, or that comes out as its parent's schedule, is replaced by another draw of mutations.

use super::generate::episode::{self, Cut, Episode, HostPick, LeaderOp, What};
use super::generate::{GenOptions, Genotype, build};
use crate::scenario::{HealthLink, Scenario, write};
use proptest::prelude::Rng;
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;
use std::fmt;

/// Attempts at a mutant before giving up on a parent (the caller draws a fresh schedule).
const ATTEMPTS: usize = 16;
/// Most mutations stacked on one mutant (AFL's havoc stacks a few).
const MAX_STACKED: u64 = 4;
/// The generator's hold range, per mille of the session timeout.
const HOLD_RANGE: (u32, u32) = (100, 4_000);

/// One mutation of an episode list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mutation {
    Add,
    Drop,
    Move,
    Retarget,
    Duration,
    SwapKind,
}

impl fmt::Display for Mutation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Mutation::Add => "add",
            Mutation::Drop => "drop",
            Mutation::Move => "move",
            Mutation::Retarget => "retarget",
            Mutation::Duration => "duration",
            Mutation::SwapKind => "swap-kind",
        })
    }
}

const MUTATIONS: [Mutation; 6] = [
    Mutation::Add,
    Mutation::Drop,
    Mutation::Move,
    Mutation::Retarget,
    Mutation::Duration,
    Mutation::SwapKind,
];

/// A mutant of `parent` (a laid-out genotype) and the mutations that made it, laid out and
/// checked; `None` when [`ATTEMPTS`] draws gave no valid mutant with a schedule of its own.
/// Every choice comes from `runner`'s generator, so the same generator state gives the same
/// mutant.
pub fn mutant(
    parent: &Genotype,
    options: &GenOptions,
    runner: &mut TestRunner,
) -> Option<(Genotype, Vec<Mutation>)> {
    let parent_steps = build(parent, options).steps;
    for _ in 0..ATTEMPTS {
        let mut child = parent.clone();
        let stacked = 1 + below(runner, MAX_STACKED);
        let mut applied = Vec::new();
        for _ in 0..stacked {
            if let Some(m) = mutate_once(&mut child.episodes, runner) {
                applied.push(m);
            }
        }
        let child = child.laid_out(options.fault_phase);
        let scenario = build(&child, options);
        if applied.is_empty() || scenario.steps == parent_steps || !reads_back(&scenario) {
            continue;
        }
        return Some((child, applied));
    }
    None
}

/// Whether `scenario` reads back unchanged from the file the writer makes of it: what the
/// generator's output is held to.
pub fn reads_back(scenario: &Scenario) -> bool {
    let text = write::to_toml(scenario, "mutant");
    crate::scenario::parse(&scenario.name, "mutant.toml", &text).is_ok_and(|s| s == *scenario)
}

/// Applies one mutation drawn from `runner` to `episodes`; `None` when the drawn one does not
/// apply (nothing to drop, an episode with no target to move to).
fn mutate_once(episodes: &mut Vec<Episode>, runner: &mut TestRunner) -> Option<Mutation> {
    let mutation = MUTATIONS[below(runner, MUTATIONS.len() as u64) as usize];
    if mutation == Mutation::Add {
        let at = below(runner, episodes.len() as u64 + 1) as usize;
        let new = draw(runner, episode::episode());
        episodes.insert(at, new);
        return Some(mutation);
    }
    if episodes.is_empty() {
        return None;
    }
    let i = below(runner, episodes.len() as u64) as usize;
    let changed = match mutation {
        Mutation::Add => unreachable!("handled above"),
        Mutation::Drop => {
            episodes.remove(i);
            true
        }
        Mutation::Move => {
            let e = &mut episodes[i];
            e.start = if below(runner, 2) == 0 {
                // A nudge: a few seconds either way in an 8-minute phase.
                let by = 5 + below(runner, 60) as i32;
                let by = if below(runner, 2) == 0 { by } else { -by };
                (i32::from(e.start) + by).clamp(0, 999) as u16
            } else {
                below(runner, 1000) as u16
            };
            true
        }
        Mutation::Retarget => retarget(&mut episodes[i].what, runner),
        Mutation::Duration => {
            change_duration(&mut episodes[i], runner);
            true
        }
        Mutation::SwapKind => {
            episodes[i].what = swap_kind(episodes[i].what, runner);
            true
        }
    };
    changed.then_some(mutation)
}

/// A number in `0..n` (`n` > 0).
fn below(runner: &mut TestRunner, n: u64) -> u64 {
    runner.rng().next_u64() % n.max(1)
}

/// One value of `strategy`, drawn with `runner`'s generator.
fn draw<S: Strategy>(runner: &mut TestRunner, strategy: S) -> S::Value {
    match strategy.new_tree(runner) {
        Ok(tree) => tree.current(),
        Err(reason) => unreachable!("the episode strategies have no filter to reject: {reason}"),
    }
}

/// Another index into the same list (indexes are taken modulo the list's length, so one more
/// is the next one along).
fn other(index: u8, runner: &mut TestRunner) -> u8 {
    index.wrapping_add(1 + below(runner, 4) as u8)
}

/// Another of three sites' pairs, or another site.
fn other_of_three(index: u8, runner: &mut TestRunner) -> u8 {
    (index % 3 + 1 + below(runner, 2) as u8) % 3
}

fn retarget_cut(cut: Cut, runner: &mut TestRunner) -> Cut {
    match cut {
        Cut::Sites(i) => Cut::Sites(other_of_three(i, runner)),
        Cut::NodeFromZk(i) => Cut::NodeFromZk(other(i, runner)),
        Cut::NodeFromDatabase(i) => Cut::NodeFromDatabase(other(i, runner)),
        Cut::NodeAlone(i) => Cut::NodeAlone(other(i, runner)),
        Cut::ZkAlone(i) => Cut::ZkAlone(other(i, runner)),
        Cut::NodeFromNode(i) => Cut::NodeFromNode(other(i, runner)),
    }
}

/// Another host: of the same role, or (one time in three) of another role.
fn retarget_host(host: HostPick, runner: &mut TestRunner) -> HostPick {
    let index = |h: HostPick| match h {
        HostPick::Node(i) | HostPick::Zk(i) | HostPick::Database(i) => i,
    };
    if below(runner, 3) == 0 {
        let i = index(host);
        match (host, below(runner, 2)) {
            (HostPick::Node(_), 0) | (HostPick::Database(_), 0) => HostPick::Zk(i),
            (HostPick::Zk(_), 0) | (HostPick::Database(_), _) => HostPick::Node(i),
            (HostPick::Node(_), _) | (HostPick::Zk(_), _) => HostPick::Database(i),
        }
    } else {
        let i = other(index(host), runner);
        match host {
            HostPick::Node(_) => HostPick::Node(i),
            HostPick::Zk(_) => HostPick::Zk(i),
            HostPick::Database(_) => HostPick::Database(i),
        }
    }
}

/// Points `what` at another target; false for a fault without one (the ZooKeeper leader is
/// whichever server leads).
fn retarget(what: &mut What, runner: &mut TestRunner) -> bool {
    *what = match *what {
        What::Partition(cut) => What::Partition(retarget_cut(cut, runner)),
        What::OneWay { cut, reversed } => What::OneWay {
            cut: retarget_cut(cut, runner),
            reversed,
        },
        What::IsolateSite(i) => What::IsolateSite(other_of_three(i, runner)),
        What::Bridge(i) => What::Bridge(other_of_three(i, runner)),
        What::Loss { links, probability } => What::Loss {
            links: retarget_cut(links, runner),
            probability,
        },
        What::Latency { links, extra_ms } => What::Latency {
            links: retarget_cut(links, runner),
            extra_ms,
        },
        What::Crash { host, hard } => What::Crash {
            host: retarget_host(host, runner),
            hard,
        },
        What::Restart(host) => What::Restart(retarget_host(host, runner)),
        What::Wipe(host) => What::Wipe(retarget_host(host, runner)),
        What::Pause(host) => What::Pause(retarget_host(host, runner)),
        What::Clock { host, clock } => What::Clock {
            host: retarget_host(host, runner),
            clock,
        },
        What::Relinquish { node, rejoin } => What::Relinquish {
            node: other(node, runner),
            rejoin,
        },
        What::HandBackPause { node, pause } => What::HandBackPause {
            node: other(node, runner),
            pause,
        },
        What::Priority { node, priority } => What::Priority {
            node: other(node, runner),
            priority,
        },
        What::Health { node, link } => What::Health {
            node: other(node, runner),
            link,
        },
        What::DeleteElection { pair } => What::DeleteElection {
            pair: other(pair, runner),
        },
        What::ZkLeader(_) => return false,
    };
    true
}

/// Holds the episode for longer or shorter (within the generator's range), or, for a slow
/// link, changes the delay.
fn change_duration(episode: &mut Episode, runner: &mut TestRunner) {
    if let What::Latency { links, .. } = episode.what
        && below(runner, 2) == 0
    {
        let extra_ms = [50u64, 200, 400, 1_000, 3_000, 8_000][below(runner, 6) as usize];
        episode.what = What::Latency { links, extra_ms };
        return;
    }
    let factor = [0.5, 0.75, 1.5, 2.0][below(runner, 4) as usize];
    let hold = (f64::from(episode.hold) * factor) as u32;
    episode.hold = hold.clamp(HOLD_RANGE.0, HOLD_RANGE.1);
}

/// Another fault on the same target where one fits (a crash becomes a pause, a partition a
/// one-way cut, a relinquish a priority change, ...), its other parameters drawn as the
/// generator draws them; otherwise another fault altogether.
fn swap_kind(what: What, runner: &mut TestRunner) -> What {
    let host = match what {
        What::Crash { host, .. }
        | What::Restart(host)
        | What::Wipe(host)
        | What::Pause(host)
        | What::Clock { host, .. } => Some(host),
        _ => None,
    };
    if let Some(host) = host {
        let swapped = match below(runner, 5) {
            0 => What::Crash {
                host,
                hard: below(runner, 2) == 0,
            },
            1 => What::Restart(host),
            2 => What::Wipe(host),
            3 => What::Pause(host),
            _ => What::Clock {
                host,
                clock: draw(runner, episode::clock()),
            },
        };
        return if swapped.kind() == what.kind() {
            draw(runner, episode::what())
        } else {
            swapped
        };
    }
    let links = match what {
        What::Partition(cut) | What::OneWay { cut, .. } => Some(cut),
        What::Loss { links, .. } | What::Latency { links, .. } => Some(links),
        _ => None,
    };
    if let Some(cut) = links {
        let swapped = match below(runner, 4) {
            0 => What::Partition(cut),
            1 => What::OneWay {
                cut,
                reversed: below(runner, 2) == 0,
            },
            2 => What::Loss {
                links: cut,
                probability: [0.05, 0.1, 0.2, 0.3, 0.5][below(runner, 5) as usize],
            },
            _ => What::Latency {
                links: cut,
                extra_ms: [50u64, 200, 400, 1_000, 3_000, 8_000][below(runner, 6) as usize],
            },
        };
        return if swapped.kind() == what.kind() {
            draw(runner, episode::what())
        } else {
            swapped
        };
    }
    let node = match what {
        What::Relinquish { node, .. }
        | What::HandBackPause { node, .. }
        | What::Priority { node, .. }
        | What::Health { node, .. } => Some(node),
        _ => None,
    };
    if let Some(node) = node {
        let family = match what {
            What::Relinquish { .. } => 0,
            What::HandBackPause { .. } => 1,
            What::Priority { .. } => 2,
            _ => 3,
        };
        return match (family + 1 + below(runner, 3)) % 4 {
            0 => What::Relinquish {
                node,
                rejoin: below(runner, 7) != 0,
            },
            1 => What::HandBackPause {
                node,
                pause: 300 + below(runner, 200) as u16,
            },
            2 => What::Priority {
                node,
                priority: draw(runner, episode::set_priority()),
            },
            _ => What::Health {
                node,
                link: if below(runner, 2) == 0 {
                    HealthLink::Database
                } else {
                    HealthLink::Bus
                },
            },
        };
    }
    match what {
        What::IsolateSite(i) => What::Bridge(i),
        What::Bridge(i) => What::IsolateSite(i),
        What::ZkLeader(op) => {
            let new = draw(runner, episode::leader_op());
            let same = matches!(
                (op, new),
                (LeaderOp::Crash { .. }, LeaderOp::Crash { .. })
                    | (LeaderOp::Pause, LeaderOp::Pause)
                    | (LeaderOp::ClockJump { .. }, LeaderOp::ClockJump { .. })
            );
            if same {
                What::Crash {
                    host: HostPick::Zk(below(runner, 5) as u8),
                    hard: below(runner, 2) == 0,
                }
            } else {
                What::ZkLeader(new)
            }
        }
        _ => draw(runner, episode::what()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chaos::explore::generated_genotype;
    use proptest::test_runner::{Config, RngAlgorithm, TestRng};

    fn runner(seed: u8) -> TestRunner {
        let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &[seed; 32]);
        TestRunner::new_with_rng(Config::default(), rng)
    }

    /// Mutants read back from their file, differ from their parent, keep its world, and are
    /// the same for the same generator state; over many, every mutation comes up.
    #[test]
    fn mutants_are_valid_new_and_reproducible() {
        let options = GenOptions::default();
        let mut seen = Vec::new();
        for seed in 1..=40u64 {
            let parent = generated_genotype(seed, &options).laid_out(options.fault_phase);
            let (child, applied) = mutant(&parent, &options, &mut runner(seed as u8))
                .expect("a mutant within the attempts");
            let again = mutant(&parent, &options, &mut runner(seed as u8)).unwrap();
            assert_eq!((child.clone(), applied.clone()), again);
            assert_eq!(child.topology, parent.topology);
            let scenario = build(&child, &options);
            assert_ne!(scenario.steps, build(&parent, &options).steps);
            assert!(reads_back(&scenario));
            assert_eq!(child.laid_out(options.fault_phase), child, "laid out");
            seen.extend(applied);
        }
        for m in MUTATIONS {
            assert!(seen.contains(&m), "{m} never applied: {seen:?}");
        }
    }
}

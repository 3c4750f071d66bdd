//! WP: under the pre-emptive policy, a node is master while a node the election ranks above
//! it could be master (up, standing, healthy) for longer than the bound. Candidates rank as
//! the election promises (`election::decide::Candidate::by_rank`): higher priority first, and
//! between equal priorities the name that sorts first — a tie-break that survives restarts,
//! so an equal-priority pair has one preferred node too. Judged from the start of the
//! liveness phase, like NM: during the fault phase a better node may be cut off from
//! ZooKeeper, which the history does not show.

use super::state::{Segment, bad_runs, segments_by_pair};
use super::{CheckSettings, Invariant, Violation, secs};
use crate::election::Policy;
use crate::sim::history::Entry;
use crate::sim::topology::Topology;
use std::cmp::Reverse;

/// The election's order of candidates: smaller is better.
fn rank((name, priority): (&str, u32)) -> (Reverse<u32>, &str) {
    (Reverse(priority), name)
}

pub fn check(history: &[Entry], topology: &Topology, settings: &CheckSettings) -> Vec<Violation> {
    let all_segments = segments_by_pair(history, &topology.pairs, settings.end);
    check_segments(&all_segments, topology, settings)
}

/// [`check`] on the segments of every pair (in topology order) derived already.
pub fn check_segments(
    all_segments: &[Vec<Segment>],
    topology: &Topology,
    settings: &CheckSettings,
) -> Vec<Violation> {
    let mut violations = Vec::new();
    for (pair, segments) in topology.pairs.iter().zip(all_segments) {
        let policy = |node: &str| pair.nodes.iter().find(|n| n.name == node).map(|n| n.policy);
        let better = |s: &super::state::Segment| -> Option<(String, String)> {
            let master = s.master.as_ref()?;
            if policy(master) != Some(Policy::PreEmptive) {
                return None;
            }
            let own = s.eligible.iter().find(|(n, _)| n == master).map_or_else(
                || {
                    pair.nodes
                        .iter()
                        .find(|n| &n.name == master)
                        .map_or(0, |n| n.priority)
                },
                |(_, p)| *p,
            );
            let master_rank = rank((master, own));
            s.eligible
                .iter()
                .map(|(n, p)| (n.as_str(), *p))
                .filter(|&candidate| rank(candidate) < master_rank)
                .min_by_key(|&candidate| rank(candidate))
                .map(|(n, p)| {
                    let why = if p > own {
                        "higher priority"
                    } else {
                        "equal priority, preferred by name"
                    };
                    (master.clone(), format!("{n} ({why})"))
                })
        };
        for (from, until, last) in bad_runs(segments, settings.judged_from, |s| better(s).is_some())
        {
            if until - from <= settings.wrong_priority_bound {
                continue;
            }
            let (master, waiting) = better(last).expect("a bad run's segment is bad");
            violations.push(Violation {
                invariant: Invariant::WrongPriority,
                at: from + settings.wrong_priority_bound,
                detail: format!(
                    "pair {}: {master} master from {} to {} while {waiting} could be (bound {})",
                    pair.name,
                    secs(from),
                    secs(until),
                    secs(settings.wrong_priority_bound)
                ),
            });
        }
    }
    violations
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::no_master::tests::{settings, topology};
    use crate::check::state::tests::{at, promoted, started};
    use crate::sim::history::Record;
    use std::time::Duration;

    fn history() -> Vec<Entry> {
        vec![
            started(0, "b"),
            promoted(1_000, "b", 1),
            // The better node a comes up at 5 s and b never hands over.
            started(5_000, "a"),
        ]
    }

    #[test]
    fn a_lower_priority_master_that_keeps_the_role_is_reported_under_pre_emption() {
        let v = check(&history(), &topology(Policy::PreEmptive), &settings(0, 60));
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].at, Duration::from_secs(15));
        assert!(
            v[0].detail.contains("b master from 5.000s"),
            "{}",
            v[0].detail
        );
    }

    #[test]
    fn sticky_pairs_short_waits_and_unhealthy_better_nodes_are_fine() {
        assert!(check(&history(), &topology(Policy::Sticky), &settings(0, 60)).is_empty());
        assert!(check(&history(), &topology(Policy::PreEmptive), &settings(0, 12)).is_empty());
        let mut unhealthy = history();
        unhealthy.push(at(
            6_000,
            Record::Health {
                pair: "p".into(),
                node: "a".into(),
                healthy: false,
            },
        ));
        assert!(check(&unhealthy, &topology(Policy::PreEmptive), &settings(0, 60)).is_empty());
    }

    #[test]
    fn a_priority_change_counts() {
        let mut h = vec![started(0, "a"), started(0, "b"), promoted(1_000, "a", 1)];
        h.push(at(
            2_000,
            Record::PriorityChanged {
                pair: "p".into(),
                node: "b".into(),
                priority: 500,
            },
        ));
        let v = check(&h, &topology(Policy::PreEmptive), &settings(0, 60));
        assert_eq!(v.len(), 1);
        assert!(v[0].detail.contains("while b"), "{}", v[0].detail);
    }

    #[test]
    fn equal_priorities_rank_by_name_as_the_election_does() {
        let mut equal = topology(Policy::PreEmptive);
        equal.pairs[0].nodes[1].priority = 100;
        // b leads while a, equal in priority but first by name, stands: the election would
        // hand over to a.
        let v = check(&history(), &equal, &settings(0, 60));
        assert_eq!(v.len(), 1);
        assert!(
            v[0].detail
                .contains("while a (equal priority, preferred by name) could be"),
            "{}",
            v[0].detail
        );
        // a leading while b stands is the order the election promises.
        let a_leads = vec![
            started(0, "a"),
            promoted(1_000, "a", 1),
            started(5_000, "b"),
        ];
        assert!(check(&a_leads, &equal, &settings(0, 60)).is_empty());
    }
}

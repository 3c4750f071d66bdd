//! NM: a pair has no master for longer than the bound although one of its nodes could be
//! master (its host up, standing, healthy). Judged from the start of the liveness phase, when
//! every fault has healed, so a ZooKeeper quorum exists; time without a master before that
//! phase counts from its start.

use super::state::{Segment, bad_runs, segments_by_pair};
use super::{CheckSettings, Invariant, Violation, secs};
use crate::sim::history::Entry;
use crate::sim::topology::Topology;

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
        let runs = bad_runs(segments, settings.judged_from, |s| {
            s.master.is_none() && !s.eligible.is_empty()
        });
        for (from, until, last) in runs {
            if until - from <= settings.no_master_bound {
                continue;
            }
            let candidates: Vec<&str> = last.eligible.iter().map(|(n, _)| n.as_str()).collect();
            violations.push(Violation {
                invariant: Invariant::NoMaster,
                at: from + settings.no_master_bound,
                detail: format!(
                    "pair {}: no master from {} to {}{} (bound {}) while {} could be master",
                    pair.name,
                    secs(from),
                    secs(until),
                    if until == settings.end {
                        " (the end)"
                    } else {
                        ""
                    },
                    secs(settings.no_master_bound),
                    candidates.join(", ")
                ),
            });
        }
    }
    violations
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::check::state::tests::{at, demoted, promoted, started};
    use crate::election::Policy;
    use crate::sim::history::Record;
    use crate::sim::topology::{DatabaseMode, DatabaseSpec, NodeSpec, PairSpec, ZkSpec};
    use crate::zk::client::ClientModel;
    use std::collections::BTreeSet;
    use std::time::Duration;

    pub fn topology(policy: Policy) -> Topology {
        let node = |name: &str, priority| NodeSpec {
            name: name.into(),
            site: "dc1".into(),
            priority,
            policy,
            session_timeout: None,
        };
        Topology {
            sites: vec!["dc1".into()],
            zk: ZkSpec {
                servers: vec![],
                tick_time: Duration::from_secs(2),
                init_limit: 10,
                sync_limit: 5,
                session_timeout: Duration::from_secs(10),
                connection_timeout: None,
            },
            pairs: vec![PairSpec {
                name: "p".into(),
                nodes: vec![node("a", 100), node("b", 50)],
                database: DatabaseSpec {
                    name: "db".into(),
                    site: "dc1".into(),
                    mode: DatabaseMode::Single,
                    replica_site: None,
                    write_latency: Duration::from_millis(2),
                    run_once: None,
                    replication: Default::default(),
                    fence: true,
                },
                write_period: crate::sim::topology::DEFAULT_WRITE_PERIOD,
                health_period: crate::sim::topology::DEFAULT_HEALTH_PERIOD,
            }],
            client_model: ClientModel::Rust,
            latencies: vec![],
            election: crate::election::ElectionCode::Real,
        }
    }

    pub fn settings(judged_from_s: u64, end_s: u64) -> CheckSettings {
        CheckSettings {
            skip: BTreeSet::new(),
            no_master_bound: Duration::from_secs(10),
            wrong_priority_bound: Duration::from_secs(10),
            judged_from: Duration::from_secs(judged_from_s),
            end: Duration::from_secs(end_s),
        }
    }

    #[test]
    fn a_long_gap_with_a_candidate_in_the_liveness_phase_is_reported() {
        let history = vec![
            started(0, "a"),
            started(0, "b"),
            promoted(1_000, "a", 1),
            demoted(30_000, "a", 1),
            promoted(55_000, "b", 2),
        ];
        let t = topology(Policy::Sticky);
        // Judged from 20 s: the gap 30 s .. 55 s is 25 s, over the 10 s bound.
        let v = check(&history, &t, &settings(20, 60));
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].at, Duration::from_secs(40));
        assert!(
            v[0].detail.contains("from 30.000s to 55.000s"),
            "{}",
            v[0].detail
        );
        // Judged from 50 s only the last 5 s of the gap count.
        assert!(check(&history, &t, &settings(50, 60)).is_empty());
    }

    #[test]
    fn no_gap_counts_while_nobody_could_be_master() {
        let history = vec![
            started(0, "a"),
            started(0, "b"),
            promoted(1_000, "a", 1),
            at(
                20_000,
                Record::Candidacy {
                    pair: "p".into(),
                    node: "b".into(),
                    standing: false,
                },
            ),
            at(30_000, Record::HostCrashed { host: "a".into() }),
        ];
        assert!(check(&history, &topology(Policy::Sticky), &settings(0, 60)).is_empty());
    }
}

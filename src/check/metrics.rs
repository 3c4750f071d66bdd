//! What a run measured besides its verdict: failover times, ZooKeeper leader changes, writes.

use super::state::{Term, terms_by_pair};
use crate::sim::history::{Entry, Record, WriteOutcome};
use std::collections::BTreeSet;
use std::time::Duration;

/// A change of master: the old one stopped (or crashed) and, maybe, a new one took over.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Failover {
    pub pair: String,
    pub from_node: String,
    /// When the old master stopped acting (seconds).
    pub lost_at: f64,
    /// `None` if no node was promoted again before the end.
    pub to_node: Option<String>,
    pub promoted_at: Option<f64>,
    /// `promoted_at - lost_at`.
    pub seconds: Option<f64>,
}

#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct Measures {
    pub failovers: Vec<Failover>,
    /// Times a ZooKeeper server announced it leads, after the first.
    pub zk_leader_changes: u64,
    pub writes_accepted: u64,
    pub writes_rejected: u64,
    /// Writes the database could not take (down, unreachable). A write whose proposer
    /// answered Unavailable after its peer had committed it is not one of them: it counts as
    /// accepted.
    pub writes_unavailable: u64,
}

/// The writes answered Unavailable that a database host accepted all the same, as (pair, node,
/// write id). A certified write is recorded as accepted when the peer commits it; the proposer
/// may still answer Unavailable afterwards (it stopped acting meanwhile), which says nothing
/// about the data. Unavailable answers are few, so they are gathered first.
pub fn unavailable_but_accepted(history: &[Entry]) -> BTreeSet<(&str, &str, u64)> {
    fn key(record: &Record, wanted: fn(&WriteOutcome) -> bool) -> Option<(&str, &str, u64)> {
        match record {
            Record::WriteResult {
                pair,
                node,
                write,
                outcome,
                ..
            } if wanted(outcome) => Some((pair.as_ref(), node.as_ref(), *write)),
            _ => None,
        }
    }
    let unavailable: BTreeSet<_> = history
        .iter()
        .filter_map(|e| key(&e.record, |o| *o == WriteOutcome::Unavailable))
        .collect();
    if unavailable.is_empty() {
        return unavailable;
    }
    history
        .iter()
        .filter_map(|e| key(&e.record, |o| *o == WriteOutcome::Accepted))
        .filter(|k| unavailable.contains(k))
        .collect()
}

/// Whether `record` is an Unavailable answer to a write that was accepted after all.
pub fn is_answer_to_accepted(
    record: &Record,
    unavailable_but_accepted: &BTreeSet<(&str, &str, u64)>,
) -> bool {
    matches!(
        record,
        Record::WriteResult { pair, node, write, outcome: WriteOutcome::Unavailable, .. }
            if unavailable_but_accepted.contains(&(pair.as_ref(), node.as_ref(), *write))
    )
}

/// `terms` are the history's terms up to `end` ([`super::state::terms`]).
pub fn measure(history: &[Entry], terms: &[Term], end: Duration) -> Measures {
    let by_pair = terms_by_pair(terms);
    let mut failovers = Vec::new();
    for term in terms.iter().filter(|t| t.until < end) {
        let same_pair = || by_pair[term.pair.as_ref()].iter().map(|&i| &terms[i]);
        // Another node still acting when this one stopped: the pair never lost its master.
        if same_pair().any(|t| t.node != term.node && t.contains(term.until)) {
            continue;
        }
        let next = same_pair()
            .filter(|t| t.from >= term.until)
            .min_by_key(|t| t.from);
        // A node re-claiming after a reconnection is a new term, but not a failover.
        if next.is_some_and(|n| n.node == term.node && n.from == term.until) {
            continue;
        }
        failovers.push(Failover {
            pair: term.pair.to_string(),
            from_node: term.node.to_string(),
            lost_at: term.until.as_secs_f64(),
            to_node: next.map(|n| n.node.to_string()),
            promoted_at: next.map(|n| n.from.as_secs_f64()),
            seconds: next.map(|n| (n.from - term.until).as_secs_f64()),
        });
    }
    failovers.sort_by(|a, b| {
        (a.lost_at, &a.pair)
            .partial_cmp(&(b.lost_at, &b.pair))
            .expect("times are finite")
    });
    let mut m = Measures {
        failovers,
        ..Measures::default()
    };
    let mut leaders = 0u64;
    let answered_late = unavailable_but_accepted(history);
    for entry in history {
        match &entry.record {
            Record::Role { role, .. } if role == "leading" => leaders += 1,
            record if is_answer_to_accepted(record, &answered_late) => {}
            Record::WriteResult { outcome, .. } => match outcome {
                WriteOutcome::Accepted => m.writes_accepted += 1,
                WriteOutcome::Unavailable => m.writes_unavailable += 1,
                _ => m.writes_rejected += 1,
            },
            _ => {}
        }
    }
    m.zk_leader_changes = leaders.saturating_sub(1);
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::state::tests::{at, demoted, promoted};

    /// The database's verdict on write `write` of node a (pair p, token 1), at `ms`.
    fn result(ms: u64, write: u64, outcome: WriteOutcome) -> Entry {
        at(
            ms,
            Record::WriteResult {
                pair: "p".into(),
                node: "a".into(),
                token: 1,
                write,
                outcome,
            },
        )
    }

    #[test]
    fn failovers_leader_changes_and_writes_are_counted() {
        let role = |ms, host: &str| {
            at(
                ms,
                Record::Role {
                    host: host.into(),
                    role: "leading".into(),
                },
            )
        };
        let history = vec![
            role(100, "zk1"),
            promoted(1_000, "a", 1),
            result(1_100, 1, WriteOutcome::Accepted),
            at(10_000, Record::HostCrashed { host: "a".into() }),
            role(11_000, "zk2"),
            promoted(22_500, "b", 2),
            result(23_000, 1, WriteOutcome::RejectedStaleToken { newest: 2 }),
            demoted(40_000, "b", 2),
        ];
        let end = Duration::from_secs(60);
        let m = measure(&history, &crate::check::state::terms(&history, end), end);
        assert_eq!(m.zk_leader_changes, 1);
        assert_eq!((m.writes_accepted, m.writes_rejected), (1, 1));
        assert_eq!(m.failovers.len(), 2);
        assert_eq!(m.failovers[0].seconds, Some(12.5));
        assert_eq!(m.failovers[0].to_node.as_deref(), Some("b"));
        assert_eq!(m.failovers[1].to_node, None);
    }

    #[test]
    fn an_unavailable_answer_to_a_write_its_peer_committed_counts_as_accepted_only() {
        let history = vec![
            promoted(1_000, "a", 1),
            // Write 7: the peer commits it, then the paused proposer answers Unavailable.
            result(1_100, 7, WriteOutcome::Accepted),
            result(9_000, 7, WriteOutcome::Unavailable),
            // Write 8 never reached an acting host.
            result(9_100, 8, WriteOutcome::Unavailable),
        ];
        let end = Duration::from_secs(60);
        let m = measure(&history, &crate::check::state::terms(&history, end), end);
        assert_eq!((m.writes_accepted, m.writes_unavailable), (1, 1));
    }
}

//! 2M: two nodes of one pair act as master at the same instant. A node acts as master from one
//! master action to the next — its promotion, each write it sends under its token, its
//! demotion or crash — unless a pause falls in between: a paused process executes nothing, and
//! a node that resumes and steps down before its next write never acted on the stale belief
//! (one that writes first does, and is caught here and by SW). Spans are half-open, so a
//! hand-over at one instant is not an overlap.

use super::state::{Term, terms, terms_by_pair};
use super::{Invariant, Violation, secs};
use crate::sim::history::Entry;
use std::time::Duration;

pub fn check(history: &[Entry], end: Duration) -> Vec<Violation> {
    check_terms(&terms(history, end))
}

/// [`check`] on the terms derived already.
pub fn check_terms(terms: &[Term]) -> Vec<Violation> {
    let by_pair = terms_by_pair(terms);
    let mut violations = Vec::new();
    for (i, a) in terms.iter().enumerate() {
        let same_pair = &by_pair[a.pair.as_ref()];
        let later = same_pair.partition_point(|&j| j <= i);
        for b in same_pair[later..].iter().map(|&j| &terms[j]) {
            if a.node == b.node {
                continue;
            }
            if let Some((from, until)) = first_overlap(a, b) {
                violations.push(Violation {
                    invariant: Invariant::TwoMasters,
                    at: from,
                    detail: format!(
                        "pair {}: {} (token {:#x}) and {} (token {:#x}) both master from {} to {} ({:?})",
                        a.pair,
                        a.node,
                        a.token,
                        b.node,
                        b.token,
                        secs(from),
                        secs(until),
                        until - from
                    ),
                });
            }
        }
    }
    violations
}

/// The earliest instant both act as master, and until when. Both span lists are sorted and
/// disjoint, so one merge pass finds it (a long term has thousands of write-delimited spans).
fn first_overlap(a: &Term, b: &Term) -> Option<(Duration, Duration)> {
    if a.until <= b.from || b.until <= a.from {
        return None;
    }
    let (a_spans, b_spans) = (a.active_spans(), b.active_spans());
    let (mut i, mut j) = (0, 0);
    while i < a_spans.len() && j < b_spans.len() {
        let ((a0, a1), (b0, b1)) = (a_spans[i], b_spans[j]);
        let (from, until) = (a0.max(b0), a1.min(b1));
        if from < until {
            return Some((from, until));
        }
        if a1 <= b1 {
            i += 1;
        } else {
            j += 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::state::tests::{at, demoted, promoted};
    use crate::sim::history::Record;

    const END: Duration = Duration::from_secs(60);

    #[test]
    fn overlapping_terms_are_reported_with_both_tokens() {
        let history = vec![
            promoted(1_000, "a", 10),
            promoted(5_000, "b", 20),
            demoted(5_300, "a", 10),
        ];
        let v = check(&history, END);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].at, Duration::from_secs(5));
        assert!(
            v[0].detail.contains("a (token 0xa) and b (token 0x14)"),
            "{}",
            v[0].detail
        );
        assert!(v[0].detail.contains("(300ms)"));
    }

    #[test]
    fn hand_over_at_one_instant_and_other_pairs_are_fine() {
        let mut history = vec![
            promoted(1_000, "a", 10),
            demoted(5_000, "a", 10),
            promoted(5_000, "b", 20),
        ];
        history.push(at(
            6_000,
            Record::Promoted {
                pair: "q".into(),
                node: "c".into(),
                token: 1,
            },
        ));
        assert!(check(&history, END).is_empty());
    }

    #[test]
    fn a_paused_or_crashed_master_does_not_act() {
        let history = vec![
            promoted(1_000, "a", 10),
            at(2_000, Record::HostPaused { host: "a".into() }),
            promoted(20_000, "b", 20),
            at(25_000, Record::HostCrashed { host: "b".into() }),
            // a resumes after b is gone: no overlap.
            at(30_000, Record::HostResumed { host: "a".into() }),
        ];
        assert!(check(&history, END).is_empty());
        // Resuming while b acts and stepping down before writing is no overlap...
        let mut history = history;
        history.truncate(3);
        history.push(at(22_000, Record::HostResumed { host: "a".into() }));
        let quiet = [history.clone(), vec![demoted(22_001, "a", 10)]].concat();
        assert!(check(&quiet, END).is_empty());
        // ...but writing on the stale grant after resuming is, from that write on.
        let stale = [
            history,
            vec![write(22_000, "a", 10), demoted(22_050, "a", 10)],
        ]
        .concat();
        let v = check(&stale, END);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].at, Duration::from_secs(22));
    }

    fn write(ms: u64, node: &str, token: i64) -> Entry {
        at(
            ms,
            Record::WriteAttempt {
                pair: "p".into(),
                node: node.into(),
                token,
                write: ms,
            },
        )
    }

    #[test]
    fn a_master_that_keeps_writing_after_losing_overlaps_the_new_one() {
        // a is cut from ZooKeeper but keeps writing; b is promoted and writes too.
        let mut history = vec![promoted(1_000, "a", 10)];
        for ms in (1_100..=9_000).step_by(100) {
            history.push(write(ms, "a", 10));
        }
        history.insert(60, promoted(7_000, "b", 20));
        let v = check(&history, END);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].at, Duration::from_secs(7));
    }
}

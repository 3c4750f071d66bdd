//! 2M: two nodes of one pair act as master at the same instant. A node acts from its
//! promotion to its demotion (or crash), except while its host is paused: a paused process
//! executes nothing. Spans are half-open, so a hand-over at one instant is not an overlap.

use super::state::{Term, terms};
use super::{Invariant, Violation, secs};
use crate::sim::history::Entry;
use std::time::Duration;

pub fn check(history: &[Entry], end: Duration) -> Vec<Violation> {
    let terms = terms(history, end);
    let mut violations = Vec::new();
    for (i, a) in terms.iter().enumerate() {
        for b in &terms[i + 1..] {
            if a.pair != b.pair || a.node == b.node {
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

fn first_overlap(a: &Term, b: &Term) -> Option<(Duration, Duration)> {
    let mut best: Option<(Duration, Duration)> = None;
    for (a0, a1) in a.active_spans() {
        for (b0, b1) in b.active_spans() {
            let (from, until) = (a0.max(b0), a1.min(b1));
            if from < until && best.is_none_or(|(f, _)| from < f) {
                best = Some((from, until));
            }
        }
    }
    best
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
        // But resuming while b still acts is an overlap, from the resume on.
        let mut history = history;
        history.truncate(3);
        history.push(at(22_000, Record::HostResumed { host: "a".into() }));
        let v = check(&history, END);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].at, Duration::from_secs(22));
    }
}

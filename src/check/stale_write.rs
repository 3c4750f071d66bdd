//! SW: the database accepted a write it should have refused. An accepted write is a breach
//! when, at the moment the database applied it,
//! - a newer grant of the pair (a higher token) had already been promoted (stale token), or
//! - its token was never granted to the writing node, or
//! - the node sent it after its term with that token had ended (it was no longer master).

use super::state::{Term, terms, terms_by_pair};
use super::{Invariant, Violation, secs};
use crate::sim::history::{Entry, Record, WriteOutcome};
use std::collections::BTreeMap;
use std::time::Duration;

pub fn check(history: &[Entry], end: Duration) -> Vec<Violation> {
    check_terms(history, &terms(history, end))
}

/// [`check`] with the history's terms derived already.
pub fn check_terms(history: &[Entry], terms: &[Term]) -> Vec<Violation> {
    let terms_of_pair: BTreeMap<&str, Vec<&Term>> = terms_by_pair(terms)
        .into_iter()
        .map(|(pair, at)| (pair, at.into_iter().map(|i| &terms[i]).collect()))
        .collect();
    // (write id, node, pair) -> when it was sent, for the writes not accepted yet: acceptance
    // takes a write out (a write refused first may still be accepted by the database's other
    // host), so the map stays small (every write of a hundred write streams kept in it was
    // most of the judge's work).
    let mut sent: BTreeMap<(u64, &str, &str), Duration> = BTreeMap::new();
    let mut violations = Vec::new();
    for entry in history {
        match &entry.record {
            Record::WriteAttempt {
                pair, node, write, ..
            } => {
                sent.insert((*write, node, pair), entry.at);
            }
            Record::WriteResult {
                pair,
                node,
                token,
                write,
                outcome: WriteOutcome::Accepted,
            } => {
                let sent_at = sent.remove(&(*write, node.as_ref(), pair.as_ref()));
                let pair_terms = terms_of_pair
                    .get(pair.as_ref())
                    .map_or(&[][..], Vec::as_slice);
                let own = pair_terms
                    .iter()
                    .find(|t| &t.node == node && t.token == *token);
                let newer = pair_terms
                    .iter()
                    .find(|t| t.token > *token && t.from <= entry.at);
                let reason = if let Some(newer) = newer {
                    Some(format!(
                        "stale token: {} (token {:#x}) had been master since {}",
                        newer.node,
                        newer.token,
                        secs(newer.from)
                    ))
                } else if own.is_none() {
                    Some(format!("token {token:#x} was never granted to {node}"))
                } else if let (Some(own), Some(sent_at)) = (own, sent_at)
                    && sent_at >= own.until
                {
                    Some(format!(
                        "sent at {} after {node} stopped being master at {}",
                        secs(sent_at),
                        secs(own.until)
                    ))
                } else {
                    None
                };
                if let Some(reason) = reason {
                    violations.push(Violation {
                        invariant: Invariant::StaleWrite,
                        at: entry.at,
                        detail: format!(
                            "pair {pair}: database accepted write #{write} from {node} (token {token:#x}): {reason}"
                        ),
                    });
                }
            }
            _ => {}
        }
    }
    violations
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::state::tests::{at, demoted, promoted};

    const END: Duration = Duration::from_secs(60);

    fn attempt(ms: u64, node: &str, token: i64, write: u64) -> Entry {
        at(
            ms,
            Record::WriteAttempt {
                pair: "p".into(),
                node: node.into(),
                token,
                write,
            },
        )
    }

    fn result(ms: u64, node: &str, token: i64, write: u64, outcome: WriteOutcome) -> Entry {
        at(
            ms,
            Record::WriteResult {
                pair: "p".into(),
                node: node.into(),
                token,
                write,
                outcome,
            },
        )
    }

    #[test]
    fn writes_of_the_current_master_pass_and_refusals_are_not_breaches() {
        let history = vec![
            promoted(1_000, "a", 10),
            attempt(1_100, "a", 10, 1),
            result(1_110, "a", 10, 1, WriteOutcome::Accepted),
            attempt(1_200, "a", 10, 2),
            demoted(1_205, "a", 10),
            // In flight when a stopped, applied before anyone else took over: harmless.
            result(1_210, "a", 10, 2, WriteOutcome::Accepted),
            promoted(2_000, "b", 20),
            result(
                2_500,
                "a",
                10,
                3,
                WriteOutcome::RejectedStaleToken { newest: 20 },
            ),
        ];
        assert!(check(&history, END).is_empty());
    }

    #[test]
    fn a_write_accepted_after_a_newer_grant_is_stale() {
        let history = vec![
            promoted(1_000, "a", 10),
            attempt(1_900, "a", 10, 1),
            promoted(2_000, "b", 20),
            result(2_100, "a", 10, 1, WriteOutcome::Accepted),
        ];
        let v = check(&history, END);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].at, Duration::from_millis(2_100));
        assert!(
            v[0].detail.contains("stale token: b (token 0x14)"),
            "{}",
            v[0].detail
        );
    }

    #[test]
    fn a_write_sent_after_demotion_or_with_a_foreign_token_is_a_breach() {
        let history = vec![
            promoted(1_000, "a", 10),
            demoted(1_500, "a", 10),
            attempt(1_600, "a", 10, 1),
            result(1_610, "a", 10, 1, WriteOutcome::Accepted),
            attempt(1_700, "b", 10, 2),
            result(1_710, "b", 10, 2, WriteOutcome::Accepted),
        ];
        let v = check(&history, END);
        assert_eq!(v.len(), 2);
        assert!(
            v[0].detail.contains("after a stopped being master"),
            "{}",
            v[0].detail
        );
        assert!(
            v[1].detail.contains("never granted to b"),
            "{}",
            v[1].detail
        );
    }
}

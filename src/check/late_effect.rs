//! LE: an effect of a node's term reached the world after the pair's next master was
//! promoted. The database fences a stale write off; a master's other effects — a message to
//! its pair's bus ([`crate::bus`]), a call to another service — check no token, so the only
//! thing that keeps two terms' effects apart is that a master's work has really stopped
//! before the next master starts. An arrival is a breach when, at that moment, a term of the
//! pair with a newer token had already been promoted.
//!
//! SW cannot see this when the fence saves the database: a selector that acknowledges a
//! demotion before the node's work has stopped, or work that goes on after its
//! acknowledgement, writes nothing the database accepts, but its messages still land.

use super::state::{Term, terms, terms_by_pair};
use super::{Invariant, Violation, secs};
use crate::sim::history::{Entry, Record};
use std::collections::BTreeMap;
use std::time::Duration;

pub fn check(history: &[Entry], end: Duration) -> Vec<Violation> {
    check_terms(history, &terms(history, end))
}

/// [`check`] with the history's terms derived already.
pub fn check_terms(history: &[Entry], terms: &[Term]) -> Vec<Violation> {
    // Per pair, (token, promoted at) of every term, by token: the next master of a term is
    // the one with the lowest newer token.
    let promotions: BTreeMap<&str, Vec<(i64, Duration, &str)>> = terms_by_pair(terms)
        .into_iter()
        .map(|(pair, at)| {
            let mut promoted: Vec<(i64, Duration, &str)> = at
                .into_iter()
                .map(|i| (terms[i].token, terms[i].from, terms[i].node.as_ref()))
                .collect();
            promoted.sort();
            (pair, promoted)
        })
        .collect();
    let mut violations = Vec::new();
    for entry in history {
        let Record::BusDelivered {
            pair,
            node,
            token,
            flow,
        } = &entry.record
        else {
            continue;
        };
        let Some(promoted) = promotions.get(pair.as_ref()) else {
            continue;
        };
        let newer = promoted.partition_point(|(t, _, _)| t <= token);
        // The earliest promotion of a newer term that came before the arrival.
        let next = promoted[newer..]
            .iter()
            .filter(|(_, from, _)| *from <= entry.at)
            .min_by_key(|(_, from, _)| *from);
        if let Some((next_token, from, next_node)) = next {
            violations.push(Violation {
                invariant: Invariant::LateEffect,
                at: entry.at,
                detail: format!(
                    "pair {pair}: the message of {node}'s flow #{flow} (token {token:#x}) reached the bus at {} after {next_node} (token {next_token:#x}) had been master since {}",
                    secs(entry.at),
                    secs(*from)
                ),
            });
        }
    }
    violations
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::state::tests::{at, demoted, promoted};

    const END: Duration = Duration::from_secs(60);

    fn delivered(ms: u64, node: &str, token: i64, flow: u64) -> Entry {
        at(
            ms,
            Record::BusDelivered {
                pair: "p".into(),
                node: node.into(),
                token,
                flow,
            },
        )
    }

    #[test]
    fn messages_that_land_before_the_next_master_acts_pass() {
        let history = vec![
            promoted(1_000, "a", 10),
            delivered(1_100, "a", 10, 1),
            demoted(1_200, "a", 10),
            // After a's demotion, before b acts: its flow had not ended yet, harmless.
            delivered(1_300, "a", 10, 2),
            promoted(2_000, "b", 20),
            delivered(2_100, "b", 20, 3),
        ];
        assert!(check(&history, END).is_empty());
    }

    #[test]
    fn a_message_that_lands_after_the_next_promotion_is_late() {
        let history = vec![
            promoted(1_000, "a", 10),
            demoted(1_500, "a", 10),
            promoted(2_000, "b", 20),
            delivered(2_050, "a", 10, 7),
            // Other pairs' terms do not count.
            at(
                2_060,
                Record::BusDelivered {
                    pair: "q".into(),
                    node: "c".into(),
                    token: 1,
                    flow: 1,
                },
            ),
        ];
        let v = check(&history, END);
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].invariant, Invariant::LateEffect);
        assert_eq!(v[0].at, Duration::from_millis(2_050));
        assert!(
            v[0].detail
                .contains("a's flow #7 (token 0xa) reached the bus at 2.050s after b (token 0x14) had been master since 2.000s"),
            "{}",
            v[0].detail
        );
    }

    #[test]
    fn the_next_master_is_the_earliest_newer_promotion_whoever_it_is() {
        // a's old grant's message lands after a itself was granted again, and after b.
        let history = vec![
            promoted(1_000, "a", 10),
            demoted(1_500, "a", 10),
            promoted(2_000, "a", 30),
            demoted(2_500, "a", 30),
            promoted(3_000, "b", 40),
            delivered(3_500, "a", 10, 1),
            delivered(3_600, "a", 30, 2),
        ];
        let v = check(&history, END);
        assert_eq!(v.len(), 2);
        assert!(
            v[0].detail.contains("after a (token 0x1e)"),
            "{}",
            v[0].detail
        );
        assert!(
            v[1].detail.contains("after b (token 0x28)"),
            "{}",
            v[1].detail
        );
    }
}

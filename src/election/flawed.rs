//! The broken behaviour of the known-bug variants that live in the election library, one
//! function per flaw, each written the way a real team shipped it (testbed builds only; see
//! [`super::known_bugs`]). The selector reaches them only from the hook points marked
//! `known-bug hook` in [`super::zk`]; the real code never calls them.

use super::KnownBug;
use super::decide::{Candidate, Ranking};
use std::cmp::{Ordering, Reverse};

/// The ranking a variant uses instead of [`Candidate::by_rank`], if it ranks differently.
pub(crate) fn ranking(bug: KnownBug) -> Option<Ranking> {
    match bug {
        KnownBug::P3 => Some(priorities_as_text),
        KnownBug::P4 => Some(ties_by_join_order),
        _ => None,
    }
}

/// P3: priorities compared as text, higher first, as code that keeps the priority as the
/// string it cut from a candidate's name and sorts those strings: "50" ranks above "2000",
/// "9" above "10". (Corda's first prioritised leader latch sorted this way; the fix
/// zero-padded the numbers.)
fn priorities_as_text(a: &Candidate, b: &Candidate) -> Ordering {
    let text = |c: &Candidate| c.priority.to_string();
    text(b).cmp(&text(a)).then_with(|| a.name.cmp(&b.name))
}

/// P4: equal priorities go to the candidate that joined first (lowest czxid), the order the
/// sequence numbers of Curator's LeaderLatch give. Join order does not survive a restart: the
/// restarted node joins again at the back, so the preferred node of an equal-priority pair
/// does not get its role back, and which node of the pair leads depends on which restarted
/// last.
fn ties_by_join_order(a: &Candidate, b: &Candidate) -> Ordering {
    (Reverse(a.priority), a.joined).cmp(&(Reverse(b.priority), b.joined))
}

/// P2: only the end of the session (Expired) counts as losing mastership. A master whose
/// connection broke carries on until it hears that its session expired — after the servers
/// expired it and may have granted the other node the role.
pub(crate) fn ignores_disconnection(bug: KnownBug) -> bool {
    bug == KnownBug::P2
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::election::Priority;

    fn cand(name: &str, priority: u32, joined: i64) -> Candidate {
        Candidate {
            node: format!("{name}-p{priority}"),
            name: name.into(),
            priority: Priority(priority),
            session: joined,
            joined,
        }
    }

    fn best(ranking: Ranking, candidates: &[Candidate]) -> &str {
        let best = candidates.iter().min_by(|a, b| ranking(a, b));
        &best.expect("candidates").name
    }

    #[test]
    fn p3_ranks_a_lower_priority_first_where_text_and_numbers_disagree() {
        let p3 = ranking(KnownBug::P3).unwrap();
        for (low, high) in [(50, 2000), (9, 10), (99_999, 100_000)] {
            let both = [cand("a", high, 1), cand("b", low, 2)];
            assert_eq!(best(p3, &both), "b", "{low} vs {high}");
            assert_eq!(best(Candidate::by_rank, &both), "a");
        }
        // Where text and numbers agree, so do the rankings.
        let both = [cand("a", 20, 1), cand("b", 30, 2)];
        assert_eq!(best(p3, &both), "b");
    }

    #[test]
    fn p4_gives_a_tie_to_whoever_joined_first_so_a_restart_moves_the_winner() {
        let p4 = ranking(KnownBug::P4).unwrap();
        let before = [cand("a", 5, 10), cand("b", 5, 11)];
        assert_eq!(best(p4, &before), "a");
        // a restarted: its candidacy is created again, after b's.
        let after = [cand("a", 5, 20), cand("b", 5, 11)];
        assert_eq!(best(p4, &after), "b");
        assert_eq!(best(Candidate::by_rank, &after), "a");
        // Priorities still come first.
        let better = [cand("a", 6, 20), cand("b", 5, 11)];
        assert_eq!(best(p4, &better), "a");
    }
}

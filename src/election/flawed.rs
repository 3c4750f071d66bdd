//! The broken behaviour of the known-bug variants that live in the election library, one
//! function per flaw, each written the way a real team shipped it (testbed builds only; see
//! [`super::known_bugs`]). The selector reaches them only from the hook points marked
//! `known-bug hook` in [`super::zk`]; the real code never calls them.

use super::decide::{Candidate, Decision, Local, Ranking, View};
use super::{KnownBug, Policy, SelectorConfig};
use std::cmp::{Ordering, Reverse};
use std::time::Duration;

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

/// F1 (fixed): a term re-created after the election lost its znodes is claimed as soon as it
/// is seen, like a first deployment's, as the election did before chaos seeds 478, 1101 and
/// 1600: a master that has not yet read that its candidacy went with the deletion still acts.
pub(crate) fn claims_recreated_terms_at_once(bug: KnownBug) -> bool {
    bug == KnownBug::F1
}

/// P2: only the end of the session (Expired) counts as losing mastership. A master whose
/// connection broke carries on until it hears that its session expired — after the servers
/// expired it and may have granted the other node the role.
pub(crate) fn ignores_disconnection(bug: KnownBug) -> bool {
    bug == KnownBug::P2
}

/// P5: how long a candidate that ranks first gives a live holder to stop before it claims
/// over it (Corda's bridge waited 5 s before a new master started).
pub(crate) const HAND_OVER_GRACE: Duration = Duration::from_secs(5);

/// P5: a timed hand-over instead of a fence, as teams write it when the election library
/// names a candidate the leader before the old master has let go (Corda's prioritised latch:
/// the first znode in priority order leads, and a fixed delay before the new master started
/// was the only guard, later replaced by a mutex). A candidate that ranks first under the
/// pre-emptive policy does not wait for the live holder to step down and release the term:
/// it claims over it after [`HAND_OVER_GRACE`]. Returns the candidacy to claim with, where the
/// real code follows. Whenever the old master needs longer to stop (a GC pause, a slow
/// commit), both act.
pub(crate) fn takes_over_after_grace(
    config: &SelectorConfig,
    view: &View,
    local: &Local<'_>,
    decision: &Decision,
) -> Option<String> {
    if config.known_bug() != Some(KnownBug::P5)
        || *decision != Decision::Follow
        || local.policy != Policy::PreEmptive
        || !view.holder_is_live()
    {
        return None;
    }
    let best = view.best()?;
    (best.name == local.name && best.session == local.session).then(|| best.node.clone())
}

/// P6: the election's persistent znodes are treated as installation state: created in the
/// selector's first session, never checked again; a NoNode on a later read is retried as a
/// transient error. Once an operator's cleanup (or an ensemble that lost its data) removes
/// them, the master steps down (it cannot confirm its term) and nobody can stand again until
/// a node restarts.
pub(crate) fn creates_election_once(bug: KnownBug) -> bool {
    bug == KnownBug::P6
}

/// P8: a relinquish (rolling upgrade) is made to hand over quickly: the selector tells the
/// node to stop and leaves the election in the same breath, without waiting for the node's
/// acknowledgement (Corda's `relinquishLeadership()` deleted the latch node while the
/// not-leader callback still ran). The other node may claim while the old one is still
/// finishing a transaction.
pub(crate) fn relinquishes_before_stopped(bug: KnownBug) -> bool {
    bug == KnownBug::P8
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
    fn p5_claims_over_a_live_holder_only_where_the_real_code_waits_for_it_as_the_best() {
        use crate::election::decide::{Standing, decide};
        use crate::election::record::Holder;
        let view = View {
            holder: Some(Holder {
                name: "b".into(),
                session: 2,
            }),
            term_version: 3,
            term_created: 1,
            candidates: vec![cand("a", 100, 1), cand("b", 50, 2)],
        };
        let local = |name, session, priority| Local {
            name,
            session,
            priority: Priority(priority),
            policy: Policy::PreEmptive,
            standing: Standing::Standing,
            acting_master: false,
            new_term_waited_out: false,
        };
        let a = local("a", 1, 100);
        let real = SelectorConfig::new("/r", "p", "a", Priority(100), Policy::PreEmptive);
        let p5 = real.clone().with_known_bug(KnownBug::P5);
        let follow = decide(&view, &a);
        assert_eq!(follow, Decision::Follow, "the real code waits for b");
        assert_eq!(takes_over_after_grace(&real, &view, &a, &follow), None);
        assert_eq!(
            takes_over_after_grace(&p5, &view, &a, &follow),
            Some("a-p100".to_string())
        );
        // Not the best candidate, or a holder that is gone: P5 decides as the real code does.
        let b_view = View {
            holder: Some(Holder {
                name: "a".into(),
                session: 1,
            }),
            ..view.clone()
        };
        let b = local("b", 2, 50);
        assert_eq!(
            takes_over_after_grace(&p5, &b_view, &b, &Decision::Follow),
            None
        );
        let released = View {
            holder: None,
            ..view.clone()
        };
        let claim = decide(&released, &a);
        assert_eq!(takes_over_after_grace(&p5, &released, &a, &claim), None);
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

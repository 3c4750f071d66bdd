//! The broken behaviour of the known-bug variants that live in the election library, one
//! function per flaw, each written the way a real team shipped it (testbed builds only; see
//! [`super::known_bugs`]). The selector reaches them only from the hook points marked
//! `known-bug hook` in [`super::zk`]; the real code never calls them.

use super::decide::{Candidate, Decision, Local, Ranking, View};
use super::role::FencingToken;
use super::{KnownBug, Policy, SelectorConfig};
use crate::coord::Coordination;
use crate::zk::types::{ErrorCode, ZkResult};
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

/// N1: how many steps in a row may fail before the selector gives up opening a session.
pub(crate) const TRIES_BEFORE_GIVING_UP: u32 = 3;

/// N1: a bounded retry policy around (re)connecting, as Curator's `RetryNTimes` or kazoo's
/// `KazooRetry(max_tries=...)` give: when a session cannot be opened and the steps before
/// already failed [`TRIES_BEFORE_GIVING_UP`] times in a row (after a lost session: the
/// connection loss, the expiry and a first failed connection attempt), the last error escapes
/// the selector's loop, which ends; the process lives on, still a slave to everyone's eyes. A node
/// cut from ZooKeeper for longer than its session and a few connection attempts never stands
/// again until it is restarted: the preferred node leaves its pair to the other one (WP), or the
/// pair without a master once the other one goes too (NM). The real selector backs off and
/// retries for as long as it runs.
pub(crate) fn gives_up_connecting(bug: KnownBug, failures_in_a_row: u32) -> bool {
    bug == KnownBug::N1 && failures_in_a_row >= TRIES_BEFORE_GIVING_UP
}

/// N2: the master's lease is renewed by reading the term znode (`exists`), which the client's
/// own server answers from its copy, instead of a `sync` the server must pass to the ZooKeeper
/// leader. ZooKeeper's reads are served locally (its programmer's guide points to `sync` for
/// anything fresher); a follower cut from its leader goes on answering them until syncLimit
/// ticks have passed, while the leader expires the session and grants the other node: the
/// renewal still succeeds, so the master acts on.
pub(crate) fn renews_by_local_read(bug: KnownBug) -> bool {
    bug == KnownBug::N2
}

/// N2's renewal: the term znode is still there, as the session's own server sees it.
pub(crate) async fn confirm_by_local_read<C: Coordination>(
    session: &C,
    term_path: &str,
) -> ZkResult<()> {
    match super::io::guarded(session, session.exists(term_path)).await? {
        Some(_) => Ok(()),
        None => Err(ErrorCode::NoNode),
    }
}

/// N4: the grant's fencing token is the term znode's data version after the claim (the claim
/// compared against version `term_version`, so it wrote `term_version + 1`): a counter
/// ZooKeeper keeps for free, one higher with every claim and release, small and readable.
/// It restarts when the znode is created again, so after an election was deleted and
/// re-created (an operator's cleanup, an ensemble that lost its data) the next grant's token is
/// lower than the one the database has seen: the database refuses the new master's fence, and
/// the pair has a master in ZooKeeper that never acts. The real token is the claim's zxid.
pub(crate) fn token_of_claim(
    bug: KnownBug,
    token: FencingToken,
    term_version: i32,
) -> FencingToken {
    if bug == KnownBug::N4 {
        FencingToken(i64::from(term_version) + 1)
    } else {
        token
    }
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
    fn n1_gives_up_only_once_the_tries_are_spent() {
        for bug in KnownBug::ALL {
            assert!(!gives_up_connecting(bug, 0));
        }
        assert!(!gives_up_connecting(
            KnownBug::N1,
            TRIES_BEFORE_GIVING_UP - 1
        ));
        assert!(gives_up_connecting(KnownBug::N1, TRIES_BEFORE_GIVING_UP));
        assert!(!gives_up_connecting(
            KnownBug::P2,
            TRIES_BEFORE_GIVING_UP + 5
        ));
    }

    #[test]
    fn n4_grants_the_term_version_the_claim_wrote_which_restarts_with_the_znode() {
        let zxid = FencingToken(0x1_0000_0042);
        assert_eq!(token_of_claim(KnownBug::N4, zxid, 4), FencingToken(5));
        // The re-created term's first claim: lower than every token before the deletion.
        assert_eq!(token_of_claim(KnownBug::N4, zxid, 0), FencingToken(1));
        assert_eq!(token_of_claim(KnownBug::P3, zxid, 4), zxid);
    }

    #[test]
    fn n2_alone_renews_by_a_local_read() {
        let renewing: Vec<KnownBug> = KnownBug::ALL
            .into_iter()
            .chain(KnownBug::FIXED_FINDINGS)
            .filter(|bug| renews_by_local_read(*bug))
            .collect();
        assert_eq!(renewing, [KnownBug::N2]);
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

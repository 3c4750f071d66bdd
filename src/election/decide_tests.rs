//! Table tests of the decision core, one per rule, then a model check: several nodes driven
//! by the core against an in-memory rendering of the election's znodes (with ZooKeeper's
//! all-or-nothing multi and compare-and-set semantics), interleaved in every order a seeded
//! walk picks, with faults, checking the safety invariants after every step.

use super::*;
use crate::election::record::Holder;

const ME: SessionId = 0x100;
const OTHER: SessionId = 0x200;

fn cand(name: &str, priority: u32, session: SessionId) -> Candidate {
    Candidate {
        node: format!("{name}-p{priority}"),
        name: name.into(),
        priority: Priority(priority),
        session,
        joined: 0,
    }
}

fn holder(name: &str, session: SessionId) -> Option<Holder> {
    Some(Holder {
        name: name.into(),
        session,
    })
}

fn view(holder: Option<Holder>, candidates: Vec<Candidate>) -> View {
    View {
        holder,
        term_version: 7,
        term_created: 1,
        candidates,
    }
}

fn local(priority: u32, policy: Policy) -> Local<'static> {
    Local {
        name: "a",
        session: ME,
        priority: Priority(priority),
        policy,
        standing: Standing::Standing,
        acting_master: false,
        new_term_waited_out: false,
    }
}

fn acting(priority: u32, policy: Policy) -> Local<'static> {
    Local {
        acting_master: true,
        ..local(priority, policy)
    }
}

fn claim(node: &str) -> Decision {
    Decision::Claim { node: node.into() }
}

const POLICIES: [Policy; 2] = [Policy::PreEmptive, Policy::Sticky];

#[test]
fn lone_candidate_creates_then_claims() {
    for policy in POLICIES {
        assert_eq!(
            decide(&view(None, vec![]), &local(5, policy)),
            Decision::Create
        );
        let v = view(None, vec![cand("a", 5, ME)]);
        assert_eq!(decide(&v, &local(5, policy)), claim("a-p5"));
    }
}

#[test]
fn priorities_compare_as_numbers_not_text() {
    // As text, "50" > "2000" and "9" > "10".
    for (low, high) in [(50, 2000), (9, 10), (0, 1), (99_999, 100_000)] {
        let v = view(None, vec![cand("a", low, ME), cand("b", high, OTHER)]);
        assert_eq!(v.best().unwrap().name, "b");
        assert_eq!(
            decide(&v, &local(low, Policy::PreEmptive)),
            Decision::Follow
        );
        let v = view(None, vec![cand("a", high, ME), cand("b", low, OTHER)]);
        assert_eq!(
            decide(&v, &local(high, Policy::PreEmptive)),
            claim(&format!("a-p{high}"))
        );
    }
}

#[test]
fn equal_priorities_break_ties_by_name_whatever_the_listing_order_or_session_ids() {
    // Restarts give new (larger or smaller) session ids and the server lists children in any
    // order; the winner must not change with either.
    for (sa, sb) in [(ME, OTHER), (OTHER + 1, ME), (1, i64::MAX)] {
        let a = Candidate {
            session: sa,
            ..cand("a", 5, sa)
        };
        let b = cand("b", 5, sb);
        for candidates in [vec![a.clone(), b.clone()], vec![b.clone(), a.clone()]] {
            let v = view(None, candidates);
            assert_eq!(v.best().unwrap().name, "a");
            let me_a = Local {
                session: sa,
                ..local(5, Policy::PreEmptive)
            };
            assert_eq!(decide(&v, &me_a), claim("a-p5"));
            let me_b = Local {
                name: "b",
                session: sb,
                ..local(5, Policy::PreEmptive)
            };
            assert_eq!(decide(&v, &me_b), Decision::Follow);
        }
    }
}

#[test]
fn never_takes_over_from_a_live_holder() {
    for policy in POLICIES {
        // Even the better candidate waits for the holder to step down.
        let v = view(
            holder("b", OTHER),
            vec![cand("a", 9, ME), cand("b", 1, OTHER)],
        );
        assert!(v.holder_is_live());
        assert_eq!(decide(&v, &local(9, policy)), Decision::Follow);
    }
}

#[test]
fn holder_whose_session_died_is_not_live() {
    // b's new incarnation (session OTHER+1) is a candidate, but the grant belonged to OTHER.
    for policy in POLICIES {
        let v = view(
            holder("b", OTHER),
            vec![cand("a", 1, ME), cand("b", 1, OTHER + 1)],
        );
        assert!(!v.holder_is_live());
        assert_eq!(decide(&v, &local(1, policy)), claim("a-p1"));
        // The holder's candidacy is gone altogether.
        let v = view(holder("b", OTHER), vec![cand("a", 1, ME)]);
        assert_eq!(decide(&v, &local(1, policy)), claim("a-p1"));
    }
}

#[test]
fn grants_only_on_own_sessions_znode() {
    // A znode with this node's name and priority but another ephemeralOwner (the previous
    // incarnation) must never back a claim, whether the term is free or names that session.
    for policy in POLICIES {
        for h in [None, holder("a", OTHER)] {
            let v = view(h, vec![cand("a", 5, OTHER)]);
            assert_eq!(
                decide(&v, &local(5, policy)),
                Decision::AwaitStale {
                    node: "a-p5".into()
                }
            );
        }
    }
}

#[test]
fn term_naming_my_name_with_another_session_is_not_mine() {
    // Previous incarnation held the term; this session has its own znode now.
    let v = view(
        holder("a", OTHER),
        vec![cand("a", 5, ME), cand("b", 1, 0x300)],
    );
    assert_eq!(decide(&v, &local(5, Policy::Sticky)), claim("a-p5"));
    assert_eq!(
        decide(&v, &acting(5, Policy::Sticky)),
        Decision::Demote(DemotionReason::Superseded)
    );
}

#[test]
fn pre_emptive_master_steps_down_for_a_better_joiner() {
    let v = view(holder("a", ME), vec![cand("a", 1, ME), cand("b", 9, OTHER)]);
    assert_eq!(
        decide(&v, &acting(1, Policy::PreEmptive)),
        Decision::Demote(DemotionReason::PreEmpted)
    );
    // Once the node acknowledged the demotion, the term is released; the joiner claims after.
    assert_eq!(
        decide(&v, &local(1, Policy::PreEmptive)),
        Decision::Release {
            node: "a-p1".into()
        }
    );
    let released = view(None, v.candidates.clone());
    assert_eq!(
        decide(&released, &local(1, Policy::PreEmptive)),
        Decision::Follow
    );
    let b = Local {
        name: "b",
        session: OTHER,
        ..local(9, Policy::PreEmptive)
    };
    assert_eq!(decide(&v, &b), Decision::Follow);
    assert_eq!(decide(&released, &b), claim("b-p9"));
}

#[test]
fn sticky_master_keeps_the_role_when_a_better_candidate_joins() {
    let v = view(holder("a", ME), vec![cand("a", 1, ME), cand("b", 9, OTHER)]);
    assert_eq!(decide(&v, &acting(1, Policy::Sticky)), Decision::Lead);
    let b = Local {
        name: "b",
        session: OTHER,
        ..local(9, Policy::Sticky)
    };
    assert_eq!(decide(&v, &b), Decision::Follow);
}

#[test]
fn holder_that_is_not_acting_reclaims_for_a_fresh_token_or_releases() {
    // After a disconnection (demoted) or a claim whose reply was lost.
    let v = view(holder("a", ME), vec![cand("a", 5, ME), cand("b", 1, OTHER)]);
    for policy in POLICIES {
        assert_eq!(decide(&v, &local(5, policy)), claim("a-p5"));
    }
    let v = view(holder("a", ME), vec![cand("a", 1, ME), cand("b", 5, OTHER)]);
    assert_eq!(decide(&v, &local(1, Policy::Sticky)), claim("a-p1"));
    assert_eq!(
        decide(&v, &local(1, Policy::PreEmptive)),
        Decision::Release {
            node: "a-p1".into()
        }
    );
}

#[test]
fn new_term_is_claimed_only_once_waited_out() {
    // A term nobody has claimed since it was created: a new election, or a deleted one
    // re-created while its master may not have noticed yet.
    let new = View {
        term_version: 0,
        ..view(None, vec![cand("a", 5, ME), cand("b", 1, OTHER)])
    };
    for policy in POLICIES {
        assert_eq!(decide(&new, &local(5, policy)), Decision::AwaitNewTerm);
        let waited = Local {
            new_term_waited_out: true,
            ..local(5, policy)
        };
        assert_eq!(decide(&new, &waited), claim("a-p5"));
        // Only the claim waits: the worse candidate follows, and creating the candidacy
        // does not wait either.
        let b = Local {
            name: "b",
            session: OTHER,
            ..local(1, policy)
        };
        assert_eq!(decide(&new, &b), Decision::Follow);
        let empty = View {
            term_version: 0,
            ..view(None, vec![])
        };
        assert_eq!(decide(&empty, &local(5, policy)), Decision::Create);
    }
    // A term claimed once (version 1 on) is not new, released or not.
    let released = View {
        term_version: 2,
        ..new.clone()
    };
    assert_eq!(
        decide(&released, &local(5, Policy::PreEmptive)),
        claim("a-p5")
    );
    assert!(Decision::AwaitNewTerm.is_settled());
}

#[test]
fn master_is_demoted_before_anything_else_when_it_stops_standing() {
    for policy in POLICIES {
        let v = view(holder("a", ME), vec![cand("a", 5, ME)]);
        for (standing, reason) in [
            (Standing::Relinquished, DemotionReason::Relinquished),
            (Standing::Unhealthy, DemotionReason::Unhealthy),
        ] {
            let me = Local {
                standing,
                ..acting(5, policy)
            };
            assert_eq!(decide(&v, &me), Decision::Demote(reason));
            // After the acknowledgement: candidacy and term go in one multi.
            let me = Local {
                acting_master: false,
                ..me
            };
            assert_eq!(
                decide(&v, &me),
                Decision::Withdraw {
                    node: "a-p5".into(),
                    release: true
                }
            );
            let gone = view(None, vec![]);
            assert_eq!(decide(&gone, &me), Decision::Idle);
        }
    }
}

#[test]
fn withdrawing_follower_leaves_the_term_alone() {
    let v = view(
        holder("b", OTHER),
        vec![cand("a", 5, ME), cand("b", 1, OTHER)],
    );
    let me = Local {
        standing: Standing::Unhealthy,
        ..local(5, Policy::Sticky)
    };
    assert_eq!(
        decide(&v, &me),
        Decision::Withdraw {
            node: "a-p5".into(),
            release: false
        }
    );
    // A term still naming this session without its candidacy has no live holder: it is left
    // for the next claim (a release without the candidacy could not tell this term from a
    // re-created one of the same version).
    let v = view(holder("a", ME), vec![cand("b", 1, OTHER)]);
    assert_eq!(decide(&v, &me), Decision::Idle);
    // An unhealthy node whose name is on another session's znode has nothing to clean up.
    let v = view(None, vec![cand("a", 5, OTHER)]);
    assert_eq!(decide(&v, &me), Decision::Idle);
}

#[test]
fn master_demoted_when_its_candidacy_or_term_is_gone() {
    for policy in POLICIES {
        let no_candidacy = view(holder("a", ME), vec![cand("b", 1, OTHER)]);
        assert_eq!(
            decide(&no_candidacy, &acting(5, policy)),
            Decision::Demote(DemotionReason::CandidacyLost)
        );
        let other_holder = view(
            holder("b", OTHER),
            vec![cand("a", 5, ME), cand("b", 1, OTHER)],
        );
        assert_eq!(
            decide(&other_holder, &acting(5, policy)),
            Decision::Demote(DemotionReason::Superseded)
        );
        let released = view(None, vec![cand("a", 5, ME)]);
        assert_eq!(
            decide(&released, &acting(5, policy)),
            Decision::Demote(DemotionReason::Superseded)
        );
    }
}

#[test]
fn priority_change_replaces_the_candidacy() {
    let v = view(holder("a", ME), vec![cand("a", 5, ME), cand("b", 3, OTHER)]);
    for policy in POLICIES {
        assert_eq!(
            decide(&v, &acting(7, policy)),
            Decision::Replace {
                old_node: "a-p5".into()
            }
        );
        assert_eq!(
            decide(&v, &local(7, policy)),
            Decision::Replace {
                old_node: "a-p5".into()
            }
        );
    }
    // Lowered below the other candidate: the replaced candidacy makes a pre-emptive master
    // step down on the next decision.
    let after = view(holder("a", ME), vec![cand("a", 1, ME), cand("b", 3, OTHER)]);
    assert_eq!(
        decide(&after, &acting(1, Policy::PreEmptive)),
        Decision::Demote(DemotionReason::PreEmpted)
    );
    assert_eq!(decide(&after, &acting(1, Policy::Sticky)), Decision::Lead);
}

#[test]
fn settled_decisions_are_exactly_the_ones_that_write_nothing() {
    let writes = [
        Decision::Create,
        Decision::Replace {
            old_node: "x".into(),
        },
        Decision::Withdraw {
            node: "x".into(),
            release: true,
        },
        Decision::Claim { node: "x".into() },
        Decision::Release { node: "x".into() },
        Decision::Demote(DemotionReason::PreEmpted),
    ];
    assert!(writes.iter().all(|d| !d.is_settled()));
    let waits = [
        Decision::Lead,
        Decision::Follow,
        Decision::Idle,
        Decision::AwaitStale { node: "x".into() },
    ];
    assert!(waits.iter().all(Decision::is_settled));
}

/// Every view of two candidate names (each with up to two sessions' znodes at two priorities),
/// every term record, both policies, every standing, master or not: the decision always obeys
/// the safety rules, and does not depend on the order the candidates were listed in.
#[test]
fn exhaustive_small_views_obey_the_safety_rules() {
    const STALE: SessionId = 0x101;
    const B1: SessionId = 0x201;
    const B2: SessionId = 0x202;
    // For one session: no znode, or one at priority 1 or 2.
    let slots = |name: &'static str, session: SessionId| {
        [
            None,
            Some(cand(name, 1, session)),
            Some(cand(name, 2, session)),
        ]
    };
    let holders = [
        None,
        holder("a", ME),
        holder("a", STALE),
        holder("b", B1),
        holder("b", B2),
    ];
    let mut cases = 0;
    for own in slots("a", ME) {
        for stale in slots("a", STALE) {
            for b1 in slots("b", B1) {
                for b2 in slots("b", B2) {
                    // Two znodes of one name and priority share a path: not a reachable view.
                    if matches!((&own, &stale), (Some(x), Some(y)) if x.node == y.node)
                        || matches!((&b1, &b2), (Some(x), Some(y)) if x.node == y.node)
                    {
                        continue;
                    }
                    let candidates: Vec<Candidate> = [&own, &stale, &b1, &b2]
                        .into_iter()
                        .flatten()
                        .cloned()
                        .collect();
                    for (h, (term_version, new_term_waited_out)) in holders
                        .iter()
                        .flat_map(|h| [(7, false), (0, false), (0, true)].map(|t| (h, t)))
                    {
                        let v = View {
                            term_version,
                            ..view(h.clone(), candidates.clone())
                        };
                        let mut reversed = v.clone();
                        reversed.candidates.reverse();
                        for policy in POLICIES {
                            for standing in [
                                Standing::Standing,
                                Standing::Relinquished,
                                Standing::Unhealthy,
                            ] {
                                for acting_master in [false, true] {
                                    for priority in [1, 2] {
                                        let me = Local {
                                            standing,
                                            acting_master,
                                            new_term_waited_out,
                                            ..local(priority, policy)
                                        };
                                        let d = decide(&v, &me);
                                        assert_eq!(d, decide(&reversed, &me), "{v:?} {me:?}");
                                        check_rules(&v, &me, own.as_ref(), &d);
                                        cases += 1;
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    assert_eq!(cases, 3 * 5880, "the enumeration shrank");
}

fn check_rules(v: &View, me: &Local<'_>, own: Option<&Candidate>, d: &Decision) {
    let holder_is_me = v.holder == holder("a", ME);
    let best_is_own = own.is_some() && v.best() == own;
    let ctx = || format!("{v:?} {me:?} -> {d:?}");
    if me.acting_master {
        // A master either keeps leading (unchanged or re-prioritised) or is demoted first.
        assert!(
            matches!(
                d,
                Decision::Demote(_) | Decision::Lead | Decision::Replace { .. }
            ),
            "{}",
            ctx()
        );
    }
    match d {
        Decision::Claim { node } => {
            let own = own.unwrap_or_else(|| panic!("claim without own znode: {}", ctx()));
            assert_eq!(node, &own.node, "{}", ctx());
            assert!(
                !me.acting_master && me.standing == Standing::Standing,
                "{}",
                ctx()
            );
            assert_eq!(own.priority, me.priority, "{}", ctx());
            assert!(
                holder_is_me || !v.holder_is_live(),
                "took over a live holder: {}",
                ctx()
            );
            assert!(holder_is_me || best_is_own, "{}", ctx());
            if me.policy == Policy::PreEmptive {
                assert!(best_is_own, "{}", ctx());
            }
            assert!(
                holder_is_me || !v.term_is_new() || me.new_term_waited_out,
                "claimed a new term too early: {}",
                ctx()
            );
        }
        Decision::AwaitNewTerm => {
            assert!(
                !me.acting_master && me.standing == Standing::Standing,
                "{}",
                ctx()
            );
            assert!(own.is_some() && best_is_own, "{}", ctx());
            assert!(v.term_is_new() && !me.new_term_waited_out, "{}", ctx());
        }
        Decision::Lead => {
            assert!(me.acting_master && holder_is_me, "{}", ctx());
            assert_eq!(me.standing, Standing::Standing, "{}", ctx());
            assert_eq!(own.map(|o| o.priority), Some(me.priority), "{}", ctx());
            if me.policy == Policy::PreEmptive {
                assert!(best_is_own, "{}", ctx());
            }
        }
        Decision::Release { node } => {
            assert!(holder_is_me && !me.acting_master, "{}", ctx());
            assert_eq!(Some(node), own.map(|o| &o.node), "{}", ctx());
            assert!(me.policy == Policy::PreEmptive && !best_is_own, "{}", ctx());
        }
        Decision::Withdraw { node, release } => {
            assert!(
                !me.acting_master && me.standing != Standing::Standing,
                "{}",
                ctx()
            );
            assert_eq!(Some(node), own.map(|o| &o.node), "{}", ctx());
            assert_eq!(*release, holder_is_me, "{}", ctx());
        }
        Decision::Idle => {
            assert!(me.standing != Standing::Standing, "{}", ctx());
            assert!(own.is_none(), "{}", ctx());
        }
        Decision::Create => {
            assert!(
                !me.acting_master && me.standing == Standing::Standing,
                "{}",
                ctx()
            );
            assert!(v.candidates.iter().all(|c| c.name != "a"), "{}", ctx());
        }
        Decision::AwaitStale { node } => {
            assert!(own.is_none(), "{}", ctx());
            assert!(
                v.candidates
                    .iter()
                    .any(|c| &c.node == node && c.name == "a" && c.session != ME),
                "{}",
                ctx()
            );
        }
        Decision::Replace { old_node } => {
            let own = own.unwrap_or_else(|| panic!("replace without own znode: {}", ctx()));
            assert_eq!(old_node, &own.node, "{}", ctx());
            assert_ne!(own.priority, me.priority, "{}", ctx());
            assert_eq!(me.standing, Standing::Standing, "{}", ctx());
        }
        Decision::Follow => {
            assert!(
                !me.acting_master && me.standing == Standing::Standing,
                "{}",
                ctx()
            );
            assert!(own.is_some(), "{}", ctx());
        }
        Decision::Demote(_) => assert!(me.acting_master, "{}", ctx()),
    }
}

#[path = "decide_model.rs"]
mod model;

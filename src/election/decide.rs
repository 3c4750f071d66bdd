//! The decision core: given what the election looks like and what this node wants, what to do
//! next. No I/O, no time, no randomness: the driver reads the election, asks [`decide`], carries
//! out the one step it returns, and asks again.
//!
//! Every safety rule of the selector that depends on the election's state lives here:
//! - a grant needs this session's own candidacy (matched by name **and** ephemeral owner);
//! - a master whose candidacy, term record or entitlement is gone is demoted first, before any
//!   write, so the node stops before anyone else can be granted;
//! - a candidate never takes over from a live holder: it waits until the holder released the
//!   term or its session died;
//! - a term record that was never claimed since it was created is claimed only once it has
//!   been seen for a session timeout: it may be the re-creation of a deleted election whose
//!   master has not noticed yet ([`Local::new_term_waited_out`]);
//! - ranking is numeric priority first, then the candidate name (stable across restarts and
//!   independent of the order the server lists children in): [`Candidate::by_rank`].

use super::record::Holder;
use super::role::{DemotionReason, Policy, Priority};
use crate::zk::types::{SessionId, Zxid};
use std::cmp::{Ordering, Reverse};

/// One candidate znode, parsed from its data and Stat.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// The znode's name under the candidates path.
    pub node: String,
    pub name: String,
    pub priority: Priority,
    /// The znode's ephemeralOwner.
    pub session: SessionId,
    /// The znode's czxid: when the candidacy joined. Never part of the ranking, since a
    /// restart re-creates the candidacy and moves the node to the back (the known-bug variant
    /// P4 ranks ties by it).
    pub joined: Zxid,
}

/// Orders two candidates, the better one first ([`Ordering::Less`]).
pub type Ranking = fn(&Candidate, &Candidate) -> Ordering;

impl Candidate {
    /// Sort key: higher priority first, then name, then session (only ever decides between a
    /// candidate and a leftover of its own earlier incarnation).
    fn rank(&self) -> (Reverse<Priority>, &str, SessionId) {
        (Reverse(self.priority), &self.name, self.session)
    }

    /// The election's ranking: higher priority first, then name, then session.
    pub fn by_rank(a: &Candidate, b: &Candidate) -> Ordering {
        a.rank().cmp(&b.rank())
    }

    fn is(&self, name: &str, session: SessionId) -> bool {
        self.name == name && self.session == session
    }
}

/// The election as last read: the term record (read first) and the candidates (read after it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct View {
    pub holder: Option<Holder>,
    /// The term znode's data version, for compare-and-set.
    pub term_version: i32,
    /// The term znode's czxid: which incarnation of the term this is (a deleted and
    /// re-created election has a new one).
    pub term_created: Zxid,
    pub candidates: Vec<Candidate>,
}

impl View {
    /// Nobody has claimed (or released) the term since its znode was created: a new
    /// election, or one re-created after it was deleted.
    pub fn term_is_new(&self) -> bool {
        self.term_version == 0
    }

    /// The highest-ranked candidate.
    pub fn best(&self) -> Option<&Candidate> {
        self.best_by(Candidate::by_rank)
    }

    /// The highest-ranked candidate under `ranking`.
    pub fn best_by(&self, ranking: Ranking) -> Option<&Candidate> {
        self.candidates.iter().min_by(|a, b| ranking(a, b))
    }

    /// The holder still has the candidacy it claimed with, from the session it claimed with.
    /// A holder without one has released, withdrawn, or lost its session.
    pub fn holder_is_live(&self) -> bool {
        self.holder
            .as_ref()
            .is_some_and(|h| self.candidates.iter().any(|c| c.is(&h.name, h.session)))
    }
}

/// Whether the node wants to stand for election.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Standing {
    Standing,
    Relinquished,
    Unhealthy,
}

/// This node's side of the decision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Local<'a> {
    pub name: &'a str,
    pub session: SessionId,
    pub priority: Priority,
    pub policy: Policy,
    pub standing: Standing,
    /// The node currently acts as master (it was promoted and not demoted since).
    pub acting_master: bool,
    /// The term record, if new ([`View::term_is_new`]), has been seen by this node for at
    /// least a session timeout. A deleted election's master notices that its candidacy is gone
    /// by its watches, by its next read or when its lease runs out, all within a session
    /// timeout; until then a re-created term may have a master nobody can see.
    pub new_term_waited_out: bool,
}

/// The next step.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Stop acting as master now, and wait for the node's acknowledgement before any other step.
    Demote(DemotionReason),
    /// Create this session's candidate znode.
    Create,
    /// Re-create this session's candidate znode at the configured priority (one multi: delete
    /// `old_node`, create the new one; the candidacy never disappears in between).
    Replace { old_node: String },
    /// A candidate znode with this node's name belongs to another session (an earlier
    /// incarnation whose session has not expired yet). Wait for it to go.
    AwaitStale { node: String },
    /// This node would claim, but the term is new and not yet waited out
    /// ([`Local::new_term_waited_out`]): wait, then decide again.
    AwaitNewTerm,
    /// Leave the election: delete `node` (this session's candidacy) and, when `release`, clear
    /// the term record (compare-and-set on the view's term version), in one multi.
    Withdraw { node: String, release: bool },
    /// Claim mastership: check `node` (this session's candidacy) exists and set the term record
    /// to this session, compare-and-set on the view's term version, in one multi.
    Claim { node: String },
    /// Clear the term record that still names this session (compare-and-set), checking in the
    /// same multi that `node`, this session's candidacy, still exists.
    ///
    /// Every write to the term goes with this session's candidacy (deleted, checked or
    /// created in the same multi), and never on a view without it: a term read before the
    /// election was deleted and re-created can have the same version as the new one, but the
    /// candidacy was deleted with it, so a write based on the old view fails.
    Release { node: String },
    /// Acting master, still entitled: nothing to do.
    Lead,
    /// A candidate, not master: nothing to do until the election changes.
    Follow,
    /// Not a candidate, nothing left in the election: nothing to do.
    Idle,
}

impl Decision {
    /// Steps that change nothing in the election: the driver waits for the next change.
    pub fn is_settled(&self) -> bool {
        matches!(
            self,
            Decision::Lead
                | Decision::Follow
                | Decision::Idle
                | Decision::AwaitStale { .. }
                | Decision::AwaitNewTerm
        )
    }
}

/// Decides the next step.
pub fn decide(view: &View, local: &Local<'_>) -> Decision {
    decide_with(view, local, Candidate::by_rank)
}

/// Decides the next step, ranking candidates with `ranking`. The election always ranks with
/// [`Candidate::by_rank`]; the testbed's known-bug variants P3 and P4 run this same decision
/// with their flawed ranking (see [`super::known_bugs`]).
pub fn decide_with(view: &View, local: &Local<'_>, ranking: Ranking) -> Decision {
    let own = view
        .candidates
        .iter()
        .find(|c| c.is(local.name, local.session));
    let holder_is_me = view
        .holder
        .as_ref()
        .is_some_and(|h| h.name == local.name && h.session == local.session);
    let entitled = |own: &Candidate| match local.policy {
        Policy::Sticky => true,
        Policy::PreEmptive => view.best_by(ranking) == Some(own),
    };

    // A master first checks that it still may be one; any doubt demotes it before anything
    // else happens, so it has stopped before its candidacy or the term record changes.
    if local.acting_master {
        return match local.standing {
            Standing::Relinquished => Decision::Demote(DemotionReason::Relinquished),
            Standing::Unhealthy => Decision::Demote(DemotionReason::Unhealthy),
            Standing::Standing => match own {
                None => Decision::Demote(DemotionReason::CandidacyLost),
                Some(_) if !holder_is_me => Decision::Demote(DemotionReason::Superseded),
                Some(own) if !entitled(own) => Decision::Demote(DemotionReason::PreEmpted),
                Some(own) if own.priority != local.priority => Decision::Replace {
                    old_node: own.node.clone(),
                },
                Some(_) => Decision::Lead,
            },
        };
    }

    if local.standing != Standing::Standing {
        // A term that names this session without its candidacy has no live holder: it is
        // left for the next claim to overwrite.
        return match own {
            Some(own) => Decision::Withdraw {
                node: own.node.clone(),
                release: holder_is_me,
            },
            None => Decision::Idle,
        };
    }

    let Some(own) = own else {
        // Only this session's own znode may back a grant. A node with this name but another
        // owner is an earlier incarnation: it must expire before this one stands.
        return match view.candidates.iter().find(|c| c.name == local.name) {
            Some(stale) => Decision::AwaitStale {
                node: stale.node.clone(),
            },
            None => Decision::Create,
        };
    };
    if own.priority != local.priority {
        return Decision::Replace {
            old_node: own.node.clone(),
        };
    }
    if holder_is_me {
        // The term still names this session but the node is not acting (it was demoted on a
        // disconnection, or a claim's reply was lost): claim again for a fresh token, or let go.
        return if entitled(own) {
            Decision::Claim {
                node: own.node.clone(),
            }
        } else {
            Decision::Release {
                node: own.node.clone(),
            }
        };
    }
    if view.holder_is_live() {
        // Even a better candidate waits for the live holder to step down (pre-emptive) or to
        // go (sticky): taking over now would make two masters.
        return Decision::Follow;
    }
    if view.best_by(ranking) != Some(own) {
        Decision::Follow
    } else if view.term_is_new() && !local.new_term_waited_out {
        Decision::AwaitNewTerm
    } else {
        Decision::Claim {
            node: own.node.clone(),
        }
    }
}

#[cfg(test)]
#[path = "decide_tests.rs"]
mod tests;

//! The node-level known-bug variants (testbed builds only), mirrored from the simulated node:
//! P1 and P2 in `pair::node` (`checks_lease`), P7 in `pair::async_demotion`; N3's hook
//! ([`fences_before_acting`]) serves both the simulated and the live workload. The selector's own
//! variants come from the election library ([`SelectorConfig::with_known_bug`]); these are the
//! flaws a team puts into the code *around* it. Every function here is a `known-bug hook`: the
//! rest of the node asks it and never names a variant itself.
//!
//! - **P1, P2** — the master's writes are gated by the selector's role alone, not by the grant's
//!   lease: a node resumed from a pause longer than its session (P1), or cut off from ZooKeeper
//!   with a selector that ignores Disconnected (P2), goes on writing on its stale belief.
//! - **P7** — demotion is asynchronous: the node acknowledges a demotion as soon as it has asked
//!   its work to stop, and the work first commits the backlog of writes that came due while it
//!   could not write (a work queue), with the grant's token and without asking whether it is
//!   still master.
//! - **N3** — the new master acts on its grant at once: it records its promotion and writes, and
//!   the first write carries the new token to the database. Nothing is sent before it, so a
//!   write of the previous grant still on its way (queued in a paused database, slow on its
//!   link, given up by its node) lands after the new master began, and the database, which has
//!   not seen the new token yet, accepts it.
//!
//! A production build (`default-features = false`) runs the real behaviour whatever it is
//! asked (and [`super::NodeConfig::validate`] refuses a broken code there).
//!
//! [`SelectorConfig::with_known_bug`]: crate::election::SelectorConfig::with_known_bug

use crate::election::ElectionCode;
#[cfg(feature = "testbed")]
use crate::election::KnownBug;
use std::time::Duration;

/// Whether the master's writes are gated by the grant's lease as well as by the selector's
/// role: always, except in P1 and P2.
pub fn checks_lease(code: ElectionCode) -> bool {
    // known-bug hook (P1, P2)
    #[cfg(feature = "testbed")]
    if matches!(code.known_bug(), Some(KnownBug::P1 | KnownBug::P2)) {
        return false;
    }
    let _ = code;
    true
}

/// Whether a new master fences the database with its grant's token, and waits for the database
/// to take it, before it acts: always, except in N3.
pub fn fences_before_acting(code: ElectionCode) -> bool {
    // known-bug hook (N3)
    #[cfg(feature = "testbed")]
    if code == ElectionCode::Broken(KnownBug::N3) {
        return false;
    }
    let _ = code;
    true
}

/// Whether the node waits for its work to return before it acknowledges a demotion: always,
/// except in P7.
pub fn waits_for_work(code: ElectionCode) -> bool {
    // known-bug hook (P7)
    !is_p7(code)
}

/// Whether the work keeps the writes that came due while it could not write, to commit later:
/// only P7 does (the real work writes once after a pause, it does not burst).
pub fn keeps_backlog(code: ElectionCode) -> bool {
    // known-bug hook (P7)
    is_p7(code)
}

/// How many queued writes the work commits when it is stopped at `stopped_at` with its next
/// write due at `next`, one every `period`: those due by the stop in P7, none otherwise.
pub fn queued_on_stop(
    code: ElectionCode,
    next: Duration,
    period: Duration,
    stopped_at: Duration,
) -> u64 {
    // known-bug hook (P7)
    if !is_p7(code) || next > stopped_at || period.is_zero() {
        return 0;
    }
    ((stopped_at - next).as_nanos() / period.as_nanos()) as u64 + 1
}

fn is_p7(code: ElectionCode) -> bool {
    #[cfg(feature = "testbed")]
    return code == ElectionCode::Broken(KnownBug::P7);
    #[cfg(not(feature = "testbed"))]
    {
        let _ = code;
        false
    }
}

#[cfg(all(test, feature = "testbed"))]
mod tests {
    use super::*;

    #[test]
    fn only_the_variants_that_have_the_flaw_have_it() {
        let p = |bug| ElectionCode::Broken(bug);
        assert!(checks_lease(ElectionCode::Real));
        assert!(!checks_lease(p(KnownBug::P1)));
        assert!(!checks_lease(p(KnownBug::P2)));
        assert!(checks_lease(p(KnownBug::P7)));
        assert!(waits_for_work(ElectionCode::Real));
        assert!(!waits_for_work(p(KnownBug::P7)));
        assert!(waits_for_work(p(KnownBug::P1)));
        assert!(keeps_backlog(p(KnownBug::P7)));
        assert!(!keeps_backlog(ElectionCode::Real));
        assert!(fences_before_acting(ElectionCode::Real));
        assert!(fences_before_acting(p(KnownBug::P7)));
        assert!(!fences_before_acting(p(KnownBug::N3)));
    }

    #[test]
    fn p7_commits_the_writes_due_by_the_stop() {
        let ms = Duration::from_millis;
        let p7 = ElectionCode::Broken(KnownBug::P7);
        assert_eq!(queued_on_stop(p7, ms(1000), ms(100), ms(999)), 0);
        assert_eq!(queued_on_stop(p7, ms(1000), ms(100), ms(1000)), 1);
        assert_eq!(queued_on_stop(p7, ms(1000), ms(100), ms(1350)), 4);
        assert_eq!(
            queued_on_stop(ElectionCode::Real, ms(0), ms(100), ms(1350)),
            0
        );
    }
}

//! Which invariants each broken variant breaks: the public bug catalogue (P1–P8) as
//! `election-prior-art.md` lists them, the testbed's own variants (N1–N4) as
//! `scenarios/known-bugs/README.md` does. A known-bug scenario or a chaos run with a broken
//! variant counts as having caught it when it reports one of these.

use super::Invariant;
use crate::election::KnownBug;

pub fn violates(bug: KnownBug) -> &'static [Invariant] {
    use Invariant::*;
    match bug {
        KnownBug::P1 => &[StaleWrite, TwoMasters],
        KnownBug::P2 => &[TwoMasters],
        KnownBug::P3 => &[WrongPriority],
        KnownBug::P4 => &[WrongPriority],
        KnownBug::P5 => &[TwoMasters],
        KnownBug::P6 => &[NoMaster],
        // Its queued flows' messages land after the next master's promotion even when the
        // fence refuses their writes (LE).
        KnownBug::P7 => &[StaleWrite, LateEffect],
        // The old master's flow in flight, its message included, outlives the release (LE).
        KnownBug::P8 => &[TwoMasters, LateEffect],
        // A node cut from ZooKeeper for long never stands again.
        KnownBug::N1 => &[NoMaster, WrongPriority],
        // A master behind a server cut from the leader acts on after its session expired.
        KnownBug::N2 => &[TwoMasters, StaleWrite],
        // An earlier grant's write still on its way lands after the new master began.
        KnownBug::N3 => &[StaleWrite],
        // After a re-created election the new grant's token is refused by the database.
        KnownBug::N4 => &[NoMaster],
        // Not in the catalogue: a fixed finding of the testbed's own (`docs/chaos-findings`).
        KnownBug::F1 => &[TwoMasters],
    }
}

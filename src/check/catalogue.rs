//! Which invariants each entry of the public bug catalogue (P1–P8) breaks, as the catalogue
//! in `election-prior-art.md` lists them. A known-bug scenario or a chaos run with a broken
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
        KnownBug::P7 => &[StaleWrite],
        KnownBug::P8 => &[TwoMasters],
        // Not in the catalogue: a fixed finding of the testbed's own (`docs/chaos-findings`).
        KnownBug::F1 => &[TwoMasters],
    }
}

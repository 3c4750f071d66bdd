//! The broken variants of this crate's election code: the public catalogue of election bugs
//! (P1–P8 in `election-prior-art.md`) and the testbed's own (N1–N4). They exist so the testbed
//! can prove it catches each one: a scenario under `scenarios/known-bugs/` and random chaos must
//! fail with the variant and pass with the real code.
//!
//! The testbed's own variants (N1–N4, "new") are realistic mistakes in different parts of this
//! crate's real code that chaos was never tuned on, each described with its origin in
//! `scenarios/known-bugs/README.md`: the search is judged on bugs it was not built around too.
//!
//! Bugs the testbed found in this crate's own election and that were fixed (F1, …) stay
//! selectable the same way, so that their regression scenarios can show they still reach the
//! moment the bug needs: a regression scenario that passes with the fix *and* without it
//! guards nothing (a change of timing can make one lose its moment unseen).
//!
//! Only builds with the `testbed` feature (on by default) can select a variant
//! ([`SelectorConfig::with_known_bug`](super::SelectorConfig)); a production build
//! (`default-features = false`) runs the real code only, whatever it is asked.
//!
//! Each variant's broken behaviour lives in one place and is reached only from hook points
//! marked `known-bug hook`: flaws of the election library in `election::flawed` (compiled
//! with `testbed` only; the selector's hooks are in [`super::zk`]), flaws of the simulated
//! node in [`crate::pair`] (and, for the live node, [`crate::node::known_bugs`]). Each
//! known-bugs scenario's header says which rule of the real code the variant breaks.

use std::fmt;
use std::str::FromStr;

/// One entry of the catalogue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum KnownBug {
    /// Acts on leadership after a process pause longer than the session.
    P1,
    /// Only session expiry counts as loss; Disconnected is ignored.
    P2,
    /// Priorities compared as text.
    P3,
    /// Equal priorities broken by a tie-break that does not survive restarts.
    P4,
    /// Timed hand-over instead of a fence: the new master just waits.
    P5,
    /// The election's parent path, once lost, is never recreated.
    P6,
    /// Demotion is asynchronous: in-flight transactions still commit after loss.
    P7,
    /// Leadership released before the guarded work has stopped.
    P8,
    /// The selector gives up after repeated failures to open a session.
    N1,
    /// The master's lease is renewed by a read its own server answers, not a sync through the
    /// ZooKeeper leader.
    N2,
    /// The new master acts on its grant before the database has taken its fence.
    N3,
    /// The fencing token is the term znode's version, which restarts when the election is
    /// re-created.
    N4,
    /// Fixed finding (chaos seeds 478, 1101, 1600): a re-created election's term is claimed
    /// at once, before a master that has not yet read the deletion has stopped.
    F1,
}

impl KnownBug {
    /// Every variant the testbed must catch: the public catalogue (P1–P8) and the testbed's
    /// own (N1–N4). Each has a known-bugs scenario, and random chaos must find each.
    pub const ALL: [KnownBug; 12] = [
        KnownBug::P1,
        KnownBug::P2,
        KnownBug::P3,
        KnownBug::P4,
        KnownBug::P5,
        KnownBug::P6,
        KnownBug::P7,
        KnownBug::P8,
        KnownBug::N1,
        KnownBug::N2,
        KnownBug::N3,
        KnownBug::N4,
    ];

    /// The testbed's own findings that were fixed; each has a regression scenario in
    /// `scenarios/` that must fail with the variant.
    pub const FIXED_FINDINGS: [KnownBug; 1] = [KnownBug::F1];

    /// `p1` … `p8`, `n1` … `n4`, `f1`, as the command line and scenario files write it.
    pub fn code(self) -> &'static str {
        match self {
            KnownBug::P1 => "p1",
            KnownBug::P2 => "p2",
            KnownBug::P3 => "p3",
            KnownBug::P4 => "p4",
            KnownBug::P5 => "p5",
            KnownBug::P6 => "p6",
            KnownBug::P7 => "p7",
            KnownBug::P8 => "p8",
            KnownBug::N1 => "n1",
            KnownBug::N2 => "n2",
            KnownBug::N3 => "n3",
            KnownBug::N4 => "n4",
            KnownBug::F1 => "f1",
        }
    }

    /// One line: what the broken code does.
    pub fn description(self) -> &'static str {
        match self {
            KnownBug::P1 => "acts on leadership after a process pause longer than the session",
            KnownBug::P2 => "only session expiry counts as loss; Disconnected is ignored",
            KnownBug::P3 => "priorities compared as text",
            KnownBug::P4 => "equal priorities broken by a tie-break that does not survive restarts",
            KnownBug::P5 => "timed hand-over instead of a fence: the new master just waits",
            KnownBug::P6 => "the election's parent path, once lost, is never recreated",
            KnownBug::P7 => "demotion is asynchronous: in-flight transactions commit after loss",
            KnownBug::P8 => "leadership released before the guarded work has stopped",
            KnownBug::N1 => "the selector gives up after repeated failures to open a session",
            KnownBug::N2 => "the master's lease renewed by a read its own server answers",
            KnownBug::N3 => "the new master acts before the database has taken its fence",
            KnownBug::N4 => "the fencing token is the term's version, reset when re-created",
            KnownBug::F1 => "a re-created election's term is claimed before the old master stops",
        }
    }
}

/// Which election code the nodes of a simulated world run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ElectionCode {
    /// This crate's election, as shipped.
    #[default]
    Real,
    /// A deliberately broken variant (testbed builds only).
    Broken(KnownBug),
}

impl ElectionCode {
    /// Every accepted spelling, for error messages.
    pub const NAMES: [&'static str; 14] = [
        "real", "p1", "p2", "p3", "p4", "p5", "p6", "p7", "p8", "n1", "n2", "n3", "n4", "f1",
    ];

    pub fn known_bug(self) -> Option<KnownBug> {
        match self {
            ElectionCode::Real => None,
            ElectionCode::Broken(bug) => Some(bug),
        }
    }

    /// Whether this build can run the code (broken variants need the `testbed` feature).
    pub fn available(self) -> bool {
        self == ElectionCode::Real || cfg!(feature = "testbed")
    }
}

impl fmt::Display for ElectionCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ElectionCode::Real => f.write_str("real"),
            ElectionCode::Broken(bug) => f.write_str(bug.code()),
        }
    }
}

/// An election code name that is not `real`, `p1` … `p8`, `n1` … `n4` or `f1`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown election code '{0}': expected one of {names}", names = ElectionCode::NAMES.join(", "))]
pub struct UnknownElectionCode(pub String);

impl FromStr for ElectionCode {
    type Err = UnknownElectionCode;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        if lower == "real" {
            return Ok(ElectionCode::Real);
        }
        KnownBug::ALL
            .into_iter()
            .chain(KnownBug::FIXED_FINDINGS)
            .find(|bug| bug.code() == lower)
            .map(ElectionCode::Broken)
            .ok_or_else(|| UnknownElectionCode(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for name in ElectionCode::NAMES {
            let code: ElectionCode = name.parse().unwrap();
            assert_eq!(code.to_string(), name);
        }
        assert_eq!("P3".parse(), Ok(ElectionCode::Broken(KnownBug::P3)));
        assert_eq!("f1".parse(), Ok(ElectionCode::Broken(KnownBug::F1)));
        assert_eq!("N4".parse(), Ok(ElectionCode::Broken(KnownBug::N4)));
        assert!("p9".parse::<ElectionCode>().is_err());
        assert!("n5".parse::<ElectionCode>().is_err());
        // Every variant has a name, and every name but `real` is a variant.
        let variants = KnownBug::ALL.len() + KnownBug::FIXED_FINDINGS.len();
        assert_eq!(ElectionCode::NAMES.len(), variants + 1);
    }
}

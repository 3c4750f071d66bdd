//! P6: the election's parent path, once lost, is never re-created.
//!
//! What a team writes when it treats the election's persistent znodes as installation state:
//! they are created when the process starts (the first session), and a `NoNode` on a later read
//! is taken for a hiccup and retried with a back-off. When an operator's cleanup or an ensemble
//! that lost its data removes them, nobody can stand again: the master steps down (it cannot
//! confirm its mastership) and the pair stays without one until a node restarts.
//!
//! The real selector checks the znodes again after every new session and whenever a read
//! finds them gone ("Recreate the election" in [`crate::election`]).

use crate::election::{KnownBug, SelectorConfig};

/// Whether the selector checks (and re-creates) the election's znodes again after it started;
/// the P6 variant does not.
pub(crate) fn rechecks_election(config: &SelectorConfig) -> bool {
    config.known_bug() != Some(KnownBug::P6)
}

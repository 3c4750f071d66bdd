//! P5: a timed hand-over instead of a fence.
//!
//! What a team writes when the election library tells a candidate it ranks first before the
//! old master has let go (Corda's prioritised latch did: the first znode in priority order is
//! the leader, and a fixed delay before the new master started was the only guard, later
//! replaced by a mutex). A better candidate does not wait for the live holder to step down
//! and release the term: it gives the old master a fixed grace period to stop, then claims
//! over it. Whenever the old master needs longer (a GC pause, a slow commit), both act.
//!
//! The real selector never claims while the holder is live ("Stop before release" in
//! [`crate::election`]): the holder releases only after its node acknowledged the demotion.

use crate::election::decide::{Decision, Local, View};
use crate::election::{KnownBug, Policy, SelectorConfig};
use std::time::Duration;

/// How long the P5 variant assumes an old master needs to stop.
pub(crate) const GRACE: Duration = Duration::from_secs(5);

/// The candidacy the P5 variant claims with, after [`GRACE`], instead of following: when this
/// candidate ranks first under the pre-emptive policy and another holder is still live.
pub(crate) fn takes_over(
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

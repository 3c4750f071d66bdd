//! P8: leadership released before the guarded work has stopped.
//!
//! What a team writes when relinquishing (a rolling upgrade) is meant to hand over quickly:
//! the selector tells the node to stop and leaves the election in the same breath (Corda's
//! `relinquishLeadership()` deleted the latch node while the not-leader callback was still
//! running), so the other node may claim while the old one is still finishing a transaction.
//!
//! The real selector waits for the node's [`DemotionAck`](crate::election::DemotionAck)
//! before it withdraws or releases anything ("Stop before release" in [`crate::election`]).

use crate::election::{DemotionReason, KnownBug, SelectorConfig};

/// Whether the selector waits for the node to acknowledge a demotion for `reason` before its
/// next step; the P8 variant does not when the node relinquished (or shuts down).
pub(crate) fn waits_for_ack(config: &SelectorConfig, reason: DemotionReason) -> bool {
    !(config.known_bug() == Some(KnownBug::P8) && reason == DemotionReason::Relinquished)
}

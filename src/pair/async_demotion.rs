//! P7 (testbed only): demotion asynchronous while queued transactions still commit.
//!
//! What a team writes when it handles a demotion like a graceful shutdown: the node
//! acknowledges as soon as it has *asked* its work to stop (an executor's `shutdown()`
//! without `awaitTermination`), and the work finishes what it already took on (its queue of
//! client flows) before it exits. A master cut from ZooKeeper but not from its database is
//! demoted on Disconnected, says it stopped, and keeps committing for as long as its queue
//! lasts; the database accepts those writes, since no newer master has fenced it yet.
//!
//! The real node acknowledges only after its work returned (the request in flight answered
//! or timed out), and its work drops flows that came due while it could not write: the next
//! master's clients retry them.

use super::worker::Workload;
use crate::election::{ElectionCode, FencingToken, KnownBug};
use crate::env::Environment;
use std::time::Duration;

fn is_p7(code: ElectionCode) -> bool {
    code == ElectionCode::Broken(KnownBug::P7)
}

/// Whether the node waits for its work to return before it acknowledges a demotion; the P7
/// variant does not.
pub(crate) fn waits_for_work(code: ElectionCode) -> bool {
    !is_p7(code)
}

/// Whether the work keeps the flows that came due while a write was in flight, to commit
/// later (a work queue); the P7 variant does.
pub(crate) fn keeps_backlog(code: ElectionCode) -> bool {
    is_p7(code)
}

/// The P7 variant's shutdown: commits every flow queued before the stop (those due by now,
/// from `next` on), with the grant's token and without asking whether it is still master.
pub(crate) async fn finish_queued(work: &Workload, token: FencingToken, mut next: Duration) {
    if !is_p7(work.election) {
        return;
    }
    let stopped_at = work.ctx.env.now();
    let mut committed = 0u64;
    while next <= stopped_at {
        work.write(token).await;
        next += work.period;
        committed += 1;
    }
    work.ctx.trace(
        "node",
        format_args!("stopped after committing {committed} queued flows"),
    );
}
